/**
 * The history of a chaos run: every operation a client invoked, when, and how it ended.
 * Times are milliseconds since the run started, on one monotonic clock in the harness
 * process. An invoke time is taken before the request is first sent and a completion
 * time after the reply is read, so every real-time order the checker infers is real.
 */

export type OpKind = 'append' | 'read';
/**
 * ok: a reply arrived (with `result`). fail: the request was never sent, so it certainly
 * did not run. unknown: it was sent but no reply came before the client gave up or the
 * run ended; it may or may not have run.
 */
export type Outcome = 'ok' | 'fail' | 'unknown';

export interface Op {
  /** Position in the history (order of invocation). */
  id: number;
  /** The client that invoked it (one operation at a time per client). */
  process: string;
  op: OpKind;
  /** The appended item, e.g. `C1-17`. */
  value?: string;
  invokeTime: number;
  completeTime?: number;
  outcome: Outcome;
  /** The service's answer: the item's 1-based index for an append, the log as JSON for a read. */
  result?: string;
  /** The replica that answered. */
  server?: string;
  /** The request number on the wire. */
  num?: number;
  /** Why an operation did not complete. */
  note?: string;
  /** With several replica groups: the group whose history it belongs to (its client's). */
  group?: string;
}

export interface OpHandle {
  ok(result: string, server: string): void;
  fail(note: string): void;
  unknown(note: string): void;
  readonly done: boolean;
}

/** Records operations as clients invoke and complete them. */
export class HistoryRecorder {
  private readonly list: Op[] = [];
  private readonly open = new Set<Op>();

  constructor(private readonly clock: () => number) {}

  invoke(process: string, op: OpKind, num: number, value?: string): OpHandle {
    const entry: Op = { id: this.list.length, process, op, invokeTime: this.clock(), outcome: 'unknown', num };
    if (value !== undefined) entry.value = value;
    this.list.push(entry);
    this.open.add(entry);
    const open = this.open;
    const close = (outcome: Outcome, fields: Partial<Op>) => {
      if (!open.delete(entry)) return;
      entry.outcome = outcome;
      Object.assign(entry, fields);
    };
    return {
      ok: (result, server) => close('ok', { completeTime: this.clock(), result, server }),
      fail: (note) => close('fail', { completeTime: this.clock(), note }),
      unknown: (note) => close('unknown', { note }),
      get done() {
        return !open.has(entry);
      },
    };
  }

  /** Mark every operation still open as unknown (the run ended first). */
  closeAll(note = 'the run ended before it completed'): void {
    for (const entry of this.open) {
      entry.outcome = 'unknown';
      entry.note = note;
    }
    this.open.clear();
  }

  ops(): Op[] {
    return this.list.map((o) => ({ ...o }));
  }
}

/** When an operation completed: its completion time if it was answered, else never (it may take effect at any later moment). */
export function completion(o: Op): number {
  return o.outcome === 'ok' && o.completeTime !== undefined ? o.completeTime : Infinity;
}

/** A read's result as a list of items, or undefined if it is not a JSON array of strings. */
export function parseReadResult(result: string | undefined): string[] | undefined {
  if (result === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(result);
    if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed as string[];
  } catch {
    // fall through
  }
  return undefined;
}
