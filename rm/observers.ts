/**
 * What watches the RM's system rather than runs it: the RM measuring its own process, the
 * fail-slow watch (slow.ts), and the web side (http.ts) when `--http` is given. Started after
 * the RM listens, stopped before it closes.
 */
import type { Tracer } from '../lib/trace/index.js';
import type { MessageOf } from '../lib/protocol/index.js';
import { checkSlowOrder } from '../lib/faults.js';
import { RmHttp } from './http.js';
import { DEFAULT_FAIL_SLOW, DEFAULT_RULES, type FailSlowOptions } from './failslow.js';
import { measureSelf, type MetricsStore } from './metrics.js';
import { SlowWatch, type WatchedGroup } from './slow.js';
import type { Exposition } from './prometheus.js';

export interface ObservedRm {
  readonly name: string;
  readonly tracer: Tracer;
  readonly metrics: MetricsStore;
  status(): Record<string, unknown>;
  watchedGroups(): WatchedGroup[];
  /** A message for a server, through the GFD and its LFD (retire: it exits, its group elects another leader, the RM has it relaunched). */
  sendDown(msg: MessageOf<'retire' | 'inject'>): boolean;
}

export interface ObserverOptions {
  host?: string;
  http?: number;
  /** Retire a leader flagged fail-slow. */
  evictSlow?: boolean;
  /** How many times its baseline a replica's latency must be (default 3). */
  slowFactor?: number;
  /** How long, in seconds, it must stay so (default 3). */
  slowFor?: number;
  /** How long, in seconds, each replica's signals are learnt from before it can be flagged (default 10). */
  slowWarmup?: number;
}

export class Observers {
  readonly slow: SlowWatch;
  private http: RmHttp | undefined;
  private stopMeasuring: (() => void) | undefined;

  constructor(
    private readonly rm: ObservedRm,
    private readonly o: ObserverOptions,
  ) {
    this.slow = new SlowWatch({
      metrics: rm.metrics,
      groups: () => rm.watchedGroups(),
      detector: detectorOptions(o),
      onChange: (c) => this.slowChanged(c),
      onWarm: (replicas) => rm.tracer.emitEvent('fail_slow_learnt', 'info', `${rm.name}: fail-slow baselines learnt for ${replicas.join(', ')}: watching them`, { replicas }),
    });
  }

  async start(): Promise<void> {
    this.stopMeasuring = measureSelf(this.rm.name, this.rm.metrics);
    this.slow.start();
    if (this.o.http === undefined) return;
    this.http = new RmHttp({ tracer: this.rm.tracer, status: () => this.rm.status(), writeMetrics: (out) => this.writeMetrics(out) }, this.o.host ?? '127.0.0.1', this.o.http);
    await this.http.start();
    this.rm.tracer.emitEvent('http', 'info', `${this.rm.name}: dashboard at http://${this.http.address}/ (metrics at /metrics)`, { addr: this.http.address });
  }

  async stop(): Promise<void> {
    this.stopMeasuring?.();
    this.slow.stop();
    await this.http?.stop();
  }

  private slowChanged(c: { subject: string; slow: boolean; why: string; group: string; leader: boolean }): void {
    const t = this.rm.tracer;
    if (!c.slow) return void t.emitEvent('fail_slow_cleared', 'state', `${this.rm.name}: ${c.subject} is no longer fail-slow: ${c.why}`, { replica: c.subject, group: c.group });
    t.emitEvent('fail_slow', 'fault', `${this.rm.name}: ${c.subject} is fail-slow (${c.why})`, { replica: c.subject, group: c.group, leader: c.leader, why: c.why });
    if (!this.o.evictSlow || !c.leader) return;
    t.emitEvent('evicting', 'fault', `${this.rm.name}: the leader ${c.subject} is fail-slow (--evict-slow): retiring it, electing another and relaunching it`, { replica: c.subject, group: c.group });
    this.rm.sendDown({ type: 'retire', server: c.subject });
  }

