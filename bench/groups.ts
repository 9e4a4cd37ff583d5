/**
 * Replica groups (`npm run bench -- --only groups`): aggregate throughput and latency of one
 * system with 1, 2 and 3 groups of 3 replicas over 3 LFDs (group gk's first replica, its first
 * leader, on LFDk), under the same load each time: the same closed-loop clients, routing keys
 * 1…n (`--route mod`), so they spread evenly over the groups. The 1-group system runs first and
 * last; each figure is given as a ratio to the mean of those two. Every component runs quiet
 * (no per-request or heartbeat lines), as a deployment would, and its output is drained. In active mode the leader is the sequencer and every replica executes each request.
 *
 * Per window: requests per group (from each client's replies), and the run time of every
 * process (/proc/PID/task/TID/schedstat): the leaders' and backups' CPU per request is what
 * docs/BENCHMARKS.md extrapolates to several machines. Figures are printed, never asserted.
 */
import { System } from '../harness/launch/system.js';
import type { Mode } from '../lib/protocol/index.js';
import { LoadGen, leanStdout, otherCpu, processCpuSnapshot, readMachineCpu, waitQuiet } from './harness.js';
import { runtimeOf } from './idle.js';
import type { LoadStats } from './recorder.js';
import { fmt, sleep, table } from './stats.js';
import { FOREIGN_LIMIT } from './throughput.js';

export interface GroupsOptions {
  modes: Mode[];
  /** Group counts, in order; the first (1) is measured again at the end. */
  groups: number[];
  replicas: number;
  /** Load clients in every run, keys 1…clients. */
  clients: number;
  /**
   * Also a 1-group system with only clients / (most groups) clients: the load each group has in
   * the run with the most groups, to tell the cost of more groups from that of fewer clients per group.
   */
  control: boolean;
  warmupMs: number;
  windowMs: number;
  windows: number;
  quietMs: number;
  log: (line: string) => void;
}

export interface GroupsWindow {
  stats: LoadStats;
  /** Requests answered in the window, per group. */
  requests: Record<string, number>;
  /** CPU seconds used in the window, per process (S1…, RM, GFD, LFD1…, loadgen). */
  cpu: Record<string, number>;
  /** Leader per group during the window. */
  leaders: Record<string, string>;
  /** Cores busy on the whole machine (user + system + softirq), and other users' processes (percent of a core). */
  machineCores: number;
  foreign: number;
  seconds: number;
}

export interface GroupsRun {
  mode: Mode;
  groups: number;
  clients: number;
  /** Aggregate req/s over the 1-group system's in the same round, per round, and their median. */
  ratios: number[];
  ratio: number;
  clientsPerGroup: Record<string, number>;
  windows: GroupsWindow[];
  /** Medians over the windows. */
  rps: number;
  p50: number;
  p99: number;
  /** CPU per request (µs), over all windows: each group's leader on its group's requests, each backup likewise, every server, the RM+GFD+LFDs, the load generator. */
  leaderUs: number;
  backupUs: number;
  serversUs: number;
  controlUs: number;
  loadgenUs: number;
  machineCores: number;
  foreign: number;
  /** Per group: adds acknowledged vs the counter's final value. */
  checks: Array<{ group: string; acked: number; total: number; unresolved: number }>;
  retries: number;
  errors: string[];
}

export interface GroupsResult {
  runs: GroupsRun[];
  failures: string[];
}

interface StatusGroup {
  name: string;
  leader: string | null;
  ready: string[];
  clients: string[];
}

async function groupsStatus(sys: System): Promise<StatusGroup[]> {
  return (JSON.parse(await sys.ctl({ op: 'status' }, 3000)) as { groups: StatusGroup[] }).groups;
}

/** Poll the RM until each of `groups` groups has `replicas` ready replicas and a leader. */
export async function waitGroupsReady(sys: System, groups: number, replicas: number, ms = 30_000): Promise<StatusGroup[]> {
  const deadline = Date.now() + ms;
  let last: StatusGroup[] = [];
  while (Date.now() < deadline) {
    try {
      last = await groupsStatus(sys);
      if (last.length === groups && last.every((g) => g.leader && g.ready.length === replicas)) return last;
    } catch {
      // the RM is busy: ask again
    }
    await sleep(50);
  }
  throw new Error(`the RM did not report ${groups} group(s) of ${replicas} ready replicas within ${ms} ms: ${JSON.stringify(last)}`);
}

const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** A started system under load: its processes, its (paused) load session and which group serves each client. */
interface Loaded {
  groups: number;
  clients: number;
  sys: System;
  session: string;
  procs: Map<string, number>;
  groupOf: Map<string, string>;
  clientsPerGroup: Record<string, number>;
  names: string[];
  windows: GroupsWindow[];
  started: boolean;
}

