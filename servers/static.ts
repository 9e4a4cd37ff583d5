/**
 * A replica without an RM (`ftkit server S1 --static`, or `--group …`): its mode, role, leader and
 * group are fixed when it starts, at epoch 1. This stands in for the RM: it gives the core the
 * messages the RM would have sent through the LFD (`role`, `send_checkpoint`), and takes what the
 * core says to the RM (`report`, `lagging`). It is pure: the shell (server.ts) shows it each event
 * it gives the core and each message the core sends upward, and gives the core what it returns.
 *
 * - The leader (passive primary, active sequencer) serves at once. It feeds every other member of
 *   the group, its link to each retrying until that member is up. A member is in its commit group
 *   (a reply waits for it) once it holds the leader's checkpoint on the current link; it leaves the
 *   group when that link drops or when the lag watch reports it, and rejoins when it installs the
 *   leader's next checkpoint (sent on every new link, and every checkpoint_freq in passive mode).
 * - A follower starts not ready and becomes ready when it has installed the leader's checkpoint.
 * - There is no failover: the leader is the one named at start. A follower whose leader is down
 *   waits for it; a leader that restarts starts from an empty state, and its first checkpoint
 *   replaces its followers' state.
 */
import type { Member, Message, Mode, Role } from '../lib/protocol/index.js';
import type { Category } from '../lib/trace/index.js';
import type { ControlMessage, ReplicaEvent } from './core/index.js';

/** The epoch of a group without an RM: it never changes, since nobody else ever leads. */
export const STATIC_EPOCH = 1;

export interface StaticGroup {
  mode: Mode;
  /** Every replica of the group, with the address the others reach it at (this one included). */
  members: Member[];
  /** The primary (passive) or sequencer (active). */
  leader: string;
}

export type StaticOutput = { type: 'control'; msg: ControlMessage } | { type: 'trace'; event: string; category: Category; text: string; data?: Record<string, unknown> };

export class StaticControl {
  /** Leader: the followers in its commit group. */
  private readonly joined = new Set<string>();
  /** Follower: it has installed the leader's checkpoint. */
  private ready: boolean;

  constructor(
    private readonly me: string,
    readonly group: StaticGroup,
  ) {
    if (!group.members.some((m) => m.name === me)) throw new Error(`${me} is not in its own group (${names(group.members)})`);
    if (!group.members.some((m) => m.name === group.leader)) throw new Error(`the leader ${group.leader} is not in the group (${names(group.members)})`);
    this.ready = this.isLeader;
  }

  get isLeader(): boolean {
    return this.group.leader === this.me;
  }

  private get others(): Member[] {
    return this.group.members.filter((m) => m.name !== this.me);
  }

  /** What the RM would say first: our role, and (leader) the order to feed every other member. */
  start(): StaticOutput[] {
    const { mode, members, leader } = this.group;
    const what = this.isLeader ? (mode === 'passive' ? 'primary' : 'sequencer') : `${mode === 'passive' ? 'backup' : 'member'} of ${leader}`;
    const out: StaticOutput[] = [
      trace('static_group', 'state', `${this.me}: no RM: ${mode} replication, ${what}; group ${names(members)} (fixed)`, { mode, leader, members: members.map((m) => m.name) }),
      this.role(),
    ];
    if (this.isLeader) for (const m of this.others) out.push(this.feed(m));
    return out;
  }

  /** After the core has taken `e`: a follower joins the leader's commit group, or leaves it. */
  after(e: ReplicaEvent): StaticOutput[] {
    if (!this.isLeader) return [];
    if (e.type === 'follower' && e.msg.type === 'installed' && e.msg.epoch === STATIC_EPOCH) return this.join(e.peer, e.msg.count);
    if (e.type === 'linkDown') return this.leave(e.peer, 'our link to it dropped');
    return [];
  }

  /** What the core sends to the RM: a follower that caught up becomes ready; the leader's lag report takes a follower out. */
  upward(msg: Message): StaticOutput[] {
    if (msg.type === 'report' && msg.server === this.me && msg.ready && !this.ready && !this.isLeader) {
      this.ready = true;
      return [this.role()];
    }
    if (msg.type === 'lagging' && msg.server === this.me && this.isLeader) return this.leave(msg.follower, `it has not acknowledged seq ${msg.seq} for a lag timeout`);
    return [];
  }

  private join(peer: string, count: number): StaticOutput[] {
    if (this.joined.has(peer) || !this.others.some((m) => m.name === peer)) return [];
    this.joined.add(peer);
    return [trace('group_joined', 'membership', `${this.me}: ${peer} holds my checkpoint ${count}: in the group (${names(this.current())})`, { peer, group: this.current().map((m) => m.name) }), this.role()];
  }

  /** Out of the commit group, but still fed: the feed order comes first, so that the link to it stays. */
  private leave(peer: string, why: string): StaticOutput[] {
    const m = this.others.find((o) => o.name === peer);
    if (!m || !this.joined.delete(peer)) return [];
    return [
      trace('group_left', 'fault', `${this.me}: ${peer} leaves the group (${why}); it rejoins when it holds my next checkpoint`, { peer, why, group: this.current().map((x) => x.name) }),
      this.feed(m),
      this.role(),
    ];
  }

  /** The leader and the followers in its commit group, in the order the group lists them. */
  private current(): Member[] {
    return this.group.members.filter((m) => m.name === this.me || this.joined.has(m.name));
  }

  private role(): StaticOutput {
    const { mode, leader, members } = this.group;
    const role: Role = this.isLeader ? (mode === 'passive' ? 'primary' : 'sequencer') : mode === 'passive' ? 'backup' : 'member';
    const group = this.isLeader ? this.current() : members;
    return { type: 'control', msg: { type: 'role', server: this.me, mode, role, epoch: STATIC_EPOCH, ready: this.ready, leader, group } };
  }

  private feed(target: Member): StaticOutput {
    return { type: 'control', msg: { type: 'sendCheckpoint', server: this.me, target, epoch: STATIC_EPOCH } };
  }
}

function names(members: readonly Member[]): string {
  return members.map((m) => m.name).join(', ');
}

function trace(event: string, category: Category, text: string, data?: Record<string, unknown>): StaticOutput {
  return { type: 'trace', event, category, text, data };
}
