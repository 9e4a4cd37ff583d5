/**
 * The replica's logic, as a pure core (etcd's raft `Step`): `step(event)` takes one event and
 * leaves commands in an outbox that the shell (servers/server.ts) carries out. No sockets,
 * timers, clock or environment here.
 *
 * One replica is the leader (passive primary or active sequencer). It numbers each new
 * request and sends it to every follower and newcomer: as a `log` entry that a passive backup
 * holds until the next checkpoint, or as an `order` that an active member applies in sequence.
 * A reply goes out only for a committed request: one that every ready follower of the leader's
 * group holds (`ack`), so no later failover can lose or reorder it. A deposed leader gets no
 * acks of its epoch (its followers refuse it), so it commits nothing and answers no one.
 *
 * Epochs come only from the RM (`role`, through the LFD), and are checked once, at the door
 * (door.ts). `setRole` is the one place the role changes: it swaps the handler (primary.ts,
 * backup.ts, sequencer.ts, member.ts, newcomer.ts) and traces `old -> new`.
 */
import type { Member, Message, MessageOf, Mode, Role as RoleOnWire } from '../../lib/protocol/index.js';
import type { Category } from '../../lib/trace/index.js';
import { ServiceState } from './state.js';
import { Tracker } from './progress.js';
import { Replies, forEachOwed, isOwed, type Owed, type Pending } from './replies.js';
import { Door } from './door.js';
import { Waiters } from './active.js';
import { control, detach, tellInForce } from './control.js';
import type { Role } from './role.js';
import { Primary } from './primary.js';
import { Backup } from './backup.js';
import { Sequencer } from './sequencer.js';
import { Member as MemberRole } from './member.js';
import { Newcomer } from './newcomer.js';
import { Outbox } from './outbox.js';
import { LagWatch } from './lag.js';
import { Watchers } from './watchers.js';
import { abandon, type Incoming } from './incoming.js';
import { NO_CONN, type ConnId, type CoreConfig, type Entry, type Fault, type PassiveStyle, type ReplicaEvent } from './types.js';

/** What the RM's `role` says about us. */
export interface RoleFields {
  mode: Mode | 'none';
  role: RoleOnWire;
  epoch: number;
  ready: boolean;
  leader: string;
  group: Member[];
}

export class ReplicaCore extends Outbox {
  readonly name: string;
  readonly state: ServiceState;
  readonly fault: Fault | undefined;
  /** What a passive primary does before it replies: log to every backup first, or nothing (checkpoint-only). */
  readonly passiveStyle: PassiveStyle;
  /** No RM: the shell stands in for it (servers/static.ts). */
  readonly isStatic: boolean;
  readonly wants: (category: Category) => boolean;
  /** Kept on disk: every entry applied or held is persisted (a `persist` command) before anything that depends on it goes out. */
  readonly durable: boolean;
  /** Active, while tracing requests: per client, the request whose Received line an order printed before the client's copy came. */
  private readonly receivedEarly = new Map<string, number>();
  checkpointMs: number;
  /** The leader's watch for a ready follower that holds every commit up (lag.ts). */
  readonly lag: LagWatch;

  mode: Mode | 'none' = 'none';
  role: RoleOnWire = 'none';
  epoch = 0;
  /** i_am_ready, as set by the RM. */
  ready = false;
  /** Holds the current state (installed a checkpoint, or was made ready): can be made ready. */
  caughtUp = false;
  leader = '';
  group: Member[] = [];

