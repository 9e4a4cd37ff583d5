/**
 * What a replica holds: the application, the dedup table (per client, the highest
 * request_num executed, its reply and a fingerprint of its payload), and sequence and checkpoint
 * counters. A checkpoint is all of it; installing one replaces it.
 */
import { fingerprint } from './hash.js';
import { createHash } from 'node:crypto';
import { frozenSnapshot, joinedRestorer, type App, type Restorer } from './apps.js';

/** A short fingerprint of an application state, so traces can show that replicas agree. */
export function digest(snapshot: string): string {
  return createHash('sha1').update(snapshot).digest('hex').slice(0, 12);
}

export interface Executed {
  num: number;
  result: string;
  /**
   * A fingerprint of the payload (fingerprint()): a request with this number but another payload
   * is not a retry but a client restarted under the same name, and is refused as stale instead
   * of answered with another request's result. Absent in rows of an older checkpoint.
   */
  fp?: number;
  /** The sequence number it was applied at: its reply may go out once that is committed. */
  seq: number;
}

export interface Snapshot {
  count: number;
  state: string;
  table: string;
  seq: number;
}

/** A checkpoint taken at one point of the order (`seq`), to be encoded later, in parts, while the replica goes on. */
export interface FrozenCheckpoint {
  count: number;
  seq: number;
  /** About how many characters the app state holds. */
  size: number;
  /** The app state's text in parts (app.ts Frozen). */
  parts(maxChars: number): Iterable<string>;
  /** The dedup table as it was, as the checkpoint's `table` field. */
  table(): string;
}

export type Lookup = { kind: 'new' } | { kind: 'duplicate'; result: string; seq: number } | { kind: 'stale'; latest: number };

/** The answer for a request never seen: one object for all of them (lookup runs once per request). */
const NEW: Lookup = Object.freeze({ kind: 'new' });

export class ServiceState {
  table = new Map<string, Executed>();
  /** Sequence number of the last request applied (or held, for a passive backup's checkpoint). */
  seq = 0;
  checkpointCount = 0;

  /** The app's revision after each sequence number that changed it, oldest first (watchable apps only): what is committed at a commit point. */
  private revs: Array<{ seq: number; rev: number }> = [];

  constructor(readonly app: App) {}

  /** The app's revision as of sequence number `seq` (a commit point): events up to it may be pushed. */
  revAt(seq: number): number {
    let rev = 0;
    let keep = 0;
    for (const [i, r] of this.revs.entries()) {
      if (r.seq > seq) break;
      rev = r.rev;
      keep = i;
    }
    // What is committed is never asked for again before it: keep only the last committed entry.
    if (keep > 0) this.revs = this.revs.slice(keep);
    return rev;
  }

  /** What request `num` of `client` is: new, a duplicate, or stale; with its `payload`, a duplicate must ask for the same. */
  lookup(client: string, num: number, payload?: string): Lookup {
    const had = this.table.get(client);
    if (!had || num > had.num) return NEW;
    if (num === had.num && (payload === undefined || had.fp === undefined || had.fp === fingerprint(payload))) return { kind: 'duplicate', result: had.result, seq: had.seq };
    return { kind: 'stale', latest: had.num };
  }

  /** The highest request_num executed for each client, by client name: what a newcomer's checkpoint brought. */
  highWatermarks(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const client of [...this.table.keys()].sort()) out[client] = this.table.get(client)!.num;
    return out;
  }

  /** Apply a new request (the caller checked lookup) and record it. */
  execute(client: string, num: number, payload: string, seq: number): string {
    let result: string;
    try {
      result = this.app.apply(payload);
    } catch (err) {
      // Deterministic apps should not throw; if one does, every replica answers the same error.
      result = `error: ${(err as Error).message}`;
    }
    this.table.set(client, { num, result, seq, fp: fingerprint(payload) });
    this.seq = seq;
    const rev = this.app.watch?.lastRev();
    if (rev !== undefined && rev !== (this.revs.at(-1)?.rev ?? 0)) this.revs.push({ seq, rev });
    return result;
  }

  /** Take a checkpoint: the next count, the app state, the dedup table and the sequence number it covers. */
  checkpoint(): Snapshot {
    this.checkpointCount++;
    return this.snapshot();
  }

  /** The state as it is, under the last checkpoint's count (a replica's own copy on disk). */
  snapshot(): Snapshot {
    return { count: this.checkpointCount, state: this.app.snapshot(), table: JSON.stringify([...this.table]), seq: this.seq };
  }

  /**
   * Take the state as it is now, to be read later: cheap for an app with `freeze` (the log), a
   * snapshot now otherwise. The table's rows are copied (a row is replaced, never changed).
   * `next`: a new checkpoint (the next count); else the last checkpoint's count (a copy on disk).
   */
  freeze(next: boolean): FrozenCheckpoint {
    if (next) this.checkpointCount++;
    const app = this.app.freeze?.() ?? frozenSnapshot(this.app);
    const rows = [...this.table];
    return { count: this.checkpointCount, seq: this.seq, size: app.size, parts: (max) => app.parts(max), table: () => JSON.stringify(rows) };
  }

  /** Start rebuilding the app state from parts; `install` with it once they are all in. */
  restorer(): Restorer {
    return this.app.restorer?.() ?? joinedRestorer(this.app);
  }

  /** Install a checkpoint: whole (`state`), or rebuilt from parts already pushed into `restorer`. */
  install(cp: Snapshot | (Omit<Snapshot, 'state'> & { restorer: Restorer })): void {
    const table = parseTable(cp.table, cp.seq);
    if ('restorer' in cp) cp.restorer.done();
    else this.app.restore(cp.state);
    this.table = table;
    this.seq = cp.seq;
    const rev = this.app.watch?.lastRev();
    this.revs = rev ? [{ seq: cp.seq, rev }] : [];
    this.checkpointCount = cp.count;
  }
}

/** A checkpoint's dedup table (checked row by row); a row without a sequence number counts as applied at the checkpoint's. */
function parseTable(text: string, seq: number): Map<string, Executed> {
  const rows: unknown = JSON.parse(text);
  if (!Array.isArray(rows)) throw new Error('checkpoint table is not a JSON array');
  const table = new Map<string, Executed>();
  for (const row of rows) {
    const [client, e] = row as [string, Executed];
    if (typeof client !== 'string' || typeof e?.num !== 'number' || typeof e.result !== 'string') throw new Error('bad checkpoint table row');
    if ((e.seq !== undefined && typeof e.seq !== 'number') || (e.fp !== undefined && typeof e.fp !== 'number')) throw new Error('bad checkpoint table row');
    // A row without a sequence number (an older checkpoint) counts as applied at the checkpoint.
    table.set(client, { num: e.num, result: e.result, seq: e.seq ?? seq, ...(e.fp === undefined ? {} : { fp: e.fp }) });
  }
  return table;
}

export { fingerprint };
