/**
 * The nemesis of a chaos run: it injects each step of the schedule into the running system
 * (kill -9, SIGSTOP, a whole machine, the GFD or RM, the client links through the proxies),
 * heals it, and waits for the system to be whole again. Role-based targets (the leader, a
 * follower) are resolved against the RM's status at the moment of the fault. A lost machine
 * comes back where it was: its LFD on its old port, then its server. On namespace hosts it also
 * cuts, slows and thins the network between the replicas' machines (`hostFault`). It makes a
 * replica fail-slow through the RM (slow.ts). If the system is not whole after a step, the run is
 * degraded: only client-link faults (net-*) follow. In the sns workload it also kills the
 * synchronizer (`ftkit sync`) and starts it again.
 *
 * With several replica groups each fault names its group (schedule.ts, assignGroups) and its
 * role-based target is resolved within that group; a machine fault hits every replica on that
 * machine, of whatever group, and is skipped unless every group it touches keeps a ready
 * replica untouched.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { System } from '../launch/system.js';
import type { Proc } from '../launch/proc.js';
import type { Mode } from '../../lib/protocol/index.js';
import { parseAddress } from '../../lib/net/index.js';
import { ProcControl } from './procs.js';
import { PASS, type ProxyMode, type ProxyPool } from './proxy.js';
import { describeFault, type Fault, type FaultKind, type HostFaultKind, type SlowFaultKind, type Step } from './schedule.js';
import { injectSlow } from './slow.js';
import { groupView, type RmStatus, type StatusTracker } from './status.js';
import type { RunObserver } from './observer.js';

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
  /** With several groups: the group the fault aimed at. */
  group?: string;
  /** With several groups, a machine fault: the machine (LFD), and the groups whose leader was on it when it was faulted. */
  machine?: string;
  leadersThere?: string[];
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
  /** The sns workload: the synchronizer's process now, and how to start it again (kill-sync). */
  sync?: { proc(): Proc | undefined; start(): Promise<Proc> };
}

export class Nemesis {
  readonly injected: InjectedFault[] = [];
  /** The system was not whole after a fault: inject no more replica or control-plane faults. */
  degraded = false;
  /** Network faults between hosts in place. */
  private readonly netFaults = new Set<{ heal(): Promise<void> }>();
  private readonly sys: System;
  private readonly observer: RunObserver;

  private readonly procs: ProcControl;

  constructor(private readonly o: NemesisOptions) {
    this.sys = o.sys;
    this.observer = o.observer;
    this.procs = new ProcControl(o.sys, o.observer, () => (this.degraded = true));
  }

  /** Faults injected, skipped ones not counted. */
  get count(): number {
    return this.injected.filter((f) => !f.skipped).length;
  }

  /** Heal whatever is still faulted: every proxy passes, every paused process runs, every network fault between hosts is gone. */
  async healAll(): Promise<void> {
    this.o.pool.healAll();
    this.procs.resumeAll();
    const faults = [...this.netFaults];
    this.netFaults.clear();
    await Promise.all(faults.map((f) => f.heal()));
  }

