/**
 * ftkit next to Redis: Redis with 2 replicas, where each write is `SET` followed by
 * `WAIT 2 0` (acknowledged once both replicas hold it: ftkit's promise with 3 replicas),
 * then ftkit passive and active with 3 replicas (`counter` app, every component `--quiet --quiet-heartbeats`),
 * under the same closed-loop loads in the same run, next to the bare Node relay (bench/relay.ts:
 * the same pattern as ftkit passive with none of ftkit); ftkit with 7 replicas; and the idle
 * CPU of both. Throughput, latency, CPU per 1,000 writes (the service's processes, from
 * /proc/PID/stat before and after each window) and ftkit's ratio to Redis.
 * Skipped, saying how to install it, where `redis-server` is not on PATH.
 */
import { System } from '../harness/launch/system.js';
import type { Mode } from '../lib/protocol/index.js';
import { DEFAULT_CHECKPOINT_FREQ_S } from '../lib/config/options.js';
import { LoadGen, leanStdout, otherCpu, processCpuSnapshot, readCpu, waitAllReady, waitQuiet } from './harness.js';
import type { LoadStats } from './recorder.js';
import { REDIS_INSTALL_HINT, findRedis, redisVersion, startRedisGroup } from './redis-server.js';
import { relayComparison, startRelay } from './relay.js';
import { FOREIGN_LIMIT } from './throughput.js';
import { fmt, sleep, table } from './stats.js';

export interface RedisOptions {
  /** Load clients per window (closed loop). */
  clients: number[];
  /** Clients for the 7-replica runs. */
  bigClients: number;
  warmupMs: number;
  durationMs: number;
  /** Idle CPU window. */
  idleMs: number;
  /** ftkit's heartbeat (both LFD and GFD), seconds. */
  heartbeat: number;
  /** Longest wait for the machine to be quiet before each window. */
  quietMs: number;
  log: (line: string) => void;
}

export interface RedisRow {
  system: 'redis' | 'relay' | Mode;
  /** Processes holding the data: Redis or relay primary + replicas, ftkit replicas. */
  replicas: number;
  clients: number;
  stats: LoadStats;
  /** CPU of the service's processes (Redis, relay: their 3; ftkit: RM, GFD, LFDs and replicas) and of the load generator, ms per 1,000 writes. */
  cpuPer1k: number;
  clientCpuPer1k: number;
  /** CPU of other user processes on the machine during the window, percent of a core. */
  foreign: number;
  errors: string[];
}

export interface IdleRow {
  system: string;
  processes: number;
  seconds: number;
  /** Percent of one core, all the system's processes together. */
  cpu: number;
}

export type RedisResult =
  | { skipped: string }
  | { version: string; rows: RedisRow[]; idle: IdleRow[]; checks: Array<{ system: string; acked: number; total: number; unresolved: number }>; failures: string[] };

/** CPU seconds of `pids` so far, summed. */
const cpuOf = (pids: number[]) => pids.reduce((a, pid) => a + (readCpu(pid) ?? 0), 0);

/** One measured window of the load `session`: stats and CPU. */
async function window(lg: LoadGen, session: string, durationMs: number, pids: number[]) {
  const before = cpuOf(pids);
  const clientBefore = readCpu(lg.pid) ?? 0;
  const procs = processCpuSnapshot();
  const t0 = Date.now();
  const stats = await lg.call<LoadStats>('measure', { session, durationMs }, durationMs + 30_000);
  const secs = (Date.now() - t0) / 1000;
  const per1k = (cpuSecs: number) => (cpuSecs * 1000 * 1000) / stats.count;
  const { other } = otherCpu(procs, processCpuSnapshot(), secs, new Set([...pids, lg.pid, process.pid]));
  return { stats, cpuPer1k: per1k(cpuOf(pids) - before), clientCpuPer1k: per1k((readCpu(lg.pid) ?? 0) - clientBefore), foreign: other };
}

async function idleCpu(system: string, pids: number[], ms: number): Promise<IdleRow> {
  const before = cpuOf(pids);
  const t0 = Date.now();
  await sleep(ms);
  const secs = (Date.now() - t0) / 1000;
  return { system, processes: pids.length, seconds: secs, cpu: ((cpuOf(pids) - before) / secs) * 100 };
}

let sessionCounter = 0;

interface LoadEnd {
  errors: string[];
  clients: Array<{ replies: number; unresolved: number }>;
}