  /** Per peer we feed as leader: what it holds, whether it is up, where it stands in a sync. */
  readonly progress: Tracker;
  readonly replies = new Replies();
  /** Active: clients waiting for a request to be ordered. */
  readonly waiters = new Waiters();
  /** Clients watching the state (subscriptions). */
  readonly watchers: Watchers = new Watchers(this);
  readonly door: Door;
  /** Passive backup: entries held past the last checkpoint. Active: recent applied orders. */
  log: Entry[] = [];
  /** Active: orders that arrived ahead of a gap, by sequence number. */
  readonly early = new Map<number, Entry>();
  /**
   * The epoch of the state we hold: the epoch in which we last took an entry or a checkpoint from
   * the leader, or executed one as leader. Not the epoch of our role: a replica the RM gave a newer
   * epoch without its state (not ready, never caught up) must not outrank one that holds more.
   */
  heldEpoch = 0;
  /** The last sequence number every ready replica of the leader's group holds: nothing up to it can be lost. */
  commitSeq = 0;
  /** Active leader: the commit point last told to the members, and whether telling them again is due. */
  announcedCommit = 0;
  announceDue = false;
  /** Client connections whose peer has finished sending: closed once nothing more is owed on them. */
  readonly ending = new Set<ConnId>();
  /** The ack owed on each leader connection for the entries of this I/O batch. */
  readonly acksDue = new Map<ConnId, { to: string; seq: number }>();
  /** The connection the current leader feeds us on (to answer acks, forward requests), and its peer. */
  leaderConn: ConnId | undefined;
  leaderConnPeer = '';
  /** Active leader while syncing (and a passive one never): requests that wait for the sync to finish. */
  readonly held: Array<Owed & { client: string; num: number; payload: string }> = [];
  /** Checkpoint orders for an epoch whose role has not reached us yet (it travels the same way, but may be lost). */
  readonly earlyOrders: Array<MessageOf<'sendCheckpoint'>> = [];
  /** The epoch of the checkpoint installed since the last role message (-1: none). */
  installedAtEpoch = -1;
  /** The highest epoch a follower answered at above ours that we traced (once each). */
  aheadTraced = 0;
  /** A checkpoint coming in parts from the leader, not installed yet (incoming.ts). */
  incoming: Incoming | undefined;
  /** Whether the passive primary's periodic checkpoint timer runs. */
  checkpointTimer = false;

  private readonly roles: Record<Role['name'], Role>;
  handler: Role;

  constructor(config: CoreConfig) {
    super();
    this.name = config.name;
    this.state = new ServiceState(config.app);
    this.checkpointMs = config.checkpointMs;
    this.lag = new LagWatch(this, config.lagMs);
    this.fault = config.fault;
    this.passiveStyle = config.passive ?? 'log';
    this.isStatic = config.static ?? false;
    this.wants = config.wants ?? (() => true);
    this.durable = config.durable ?? false;
    this.progress = new Tracker(config.name);
    this.door = new Door(this);
    this.roles = { primary: new Primary(this), backup: new Backup(this), sequencer: new Sequencer(this), member: new MemberRole(this), newcomer: new Newcomer(this) };
    this.handler = this.roles.newcomer;
  }

  /** A passive replica whose primary replies without logging: backups change only through checkpoints. */
  get checkpointOnly(): boolean {
    return this.mode === 'passive' && this.passiveStyle === 'checkpoint-only';
  }

  get isLeader(): boolean {
    return this.ready && this.leader === this.name && (this.role === 'primary' || this.role === 'sequencer');
  }

  step(e: ReplicaEvent): void {
    switch (e.type) {
      case 'request':
        return this.onRequest(e.conn, e.msg);
      case 'subscribe':
        return this.watchers.subscribe(e.conn, e.msg);
      case 'peer':
        if (e.msg.type === 'forward') return this.handler.forward(e.msg);
        return this.door.enter(e.conn, e.peer, e.msg);
      case 'follower':
        return this.fromFollower(e.peer, e.msg);
      case 'linkUp': {
        const p = this.progress.get(e.peer);
        if (!p) return;
        p.up = true;
        return this.handler.linkUp(p);
      }
      case 'linkDown': {
        const p = this.progress.get(e.peer);
        if (p) p.up = false;
        return;
      }
      case 'linkRefused':
        return this.trace('peer_refused', 'fault', `${this.name}: ${e.peer} refused our link: ${e.reason}`, { peer: e.peer, reason: e.reason });
      case 'control':
        return control(this, e.msg);
      case 'detached':
        return detach(this);
      case 'registered':
        return tellInForce(this);
      case 'closed':
        return this.connectionClosed(e.conn);
      case 'ended':
        this.ending.add(e.conn);
        return this.closeIfDone(e.conn);
      case 'timer':
        if (e.timer === 'lag') return this.lag.check();
        return this.handler.timer(e.timer);
      case 'flush':
        return this.flush();
    }
  }

  // ---- roles -----------------------------------------------------------------------

  private describeRole(): string {
    return `${this.role}${this.ready ? '' : ' (not ready)'} at epoch ${this.epoch}`;
  }

  private pickRole(): Role {
    if (this.isLeader) return this.mode === 'passive' ? this.roles.primary : this.roles.sequencer;
    if (this.ready) return this.mode === 'passive' ? this.roles.backup : this.roles.member;
    return this.roles.newcomer;
  }

