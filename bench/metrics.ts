/**
 * The cost of metrics (`npm run bench -- --only metrics`): the same saturating load (closed-loop
 * clients, no think time, `add 1` on the `counter` app, passive, three replicas, heartbeats every
 * 0.1 s, every component quiet) on two systems started side by side, one with metrics on and one
 * `--no-metrics` (its clients too). Only one is loaded at a time: the windows alternate, on, off,
 * off, on, …, each after a short warm-up, so that other work on the machine falls on both alike.
 * Each window measures throughput and the replicas' CPU (run time from /proc) per request.
 * Printed: the median of each side, the ratio on/off of throughput (the target is ≥ 0.95) and of
 * server CPU per request. A window during which a system's epoch moved (a replica suspected under
 * the machine's load) is left out. Numbers are printed, never asserted.
 */
import { System } from '../harness/launch/system.js';
import { Histogram, PendingAcks } from '../lib/metrics/index.js';
import { ClientMetrics } from '../clients/metrics.js';
import { LoadGen, leanStdout, waitAllReady } from './harness.js';
import { runtimeOf } from './idle.js';
import type { LoadStats } from './recorder.js';
import { fmt, sleep, table } from './stats.js';

export interface MetricsBenchOptions {
  /** Windows per side. */
  windows: number;
  clients: number;
  warmupMs: number;
  windowMs: number;
  log: (line: string) => void;
}

export interface MetricsWindow {
  metrics: boolean;
  stats: LoadStats;
  /** The three replicas' CPU seconds during the window, per request, in microseconds. */
  serverCpuUsPerRequest: number;
  /** The epoch moved during the window: left out of the medians. */
  disturbed: boolean;
}

export interface MetricsBenchResult {
  windows: MetricsWindow[];
  /** The measuring one request adds, timed alone in this process (µs): at the primary (a log entry to two backups, their acks) and at its client. */
  hotPath: { primaryUs: number; clientUs: number };
  /** What the metrics-on RM knew at the end: links and processes. */
  links?: number;
  processes?: number;
  failures: string[];
}

interface Side {
  metrics: boolean;
  sys: System;
  session: string;
  pids: number[];
}

async function startSide(lg: LoadGen, metrics: boolean, clients: number): Promise<Side> {
  // A heartbeat timeout a loaded machine does not trip.
  const sys = new System({ mode: 'passive', app: 'counter', replicas: 3, heartbeat: 0.1, heartbeatTimeout: 2, checkpointFreq: 1, autoRestart: false, quiet: true, metrics });
  await sys.start();
  await waitAllReady(sys, 3);
  for (const p of sys.group.procs.values()) leanStdout(p);
  const session = `metrics-${metrics ? 'on' : 'off'}`;
  await lg.call('startSession', { session, rm: sys.rmAddr, clients, payload: 'add 1', metrics });
  await lg.call('pauseSession', { session });
  return { metrics, sys, session, pids: sys.servers.map((s) => sys.proc(s).pid) };
}

const epochOf = async (sys: System) => (JSON.parse(await sys.ctl({ op: 'status' })) as { epoch: number }).epoch;

async function oneWindow(lg: LoadGen, side: Side, o: MetricsBenchOptions): Promise<MetricsWindow> {
  const epoch = await epochOf(side.sys);
  await lg.call('resumeSession', { session: side.session });
  await sleep(o.warmupMs);
  const before = side.pids.map((pid) => runtimeOf(pid) ?? NaN);
  const stats = await lg.call<LoadStats>('measure', { session: side.session, durationMs: o.windowMs }, o.windowMs + 30_000);
  const after = side.pids.map((pid) => runtimeOf(pid) ?? NaN);
  await lg.call('pauseSession', { session: side.session });
  const cpu = after.reduce((a, v, i) => a + v - before[i]!, 0);
  return { metrics: side.metrics, stats, serverCpuUsPerRequest: (cpu / Math.max(1, stats.count)) * 1e6, disturbed: (await epochOf(side.sys)) !== epoch };
}

