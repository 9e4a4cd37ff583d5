/**
 * `--profile`: where the servers' time goes under load. Runs passive and active
 * with 8 closed-loop clients, once as the harness reads the traces and once with
 * the servers' stdout drained, with every ftkit process profiled by V8's sampling
 * profiler (bench/cpu-preload.ts, preloaded through NODE_OPTIONS, which harness/launch
 * passes on; Node 20 refuses --cpu-prof itself in NODE_OPTIONS). The V8
 * profiles are read back and each server's CPU time inside the load window is
 * split into: idle, tracing (everything under Tracer.emitEvent: building the event,
 * JSON.stringify, queueing the line; and the stdout write, under emitEvent or, since
 * trace lines are batched, under the render module's flush), the protocol codec,
 * socket writes, GC and the rest.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { System } from '../harness/launch/system.js';
import { LoadGen, leanStdout, waitAllReady } from './harness.js';
import type { LoadStats } from './recorder.js';
import { fmt, sleep, table } from './stats.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Breakdown {
  /** ms of samples in the window */
  total: number;
  idle: number;
  gc: number;
  tracing: number;
  /** Part of tracing spent in the stdout write itself. */
  tracingWrite: number;
  /** Part of tracing spent in JSON.stringify (formatJson; V8 inlines stringify into it). */
  tracingStringify: number;
  codec: number;
  socketWrite: number;
  other: number;
  top: Array<{ fn: string; selfMs: number }>;
}

/** Split a profile's samples (only those with a timestamp in [from, to] µs, if given) into categories. */
export function analyse(prof: CpuProfile, from?: number, to?: number): Breakdown {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const flags = new Map<number, Set<string>>();
  const flagsOf = (id: number): Set<string> => {
    const have = flags.get(id);
    if (have) return have;
    const n = byId.get(id)!;
    const p = parent.get(id);
    const f = new Set(p !== undefined ? flagsOf(p) : []);
    const { functionName: fn, url } = n.callFrame;
    if (fn === 'emitEvent' && url.includes('trace/tracer')) f.add('tracing');
    // Since trace lines are batched, the stdout write happens in a later flush.
    if ((fn === 'flushStdout' || fn === 'writeStdout') && url.includes('trace/render')) f.add('tracing');
    if (f.has('tracing') && (fn === 'writeStdout' || fn === 'writeSync' || fn === 'writeUtf8String' || fn === '_write' || fn === 'write')) f.add('tracingWrite');
    if (f.has('tracing') && (fn === 'stringify' || fn === 'formatJson')) f.add('tracingStringify');
    if (url.includes('lib/protocol/')) f.add('codec');
    if (!f.has('tracing') && (fn === 'writeUtf8String' || fn === 'writev' || fn === 'writeGeneric' || fn === 'writevGeneric')) f.add('socketWrite');
    flags.set(id, f);
    return f;
  };
  const self = new Map<number, number>();
  const out: Breakdown = { total: 0, idle: 0, gc: 0, tracing: 0, tracingWrite: 0, tracingStringify: 0, codec: 0, socketWrite: 0, other: 0, top: [] };
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i] ?? 0;
    if (from !== undefined && (t < from || t > to!)) continue;
    const dt = (prof.timeDeltas[i + 1] ?? 0) / 1000;
    const id = prof.samples[i]!;
    const fn = byId.get(id)!.callFrame.functionName;
    out.total += dt;
    self.set(id, (self.get(id) ?? 0) + dt);
    if (fn === '(idle)') {
      out.idle += dt;
      continue;
    }
    if (fn === '(garbage collector)') out.gc += dt;
    const f = flagsOf(id);
    if (f.has('tracing')) {
      out.tracing += dt;
      if (f.has('tracingWrite')) out.tracingWrite += dt;
      if (f.has('tracingStringify')) out.tracingStringify += dt;
    } else if (f.has('codec')) out.codec += dt;
    else if (f.has('socketWrite')) out.socketWrite += dt;
    else if (fn !== '(garbage collector)') out.other += dt;
  }
  const byFn = new Map<string, number>();
  for (const [id, ms] of self) {
    const cf = byId.get(id)!.callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/(dist|node_modules)\//, '').replace(/^file:\/\//, '')}:${cf.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + ms);
  }
  out.top = [...byFn]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([fn, selfMs]) => ({ fn, selfMs }));
  return out;
}

