/**
 * A client's measuring: the round trip of each request to each replica that answers it (from
 * the copy sent to that replica to its reply, on the client's own monotonic clock), and its
 * own CPU and memory; a report goes to the RM every second on the connection it follows views on.
 * In active mode a replica's late reply still counts while it answers the latest request sent to it.
 */
import { performance } from 'node:perf_hooks';
import type { Message } from '../lib/protocol/index.js';
import { MetricsRecorder, Reporter, type Histogram } from '../lib/metrics/index.js';

interface Outstanding {
  num: number;
  sentAt: number;
  histogram: Histogram;
}

export class ClientMetrics {
  private readonly recorder: MetricsRecorder;
  private readonly reporter: Reporter;
  /** Per replica, the last request sent to it (one record each, reused). */
  private readonly out = new Map<string, Outstanding>();

  constructor(name: string, toRm: (msg: Message) => void) {
    this.recorder = new MetricsRecorder(name);
    this.reporter = new Reporter(this.recorder, (report) => toRm({ type: 'metrics', from: name, to: 'RM', report }));
  }

  start(): void {
    this.reporter.start();
  }

  stop(): void {
    this.reporter.stop();
  }

  /** Request `num` went to `server`. */
  sent(server: string, num: number): void {
    let o = this.out.get(server);
    if (!o) this.out.set(server, (o = { num, sentAt: 0, histogram: this.recorder.link(server, 'request') }));
    o.num = num;
    o.sentAt = performance.now();
  }

  /** `server` replied to request `num`: one sample, if it is the last one sent to it and not timed yet. */
  replied(server: string, num: number): void {
    const o = this.out.get(server);
    if (o === undefined || o.num !== num) return;
    o.histogram.record(performance.now() - o.sentAt);
    o.num = -1;
  }
}
