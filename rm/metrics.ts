/**
 * What the RM knows of every link's latency and every process's CPU and memory: the reports
 * that flow up to it (server → LFD → GFD → RM, client → RM), kept per process and per link as
 * the last RETAIN_MS of one-second windows (bounded however long it runs and however many
 * report), and summed up over a sliding window for `ctl status`, the dashboard, /metrics and the
 * fail-slow detector: per link count, min, avg, p50, p99, max; per process CPU % (from the
 * cumulative CPU seconds), RSS and heap; and the running totals a Prometheus counter needs.
 */
import { Histogram, MetricsReportError, MetricsRecorder, DEFAULT_REPORT_PERIOD_MS, RefusalLimiter, parseReport, type LinkKind, type LoopReport, type Report, type Window } from '../lib/metrics/index.js';
import { EventEmitter } from 'node:events';
import type { MessageOf } from '../lib/protocol/index.js';
import type { LinkSummary, MetricsSummary, ProcessSummary } from '../lib/metrics/summary.js';

export type { LinkSummary, MetricsSummary, ProcessSummary };

/** How long windows are kept. */
export const RETAIN_MS = 5 * 60_000;
/** A process that has not reported for this long is shown stale. */
export const STALE_MS = 3000;
/** The sliding window the summary covers by default. */
export const DEFAULT_WINDOW_MS = 10_000;
/** Windows kept per link or process, whatever the clock says (a sender reporting too often). */
export const MAX_WINDOWS = 2 * (RETAIN_MS / 1000);
/** Processes and links kept at most: a report beyond them is refused. */
export const MAX_PROCESSES = 1000;
export const MAX_LINKS = 10_000;

interface Sample {
  /** When the RM received it. */
  at: number;
  /** The sender's clock when it closed the window: CPU % is taken between two of its own readings. */
  sentAt: number;
  cpu: number;
  rss: number;
  heap: number;
  loop?: LoopReport;
}

interface ProcessEntry {
  samples: Sample[];
  requests?: number;
  lastAt: number;
}

interface LinkEntry {
  from: string;
  to: string;
  kind: LinkKind;
  windows: Array<{ at: number; w: Window }>;
  /** Since the RM first heard of the link: what a Prometheus `_count` and `_sum` need. */
  totalCount: number;
  totalSumMs: number;
  lastAt: number;
}

const round = (v: number | undefined, digits = 3): number | null => (v === undefined ? null : Number(v.toFixed(digits)));

/** Drop what is older than `oldest`, and keep at most MAX_WINDOWS. */
function trim<T extends { at: number }>(list: T[], oldest: number): void {
  let n = 0;
  while (n < list.length && (list[n]!.at < oldest || list.length - n > MAX_WINDOWS)) n++;
  if (n > 0) list.splice(0, n);
}

/** One window of a link, for a graph: when the RM received it (ms), its samples and latencies (ms). */
export interface LinkPoint {
  at: number;
  count: number;
  avg: number | null;
  p99: number | null;
  max: number | null;
}

/** One report of a process, for a graph: CPU % since its previous report (null for the first), memory in bytes. */
export interface ProcessPoint {
  at: number;
  cpu: number | null;
  rss: number;
  heap: number;
}

/**
 * Emits `report` (the report, the RM's time) for every report kept: the dashboard's live updates
 * and the fail-slow detector follow it rather than polling.
 */
export class MetricsStore extends EventEmitter<{ report: [Report, number] }> {
  private readonly processes = new Map<string, ProcessEntry>();
  private readonly links = new Map<string, LinkEntry>();
  private readonly limiter = new RefusalLimiter();
  private readonly onRefused: (from: string, reason: string) => void;

  /** `onRefused` is told why a report was refused: the same refusal of the same sender once a minute. */
  constructor(onRefused: (from: string, reason: string) => void = () => {}) {
    super();
    this.onRefused = (from, reason) => this.limiter.shouldSay(from, reason) && onRefused(from, reason);
  }

