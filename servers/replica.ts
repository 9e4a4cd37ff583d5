/**
 * Replication logic of one server, for both modes.
 *
 * One replica is the leader (passive primary or active sequencer). It numbers each
 * new request and sends it to every follower and newcomer: as a `log` entry that a
 * passive backup holds until the next checkpoint, or as an `order` that an active
 * member applies in sequence. Every connection a leader opens to a follower starts
 * with a checkpoint, so a follower is always fed a state and then what follows it.
 *
 * A reply goes out only for a committed request: one that every ready follower of the
 * leader's group holds (acknowledged with a cumulative `ack`), so that no later failover
 * can lose or reorder it. The leader learns it from the acks; in active mode it tells
 * the members with `commit`, and every ready replica answers the requests it waits for
 * up to there. A deposed leader gets no acks of its epoch (its followers refuse it), so
 * it commits nothing and answers no one, even when it runs on for a while without knowing.
 *
 * Passive: the primary executes, logs to the backups and replies once committed; a
 * backup promoted by the RM replays its log past the last checkpoint first.
 * Active: the sequencer orders and applies, every member applies in order, and every
 * ready replica replies once committed; a new sequencer first brings every replica to
 * the same last sequence number (`sync`) before ordering anything new.
 *
 * Epochs come only from the RM (the `role` message, through the LFD). A replica takes
 * checkpoint/log/order/commit/sync only from the leader the RM named for its current
 * epoch, and a leader takes them from no one. A lower epoch is refused (the follower says
 * so: that fences old leaders); a message of a higher epoch is held, with everything after
 * it on its connection, until the RM's role of that epoch arrives (the new leader's first
 * message may overtake it), and never makes anyone adopt that epoch or step down.
 */
import type { Connection, Security } from '../lib/net/index.js';
import type { Member, Message, MessageOf, Mode, Role } from '../lib/protocol/index.js';
import type { Category, Tracer } from '../lib/trace/index.js';
import { parseProperty } from '../lib/config/properties.js';
import type { App } from './apps.js';
import { Peers } from './peers.js';
import { ServiceState, digest } from './state.js';

export interface ReplicaIO {
  tracer: Tracer;
  /** Secrets and TLS files for the links to peer replicas. */
  security?: Security;
  /** Send a message up to the LFD (and through it to GFD and RM). */
  toLfd(msg: Message): boolean;
}

interface Entry {
  seq: number;
  client: string;
  num: number;
  payload: string;
}

/** An applied request with clients waiting for its reply, which goes out once `seq` is committed. */
interface Pending {
  seq: number;
  client: string;
  num: number;
  payload: string;
  result: string;
  /** One entry per copy of the request received: each gets its own reply. */
  conns: Connection[];
}

/** Environment variable that turns on a deliberate fault, for testing the chaos checker. */
export const FAULT_ENV = 'FTKIT_FAULT';

/** How many applied orders an active replica keeps at least (up to twice as many) to bring a peer up to date after a failover. */
const ORDER_LOG_LIMIT = 10_000;
/** How long a new sequencer waits for the others' sync answers before it goes on without them. */
const SYNC_DEADLINE_MS = 1000;
/** How many messages of an epoch the RM has not given us yet one connection may have waiting for the role. */
const AHEAD_LIMIT = 4096;

/** What only the leader the RM named sends to a replica. */
type LeaderMessage = MessageOf<'checkpoint' | 'log' | 'order' | 'commit' | 'sync'>;
/** What a peer replica may send on a connection it opened with `welcome`. */
export type PeerMessage = LeaderMessage | MessageOf<'forward'>;
const PEER_TYPES: ReadonlySet<string> = new Set<PeerMessage['type']>(['checkpoint', 'log', 'order', 'commit', 'sync', 'forward']);

export function isPeerMessage(msg: Message): msg is PeerMessage {
  return PEER_TYPES.has(msg.type);
}