  /** `ftkit ctl fault`: check the order and send it to the replica; the refusal, if any. */
  inject(msg: MessageOf<'inject'>): string | undefined {
    const refusal = checkSlowOrder({ kind: msg.fault, amount: msg.amount, seconds: msg.seconds });
    if (refusal) return refusal;
    if (!this.rm.watchedGroups().some((g) => g.members.includes(msg.server))) return `no replica ${msg.server} is a member now`;
    if (!this.rm.sendDown({ ...msg, from: this.rm.name })) return 'no GFD is connected: the fault cannot reach the replica';
    this.rm.tracer.emitEvent('fault_sent', 'fault', `${this.rm.name}: fail-slow fault for ${msg.server} from ${msg.from}: ${msg.fault}${msg.fault === 'clear' ? '' : ` ${msg.amount}`}${msg.seconds ? ` for ${msg.seconds} s` : ''}`, { ...msg });
    return undefined;
  }

  /** The measured families of /metrics (the status-derived ones are written by the web side). */
  private writeMetrics(out: Exposition): void {
    writeMeasured(out, this.rm, (g) => this.slow.flagged(g));
  }
}

function detectorOptions(o: ObserverOptions): FailSlowOptions {
  const latency = { ...DEFAULT_RULES.latency!, factor: o.slowFactor ?? DEFAULT_RULES.latency!.factor };
  const seconds = (given: number | undefined, ms: number) => (given ?? ms / 1000) * 1000;
  return { warmupMs: seconds(o.slowWarmup, DEFAULT_FAIL_SLOW.warmupMs), sustainMs: seconds(o.slowFor, DEFAULT_FAIL_SLOW.sustainMs), rules: { ...DEFAULT_RULES, latency } };
}

/** Link latency, process CPU and memory, requests and fail-slow flags, from the metrics store. */
export function writeMeasured(out: Exposition, rm: ObservedRm, flagged: (group: string) => string[]): void {
  const now = Date.now();
  const s = rm.metrics.summary(now);
  const links = s.links.filter((l) => l.p50 !== null);
  out.family('ftkit_link_latency_seconds', 'summary', 'Round trip of each link over the last 10 s, measured by the side that sends (heartbeat, request, log, order).');
  // Each link's quantiles, sum and count together, as summary parsers expect them.
  for (const l of s.links) {
    const labels = { from: l.from, to: l.to, kind: l.kind };
    if (l.p50 !== null) out.sample('ftkit_link_latency_seconds', { ...labels, quantile: '0.5' }, l.p50 / 1000);
    if (l.p99 !== null) out.sample('ftkit_link_latency_seconds', { ...labels, quantile: '0.99' }, l.p99 / 1000);
    out.sample('ftkit_link_latency_seconds_sum', labels, l.totalSumMs / 1000);
    out.sample('ftkit_link_latency_seconds_count', labels, l.totalCount);
  }
  out.family('ftkit_link_latency_max_seconds', 'gauge', 'The longest round trip of each link over the last 10 s.');
  for (const l of links) out.sample('ftkit_link_latency_max_seconds', { from: l.from, to: l.to, kind: l.kind }, l.max! / 1000);
  out.family('ftkit_process_cpu_seconds_total', 'counter', 'CPU (user + system) each process has used since it started.');
  for (const p of s.processes) out.sample('ftkit_process_cpu_seconds_total', { process: p.process }, p.cpuSeconds);
  out.family('ftkit_process_resident_memory_bytes', 'gauge', 'Resident memory of each process.');
  for (const p of s.processes) out.sample('ftkit_process_resident_memory_bytes', { process: p.process }, p.rss);
  out.family('ftkit_process_event_loop_delay_seconds', 'gauge', "How late each process's event loop runs a 10 ms timer: over the last 10 s, the median of its one-second windows' p90.");
  for (const p of s.processes) if (p.loop) out.sample('ftkit_process_event_loop_delay_seconds', { process: p.process }, p.loop.delay / 1000);
  out.family('ftkit_requests_total', 'counter', 'Client requests each replica has received since it started.');
  for (const p of s.processes) if (p.requests !== undefined) out.sample('ftkit_requests_total', { replica: p.process }, p.requests);
  out.family('ftkit_replica_fail_slow', 'gauge', 'Whether the replica is flagged fail-slow (1) or not (0).');
  for (const g of rm.watchedGroups()) {
    const slow = new Set(flagged(g.name));
    for (const r of g.members) out.sample('ftkit_replica_fail_slow', { group: g.name, replica: r }, slow.has(r) ? 1 : 0);
  }
}
