/**
 * A replica's disk (`ftkit server --data-dir DIR`), in the shell: the core asks for each entry
 * it applies or holds to be persisted (`persist`) and for a snapshot when a checkpoint replaced
 * its state (`snapshot`); this writes them through the data dir's log (lib/storage: one fsync
 * per batch) and holds back every message the core asked to send after them (replies, acks,
 * reports, closes) until they are durable, in order. Messages to peers (log entries, orders,
 * checkpoints) go at once: a follower makes what it receives durable before it acknowledges.
 *
 * The log is cut behind a snapshot: at each checkpoint installed, and every checkpoint period
 * (or SNAPSHOT_EVERY entries, if sooner) when something was persisted since and the state holds
 * all of it (a passive backup's held entries are not in its state: it waits for its primary's
 * next checkpoint). So the disk holds the state and about one checkpoint period of log.
 *
 * A write that fails stops the replica: nothing it could not make durable is ever acknowledged,
 * and its group fails over. A damaged record stops it from starting (DamagedRecordError).
 */
import { Wal, type FsyncPolicy } from '../lib/storage/wal.js';
import { PART_CHARS, STREAM_ABOVE_CHARS, recover, type Command, type DiskEntry, type DiskSnapshot, type FrozenCheckpoint, type ReplicaCore } from './core/index.js';
import type { Tracer } from '../lib/trace/index.js';

/** Entries between two snapshots the replica takes of its own state. */
export const SNAPSHOT_EVERY = 20_000;

/** The commands that wait for what was persisted before them. */
const HELD: ReadonlySet<Command['type']> = new Set(['send', 'close', 'toLfd']);

export interface Recovered {
  snapshot: DiskSnapshot | undefined;
  entries: DiskEntry[];
  warnings: string[];
}

/** A large snapshot's JSON text (a DiskSnapshot with `parts`), piece by piece, each piece made only when it is written. */
function* diskParts(cp: FrozenCheckpoint, held: number): Iterable<Buffer> {
  yield Buffer.from(`{"count":${cp.count},"seq":${cp.seq},"held":${held},"table":${JSON.stringify(cp.table())},"parts":[`);
  let first = true;
  for (const part of cp.parts(PART_CHARS)) {
    yield Buffer.from(`${first ? '' : ','}${JSON.stringify(part)}`);
    first = false;
  }
  yield Buffer.from(']}');
}

