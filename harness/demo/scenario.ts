/**
 * `ftkit demo --scenario m5`: the course's milestone-5 script, unattended.
 * Bootstrapping; steady state with S1–S3, then with C1–C3; a first fault; automatic recovery;
 * the recovered replica killed again and recovered; a second, different replica killed and
 * recovered. Victims are chosen by their role at that moment, as the RM's status gives it: in
 * passive mode the primary, then the recovered replica (now a backup), then another backup; in
 * active mode at random from a seed printed at the start (`--seed N` repeats a run). Then a
 * summary, and success only if no acknowledged request was lost or executed twice and all three
 * replicas are back.
 */
import { createHash } from 'node:crypto';
import type { TraceEvent } from '../../lib/trace/index.js';
import type { Proc } from '../launch/proc.js';
import type { System } from '../launch/system.js';
import { mulberry32, type Rng } from '../chaos/rng.js';
import { CLIENTS, Demo } from './demo.js';

export interface ScenarioSummary {
  seed: number;
  victims: string[];
  clients: Record<string, { acknowledged: number; duplicates: number }>;
  failovers: number;
  relaunches: number;
  longestGapMs: number;
  /** The log read at the end: its length, digest, first and last entries. */
  log: { entries: number; sha256: string; first: string | null; last: string | null };
  lost: string[];
  executedTwice: string[];
  replicasBack: boolean;
  ok: boolean;
}

export interface ScenarioOptions {
  /** Seeds the random choices (active mode's victims); default: a random seed, printed. */
  seed?: number;
}

/** What the scenario reads from `ftkit ctl status --json`. */
export interface RmStatus {
  mode: string;
  epoch: number;
  leader: string | null;
  members: Array<{ name: string; role: string; ready: boolean }>;
}

const data = <T>(e: TraceEvent) => e.data as T;

export async function rmStatus(sys: System): Promise<RmStatus> {
  return JSON.parse(await sys.ctl({ op: 'status' })) as RmStatus;
}

/** `primary S2 · backups S1, S3` / `sequencer S1 · members S2, S3` */
export function describeRoles(s: RmStatus): string {
  const ready = s.members.filter((m) => m.ready && m.name !== s.leader).map((m) => m.name);
  const [lead, others] = s.mode === 'passive' ? ['primary', 'backups'] : ['sequencer', 'members'];
  return `${lead} ${s.leader ?? '-'} · ${others} ${ready.join(', ') || '-'}`;
}

/** A ready member that is not the leader (none: any) and not `except`, drawn with `rng`. */
function pickFollower(s: RmStatus, rng: Rng, except?: string): string | undefined {
  const candidates = s.members.filter((m) => m.ready && m.name !== s.leader && m.name !== except).map((m) => m.name);
  return candidates[Math.floor(rng() * candidates.length)];
}

export async function runScenarioM5(demo: Demo, options: ScenarioOptions = {}): Promise<ScenarioSummary> {
  const sys = demo.system;
  const mode = demo.options.mode;
  const hb = demo.options.heartbeatFreq;
  const steadyMs = Math.max(2000, 20 * hb * 1000);
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rng = mulberry32(seed);
  if (mode === 'active') demo.say(`seed ${seed}: the victims are drawn from it (repeat them with --seed ${seed})`);

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

  const victims: string[] = [];
  const faults: Array<[number, (s: RmStatus) => string | undefined, (v: string, s: RmStatus) => string]> = [
    mode === 'passive'
      ? [4, (s) => s.leader ?? undefined, (v) => `first fault: the primary ${v}`]
      : [4, (s) => pickFollower({ ...s, leader: null }, rng), (v, s) => `first fault: ${v} (${roleOf(s, v)}), drawn at random`],
    [5, () => victims[0], (v, s) => `the recovered ${v} killed again (now ${roleOf(s, v)})`],
    mode === 'passive'
      ? [6, (s) => pickFollower(s, rng, victims[0]), (v) => `a second, different replica: the backup ${v}`]
      : [6, (s) => pickFollower({ ...s, leader: null }, rng, victims[0]), (v, s) => `a second, different replica: ${v} (${roleOf(s, v)}), drawn at random`],
  ];
  for (const [i, choose, label] of faults) {
    const status = await rmStatus(sys);
    const victim = choose(status);
    if (!victim) throw new Error(`phase ${i}: no replica fits (RM: ${describeRoles(status)})`);
    victims.push(victim);
    demo.say(`phase ${i}: ${label(victim, status)} (RM status: ${describeRoles(status)}, epoch ${status.epoch})`, 'info', { phase: i, victim, status });
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
  demo.digestOnly.add('CHECK');
  const read = await sys.ask('CHECK', 'read');
  const log = JSON.parse(read.result) as string[];
  const counts = new Map<string, number>();
  for (const item of log) counts.set(item, (counts.get(item) ?? 0) + 1);
  const acked = clients.flatMap((c) => done(c).map((e) => `${c.name}-${data<{ num: number }>(e).num}`));
  const status = await rmStatus(sys);

  const events = [...sys.group.procs.values()].flatMap((p) => p.events);
  const elections = sys.rm.events.filter((e) => e.type === 'decision' && /is (primary|sequencer) \(epoch/.test(e.text));
  const summary: ScenarioSummary = {
    seed,
    victims,
    clients: Object.fromEntries(
      clients.map((c) => [c.name, { acknowledged: done(c).length, duplicates: c.events.filter((e) => e.type === 'duplicate_reply').length }]),
    ),
    failovers: Math.max(0, elections.length - 1),
    relaunches: events.filter((e) => e.type === 'launched').length,
    longestGapMs: longestGap(clients, faultsFrom, faultsTo),
    log: { entries: log.length, sha256: createHash('sha256').update(read.result).digest('hex'), first: log[0] ?? null, last: log[log.length - 1] ?? null },
    lost: acked.filter((a) => !counts.has(a)),
    executedTwice: [...counts].filter(([, n]) => n > 1).map(([item]) => item),
    replicasBack: status.members.length === 3 && status.members.every((m) => m.ready),
    ok: false,
  };
  demo.say(`the log, read from ${read.server}: ${describeLog(summary.log)}`);
  summary.ok = summary.lost.length === 0 && summary.executedTwice.length === 0 && summary.replicasBack;
  return summary;
}

function describeLog(l: ScenarioSummary['log']): string {
  if (l.entries === 0) return 'empty';
  return `${l.entries} entries (sha256 ${l.sha256.slice(0, 12)}), first ${l.first}, last ${l.last}`;
}

const roleOf = (s: RmStatus, name: string) => s.members.find((m) => m.name === name)?.role ?? 'not a member';

export function formatSummary(s: ScenarioSummary, mode: string): string {
  const rows: Array<[string, string]> = [
    ...(mode === 'active' ? [['seed', String(s.seed)] as [string, string]] : []),
    ['replicas killed, in order', s.victims.join(', ')],
    ...Object.entries(s.clients).map(([c, v]): [string, string] => [`${c}: acknowledged / duplicates discarded`, `${v.acknowledged} / ${v.duplicates}`]),
    ['failovers (leader elections after start)', String(s.failovers)],
    ['relaunches by the RM', String(s.relaunches)],
    ['longest client-visible gap', `${s.longestGapMs} ms`],
    ['the log at the end', describeLog(s.log)],
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
