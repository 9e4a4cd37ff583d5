/**
 * The Replication Manager's decisions for one replica group, as a pure core: events in,
 * commands out. No sockets, no timers; the RM shell feeds it and carries the commands out.
 * One replica is the leader: the primary in passive mode, the sequencer in active
 * mode. Every change of leader bumps the epoch. A replica joins not ready; the RM
 * orders the leader to send it a checkpoint, and makes it ready when it reports
 * that it has caught up.
 *
 * When a leader fails and more than one ready replica is left, the RM first asks each
 * of them what it holds and elects the most up-to-date. A replica the RM has just made
 * ready may not yet count for the leader's commits (its new role is still on the way
 * to the leader), so it can miss entries the others hold; electing it by name would
 * lose them.
 */
import type { Member, Message, MessageOf, Mode, Role } from '../lib/protocol/index.js';
import { byName } from '../lib/component.js';
import { checkpointOrder, roleFor, rolesToAll } from './orders.js';
import { leastLoaded, mostRecent, type Holding } from './ranking.js';

export interface ReplicaState {
  name: string;
  addr: string;
  ready: boolean;
}

export type RmEvent =
  | { type: 'members'; members: Member[] }
  | { type: 'added'; name: string; addr: string }
  | { type: 'deleted'; name: string }
  | { type: 'report'; report: MessageOf<'report'> }
  /** The leader says a ready follower has held up its commits for a lag timeout (its LFD still vouches for it). */
  | { type: 'lagging'; lagging: MessageOf<'lagging'> }
  | { type: 'designate'; name: string }
  /** The deadline for reports after an RM restart passed: decide with what is known. */
  | { type: 'reportDeadline' };

export type RmCommand =
  /** A message for a server, routed RM → GFD → LFD → server. */
  | { type: 'send'; msg: Message }
  /** The set of ready replicas or the leader changed: push new views to clients. */
  | { type: 'views' }
  | { type: 'trace'; category: 'membership' | 'state' | 'fault'; text: string }
  /** Start the report deadline: after an RM restart found existing replicas, or while choosing a new leader. */
  | { type: 'awaitReports'; why: 'restart' | 'election' | 'lastReady' };

export class ReplicationCore {
  readonly members = new Map<string, ReplicaState>();
  leader: string | undefined;
  epoch = 0;
  preferred: string | undefined;
  /** Replicas asked for their state after an RM restart, not yet answered. */
  private readonly awaiting = new Set<string>();
  /** The epoch each replica reported after an RM restart. */
  private readonly reportedEpoch = new Map<string, number>();
  /** What each replica last said it holds: the epoch of its state (not of its role) and the last sequence number. */
  private readonly holds = new Map<string, Holding>();
  /** While the ready replicas are asked what they hold after the leader failed: why it is replaced. */
  private electing: string | undefined;
  /** Replicas asked what they hold since the last choice: each is asked once per election. */
  private readonly asked = new Set<string>();
  /** No ready replica is left and none left holds what was acknowledged: wait (rm --recovery-wait) for one to register again. */
  private waitingForCurrent = false;
  /** The election deadline passed since the last choice. */
  private deadlinePassed = false;
  /**
   * The ready replica whose loss left no ready replica, and what it last reported holding: it held
   * everything acknowledged (a commit waits for every ready follower; any other replica may lack
   * commits made without it), so the RM continues from it if it comes back before the deadline
   * (suspected, not dead), or holding at least that (durable, relaunched from its disk).
   */
  private lastReady: string | undefined;
  private lastReadyHeld: Holding | undefined;

  /**
   * @param leaderLoad With several replica groups: how many other groups' leaders run on the
   *   machine of a replica. Of the ready replicas none of which is preferred, one on the machine
   *   with the fewest leaders is elected, so leaders spread over machines (name order on ties).
   */
  constructor(
    readonly mode: Mode,
    preferred?: string,
    private readonly leaderLoad: (name: string) => number = () => 0,
  ) {
    this.preferred = preferred;
  }

