/**
 * One chaos run: start a whole ftkit system (real processes on 127.0.0.1, the `log`
 * app), drive in-process clients through fault-injecting proxies, inject a seeded
 * schedule of faults, heal everything, read the final state from every ready replica,
 * and check the history. Every wait is bounded, so a run ends in about its duration
 * plus a few seconds of recovery and checking, whatever the system does.
 *
 * The RM runs with --no-auto-restart: the harness restarts what it kills, by hand,
 * so a run does not depend on automatic relaunch (and never has two copies of a replica).
 * A lost machine comes back where it was: its LFD on its old port, then its server.
 *
 * Besides the load clients, which follow the RM's views, stale-view clients (one by
 * default) talk to one replica's address only: the leader at start, and again the
 * leader just before each fault aimed at the leader (so the deposed leader, once it
 * runs again, finds their requests queued in its sockets). They never ask the RM.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { System } from '../launch/system.js';
import { HarnessError } from '../../lib/errors.js';
import type { Proc } from '../launch/proc.js';
import type { Mode } from '../../lib/protocol/index.js';
import { exponentialBackoff, parseAddress } from '../../lib/net/index.js';
import { ChaosClient, STALE_CLIENT_PREFIX } from './client.js';
import { HistoryRecorder, type Op } from './history.js';
import { PASS, ProxyPool, type ProxyMode } from './proxy.js';
import { describeFault, formatSchedule, makeSchedule, type Fault, type FaultKind, type Step } from './schedule.js';
import { check, parseReadResult, type Anomaly, type AnomalyKind, type CheckStats, type FinalState } from './checker.js';
import { substream } from './rng.js';
import { describeStatus, isWhole, rmStatus, type RmStatus } from './status.js';
import { TraceLog } from './explain.js';
import { readFinalActive, readFinalPassive } from './final.js';

export const DEFAULT_CLIENTS = 4;
/** Stale-view clients (0: none). */
export const DEFAULT_STALE_CLIENTS = 1;
export const DEFAULT_HEARTBEAT_S = 0.1;
export const DEFAULT_CHECKPOINT_FREQ_S = 0.5;
export const DEFAULT_REPLICAS = 3;
/** How long the system may take to be whole again (every replica ready, a leader, the GFD connected) after a fault. */
export const DEFAULT_RECOVER_TIMEOUT_MS = 10_000;
/** After the last fault heals, each client must complete an operation within this long. */
const PROGRESS_TIMEOUT_MS = 5000;
/** How long the clients get to finish their current operation when the run ends. */
const CLIENT_GRACE_MS = 3000;
/** Starting a component again on its old port is tried 5 times, 0.2 s to 1 s apart (the port may take a moment to be free). */
const RESPAWN_RETRY = { baseMs: 200, capMs: 1000, maxAttempts: 4 };

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
}

export interface InjectedFault {
  step: number;
  kind: FaultKind;
  description: string;
  /** What the role-based target resolved to, e.g. `S2 (primary)`. */
  target?: string;
  /** ms since the run started. */
  at: number;
  healedAt?: number;
  /** When the system was whole again after the step. */
  recoveredAt?: number;
  /** Why the fault was not injected. */
  skipped?: string;
}

export interface RunStats extends CheckStats {
  retries: number;
  elapsedMs: number;
  faults: number;
}

export interface RunReport {
  seed: number;
  mode: Mode;
  durationS: number;
  schedule: string[];
  injected: InjectedFault[];
  stats: RunStats;
  anomalies: Anomaly[];
  suppressed: Partial<Record<AnomalyKind, number>>;
  /** Liveness problems and surprises (a component that died on its own, an internal error): reported, not anomalies. */
  warnings: string[];
  /** The RM's decisions (elections, readiness, view changes), for diagnosing anomalies. */
  decisions: string[];
  /** Component traces explaining the first anomalies and any replica left not ready. */
  traces: Array<{ title: string; lines: string[] }>;
  final: { source?: string; length?: number; replicas: Array<{ name: string; digest?: string; length?: number }> };
  history: Op[];
  /** The final log the history was checked against. */
  finalLog?: string[];
}

/**
 * The report without its bulk, for writing out: each read whose result is a prefix of
 * the final log keeps only its length (`result: "prefix:<n>"`); the final log is kept,
 * so the history can be checked again.
 */
