/**
 * One chaos run: start a whole ftkit system (real processes on 127.0.0.1, the `log`
 * app), drive in-process clients through fault-injecting proxies, inject a seeded
 * schedule of faults, heal everything, read the final state from every ready replica,
 * and check the history. Every wait is bounded, so a run ends in about its duration
 * plus a few seconds of recovery and checking, whatever the system does.
 *
 * The RM runs with --no-auto-restart: the harness restarts what it kills, by hand,
 * so a run does not depend on automatic relaunch (and never has two copies of a replica).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { System } from '../launch/system.js';
import type { Proc } from '../launch/proc.js';
import type { Mode } from '../protocol/index.js';
import { parseAddress } from '../net/index.js';
import { ctlRequest } from '../../clients/ctl.js';
import { ChaosClient, requestOnce, type Answer } from './client.js';
import { HistoryRecorder, type Op } from './history.js';
import { PASS, ProxyPool, type ProxyMode } from './proxy.js';
import { describeFault, formatSchedule, isReplicaFault, makeSchedule, type Fault, type FaultKind, type Step } from './schedule.js';
import { check, parseReadResult, type Anomaly, type AnomalyKind, type CheckStats, type FinalState, type ReplicaFinal } from './checker.js';
import { substream } from './rng.js';

export const DEFAULT_CLIENTS = 4;
export const DEFAULT_HEARTBEAT_S = 0.1;
export const DEFAULT_CHECKPOINT_FREQ_S = 0.5;
export const DEFAULT_REPLICAS = 3;
/** How long the system may take to be whole again (every replica ready, a leader, the GFD connected) after a fault. */
export const DEFAULT_RECOVER_TIMEOUT_MS = 10_000;
/** After the last fault heals, each client must complete an operation within this long. */
const PROGRESS_TIMEOUT_MS = 5000;
/** How long the clients get to finish their current operation when the run ends. */
const CLIENT_GRACE_MS = 3000;
/** How long a backup has to install a checkpoint after the final read (passive). */
const FINAL_CHECKPOINT_WAIT_MS = 3000;
const STATUS_TIMEOUT_MS = 1000;
const RESPAWN_ATTEMPTS = 5;
/** The client name the harness uses for its final reads. */
const CHECK_CLIENT = 'CHECK';

export interface ChaosOptions {
  mode: Mode;
  seed: number;
  /** Seconds of load and faults; recovery and checks come after. */
  durationS: number;
  clients?: number;
  /** Fault kinds to draw from (default: all). */
  faults?: readonly FaultKind[];
  heartbeat?: number;
  checkpointFreq?: number;
  replicas?: number;
  readRatio?: number;
  recoverTimeoutMs?: number;
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
  final: { source?: string; length?: number; replicas: Array<{ name: string; digest?: string; length?: number }> };
  history: Op[];
}

interface StatusMember {
  name: string;
  addr: string;
  role: string;
  ready: boolean;
}

interface RmStatus {
  mode: Mode;
  epoch: number;
  leader: string | null;
  gfd: string;
  members: StatusMember[];
}

export class HarnessError extends Error {
  override name = 'HarnessError';
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
      rmArgs: ['--no-auto-restart'],
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

  /** Report processes that die on their own, and internal errors a component survived. */
  private watch(p: Proc): void {
    p.once('exit', (code, signal) => {
      if (!this.killed.has(p) && !this.stopping) this.warn(`${p.name} (pid ${p.pid}) exited on its own (${signal ?? `status ${code}`}); last lines:\n${p.tail(8)}`);
    });
    p.on('event', (e) => {
      if (e.type !== 'internal_error') return;
      const n = (this.internalErrors.get(p.name) ?? 0) + 1;
      this.internalErrors.set(p.name, n);
      if (n <= 3) this.warn(`${p.name} reported an internal error: ${e.text.split('\n').slice(0, 4).join(' | ')}`);
    });
  }

