/**
 * One chaos run: start a whole ftkit system (real processes on 127.0.0.1, or on the course's
 * four namespace hosts with `hosts`: see onhosts.ts; the `log` app), drive in-process clients through fault-injecting proxies, inject a seeded
 * schedule of faults (nemesis.ts), heal everything, read the final state from every ready
 * replica (final.ts), and check the history (checker.ts). Every wait is bounded, so a run
 * ends in about its duration plus a few seconds of recovery and checking, whatever the
 * system does.
 *
 * The RM runs with --no-auto-restart: the harness restarts what it kills, by hand,
 * so a run does not depend on automatic relaunch (and never has two copies of a replica).
 *
 * Besides the load clients, which follow the RM's views, stale-view clients (one by
 * default) talk to one replica's address only: the leader at start, and again the
 * leader just before each fault aimed at the leader (so the deposed leader, once it
 * runs again, finds their requests queued in its sockets). They never ask the RM.
 *
 * With several replica groups (`groups`), the RM routes the clients by key (`--route mod`, no
 * fallback): client Ci has key i, so the keys spread over every group, and stale-view client CSi
 * belongs to group ((i − 1) mod N) + 1. Faults aim at any group, a machine fault at every replica
 * on the machine; each group's history is checked on its own (groups.ts), and no fault may change
 * a group it did not aim at (isolation.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { System } from '../launch/system.js';
import { HostsSystem, injectHostFault } from '../launch/hosts-system.js';
import type { Hosts } from '../launch/hosts.js';
import { HarnessError } from '../../lib/errors.js';
import type { Mode } from '../../lib/protocol/index.js';
import { ChaosClient, STALE_CLIENT_PREFIX } from './client.js';
import { HistoryRecorder } from './history.js';
import { ProxyPool } from './proxy.js';
import { assignGroups, formatSchedule, isSlowFault, makeSchedule, type FaultKind } from './schedule.js';
import { check, type Anomaly, type FinalState } from './checker.js';
import type { Op } from './history.js';
import { substream } from './rng.js';
import { StatusTracker, groupView, isWhole, type RmStatus } from './status.js';
import { readFinalActive, readFinalPassive } from './final.js';
import { RunObserver } from './observer.js';
import { Nemesis } from './nemesis.js';
import type { RunReport } from './report.js';
import { checkGroups, groupForKey } from './groups.js';
import { checkIsolation, type Snapshot, type Suspicion } from './isolation.js';

export const DEFAULT_CLIENTS = 4;
/** Stale-view clients (0: none). */
export const DEFAULT_STALE_CLIENTS = 1;
export const DEFAULT_HEARTBEAT_S = 0.1;
export const DEFAULT_CHECKPOINT_FREQ_S = 0.5;
export const DEFAULT_REPLICAS = 3;
/** With several groups: load clients per group (by default), and one stale-view client per group. */
export const DEFAULT_CLIENTS_PER_GROUP = 2;
/** How long the system may take to be whole again (every replica ready, a leader, the GFD connected) after a fault. */
export const DEFAULT_RECOVER_TIMEOUT_MS = 10_000;
/** How long the system may take to be whole at start. */
const START_TIMEOUT_MS = 15_000;
/** After the last fault heals, each client must complete an operation within this long. */
const PROGRESS_TIMEOUT_MS = 5000;
/** How long the clients get to finish their current operation when the run ends. */
const CLIENT_GRACE_MS = 3000;
/** How long the final state may take to be whole before it is read anyway. */
const FINAL_WHOLE_MS = 3000;