export interface ProfileRun {
  mode: string;
  stdout: 'as-is' | 'drained';
  stats: LoadStats;
  servers: Record<string, Breakdown>;
}

export interface ProfileResult {
  runs: ProfileRun[];
  text: string;
}

const here = dirname(fileURLToPath(import.meta.url));
const hrMicros = () => Number(process.hrtime.bigint() / 1000n);

export async function runProfile(lg: LoadGen, o: { durationMs: number; dir: string; log: (l: string) => void }): Promise<ProfileResult> {
  const runs: ProfileRun[] = [];
  for (const mode of ['passive', 'active'] as const) {
    for (const stdout of ['as-is', 'drained'] as const) {
      const dir = join(o.dir, `${mode}-${stdout}`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const saved = process.env.NODE_OPTIONS;
      process.env.NODE_OPTIONS = `${saved ?? ''} --import=${pathToFileURL(join(here, 'cpu-preload.js')).href}`.trim();
      process.env.BENCH_CPU_PROF_DIR = dir;
      const sys = new System({ mode, app: 'counter', heartbeat: 0.1, checkpointFreq: 1, autoRestart: false });
      const pids = new Map<number, string>();
      let stats: LoadStats;
      let from = 0;
      let to = 0;
      try {
        await sys.start();
        if (saved === undefined) delete process.env.NODE_OPTIONS;
        else process.env.NODE_OPTIONS = saved;
        delete process.env.BENCH_CPU_PROF_DIR;
        await waitAllReady(sys, 3);
        for (const [n, p] of sys.group.procs) pids.set(p.pid, n);
        if (stdout === 'drained') for (const s of ['S1', 'S2', 'S3']) leanStdout(sys.proc(s));
        const session = `profile-${mode}-${stdout}`;
        await lg.call('startSession', { session, rm: sys.rmAddr, clients: 8, payload: 'add 1' });
        await sleep(1000);
        from = hrMicros();
        stats = await lg.call<LoadStats>('measure', { session, durationMs: o.durationMs }, o.durationMs + 30_000);
        to = hrMicros();
        await lg.call('stopSession', { session });
      } finally {
        if (saved === undefined) delete process.env.NODE_OPTIONS;
        else process.env.NODE_OPTIONS = saved;
        delete process.env.BENCH_CPU_PROF_DIR;
        await sys.stop();
      }
      const servers: Record<string, Breakdown> = {};
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
        const pid = Number(/^CPU\.(\d+)\./.exec(file)?.[1]);
        const name = pids.get(pid) ?? `pid${pid}`;
        const prof = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
        let b = analyse(prof, from, to);
        if (b.total < o.durationMs * 0.5) b = analyse(prof); // clocks not comparable: whole profile
        servers[name] = b;
      }
      runs.push({ mode, stdout, stats: stats!, servers });
      o.log(`profiled ${mode} (${stdout}): ${stats!.rps.toFixed(0)} req/s; ${Object.keys(servers).length} profiles in ${dir}`);
    }
  }
  const rows = [['mode', 'stdout', 'req/s', 'process', 'busy %', 'tracing % of busy', '(write %)', '(stringify %)', 'codec %', 'socket write %', 'GC %']];
  for (const r of runs) {
    for (const [name, b] of Object.entries(r.servers).sort()) {
      const busy = b.total - b.idle;
      const pct = (x: number) => fmt((x / busy) * 100, 1);
      rows.push([r.mode, r.stdout, fmt(r.stats.rps, 0), name, fmt((busy / b.total) * 100, 0), pct(b.tracing), pct(b.tracingWrite), pct(b.tracingStringify), pct(b.codec), pct(b.socketWrite), pct(b.gc)]);
    }
  }
  const tops: string[] = [];
  for (const r of runs) {
    const leader = Object.entries(r.servers)
      .filter(([n]) => n.startsWith('S'))
      .sort((a, b) => b[1].total - b[1].idle - (a[1].total - a[1].idle))[0];
    if (!leader) continue;
    tops.push(`\nbusiest server, ${r.mode} (${r.stdout}): ${leader[0]}; top self time:`);
    for (const t of leader[1].top) tops.push(`  ${fmt(t.selfMs, 0).padStart(6)} ms  ${t.fn}`);
  }
  const text = `CPU profiles (V8 sampling profiler, 1 ms) inside the ${o.durationMs / 1000} s load window, 8 clients\n\n${table(rows)}\n${tops.join('\n')}`;
  return { runs, text };
}