export class Replica {
  mode: Mode | 'none' = 'none';
  role: Role = 'none';
  epoch = 0;
  /** i_am_ready, as set by the RM. */
  ready = false;
  /** Holds the current state (installed a checkpoint, or was made ready): can be made ready. */
  caughtUp = false;
  leader = '';
  group: Member[] = [];
  readonly state: ServiceState;
  private readonly peers: Peers;
  /** Newcomers the leader feeds after sending them a checkpoint, until they are ready. */
  private readonly newcomers = new Map<string, Member>();
  /** Passive backup: entries held past the last checkpoint. Active: recent applied orders. */
  private log: Entry[] = [];
  /** Active: orders that arrived ahead of a gap, by sequence number. */
  private readonly early = new Map<number, Entry>();
  /** Replies waiting for their request to be committed, in sequence order. */
  private pending = new Map<number, Pending>();
  private pendingTail = 0;
  /** Leader: the last sequence number each follower has acknowledged holding. */
  private readonly acked = new Map<string, number>();
  /** The last sequence number every ready replica of the leader's group holds: nothing up to it can be lost. */
  private commitSeq = 0;
  /** Active leader: the commit point last told to the members, and whether telling them again is scheduled. */
  private announcedCommit = 0;
  private announceScheduled = false;
  /** Client connections whose peer has finished sending: closed once nothing more is owed on them. */
  private readonly ending = new Set<Connection>();
  /** FTKIT_FAULT=early-reply: reply on apply, before commit (a deliberately broken build for the chaos checker). */
  private readonly earlyReply = process.env[FAULT_ENV] === 'early-reply';
  /** Passive backup: the ack owed on each leader connection for the entries of this batch. */
  private readonly acksDue = new Map<Connection, { to: string; seq: number }>();
  /** Active: clients waiting for a request to be ordered, by `client:num`. */
  private readonly waiters = new Map<string, { client: string; num: number; payload: string; conns: Connection[] }>();
  /** The connection the current leader feeds us on (to answer acks, forward requests). */
  private leaderConn: Connection | undefined;
  /** Active leader after a failover: answers still expected before ordering resumes. */
  private syncing: Map<string, number | undefined> | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private readonly held: Array<{ conn: Connection; msg: MessageOf<'request'> | MessageOf<'forward'> }> = [];
  private checkpointTimer: NodeJS.Timeout | undefined;
  /** Checkpoint orders for an epoch whose role has not reached us yet (it travels the same way, but may be lost). */
  private readonly earlyOrders: Array<MessageOf<'sendCheckpoint'>> = [];
  /** The epoch of the checkpoint installed since the last role message (-1: none). */
  private installedAtEpoch = -1;
  /** New sequencer: members asked to sync whose answer has not come. */
  private readonly syncAsked = new Set<string>();
  /** Per peer connection: messages of an epoch the RM has not given us yet, and what followed them, in arrival order. */
  private readonly ahead = new Map<Connection, LeaderMessage[]>();
  /** The highest epoch a follower's ack carried above ours that we traced (once each). */
  private ackAheadTraced = 0;

  constructor(
    readonly name: string,
    app: App,
    private checkpointMs: number,
    private readonly io: ReplicaIO,
  ) {
    this.state = new ServiceState(app);
    this.peers = new Peers(name, io.security, {
      onUp: (peer) => this.onPeerUp(peer),
      onMessage: (peer, conn, msg) => this.fromFollower(peer, conn, msg),
      onRefused: (peer, reason) => this.trace('peer_refused', 'fault', `${this.name}: ${peer} refused our link: ${reason}`, { peer, reason }),
    });
  }

  get isLeader(): boolean {
    return this.ready && this.leader === this.name && (this.role === 'primary' || this.role === 'sequencer');
  }

  stop(): void {
    clearInterval(this.checkpointTimer);
    clearTimeout(this.syncTimer);
    this.peers.closeAll();
  }

  // ---- tracing -----------------------------------------------------------------

  private trace(type: string, category: Category, text: string, data?: Record<string, unknown>): void {
    this.io.tracer.emitEvent(type, category, text, data);
  }

  private myState(): string {
    return this.state.app.describe();
  }

  // ---- inbound: clients and peer replicas -------------------------------------

  /**
   * A message on an inbound connection: a client's `request`, or (server.ts checked that the
   * connection began with `welcome` and that `from` is the name it gave) a peer replica's.
   */
  receive(conn: Connection, msg: MessageOf<'request'> | PeerMessage): void {
    switch (msg.type) {
      case 'request':
        conn.peer = msg.client;
        return this.onRequest(conn, msg);
      case 'forward':
        return this.onForward(conn, msg);
      default: {
        // An epoch the RM has not given us yet waits for our role, and so does everything after it.
        const queue = this.ahead.get(conn);
        if (queue || msg.epoch > this.epoch) return this.holdAhead(conn, msg, queue);
        return this.fromLeader(conn, msg);
      }
    }
  }

  private fromLeader(conn: Connection, msg: LeaderMessage): void {
    if (!this.admit(conn, msg)) return;
    switch (msg.type) {
      case 'checkpoint':
        return this.onCheckpoint(conn, msg);
      case 'log':
        return this.onLog(conn, msg);
      case 'order':
        return this.onOrder(conn, msg);
      case 'commit':
        // Active member: the sequencer says what every member holds.
        return this.commitTo(msg.seq);
      case 'sync':
        return this.onSync(conn, msg);
    }
  }

  private holdAhead(conn: Connection, msg: LeaderMessage, queue: LeaderMessage[] | undefined): void {
    if (!queue) {
      this.ahead.set(conn, (queue = []));
      this.trace('held_ahead', 'state', `${this.name}: ${msg.from} sends ${msg.type} of epoch ${msg.epoch}; the RM has given me epoch ${this.epoch}: holding what it sends until my role of that epoch`, { from: msg.from, epoch: msg.epoch });
    }
    if (queue.length >= AHEAD_LIMIT) {
      this.ahead.delete(conn);
      this.trace('held_overflow', 'fault', `${this.name}: ${AHEAD_LIMIT} messages from ${msg.from} wait for a role of epoch ${queue[0]!.epoch} (mine is ${this.epoch}); dropping them and closing the connection`, { from: msg.from, epoch: queue[0]!.epoch });
      conn.close();
      return;
    }
    queue.push(msg);
  }

  /** After a role: what each connection held up to our epoch goes through, in order; what is still ahead waits. */
  private releaseAhead(): void {
    for (const [conn, queue] of this.ahead) {
      let i = 0;
      while (i < queue.length && queue[i]!.epoch <= this.epoch) this.fromLeader(conn, queue[i++]!);
      if (i === queue.length) this.ahead.delete(conn);
      else queue.splice(0, i);
    }
  }