  get leaderRole(): Role {
    return this.mode === 'passive' ? 'primary' : 'sequencer';
  }

  get followerRole(): Role {
    return this.mode === 'passive' ? 'backup' : 'member';
  }

  /** Ready replicas in name order. */
  ready(): ReplicaState[] {
    return [...this.members.values()].filter((m) => m.ready).sort((a, b) => byName(a.name, b.name));
  }

  names(): string[] {
    return [...this.members.keys()].sort(byName);
  }

  /** What clients are told: the primary (passive) or every ready replica (active). */
  view(): Member[] {
    if (this.mode === 'passive') {
      const p = this.leader ? this.members.get(this.leader) : undefined;
      return p?.ready ? [{ name: p.name, addr: p.addr }] : [];
    }
    return this.ready().map(({ name, addr }) => ({ name, addr }));
  }

  roleOf(name: string): Role {
    return name === this.leader ? this.leaderRole : this.followerRole;
  }

  handle(event: RmEvent): RmCommand[] {
    switch (event.type) {
      case 'members':
        return this.onMembers(event.members);
      case 'added':
        return this.onAdded(event.name, event.addr);
      case 'deleted':
        return this.onDeleted(event.name);
      case 'report':
        return this.onReport(event.report);
      case 'lagging':
        return this.onLagging(event.lagging);
      case 'designate':
        return this.onDesignate(event.name);
      case 'reportDeadline':
        return this.onReportDeadline();
    }
  }

  private get deciding(): boolean {
    return this.awaiting.size === 0 && !this.waitingForCurrent;
  }

  /** The GFD's full list, on every (re)connection: reconcile with what we hold. */
  private onMembers(list: Member[]): RmCommand[] {
    const out: RmCommand[] = [];
    const listed = new Set(list.map((m) => m.name));
    for (const name of [...this.members.keys()]) if (!listed.has(name)) out.push(...this.onDeleted(name));
    const fresh = list.filter((m) => !this.members.has(m.name) || this.members.get(m.name)!.addr !== m.addr);
    if (this.epoch === 0 && !this.leader && fresh.length > 0 && this.members.size === 0) {
      // A (re)started RM meeting replicas that may hold state and roles: ask before deciding anything.
      for (const m of fresh) {
        this.members.set(m.name, { name: m.name, addr: m.addr, ready: false });
        this.awaiting.add(m.name);
        out.push({ type: 'send', msg: { type: 'query', server: m.name } });
      }
      out.push({ type: 'awaitReports', why: 'restart' }, { type: 'trace', category: 'state', text: `RM: asking ${fresh.map((m) => m.name).join(', ')} for role, epoch and readiness before deciding` });
      return out;
    }
    for (const m of fresh) out.push(...this.onAdded(m.name, m.addr));
    // While the GFD was away, a ready replica may have left and come back (a delete and an add
    // we never saw) without its state: ask the ones we count as ready where they stand.
    for (const m of this.ready()) if (listed.has(m.name)) out.push({ type: 'send', msg: { type: 'query', server: m.name } });
    return out;
  }

  private onAdded(name: string, addr: string): RmCommand[] {
    const had = this.members.get(name);
    if (had?.addr === addr) return [];
    const out: RmCommand[] = had ? this.onDeleted(name) : [];
    this.holds.delete(name);
    this.asked.delete(name);
    this.members.set(name, { name, addr, ready: false });
    if (!this.deciding) {
      // Choosing a leader: a replica back from a false suspicion may hold what the others lack.
      if (this.electing && this.ready().length === 0) {
        this.asked.add(name);
        this.awaiting.add(name);
        out.push({ type: 'send', msg: { type: 'query', server: name } });
      }
      return out;
    }
    if (!this.leader) return [...out, ...this.elect(`${name} joined and there is no ${this.leaderRole}`)];
    // Roles first: a leader whose role was lost (the GFD was away) learns it before the checkpoint order.
    return [...out, ...rolesToAll(this, false), checkpointOrder(this, name)];
  }