/** Run one load on a started system, measure a window, stop the load; the window and what the load reported. */
export async function measureLoad(lg: LoadGen, o: Pick<RedisOptions, 'quietMs' | 'warmupMs' | 'durationMs'>, start: (session: string) => Promise<unknown>, pids: number[]) {
  const session = `redis-cmp-${++sessionCounter}`;
  await waitQuiet(FOREIGN_LIMIT, o.quietMs, [...pids, lg.pid]);
  await start(session);
  const stop = () => lg.call<LoadEnd>('stopSession', { session });
  let w: Awaited<ReturnType<typeof window>>;
  try {
    await sleep(o.warmupMs);
    w = await window(lg, session, o.durationMs, pids);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return { ...w, end: await stop() };
}

export async function runRedis(lg: LoadGen, o: RedisOptions): Promise<RedisResult> {
  const path = findRedis();
  if (!path) {
    o.log(REDIS_INSTALL_HINT);
    return { skipped: REDIS_INSTALL_HINT };
  }
  const version = redisVersion(path);
  o.log(`Redis ${version} (${path}), 2 replicas`);
  const rows: RedisRow[] = [];
  const idle: IdleRow[] = [];
  const checks: Extract<RedisResult, { version: string }>['checks'] = [];
  const failures: string[] = [];

  try {
    const redis = await startRedisGroup(path, 2);
    try {
      await sleep(1000);
      idle.push(await idleCpu(`Redis ${version}, primary + 2 replicas`, redis.pids, o.idleMs));
      for (const clients of o.clients) {
        const { end, ...w } = await measureLoad(lg, o, (session) => lg.call('startRedis', { session, port: redis.port, clients, replicas: 2 }), redis.pids);
        rows.push({ system: 'redis', replicas: 3, clients, ...w, errors: end.errors });
        o.log(`redis, ${clients} client(s): ${w.stats.rps.toFixed(0)} writes/s, p50 ${w.stats.p50.toFixed(3)} ms, ${w.cpuPer1k.toFixed(0)} ms CPU per 1,000`);
      }
    } finally {
      await redis.stop();
    }
  } catch (err) {
    failures.push(`Redis: ${(err as Error).message}`);
    o.log(`Redis FAILED: ${(err as Error).message}`);
  }

  try {
    const relay = await startRelay(2);
    try {
      await sleep(1000);
      for (const clients of o.clients) {
        const { end, ...w } = await measureLoad(lg, o, (session) => lg.call('startRelay', { session, port: relay.port, clients }), relay.pids);
        rows.push({ system: 'relay', replicas: 3, clients, ...w, errors: end.errors });
        o.log(`bare Node relay, ${clients} client(s): ${w.stats.rps.toFixed(0)} writes/s, p50 ${w.stats.p50.toFixed(3)} ms, ${w.cpuPer1k.toFixed(0)} ms CPU per 1,000`);
      }
    } finally {
      await relay.stop();
    }
  } catch (err) {
    failures.push(`bare Node relay: ${(err as Error).message}`);
    o.log(`bare Node relay FAILED: ${(err as Error).message}`);
  }

  const runFtkit = async (mode: Mode, replicas: number, loads: number[], measureIdle: boolean) => {
    const sys = new System({ mode, app: 'counter', replicas, heartbeat: o.heartbeat, checkpointFreq: DEFAULT_CHECKPOINT_FREQ_S, autoRestart: false, quiet: true });
    let acked = 0;
    let unresolved = 0;
    try {
      await sys.start();
      await waitAllReady(sys, replicas);
      // Drained, not parsed: the bench process stays off the machine's busy path.
      for (const p of sys.group.procs.values()) leanStdout(p);
      const pids = [...sys.group.procs.values()].map((p) => p.pid);
      await sleep(1000);
      if (measureIdle) idle.push(await idleCpu(`ftkit ${mode}, ${replicas} replicas, heartbeat ${o.heartbeat} s`, pids, o.idleMs));
      for (const clients of loads) {
        const { end, ...w } = await measureLoad(lg, o, (session) => lg.call('startSession', { session, rm: sys.rmAddr, clients, payload: 'add 1' }), pids);
        acked += end.clients.reduce((a, c) => a + c.replies, 0);
        unresolved += end.clients.reduce((a, c) => a + c.unresolved, 0);
        rows.push({ system: mode, replicas, clients, ...w, errors: end.errors });
        o.log(`ftkit ${mode} ${replicas} replicas, ${clients} client(s): ${w.stats.rps.toFixed(0)} writes/s, p50 ${w.stats.p50.toFixed(3)} ms, ${w.cpuPer1k.toFixed(0)} ms CPU per 1,000`);
      }
      const get = await lg.call<{ result: string }>('ask', { rm: sys.rmAddr, payload: 'get' });
      checks.push({ system: `${mode} ${replicas}`, acked, total: Number(get.result), unresolved });
    } catch (err) {
      failures.push(`ftkit ${mode} ${replicas} replicas: ${(err as Error).message}`);
      o.log(`ftkit ${mode} ${replicas} replicas FAILED: ${(err as Error).message}`);
    } finally {
      await sys.stop();
    }
  };
  await runFtkit('passive', 3, o.clients, true);
  await runFtkit('active', 3, o.clients, false);
  await runFtkit('passive', 7, [o.bigClients], false);
  await runFtkit('active', 7, [o.bigClients], false);
  return { version, rows, idle, checks, failures };
}

export function printRedis(r: RedisResult): void {
  if ('skipped' in r) {
    console.log(`\nftkit vs Redis: skipped. ${r.skipped}`);
    return;
  }
  const redisRps = (clients: number) => r.rows.find((x) => x.system === 'redis' && x.clients === clients)?.stats.rps ?? NaN;
  const threeRps = (mode: string, clients: number) => r.rows.find((x) => x.system === mode && x.replicas === 3 && x.clients === clients)?.stats.rps ?? NaN;
  console.log(`\nftkit vs Redis ${r.version} (closed loop on 127.0.0.1; a Redis write is SET + WAIT 2 0 in one round trip, acknowledged when both`);
  console.log('replicas hold it; bare Node relay: ftkit passive\'s messages on plain node:net, a primary replying once both backups acknowledged, no ftkit code;');
  console.log('ftkit: counter app `add 1`, every component --quiet --quiet-heartbeats; ratio = writes/s over Redis\'s with the same clients (7 replicas: over');
  console.log('ftkit\'s own 3-replica figure); CPU = user + system time of the service\'s processes (and, apart, of the load generator) per 1,000 writes;');
  console.log('other % = CPU of unrelated processes on the machine during the window)\n');
  const rows = [['system', 'replicas', 'clients', 'writes/s', 'p50 ms', 'p99 ms', 'ratio', 'CPU ms/1k', 'client CPU ms/1k', 'other %']];
  for (const x of r.rows) {
    const ratio = x.system === 'redis' ? '1' : x.replicas === 3 ? fmt(x.stats.rps / redisRps(x.clients), 2) : `${fmt(x.stats.rps / threeRps(x.system, x.clients), 2)} of 3`;
    const name = x.system === 'redis' ? 'Redis' : x.system === 'relay' ? 'bare Node relay' : `ftkit ${x.system}`;
    rows.push([name, x.system === 'redis' || x.system === 'relay' ? '1+2' : String(x.replicas), String(x.clients), fmt(x.stats.rps, 0), fmt(x.stats.p50, 3), fmt(x.stats.p99, 3), ratio, fmt(x.cpuPer1k, 0), fmt(x.clientCpuPer1k, 0), fmt(x.foreign, 0)]);
  }
  console.log(table(rows));
  console.log(`\n${relayComparison(r.rows, 8)}`);
  console.log('\nIdle CPU (percent of one core, every process of the system together)\n');
  console.log(table([['system', 'processes', 'seconds', 'CPU %'], ...r.idle.map((x) => [x.system, String(x.processes), fmt(x.seconds, 1), fmt(x.cpu, 2)])]));
  console.log('\nCounter check (acknowledged adds vs final `get`):');
  for (const c of r.checks) console.log(`  ${c.system}: acknowledged ${c.acked}, counter ${c.total}, unresolved ${c.unresolved} -> ${c.total >= c.acked && c.total - c.acked <= c.unresolved ? 'OK' : 'MISMATCH'}`);
  for (const x of r.rows) if (x.errors.length) console.log(`  ! ${x.system} ${x.replicas} ${x.clients}: ${x.errors.slice(0, 2).join(' | ')}`);
  for (const f of r.failures) console.log(`  ! ${f}`);
}