export interface ChaosOptions {
  mode: Mode;
  seed: number;
  /** Seconds of load and faults; recovery and checks come after. */
  durationS: number;
  clients?: number;
  /** Stale-view clients, besides `clients` (default 1; 0 turns them off). */
  staleClients?: number;
  /** Fault kinds to draw from (default: all). */
  faults?: readonly FaultKind[];
  /** Chance that a replica fault gets a second replica fault overlapping it (schedule.ts, default 0.15). */
  double?: number;
  heartbeat?: number;
  checkpointFreq?: number;
  replicas?: number;
  readRatio?: number;
  recoverTimeoutMs?: number;
  /** Extra environment for the server processes, e.g. `{ FTKIT_FAULT: 'skip-log-replay' }` for a deliberately broken build. */
  serverEnv?: NodeJS.ProcessEnv;
  /** Progress lines as the run goes (faults injected, healed). */
  log?: (line: string) => void;
  /**
   * Run on namespace hosts (the course's four machines, COURSE_MACHINES) instead of 127.0.0.1:
   * the network, and the folder for the deployment file and state. The run must execute inside
   * m4 (onhosts.ts); the schedule then also draws network faults between the machines.
   */
  hosts?: { net: Hosts; dir: string };
  /** Write every component's trace events of the run (steady traffic left out) to this file, on one timeline. */
  tracesFile?: string;
  /**
   * Replica groups of `replicas` each (default 1), over `replicas` machines (LFDs), one replica of
   * each group per machine. With more than one, `clients` and `staleClients` count all groups'
   * (default: 2 per group and 1 per group).
   */
  groups?: number;
  /**
   * Durable replicas: each with a data dir (removed after the run), and the RM waiting for the
   * last ready replica to come back when none is left; `kill-all` needs it.
   */
  durable?: boolean;
  /** The RM evicts a leader it flags fail-slow (rm --evict-slow). */
  evictSlow?: boolean;
}

/** With fail-slow faults: the RM learns each replica's baseline in this long (rm --slow-warmup), so a short run flags and evicts. */
const SLOW_WARMUP_S = 2;

/** How long the RM waits for a replica that holds everything acknowledged, with durable replicas (rm --recovery-wait). */
const DURABLE_RECOVERY_WAIT_S = 10;

export function runChaos(options: ChaosOptions): Promise<RunReport> {
  return new ChaosRun(options).run();
}

class ChaosRun {
  private readonly t0 = performance.now();
  private readonly clock = () => performance.now() - this.t0;
  private readonly sys: System;
  private readonly pool = new ProxyPool();
  private readonly recorder = new HistoryRecorder(this.clock);
  private readonly clients: ChaosClient[] = [];
  private readonly observer: RunObserver;
  private readonly status: StatusTracker;
  private readonly nemesis: Nemesis;
  private readonly notReadyAtEnd: string[] = [];
  private readonly recoverMs: number;
  /** With several groups: their names, each client's group, and the snapshots of every group's epoch and leader. */
  private readonly groups: string[] | undefined;
  private readonly clientGroup = new Map<string, string>();
  private readonly snapshots: Snapshot[] = [];
  private finals: Map<string, FinalState> | undefined;
  private readonly replicas: number;
  private readonly dataDir: string | undefined;