  private onDeleted(name: string): RmCommand[] {
    const had = this.members.get(name);
    if (!had) return [];
    this.members.delete(name);
    if (had.ready && this.ready().length === 0) [this.lastReady, this.lastReadyHeld] = [name, this.holds.get(name)];
    this.holds.delete(name);
    const wasAwaited = this.awaiting.delete(name);
    this.reportedEpoch.delete(name);
    if (name === this.leader && !this.deciding) this.leader = undefined;
    if (!this.deciding) return [];
    if (wasAwaited) return this.resume();
    if (name === this.leader) return this.replaceLeader(`${this.leaderRole} ${name} failed`);
    return had.ready ? rolesToAll(this, true) : [];
  }

  private onReport(r: MessageOf<'report'>): RmCommand[] {
    const m = this.members.get(r.server);
    if (!m) return [];
    this.holds.set(r.server, { epoch: r.held, seq: r.seq });
    if (this.awaiting.delete(r.server)) {
      // A replica back from a false suspicion with the current epoch's state: no need to wait for more.
      if (this.waitingForCurrent && this.holdsAllAcknowledged(r.server)) this.waitingForCurrent = false;
      if (r.epoch > this.epoch) {
        // A higher epoch makes any leader picked from earlier reports out of date.
        this.epoch = r.epoch;
        this.leader = undefined;
      }
      this.reportedEpoch.set(r.server, r.epoch);
      m.ready = r.ready && r.mode === this.mode;
      if (m.ready && r.role === this.leaderRole && r.epoch === this.epoch) this.leader = r.server;
      return this.deciding ? this.resume() : [];
    }
    if (!this.deciding) return [];
    if (m.ready && !r.ready) {
      // Of the current epoch: it lost its state. Of an older one: it has not seen its latest role yet.
      return r.epoch >= this.epoch ? this.onLostReadiness(r.server) : [roleFor(this, r.server)];
    }
    if (m.ready && (r.epoch < this.epoch || r.role !== this.roleOf(r.server))) {
      // Ready, but its role was lost on the way (sent while the GFD was away): send it again, and
      // a leader that did not know it leads also gets the checkpoint orders it missed.
      const out: RmCommand[] = [{ type: 'trace', category: 'state', text: `RM: ${r.server} reports ${r.role} at epoch ${r.epoch}; telling it again: ${this.roleOf(r.server)} at epoch ${this.epoch}` }, roleFor(this, r.server)];
      if (r.server === this.leader) for (const other of this.members.values()) if (!other.ready) out.push(checkpointOrder(this, other.name));
      return out;
    }
    if (m.ready || !r.ready) return [];
    if (r.epoch < this.epoch) return [];
    // The newcomer installed a checkpoint of the current epoch: it is ready.
    m.ready = true;
    const out: RmCommand[] = [{ type: 'trace', category: 'state', text: `RM: ${r.server} caught up (checkpoint ${r.checkpoint}): ready` }];
    // A designated leader takes over as soon as it can (it was not there when the first leader was chosen).
    if (r.server === this.preferred && r.server !== this.leader) return [...out, ...this.elect(`${r.server} is ready and designated as ${this.leaderRole}`)];
    return [...out, ...rolesToAll(this, true)];
  }

  /**
   * The leader of the current epoch has waited a whole lag timeout for a ready follower that its
   * LFD still vouches for (a cut link between the two, a one-way cut, a link too slow to use).
   * Take it out of the group under a new epoch, so that nothing it holds of the old one can be
   * taken for current, and so that it serves no one; it rejoins through a checkpoint like any
   * newcomer, once the leader reaches it again. A report from anyone else, or of another epoch,
   * is out of date and ignored.
   */
  private onLagging(m: MessageOf<'lagging'>): RmCommand[] {
    const f = this.members.get(m.follower);
    if (!this.deciding || m.server !== this.leader || m.epoch !== this.epoch || !f?.ready || f.name === this.leader) {
      return [{ type: 'trace', category: 'state', text: `RM: ignoring ${m.server}'s report that ${m.follower} lags at epoch ${m.epoch}: out of date (epoch ${this.epoch}, ${this.leaderRole} ${this.leader ?? 'none'})` }];
    }
    f.ready = false;
    this.holds.delete(f.name);
    this.epoch++;
    this.lastReady = undefined;
    const out: RmCommand[] = [
      {
        type: 'trace',
        category: 'fault',
        text: `RM: ${m.server} has waited its lag timeout for ${f.name} (acknowledged seq ${m.acked}, not ${m.seq}) though its LFD vouches for it: ${f.name} leaves the group (epoch ${this.epoch}) and rejoins through a checkpoint`,
      },
    ];
    return [...out, ...rolesToAll(this, true), checkpointOrder(this, f.name)];
  }