  /** A `metrics` message: kept if it parses and `mayReport(process)` holds; otherwise traced through onRefused. */
  receive(msg: MessageOf<'metrics'>, mayReport: (process: string) => boolean, now = Date.now()): void {
    let report: Report;
    try {
      report = parseReport(msg.report);
    } catch (err) {
      if (err instanceof MetricsReportError) return this.onRefused(msg.from, err.message);
      throw err;
    }
    if (!mayReport(report.process)) return this.onRefused(msg.from, `it reports for ${report.process}, which it does not speak for`);
    const refusal = this.add(report, now);
    if (refusal) this.onRefused(msg.from, refusal);
  }

  /** Keep one report; the reason it was refused, if it was. */
  add(r: Report, now = Date.now()): string | undefined {
    this.prune(now);
    let p = this.processes.get(r.process);
    if (!p) {
      if (this.processes.size >= MAX_PROCESSES) return `already ${MAX_PROCESSES} processes reporting`;
      this.processes.set(r.process, (p = { samples: [], lastAt: now }));
    }
    p.lastAt = now;
    if (r.requests !== undefined) p.requests = r.requests;
    p.samples.push({ at: now, sentAt: r.at, cpu: r.cpu.user + r.cpu.system, rss: r.rss, heap: r.heap, ...(r.loop ? { loop: r.loop } : {}) });
    trim(p.samples, now - RETAIN_MS);
    for (const l of r.links) {
      const key = `${r.process}\0${l.to}\0${l.kind}`;
      let e = this.links.get(key);
      if (!e) {
        if (this.links.size >= MAX_LINKS) return `already ${MAX_LINKS} links`;
        this.links.set(key, (e = { from: r.process, to: l.to, kind: l.kind, windows: [], totalCount: 0, totalSumMs: 0, lastAt: now }));
      }
      e.lastAt = now;
      e.totalCount += l.count;
      e.totalSumMs += l.sum;
      e.windows.push({ at: now, w: { count: l.count, sum: l.sum, min: l.min, max: l.max, buckets: l.buckets } });
      trim(e.windows, now - RETAIN_MS);
    }
    this.emit('report', r, now);
    return undefined;
  }

  /** Forget processes and links silent for RETAIN_MS. */
  prune(now = Date.now()): void {
    for (const [name, p] of this.processes) if (now - p.lastAt > RETAIN_MS) this.processes.delete(name);
    for (const [key, l] of this.links) if (now - l.lastAt > RETAIN_MS) this.links.delete(key);
  }

  /** Whether `process` has reported within STALE_MS. */
  isStale(process: string, now = Date.now()): boolean {
    const p = this.processes.get(process);
    return !p || now - p.lastAt > STALE_MS;
  }

