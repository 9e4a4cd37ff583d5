/**
 * The nemesis of a chaos run: it injects each step of the schedule into the running system
 * (kill -9, SIGSTOP, a whole machine, the GFD or RM, the client links through the proxies),
 * heals it, and waits for the system to be whole again. Role-based targets (the leader, a
 * follower) are resolved against the RM's status at the moment of the fault. A lost machine
 * comes back where it was: its LFD on its old port, then its server. On namespace hosts it also
 * cuts, slows and thins the network between the replicas' machines (`hostFault`). If the system
 * is not whole after a step, the run is degraded: only client-link faults (net-*) follow.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { System } from '../launch/system.js';
import type { Proc } from '../launch/proc.js';
import type { Mode } from '../../lib/protocol/index.js';
import { exponentialBackoff, parseAddress } from '../../lib/net/index.js';
import { PASS, type ProxyMode, type ProxyPool } from './proxy.js';
import { describeFault, type Fault, type FaultKind, type HostFaultKind, type Step } from './schedule.js';
import type { RmStatus, StatusTracker } from './status.js';
import type { RunObserver } from './observer.js';

/** Starting a component again on its old port is tried 5 times, 0.2 s to 1 s apart (the port may take a moment to be free). */
const RESPAWN_RETRY = { baseMs: 200, capMs: 1000, maxAttempts: 4 };
/** How long a killed process gets to be reaped. */
const EXIT_WAIT_MS = 5000;
/** How long the GFD or RM, started again, gets to listen. */
const START_WAIT_MS = 5000;

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

export interface NemesisOptions {
  sys: System;
  mode: Mode;
  /** The heartbeat the GFD is started with again. */
  heartbeat: number;
  pool: ProxyPool;
  status: StatusTracker;
  observer: RunObserver;
  clock: () => number;
  /** How long the system may take to be whole again after a step. */
  recoverMs: number;
  /** Point the stale-view clients at `name` (called just before a fault aimed at the leader). */
  pointStale: (s: RmStatus | undefined, name: string) => void;
  /**
   * On namespace hosts: put a network fault in place between the machines of `replicas` (the
   * one replica's for cut-machine, else the leader's and a follower's); it stays until healed.
   */
  hostFault?: (fault: Fault & { kind: HostFaultKind }, replicas: string[]) => Promise<{ what: string; heal(): Promise<void> }>;
}

export class Nemesis {
  readonly injected: InjectedFault[] = [];
  /** The system was not whole after a fault: inject no more replica or control-plane faults. */
  degraded = false;
  private readonly paused = new Set<Proc>();
  /** Network faults between hosts in place. */
  private readonly netFaults = new Set<{ heal(): Promise<void> }>();
  private readonly sys: System;
  private readonly observer: RunObserver;

  constructor(private readonly o: NemesisOptions) {
    this.sys = o.sys;
    this.observer = o.observer;
  }

  /** Faults injected, skipped ones not counted. */
  get count(): number {
    return this.injected.filter((f) => !f.skipped).length;
  }

  /** Heal whatever is still faulted: every proxy passes, every paused process runs, every network fault between hosts is gone. */
  async healAll(): Promise<void> {
    this.o.pool.healAll();
    for (const p of this.paused) p.kill('SIGCONT');
    this.paused.clear();
    const faults = [...this.netFaults];
    this.netFaults.clear();
    await Promise.all(faults.map((f) => f.heal()));
  }

  /** Inject one step of the schedule (with its overlapping fault, if any), then wait until the system is whole. */
  async runStep(step: Step, index: number): Promise<void> {
    /** Replicas this step faults: a second replica fault must pick another one, and leave one ready replica untouched. */
    const busy = new Set<string>();
    const guarded = (fault: Fault) =>
      this.inject(fault, index, busy).catch((err: Error): InjectedFault => {
        this.observer.warn(`harness error while injecting ${describeFault(fault)}: ${err.message.split('\n')[0]}; no more replica or control-plane faults this run`);
        this.degraded = true;
        return { step: index, kind: fault.kind, description: describeFault(fault), at: this.o.clock(), skipped: `harness error: ${err.message.split('\n')[0]}` };
      });
    const tasks = [guarded(step.fault)];
    if (step.overlap) {
      const { offsetMs, fault } = step.overlap;
      tasks.push(sleep(offsetMs).then(() => guarded(fault)));
    }
    const recs = await Promise.all(tasks);
    const shaken = recs.some((r) => !r.skipped && !r.kind.startsWith('net-'));
    if (!shaken) return;
    const s = await this.o.status.waitWhole(this.o.recoverMs);
    const at = this.o.clock();
    for (const r of recs) if (!r.skipped) r.recoveredAt = s ? at : undefined;
    if (s) this.observer.say(`#${index} whole again: ${this.o.status.describe(s)}`);
    else {
      this.observer.warn(`not whole ${this.o.recoverMs} ms after step #${index}: ${this.o.status.describe()}; no more replica or control-plane faults this run`);
      this.degraded = true;
    }
  }