  /** The one place a replica's role changes: trace `old -> new`, and swap the handler (leaving the old role first). */
  setRole(next: RoleFields, why: string): void {
    const before = this.describeRole();
    this.mode = next.mode;
    this.epoch = next.epoch;
    this.role = next.role;
    this.ready = next.ready;
    this.leader = next.leader;
    this.group = next.group;
    this.progress.setGroup(next.group);
    if (next.ready) this.caughtUp = true;
    const after = this.describeRole();
    if (before !== after) this.trace('role_changed', 'state', `${this.name}: ${before} -> ${after}`, { role: this.role, epoch: this.epoch, ready: this.ready, leader: this.leader });
    const handler = this.pickRole();
    if (handler !== this.handler) {
      const old = this.handler;
      this.handler = handler;
      old.leave(why);
      handler.enter();
    }
    this.watchers.update();
  }

  /** Why a replica that does not serve refuses a client. */
  get notHere(): string {
    return this.mode === 'passive' ? 'not_primary' : 'not_ready';
  }

  /** Tell the RM (through the LFD) where we stand. */
  report(): void {
    this.emit({
      type: 'toLfd',
      msg: { type: 'report', server: this.name, mode: this.mode, role: this.role, epoch: this.epoch, ready: this.caughtUp, checkpoint: this.state.checkpointCount, seq: this.heldSeq(), held: this.heldEpoch },
    });
  }

  /** The last sequence number we hold: applied, or (passive backup) logged past the checkpoint. */
  heldSeq(): number {
    return this.mode === 'passive' ? Math.max(this.state.seq, this.log.at(-1)?.seq ?? 0) : this.state.seq;
  }

  // ---- clients -----------------------------------------------------------------------

  /** The dedup decisions: a stale request is refused, a duplicate answered from the table, a new one handed to the role. */
  private onRequest(conn: ConnId, req: MessageOf<'request'>): void {
    if (this.wants('request')) {
      if (this.receivedEarly.get(req.client) === req.num) this.receivedEarly.delete(req.client);
      else this.traceReceived(req.client, req.num);
    }
    if (!this.ready) return this.handler.request(conn, req);
    const seen = this.state.lookup(req.client, req.num, req.payload);
    if (seen.kind === 'stale') return this.reject(conn, req.client, req.num, `stale: request_num ${seen.latest} already answered`);
    if (seen.kind === 'duplicate') return this.handler.duplicate(conn, req, seen.seq, seen.result);
    this.handler.request(conn, req);
  }

  /**
   * Active: a request reached us in an order (or a member's forward) before the client's own copy:
   * it is received now, so its line comes before `my_state … before processing`, and not again
   * when the client's copy arrives.
   */
  receivedInOrder(client: string, num: number): void {
    if (!this.wants('request')) return;
    this.receivedEarly.set(client, num);
    this.trace('request_received', 'request', `Received <${client}, ${this.name}, ${num}, request>`, { client, num, inOrder: true });
  }

  private traceReceived(client: string, num: number): void {
    this.trace('request_received', 'request', `Received <${client}, ${this.name}, ${num}, request>`, { client, num });
  }

  reply(conn: ConnId, client: string, num: number, result: string): void {
    this.emit({ type: 'send', conn, msg: { type: 'reply', client, server: this.name, num, result } });
    if (this.wants('reply')) this.trace('reply_sent', 'reply', `Sending <${client}, ${this.name}, ${num}, reply>`, { client, num, result });
    if (this.ending.size > 0) this.closeIfDone(conn);
  }

  reject(conn: ConnId, client: string, num: number, reason: string): void {
    this.emit({ type: 'send', conn, msg: { type: 'reject', client, server: this.name, num, reason } });
    this.trace('request_rejected', 'request', `Rejecting <${client}, ${this.name}, ${num}, request>: ${reason}`, { client, num, reason });
    if (this.ending.size > 0) this.closeIfDone(conn);
  }

  private connectionClosed(conn: ConnId): void {
    if (conn === this.leaderConn) this.leaderConn = undefined;
    if (conn === this.incoming?.conn) abandon(this, 'its link closed');
    this.door.forget(conn);
    this.ending.delete(conn);
    this.acksDue.delete(conn);
    this.replies.forget(conn);
    this.waiters.forget(conn);
    this.watchers.forget(conn);
  }

  /** A half-closed client connection is closed once the last reply it is owed has gone out. */
  closeIfDone(conn: ConnId): void {
    if (!this.ending.has(conn)) return;
    if (this.replies.owes(conn) || this.waiters.owes(conn)) return;
    for (const h of this.held) if (isOwed(h, conn)) return;
    this.ending.delete(conn);
    this.emit({ type: 'close', conn });
  }

