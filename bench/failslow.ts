/**
 * Fail-slow detection (`npm run bench -- --only failslow`): a passive 3-replica system
 * (heartbeat 0.1 s, metrics on, every component quiet) under the bench's saturating closed-loop
 * load (32 clients) for five minutes (30 s with --quick): every `fail_slow` flag the RM raises
 * then is a false positive. Then, still under load, each fault kind is injected into the primary
 * (`ftkit ctl fault`: delay 50 ms, cpu-hog 60 ms of every 100 ms, mem-hog 150 MB/s) and the time
 * from the injection to the RM's flag is printed; each is cleared before the next. Printed,
 * never asserted.
 */
import { spawnSync } from 'node:child_process';
import { System } from '../harness/launch/system.js';
import { FTKIT_BIN } from '../harness/launch/proc.js';
import type { TraceEvent } from '../lib/trace/index.js';
import { LoadGen, leanStdout, waitAllReady } from './harness.js';
import { fmt, sleep, table } from './stats.js';

export interface FailSlowBenchOptions {
  /** How long the saturating load runs with no fault. */
  loadMs: number;
  clients: number;
  log: (line: string) => void;
}

export interface FailSlowResult {
  loadSeconds: number;
  requests: number;
  falseFlags: string[];
  /** Each replica's event loop at the end of the load: delay (ms, p90 of a 10 ms timer) and utilisation, what the detector compares with a 20 ms floor. */
  loops: Array<{ process: string; delay: number; max: number; elu: number }>;
  /** Per fault kind: ms from the injection to the flag (null: not flagged within 30 s). */
  detection: Array<{ kind: string; ms: number | null; why: string }>;
}

const data = <T>(e: TraceEvent) => e.data as T;

export async function runFailSlow(o: FailSlowBenchOptions): Promise<FailSlowResult> {
  const sys = new System({ mode: 'passive', app: 'counter', replicas: 3, heartbeat: 0.1, quiet: true });
  const lg = new LoadGen();
  try {
    await sys.start();
    for (const p of sys.group.procs.values()) if (p.name !== 'RM') leanStdout(p);
    leanStdout(sys.rm, ['fail_slow', 'fail_slow_cleared', 'fail_slow_learnt', 'ready_changed']);
    const leader = (await waitAllReady(sys, 3)).leader ?? 'S1';
    await lg.ready;
    // Baselines are learnt at rest, then the load starts: a replica busy with it is not a slow one.
    const learnt = new Set<string>();
    await sys.rm.waitFor((e) => e.type === 'fail_slow_learnt' && (data<{ replicas: string[] }>(e).replicas.forEach((r) => learnt.add(r)), learnt.size === 3), 60_000);
    const session = 'failslow';
    await lg.call('startSession', { session, rm: sys.rmAddr, clients: o.clients, payload: 'add 1' });
    const mark = sys.rm.events.length;
    o.log(`  saturating load (${o.clients} clients) for ${o.loadMs / 1000} s, no fault …`);
    const started = Date.now();
    await sleep(o.loadMs);
    const falseFlags = sys.rm.events.slice(mark).filter((e) => e.type === 'fail_slow').map((e) => e.text);
    const loadSeconds = (Date.now() - started) / 1000;
    const ctl = (...args: string[]) => spawnSync(process.execPath, [FTKIT_BIN, 'ctl', '--rm', sys.rmAddr, ...sys.securityArgs(), ...args], { encoding: 'utf8', timeout: 20_000 });
    type Processes = { metrics?: { processes: Array<{ process: string; rss: number; loop?: { delay: number; max: number; elu: number } }> } };
    const processesNow = () => (JSON.parse(ctl('--json', 'status').stdout || '{}') as Processes).metrics?.processes ?? [];
    /** What the RM holds of a replica's own signals now, for a fault it did not flag. */
    const lastLoop = (name: string) => {
      const p = processesNow().find((q) => q.process === name);
      return p ? `the RM's last report from ${name}: loop delay ${fmt(p.loop?.delay, 1)} ms (max ${fmt(p.loop?.max, 0)}), busy ${fmt((p.loop?.elu ?? 0) * 100, 0)} %, rss ${fmt(p.rss / 1e6, 0)} MB` : `no report from ${name}`;
    };
    const processes = processesNow();
    const loops = processes.flatMap((p) => (p.loop && /^S\d/.test(p.process) ? [{ process: p.process, ...p.loop }] : []));
    const detection: FailSlowResult['detection'] = [];
    for (const [kind, amount] of [['delay', '50'], ['cpu-hog', '60'], ['mem-hog', '150']] as const) {
      const from = sys.rm.events.length;
      const at = Date.now();
      const order = ctl('fault', leader, kind, amount);
      if (order.status !== 0) {
        detection.push({ kind: `${kind} ${amount}`, ms: null, why: `ctl fault failed (${order.status ?? order.signal}): ${order.stderr.trim() || order.error?.message}` });
        continue;
      }
      const flag = await sys.rm.waitFor((e) => e.type === 'fail_slow' && data<{ replica: string }>(e).replica === leader, 30_000, from).catch(() => undefined);
      detection.push({ kind: `${kind} ${amount}`, ms: flag ? flag.time - at : null, why: flag?.text ?? `not flagged within 30 s (${lastLoop(leader)})` });
      ctl('fault', leader, 'clear');
      if (flag) await sys.rm.waitFor((e) => e.type === 'fail_slow_cleared' && data<{ replica: string }>(e).replica === leader, 60_000, from).catch(() => undefined);
    }
    const end = await lg.call<{ clients: Array<{ replies: number }> }>('stopSession', { session });
    return { loadSeconds, requests: end.clients.reduce((a, c) => a + c.replies, 0), falseFlags, loops, detection };
  } finally {
    await lg.close();
    await sys.stop();
  }
}

export function printFailSlow(r: FailSlowResult, log: (line: string) => void): void {
  log(`  ${fmt(r.loadSeconds, 0)} s of saturating load (${r.requests} requests in all): ${r.falseFlags.length} fail-slow flag(s)${r.falseFlags.length ? ':' : ' (no false positive)'}`);
  for (const f of r.falseFlags) log(`    ${f}`);
  log(`  event loops under the load (last 10 s; the detector's floor is 20 ms): ${r.loops.map((l) => `${l.process} delay ${fmt(l.delay, 1)} ms (max ${fmt(l.max, 0)}), busy ${fmt(l.elu * 100, 0)} %`).join(' · ')}`);
  log(table([['fault on the primary', 'flagged after', 'why'], ...r.detection.map((d) => [d.kind, d.ms === null ? 'never' : `${fmt(d.ms / 1000, 1)} s`, d.why.replace(/^RM: /, '')])]));
}
