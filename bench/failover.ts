/**
 * Fault detection and failover. For each heartbeat period and mode, a System with
 * three replicas (`counter` app) serves two closed-loop load clients sending
 * `add 1`, and each trial strikes the current leader (passive primary or active
 * sequencer):
 *
 *  - kill: SIGKILL. On one machine the LFD's connection to the server closes at
 *    once, so the LFD usually learns of the death from the socket, not from a
 *    missed heartbeat.
 *  - hang: SIGSTOP. The process keeps its sockets open and stops answering: only
 *    the heartbeat timeout (2 x period) can detect it. Afterwards it is SIGKILLed.
 *
 * Measured from the signal (bench process clock, epoch ms) to: the LFD's
 * `replica_deleted`, the RM's `membership_changed` without the victim, the RM's
 * `view_changed` naming a new leader, and the first reply a load client receives
 * for a request it first sent after the signal. Between trials the victim is
 * started again by hand (System.startServer) and the RM is polled until all three
 * replicas are ready. The RM runs with --no-auto-restart, so only we restart it.
 * At the end of a series the acknowledged adds are compared with a final `get`.
 */
import { System } from '../harness/launch/system.js';
import type { Proc } from '../harness/launch/proc.js';
import type { Mode } from '../lib/protocol/index.js';
import type { TraceEvent } from '../lib/trace/index.js';
import { LoadGen, forgetEvents, leanStdout, rmStatus, stoppedPids, waitAllReady } from './harness.js';
import type { WatchResult } from './recorder.js';
import { preciseNow, sleep, spread, type Spread } from './stats.js';

export interface FailoverOptions {
  killTrials: number;
  hangTrials: number;
  heartbeats: number[];
  /** Extra series with saturating load (no think time), at these heartbeats. */
  saturating: number[];
  saturatingTrials: { kill: number; hang: number };
  log: (line: string) => void;
}

/** Load during a series: paced (each client pauses 1 ms after a reply) or saturating (pure closed loop). */
export type LoadLevel = 'paced' | 'saturating';
const THINK_MS: Record<LoadLevel, number> = { paced: 1, saturating: 0 };

export interface Trial {
  trial: number;
  victim: string;
  /** ms from the signal */
  lfd?: number;
  rm?: number;
  view?: number;
  failover?: number;
  /** First reply after the signal to any request (also ones in flight at the signal). */
  anyReply?: number;
  newLeader?: string;
  /** Why the LFD dropped the server (`connection closed` or `timed out after … ms`). */
  why?: string;
  /** LFD `replica_deleted` of a live server during the trial (not the victim before its restart). */
  falseSuspicions: string[];
  /** LFD-GFD connections lost during the trial (the GFD gave up on a live LFD, or the link broke). */
  lfdLinksLost: number;
}

export interface Series {
  mode: Mode;
  heartbeat: number;
  load: LoadLevel;
  fault: 'kill' | 'hang';
  trials: Trial[];
  failures: Array<{ trial: number; error: string }>;
  summary: Record<'lfd' | 'rm' | 'view' | 'failover' | 'anyReply', Spread>;
  check?: { acked: number; total: number; unresolved: number; distinct: number; lost: number; extra: number; seconds: number; rps: number };
  falseSuspicions: number;
  lfdLinksLost: number;
}

export interface FailoverResult {
  series: Series[];
}

/** Server events the bench needs; everything else the servers print is drained unparsed. */
const SERVER_KEEP = ['role_changed', 'protocol_error', 'internal_error', 'step_down', 'checkpoint_bad'];

const data = <T>(e: TraceEvent) => e.data as T;

async function settle<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch {
    return undefined;
  }
}

