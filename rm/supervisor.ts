/**
 * The RM's supervision decisions, pure like the replication core: which replica to
 * relaunch, when, on which LFD, and when to give up; how to reach a target number
 * of replicas. The RM shell owns the timers and carries out the commands.
 */
import { DEFAULT_GROUP, type Message } from '../lib/protocol/index.js';
import { byName } from '../lib/component.js';
import { RestartPolicy, type RestartOptions } from './restart.js';

/** How long a launched replica has to register before the launch counts as failed. */
export const LAUNCH_DEADLINE_MS = 5000;
/** After a machine returns, servers that survived their LFD get this long to re-register before relaunching. */
export const MACHINE_RETURN_GRACE_MS = 1000;

export type SupEvent =
  | { type: 'machine'; lfd: string; up: boolean; now: number }
  | { type: 'added'; name: string; lfd: string | undefined; group?: string; now: number }
  | { type: 'deleted'; name: string; now: number }
  | { type: 'launchDue'; name: string; now: number }
  | { type: 'launchFailed'; name: string; reason: string; now: number }
  | { type: 'launchDeadline'; name: string; now: number }
  | { type: 'target'; count: number; leader: string | undefined; group?: string; now: number };

export type SupCommand =
  | { type: 'send'; msg: Message }
  | { type: 'timer'; name: string; event: 'launchDue' | 'launchDeadline'; ms: number }
  | { type: 'trace'; category: 'membership' | 'state' | 'fault'; text: string };

type Phase = 'alive' | 'scheduled' | 'launching' | 'waiting' | 'gaveUp' | 'retiring';

export interface SupervisorOptions extends RestartOptions {
  autoRestart: boolean;
}

export class Supervisor {
  private readonly phase = new Map<string, Phase>();
  /** The LFD each replica runs (or last ran) on. */
  private readonly homes = new Map<string, string>();
  private readonly machines = new Set<string>();
  private readonly policy: RestartPolicy;
  /** Relaunches of each replica since the RM started: only ever grows (the budget counts those within its window). */
  private readonly relaunches = new Map<string, number>();
  /** The replica group of each replica. */
  private readonly groups = new Map<string, string>();
  /** The number of replicas asked for, per group (`ctl set replicas N [--group G]`). */
  private readonly targets = new Map<string, number>();
  /** Restart budgets set per group (`ctl set restart-budget N --group G`); others have the RM's --restart-budget. */
  private readonly budgets = new Map<string, number>();

  /** The restart budget of `group`'s replicas; without a group, the RM's default for every group. */
  setBudget(budget: number, group?: string): void {
    if (group === undefined) {
      this.options.budget = budget;
      this.budgets.clear();
    } else this.budgets.set(group, budget);
  }

  budgetOf(group: string): number {
    return this.budgets.get(group) ?? this.options.budget;
  }

  /** The target of the default group (or undefined: none set). */
  get target(): number | undefined {
    return this.targets.get(DEFAULT_GROUP);
  }

  targetOf(group: string): number | undefined {
    return this.targets.get(group);
  }

  groupOf(name: string): string {
    return this.groups.get(name) ?? DEFAULT_GROUP;
  }

  /** The LFD `name` runs (or last ran) on. */
  homeOf(name: string): string | undefined {
    return this.homes.get(name);
  }

  constructor(readonly options: SupervisorOptions) {
    this.policy = new RestartPolicy(options);
  }

  handle(e: SupEvent): SupCommand[] {
    switch (e.type) {
      case 'machine':
        return this.onMachine(e.lfd, e.up);
      case 'added':
        return this.onAdded(e.name, e.lfd, e.group);
      case 'deleted':
        return this.onDeath(e.name, 'died', e.now);
      case 'launchDue':
        return this.onLaunchDue(e.name, e.now);
      case 'launchFailed':
        return this.phase.get(e.name) === 'launching' ? this.onDeath(e.name, `launch failed: ${e.reason}`, e.now) : [];
      case 'launchDeadline':
        return this.phase.get(e.name) === 'launching' ? this.onDeath(e.name, `did not register within ${LAUNCH_DEADLINE_MS / 1000} s of its launch`, e.now) : [];
      case 'target':
        return this.onTarget(e.group ?? DEFAULT_GROUP, e.count, e.leader);
    }
  }

  /** Per replica: what the supervisor is doing about it (for `ftkit ctl status`). */
  status(now: number): Record<string, { state: string; home: string | null; group: string; restarts: number; recent: number }> {
    const out: Record<string, { state: string; home: string | null; group: string; restarts: number; recent: number }> = {};
    for (const name of [...this.phase.keys()].sort(byName)) {
      const phase = this.phase.get(name)!;
      const home = this.homes.get(name) ?? null;
      const state = phase === 'waiting' ? `waiting for ${home}` : phase === 'gaveUp' ? 'gave up' : phase;
      out[name] = { state, home, group: this.groupOf(name), restarts: this.relaunches.get(name) ?? 0, recent: this.policy.recent(name, now).length };
    }
    return out;
  }

  private alive(): string[] {
    return [...this.phase].filter(([, p]) => p === 'alive').map(([n]) => n);
  }

  private onMachine(lfd: string, up: boolean): SupCommand[] {
    if (!up) {
      this.machines.delete(lfd);
      return [];
    }
    this.machines.add(lfd);
    const out: SupCommand[] = [];
    for (const [name, phase] of this.phase) {
      if (phase === 'waiting' && this.homes.get(name) === lfd) {
        this.phase.set(name, 'scheduled');
        out.push({ type: 'trace', category: 'state', text: `RM: ${lfd} is back; relaunching ${name} there` }, { type: 'timer', name, event: 'launchDue', ms: MACHINE_RETURN_GRACE_MS });
      }
    }
    return out;
  }