/**
 * RM, GFD, the LFDs and every server, started one after the other (System.start waits for a
 * membership line per group, which names its group only once a second group exists), then the
 * RM polled until every group is ready; then the load, paused until its first window.
 */
async function startLoaded(lg: LoadGen, mode: Mode, groups: number, clients: number, o: GroupsOptions): Promise<Loaded> {
  // Heartbeat 1 s: the systems not being measured stay up, and cost next to nothing while idle.
  const sys = new System({ mode, app: 'counter', replicas: o.replicas, groups, machines: 3, heartbeat: 1, checkpointFreq: 1, autoRestart: false, quiet: true, rmArgs: ['--route', 'mod'] });
  const loaded: Loaded = { groups, clients, sys, session: `groups-${mode}-${groups}-${clients}`, procs: new Map(), groupOf: new Map(), clientsPerGroup: {}, names: [], windows: [], started: false };
  try {
    await sys.startRm();
    await sys.startGfd();
    for (const lfd of sys.machines) await sys.startLfd(lfd);
    for (const s of sys.servers) await sys.startServer(s);
    await waitGroupsReady(sys, groups, o.replicas);
    for (const p of sys.group.procs.values()) leanStdout(p);
    for (const p of sys.group.procs.values()) loaded.procs.set(p.name, p.pid);
    const keys = Array.from({ length: clients }, (_, i) => String(i + 1));
    const { names } = await lg.call<{ names: string[] }>('startSession', { session: loaded.session, rm: sys.rmAddr, clients, payload: 'add 1', keys });
    loaded.started = true;
    loaded.names = names;
    await lg.call('pauseSession', { session: loaded.session });
    // Which group serves each client, as the RM routed it.
    const status = await waitGroupsReady(sys, groups, o.replicas);
    for (const g of status) for (const c of g.clients) loaded.groupOf.set(c, g.name);
    loaded.clientsPerGroup = Object.fromEntries(status.map((g) => [g.name, g.clients.length]));
    return loaded;
  } catch (err) {
    await stopLoaded(lg, loaded);
    throw err;
  }
}

async function stopLoaded(lg: LoadGen, l: Loaded): Promise<void> {
  if (l.started) await lg.call('stopSession', { session: l.session }).catch(() => undefined);
  l.started = false;
  await l.sys.stop();
}

/** Stop the load, read every group's counter, and compare with the adds its clients had acknowledged. */
async function finish(lg: LoadGen, l: Loaded, mode: Mode, o: GroupsOptions): Promise<GroupsRun> {
  await lg.call('resumeSession', { session: l.session });
  const end = await lg.call<{ clients: Array<{ name: string; replies: number; retries: number; unresolved: number }>; errors: string[] }>('stopSession', { session: l.session });
  l.started = false;
  const checks: GroupsRun['checks'] = [];
  for (const g of Object.keys(l.clientsPerGroup)) {
    const mine = end.clients.filter((c) => l.groupOf.get(c.name) === g);
    // Key k is served by group gk under --route mod while k ≤ the number of groups.
    const get = await lg.call<{ result: string }>('ask', { rm: l.sys.rmAddr, payload: 'get', key: g.slice(1) });
    checks.push({ group: g, acked: mine.reduce((a, c) => a + c.replies, 0), total: Number(get.result), unresolved: mine.reduce((a, c) => a + c.unresolved, 0) });
  }
  return summarize(mode, l.groups, l.clients, l.clientsPerGroup, l.windows, o.replicas, checks, end.clients.reduce((a, c) => a + c.retries, 0), end.errors);
}

async function measureWindow(lg: LoadGen, sys: System, session: string, procs: Map<string, number>, groupOf: Map<string, string>, windowMs: number, ours: Set<number>): Promise<GroupsWindow> {
  const leaders = Object.fromEntries((await groupsStatus(sys)).map((g) => [g.name, g.leader ?? '']));
  const read = () => new Map([...procs].map(([n, pid]) => [n, runtimeOf(pid) ?? NaN]));
  const replies = () => lg.call<Array<{ name: string; replies: number }>>('replies', { session });
  const r0 = await replies();
  const cpu0 = read();
  const machine0 = readMachineCpu();
  const snap0 = processCpuSnapshot();
  const t0 = performance.now();
  const stats = await lg.call<LoadStats>('measure', { session, durationMs: windowMs }, windowMs + 30_000);
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = read();
  const machine1 = readMachineCpu();
  const snap1 = processCpuSnapshot();
  const r1 = await replies();
  const requests: Record<string, number> = {};
  const before = new Map(r0.map((c) => [c.name, c.replies]));
  for (const c of r1) {
    const g = groupOf.get(c.name) ?? '?';
    requests[g] = (requests[g] ?? 0) + c.replies - (before.get(c.name) ?? 0);
  }
  const cpu = Object.fromEntries([...cpu1].map(([n, v]) => [n, v - cpu0.get(n)!]));
  const machineCores = (machine1.busy - machine0.busy + machine1.softirq - machine0.softirq) / seconds;
  const { other } = otherCpu(snap0, snap1, seconds, new Set([...ours, process.pid]));
  return { stats, requests, cpu, leaders, machineCores, foreign: other, seconds };
}

