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

export class EventLog {
  private s: EventLogState = { rev: 0, events: [], compactAt: MIN_COMPACT };

  constructor(private readonly keep: Keep) {}

  get rev(): number {
    return this.s.rev;
  }

  get length(): number {
    return this.s.events.length;
  }

  add(topic: string, text: string): void {
    this.s.events.push({ rev: ++this.s.rev, topic, text });
    if (this.s.events.length >= this.s.compactAt) this.compact();
  }

  /** Drop what `keep` lets go. */
  compact(): void {
    const newer = new Map<string, number>();
    const kept: AppEvent[] = [];
    for (let i = this.s.events.length - 1; i >= 0; i--) {
      const e = this.s.events[i]!;
      const n = newer.get(e.topic) ?? 0;
      newer.set(e.topic, n + 1);
      if (this.keep(e, n)) kept.push(e);
    }
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
  }
}
