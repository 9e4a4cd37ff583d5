/**
 * What ftkit sync last told the RM of each link between two groups (docs/PROTOCOL.md §6.18c):
 * its backlog and the last revision it delivered, and when it said so, for `ctl status`. A link
 * not reported for SYNC_SILENT_MS is shown as silent: the sync stopped, or cannot reach the RM.
 */
import type { Message, MessageOf } from '../lib/protocol/index.js';

/** A link not reported for this long is shown as silent (the sync reports every second). */
export const SYNC_SILENT_MS = 5000;

/** One link as `ctl status --json` shows it (`sync: [...]`). */
export interface SyncLinkStatus {
  /** `g1>g2` */
  link: string;
  from: string;
  to: string;
  /** Entries waiting to be delivered. */
  backlog: number;
  /** The source outbox's revision last delivered (0: none yet). */
  delivered: number;
  /** The sync that reported it. */
  sync: string;
  /** How long ago it was reported. */
  ageMs: number;
  silent: boolean;
}

export class SyncTable {
  private readonly links = new Map<string, { report: MessageOf<'backlog'>; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  record(report: MessageOf<'backlog'>): void {
    this.links.set(`${report.source}>${report.target}`, { report, at: this.now() });
  }

  /** The handler of a sync's connection, which opened with `first`: every message on it is a report. */
  follow(first: MessageOf<'backlog'>, unexpected: (msg: Message) => Error): (msg: Message) => void {
    this.record(first);
    return (msg) => {
      if (msg.type !== 'backlog') throw unexpected(msg);
      this.record(msg);
    };
  }

  /** Every link reported, in name order. */
  status(): SyncLinkStatus[] {
    const now = this.now();
    return [...this.links]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([link, { report: r, at }]) => ({ link, from: r.source, to: r.target, backlog: r.waiting, delivered: r.delivered, sync: r.from, ageMs: now - at, silent: now - at > SYNC_SILENT_MS }));
  }
}