  connectionClosed(conn: Connection): void {
    if (conn === this.leaderConn) this.leaderConn = undefined;
    this.ahead.delete(conn);
    this.ending.delete(conn);
    for (const p of this.pending.values()) p.conns = p.conns.filter((c) => c !== conn);
    for (const w of this.waiters.values()) w.conns = w.conns.filter((c) => c !== conn);
  }

  /**
   * The peer finished sending (a half-close, as `nc` does at the end of its input). Its
   * replies are still owed: close our side once the last of them has gone out.
   */
  connectionEnded(conn: Connection): void {
    this.ending.add(conn);
    this.closeIfDone(conn);
  }

  private closeIfDone(conn: Connection): void {
    if (!this.ending.has(conn)) return;
    for (const p of this.pending.values()) if (p.conns.includes(conn)) return;
    for (const w of this.waiters.values()) if (w.conns.includes(conn)) return;
    for (const h of this.held) if (h.conn === conn) return;
    this.ending.delete(conn);
    conn.close();
  }

  private reply(conn: Connection, client: string, num: number, result: string): void {
    conn.send({ type: 'reply', client, server: this.name, num, result });
    this.trace('reply_sent', 'reply', `Sending <${client}, ${this.name}, ${num}, reply>`, { client, num, result });
    if (this.ending.size > 0) this.closeIfDone(conn);
  }

  private reject(conn: Connection, client: string, num: number, reason: string): void {
    conn.send({ type: 'reject', client, server: this.name, num, reason });
    this.trace('request_rejected', 'request', `Rejecting <${client}, ${this.name}, ${num}, request>: ${reason}`, { client, num, reason });
    if (this.ending.size > 0) this.closeIfDone(conn);
  }

  private onRequest(conn: Connection, req: MessageOf<'request'>): void {
    this.trace('request_received', 'request', `Received <${req.client}, ${this.name}, ${req.num}, request>`, { client: req.client, num: req.num });
    if (!this.ready) {
      // An active newcomer replies to nobody; a passive one tells the client to look elsewhere.
      if (this.mode !== 'active') this.reject(conn, req.client, req.num, 'not_ready');
      return;
    }
    const seen = this.state.lookup(req.client, req.num);
    if (seen.kind === 'stale') return this.reject(conn, req.client, req.num, `stale: request_num ${seen.latest} already answered`);
    if (seen.kind === 'duplicate') {
      if (this.mode === 'passive' && this.role !== 'primary') return this.reject(conn, req.client, req.num, 'not_primary');
      if (this.mode === 'active') {
        this.trace('already_ordered', 'request', `<${req.client}, ${this.name}, ${req.num}, request> already applied in order: replying`, { client: req.client, num: req.num });
      } else {
        this.trace('duplicate_request', 'duplicate', `request_num ${req.num} from ${req.client} already executed: answering from the dedup table`, { client: req.client, num: req.num });
      }
      return this.replyWhenCommitted(conn, { seq: seen.seq, client: req.client, num: req.num, payload: req.payload, result: seen.result });
    }
    if (this.mode === 'passive') {
      if (this.role !== 'primary') return this.reject(conn, req.client, req.num, 'not_primary');
      return this.executeAsPrimary(conn, req);
    }
    this.activeRequest(conn, req.client, req.num, req.payload);
  }

  /** Apply one request with the course's before/after traces. */
  private apply(client: string, num: number, payload: string, seq: number): string {
    const brief = `<${client}, ${this.name}, ${num}, request>`;
    this.trace('state_before', 'request', `my_state_${this.name} = ${this.myState()} before processing ${brief}`, { client, num, seq, state: this.myState() });
    const result = this.state.execute(client, num, payload, seq);
    this.trace('state_after', 'request', `my_state_${this.name} = ${this.myState()} after processing ${brief}`, { client, num, seq, state: this.myState() });
    return result;
  }

  // ---- commit: replies only for what no failover can lose --------------------------

  /** Reply on `conn` once `entry.seq` is committed (at once if it already is). */
  private replyWhenCommitted(conn: Connection, entry: Omit<Pending, 'conns'>): void {
    const waiting = this.pending.get(entry.seq);
    if (waiting && waiting.client === entry.client && waiting.num === entry.num) waiting.conns.push(conn);
    else this.addPending({ ...entry, conns: [conn] });
    this.replyCommitted();
  }

  /** Keep pending replies in sequence order (an entry is almost always the latest). */
  private addPending(p: Pending): void {
    const inOrder = this.pending.size === 0 || p.seq > this.pendingTail;
    this.pending.set(p.seq, p);
    if (inOrder) this.pendingTail = p.seq;
    else this.pending = new Map([...this.pending].sort(([a], [b]) => a - b));
  }

  /** The highest sequence number this replica may answer for. */
  private get answerable(): number {
    return this.earlyReply && this.mode === 'active' ? Infinity : this.commitSeq;
  }

  /** Answer every pending request up to the commit point. A replica that is not ready answers no one. */
  private replyCommitted(): void {
    if (!this.ready) return;
    const upTo = this.answerable;
    // Pending replies are kept in sequence order, so the map iterates in that order.
    for (const p of this.pending.values()) {
      if (p.seq > upTo) return;
      this.pending.delete(p.seq);
      for (const conn of p.conns) this.reply(conn, p.client, p.num, p.result);
    }
  }