  /** A replica we count as ready says it is not (it lost its LFD and came back): it catches up again. */
  private onLostReadiness(name: string): RmCommand[] {
    this.members.get(name)!.ready = false;
    const out: RmCommand[] = [{ type: 'trace', category: 'fault', text: `RM: ${name} reports that it is not ready any more; it must catch up again` }];
    if (name === this.leader) return [...out, ...this.replaceLeader(`${this.leaderRole} ${name} lost its state`)];
    return [...out, ...rolesToAll(this, true), checkpointOrder(this, name)];
  }

  private onReportDeadline(): RmCommand[] {
    if (this.deciding) return [];
    const missing = [...this.awaiting];
    this.awaiting.clear();
    this.deadlinePassed = true;
    const waited = this.waitingForCurrent;
    this.waitingForCurrent = false;
    const text = missing.length > 0 ? `RM: no report from ${missing.join(', ')}; deciding without them` : waited ? `RM: no replica holding the state of epoch ${this.epoch} registered again in time; deciding with those left` : '';
    return [...(text ? [{ type: 'trace', category: 'fault', text } as const] : []), ...this.resume()];
  }

  /**
   * The leader is gone. With one ready replica left there is nothing to compare; with more,
   * ask each what it holds (the answers come back as reports) before electing the most
   * up-to-date: a replica made ready a moment ago may lack entries the leader committed
   * with the others before its role reached the leader.
   */
  private replaceLeader(why: string): RmCommand[] {
    this.leader = undefined;
    const ready = this.ready();
    if (ready.length < 2) return this.elect(why);
    return this.askBeforeChoosing(why, ready);
  }

  /** Query `whom` for what they hold; the choice is made once they answered (or the deadline passed). */
  private askBeforeChoosing(why: string, whom: ReplicaState[]): RmCommand[] {
    this.electing = why;
    const out: RmCommand[] = [{ type: 'trace', category: 'state', text: `RM: ${why}; asking ${whom.map((m) => m.name).join(', ')} what they hold before choosing` }];
    for (const m of whom) {
      this.asked.add(m.name);
      this.holds.delete(m.name);
      this.awaiting.add(m.name);
      out.push({ type: 'send', msg: { type: 'query', server: m.name } });
    }
    out.push({ type: 'awaitReports', why: 'election' });
    return out;
  }

  /** After reports arrived: keep a leader that reported itself, else elect; bring the rest up to date. */
  private resume(): RmCommand[] {
    // Only replicas of the latest epoch hold the current state.
    for (const [name, epoch] of this.reportedEpoch) if (epoch < this.epoch) this.members.get(name)!.ready = false;
    this.reportedEpoch.clear();
    if (this.leader) {
      const out: RmCommand[] = [{ type: 'trace', category: 'state', text: `RM: ${this.leader} is ${this.leaderRole} at epoch ${this.epoch}` }];
      for (const m of this.members.values()) if (!m.ready) out.push(checkpointOrder(this, m.name));
      return [...out, ...rolesToAll(this, true)];
    }
    const why = this.electing ?? 'no replica reported itself as leader';
    this.electing = undefined;
    return this.elect(why, true);
  }

  private onDesignate(name: string): RmCommand[] {
    this.preferred = name;
    const m = this.members.get(name);
    if (!m?.ready || name === this.leader || !this.deciding) return [];
    return this.elect(`${name} designated as ${this.leaderRole}`);
  }

