/**
 * Helpers around harness/launch for the benchmarks: the load generator child, the
 * baseline server child, cheaper trace consumption, /proc readings and RM status.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Proc } from '../harness/launch/proc.js';
import type { System } from '../harness/launch/system.js';
import type { TraceEvent } from '../lib/trace/index.js';
import { sleep } from './stats.js';

const here = dirname(fileURLToPath(import.meta.url));

// ---- child processes -----------------------------------------------------------------

/** A forked helper (bench/loadgen.js) answering `{ id, op }` requests over IPC. */
export class LoadGen {
  readonly child: ChildProcess;
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly ready: Promise<void>;

  constructor(execArgv: string[] = []) {
    this.child = fork(join(here, 'loadgen.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    let onReady: () => void;
    this.ready = new Promise((r) => (onReady = r));
    this.child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      if (m.id === 0) return onReady();
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(`loadgen: ${m.error}`));
    });
    this.child.on('exit', (code, signal) => {
      for (const w of this.waiting.values()) w.reject(new Error(`loadgen exited (${signal ?? code})`));
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  call<T>(op: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`loadgen: ${op} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ id, op, ...args });
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(t);
  }
}

/**
 * A bench server script (bench/`script`, compiled) in its own process, given `args`: it
 * reports `{ port }` over IPC once listening and exits when its IPC channel closes.
 */
export async function forkServer(script: string, args: string[] = [], what = script): Promise<{ child: ChildProcess; port: number; stop: () => Promise<void> }> {
  const child = fork(join(here, script), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not start within 10 s`)), 10_000);
    child.once('message', (m: { port: number }) => {
      clearTimeout(t);
      resolve(m.port);
    });
    child.once('exit', () => reject(new Error(`${what} exited`)));
  }).catch(async (err: Error) => {
    await stop();
    throw err;
  });
  return { child, port, stop };
}

/** The plain `node:net` baseline server, in its own process. */
export const startBaselineServer = () => forkServer('baseline-server.js', [], 'baseline server');

/**
 * Processes we have SIGSTOPped and not yet killed. A stopped process cannot notice that
 * its parent went away, so if the bench is interrupted these are SIGKILLed explicitly.
 */
export const stoppedPids = new Set<number>();

export function killStopped(): void {
  for (const pid of stoppedPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  stoppedPids.clear();
}

// ---- trace consumption --------------------------------------------------------------

/**
 * Stop the harness from parsing this process's stdout line by line: from now on its
 * stdout is read in chunks and only lines mentioning one of `keep` (event types) are
 * parsed and delivered as events (so Proc.waitFor still works for those). With
 * `keep` empty, stdout is simply drained. stderr is left as it is.
 *
 * harness/launch/proc.ts reads stdout with readline and JSON-parses and stores every
 * line; at thousands of trace lines per second that is the bench process's main
 * work, and a slow reader back-pressures the component (its stdout is a pipe,
 * written synchronously).
 */
export function leanStdout(proc: Proc, keep: string[] = []): void {
  const out = proc.child.stdout!;
  out.removeAllListeners('data');
  const marks = keep.map((t) => `"type":"${t}"`);
  let partial = '';
  out.setEncoding('utf8');
  out.on('data', (chunk: string) => {
    if (marks.length === 0) return;
    const text = partial + chunk;
    const lines = text.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (!marks.some((m) => line.includes(m))) continue;
      try {
        const e = JSON.parse(line) as TraceEvent;
        proc.events.push(e);
        proc.emit('event', e);
      } catch {
        // a line cut when we took over the stream
      }
    }
  });
  out.resume();
}

/** Forget the events a process has accumulated (memory), when nothing waits on indexes into them. */
export function forgetEvents(sys: System): void {
  for (const p of sys.group.procs.values()) p.events.length = 0;
}

// ---- /proc ------------------------------------------------------------------------------

export interface Mem {
  /** kB */
  rss: number;
  /** kB: peak RSS since the process started. */
  hwm: number;
}