  private commitTo(seq: number): void {
    if (seq <= this.commitSeq) return;
    this.commitSeq = seq;
    this.replyCommitted();
    this.scheduleAnnounce();
  }

  /** Once per batch of I/O, the active sequencer tells the members what is committed. */
  private scheduleAnnounce(): void {
    if (!this.isLeader || this.mode !== 'active' || this.announceScheduled) return;
    this.announceScheduled = true;
    setImmediate(() => this.announceCommit());
  }

  private announceCommit(): void {
    this.announceScheduled = false;
    if (!this.isLeader || this.commitSeq <= this.announcedCommit) return;
    this.announcedCommit = this.commitSeq;
    for (const f of this.followers()) this.peers.send(f.name, { type: 'commit', from: this.name, to: f.name, seq: this.commitSeq, epoch: this.epoch });
  }

  /** Leader: everything every other ready member holds is committed (everything we hold, alone). */
  private leaderCommit(): void {
    let held = this.state.seq;
    for (const m of this.group) if (m.name !== this.name) held = Math.min(held, this.acked.get(m.name) ?? 0);
    this.commitTo(held);
  }

  /**
   * Our state was replaced (a checkpoint), or we stopped serving: the replies we were
   * holding may belong to entries that are gone. Look each request up again.
   */
  private reresolvePending(): void {
    const all = [...this.pending.values()];
    this.pending = new Map();
    const refused: Pending[] = [];
    for (const p of all) {
      const seen = this.state.lookup(p.client, p.num);
      if (seen.kind === 'duplicate') this.addPending({ ...p, seq: seen.seq, result: seen.result });
      else if (seen.kind === 'new' && this.mode === 'active') {
        for (const c of p.conns) this.waitFor(c, p.client, p.num, p.payload);
        if (!this.isLeader) this.forwardToLeader(p.client, p.num, p.payload);
      } else refused.push(p);
    }
    // Only now: a half-closed connection is closed on its last answer, and it may still be owed others.
    for (const p of refused) for (const c of p.conns) this.reject(c, p.client, p.num, this.mode === 'passive' ? 'not_primary' : 'not_ready');
  }

