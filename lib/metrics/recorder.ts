/**
 * What one process measures: a latency histogram per link (to a peer, of a kind), and its own
 * CPU and memory. Every window (a second) `close()` turns it into a report and starts the
 * next window; between two closes, a sample costs one histogram record and nothing else.
 * `Reporter` closes the window on a timer and hands the report to whoever sends it upward.
 */
import { Histogram } from './histogram.js';
import { encodeReport, type LinkKind, type Report } from './report.js';
import type { LoopReport } from './loop.js';

/** Seconds between two reports. */
export const DEFAULT_REPORT_PERIOD_MS = 1000;

/** Where a process's CPU (µs, cumulative), memory (bytes) and event loop's window come from: injected in tests. */
export interface Usage {
  cpu(): { user: number; system: number };
  memory(): { rss: number; heapUsed: number };
  loop?(): LoopReport | undefined;
}

export const processUsage: Usage = {
  cpu: () => process.cpuUsage(),
  memory: () => process.memoryUsage(),
};

interface LinkEntry {
  to: string;
  kind: LinkKind;
  histogram: Histogram;
}

export class MetricsRecorder {
  /** By peer, then by kind: finding a link builds no key. */
  private readonly links = new Map<string, Map<LinkKind, LinkEntry>>();
  /** Requests received (a replica counts them; others leave it at 0). */
  requests = 0;
  countsRequests = false;

  constructor(
    readonly process: string,
    private readonly usage: Usage = processUsage,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The histogram of the link to `to` that times `kind`: kept by the caller, recorded into directly. */
  link(to: string, kind: LinkKind): Histogram {
    let byKind = this.links.get(to);
    if (!byKind) this.links.set(to, (byKind = new Map()));
    let entry = byKind.get(kind);
    if (!entry) byKind.set(kind, (entry = { to, kind, histogram: new Histogram() }));
    return entry.histogram;
  }

  /** Forget every link to `to` (the peer is gone). */
  drop(to: string): void {
    this.links.delete(to);
  }

  /** Close the window: the report of what was measured since the last close, and CPU and memory now. */
  close(): Report {
    const cpu = this.usage.cpu();
    const mem = this.usage.memory();
    const loop = this.usage.loop?.();
    const links = [];
    for (const byKind of this.links.values()) {
      for (const { to, kind, histogram } of byKind.values()) {
        if (histogram.count === 0) continue;
        links.push({ to, kind, ...histogram.toWindow() });
        histogram.reset();
      }
    }
    return {
      process: this.process,
      at: this.clock(),
      cpu: { user: cpu.user / 1e6, system: cpu.system / 1e6 },
      rss: mem.rss,
      heap: mem.heapUsed,
      ...(this.countsRequests ? { requests: this.requests } : {}),
      ...(loop ? { loop } : {}),
      links,
    };
  }
}

/** Close a recorder's window every period and hand the encoded report to `send`; a report over the size limit goes to `tooLarge`. */
export class Reporter {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly recorder: MetricsRecorder,
    private readonly send: (text: string) => void,
    private readonly tooLarge: (r: Report) => void = () => {},
    private readonly periodMs = DEFAULT_REPORT_PERIOD_MS,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Close the window and send its report now. */
  tick(): void {
    const report = this.recorder.close();
    const text = encodeReport(report);
    if (text === undefined) this.tooLarge(report);
    else this.send(text);
  }
}