  /** Apply one request with the course's before/after traces. */
  apply(client: string, num: number, payload: string, seq: number): string {
    const traced = this.wants('request');
    if (traced) this.trace('state_before', 'request', `my_state_${this.name} = ${this.state.app.describe()} before processing <${client}, ${this.name}, ${num}, request>`, { client, num, seq, state: this.state.app.describe() });
    const result = this.state.execute(client, num, payload, seq);
    this.heldEpoch = this.epoch;
    if (this.durable) this.emit({ type: 'persist', entry: { seq, client, num, payload }, epoch: this.epoch });
    if (traced) this.trace('state_after', 'request', `my_state_${this.name} = ${this.state.app.describe()} after processing <${client}, ${this.name}, ${num}, request>`, { client, num, seq, state: this.state.app.describe() });
    return result;
  }

  // ---- commit: replies only for what no failover can lose ----------------------------

  /** Reply on `conn` once `seq` is committed (at once if it already is). */
  replyWhenCommitted(conn: ConnId, seq: number, client: string, num: number, payload: string, result: string): void {
    this.replies.join(conn, seq, client, num, payload, result);
    this.replyCommitted();
  }

  /** Answer every pending request up to the commit point. A replica that is not ready answers no one. */
  replyCommitted(): void {
    if (!this.ready) return;
    // FTKIT_FAULT=early-reply: an active replica answers on apply, before commit.
    const upTo = this.fault === 'early-reply' && this.mode === 'active' ? Infinity : this.commitSeq;
    this.replies.takeUpTo(upTo, this.answer);
  }

  /** Send a committed request's reply on every connection it is owed on (one function for all: no closure per reply). */
  private readonly answer = (p: Pending): void => {
    if (p.conn !== NO_CONN) this.reply(p.conn, p.client, p.num, p.result);
    if (p.more) for (const c of p.more) this.reply(c, p.client, p.num, p.result);
  };

  commitTo(seq: number): void {
    if (seq <= this.commitSeq) return;
    this.commitSeq = seq;
    this.replyCommitted();
    this.watchers.update();
    this.announce();
  }

  /** Once per batch of I/O, the active sequencer tells the members what is committed. */
  announce(): void {
    if (!this.isLeader || this.mode !== 'active' || this.announceDue) return;
    this.announceDue = true;
    this.requestFlush();
  }

  /**
   * Leader: everything every other ready member holds is committed (everything we hold, alone).
   * A checkpoint-only primary waits for no one: what it executed is committed.
   */
  leaderCommit(): void {
    if (this.checkpointOnly) return this.commitTo(this.state.seq);
    this.commitTo(this.progress.heldByAll(this.state.seq));
    if (!this.lag.armed && this.commitSeq < this.state.seq) this.lag.arm();
  }

  /** Tell everyone waiting for a reply here to look elsewhere. */
  rejectPending(reason: string): void {
    for (const p of this.replies.takeAll()) forEachOwed(p, (c) => this.reject(c, p.client, p.num, reason));
  }

  forwardToLeader(client: string, num: number, payload: string): void {
    if (this.leaderConn !== undefined) this.emit({ type: 'send', conn: this.leaderConn, msg: { type: 'forward', from: this.name, to: this.leader, client, num, payload } });
  }

  // ---- followers' messages on our links, and the end of a batch ----------------------

  private fromFollower(peer: string, msg: Message): void {
    if ('from' in msg && msg.from !== peer) {
      return this.trace('peer_refused', 'fault', `${this.name}: refusing ${msg.type} from ${msg.from} on my link to ${peer}`, { from: msg.from, type: msg.type });
    }
    if (msg.type === 'forward') return this.handler.forward(msg);
    const p = this.progress.get(peer);
    if (p) this.handler.fromFollower(p, msg);
  }

  /** The end of an I/O batch: one cumulative ack per leader connection, one commit announcement per member. */
  private flush(): void {
    this.flushed();
    for (const [conn, due] of this.acksDue) this.emit({ type: 'send', conn, msg: { type: 'ack', from: this.name, to: due.to, seq: due.seq, epoch: this.epoch } });
    this.acksDue.clear();
    if (this.announceDue) {
      this.announceDue = false;
      if (!this.isLeader || this.commitSeq <= this.announcedCommit) return;
      this.announcedCommit = this.commitSeq;
      this.emit({ type: 'broadcast', peers: this.progress.feeds(), msg: { type: 'commit', from: this.name, to: '', seq: this.commitSeq, epoch: this.epoch } });
    }
  }
}