function summarize(mode: Mode, groups: number, clients: number, clientsPerGroup: Record<string, number>, windows: GroupsWindow[], replicas: number, checks: GroupsRun['checks'], retries: number, errors: string[]): GroupsRun {
  let leaderCpu = 0;
  let backupCpu = 0;
  let serversCpu = 0;
  let controlCpu = 0;
  let loadgenCpu = 0;
  let requests = 0;
  for (const w of windows) {
    const leaders = new Set(Object.values(w.leaders));
    for (const [name, secs] of Object.entries(w.cpu)) {
      if (name === 'loadgen') loadgenCpu += secs;
      else if (/^S\d+$/.test(name)) {
        serversCpu += secs;
        if (leaders.has(name)) leaderCpu += secs;
        else backupCpu += secs;
      } else controlCpu += secs;
    }
    requests += Object.values(w.requests).reduce((a, b) => a + b, 0);
  }
  // Every request is handled by one leader and replicas − 1 followers of its group.
  const us = (secs: number, per = 1) => (secs * 1e6) / requests / per;
  return {
    mode,
    groups,
    clients,
    ratios: [],
    ratio: NaN,
    clientsPerGroup,
    windows,
    rps: median(windows.map((w) => w.stats.rps)),
    p50: median(windows.map((w) => w.stats.p50)),
    p99: median(windows.map((w) => w.stats.p99)),
    leaderUs: us(leaderCpu),
    backupUs: us(backupCpu, replicas - 1),
    serversUs: us(serversCpu),
    controlUs: us(controlCpu),
    loadgenUs: us(loadgenCpu),
    machineCores: median(windows.map((w) => w.machineCores)),
    foreign: median(windows.map((w) => w.foreign)),
    checks,
    retries,
    errors,
  };
}

/**
 * Per mode: every system (one per group count) is started and kept up; then `windows` rounds,
 * each measuring every system in turn (the order rotated each round), resuming its load for a
 * warm-up and a window, then pausing it. Other work on the machine drifts over minutes; within
 * a round the systems share it, so the ratios are taken round by round.
 */
export async function runGroups(lg: LoadGen, o: GroupsOptions): Promise<GroupsResult> {
  const runs: GroupsRun[] = [];
  const failures: string[] = [];
  for (const mode of o.modes) {
    const systems: Loaded[] = [];
    try {
      const configs: Array<[number, number]> = o.groups.map((g) => [g, o.clients]);
      if (o.control) configs.push([1, Math.max(1, Math.round(o.clients / Math.max(...o.groups)))]);
      for (const [groups, clients] of configs) {
        o.log(`${mode}: starting ${groups} group(s) of ${o.replicas}, ${clients} clients (keys 1-${clients})`);
        systems.push(await startLoaded(lg, mode, groups, clients, o));
      }
      const ours = () => [lg.pid, ...systems.flatMap((l) => [...l.procs.values()])];
      for (let round = 0; round < o.windows; round++) {
        for (let i = 0; i < systems.length; i++) {
          const l = systems[(i + round) % systems.length]!;
          await waitQuiet(FOREIGN_LIMIT, o.quietMs, ours());
          await lg.call('resumeSession', { session: l.session });
          await sleep(o.warmupMs);
          const w = await measureWindow(lg, l.sys, l.session, new Map([...l.procs, ['loadgen', lg.pid]]), l.groupOf, o.windowMs, new Set(ours()));
          await lg.call('pauseSession', { session: l.session });
          l.windows.push(w);
          o.log(`${mode}, ${l.groups} group(s), ${l.clients} clients, round ${round + 1}: ${w.stats.rps.toFixed(0)} req/s, p50 ${w.stats.p50.toFixed(3)} ms, p99 ${w.stats.p99.toFixed(3)} ms`);
        }
      }
      const done: GroupsRun[] = [];
      for (const l of systems) done.push(await finish(lg, l, mode, o));
      const one = done.find((x) => x.groups === 1 && x.clients === o.clients);
      for (const x of done) {
        x.ratios = x.windows.map((w, k) => w.stats.rps / (one?.windows[k]?.stats.rps ?? NaN));
        x.ratio = median(x.ratios);
      }
      runs.push(...done);
    } catch (err) {
      failures.push(`${mode}: ${(err as Error).message}`);
      o.log(`! ${failures[failures.length - 1]}`);
    } finally {
      for (const l of systems) await stopLoaded(lg, l);
    }
  }
  return { runs, failures };
}

