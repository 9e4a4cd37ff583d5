/**
 * What the load generator measures: completions and latencies inside a time window, and
 * the replies that came after a point in time (the failover bench's "first reply after
 * the kill").
 */
import { percentile, preciseNow as now } from './stats.js';

export interface LoadStats {
  count: number;
  seconds: number;
  rps: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

/** Counts completions and latencies inside a time window (epoch ms). */
export class Recorder {
  start = 0;
  end = Infinity;
  count = 0;
  readonly lat: number[] = [];
  /** Reply times of every completion (only when asked: for gap analysis). */
  readonly times: number[] | undefined;

  constructor(keepTimes = false) {
    if (keepTimes) this.times = [];
  }

  record(sentAt: number, at: number): void {
    this.times?.push(at);
    if (at < this.start || at >= this.end) return;
    this.count++;
    this.lat.push(at - sentAt);
  }

  /** Start a window of `durationMs` now. */
  open(durationMs: number): void {
    this.count = 0;
    this.lat.length = 0;
    this.start = now();
    this.end = this.start + durationMs;
  }

  summary(): LoadStats {
    const s = [...this.lat].sort((a, b) => a - b);
    const secs = (Math.min(this.end, now()) - this.start) / 1000;
    return {
      count: this.count,
      seconds: secs,
      rps: this.count / secs,
      p50: percentile(s, 50),
      p99: percentile(s, 99),
      mean: s.reduce((a, b) => a + b, 0) / (s.length || 1),
      max: s[s.length - 1] ?? NaN,
    };
  }
}

export interface WatchResult {
  /** First reply to a request first sent at or after `since` (epoch ms). */
  at: number;
  server: string;
  client: string;
  num: number;
  anyAt?: number;
  anyServer?: string;
}

interface Reply {
  sentAt: number;
  at: number;
  server: string;
  client: string;
  num: number;
}

/** Someone waiting for the first reply after a point in time (a kill). */
interface Watch {
  since: number;
  exclude: string;
  /** First reply received after `since` from a server other than `exclude`, whatever its request. */
  any?: { at: number; server: string };
  resolve: (r: WatchResult) => void;
}

const RECENT_MAX = 5000;

/** Replies seen lately, and who waits for the first one after a kill. */
export class ReplyWatch {
  private readonly watches = new Set<Watch>();
  /** The last replies received, so a watch that arrives a moment after the kill still sees them. */
  private readonly recent: Reply[] = [];

  note(r: Reply): void {
    this.recent.push(r);
    if (this.recent.length > RECENT_MAX) this.recent.splice(0, this.recent.length - RECENT_MAX / 2);
    for (const w of this.watches) if (this.matches(w, r)) this.watches.delete(w);
  }

  /** The first reply, from a server other than `exclude`, to a request first sent at or after `since`; undefined after `timeoutMs`. */
  first(since: number, exclude: string, timeoutMs: number): Promise<WatchResult | undefined> {
    return new Promise((resolve) => {
      const w: Watch = {
        since,
        exclude,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        this.watches.delete(w);
        resolve(undefined);
      }, timeoutMs);
      // Replies that came between the kill and this call.
      for (const r of this.recent) if (this.matches(w, r)) return;
      this.watches.add(w);
    });
  }

  /** Whether `r` ends the watch `w` (then it has been resolved). */
  private matches(w: Watch, r: Reply): boolean {
    if (r.at < w.since || r.server === w.exclude) return false;
    w.any ??= { at: r.at, server: r.server };
    if (r.sentAt < w.since) return false;
    w.resolve({ at: r.at, server: r.server, client: r.client, num: r.num, anyAt: w.any.at, anyServer: w.any.server });
    return true;
  }
}