  private async inject(fault: Fault, step: number, busy: Set<string>): Promise<InjectedFault> {
    const rec: InjectedFault = { step, kind: fault.kind, description: describeFault(fault), at: this.o.clock() };
    this.injected.push(rec);
    const said = (what: string) => this.observer.say(`#${step} ${rec.description}: ${what}`);
    const skip = (why: string) => {
      rec.skipped = why;
      said(`skipped (${why})`);
      return rec;
    };
    if (this.degraded && !fault.kind.startsWith('net-')) return skip('the system was not whole after an earlier fault');
    const status = (await this.o.status.fetch()) ?? this.o.status.last;
    switch (fault.kind) {
      case 'kill-leader':
      case 'kill-follower':
      case 'pause-leader':
      case 'pause-follower':
      case 'stall-leader':
      case 'stall-follower': {
        const name = this.target(status, fault.kind.endsWith('leader') ? 'leader' : 'follower', fault.pick, busy);
        if (typeof name !== 'string') return skip(name.why);
        rec.target = `${name} (${roleOf(status, name)})`;
        const proc = this.sys.proc(name);
        this.observer.faulting(name);
        if (fault.kind.startsWith('kill')) {
          said(`kill -9 ${rec.target}`);
          await this.kill(proc);
          await sleep(fault.holdMs);
          await this.restartServer(name);
          said(`${name} restarted`);
        } else {
          said(`SIGSTOP ${rec.target}`);
          await this.pause([proc], fault.holdMs);
          said(`SIGCONT ${name}`);
        }
        this.observer.healed(name);
        break;
      }
      case 'kill-machine':
      case 'pause-machine': {
        const name = this.target(status, fault.target === 'leader' ? 'leader' : 'follower', fault.pick, busy);
        if (typeof name !== 'string') return skip(name.why);
        const lfd = lfdOf(name);
        rec.target = `${lfd} with ${name} (${roleOf(status, name)})`;
        this.observer.faulting(name);
        this.observer.faulting(lfd);
        if (fault.kind === 'kill-machine') {
          const lfdPort = String(parseAddress(this.sys.lfdAddrs.get(lfd)!).port);
          said(`kill -9 ${rec.target}`);
          await Promise.all([this.kill(this.sys.proc(lfd)), this.kill(this.sys.proc(name))]);
          await sleep(fault.holdMs);
          // The machine comes back where it was: its LFD on its old port, then its server.
          if (!(await this.retry(lfd, () => this.sys.startLfd(lfd, lfdPort)))) return rec;
          await this.restartServer(name);
          said(`${lfd} and ${name} restarted`);
        } else {
          said(`SIGSTOP ${rec.target}`);
          // Both run again in the same turn, as a machine whose network comes back.
          await this.pause([this.sys.proc(lfd), this.sys.proc(name)], fault.holdMs);
          said(`SIGCONT ${lfd} and ${name}`);
        }
        this.observer.healed(name);
        this.observer.healed(lfd);
        break;
      }
      case 'restart-gfd':
      case 'restart-rm': {
        const gfd = fault.kind === 'restart-gfd';
        const name = gfd ? 'GFD' : 'RM';
        rec.target = name;
        const port = String(parseAddress(gfd ? this.sys.gfdAddr : this.sys.rmAddr).port);
        said(`kill -9 ${name}`);
        await this.kill(gfd ? this.sys.gfd : this.sys.rm);
        await sleep(fault.holdMs);
        await this.respawn(name, () => (gfd ? this.sys.startGfd(port) : this.sys.startRm(port)));
        said(`${name} restarted on port ${port}`);
        break;
      }
      case 'cut-machine':
      case 'cut-link':
      case 'cut-one-way':
      case 'link-loss':
      case 'link-delay': {
        if (!this.o.hostFault) return skip('network faults between machines need namespace hosts (--hosts)');
        const names = this.hostTargets(status, fault, busy);
        if (!Array.isArray(names)) return skip(names.why);
        const lfds = fault.kind === 'cut-machine' ? names.map(lfdOf) : [];
        rec.target = names.map((n) => `${n} (${roleOf(status, n)})`).join(fault.kind === 'cut-machine' ? '' : ' and ') + (lfds.length ? ` with ${lfds.join('')}` : '');
        for (const n of [...names, ...lfds]) this.observer.faulting(n);
        let net: { what: string; heal(): Promise<void> };
        try {
          net = await this.o.hostFault(fault as Fault & { kind: HostFaultKind }, names);
        } catch (err) {
          for (const n of [...names, ...lfds]) this.observer.healed(n);
          this.observer.warn(`could not inject ${rec.description}: ${(err as Error).message.split('\n')[0]}`);
          return skip(`could not inject: ${(err as Error).message.split('\n')[0]}`);
        }
        this.netFaults.add(net);
        said(`${net.what} (${rec.target})`);
        await sleep(fault.holdMs);
        this.netFaults.delete(net);
        await net.heal();
        said(`healed ${net.what}`);
        for (const n of [...names, ...lfds]) this.observer.healed(n);
        break;
      }
      case 'net-drop':
      case 'net-delay':
      case 'net-blackhole': {
        const names = this.netTargets(status, fault);
        if (names.length === 0) return skip('no replica to target');
        rec.target = names.join(', ');
        const mode: ProxyMode = fault.kind === 'net-drop' ? { kind: 'drop' } : fault.kind === 'net-delay' ? { kind: 'delay', ms: fault.delayMs ?? 100 } : { kind: 'blackhole' };
        said(`client links to ${rec.target}`);
        for (const n of names) this.o.pool.setMode(n, mode);
        await sleep(fault.holdMs);
        for (const n of names) this.o.pool.setMode(n, PASS);
        break;
      }
    }
    rec.healedAt = this.o.clock();
    return rec;
  }

