/**
 * A component's measuring, written once for the server, the LFD and the GFD: its recorder,
 * a report upward every second on the link it already has (server → LFD → GFD → RM), and the
 * reports of those below it passed on, each checked and passed only under a name the sender
 * may speak for. A report refused (too large, malformed, another's name) is traced (the same
 * refusal once a minute) and dropped; the connection it came on carries on.
 */
import type { Connection } from '../net/index.js';
import type { MessageOf } from '../protocol/index.js';
import type { Tracer } from '../trace/index.js';
import { MetricsReportError } from '../errors.js';
import { MetricsRecorder, Reporter, processUsage, type Usage } from './recorder.js';
import { LoopProbe } from './loop.js';
import { MAX_REPORT_BYTES, MAX_REPORT_LINKS, RefusalLimiter, parseReport } from './report.js';

export interface ProbeOptions {
  me: string;
  tracer: Tracer;
  /** The connection upstream, while there is one. */
  upstream: () => Connection | undefined;
  usage?: Usage;
  periodMs?: number;
}

export class MetricsProbe {
  readonly recorder: MetricsRecorder;
  private readonly reporter: Reporter;
  private readonly limiter = new RefusalLimiter();
  /** The component's own event loop (the fail-slow detector's steadiest sign of a hog). */
  private readonly loop = new LoopProbe();

  constructor(private readonly o: ProbeOptions) {
    this.recorder = new MetricsRecorder(o.me, o.usage ?? { ...processUsage, loop: () => this.loop.read() });
    this.reporter = new Reporter(
      this.recorder,
      (report) => this.send(report),
      (r) => this.refused(o.me, `its own report of ${r.links.length} links is over ${MAX_REPORT_LINKS} links or ${MAX_REPORT_BYTES} bytes; not sent`),
      o.periodMs,
    );
  }

  start(): void {
    this.loop.start();
    this.reporter.start();
  }

  stop(): void {
    this.reporter.stop();
    this.loop.stop();
  }

  /** A report from below: passed upward if it parses and `mayReport(process)` holds for the process it names. */
  relay(msg: MessageOf<'metrics'>, mayReport: (process: string) => boolean): void {
    let process: string;
    try {
      process = parseReport(msg.report).process;
    } catch (err) {
      if (err instanceof MetricsReportError) return this.refused(msg.from, err.message);
      throw err;
    }
    if (!mayReport(process)) return this.refused(msg.from, `it reports for ${process}, which it does not speak for`);
    this.send(msg.report);
  }

  private send(report: string): void {
    const conn = this.o.upstream();
    if (conn) conn.send({ type: 'metrics', from: this.o.me, to: conn.peer, report });
  }

  private refused(from: string, reason: string): void {
    if (!this.limiter.shouldSay(from, reason)) return;
    this.o.tracer.emitEvent('metrics_refused', 'fault', `${this.o.me}: metrics report from ${from} refused: ${reason}`, { from, reason });
  }
}
