/**
 * An app's watchable events (docs/PROTOCOL.md §6.6a), kept bounded. Each event gets the next
 * revision; the log is part of the replicated state, so it is plain data (`EventLogState`)
 * that snapshots carry whole, and every decision about it is taken at apply time from that data
 * alone: replicas that applied the same requests hold the same log, byte for byte.
 *
 * Old events are dropped by compaction, which runs when the log has doubled since the last one
 * (amortized constant work per event): an event survives while the app's `keep` says so, given
 * how many newer events its topic has. What that costs a watcher: one that subscribes from a
 * revision older than what is kept misses what was dropped (a timeline keeps its last 1,000
 * posts, far past the 20 a read shows), and is told nothing else.
 */
import type { AppEvent } from './apps.js';
import { field, type StateRecord } from './freezable.js';

/** Below this many events no compaction runs. */
const MIN_COMPACT = 1024;

export interface EventLogState {
  rev: number;
  events: AppEvent[];
  /** The length at which the next compaction runs. */
  compactAt: number;
}

/** Whether event `e` stays, `newer` being how many later events of its topic there are. */
export type Keep = (e: AppEvent, newer: number) => boolean;

/** The latest `n` events of each topic stay. */
export const keepLatest =
  (n: number): Keep =>
  (_e, newer) =>
    newer < n;

/** An event's characters in a record, about. */
const weigh = (e: AppEvent) => e.topic.length + e.text.length + 24;

export class EventLog {
  private s: EventLogState = { rev: 0, events: [], compactAt: MIN_COMPACT };
  /** About how many characters the events take in records. */
  private weight = 0;

  constructor(private readonly keep: Keep) {}

  get rev(): number {
    return this.s.rev;
  }

  get length(): number {
    return this.s.events.length;
  }

  get chars(): number {
    return this.weight;
  }

  add(topic: string, text: string): void {
    const e = { rev: ++this.s.rev, topic, text };
    this.s.events.push(e);
    this.weight += weigh(e);
    if (this.s.events.length >= this.s.compactAt) this.compact();
  }

  /** Drop what `keep` lets go. */
  compact(): void {
    const newer = new Map<string, number>();
    const kept: AppEvent[] = [];
    this.weight = 0;
    for (let i = this.s.events.length - 1; i >= 0; i--) {
      const e = this.s.events[i]!;
      const n = newer.get(e.topic) ?? 0;
      newer.set(e.topic, n + 1);
      if (this.keep(e, n)) {
        kept.push(e);
        this.weight += weigh(e);
      }
    }
    // A new array: one frozen before stays as it was (events are only ever pushed to the live one).
    this.s.events = kept.reverse();
    this.s.compactAt = Math.max(MIN_COMPACT, 2 * kept.length);
  }

  /** Events of `topic` with after < rev ≤ upTo, oldest first (binary search to the first). */
  since(topic: string, after: number, upTo: number): AppEvent[] {
    const events = this.s.events;
    let lo = 0;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (events[mid]!.rev <= after) lo = mid + 1;
      else hi = mid;
    }
    const out: AppEvent[] = [];
    for (let i = lo; i < events.length && events[i]!.rev <= upTo; i++) if (events[i]!.topic === topic) out.push(events[i]!);
    return out;
  }

  /** The texts of the latest `n` events of `topic`, newest first. */
  latest(topic: string, n: number): string[] {
    const out: string[] = [];
    for (let i = this.s.events.length - 1; i >= 0 && out.length < n; i--) if (this.s.events[i]!.topic === topic) out.push(this.s.events[i]!.text);
    return out;
  }

  /** The log as plain data, for the app's snapshot. */
  state(): EventLogState {
    return this.s;
  }

  /** Take the log back from a snapshot (one without a compaction point gets the default). */
  restore(s: Partial<EventLogState> | undefined): void {
    const events = Array.isArray(s?.events) ? s.events : [];
    this.s = { rev: s?.rev ?? 0, events, compactAt: s?.compactAt ?? Math.max(MIN_COMPACT, 2 * events.length) };
    this.weight = 0;
    for (const e of events) this.weight += weigh(e);
  }

  /**
   * The log as it is now, as records to read later while it goes on: `["log", rev, compactAt]`,
   * then `["event", rev, topic, text]` oldest first. Events are never changed and only pushed to
   * the live array (a compaction makes a new one), so the array and its length are the frozen log.
   */
  freeze(): () => Iterable<StateRecord> {
    const { rev, compactAt, events } = this.s;
    const n = events.length;
    return function* () {
      yield ['log', rev, compactAt];
      for (let i = 0; i < n; i++) {
        const e = events[i]!;
        yield ['event', e.rev, e.topic, e.text];
      }
    };
  }
}

/** A log rebuilt from its records (EventLog.freeze), checked one by one; `state()` once all are in. */
export class EventLogBuilder {
  private head?: { rev: number; compactAt: number };
  private readonly events: AppEvent[] = [];

  /** Take the record if it is the log's; false if it is not. */
  take(record: readonly unknown[]): boolean {
    if (record[0] === 'log') {
      if (this.head) throw new Error('a second log record');
      this.head = { rev: field.count(record[1], 'the revision'), compactAt: field.count(record[2], 'the compaction point') };
      return true;
    }
    if (record[0] !== 'event') return false;
    if (!this.head) throw new Error('an event before the log record');
    const rev = field.count(record[1], "an event's revision");
    const last = this.events.at(-1)?.rev ?? 0;
    if (rev <= last || rev > this.head.rev) throw new Error(`event revision ${rev} is out of order`);
    this.events.push({ rev, topic: field.string(record[2], "an event's topic"), text: field.string(record[3], "an event's text") });
    return true;
  }

  state(): EventLogState {
    if (!this.head) throw new Error('no log record');
    return { ...this.head, events: this.events };
  }
}