export function printGroups(r: GroupsResult, o: Pick<GroupsOptions, 'replicas' | 'clients' | 'windows' | 'windowMs'>): void {
  console.log(`\nReplica groups: ${o.clients} closed-loop clients (keys 1-${o.clients}, --route mod), groups of ${o.replicas} replicas on 3 LFDs, every component quiet;`);
  console.log('the last row of each mode: 1 group with only as many clients as each group has in the run with the most groups;');
  console.log(`${o.windows} rounds, each a window of ${o.windowMs / 1000} s per system in turn; medians over the rounds; vs 1 group = median of the`);
  console.log(`per-round ratios to the 1-group system (each round's under rounds); CPU µs per request answered; cores busy = whole machine\n`);
  const rows = [['mode', 'groups', 'clients', 'clients/group', 'req/s', 'vs 1 group', 'rounds', 'p50 ms', 'p99 ms', 'leader µs', 'follower µs', 'servers µs', 'RM+GFD+LFD µs', 'loadgen µs', 'cores busy', 'other %']];
  for (const x of r.runs) {
    rows.push([
      x.mode,
      String(x.groups),
      String(x.clients),
      Object.values(x.clientsPerGroup).join('/'),
      fmt(x.rps, 0),
      fmt(x.ratio, 3),
      x.ratios.map((v) => fmt(v, 2)).join(' '),
      fmt(x.p50, 3),
      fmt(x.p99, 3),
      fmt(x.leaderUs, 0),
      fmt(x.backupUs, 0),
      fmt(x.serversUs, 0),
      fmt(x.controlUs, 0),
      fmt(x.loadgenUs, 0),
      fmt(x.machineCores, 2),
      fmt(x.foreign, 0),
    ]);
  }
  console.log(table(rows));
  console.log('\nPer group: requests in the windows (leader), and adds acknowledged vs the final counter:');
  for (const x of r.runs) {
    const per = Object.keys(x.clientsPerGroup).map((g) => `${g} ${x.windows.reduce((a, w) => a + (w.requests[g] ?? 0), 0)} (${x.windows[0]?.leaders[g] ?? '?'})`);
    const checks = x.checks.map((c) => `${c.group} ${c.acked}/${c.total}${c.unresolved ? ` (${c.unresolved} unresolved)` : ''} ${c.acked === c.total ? 'OK' : 'MISMATCH'}`);
    console.log(`  ${x.mode} ${x.groups} (${x.clients} clients): ${per.join(', ')}; ${checks.join(', ')}${x.retries ? `; ${x.retries} retries` : ''}${x.errors.length ? `; errors: ${x.errors.slice(0, 2).join(' | ')}` : ''}`);
  }
  for (const mode of new Set(r.runs.map((x) => x.mode))) {
    const one = r.runs.find((y) => y.mode === mode && y.groups === 1 && y.clients === o.clients);
    for (const x of r.runs.filter((y) => y.mode === mode && y.groups > 1)) {
      const control = r.runs.find((y) => y.mode === mode && y.groups === 1 && y.clients < o.clients);
      if (control) console.log(`  ${mode} ${x.groups} groups: servers' CPU ${fmt(x.serversUs, 0)} µs per request; 1 group with ${control.clients} client(s): ${fmt(control.serversUs, 0)} µs; 1 group with ${o.clients}: ${fmt(one?.serversUs, 0)} µs`);
      const ratio = x.ratio;
      console.log(`Target aggregate >= 0.9 of one group's throughput, ${mode} ${x.groups} groups: ${fmt(ratio, 3)} -> ${ratio >= 0.9 ? 'met' : 'MISSED'}`);
    }
    if (one) {
      const perReq = one.leaderUs + (o.replicas - 1) * one.backupUs;
      console.log(`  ${mode}: a request costs its group's servers ${fmt(perReq, 0)} µs of CPU (leader ${fmt(one.leaderUs, 0)} + ${o.replicas - 1} × ${fmt(one.backupUs, 0)}): about ${fmt(1e6 / perReq, 0)} req/s per core of servers (estimate)`);
    }
  }
  for (const f of r.failures) console.log(`  ! ${f}`);
}