  /**
   * The replica a replica fault aims at: the leader, or a ready follower chosen by `pick`; it
   * joins `busy`, and the stale-view clients are pointed at it if it leads. Or why none may be
   * faulted now: none in that role, already faulted in this step, or it would leave no ready
   * replica untouched.
   */
  private target(s: RmStatus | undefined, role: 'leader' | 'follower', pick: number, busy: Set<string>): string | { why: string } {
    const name = role === 'leader' ? s?.leader ?? undefined : follower(s, pick, busy);
    if (!name) return { why: 'no replica in that role to target' };
    if (busy.has(name)) return { why: `${name} is already faulted in this step` };
    const spared = (s?.members ?? []).filter((m) => m.ready && m.name !== name && !busy.has(m.name));
    if (spared.length === 0) return { why: `faulting ${name} would leave no ready replica untouched` };
    busy.add(name);
    if (name === s?.leader) this.o.pointStale(s, name);
    return name;
  }

  /** The replicas a network fault between hosts touches: the one whose machine is cut off, or the leader and a follower. */
  private hostTargets(s: RmStatus | undefined, fault: Fault, busy: Set<string>): string[] | { why: string } {
    if (fault.kind === 'cut-machine') {
      const one = this.target(s, fault.target === 'leader' ? 'leader' : 'follower', fault.pick, busy);
      return typeof one === 'string' ? [one] : one;
    }
    const leader = this.target(s, 'leader', fault.pick, busy);
    if (typeof leader !== 'string') return leader;
    const other = this.target(s, 'follower', fault.pick, busy);
    if (typeof other === 'string') return [leader, other];
    busy.delete(leader);
    return other;
  }

  private netTargets(s: RmStatus | undefined, fault: Fault): string[] {
    if (fault.target === 'all') return (s?.members ?? []).map((m) => m.name);
    const one = fault.target === 'leader' ? s?.leader ?? undefined : follower(s, fault.pick);
    return one ? [one] : [];
  }

  /** SIGSTOP `procs` for `holdMs`, then SIGCONT them all in the same turn. */
  private async pause(procs: Proc[], holdMs: number): Promise<void> {
    for (const p of procs) {
      this.paused.add(p);
      p.kill('SIGSTOP');
    }
    await sleep(holdMs);
    for (const p of procs) {
      p.kill('SIGCONT');
      this.paused.delete(p);
    }
  }

  private async kill(proc: Proc): Promise<void> {
    this.observer.killing(proc);
    this.paused.delete(proc);
    proc.kill('SIGKILL');
    await Promise.race([proc.exited, sleep(EXIT_WAIT_MS, undefined, { ref: false })]);
  }

  private async restartServer(name: string): Promise<void> {
    try {
      await this.sys.startServer(name);
    } catch (err) {
      this.observer.warn(`could not restart ${name}: ${(err as Error).message}`);
      this.degraded = true;
    }
  }

  /** Start the GFD or RM again on its old port (`start` spawns it and resolves when it listens). */
  private async respawn(name: 'GFD' | 'RM', start: () => Promise<Proc>): Promise<void> {
    await this.retry(name, async () => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${name} did not listen within ${START_WAIT_MS} ms`)), START_WAIT_MS)));
      try {
        await Promise.race([start(), late]);
      } finally {
        clearTimeout(timer);
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
          this.observer.killing(failed);
          failed.kill('SIGKILL');
        }
        const delay = retry(attempt, err as Error);
        if (delay === false) {
          this.observer.warn(`could not restart ${name} on its port after ${attempt} attempts: ${(err as Error).message.split('\n')[0]}`);
          this.degraded = true;
          return false;
        }
        await sleep(delay);
      }
    }
  }
}

function roleOf(s: RmStatus | undefined, name: string): string {
  return s?.members.find((m) => m.name === name)?.role ?? 'role unknown';
}

/** A ready follower not faulted in this step, chosen by `pick` among them in name order. */
function follower(s: RmStatus | undefined, pick: number, busy: ReadonlySet<string> = new Set()): string | undefined {
  const list = (s?.members ?? []).filter((m) => m.ready && m.name !== s?.leader && !busy.has(m.name)).map((m) => m.name).sort();
  return list[Math.floor(pick * list.length)];
}

/** The LFD a server registers with by default in System: S2 -> LFD2. */
function lfdOf(server: string): string {
  return `LFD${server.replace(/^\D+/, '')}`;
}