  /** Every link and process over the last `windowMs`. */
  summary(now = Date.now(), windowMs = DEFAULT_WINDOW_MS): MetricsSummary {
    this.prune(now);
    const since = now - windowMs;
    const links = [...this.links.values()].map((l) => this.linkSummary(l, since, now));
    const processes = [...this.processes].map(([name, p]) => this.processSummary(name, p, since, now));
    const order = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });
    links.sort((a, b) => order(a.from, b.from) || order(a.to, b.to) || order(a.kind, b.kind));
    processes.sort((a, b) => order(a.process, b.process));
    return { windowMs, links, processes };
  }

  /** One link's histogram over the windows since `since` (ms, the RM's clock): for the fail-slow detector and /metrics. */
  histogram(from: string, to: string, kind: LinkKind, since: number): Histogram {
    const h = new Histogram();
    for (const { at, w } of this.links.get(`${from}\0${to}\0${kind}`)?.windows ?? []) if (at > since) h.merge(w);
    return h;
  }

  /** A link's windows since `since` (the RM's clock), oldest first. */
  linkSeries(from: string, to: string, kind: LinkKind, since: number): LinkPoint[] {
    const out: LinkPoint[] = [];
    const h = new Histogram();
    for (const { at, w } of this.links.get(`${from}\0${to}\0${kind}`)?.windows ?? []) {
      if (at <= since) continue;
      h.reset();
      h.merge(w);
      out.push({ at, count: w.count, avg: round(w.count ? w.sum / w.count : undefined), p99: round(h.quantile(0.99)), max: round(w.count ? w.max : undefined) });
    }
    return out;
  }

  /** A process's reports since `since` (the RM's clock), oldest first. */
  processSeries(process: string, since: number): ProcessPoint[] {
    const samples = this.processes.get(process)?.samples ?? [];
    const out: ProcessPoint[] = [];
    samples.forEach((s, i) => {
      if (s.at <= since) return;
      const prev = samples[i - 1];
      const seconds = prev ? (s.sentAt - prev.sentAt) / 1000 : 0;
      out.push({ at: s.at, cpu: prev && seconds > 0 ? round((100 * Math.max(0, s.cpu - prev.cpu)) / seconds, 1) : null, rss: s.rss, heap: s.heap });
    });
    return out;
  }

  private linkSummary(l: LinkEntry, since: number, now: number): LinkSummary {
    const h = this.histogram(l.from, l.to, l.kind, since);
    const known = (name: string) => this.processes.has(name);
    const stale = h.count === 0 || this.isStale(l.from, now) || (known(l.to) && this.isStale(l.to, now));
    const has = h.count > 0;
    return {
      from: l.from,
      to: l.to,
      kind: l.kind,
      count: h.count,
      min: round(has ? h.min : undefined),
      avg: round(has ? h.sum / h.count : undefined),
      p50: round(h.quantile(0.5)),
      p99: round(h.quantile(0.99)),
      max: round(has ? h.max : undefined),
      stale,
      totalCount: l.totalCount,
      totalSumMs: round(l.totalSumMs)!,
    };
  }

  private processSummary(process: string, p: ProcessEntry, since: number, now: number): ProcessSummary {
    const last = p.samples[p.samples.length - 1]!;
    const inWindow = p.samples.filter((s) => s.at > since);
    const first = inWindow[0];
    const seconds = first && first !== last ? (last.sentAt - first.sentAt) / 1000 : 0;
    const cpu = seconds > 0 ? (100 * Math.max(0, last.cpu - first!.cpu)) / seconds : undefined;
    const loop = loopOver(inWindow);
    return {
      process,
      cpu: round(cpu, 1),
      cpuSeconds: round(last.cpu)!,
      rss: last.rss,
      heap: last.heap,
      ...(p.requests === undefined ? {} : { requests: p.requests }),
      ...(loop ? { loop } : {}),
      age: now - p.lastAt,
      stale: now - p.lastAt > STALE_MS,
    };
  }
}

/**
 * A process's event loop over its reports in a window: the median of their delays (one window a
 * busy machine held it up does not make it blocked; a hog blocks every window), the longest
 * delay, the mean utilisation.
 */
function loopOver(samples: readonly Sample[]): LoopReport | undefined {
  const loops = samples.flatMap((s) => (s.loop ? [s.loop] : []));
  if (loops.length === 0) return undefined;
  const delays = loops.map((l) => l.delay).sort((a, b) => a - b);
  const mid = delays.length >> 1;
  const delay = delays.length % 2 ? delays[mid]! : (delays[mid - 1]! + delays[mid]!) / 2;
  const elu = loops.reduce((sum, l) => sum + l.elu, 0) / loops.length;
  return { delay: round(delay)!, max: round(Math.max(...loops.map((l) => l.max)))!, elu: round(elu)! };
}

/** The RM measures itself too: its own CPU and memory go into the store every second (start, and a stop function). */
export function measureSelf(name: string, store: MetricsStore): () => void {
  const recorder = new MetricsRecorder(name);
  const timer = setInterval(() => store.add(recorder.close()), DEFAULT_REPORT_PERIOD_MS);
  timer.unref();
  return () => clearInterval(timer);
}