  constructor(private readonly o: ChaosOptions) {
    this.recoverMs = o.recoverTimeoutMs ?? DEFAULT_RECOVER_TIMEOUT_MS;
    const replicas = (this.replicas = o.replicas ?? DEFAULT_REPLICAS);
    const heartbeat = o.heartbeat ?? DEFAULT_HEARTBEAT_S;
    this.observer = new RunObserver(this.clock, o.log ?? (() => {}));
    this.dataDir = o.durable ? mkdtempSync(join(tmpdir(), 'ftkit-chaos-data-')) : undefined;
    const slow = (o.faults ?? []).some(isSlowFault) ? ['--slow-warmup', String(SLOW_WARMUP_S), ...(o.evictSlow ? ['--evict-slow'] : [])] : [];
    const rmArgs = [...(this.dataDir ? ['--recovery-wait', String(DURABLE_RECOVERY_WAIT_S)] : []), ...slow];
    const durable = this.dataDir ? { dataDir: this.dataDir } : {};
    const sysOptions = { mode: o.mode, app: 'log', heartbeat, checkpointFreq: o.checkpointFreq ?? DEFAULT_CHECKPOINT_FREQ_S, replicas, autoRestart: false, serverEnv: o.serverEnv, rmArgs, ...durable } as const;
    const hosts = o.hosts;
    const several = (o.groups ?? 1) > 1;
    if (several && hosts) throw new HarnessError('several replica groups run on 127.0.0.1 only');
    if (o.durable && hosts) throw new HarnessError('durable replicas run on 127.0.0.1 only');
    const grouped = several ? { ...sysOptions, groups: o.groups, machines: replicas, rmArgs: ['--route', 'mod', ...rmArgs] } : sysOptions;
    this.sys = hosts ? new HostsSystem(hosts.net, hosts.dir, sysOptions) : new System(grouped);
    this.groups = several ? this.sys.groupNames : undefined;
    this.sys.group.on('spawned', (p) => this.observer.watch(p));
    this.status = new StatusTracker(this.sys, replicas, this.groups);
    this.nemesis = new Nemesis({
      sys: this.sys,
      mode: o.mode,
      heartbeat,
      pool: this.pool,
      status: this.status,
      observer: this.observer,
      clock: this.clock,
      recoverMs: this.recoverMs,
      pointStale: (s, name) => this.pointStale(s, name),
      hostFault: hosts ? (fault, names) => injectHostFault(hosts.net, fault, names) : undefined,
    });
  }

  async run(): Promise<RunReport> {
    const { seed } = this.o;
    const durationMs = this.o.durationS * 1000;
    const planned = makeSchedule({ seed, durationMs, kinds: this.o.faults, double: this.o.double, hosts: !!this.o.hosts });
    const schedule = this.groups ? assignGroups(planned, seed, this.groups) : planned;
    let final: FinalState = { replicas: [] };
    try {
      await this.sys.start();
      if (!(await this.status.waitWhole(START_TIMEOUT_MS))) throw new HarnessError(`the system did not become ready: ${this.status.describe()}`);
      this.observer.say(`system ready: ${this.status.describe()}`);
      this.startClients();

      const faultsEnd = this.clock() + durationMs;
      await this.nemesis.runUntil(schedule, () => faultsEnd, this.groups ? (step) => this.snapshot(step) : undefined);

      // Heal everything, and wait for the system to be whole and the clients to make progress.
      await this.nemesis.healAll();
      const healed = this.clock();
      const whole = await this.status.waitWhole(this.recoverMs);
      if (!whole) this.observer.warn(`the system was not whole ${this.recoverMs} ms after the last fault: ${this.status.describe()}`);
      if (this.groups) await this.snapshot(schedule.length + 1, whole);
      // A stale client pointed at a passive backup would only be rejected until the run ends.
      this.pointLeaders(whole);
      await this.waitProgress(healed);

      // Stop the clients: the current operations get a grace period, then end unknown.
      for (const c of this.clients) c.stopInvoking();
      await Promise.race([Promise.all(this.clients.map((c) => c.done)), sleep(CLIENT_GRACE_MS, undefined, { ref: false })]);
      for (const c of this.clients) c.abort();
      await Promise.all(this.clients.map((c) => c.done));
      this.recorder.closeAll();
      await this.pool.close();
      await sleep(200);
      if (this.groups) this.finals = await this.groupFinalStates();
      else final = await this.finalState();
    } finally {
      this.observer.stopping = true;
      for (const c of this.clients) c.abort();
      this.recorder.closeAll();
      await this.nemesis.healAll().catch((err: Error) => this.observer.warn(`could not heal every fault: ${err.message}`));
      await this.pool.close();
      await this.sys.stop();
      if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
    }
    return this.report(formatSchedule(schedule), final);
  }