export function compactReport(r: RunReport): RunReport {
  const log = r.finalLog;
  const history = r.history.map((op) => {
    if (op.op !== 'read' || op.outcome !== 'ok' || !log) return op;
    const items = parseReadResult(op.result);
    if (!items || items.some((x, i) => x !== log[i])) return op;
    return { ...op, result: `prefix:${items.length}` };
  });
  return { ...r, history };
}

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
  private readonly warnings: string[] = [];
  private readonly injected: InjectedFault[] = [];
  /** Processes the harness killed (their exit is expected). */
  private readonly killed = new WeakSet<Proc>();
  private readonly paused = new Set<Proc>();
  private lastStatus: RmStatus | undefined;
  /** The system was not whole after a fault: inject no more replica or control-plane faults. */
  private degraded = false;
  private stopping = false;
  private readonly internalErrors = new Map<string, number>();
  private readonly decisions: string[] = [];
  /** Every process the run spawned, with its trace events, on the run's timeline. */
  private readonly traces = new TraceLog(Date.now() - (performance.now() - this.t0));
  /** Replicas the harness is faulting, and until when (ms) a failure report about them is expected. */
  private readonly faultedUntil = new Map<string, number>();
  private falseSuspicions = 0;
  private readonly notReadyAtEnd: string[] = [];
  private readonly replicas: number;
  private readonly recoverMs: number;
  private readonly log: (line: string) => void;

  constructor(private readonly o: ChaosOptions) {
    this.replicas = o.replicas ?? DEFAULT_REPLICAS;
    this.recoverMs = o.recoverTimeoutMs ?? DEFAULT_RECOVER_TIMEOUT_MS;
    this.log = o.log ?? (() => {});
    this.sys = new System({
      mode: o.mode,
      app: 'log',
      heartbeat: o.heartbeat ?? DEFAULT_HEARTBEAT_S,
      checkpointFreq: o.checkpointFreq ?? DEFAULT_CHECKPOINT_FREQ_S,
      replicas: this.replicas,
      autoRestart: false,
      serverEnv: o.serverEnv,
    });
    this.sys.group.on('spawned', (p) => this.watch(p));
  }

  private stamp(): string {
    return `[${(this.clock() / 1000).toFixed(2).padStart(6)}s]`;
  }

  private warn(text: string): void {
    this.warnings.push(`${this.stamp()} ${text}`);
    this.log(`${this.stamp()} warning: ${text}`);
  }

  /** Report processes that die on their own, internal errors a component survived, and failures reported about healthy components. */
  private watch(p: Proc): void {
    this.traces.add(p);
    p.once('exit', (code, signal) => {
      if (!this.killed.has(p) && !this.stopping) this.warn(`${p.name} (pid ${p.pid}) exited on its own (${signal ?? `status ${code}`}); last lines:\n${p.tail(8)}`);
    });
    p.on('event', (e) => {
      if (p.name === 'RM' && (e.type === 'decision' || e.type === 'view_changed' || e.type === 'supervision')) {
        this.decisions.push(`${this.stamp()} ${e.text}${e.type === 'view_changed' ? ` (epoch ${(e.data as { epoch?: number }).epoch})` : ''}`);
      }
      if ((e.type === 'heartbeat_failed' && p.name.startsWith('LFD')) || (e.type === 'lfd_lost' && p.name === 'GFD')) {
        const who = String((e.data as { server?: unknown; lfd?: unknown } | undefined)?.server ?? (e.data as { lfd?: unknown } | undefined)?.lfd ?? '?');
        if (!this.isFaulted(who) && !this.stopping && ++this.falseSuspicions <= 5) {
          this.warn(`false suspicion: ${p.name} declared ${who} failed though the harness had not faulted it: ${e.text}`);
        }
      }
      if (e.type !== 'internal_error') return;
      const n = (this.internalErrors.get(p.name) ?? 0) + 1;
      this.internalErrors.set(p.name, n);
      if (n <= 3) this.warn(`${p.name} reported an internal error: ${e.text.split('\n').slice(0, 4).join(' | ')}`);
    });
  }

  async run(): Promise<RunReport> {
    const { seed, mode } = this.o;
    const durationMs = this.o.durationS * 1000;
    const schedule = makeSchedule({ seed, durationMs, kinds: this.o.faults, double: this.o.double });
    const history = (): Op[] => this.recorder.ops();
    let final: FinalState = { replicas: [] };
    try {
      await this.sys.start();
      if (!(await this.waitHealthy(15_000))) throw new HarnessError(`the system did not become ready: ${this.describeStatus()}`);
      this.log(`${this.stamp()} system ready: ${this.describeStatus()}`);

      const n = this.o.clients ?? DEFAULT_CLIENTS;
      for (let i = 1; i <= n; i++) {
        const client = new ChaosClient({
          name: `C${i}`,
          rm: this.sys.rmAddr,
          recorder: this.recorder,
          rng: substream(seed, `client C${i}`),
          route: (name, addr) => this.pool.route(name, addr),
          readRatio: this.o.readRatio,
        });
        this.clients.push(client);
        client.start(this.clock);
      }
      const stale = this.o.staleClients ?? DEFAULT_STALE_CLIENTS;
      for (let i = 1; i <= stale; i++) {
        const client = new ChaosClient({
          name: `${STALE_CLIENT_PREFIX}${i}`,
          rm: this.sys.rmAddr,
          recorder: this.recorder,
          rng: substream(seed, `stale client ${i}`),
          route: (name, addr) => this.pool.route(name, addr),
          readRatio: this.o.readRatio,
          stale: true,
        });
        this.clients.push(client);
        this.pointStale(this.lastStatus, this.lastStatus?.leader ?? undefined);
        client.start(this.clock);
      }

      const faultsEnd = this.clock() + durationMs;
      for (const [i, step] of schedule.entries()) {
        if (this.clock() + step.gapMs >= faultsEnd) break;
        await sleep(step.gapMs);
        await this.runStep(step, i + 1);
      }
      const rest = faultsEnd - this.clock();
      if (rest > 0) await sleep(rest);

      // Heal everything, and wait for the system to be whole and the clients to make progress.
      this.pool.healAll();
      for (const p of this.paused) p.kill('SIGCONT');
      this.paused.clear();
      const healed = this.clock();
      const whole = await this.waitHealthy(this.recoverMs);
      if (!whole) this.warn(`the system was not whole ${this.recoverMs} ms after the last fault: ${this.describeStatus()}`);
      // A stale client pointed at a passive backup would only be rejected until the run ends.
      this.pointStale(whole, whole?.leader ?? undefined);
      await this.waitProgress(healed);

      // Stop the clients: the current operations get a grace period, then end unknown.
      for (const c of this.clients) c.stopInvoking();
      await Promise.race([Promise.all(this.clients.map((c) => c.done)), sleep(CLIENT_GRACE_MS, undefined, { ref: false })]);
      for (const c of this.clients) c.abort();
      await Promise.all(this.clients.map((c) => c.done));
      this.recorder.closeAll();
      await this.pool.close();
      await sleep(200);
      final = await this.finalState();
    } finally {
      this.stopping = true;
      for (const c of this.clients) c.abort();
      this.recorder.closeAll();
      await this.pool.close();
      for (const p of this.paused) p.kill('SIGCONT');
      await this.sys.stop();
    }

    const ops = history();
    const result = check(ops, final);
    const traces = result.anomalies.slice(0, 3).map((a) => ({ title: `traces around: ${a.kind}: ${a.message}`, lines: this.traces.around(a.ops) }));
    for (const name of this.notReadyAtEnd) {
      const p = this.sys.group.procs.get(name);
      traces.push({ title: `${name} was not ready at the end: its last events`, lines: this.traces.last(p) });
      traces.push({ title: `${name} was not ready at the end: what every component did when it last lost readiness`, lines: this.traces.lostReadiness(p) });
    }
    return {
      seed,
      mode,
      durationS: this.o.durationS,
      schedule: formatSchedule(schedule),
      injected: this.injected,
      stats: {
        ...result.stats,
        retries: this.clients.reduce((s, c) => s + c.stats.retries, 0),
        elapsedMs: Math.round(this.clock()),
        faults: this.injected.filter((f) => !f.skipped).length,
      },
      anomalies: result.anomalies,
      suppressed: result.suppressed,
      warnings: this.warnings,
      decisions: this.decisions,
      traces,
      final: {
        source: final.source,
        length: final.log?.length,
        replicas: final.replicas.map((r) => ({ name: r.name, digest: r.digest, length: r.log?.length })),
      },
      history: ops,
      finalLog: final.log,
    };
  }

  // ---- status --------------------------------------------------------------------

  private async status(): Promise<RmStatus | undefined> {
    const s = await rmStatus(this.sys);
    if (s) this.lastStatus = s;
    return s;
  }

  private describeStatus(s = this.lastStatus): string {
    return describeStatus(s);
  }

  /** Resolves with the status once the system is whole, or undefined after `ms`. */
  private async waitHealthy(ms: number): Promise<RmStatus | undefined> {
    const deadline = this.clock() + ms;
    for (;;) {
      const s = await this.status();
      if (s && isWhole(s, this.replicas)) return s;
      if (this.clock() >= deadline) return undefined;
      await sleep(100);
    }
  }

  private async waitProgress(since: number): Promise<void> {
    const deadline = this.clock() + PROGRESS_TIMEOUT_MS;
    const following = this.clients.filter((c) => !c.stale);
    while (following.some((c) => c.answeredSince(since) === 0) && this.clock() < deadline) await sleep(50);
    const stuck = following.filter((c) => c.answeredSince(since) === 0).map((c) => c.name);
    if (stuck.length > 0) this.warn(`no operation of ${stuck.join(', ')} completed within ${PROGRESS_TIMEOUT_MS} ms after the last fault healed`);
  }

  /** Point the stale-view clients at replica `name` (its address as `s` gives it); they keep it until pointed again. */
  private pointStale(s: RmStatus | undefined, name: string | undefined): void {
    const m = s?.members.find((x) => x.name === name);
    if (!m) return;
    for (const c of this.clients) {
      if (c.stale && c.target?.name !== m.name) {
        c.pointAt({ name: m.name, addr: m.addr });
        this.log(`${this.stamp()} stale client ${c.name} now talks to ${m.name} only`);
      }
    }
  }

  // ---- faults ----------------------------------------------------------------------

  private async runStep(step: Step, index: number): Promise<void> {
    /** Replicas this step faults: a second replica fault must pick another one, and leave one ready replica untouched. */
    const busy = new Set<string>();
    const guarded = (fault: Fault) =>
      this.inject(fault, index, busy).catch((err: Error): InjectedFault => {
        this.warn(`harness error while injecting ${describeFault(fault)}: ${err.message.split('\n')[0]}; no more replica or control-plane faults this run`);
        this.degraded = true;
        return { step: index, kind: fault.kind, description: describeFault(fault), at: this.clock(), skipped: `harness error: ${err.message.split('\n')[0]}` };
      });
    const tasks = [guarded(step.fault)];
    if (step.overlap) {
      const { offsetMs, fault } = step.overlap;
      tasks.push(sleep(offsetMs).then(() => guarded(fault)));
    }
    const recs = await Promise.all(tasks);
    const shaken = recs.some((r) => !r.skipped && !r.kind.startsWith('net-'));
    if (!shaken) return;
    const s = await this.waitHealthy(this.recoverMs);
    const at = this.clock();
    for (const r of recs) if (!r.skipped) r.recoveredAt = s ? at : undefined;
    if (s) this.log(`${this.stamp()} #${index} whole again: ${this.describeStatus(s)}`);
    else {
      this.warn(`not whole ${this.recoverMs} ms after step #${index}: ${this.describeStatus()}; no more replica or control-plane faults this run`);
      this.degraded = true;
    }
  }

  private async inject(fault: Fault, step: number, busy: Set<string>): Promise<InjectedFault> {
    const rec: InjectedFault = { step, kind: fault.kind, description: describeFault(fault), at: this.clock() };
    this.injected.push(rec);
    const skip = (why: string) => {
      rec.skipped = why;
      this.log(`${this.stamp()} #${step} ${rec.description}: skipped (${why})`);
      return rec;
    };
    const isNet = fault.kind.startsWith('net-');
    if (this.degraded && !isNet) return skip('the system was not whole after an earlier fault');
    const status = (await this.status()) ?? this.lastStatus;
    const said = (what: string) => this.log(`${this.stamp()} #${step} ${rec.description}: ${what}`);
    const healed = () => {
      rec.healedAt = this.clock();
    };
    switch (fault.kind) {
      case 'kill-leader':
      case 'kill-follower':
      case 'pause-leader':
      case 'pause-follower':
      case 'stall-leader':
      case 'stall-follower': {
        const name = fault.kind.endsWith('leader') ? status?.leader ?? undefined : this.follower(status, fault.pick, busy);
        const why = this.untargetable(status, name, busy);
        if (why) return skip(why);
        busy.add(name!);
        rec.target = `${name} (${this.roleOf(status, name!)})`;
        const proc = this.sys.proc(name!);
        if (name === status?.leader) this.pointStale(status, name);
        this.faulting(name!);
        if (fault.kind.startsWith('kill')) {
          said(`kill -9 ${rec.target}`);
          await this.kill(proc);
          await sleep(fault.holdMs);
          await this.restartServer(name!);
          said(`${name} restarted`);
        } else {
          said(`SIGSTOP ${rec.target}`);
          this.paused.add(proc);
          proc.kill('SIGSTOP');
          await sleep(fault.holdMs);
          proc.kill('SIGCONT');
          this.paused.delete(proc);
          said(`SIGCONT ${name}`);
        }
        this.faulted(name!);
        healed();
        return rec;
      }
      case 'kill-machine': {
        const name = fault.target === 'leader' ? status?.leader ?? undefined : this.follower(status, fault.pick, busy);
        const why = this.untargetable(status, name, busy);
        if (why || !name) return skip(why ?? 'no target');
        busy.add(name);
        if (name === status?.leader) this.pointStale(status, name);
        const lfd = lfdOf(name);
        const lfdPort = String(parseAddress(this.sys.lfdAddrs.get(lfd)!).port);
        rec.target = `${lfd} with ${name} (${this.roleOf(status, name)})`;
        this.faulting(name);
        this.faulting(lfd);
        said(`kill -9 ${rec.target}`);
        await Promise.all([this.kill(this.sys.proc(lfd)), this.kill(this.sys.proc(name))]);
        await sleep(fault.holdMs);
        // The machine comes back where it was: its LFD on its old port, then its server.
        if (!(await this.retry(lfd, () => this.sys.startLfd(lfd, lfdPort)))) return rec;
        await this.restartServer(name);
        this.faulted(name);
        this.faulted(lfd);
        said(`${lfd} and ${name} restarted`);
        healed();
        return rec;
      }
      case 'pause-machine': {
        const name = fault.target === 'leader' ? status?.leader ?? undefined : this.follower(status, fault.pick, busy);
        const why = this.untargetable(status, name, busy);
        if (why || !name) return skip(why ?? 'no target');
        busy.add(name);
        if (name === status?.leader) this.pointStale(status, name);
        const lfd = lfdOf(name);
        const procs = [this.sys.proc(lfd), this.sys.proc(name)];
        rec.target = `${lfd} with ${name} (${this.roleOf(status, name)})`;
        this.faulting(name);
        this.faulting(lfd);
        said(`SIGSTOP ${rec.target}`);
        for (const p of procs) {
          this.paused.add(p);
          p.kill('SIGSTOP');
        }
        await sleep(fault.holdMs);
        // Both run again in the same turn, as a machine whose network comes back.
        for (const p of procs) {
          p.kill('SIGCONT');
          this.paused.delete(p);
        }
        this.faulted(name);
        this.faulted(lfd);
        said(`SIGCONT ${lfd} and ${name}`);
        healed();
        return rec;
      }
      case 'restart-gfd': {
        rec.target = 'GFD';
        const port = String(parseAddress(this.sys.gfdAddr).port);
        said('kill -9 GFD');
        await this.kill(this.sys.gfd);
        await sleep(fault.holdMs);
        const hb = String(this.o.heartbeat ?? DEFAULT_HEARTBEAT_S);
        await this.respawn('GFD', ['gfd', '--port', port, '--rm', this.sys.rmAddr, '--heartbeat-freq', hb, '--json']);
        said(`GFD restarted on port ${port}`);
        healed();
        return rec;
      }
      case 'restart-rm': {
        rec.target = 'RM';
        const port = String(parseAddress(this.sys.rmAddr).port);
        said('kill -9 RM');
        await this.kill(this.sys.rm);
        await sleep(fault.holdMs);
        await this.respawn('RM', ['rm', '--port', port, '--mode', this.o.mode, '--no-auto-restart', ...(this.sys.options.rmArgs ?? []), '--json']);
        said(`RM restarted on port ${port}`);
        healed();
        return rec;
      }
      case 'net-drop':
      case 'net-delay':
      case 'net-blackhole': {
        const names = this.netTargets(status, fault);
        if (names.length === 0) return skip('no replica to target');
        rec.target = names.join(', ');
        const mode: ProxyMode = fault.kind === 'net-drop' ? { kind: 'drop' } : fault.kind === 'net-delay' ? { kind: 'delay', ms: fault.delayMs ?? 100 } : { kind: 'blackhole' };
        said(`client links to ${rec.target}`);
        for (const n of names) this.pool.setMode(n, mode);
        await sleep(fault.holdMs);
        for (const n of names) this.pool.setMode(n, PASS);
        healed();
        return rec;
      }
    }
  }

  /** `name` is being faulted: failure reports about it are expected. */
  private faulting(name: string): void {
    this.faultedUntil.set(name, Infinity);
  }

  /** The fault on `name` is healed; reports of it may still arrive for a moment. */
  private faulted(name: string): void {
    this.faultedUntil.set(name, this.clock() + 2000);
  }

  private isFaulted(name: string): boolean {
    return (this.faultedUntil.get(name) ?? -Infinity) > this.clock();
  }

  private roleOf(s: RmStatus | undefined, name: string): string {
    return s?.members.find((m) => m.name === name)?.role ?? 'role unknown';
  }

  /** A ready follower not faulted in this step, chosen by `pick` among them in name order. */
  private follower(s: RmStatus | undefined, pick: number, busy: ReadonlySet<string> = new Set()): string | undefined {
    const list = (s?.members ?? []).filter((m) => m.ready && m.name !== s?.leader && !busy.has(m.name)).map((m) => m.name).sort();
    return list[Math.floor(pick * list.length)];
  }

  /** Why replica `name` may not be faulted now: none named, already faulted in this step, or it would leave no ready replica untouched. */
  private untargetable(s: RmStatus | undefined, name: string | undefined, busy: ReadonlySet<string>): string | undefined {
    if (!name) return 'no replica in that role to target';
    if (busy.has(name)) return `${name} is already faulted in this step`;
    const spared = (s?.members ?? []).filter((m) => m.ready && m.name !== name && !busy.has(m.name));
    if (spared.length === 0) return `faulting ${name} would leave no ready replica untouched`;
    return undefined;
  }

  private netTargets(s: RmStatus | undefined, fault: Fault): string[] {
    if (fault.target === 'all') return (s?.members ?? []).map((m) => m.name);
    const one = fault.target === 'leader' ? s?.leader ?? undefined : this.follower(s, fault.pick);
    return one ? [one] : [];
  }

  private async kill(proc: Proc): Promise<void> {
    this.killed.add(proc);
    this.paused.delete(proc);
    proc.kill('SIGKILL');
    await Promise.race([proc.exited, sleep(5000, undefined, { ref: false })]);
  }

  private async restartServer(name: string): Promise<void> {
    try {
      await this.sys.startServer(name);
    } catch (err) {
      this.warn(`could not restart ${name}: ${(err as Error).message}`);
      this.degraded = true;
    }
  }

  /** Start the GFD or RM again on its old port. */
  private async respawn(name: 'GFD' | 'RM', args: string[]): Promise<void> {
    await this.retry(name, async () => {
      const proc = this.sys.group.spawn(name, [...args, ...this.sys.securityArgs()]);
      try {
        return await proc.address(5000);
      } catch (err) {
        this.killed.add(proc);
        proc.kill('SIGKILL');
        throw err;
      }
    });
  }

  /** Start a component again on its old port, which may take a moment to be free; false (and a warning) if it never starts. */
  private async retry(name: string, start: () => Promise<unknown>): Promise<boolean> {
    const retry = exponentialBackoff(RESPAWN_RETRY);
    for (let attempt = 1; ; attempt++) {
      const before = this.sys.group.procs.get(name);
      try {
        await start();
        return true;
      } catch (err) {
        const failed = this.sys.group.procs.get(name);
        if (failed && failed !== before) {
          this.killed.add(failed);
          failed.kill('SIGKILL');
        }
        const delay = retry(attempt, err as Error);
        if (delay === false) {
          this.warn(`could not restart ${name} on its port after ${attempt} attempts: ${(err as Error).message.split('\n')[0]}`);
          this.degraded = true;
          return false;
        }
        await sleep(delay);
      }
    }
  }

  // ---- the final state -------------------------------------------------------------

  private async finalState(): Promise<FinalState> {
    const status = (await this.waitHealthy(3000)) ?? (await this.status()) ?? this.lastStatus;
    const leader = status?.members.find((m) => m.name === status.leader);
    if (!status || !leader) {
      this.warn(`no leader to read the final state from: ${this.describeStatus(status)}`);
      return { replicas: [] };
    }
    const ready = status.members.filter((m) => m.ready);
    for (const m of status.members.filter((x) => !x.ready)) {
      this.warn(`${m.name} is not ready at the end; its state is not compared`);
      this.notReadyAtEnd.push(m.name);
    }
    const warn = (text: string) => this.warn(text);
    return this.o.mode === 'passive' ? readFinalPassive(this.sys, leader, ready, warn) : readFinalActive(leader, ready, warn);
  }
}

/** The LFD a server registers with by default in System: S2 -> LFD2. */
function lfdOf(server: string): string {
  return `LFD${server.replace(/^\D+/, '')}`;
}