  private onAdded(name: string, lfd: string | undefined, group: string | undefined): SupCommand[] {
    if (lfd) this.homes.set(name, lfd);
    if (group) this.groups.set(name, group);
    const was = this.phase.get(name);
    this.phase.set(name, was === 'retiring' ? 'retiring' : 'alive');
    if (was === 'gaveUp') this.policy.forget(name);
    return [];
  }

  private onDeath(name: string, why: string, now: number): SupCommand[] {
    const phase = this.phase.get(name);
    if (phase === 'retiring') {
      this.phase.delete(name);
      this.policy.forget(name);
      return [{ type: 'trace', category: 'membership', text: `RM: ${name} retired` }];
    }
    if (phase === undefined || phase === 'gaveUp' || phase === 'scheduled' || phase === 'waiting') return [];
    if (!this.options.autoRestart) {
      this.phase.delete(name);
      return [];
    }
    const budget = this.budgetOf(this.groupOf(name));
    const decision = this.policy.next(name, now, budget);
    if (!decision.relaunch) {
      this.phase.set(name, 'gaveUp');
      const window = this.options.windowMs / 1000;
      return [{ type: 'trace', category: 'fault', text: `RM: ${name} ${why}; it was relaunched ${decision.attempts} times within ${window} s: giving up on it` }];
    }
    this.phase.set(name, 'scheduled');
    return [
      { type: 'trace', category: 'fault', text: `RM: ${name} ${why}; relaunching it in ${decision.delayMs} ms (attempt ${decision.attempt} of ${budget})` },
      { type: 'timer', name, event: 'launchDue', ms: decision.delayMs },
    ];
  }

  private onLaunchDue(name: string, now: number): SupCommand[] {
    if (this.phase.get(name) !== 'scheduled') return [];
    const lfd = this.homes.get(name);
    if (!lfd || !this.machines.has(lfd)) {
      this.phase.set(name, 'waiting');
      return [{ type: 'trace', category: 'state', text: `RM: ${name}'s machine ${lfd ?? '(unknown)'} is down; ${name} will be relaunched when it returns` }];
    }
    this.policy.record(name, now);
    this.relaunches.set(name, (this.relaunches.get(name) ?? 0) + 1);
    this.phase.set(name, 'launching');
    return [
      { type: 'send', msg: { type: 'launch', server: name, lfd, group: this.groupOf(name) } },
      { type: 'trace', category: 'state', text: `RM: asking ${lfd} to launch ${name}` },
      { type: 'timer', name, event: 'launchDeadline', ms: LAUNCH_DEADLINE_MS },
    ];
  }

  /** Whether the machine of LFD `lfd` is up. */
  isUp(lfd: string): boolean {
    return this.machines.has(lfd);
  }

  /** Reach `count` replicas in `group`: launch new ones on the machines the placement rule picks, or retire some. */
  private onTarget(group: string, count: number, leader: string | undefined): SupCommand[] {
    this.targets.set(group, count);
    const inGroup = (n: string) => this.groupOf(n) === group;
    const live = [...this.phase].filter(([n, p]) => p !== 'gaveUp' && p !== 'retiring' && inGroup(n)).map(([n]) => n);
    const out: SupCommand[] = [];
    const which = group === DEFAULT_GROUP && [...this.groups.values()].every((g) => g === DEFAULT_GROUP) ? '' : `${group}: `;
    if (count > live.length) {
      let next = Math.max(0, ...[...this.phase.keys(), ...this.homes.keys()].map((n) => Number(/(\d+)$/.exec(n)?.[1] ?? 0))) + 1;
      for (let i = live.length; i < count; i++) {
        const lfd = this.placeFor(group);
        if (!lfd) return [...out, { type: 'trace', category: 'fault', text: `RM: no machine is up to start a new replica on` }];
        const name = `S${next++}`;
        this.homes.set(name, lfd);
        this.groups.set(name, group);
        this.phase.set(name, 'launching');
        live.push(name);
        out.push(
          { type: 'send', msg: { type: 'launch', server: name, lfd, group } },
          { type: 'trace', category: 'state', text: `RM: ${which}target ${count} replicas: asking ${lfd} to start ${name}` },
          { type: 'timer', name, event: 'launchDeadline', ms: LAUNCH_DEADLINE_MS },
        );
      }
    }
    if (count < live.length) {
      // Retire followers, newest names first; never the leader.
      const candidates = this.alive().filter((n) => n !== leader && inGroup(n)).sort(byName).reverse();
      for (const name of candidates.slice(0, live.length - count)) {
        this.phase.set(name, 'retiring');
        out.push({ type: 'send', msg: { type: 'retire', server: name } }, { type: 'trace', category: 'membership', text: `RM: ${which}target ${count} replicas: retiring ${name}` });
      }
    }
    return out;
  }

  /**
   * The machine (LFD) for a new replica of `group`: of the machines up, the one with the fewest
   * replicas of that group (so a group's replicas go to different machines while there are
   * enough), then the fewest replicas of any group, then name order.
   */
  private placeFor(group: string): string | undefined {
    const load = new Map([...this.machines].map((m) => [m, { group: 0, all: 0 }]));
    for (const [n, p] of this.phase) {
      const home = this.homes.get(n);
      if (p === 'gaveUp' || p === 'retiring' || !home || !load.has(home)) continue;
      const l = load.get(home)!;
      l.all++;
      if (this.groupOf(n) === group) l.group++;
    }
    return [...load].sort(([a, x], [b, y]) => x.group - y.group || x.all - y.all || byName(a, b))[0]?.[0];
  }
}