  /** The load clients, which follow the RM's views, and the stale-view clients, pointed at the leader. */
  private startClients(): void {
    const { seed, readRatio } = this.o;
    const route = (name: string, addr: string) => this.pool.route(name, addr);
    const groups = this.groups;
    const n = this.o.clients ?? (groups ? DEFAULT_CLIENTS_PER_GROUP * groups.length : DEFAULT_CLIENTS);
    for (let i = 1; i <= n; i++) {
      // With several groups client Ci has key i, which routes it to group ((i − 1) mod N) + 1.
      const key = groups ? String(i) : undefined;
      if (groups) this.clientGroup.set(`C${i}`, groupForKey(i, groups));
      this.clients.push(new ChaosClient({ name: `C${i}`, rm: this.sys.rmAddr, recorder: this.recorder, rng: substream(seed, `client C${i}`), route, readRatio, key }));
    }
    const stale = this.o.staleClients ?? (groups ? groups.length : DEFAULT_STALE_CLIENTS);
    for (let i = 1; i <= stale; i++) {
      if (groups) this.clientGroup.set(`${STALE_CLIENT_PREFIX}${i}`, groupForKey(i, groups));
      this.clients.push(new ChaosClient({ name: `${STALE_CLIENT_PREFIX}${i}`, rm: this.sys.rmAddr, recorder: this.recorder, rng: substream(seed, `stale client ${i}`), route, readRatio, stale: true }));
    }
    this.pointLeaders(this.status.last);
    for (const c of this.clients) c.start(this.clock);
  }

  /** Point the stale-view clients at the leader (of their group). */
  private pointLeaders(s: RmStatus | undefined): void {
    for (const g of this.groups ?? [undefined]) this.pointStale(s, groupView(s, g)?.leader ?? undefined);
  }

  /** Point the stale-view clients (of its group) at replica `name` (its address as `s` gives it); they keep it until pointed again. */
  private pointStale(s: RmStatus | undefined, name: string | undefined): void {
    const m = s?.members.find((x) => x.name === name);
    if (!m) return;
    const group = this.groups ? this.sys.groupOf(m.name) : undefined;
    for (const c of this.clients) {
      if (c.stale && c.target?.name !== m.name && this.clientGroup.get(c.name) === group) {
        c.pointAt({ name: m.name, addr: m.addr });
        this.observer.say(`stale client ${c.name} now talks to ${m.name} only`);
      }
    }
  }

  private async waitProgress(since: number): Promise<void> {
    const deadline = this.clock() + PROGRESS_TIMEOUT_MS;
    const following = this.clients.filter((c) => !c.stale);
    while (following.some((c) => c.answeredSince(since) === 0) && this.clock() < deadline) await sleep(50);
    const stuck = following.filter((c) => c.answeredSince(since) === 0).map((c) => c.name);
    if (stuck.length > 0) this.observer.warn(`no operation of ${stuck.join(', ')} completed within ${PROGRESS_TIMEOUT_MS} ms after the last fault healed`);
  }

  /** Several groups: note every group's epoch and leader, if the system is whole (`s`: a status just taken, else one is asked for). */
  private async snapshot(beforeStep: number, s?: RmStatus): Promise<void> {
    const status = s ?? (await this.status.fetch());
    if (!status || !this.groups || !isWhole(status, this.replicas, this.groups)) return;
    const groups = Object.fromEntries(this.groups.map((g) => [g, { epoch: groupView(status, g)!.epoch, leader: groupView(status, g)!.leader }]));
    this.snapshots.push({ beforeStep, at: this.clock(), groups });
  }

  private async finalState(): Promise<FinalState> {
    const status = (await this.status.waitWhole(FINAL_WHOLE_MS)) ?? (await this.status.fetch()) ?? this.status.last;
    return this.readFinal(status);
  }

  /** Several groups: each group's final state, read at the same time. */
  private async groupFinalStates(): Promise<Map<string, FinalState>> {
    const groups = this.groups ?? [];
    const status = (await this.status.waitWhole(FINAL_WHOLE_MS)) ?? (await this.status.fetch()) ?? this.status.last;
    const states = await Promise.all(groups.map((g) => this.readFinal(groupView(status, g), g, status)));
    return new Map(groups.map((g, i) => [g, states[i]!]));
  }