async function oneTrial(sys: System, lg: LoadGen, fault: 'kill' | 'hang', hb: number, trial: number): Promise<Trial> {
  forgetEvents(sys);
  const st = await rmStatus(sys);
  const victim = st.leader!;
  const lfd = sys.proc(`LFD${victim.replace(/^\D+/, '')}`);
  const proc = sys.proc(victim);
  const bound = Math.max(5000, hb * 1000 * 6);
  if (fault === 'hang') stoppedPids.add(proc.pid);
  const t = preciseNow();
  proc.kill(fault === 'kill' ? 'SIGKILL' : 'SIGSTOP');
  const [del, failed, mem, view, first] = await Promise.all([
    settle(lfd.waitFor((e) => e.type === 'replica_deleted' && data<{ server: string }>(e).server === victim, bound)),
    settle(lfd.waitFor((e) => e.type === 'heartbeat_failed' && data<{ server: string }>(e).server === victim, bound)),
    settle(sys.rm.waitFor((e) => e.type === 'membership_changed' && !data<{ members: string[] }>(e).members.includes(victim), bound)),
    settle(sys.rm.waitFor((e) => e.type === 'view_changed' && !!data<{ leader?: string }>(e).leader && data<{ leader: string }>(e).leader !== victim, bound)),
    lg.call<WatchResult | undefined>('watchFirst', { since: t, exclude: victim, timeoutMs: bound }),
  ]);
  const out: Trial = {
    trial,
    falseSuspicions: [],
    lfdLinksLost: 0,
    victim,
    lfd: del ? del.time - t : undefined,
    rm: mem ? mem.time - t : undefined,
    view: view ? view.time - t : undefined,
    failover: first ? first.at - t : undefined,
    anyReply: first?.anyAt !== undefined ? first.anyAt - t : undefined,
    newLeader: view ? data<{ leader: string }>(view).leader : undefined,
    why: failed ? data<{ why: string }>(failed).why : undefined,
  };
  // Bring the victim back: a fresh process under the same name.
  if (fault === 'hang') proc.kill('SIGKILL');
  await Promise.race([proc.exited, sleep(5000)]);
  stoppedPids.delete(proc.pid);
  const restartAt = Date.now();
  const again: Proc = await sys.startServer(victim);
  leanStdout(again, SERVER_KEEP);
  await waitAllReady(sys, 3, 30_000);
  await sleep(300);
  for (const n of ['LFD1', 'LFD2', 'LFD3']) {
    for (const e of sys.proc(n).events) {
      if (e.type === 'gfd_lost') out.lfdLinksLost++;
      if (e.type !== 'replica_deleted') continue;
      const server = data<{ server: string }>(e).server;
      if (server !== victim || e.time >= restartAt) out.falseSuspicions.push(`${server}@${e.time - Math.round(t)}ms`);
    }
  }
  const missing = (['lfd', 'rm', 'view', 'failover'] as const).filter((k) => out[k] === undefined);
  if (missing.length) throw Object.assign(new Error(`no ${missing.join(', ')} within ${bound} ms`), { trialResult: out });
  return out;
}

export async function runFailover(lg: LoadGen, o: FailoverOptions): Promise<FailoverResult> {
  const series: Series[] = [];
  const plan: Array<{ hb: number; load: LoadLevel; kill: number; hang: number }> = [];
  for (const hb of o.heartbeats) plan.push({ hb, load: 'paced', kill: o.killTrials, hang: o.hangTrials });
  for (const hb of o.saturating) plan.push({ hb, load: 'saturating', ...o.saturatingTrials });
  for (const { hb, load, kill, hang } of plan) {
    for (const mode of ['passive', 'active'] as const) {
      series.push(...(await runSeries(lg, o, mode, hb, load, kill, hang)));
    }
  }
  return { series };
}

