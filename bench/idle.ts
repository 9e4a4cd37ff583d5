/**
 * Idle CPU (`npm run bench -- --only idle`): a 3-replica ftkit system (passive, `counter`
 * app, every component `--quiet --quiet-heartbeats`, heartbeat 0.1 s, components' output
 * drained) is started, waited on until every replica is ready and the start-up work is
 * over, then each process's run time (all threads, from the scheduler's exact count in
 * /proc/PID/task/TID/schedstat) is read at the start and end of each window. Printed per component (RM, GFD, LFD1-3, S1-3) and in total,
 * percent of one core; Redis with 2 replicas the same way, as a reference, where
 * `redis-server` is installed. Several windows, so one disturbed by other work shows.
 * Numbers are printed, never asserted.
 */
import { System } from '../harness/launch/system.js';
import { DEFAULT_CHECKPOINT_FREQ_S } from '../lib/config/options.js';
import { readFileSync, readdirSync } from 'node:fs';
import { leanStdout, readCpu, waitAllReady } from './harness.js';
import { findRedis, redisVersion, startRedisGroup } from './redis-server.js';
import { fmt, sleep, table } from './stats.js';

export interface IdleOptions {
  replicas: number;
  heartbeat: number;
  /** After all replicas are ready, before the first window. */
  settleMs: number;
  windowMs: number;
  windows: number;
  log: (line: string) => void;
}

export interface IdleWindow {
  seconds: number;
  /** Percent of one core per process name, and `total`. */
  cpu: Record<string, number>;
}

export interface IdleSystem {
  system: string;
  processes: string[];
  windows: IdleWindow[];
}

export interface IdleResult {
  systems: IdleSystem[];
  failures: string[];
}

/**
 * CPU seconds the process has run, all its threads: the scheduler's own count in
 * /proc/PID/task/TID/schedstat (nanoseconds, exact), where the kernel has it; else utime +
 * stime from /proc/PID/stat, which is sampled at the clock tick (10 ms) and so charges a
 * process that wakes briefly many times a second by chance.
 */
export function runtimeOf(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1e9;
  } catch {
    return readCpu(pid);
  }
}

/** Sample `procs` (name -> pid) over `windows` consecutive windows. */
export async function sampleIdle(procs: Map<string, number>, windowMs: number, windows: number): Promise<IdleWindow[]> {
  const out: IdleWindow[] = [];
  const read = () => new Map([...procs].map(([name, pid]) => [name, runtimeOf(pid) ?? NaN]));
  for (let w = 0; w < windows; w++) {
    const before = read();
    const t0 = performance.now();
    await sleep(windowMs);
    const after = read();
    const seconds = (performance.now() - t0) / 1000;
    const cpu: Record<string, number> = {};
    let total = 0;
    for (const [name, b] of before) {
      const pct = ((after.get(name)! - b) / seconds) * 100;
      cpu[name] = pct;
      total += pct;
    }
    cpu.total = total;
    out.push({ seconds, cpu });
  }
  return out;
}

export async function runIdle(o: IdleOptions): Promise<IdleResult> {
  const systems: IdleSystem[] = [];
  const failures: string[] = [];
  const sys = new System({ mode: 'passive', app: 'counter', replicas: o.replicas, heartbeat: o.heartbeat, checkpointFreq: DEFAULT_CHECKPOINT_FREQ_S, autoRestart: false, quiet: true });
  try {
    await sys.start();
    await waitAllReady(sys, o.replicas);
    for (const p of sys.group.procs.values()) leanStdout(p);
    await sleep(o.settleMs);
    const procs = new Map([...sys.group.procs.values()].map((p) => [p.name, p.pid]));
    o.log(`ftkit idle: ${[...procs.keys()].join(', ')}; ${o.windows} windows of ${o.windowMs / 1000} s`);
    const windows = await sampleIdle(procs, o.windowMs, o.windows);
    systems.push({ system: `ftkit passive, ${o.replicas} replicas, heartbeat ${o.heartbeat} s, quiet`, processes: [...procs.keys()], windows });
    for (const w of windows) o.log(`ftkit idle window: total ${w.cpu.total!.toFixed(2)} % of a core`);
  } catch (err) {
    failures.push(`ftkit: ${(err as Error).message}`);
  } finally {
    await sys.stop();
  }
  const path = findRedis();
  if (path) {
    try {
      const redis = await startRedisGroup(path, 2);
      try {
        await sleep(1000);
        const procs = new Map(redis.pids.map((pid, i) => [i === 0 ? 'primary' : `replica${i}`, pid]));
        const windows = await sampleIdle(procs, o.windowMs, o.windows);
        systems.push({ system: `Redis ${redisVersion(path)}, primary + 2 replicas`, processes: [...procs.keys()], windows });
      } finally {
        await redis.stop();
      }
    } catch (err) {
      failures.push(`Redis: ${(err as Error).message}`);
    }
  }
  return { systems, failures };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export function printIdle(r: IdleResult): void {
  for (const s of r.systems) {
    console.log(`\nIdle CPU: ${s.system} (percent of one core, run time from /proc/PID/task/*/schedstat; one column per window, then the median)\n`);
    const names = [...s.processes, 'total'];
    const rows = [['process', ...s.windows.map((w, i) => `#${i + 1} (${fmt(w.seconds, 1)} s)`), 'median']];
    for (const n of names) rows.push([n, ...s.windows.map((w) => fmt(w.cpu[n], 2)), fmt(median(s.windows.map((w) => w.cpu[n]!)), 2)]);
    console.log(table(rows));
  }
  for (const f of r.failures) console.log(`  ! ${f}`);
}