  /** Tell everyone waiting for a reply here to look elsewhere. */
  private rejectPending(reason: string): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) for (const c of p.conns) this.reject(c, p.client, p.num, reason);
  }

  // ---- passive ---------------------------------------------------------------------

  /** Everyone the leader feeds: ready followers and newcomers. */
  private followers(): Member[] {
    const out = new Map(this.group.filter((m) => m.name !== this.name).map((m) => [m.name, m]));
    for (const [name, m] of this.newcomers) out.set(name, m);
    return [...out.values()];
  }

  private executeAsPrimary(conn: Connection, req: MessageOf<'request'>): void {
    const seq = this.state.seq + 1;
    const result = this.apply(req.client, req.num, req.payload, seq);
    for (const f of this.followers()) {
      this.peers.send(f.name, { type: 'log', from: this.name, to: f.name, seq, client: req.client, num: req.num, payload: req.payload, epoch: this.epoch });
    }
    this.addPending({ seq, client: req.client, num: req.num, payload: req.payload, result, conns: [conn] });
    this.leaderCommit();
  }

  private onLog(conn: Connection, msg: MessageOf<'log'>): void {
    this.log.push({ seq: msg.seq, client: msg.client, num: msg.num, payload: msg.payload });
    this.trace('log_held', 'request', `${this.name} holds <${msg.client}, ${msg.from}, ${msg.num}, request> from ${msg.from} (seq ${msg.seq})`, { client: msg.client, num: msg.num, seq: msg.seq });
    this.ackLater(conn, msg.from, msg.seq);
  }

  /**
   * Acks are cumulative: entries that arrived in one batch are acknowledged by one ack
   * for the last of them, sent when the batch has been handled (before the write leaves).
   */
  private ackLater(conn: Connection, to: string, seq: number): void {
    const due = this.acksDue.get(conn);
    if (due) return void (due.seq = Math.max(due.seq, seq));
    this.acksDue.set(conn, { to, seq });
    setImmediate(() => {
      const { seq: last } = this.acksDue.get(conn)!;
      this.acksDue.delete(conn);
      conn.send({ type: 'ack', from: this.name, to, seq: last, epoch: this.epoch });
    });
  }

  /** A passive backup becoming primary executes its held log past the last checkpoint. */
  private replayLog(): void {
    const entries = this.log.filter((e) => e.seq > this.state.seq).sort((a, b) => a.seq - b.seq);
    this.log = [];
    if (process.env[FAULT_ENV] === 'skip-log-replay') {
      // A deliberately broken build, for showing that the chaos checker catches lost requests.
      this.trace('fault_injected', 'fault', `${this.name}: ${FAULT_ENV}=skip-log-replay: dropping ${entries.length} logged request(s) instead of replaying them`);
      return;
    }
    if (entries.length === 0) return;
    this.trace('log_replay', 'checkpoint', `${this.name} replays ${entries.length} logged request(s) past checkpoint ${this.state.checkpointCount}`, { count: entries.length });
    for (const e of entries) {
      if (this.state.lookup(e.client, e.num).kind === 'new') this.apply(e.client, e.num, e.payload, e.seq);
      else this.state.seq = e.seq;
    }
  }

  // ---- active ----------------------------------------------------------------------

  private activeRequest(conn: Connection, client: string, num: number, payload: string): void {
    if (this.isLeader) {
      if (this.syncing) return void this.held.push({ conn, msg: { type: 'request', client, server: this.name, num, payload } });
      this.waitFor(conn, client, num, payload);
      return this.order(client, num, payload);
    }
    this.waitFor(conn, client, num, payload);
    this.forwardToLeader(client, num, payload);
  }

  private waitFor(conn: Connection | undefined, client: string, num: number, payload: string): void {
    const key = `${client}:${num}`;
    const w = this.waiters.get(key) ?? { client, num, payload, conns: [] };
    if (conn) w.conns.push(conn);
    this.waiters.set(key, w);
  }

  private forwardToLeader(client: string, num: number, payload: string): void {
    this.leaderConn?.send({ type: 'forward', from: this.name, to: this.leader, client, num, payload });
  }

  /** The sequencer numbers a new request, sends the order to everyone, and applies it. */
  private order(client: string, num: number, payload: string): void {
    if (this.state.lookup(client, num).kind !== 'new') return;
    const entry: Entry = { seq: this.state.seq + 1, client, num, payload };
    for (const f of this.followers()) this.peers.send(f.name, { type: 'order', from: this.name, to: f.name, ...entry, epoch: this.epoch });
    this.deliver(entry);
    this.leaderCommit();
  }

  private onForward(conn: Connection, msg: MessageOf<'forward'>): void {
    if (!this.isLeader) return;
    if (!this.group.some((m) => m.name === msg.from)) {
      return this.trace('peer_refused', 'fault', `${this.name}: refusing forward from ${msg.from}: not in the group the RM gave me (${this.group.map((m) => m.name).join(', ')})`, { from: msg.from, type: msg.type });
    }
    if (this.syncing) return void this.held.push({ conn, msg });
    this.order(msg.client, msg.num, msg.payload);
  }

  private onOrder(conn: Connection, msg: MessageOf<'order'>): void {
    this.deliverInOrder({ seq: msg.seq, client: msg.client, num: msg.num, payload: msg.payload });
    // A member acknowledges what it holds in sequence, so that the sequencer can commit it.
    this.ackLater(conn, msg.from, this.state.seq);
  }

  /** Apply an order when its turn comes; orders past a gap wait for it. */
  private deliverInOrder(entry: Entry): void {
    if (entry.seq <= this.state.seq) return;
    this.early.set(entry.seq, entry);
    for (let next = this.early.get(this.state.seq + 1); next; next = this.early.get(this.state.seq + 1)) {
      this.early.delete(next.seq);
      this.deliver(next);
    }
  }

  /** Apply an order in sequence; whoever waits for it is answered once it is committed. */
  private deliver(e: Entry): void {
    let result: string;
    const seen = this.state.lookup(e.client, e.num);
    if (seen.kind === 'new') result = this.apply(e.client, e.num, e.payload, e.seq);
    else {
      this.state.seq = e.seq;
      result = seen.kind === 'duplicate' ? seen.result : '';
    }
    this.log.push(e);
    // Trim in chunks, so keeping the recent orders costs O(1) per order.
    if (this.log.length >= 2 * ORDER_LOG_LIMIT) this.log.splice(0, this.log.length - ORDER_LOG_LIMIT);
    const key = `${e.client}:${e.num}`;
    const w = this.waiters.get(key);
    this.waiters.delete(key);
    if (w && w.conns.length > 0 && this.ready && seen.kind !== 'stale') {
      this.addPending({ seq: e.seq, client: e.client, num: e.num, payload: e.payload, result, conns: w.conns });
      this.replyCommitted();
    }
  }

  /** A new sequencer asks: send me the orders you have past `seq`, and tell me your last one. */
  private onSync(conn: Connection, msg: MessageOf<'sync'>): void {
    for (const e of this.log) if (e.seq > msg.seq) conn.send({ type: 'order', from: this.name, to: msg.from, ...e, epoch: this.epoch });
    conn.send({ type: 'ack', from: this.name, to: msg.from, seq: this.state.seq, epoch: this.epoch });
  }

  /** Become sequencer: collect every ready member's last sequence number before ordering. */
  private startSync(): void {
    const members = this.group.filter((m) => m.name !== this.name).map((m) => m.name);
    if (members.length === 0) {
      // Nobody to agree with: order what clients forwarded to the leader we replaced.
      for (const w of [...this.waiters.values()]) this.order(w.client, w.num, w.payload);
      return;
    }
    this.syncing = new Map(members.map((m) => [m, undefined]));
    this.trace('sync_started', 'checkpoint', `${this.name}: new sequencer at seq ${this.state.seq}; bringing ${members.join(', ')} to the same last order`, { seq: this.state.seq });
    this.syncTimer = setTimeout(() => this.finishSync(), SYNC_DEADLINE_MS);
  }

  private finishSync(): void {
    const answers = this.syncing;
    if (!answers) return;
    this.syncing = undefined;
    clearTimeout(this.syncTimer);
    // Orders a member sent past a gap we could not fill were never committed (we were in the group): drop them.
    this.early.clear();
    const oldest = this.log[0]?.seq ?? this.state.seq + 1;
    for (const [peer, seq] of answers) {
      if (this.newcomers.has(peer)) continue;
      // No answer, too far behind, or still ahead of us (its tail past a gap): it starts again from our state.
      if (seq === undefined || seq < oldest - 1 || seq > this.state.seq) {
        this.acked.delete(peer);
        this.sendCheckpointTo(peer);
      } else for (const e of this.log) if (e.seq > seq) this.peers.send(peer, { type: 'order', from: this.name, to: peer, ...e, epoch: this.epoch });
    }
    this.leaderCommit();
    this.scheduleAnnounce();
    // A newcomer becomes ready only by installing a checkpoint, even if it answered the sync
    // (a member that was relaunched while we synced is a newcomer now).
    for (const name of this.newcomers.keys()) if (this.peers.isUp(name)) this.sendCheckpointTo(name);
    this.trace('sync_done', 'checkpoint', `${this.name}: every replica at seq ${this.state.seq}; ordering resumes`, { seq: this.state.seq });
    for (const w of this.waiters.values()) this.order(w.client, w.num, w.payload);
    for (const { conn, msg } of this.held.splice(0)) {
      if (msg.type === 'request') this.activeRequest(conn, msg.client, msg.num, msg.payload);
      else this.order(msg.client, msg.num, msg.payload);
    }
  }

  // ---- checkpoints -----------------------------------------------------------------

  private sendCheckpointTo(peer: string): void {
    const cp = this.state.checkpoint();
    if (this.peers.send(peer, { type: 'checkpoint', from: this.name, to: peer, ...cp, epoch: this.epoch })) {
      this.trace('checkpoint_sent', 'checkpoint', `[${cp.count}] [my_state=${this.myState()}] ${this.name} sending checkpoint to ${peer}`, { to: peer, count: cp.count, seq: cp.seq, digest: digest(cp.state) });
      // A member fed a fresh state also learns what of it is committed, for the retries it holds.
      if (this.mode === 'active' && this.commitSeq > 0) this.peers.send(peer, { type: 'commit', from: this.name, to: peer, seq: this.commitSeq, epoch: this.epoch });
    }
  }

  /** The passive primary's periodic checkpoint, to every backup. */
  private checkpointAll(): void {
    const targets = this.followers().filter((f) => this.peers.isUp(f.name));
    if (!this.isLeader || targets.length === 0) return;
    const cp = this.state.checkpoint();
    const fingerprint = digest(cp.state);
    for (const f of targets) {
      this.peers.send(f.name, { type: 'checkpoint', from: this.name, to: f.name, ...cp, epoch: this.epoch });
      this.trace('checkpoint_sent', 'checkpoint', `[${cp.count}] [my_state=${this.myState()}] ${this.name} sending checkpoint to ${f.name}`, { to: f.name, count: cp.count, seq: cp.seq, digest: fingerprint });
    }
  }

  private onCheckpoint(conn: Connection, msg: MessageOf<'checkpoint'>): void {
    try {
      this.state.install(msg);
    } catch (err) {
      this.trace('checkpoint_bad', 'fault', `${this.name}: cannot install checkpoint ${msg.count} from ${msg.from}: ${(err as Error).message}`);
      return;
    }
    // The state the leader holds contains everything committed; an older one means the RM
    // continued from a replica that was behind (no ready replica survived): count commits from it.
    if (msg.seq < this.commitSeq) this.commitSeq = msg.seq;
    // Everything held so far is covered: the leader sent it before this checkpoint.
    this.installedAtEpoch = this.epoch;
    // Everything the leader sends after it follows it on this connection; anything held from
    // before (an older leader's entries past it included) is replaced.
    this.log = [];
    this.early.clear();
    this.trace('checkpoint_received', 'checkpoint', `[${msg.count}] [my_state=${this.myState()}] ${this.name} receives checkpoint from ${msg.from}`, { from: msg.from, count: msg.count, seq: msg.seq, digest: digest(msg.state) });
    conn.send({ type: 'ack', from: this.name, to: msg.from, seq: msg.seq, epoch: this.epoch });
    // Replies held for entries the checkpoint replaced are looked up again; waiters it
    // already covers are answered from its dedup table once committed.
    this.reresolvePending();
    for (const [key, w] of this.waiters) {
      const seen = this.state.lookup(w.client, w.num);
      if (seen.kind === 'new') continue;
      this.waiters.delete(key);
      if (seen.kind === 'duplicate' && this.ready) {
        for (const c of w.conns) this.replyWhenCommitted(c, { seq: seen.seq, client: w.client, num: w.num, payload: w.payload, result: seen.result });
      }
    }
    // A replica that is not ready tells the RM it has caught up (again, after a false suspicion too).
    if (!this.ready) {
      this.caughtUp = true;
      this.report();
    }
  }

  /**
   * Accept a message only from the leader the RM named for our epoch (a leader accepts none).
   * A lower epoch is refused with an ack carrying ours, which tells an old leader it is out of date.
   */
  private admit(conn: Connection, msg: LeaderMessage): boolean {
    const { from, epoch } = msg;
    if (epoch < this.epoch) {
      conn.send({ type: 'ack', from: this.name, to: from, seq: this.state.seq, epoch: this.epoch });
      this.trace('stale_epoch', 'fault', `${this.name}: refusing ${from} at epoch ${epoch}; current epoch is ${this.epoch}`, { from, epoch });
      return false;
    }
    if (epoch > this.epoch || from !== this.leader || this.leader === this.name) {
      const named = this.leader === this.name ? 'me' : this.leader || 'no leader';
      this.trace('peer_refused', 'fault', `${this.name}: refusing ${msg.type} from ${from} at epoch ${epoch}: the RM named ${named} for epoch ${this.epoch}`, { from, epoch, type: msg.type, leader: this.leader });
      return false;
    }
    if (conn !== this.leaderConn) {
      this.leaderConn = conn;
      // Requests forwarded to a leader that died unordered go to the new one.
      if (this.mode === 'active' && !this.isLeader) for (const w of this.waiters.values()) this.forwardToLeader(w.client, w.num, w.payload);
    }
    return true;
  }

  // ---- messages from followers on our outbound links --------------------------------

  private onPeerUp(peer: string): void {
    // A new connection may reach a new process under the same name: it holds only what it acknowledges from now on.
    this.acked.delete(peer);
    // A sequencer that is syncing asks established members where they are; everyone else gets a checkpoint.
    if (this.syncing?.has(peer)) {
      this.peers.send(peer, { type: 'sync', from: this.name, to: peer, seq: this.state.seq, epoch: this.epoch });
      this.syncAsked.add(peer);
    } else if (!this.syncing) this.sendCheckpointTo(peer);
    // A newcomer met while syncing gets its checkpoint when the sync is done.
  }

  private fromFollower(peer: string, conn: Connection, msg: Message): void {
    if ('from' in msg && msg.from !== peer) {
      return this.trace('peer_refused', 'fault', `${this.name}: refusing ${msg.type} from ${msg.from} on my link to ${peer}`, { from: msg.from, type: msg.type });
    }
    if (msg.type === 'ack') {
      // Only acks of our own epoch count. A higher one says we may be deposed, but only the RM's role says so.
      if (msg.epoch !== this.epoch) {
        if (msg.epoch > Math.max(this.epoch, this.ackAheadTraced)) {
          this.ackAheadTraced = msg.epoch;
          this.trace('ack_ahead', 'fault', `${this.name}: ${peer} acknowledges at epoch ${msg.epoch}, the RM has given me ${this.epoch}: not counted; waiting for the RM`, { from: peer, epoch: msg.epoch });
        }
        return;
      }
      if (this.syncAsked.delete(peer)) {
        // The first ack after our sync answers it. One that comes after the deadline describes a
        // tail we did not take: the checkpoint we sent it since resets it, and its ack will count.
        if (this.syncing?.get(peer) !== undefined || !this.syncing?.has(peer)) return;
        // Its orders past ours came before this answer, on the same connection: it holds no more than we do now.
        this.syncing.set(peer, msg.seq);
        this.acked.set(peer, Math.min(msg.seq, this.state.seq));
        if ([...this.syncing.values()].every((s) => s !== undefined)) this.finishSync();
        return;
      }
      this.acked.set(peer, Math.max(this.acked.get(peer) ?? 0, msg.seq));
      return this.leaderCommit();
    }
    if (msg.type === 'forward') return this.onForward(conn, msg);
    if (msg.type === 'order' && this.syncing?.has(peer) && msg.epoch === this.epoch) {
      // A member that is ahead of us sends what we missed, in sequence.
      return this.deliverInOrder({ seq: msg.seq, client: msg.client, num: msg.num, payload: msg.payload });
    }
  }

  // ---- orders from the RM ------------------------------------------------------------

  command(msg: Message): void {
    switch (msg.type) {
      case 'role':
        return this.onRole(msg);
      case 'sendCheckpoint':
        return this.onSendCheckpoint(msg);
      case 'query':
        return this.report();
      case 'set':
        return this.onSet(msg);
      default:
        return;
    }
  }

  private report(): void {
    this.io.toLfd({
      type: 'report',
      server: this.name,
      mode: this.mode,
      role: this.role,
      epoch: this.epoch,
      ready: this.caughtUp,
      checkpoint: this.state.checkpointCount,
      seq: this.heldSeq(),
    });
  }

  /** The last sequence number we hold: applied, or (passive backup) logged past the checkpoint. */
  private heldSeq(): number {
    return this.mode === 'passive' ? Math.max(this.state.seq, this.log.at(-1)?.seq ?? 0) : this.state.seq;
  }

  private describeRole(): string {
    return `${this.role}${this.ready ? '' : ' (not ready)'}`;
  }

  private onRole(msg: MessageOf<'role'>): void {
    if (msg.epoch < this.epoch) {
      this.trace('stale_role', 'fault', `${this.name}: ignoring a role for epoch ${msg.epoch}; current epoch is ${this.epoch}`);
      return;
    }
    const wasLeader = this.isLeader;
    const before = `${this.describeRole()} at epoch ${this.epoch}`;
    const leaderChanged = msg.leader !== this.leader;
    // Made not ready after being ready, or for a newer epoch: our state must come from a checkpoint
    // again, unless the leader's checkpoint of that epoch got here first (it travels another way).
    if (!msg.ready && (this.ready || msg.epoch > this.epoch) && this.installedAtEpoch !== msg.epoch) this.caughtUp = false;
    this.installedAtEpoch = -1;
    // Orders held past a gap came from the old leader: the new one decides what follows.
    if (msg.epoch > this.epoch) this.early.clear();
    this.mode = msg.mode;
    this.epoch = msg.epoch;
    this.role = msg.role;
    this.ready = msg.ready;
    this.leader = msg.leader;
    this.group = msg.group;
    if (msg.ready) this.caughtUp = true;
    const after = `${this.describeRole()} at epoch ${this.epoch}`;
    if (before !== after) this.trace('role_changed', 'state', `${this.name}: ${before} -> ${after}`, { role: this.role, epoch: this.epoch, ready: this.ready, leader: this.leader });
    // A replica that is not ready answers no one, and tells the RM what it holds, in case no ready replica survives.
    if (!this.ready) {
      this.rejectPending(this.mode === 'passive' ? 'not_primary' : 'not_ready');
      this.report();
    }
    if (this.isLeader) {
      if (!wasLeader) this.becomeLeader();
      for (const name of this.newcomers.keys()) if (this.group.some((m) => m.name === name)) this.newcomers.delete(name);
      this.peers.keep(this.followers());
      for (const order of this.earlyOrders.splice(0)) if (order.epoch === this.epoch) this.onSendCheckpoint(order);
      // A follower that left the group and comes back starts again from a checkpoint: forget what it held.
      for (const name of [...this.acked.keys()]) if (!this.group.some((m) => m.name === name) && !this.newcomers.has(name)) this.acked.delete(name);
      this.leaderCommit();
    } else {
      if (wasLeader) this.stepDown('the RM chose another leader');
      // Orders for an epoch we now know we do not lead are void.
      for (let i = this.earlyOrders.length - 1; i >= 0; i--) if (this.earlyOrders[i]!.epoch <= this.epoch) this.earlyOrders.splice(i, 1);
      if (leaderChanged && this.leaderConn?.peer !== this.leader) this.leaderConn = undefined;
    }
    // What the leader of this epoch sent before the role reached us goes through now.
    this.releaseAhead();
  }

  private becomeLeader(): void {
    this.acked.clear();
    this.announcedCommit = 0;
    // What we were told is committed and do not hold yet is not ours to answer from: count afresh.
    this.commitSeq = Math.min(this.commitSeq, this.state.seq);
    if (this.mode === 'passive') {
      this.replayLog();
      clearInterval(this.checkpointTimer);
      this.checkpointTimer = setInterval(() => this.checkpointAll(), this.checkpointMs);
    } else {
      this.startSync();
    }
  }

  /** Stop acting as leader (we were one): nothing pending may be answered from here any more. */
  private stepDown(why: string): void {
    this.trace('step_down', 'fault', `${this.name}: stepping down as leader: ${why}`);
    clearInterval(this.checkpointTimer);
    clearTimeout(this.syncTimer);
    this.syncing = undefined;
    this.rejectPending(this.mode === 'passive' ? 'not_primary' : 'not_ready');
    for (const { conn, msg } of this.held.splice(0)) if (msg.type === 'request') this.reject(conn, msg.client, msg.num, 'not_ready');
    this.syncAsked.clear();
    this.newcomers.clear();
    this.peers.closeAll();
  }

  /**
   * Our LFD connection dropped: the LFD has declared us dead (or is dead itself), and the
   * RM will act on it. Stop serving at once; to serve again we must be made ready after a
   * fresh checkpoint, like any newcomer.
   */
  detached(): void {
    if (this.isLeader) this.stepDown('lost contact with my LFD');
    if (this.ready || this.caughtUp) {
      this.trace('detached', 'fault', `${this.name}: lost contact with my LFD; not ready until I catch up again`);
    }
    this.ready = false;
    this.caughtUp = false;
    this.role = 'none';
    this.rejectPending(this.mode === 'passive' ? 'not_primary' : 'not_ready');
  }

  private onSendCheckpoint(msg: MessageOf<'sendCheckpoint'>): void {
    if (msg.epoch > this.epoch) {
      // The RM made us leader of a newer epoch and the role is still on its way: carry it out then.
      if (this.earlyOrders.length < 64) this.earlyOrders.push(msg);
      this.trace('checkpoint_order_deferred', 'state', `${this.name}: asked to checkpoint to ${msg.target.name} for epoch ${msg.epoch}; waiting for my role of that epoch`);
      return;
    }
    if (!this.isLeader || msg.epoch < this.epoch) {
      this.trace('checkpoint_order_ignored', 'fault', `${this.name}: asked to checkpoint to ${msg.target.name} but I am not the leader of epoch ${msg.epoch}`);
      return;
    }
    this.newcomers.set(msg.target.name, msg.target);
    this.acked.delete(msg.target.name);
    // While syncing, our state may still be behind: the newcomer's checkpoint waits for finishSync.
    if (this.syncing) this.peers.keep(this.followers());
    else if (this.peers.isUp(msg.target.name)) this.sendCheckpointTo(msg.target.name);
    else this.peers.keep(this.followers());
  }

  private onSet(msg: MessageOf<'set'>): void {
    if (msg.key !== 'checkpoint-freq') return;
    try {
      this.checkpointMs = (parseProperty(msg.key, msg.value) as number) * 1000;
    } catch (err) {
      return this.trace('property_rejected', 'fault', `${this.name}: ${(err as Error).message}`);
    }
    this.trace('property_set', 'state', `${this.name}: checkpoint_freq = ${msg.value} s`, { key: msg.key, value: Number(msg.value) });
    if (this.checkpointTimer) {
      clearInterval(this.checkpointTimer);
      this.checkpointTimer = setInterval(() => this.checkpointAll(), this.checkpointMs);
    }
  }
}