async function runSeries(lg: LoadGen, o: FailoverOptions, mode: Mode, hb: number, load: LoadLevel, kills: number, hangs: number): Promise<Series[]> {
  const sys = new System({ mode, app: 'counter', heartbeat: hb, checkpointFreq: 1, autoRestart: false });
  const session = `failover-${mode}-${hb}-${load}`;
  const here: Series[] = [];
  let started = false;
  const tag = `${mode} hb ${hb} ${load}`;
  try {
    await sys.start();
    await waitAllReady(sys, 3);
    for (const s of ['S1', 'S2', 'S3']) leanStdout(sys.proc(s), SERVER_KEEP);
    await lg.call('startSession', { session, rm: sys.rmAddr, clients: 2, payload: 'add 1', prefix: 'F', keepResults: true, thinkMs: THINK_MS[load] });
    const t0 = Date.now();
    started = true;
    await sleep(500);
    for (const [fault, n] of [
      ['kill', kills],
      ['hang', hangs],
    ] as const) {
      if (n === 0) continue;
      const s: Series = { mode, heartbeat: hb, load, fault, trials: [], failures: [], summary: {} as Series['summary'], falseSuspicions: 0, lfdLinksLost: 0 };
      for (let i = 1; i <= n; i++) {
        try {
          const tr = await oneTrial(sys, lg, fault, hb, i);
          s.trials.push(tr);
          s.falseSuspicions += tr.falseSuspicions.length;
          s.lfdLinksLost += tr.lfdLinksLost;
          const extra = tr.falseSuspicions.length ? `; false suspicions: ${tr.falseSuspicions.join(' ')}` : '';
          o.log(`${tag} ${fault} #${i}: ${tr.victim} -> ${tr.newLeader}; LFD ${tr.lfd?.toFixed(0)} ms (${tr.why}), RM ${tr.rm?.toFixed(0)} ms, view ${tr.view?.toFixed(0)} ms, first reply ${tr.failover?.toFixed(0)} ms${extra}`);
        } catch (err) {
          const exits = ['S1', 'S2', 'S3']
            .map((n) => sys.group.procs.get(n))
            .filter((p): p is Proc => !!p && !p.running)
            .map((p) => `${p.name} pid ${p.pid} exited (${p.child.signalCode ?? `status ${p.child.exitCode}`}); stderr: ${p.lines.slice(-3).join(' / ') || 'none'}`);
          const why = (err as Error).message.split('\n')[0]! + (exits.length ? ` [${exits.join('; ')}]` : '');
          s.failures.push({ trial: i, error: why });
          o.log(`${tag} ${fault} #${i}: FAILED ${why}`);
          // Leave the system whole for the next trial, if we can.
          for (const name of ['S1', 'S2', 'S3']) {
            const p = sys.group.procs.get(name);
            if (p && !p.running) {
              const again = await settle(sys.startServer(name));
              if (again) leanStdout(again, SERVER_KEEP);
            }
          }
          await settle(waitAllReady(sys, 3, 30_000));
        }
      }
      for (const k of ['lfd', 'rm', 'view', 'failover', 'anyReply'] as const) {
        s.summary[k] = spread(s.trials.map((t) => t[k]).filter((x): x is number => x !== undefined));
      }
      here.push(s);
    }
    const end = await lg.call<{ clients: Array<{ replies: number; unresolved: number }>; results: string[] }>('stopSession', { session });
    const seconds = (Date.now() - t0) / 1000;
    started = false;
    const get = await lg.call<{ result: string }>('ask', { rm: sys.rmAddr, payload: 'get' });
    const acked = end.clients.reduce((a, c) => a + c.replies, 0);
    const unresolved = end.clients.reduce((a, c) => a + c.unresolved, 0);
    const total = Number(get.result);
    const check = { acked, total, unresolved, distinct: new Set(end.results).size, lost: Math.max(0, acked - total), extra: total - acked, seconds, rps: acked / seconds };
    for (const s of here) s.check = check;
    o.log(`${tag}: acknowledged ${acked} (${check.rps.toFixed(0)}/s), counter ${total}, distinct results ${check.distinct}, unresolved ${unresolved}`);
  } finally {
    if (started) await settle(lg.call('stopSession', { session, drainMs: 1000 }));
    await sys.stop();
  }
  return here;
}