  /**
   * Whether `name` surely holds everything acknowledged in the current epoch: it holds this
   * epoch's state and, if the last ready replica was lost, it is that one.
   */
  private holdsAllAcknowledged(name: string): boolean {
    const now = this.holds.get(name);
    const held = now?.epoch ?? -1;
    const was = this.lastReady === name ? this.lastReadyHeld : undefined;
    if (was && now && now.epoch >= was.epoch && now.seq >= was.seq) return true;
    if (held !== this.epoch) return held > this.epoch;
    return this.lastReady === undefined || this.lastReady === name;
  }

  /**
   * Choose a leader among ready replicas: after they were asked what they hold, the most
   * up-to-date (the preferred one, then name order, on ties); otherwise the preferred one
   * if ready, else the first by name.
   */
  private elect(why: string, byRecency = false): RmCommand[] {
    const ready = this.ready();
    const out: RmCommand[] = [];
    let chosen = byRecency && ready.length > 0 ? mostRecent(ready, this.holds, this.preferred, this.leaderLoad) : (ready.find((m) => m.name === this.preferred) ?? leastLoaded(ready, this.leaderLoad));
    if (!chosen && this.members.size > 0) {
      // No ready replica is left. Continue from the replica that holds the most recent state
      // (a ready replica that was falsely suspected and came back holds everything acknowledged):
      // first ask those whose holdings we do not know, unless they were asked already.
      const all = [...this.members.values()];
      const unknown = all.filter((m) => !this.holds.has(m.name) && !this.asked.has(m.name));
      if (this.epoch > 0 && unknown.length > 0) return this.askBeforeChoosing(why, unknown);
      const safe = all.filter((m) => this.holdsAllAcknowledged(m.name));
      chosen = mostRecent(safe.length > 0 ? safe : all, this.holds, this.preferred, this.leaderLoad);
      if (this.epoch > 0 && !this.deadlinePassed && safe.length === 0) {
        // None of those left is sure to hold what was acknowledged in the current epoch: whoever
        // held it is gone, perhaps only suspected (a stall, a busy machine) and about to register
        // again. Continuing now would throw its state away: wait for the deadline.
        const ofEpoch = all.some((m) => (this.holds.get(m.name)?.epoch ?? -1) >= this.epoch);
        const lacking = ofEpoch ? `${this.lastReady}, the last ready replica, is not back` : `no replica left holds the state of epoch ${this.epoch}`;
        this.electing = why;
        this.waitingForCurrent = true;
        return [
          { type: 'trace', category: 'fault', text: `RM: ${why}; ${lacking}: waiting for one to register again before choosing` },
          { type: 'awaitReports', why: 'lastReady' },
        ];
      }
      chosen.ready = true;
      if (this.epoch > 0) {
        const h = this.holds.get(chosen.name);
        const what = h ? `the most recent state (epoch ${h.epoch}, seq ${h.seq})` : 'no reported state; requests acknowledged before may be lost';
        out.push({ type: 'trace', category: 'fault', text: `RM: no ready replica survived; ${chosen.name} continues with ${what}` });
      }
    }
    this.leader = chosen?.name;
    this.asked.clear();
    this.deadlinePassed = false;
    if (!chosen) {
      return [{ type: 'trace', category: 'fault', text: `RM: ${why}; no replica left to take over` }, { type: 'views' }];
    }
    this.epoch++;
    this.lastReady = undefined;
    const h = byRecency && ready.length > 1 ? this.holds.get(chosen.name) : undefined;
    const holding = h ? `, holding the most recent state (epoch ${h.epoch}, seq ${h.seq})` : '';
    out.push({ type: 'trace', category: 'state', text: `RM: ${why}; ${chosen.name} is ${this.leaderRole} (epoch ${this.epoch})${holding}` });
    out.push(...rolesToAll(this, true));
    for (const m of this.members.values()) if (!m.ready) out.push(checkpointOrder(this, m.name));
    return out;
  }
}