export function readMem(pid: number): Mem | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

const TICKS = 100; // USER_HZ on Linux

/** CPU seconds (user + system) the process has used so far. */
export function readCpu(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return undefined;
  }
}

// ---- RM -----------------------------------------------------------------------------------

export interface RmStatus {
  mode: string;
  epoch: number;
  leader: string | null;
  members: Array<{ name: string; addr: string; role: string; ready: boolean }>;
}

export async function rmStatus(sys: System): Promise<RmStatus> {
  return JSON.parse(await sys.ctl({ op: 'status' }, 3000)) as RmStatus;
}

/** Wait (polling the RM) until it has `n` members, all ready, and a leader; bounded. */
export async function waitAllReady(sys: System, n: number, ms = 20_000): Promise<RmStatus> {
  const deadline = Date.now() + ms;
  let last: RmStatus | undefined;
  while (Date.now() < deadline) {
    try {
      last = await rmStatus(sys);
      if (last.leader && last.members.length === n && last.members.every((m) => m.ready)) return last;
    } catch {
      // RM busy or restarting: try again
    }
    await sleep(25);
  }
  throw new Error(`RM did not report ${n} ready members within ${ms} ms; last status: ${JSON.stringify(last)}`);
}

export async function setProperty(sys: System, key: string, value: string): Promise<void> {
  await sys.ctl({ op: 'set', key, value }, 3000);
}

/**
 * Machine-wide CPU time so far, in seconds summed over all cores: process time (user,
 * nice, system), softirq (loopback TCP is processed there, not charged to a process),
 * steal (the hypervisor ran something else) and total.
 */
export function readMachineCpu(): { busy: number; softirq: number; steal: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: ((v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0)) / TICKS, softirq: ((v[5] ?? 0) + (v[6] ?? 0)) / TICKS, steal: (v[7] ?? 0) / TICKS, total: total / TICKS };
}

/**
 * CPU seconds used so far by every process on the machine, split into user processes
 * (minus `ours` and their threads) and kernel threads (children of kthreadd: ksoftirqd,
 * kworkers, where part of our own loopback TCP work is done). Processes that start or end
 * between two snapshots are counted from their first snapshot (a small undercount).
 */
export function processCpuSnapshot(): Map<number, { cpu: number; kernel: boolean }> {
  const out = new Map<number, { cpu: number; kernel: boolean }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(f[1]);
      out.set(Number(d), { cpu: (Number(f[11]) + Number(f[12])) / TICKS, kernel: ppid === 2 || Number(d) === 2 });
    } catch {
      // gone
    }
  }
  return out;
}

/** Percent of one core used between two snapshots by user processes not in `ours`, and by kernel threads. */
export function otherCpu(a: ReturnType<typeof processCpuSnapshot>, b: ReturnType<typeof processCpuSnapshot>, secs: number, ours: Set<number>): { other: number; kernel: number } {
  let other = 0;
  let kernel = 0;
  for (const [pid, e] of b) {
    if (ours.has(pid)) continue;
    const d = e.cpu - (a.get(pid)?.cpu ?? e.cpu);
    if (e.kernel) kernel += d;
    else other += d;
  }
  return { other: (other / secs) * 100, kernel: (kernel / secs) * 100 };
}


/**
 * Wait (bounded) until user processes other than ours use less than `limit` percent of a
 * core, so that a measurement does not start in the middle of someone else's work on the
 * machine. Resolves with the last load seen (NaN when not waiting at all).
 */
export async function waitQuiet(limit: number, maxMs: number, ours: number[] = []): Promise<number> {
  if (maxMs <= 0) return NaN;
  const deadline = Date.now() + maxMs;
  const mine = new Set([...ours, process.pid]);
  let load = Infinity;
  do {
    const a = processCpuSnapshot();
    await sleep(1000);
    load = otherCpu(a, processCpuSnapshot(), 1, mine).other;
    if (load < limit) return load;
  } while (Date.now() < deadline);
  return load;
}
