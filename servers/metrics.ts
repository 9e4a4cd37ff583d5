/**
 * The replica's measuring, in its shell (the core keeps no clock): the component probe (its
 * own CPU and memory, reported to its LFD every second, with the requests it has received), and
 * the latency of each leader → follower link, from a `log` or `order` entry going out to the
 * follower's cumulative `ack` covering it. Sending an entry costs a ring slot per follower.
 */
import { performance } from 'node:perf_hooks';
import type { Connection } from '../lib/net/index.js';
import type { Addressed } from '../lib/protocol/index.js';
import type { Tracer } from '../lib/trace/index.js';
import { MetricsProbe, PendingAcks, type LinkKind } from '../lib/metrics/index.js';

export class ReplicaMetrics {
  private readonly probe: MetricsProbe;
  /** Per follower: the entries sent to it that it has not acknowledged yet. */
  private readonly pending = new Map<string, { kind: LinkKind; acks: PendingAcks }>();

  constructor(me: string, tracer: Tracer, upstream: () => Connection | undefined) {
    this.probe = new MetricsProbe({ me, tracer, upstream });
    this.probe.recorder.countsRequests = true;
  }

  start(): void {
    this.probe.start();
  }

  stop(): void {
    this.probe.stop();
  }

  /** A request arrived from a client. */
  request(): void {
    this.probe.recorder.requests++;
  }

  /** A message went to `peers` at once: a log or order entry starts a round trip to each. */
  broadcast(msg: Addressed, peers: readonly string[]): void {
    if (msg.type !== 'log' && msg.type !== 'order') return;
    const now = performance.now();
    for (const peer of peers) this.of(peer, msg.type).sent(msg.seq, now);
  }

  /** `peer` acknowledged every entry up to `seq`. */
  acked(peer: string, seq: number): void {
    this.pending.get(peer)?.acks.acked(seq, performance.now());
  }

  /** The link to `peer` went down: what it had not acknowledged will not be. */
  down(peer: string): void {
    this.pending.get(peer)?.acks.clear();
  }

  private of(peer: string, kind: LinkKind): PendingAcks {
    let entry = this.pending.get(peer);
    if (entry?.kind !== kind) this.pending.set(peer, (entry = { kind, acks: new PendingAcks(this.probe.recorder.link(peer, kind)) }));
    return entry.acks;
  }
}
