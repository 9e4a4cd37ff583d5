/**
 * `ftkit demo --scenario m5`: the course's milestone-5 script, unattended.
 * Bootstrapping; steady state with S1–S3, then with C1–C3; a first fault (in passive
 * mode, the primary); automatic recovery; the recovered replica killed again and
 * recovered; a second, different replica killed and recovered. Then a summary, and
 * success only if no acknowledged request was lost or executed twice and all three
 * replicas are back.
 */
import type { TraceEvent } from '../../lib/trace/index.js';
import type { Proc } from '../launch/proc.js';
import { Demo } from './demo.js';

export interface ScenarioSummary {
  clients: Record<string, { acknowledged: number; duplicates: number }>;
  failovers: number;
  relaunches: number;
  longestGapMs: number;
  lost: string[];
  executedTwice: string[];
  replicasBack: boolean;
  ok: boolean;
}

const CLIENTS = ['C1', 'C2', 'C3'];
const SERVERS = ['S1', 'S2', 'S3'];
const data = <T>(e: TraceEvent) => e.data as T;

export async function runScenarioM5(demo: Demo): Promise<ScenarioSummary> {
  const sys = demo.system;
  const hb = demo.options.heartbeatFreq;
  const steadyMs = Math.max(2000, 20 * hb * 1000);
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const allEvents = () => [...sys.group.procs.values()].flatMap((p) => p.events);

  demo.say('phase 1: bootstrapping RM, GFD, LFD1–3 and S1–S3');
  await sys.start();
  await waitReady(sys.rm, 3, 30_000);
  demo.say(`phase 2: steady state with S1–S3 (${steadyMs / 1000} s)`);
  await pause(steadyMs);
  demo.say('phase 3: steady state with C1–C3');
  const clients = CLIENTS.map((c) => demo.startClient(c, ['--interval', '0.1', '--timeout', '1']));
  await Promise.all(clients.map((c) => c.waitFor((e) => e.type === 'request_done', 30_000)));
  await pause(steadyMs);
  const faultsFrom = Date.now();

  const leader = currentLeader(sys.rm);
  const first = demo.options.mode === 'passive' ? leader : 'S1';
  const second = SERVERS.find((s) => s !== first)!;
  for (const [i, victim, label] of [
    [4, first, demo.options.mode === 'passive' ? `first fault: the primary ${first}` : `first fault: ${first}`],
    [5, first, `the recovered ${first} killed again`],
    [6, second, `a second, different replica: ${second}`],
  ] as const) {
    demo.say(`phase ${i}: ${label}`);
    const mark = sys.rm.events.length;
    if (demo.kill(victim) === undefined) throw new Error(`${victim} is not running`);
    await sys.rm.waitFor((e) => e.type === 'membership_changed' && !data<{ members: string[] }>(e).members.includes(victim), 30_000, mark);
    demo.say(`waiting for the RM to relaunch ${victim} and for it to be ready`);
    await waitReady(sys.rm, 3, 60_000, mark);
    await Promise.all(clients.map((c) => progress(c, 3)));
  }
  const faultsTo = Date.now();

  demo.say('final check: stopping the clients and reading the log');
  await Promise.all(clients.map((c) => c.stop()));
  const read = await sys.ask('CHECK', 'read');
  const log = JSON.parse(read.result) as string[];
  const counts = new Map<string, number>();
  for (const item of log) counts.set(item, (counts.get(item) ?? 0) + 1);
  const acked = clients.flatMap((c) => done(c).map((e) => `${c.name}-${data<{ num: number }>(e).num}`));
  const status = JSON.parse(await sys.ctl({ op: 'status' })) as { members: Array<{ ready: boolean }> };

  const events = allEvents();
  const elections = sys.rm.events.filter((e) => e.type === 'decision' && /is (primary|sequencer) \(epoch/.test(e.text));
  const summary: ScenarioSummary = {
    clients: Object.fromEntries(
      clients.map((c) => [c.name, { acknowledged: done(c).length, duplicates: c.events.filter((e) => e.type === 'duplicate_reply').length }]),
    ),
    failovers: Math.max(0, elections.length - 1),
    relaunches: events.filter((e) => e.type === 'launched').length,
    longestGapMs: longestGap(clients, faultsFrom, faultsTo),
    lost: acked.filter((a) => !counts.has(a)),
    executedTwice: [...counts].filter(([, n]) => n > 1).map(([item]) => item),
    replicasBack: status.members.length === 3 && status.members.every((m) => m.ready),
    ok: false,
  };
  summary.ok = summary.lost.length === 0 && summary.executedTwice.length === 0 && summary.replicasBack;
  return summary;
}

export function formatSummary(s: ScenarioSummary, mode: string): string {
  const rows: Array<[string, string]> = [
    ...Object.entries(s.clients).map(([c, v]): [string, string] => [`${c}: acknowledged / duplicates discarded`, `${v.acknowledged} / ${v.duplicates}`]),
    ['failovers (leader elections after start)', String(s.failovers)],
    ['relaunches by the RM', String(s.relaunches)],
    ['longest client-visible gap', `${s.longestGapMs} ms`],
    ['acknowledged requests lost', String(s.lost.length) + (s.lost.length ? ` (${s.lost.slice(0, 5).join(', ')})` : '')],
    ['requests executed twice', String(s.executedTwice.length) + (s.executedTwice.length ? ` (${s.executedTwice.slice(0, 5).join(', ')})` : '')],
    ['all three replicas back and ready', s.replicasBack ? 'yes' : 'NO'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    `milestone-5 scenario, ${mode} mode: ${s.ok ? 'PASSED' : 'FAILED'}`,
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
  ].join('\n');
}

const done = (c: Proc) => c.events.filter((e) => e.type === 'request_done');

function currentLeader(rm: Proc): string {
  const views = rm.events.filter((e) => e.type === 'view_changed');
  return data<{ leader: string }>(views[views.length - 1]!).leader;
}

/** Resolves when the RM reports `n` ready replicas (after event index `from`). */
function waitReady(rm: Proc, n: number, ms: number, from = 0): Promise<TraceEvent> {
  return rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.length >= n, ms, from);
}

async function progress(c: Proc, n: number): Promise<void> {
  const base = done(c).length;
  await c.waitFor(() => done(c).length >= base + n, 30_000);
}

function longestGap(clients: Proc[], from: number, to: number): number {
  let worst = 0;
  for (const c of clients) {
    const times = done(c)
      .map((e) => e.time)
      .filter((x) => x >= from && x <= to);
    for (let i = 1; i < times.length; i++) worst = Math.max(worst, times[i]! - times[i - 1]!);
  }
  return worst;
}