  /**
   * Run the schedule's steps, each after its quiet gap, until `faultsEnd()` (the run's clock; it
   * may move, e.g. from Infinity to a time), which it waits for; `before` runs just before each
   * step (with its 1-based number).
   */
  async runUntil(schedule: readonly Step[], faultsEnd: () => number, before?: (step: number) => Promise<void>): Promise<void> {
    for (const [i, step] of schedule.entries()) {
      if (this.o.clock() + step.gapMs >= faultsEnd()) break;
      await sleep(step.gapMs);
      await before?.(i + 1);
      await this.runStep(step, i + 1);
    }
    while (this.o.clock() < faultsEnd()) await sleep(Math.min(100, faultsEnd() - this.o.clock()));
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
    const rec: InjectedFault = { step, kind: fault.kind, description: describeFault(fault), at: this.o.clock(), ...(fault.group ? { group: fault.group } : {}) };
    this.injected.push(rec);
    const said = (what: string) => this.observer.say(`#${step} ${rec.description}: ${what}`);
    const skip = (why: string) => {
      rec.skipped = why;
      said(`skipped (${why})`);
      return rec;
    };
    if (this.degraded && !fault.kind.startsWith('net-')) return skip('the system was not whole after an earlier fault');
    const full = (await this.o.status.fetch()) ?? this.o.status.last;
    /** The aimed group's part of the status (the whole of it with one group). */
    const status = groupView(full, fault.group);
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
          await this.procs.kill(proc);
          await sleep(fault.holdMs);
          await this.procs.restartServer(name);
          said(`${name} restarted`);
        } else {
          said(`SIGSTOP ${rec.target}`);
          await this.procs.pause([proc], fault.holdMs);
          said(`SIGCONT ${name}`);
        }
        this.observer.healed(name);
        break;
      }
      case 'kill-machine':
      case 'pause-machine': {
        const name = this.target(status, fault.target === 'leader' ? 'leader' : 'follower', fault.pick, busy);
        if (typeof name !== 'string') return skip(name.why);
        const lfd = this.sys.homeOf(name);
        // Every replica on that machine goes down with it: each must leave its own group a ready replica untouched.
        const others = this.sys.servers.filter((x) => x !== name && this.sys.homeOf(x) === lfd);
        const why = this.alsoOnMachine(full, others, busy);
        if (why !== undefined) {
          busy.delete(name);
          return skip(why);
        }
        const servers = [name, ...others];
        rec.target = `${lfd} with ${servers.map((x) => `${x} (${roleOf(full, x)})`).join(', ')}`;
        if (fault.group) Object.assign(rec, { machine: lfd, leadersThere: this.leadersOn(full, lfd) });
        for (const x of [...servers, lfd]) this.observer.faulting(x);
        if (fault.kind === 'kill-machine') {
          const lfdPort = String(parseAddress(this.sys.lfdAddrs.get(lfd)!).port);
          said(`kill -9 ${rec.target}`);
          await Promise.all([lfd, ...servers].map((x) => this.procs.kill(this.sys.proc(x))));
          await sleep(fault.holdMs);
          // The machine comes back where it was: its LFD on its old port, then its servers.
          if (!(await this.procs.retry(lfd, () => this.sys.startLfd(lfd, lfdPort)))) return rec;
          for (const x of servers) await this.procs.restartServer(x);
          said(`${lfd} and ${servers.join(', ')} restarted`);
        } else {
          said(`SIGSTOP ${rec.target}`);
          // All run again in the same turn, as a machine whose network comes back.
          await this.procs.pause([lfd, ...servers].map((x) => this.sys.proc(x)), fault.holdMs);
          said(`SIGCONT ${lfd} and ${servers.join(', ')}`);
        }
        for (const x of [...servers, lfd]) this.observer.healed(x);
        break;
      }
      case 'restart-gfd':
      case 'restart-rm': {
        const gfd = fault.kind === 'restart-gfd';
        const name = gfd ? 'GFD' : 'RM';
        rec.target = name;
        const port = String(parseAddress(gfd ? this.sys.gfdAddr : this.sys.rmAddr).port);
        said(`kill -9 ${name}`);
        await this.procs.kill(gfd ? this.sys.gfd : this.sys.rm);
        await sleep(fault.holdMs);
        await this.procs.respawn(name, () => (gfd ? this.sys.startGfd(port) : this.sys.startRm(port)));
        said(`${name} restarted on port ${port}`);
        break;
      }
      case 'kill-all': {
        // Durable replicas only (--durable): the whole group at once, then each back from its disk.
        const servers = (status?.members ?? []).map((m) => m.name);
        if (servers.length === 0) return skip('no replica to kill');
        rec.target = servers.map((x) => `${x} (${roleOf(status, x)})`).join(', ');
        for (const x of servers) this.observer.faulting(x);
        said(`kill -9 ${rec.target}`);
        await Promise.all(servers.map((x) => this.procs.kill(this.sys.proc(x))));
        await sleep(fault.holdMs);
        await Promise.all(servers.map((x) => this.procs.restartServer(x)));
        said(`${servers.join(', ')} restarted`);
        for (const x of servers) this.observer.healed(x);
        break;
      }
      case 'kill-sync': {
        const proc = this.o.sync?.proc();
        if (!this.o.sync || !proc) return skip('no synchronizer runs in this workload');
        rec.target = 'sync';
        said(`kill -9 sync (pid ${proc.pid})`);
        await this.procs.kill(proc);
        await sleep(fault.holdMs);
        // A relaunched synchronizer reads every outbox from the start; the dedup tables absorb what it sends again.
        await this.procs.retry('sync', () => this.o.sync!.start());
        said('sync started again');
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
        const lfds = fault.kind === 'cut-machine' ? names.map((n) => this.sys.homeOf(n)) : [];
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
      case 'cpu-hog':
      case 'mem-hog':
      case 'delay': {
        const name = this.target(status, fault.target === 'follower' ? 'follower' : 'leader', fault.pick, busy);
        if (typeof name !== 'string') return skip(name.why);
        rec.target = `${name} (${roleOf(status, name)})`;
        this.observer.faulting(name);
        await injectSlow(this.sys, this.procs, this.observer, fault as Fault & { kind: SlowFaultKind }, name, said);
        this.observer.healed(name);
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

  /**
   * `others` share the machine of a replica being faulted: why they may not be faulted too
   * (one is already faulted in this step, or it would leave its group no ready replica
   * untouched); else they join `busy`, and the stale-view clients are pointed at each that leads.
   */
  private alsoOnMachine(full: RmStatus | undefined, others: readonly string[], busy: Set<string>): string | undefined {
    const added: string[] = [];
    for (const x of others) {
      const s = groupView(full, this.sys.groupOf(x));
      const why = busy.has(x)
        ? `${x}, on the same machine, is already faulted in this step`
        : !(s?.members ?? []).some((m) => m.ready && m.name !== x && !busy.has(m.name))
          ? `faulting ${x}, on the same machine, would leave ${this.sys.groupOf(x)} no ready replica untouched`
          : undefined;
      if (why !== undefined) {
        for (const y of added) busy.delete(y);
        return why;
      }
      busy.add(x);
      added.push(x);
    }
    for (const x of others) if (x === groupView(full, this.sys.groupOf(x))?.leader) this.o.pointStale(full, x);
    return undefined;
  }

  /** The groups whose leader runs on machine `lfd`. */
  private leadersOn(full: RmStatus | undefined, lfd: string): string[] {
    return (full?.groups ?? []).filter((g) => g.leader && this.sys.homeOf(g.leader) === lfd).map((g) => g.name);
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
}

function roleOf(s: RmStatus | undefined, name: string): string {
  return s?.members.find((m) => m.name === name)?.role ?? 'role unknown';
}

/** A ready follower not faulted in this step, chosen by `pick` among them in name order. */
function follower(s: RmStatus | undefined, pick: number, busy: ReadonlySet<string> = new Set()): string | undefined {
  const list = (s?.members ?? []).filter((m) => m.ready && m.name !== s?.leader && !busy.has(m.name)).map((m) => m.name).sort();
  return list[Math.floor(pick * list.length)];
}