  async run(): Promise<RunReport> {
    const { seed, mode } = this.o;
    const durationMs = this.o.durationS * 1000;
    const schedule = makeSchedule({ seed, durationMs, kinds: this.o.faults });
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
      if (!(await this.waitHealthy(this.recoverMs))) this.warn(`the system was not whole ${this.recoverMs} ms after the last fault: ${this.describeStatus()}`);
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
      final: {
        source: final.source,
        length: final.log?.length,
        replicas: final.replicas.map((r) => ({ name: r.name, digest: r.digest, length: r.log?.length })),
      },
      history: ops,
    };
  }

  // ---- status --------------------------------------------------------------------

  private async status(): Promise<RmStatus | undefined> {
    try {
      const s = JSON.parse(await ctlRequest(this.sys.rmAddr, { op: 'status' }, STATUS_TIMEOUT_MS)) as RmStatus;
      this.lastStatus = s;
      return s;
    } catch {
      return undefined;
    }
  }

  private healthy(s: RmStatus): boolean {
    return s.gfd === 'connected' && !!s.leader && s.members.length === this.replicas && s.members.every((m) => m.ready);
  }

  private describeStatus(s = this.lastStatus): string {
    if (!s) return 'RM status unknown';
    const members = s.members.map((m) => `${m.name}${m.name === s.leader ? '*' : ''}${m.ready ? '' : '(not ready)'}`).join(' ');
    return `epoch ${s.epoch}, leader ${s.leader ?? '-'}, GFD ${s.gfd}, members: ${members || 'none'}`;
  }

  /** Resolves with the status once the system is whole, or undefined after `ms`. */
  private async waitHealthy(ms: number): Promise<RmStatus | undefined> {
    const deadline = this.clock() + ms;
    for (;;) {
      const s = await this.status();
      if (s && this.healthy(s)) return s;
      if (this.clock() >= deadline) return undefined;
      await sleep(100);
    }
  }

  private async waitProgress(since: number): Promise<void> {
    const deadline = this.clock() + PROGRESS_TIMEOUT_MS;
    while (this.clients.some((c) => c.answeredSince(since) === 0) && this.clock() < deadline) await sleep(50);
    const stuck = this.clients.filter((c) => c.answeredSince(since) === 0).map((c) => c.name);
    if (stuck.length > 0) this.warn(`no operation of ${stuck.join(', ')} completed within ${PROGRESS_TIMEOUT_MS} ms after the last fault healed`);
  }

  // ---- faults ----------------------------------------------------------------------

  private async runStep(step: Step, index: number): Promise<void> {
    const tasks = [this.inject(step.fault, index)];
    if (step.overlap) {
      const { offsetMs, fault } = step.overlap;
      tasks.push(sleep(offsetMs).then(() => this.inject(fault, index)));
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

  private async inject(fault: Fault, step: number): Promise<InjectedFault> {
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
      case 'pause-follower': {
        const name = fault.kind.endsWith('leader') ? status?.leader ?? undefined : this.follower(status, fault.pick);
        if (!name) return skip(`no ${fault.kind.endsWith('leader') ? 'leader' : 'ready follower'} to target`);
        rec.target = `${name} (${this.roleOf(status, name)})`;
        const proc = this.sys.proc(name);
        if (fault.kind.startsWith('kill')) {
          said(`kill -9 ${rec.target}`);
          await this.kill(proc);
          await sleep(fault.holdMs);
          await this.restartServer(name);
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
        healed();
        return rec;
      }
      case 'kill-machine': {
        const name = fault.target === 'leader' ? status?.leader ?? undefined : this.follower(status, fault.pick);
        if (!name) return skip(`no ${fault.target} to target`);
        const lfd = lfdOf(name);
        rec.target = `${lfd} with ${name} (${this.roleOf(status, name)})`;
        said(`kill -9 ${rec.target}`);
        await Promise.all([this.kill(this.sys.proc(lfd)), this.kill(this.sys.proc(name))]);
        await sleep(fault.holdMs);
        try {
          await this.sys.startLfd(lfd);
        } catch (err) {
          this.warn(`could not restart ${lfd}: ${(err as Error).message}`);
          this.degraded = true;
          return rec;
        }
        await this.restartServer(name);
        said(`${lfd} and ${name} restarted`);
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
        await this.respawn('RM', ['rm', '--port', port, '--mode', this.o.mode, ...(this.sys.options.rmArgs ?? []), '--json']);
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

  private roleOf(s: RmStatus | undefined, name: string): string {
    return s?.members.find((m) => m.name === name)?.role ?? 'role unknown';
  }

  /** A ready follower, chosen by `pick` among them in name order. */
  private follower(s: RmStatus | undefined, pick: number): string | undefined {
    const list = (s?.members ?? []).filter((m) => m.ready && m.name !== s?.leader).map((m) => m.name).sort();
    return list[Math.floor(pick * list.length)];
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

  /** Start the GFD or RM again on its old port; the port may take a moment to be free. */
  private async respawn(name: 'GFD' | 'RM', args: string[]): Promise<void> {
    for (let attempt = 1; attempt <= RESPAWN_ATTEMPTS; attempt++) {
      const proc = this.sys.group.spawn(name, args);
      try {
        await proc.address(5000);
        return;
      } catch (err) {
        this.killed.add(proc);
        proc.kill('SIGKILL');
        if (attempt === RESPAWN_ATTEMPTS) {
          this.warn(`could not restart ${name} on its port after ${attempt} attempts: ${(err as Error).message.split('\n')[0]}`);
          this.degraded = true;
          return;
        }
        await sleep(200);
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
    for (const m of status.members.filter((x) => !x.ready)) this.warn(`${m.name} is not ready at the end; its state is not compared`);
    return this.o.mode === 'passive' ? this.finalPassive(leader, ready) : this.finalActive(leader, ready);
  }

  /** Passive: read from the primary; each ready backup's next checkpoint must carry the same state. */
  private async finalPassive(leader: StatusMember, ready: StatusMember[]): Promise<FinalState> {
    let answer: Answer | Error | undefined;
    let target = leader;
    for (let attempt = 1; attempt <= 5; attempt++) {
      answer = await requestOnce(target.addr, CHECK_CLIENT, target.name, 1, 'read', 3000).catch((err: Error) => err);
      if (!(answer instanceof Error) && answer.kind === 'reply') break;
      await sleep(300);
      const s = await this.status();
      target = s?.members.find((m) => m.name === s.leader) ?? target;
    }
    if (!answer || answer instanceof Error || answer.kind !== 'reply') {
      this.warn(`the primary did not answer the final read: ${answer instanceof Error ? answer.message : answer?.kind === 'reject' ? answer.reason : 'no answer'}`);
      return { replicas: [] };
    }
    const log = parseReadResult(answer.result);
    if (!log) this.warn(`the final read returned ${JSON.stringify(answer.result.slice(0, 80))}`);
    const since = Date.now();
    const backups = ready.filter((m) => m.name !== target.name);
    const replicas = await Promise.all(
      backups.map(async (m): Promise<ReplicaFinal | undefined> => {
        try {
          const e = await this.sys.proc(m.name).waitFor((ev) => ev.type === 'checkpoint_received' && ev.time >= since, FINAL_CHECKPOINT_WAIT_MS);
          return { name: m.name, digest: String((e.data as { digest?: unknown }).digest) };
        } catch {
          this.warn(`${m.name} installed no checkpoint within ${FINAL_CHECKPOINT_WAIT_MS} ms of the final read; its state is not compared`);
          return undefined;
        }
      }),
    );
    return { log, source: target.name, replicas: replicas.filter((r): r is ReplicaFinal => r !== undefined) };
  }

  /** Active: one read sent to every ready replica; each answers with its state at the same point of the order. */
  private async finalActive(leader: StatusMember, ready: StatusMember[]): Promise<FinalState> {
    const answers = await Promise.all(ready.map((m) => requestOnce(m.addr, CHECK_CLIENT, m.name, 1, 'read', 5000).catch((err: Error) => err)));
    const replicas: ReplicaFinal[] = [];
    answers.forEach((a, i) => {
      const name = ready[i]!.name;
      if (a instanceof Error || a.kind !== 'reply') return this.warn(`${name} did not answer the final read: ${a instanceof Error ? a.message : a.reason}`);
      const log = parseReadResult(a.result);
      if (!log) return this.warn(`${name} answered the final read with ${JSON.stringify(a.result.slice(0, 80))}`);
      replicas.push({ name, log });
    });
    const source = replicas.find((r) => r.name === leader.name) ?? replicas[0];
    return { log: source?.log, source: source?.name, replicas: replicas.filter((r) => r !== source) };
  }
}

/** The LFD a server registers with by default in System: S2 -> LFD2. */
function lfdOf(server: string): string {
  return `LFD${server.replace(/^\D+/, '')}`;
}