export class Durable {
  /** Writes asked for (entries and snapshots), and how many of them, from the first, are durable. */
  private asked = 0;
  private durable = 0;
  private readonly done = new Set<number>();
  private readonly waiting: Array<{ after: number; cmd: Command }> = [];
  private sinceSnapshot = 0;

  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly wal: Wal,
    private readonly core: ReplicaCore,
    private readonly carryOut: (cmd: Command) => void,
    private readonly fail: (err: Error) => void,
  ) {
    this.timer = setInterval(() => this.snapshotIfDue(1), core.checkpointMs);
    this.timer.unref();
  }

  /** Open the data dir and read back what it holds (throws on damage: the replica must not start). */
  static async open(dir: string, fsync: FsyncPolicy, core: ReplicaCore, carryOut: (cmd: Command) => void, fail: (err: Error) => void): Promise<{ durable: Durable; recovered: Recovered }> {
    const { wal, recovered } = await Wal.open(dir, fsync);
    const snapshot = recovered.snapshot ? (JSON.parse(recovered.snapshot.toString()) as DiskSnapshot) : undefined;
    const entries = recovered.records.map((r) => {
      const [epoch, seq, num, client, payload] = JSON.parse(r.toString()) as [number, number, number, string, string];
      return { epoch, seq, num, client, payload };
    });
    return { durable: new Durable(wal, core, carryOut, fail), recovered: { snapshot, entries, warnings: recovered.warnings } };
  }

  /** Open the data dir and bring `core` to what it holds, tracing what was found; throws if it cannot. */
  static async attach(dir: string, fsync: FsyncPolicy, core: ReplicaCore, tracer: Tracer, carryOut: (cmd: Command) => void, fail: (err: Error) => void): Promise<Durable> {
    const { durable, recovered } = await Durable.open(dir, fsync, core, carryOut, fail);
    for (const w of recovered.warnings) tracer.emitEvent('disk_warning', 'fault', `${core.name}: ${w}`);
    let applied: number;
    try {
      applied = recover(core, recovered.snapshot, recovered.entries);
    } catch (err) {
      throw new Error(`${dir} holds a state that app ${core.state.app.name} cannot take (was it written with another --app?): ${(err as Error).message}`, { cause: err });
    }
    const snap = recovered.snapshot ? `snapshot at seq ${recovered.snapshot.seq}` : 'no snapshot';
    const text = `${core.name}: data dir ${dir} (fsync ${fsync}): ${snap}, ${applied} entries after it; starting at seq ${core.state.seq}, held in epoch ${core.heldEpoch}`;
    tracer.emitEvent('recovered', 'checkpoint', text, { dir, fsync, seq: core.state.seq, held: core.heldEpoch, applied });
    return durable;
  }

  get dir(): string {
    return this.wal.dir;
  }

  /** Take a command that is this layer's (persist, snapshot) or must wait for it; false: carry it out now. */
  take(cmd: Command): boolean {
    if (cmd.type === 'persist') {
      const e = cmd.entry;
      this.track(this.wal.append(Buffer.from(JSON.stringify([cmd.epoch, e.seq, e.num, e.client, e.payload]))));
      this.sinceSnapshot++;
      this.snapshotIfDue(SNAPSHOT_EVERY);
      return true;
    }
    if (cmd.type === 'snapshot') {
      this.snapshot(!cmd.covered);
      return true;
    }
    if (!HELD.has(cmd.type) || (this.durable === this.asked && this.waiting.length === 0)) return false;
    this.waiting.push({ after: this.asked, cmd });
    return true;
  }

  /** A snapshot of the state, if `entries` or more were persisted since the last and the state holds them all. */
  private snapshotIfDue(entries: number): void {
    if (this.sinceSnapshot >= entries && this.core.heldSeq() === this.core.state.seq && !this.wal.failed) this.snapshot(false);
  }

  /**
   * Write the state as it is now. A large one is frozen now and written in pieces as the disk
   * takes them (diskParts): the replica goes on meanwhile, and the file is renamed into place
   * only once it is whole and on disk. `hold`: what the core sends after it waits for it (a
   * checkpoint installed that the disk did not hold); a snapshot of what the log already holds
   * (our own, or a checkpoint covered by the entries persisted) holds nothing back.
   */
  private snapshot(hold: boolean): void {
    this.sinceSnapshot = 0;
    const cp = this.core.state.freeze(false);
    const held = this.core.heldEpoch;
    const write = cp.size > STREAM_ABOVE_CHARS ? this.wal.snapshot(diskParts(cp, held)) : this.wal.snapshot(Buffer.from(JSON.stringify({ count: cp.count, seq: cp.seq, state: [...cp.parts(Infinity)].join(''), table: cp.table(), held } satisfies DiskSnapshot)));
    if (hold) this.track(write);
    else write.catch((err: Error) => this.failed(err));
  }

  /** Count a write; once it and every one before it are durable, send what waited for them. */
  private track(write: Promise<void>): void {
    const n = ++this.asked;
    write.then(
      () => {
        this.done.add(n);
        while (this.done.delete(this.durable + 1)) this.durable++;
        while (this.waiting.length > 0 && this.waiting[0]!.after <= this.durable) this.carryOut(this.waiting.shift()!.cmd);
      },
      (err: Error) => this.failed(err),
    );
  }

  private failed(err: Error): void {
    // Nothing that waited may go: it would say something is durable that is not.
    this.waiting.length = 0;
    this.fail(err);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.wal.close().catch(() => undefined);
  }
}