  /** The final state of the system (of `group`, whose part of the status `status` is). */
  private async readFinal(status: RmStatus | undefined, group?: string, full = status): Promise<FinalState> {
    const leader = status?.members.find((m) => m.name === status.leader);
    if (!status || !leader) {
      this.observer.warn(`no leader ${group ? `of ${group} ` : ''}to read the final state from: ${this.status.describe(full)}`);
      return { replicas: [] };
    }
    const ready = status.members.filter((m) => m.ready);
    for (const m of status.members.filter((x) => !x.ready)) {
      this.observer.warn(`${m.name} is not ready at the end; its state is not compared`);
      this.notReadyAtEnd.push(m.name);
    }
    const warn = (text: string) => this.observer.warn(text);
    return this.o.mode === 'passive' ? readFinalPassive(this.sys, leader, ready, warn, group) : readFinalActive(leader, ready, warn);
  }

  /** Check the history against the final state, and gather the traces that explain what went wrong. */
  private report(schedule: string[], final: FinalState): RunReport {
    const ops = this.recorder.ops();
    const { traces: log } = this.observer;
    const several = this.finals ? this.checkGroups(ops, this.finals) : undefined;
    const result = several ?? check(ops, final);
    const traces = result.anomalies.filter((a) => a.kind !== 'cross-group').slice(0, 3).map((a) => ({ title: `traces around: ${a.kind}: ${a.message}`, lines: log.around(a.ops) }));
    for (const s of this.observer.suspicions.slice(0, 2)) traces.push({ title: `traces around a false suspicion: ${s.text}`, lines: log.aroundTime(s.at) });
    if (this.o.tracesFile) writeFileSync(this.o.tracesFile, log.all().join('\n') + '\n');
    for (const name of this.notReadyAtEnd) {
      const p = this.sys.group.procs.get(name);
      traces.push({ title: `${name} was not ready at the end: its last events`, lines: log.last(p) });
      traces.push({ title: `${name} was not ready at the end: what every component did when it last lost readiness`, lines: log.lostReadiness(p) });
    }
    return {
      seed: this.o.seed,
      mode: this.o.mode,
      durationS: this.o.durationS,
      schedule,
      injected: this.nemesis.injected,
      stats: {
        ...result.stats,
        retries: this.clients.reduce((s, c) => s + c.stats.retries, 0),
        elapsedMs: Math.round(this.clock()),
        faults: this.nemesis.count,
      },
      anomalies: result.anomalies,
      suppressed: result.suppressed,
      warnings: this.observer.warnings,
      decisions: this.observer.decisions,
      traces,
      final: {
        source: final.source,
        length: final.log?.length,
        replicas: final.replicas.map((r) => ({ name: r.name, digest: r.digest, length: r.log?.length })),
      },
      history: several?.history ?? ops,
      finalLog: final.log,
      ...(several ? { groups: several.groups, isolation: several.isolation, final: { length: several.stats.finalLength, replicas: [] }, finalLog: undefined } : {}),
    };
  }

  /** Several groups: the failures the harness did not cause, with the groups each touched (a machine's: every group with a replica there). */
  private suspicions(): Suspicion[] {
    const groupsOf = (who: string) => this.sys.servers.filter((s) => s === who || this.sys.homeOf(s) === who).map((s) => this.sys.groupOf(s));
    return this.observer.unforced.map((u) => ({ at: u.at, groups: u.group ? [u.group] : [...new Set(groupsOf(u.who))] }));
  }

  /** Several groups: each group's history against its final state, and no fault's effect on a group it did not aim at. */
  private checkGroups(ops: Op[], finals: Map<string, FinalState>) {
    const result = checkGroups(ops, this.clientGroup, (server) => this.sys.groupOf(server), finals);
    const { violations, ...isolation } = checkIsolation(this.snapshots, this.nemesis.injected, this.suspicions());
    const cross = violations.map((v): Anomaly => ({ kind: 'cross-group', message: v.message, ops: [], detail: this.observer.traces.rmGroup(v.group, v.from, v.to) }));
    return { ...result, anomalies: [...result.anomalies, ...cross], isolation };
  }
}