export async function runMetrics(lg: LoadGen, o: MetricsBenchOptions): Promise<MetricsBenchResult> {
  const result: MetricsBenchResult = { windows: [], hotPath: hotPathCost(), failures: [] };
  const sides: Side[] = [];
  try {
    sides.push(await startSide(lg, true, o.clients), await startSide(lg, false, o.clients));
    for (let w = 0; w < o.windows; w++) {
      // on, off, off, on, …: neither side always goes first.
      for (const side of w % 2 ? [...sides].reverse() : sides) {
        const win = await oneWindow(lg, side, o);
        result.windows.push(win);
        o.log(`metrics ${side.metrics ? 'on ' : 'off'} window ${w + 1}: ${fmt(win.stats.rps, 0)} req/s, server CPU ${fmt(win.serverCpuUsPerRequest, 1)} µs/request${win.disturbed ? ' (epoch moved: left out)' : ''}`);
      }
    }
    const m = (JSON.parse(await sides[0]!.sys.ctl({ op: 'status' })) as { metrics: { links: unknown[]; processes: unknown[] } }).metrics;
    result.links = m.links.length;
    result.processes = m.processes.length;
  } catch (err) {
    result.failures.push((err as Error).message);
  } finally {
    for (const side of sides) await lg.call('stopSession', { session: side.session }).catch(() => undefined);
    for (const side of sides) await side.sys.stop();
  }
  return result;
}

/**
 * What metrics add to one request, timed alone: the primary stamps a log entry for each of two
 * backups and settles it on each ack (servers/metrics.ts does exactly this per request); the
 * client stamps its request and times the reply. A machine-independent bound beside the noisy
 * ratio of two loaded systems.
 */
export function hotPathCost(n = 1_000_000): { primaryUs: number; clientUs: number } {
  const a = new PendingAcks(new Histogram());
  const b = new PendingAcks(new Histogram());
  let t0 = performance.now();
  for (let seq = 1; seq <= n; seq++) {
    const now = performance.now();
    a.sent(seq, now);
    b.sent(seq, now);
    a.acked(seq, performance.now());
    b.acked(seq, performance.now());
  }
  const primaryUs = ((performance.now() - t0) * 1000) / n;
  const client = new ClientMetrics('B1', () => {});
  t0 = performance.now();
  for (let num = 1; num <= n; num++) {
    client.sent('S1', num);
    client.replied('S1', num);
  }
  return { primaryUs, clientUs: ((performance.now() - t0) * 1000) / n };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export function printMetrics(r: MetricsBenchResult, o: Pick<MetricsBenchOptions, 'clients' | 'windowMs' | 'windows'>): void {
  console.log(`\nMetrics on vs off: passive, 3 replicas, counter, ${o.clients} closed-loop clients; two systems, ${o.windows} alternating ${o.windowMs / 1000} s windows each\n`);
  const side = (on: boolean) => r.windows.filter((x) => x.metrics === on && !x.disturbed);
  const med = (on: boolean, f: (w: MetricsWindow) => number) => median(side(on).map(f));
  const rows = [['metrics', 'windows', 'req/s (median)', 'min', 'max', 'p50 ms', 'p99 ms', 'server CPU µs/req']];
  for (const on of [true, false]) {
    const rps = side(on).map((w) => w.stats.rps);
    rows.push([on ? 'on' : 'off', String(side(on).length), fmt(median(rps), 0), fmt(Math.min(...rps), 0), fmt(Math.max(...rps), 0), fmt(med(on, (w) => w.stats.p50), 2), fmt(med(on, (w) => w.stats.p99), 2), fmt(med(on, (w) => w.serverCpuUsPerRequest), 1)]);
  }
  console.log(table(rows));
  const rpsRatio = med(true, (w) => w.stats.rps) / med(false, (w) => w.stats.rps);
  const cpuRatio = med(true, (w) => w.serverCpuUsPerRequest) / med(false, (w) => w.serverCpuUsPerRequest);
  console.log(`\n  throughput on/off: ${fmt(rpsRatio, 3)} (target ≥ 0.95);  server CPU per request on/off: ${fmt(cpuRatio, 3)}`);
  const cpuOff = med(false, (w) => w.serverCpuUsPerRequest);
  console.log(`  measuring alone adds ${fmt(r.hotPath.primaryUs, 3)} µs per request at the primary (${fmt((100 * r.hotPath.primaryUs) / cpuOff, 2)} % of the servers' ${fmt(cpuOff, 1)} µs) and ${fmt(r.hotPath.clientUs, 3)} µs at the client`);
  if (r.links !== undefined) console.log(`  the metrics-on RM knew ${r.links} links and ${r.processes} processes at the end`);
  const left = r.windows.filter((w) => w.disturbed).length;
  if (left) console.log(`  ${left} windows left out: an epoch moved during them`);
  for (const f of r.failures) console.log(`  ! ${f}`);
}
