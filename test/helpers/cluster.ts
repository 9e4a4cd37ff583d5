/**
 * A deterministic, in-memory scenario harness for the replica's core: several cores wired
 * together, their commands delivered to each other as events, in FIFO order. No sockets, no
 * timers: links go up when a test pumps, timers fire when a test says so, and the end of an
 * I/O batch comes after every round of deliveries. Tests drive roles the way the RM would.
 */
import { PART_CHARS, ReplicaCore, createApp, type AppName, type Command, type ConnId, type Fault, type PassiveStyle, type ReplicaEvent, type TimerName } from '../../servers/core/index.js';
import type { Member, Message, MessageOf, Mode, Role } from '../../lib/protocol/index.js';
import { StaticControl, type StaticOutput } from '../../servers/static.js';

export interface Trace {
  event: string;
  text: string;
  data?: Record<string, unknown>;
}

/** A connection as the cluster knows it: a client's to a node, or a leader's link to a follower (owned by the follower). */
type Conn = { kind: 'client'; id: ConnId; client: string; node: string; closed: boolean } | { kind: 'link'; id: ConnId; from: string; node: string; closed: boolean };

export interface Node {
  name: string;
  core: ReplicaCore;
  alive: boolean;
  traces: Trace[];
  toLfd: Message[];
  timers: Map<TimerName, { ms: number; repeat: boolean }>;
  /** Outbound links this node keeps: peer -> the connection's id at the peer (undefined: not up). */
  links: Map<string, ConnId | undefined>;
  wantsFlush: boolean;
}

export const addr = (name: string): string => `127.0.0.1:${7200 + Number(name.replace(/\D/g, '') || 0)}`;
export const members = (...names: string[]): Member[] => names.map((name) => ({ name, addr: addr(name) }));

export class Cluster {
  readonly nodes = new Map<string, Node>();
  private readonly conns = new Map<ConnId, Conn>();
  private readonly clientConns = new Map<string, ConnId>();
  /** What each client received, in order. */
  readonly inbox = new Map<string, Message[]>();
  private queue: Array<{ to: string; event: ReplicaEvent }> = [];
  private nextId = 1;
  /** Return false to drop a delivery (a cut link, a lost message). */
  filter: (to: string, event: ReplicaEvent) => boolean = () => true;
  /** Links to these nodes do not come up (the peer is unreachable). */
  readonly unreachable = new Set<string>();
  /** Nodes run without an RM: what stands in for it on each (servers/static.ts). */
  readonly statics = new Map<string, StaticControl>();
  /** Checkpoints being sent in parts (`stream`), as the shell does: one part per pump round, between the other deliveries. */
  private streams: Array<{ from: Node; cmd: Extract<Command, { type: 'stream' }>; peers: Map<string, ConnId>; parts: Iterator<string>; sent: number }> = [];

  constructor(
    names: string[],
    private readonly options: { app?: AppName; checkpointMs?: number; fault?: Fault; quiet?: boolean; passive?: PassiveStyle; static?: boolean } = {},
  ) {
    for (const name of names) this.add(name);
  }

  add(name: string): Node {
    const core = new ReplicaCore({ name, app: createApp(this.options.app ?? 'counter'), checkpointMs: this.options.checkpointMs ?? 1000, fault: this.options.fault, passive: this.options.passive, static: this.options.static, wants: () => !this.options.quiet });
    const node: Node = { name, core, alive: true, traces: [], toLfd: [], timers: new Map(), links: new Map(), wantsFlush: false };
    this.nodes.set(name, node);
    return node;
  }

  node(name: string): Node {
    return this.nodes.get(name)!;
  }

  core(name: string): ReplicaCore {
    return this.node(name).core;
  }

  /** Hand an event to a node now, and route what it asks for. */
  step(name: string, event: ReplicaEvent): void {
    const node = this.node(name);
    if (!node.alive) return;
    node.core.step(event);
    const fixed = this.statics.get(name);
    if (fixed) this.obey(node, fixed.after(event));
    for (let cmds = node.core.drain(); cmds.length > 0; cmds = node.core.drain()) for (const cmd of cmds) this.execute(node, cmd);
  }

  /** Start `names` (default: every node) as a group without an RM, as `ftkit server --group` does, then settle. */
  startStatic(mode: Mode, leader: string, names: string[] = [...this.nodes.keys()], group: string[] = names): void {
    for (const name of names) {
      const fixed = new StaticControl(name, { mode, leader, members: members(...group) });
      this.statics.set(name, fixed);
      const node = this.node(name);
      this.obey(node, fixed.start());
      for (let cmds = node.core.drain(); cmds.length > 0; cmds = node.core.drain()) for (const cmd of cmds) this.execute(node, cmd);
    }
    this.pump();
  }

  /** What a node's static control returns: control messages for its core, traces. */
  private obey(node: Node, outs: StaticOutput[]): void {
    for (const out of outs) {
      if (out.type === 'trace') node.traces.push({ event: out.event, text: out.text, data: out.data });
      else node.core.step({ type: 'control', msg: out.msg });
    }
  }

  /** Deliver everything queued, in rounds; each round ends an I/O batch (flush). */
  pump(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) if (!this.round()) return;
    throw new Error('the cluster did not settle');
  }

  /** One round: deliver what is queued, end the batch, send the next part of each stream; false when nothing more is to come. */
  round(): boolean {
    const batch = this.queue;
    this.queue = [];
    for (const { to, event } of batch) if (this.filter(to, event)) this.step(to, event);
    let flushed = false;
    for (const node of this.nodes.values()) {
      if (!node.wantsFlush) continue;
      node.wantsFlush = false;
      flushed = true;
      this.step(node.name, { type: 'flush' });
    }
    const streaming = this.advanceStreams();
    return this.queue.length > 0 || flushed || streaming;
  }

  /** Send the next part (or the end) of every stream to the peers still on the link it began on; false when none is left. */
  private advanceStreams(): boolean {
    this.streams = this.streams.filter((s) => {
      for (const [peer, id] of s.peers) if (!s.from.alive || s.from.links.get(peer) !== id) s.peers.delete(peer);
      if (s.peers.size === 0) return false;
      const next = s.parts.next();
      const head = { from: s.cmd.from, count: s.cmd.checkpoint.count, epoch: s.cmd.epoch };
      for (const peer of s.peers.keys()) {
        const msg: Message = next.done ? { type: 'checkpointEnd', ...head, to: peer, table: s.cmd.checkpoint.table(), parts: s.sent } : { type: 'checkpointPart', ...head, to: peer, text: next.value };
        this.sendOnLink(s.from, peer, msg);
      }
      if (next.done) return false;
      s.sent++;
      return true;
    });
    return this.streams.length > 0;
  }

  // ---- what a test does -----------------------------------------------------------

  /** The RM's role for one node, through its LFD. */
  role(name: string, r: { mode: Mode; role: Role; epoch: number; ready: boolean; leader: string; group: string[] }): void {
    this.step(name, { type: 'control', msg: { type: 'role', server: name, mode: r.mode, role: r.role, epoch: r.epoch, ready: r.ready, leader: r.leader, group: members(...r.group) } });
  }

  /** Give every named node its role for a group led by `leader` (all ready), then settle. */
  group(mode: Mode, epoch: number, leader: string, ready: string[], notReady: string[] = []): void {
    const follower: Role = mode === 'passive' ? 'backup' : 'member';
    const leaderRole: Role = mode === 'passive' ? 'primary' : 'sequencer';
    for (const name of ready) this.role(name, { mode, role: name === leader ? leaderRole : follower, epoch, ready: true, leader, group: ready });
    for (const name of notReady) this.role(name, { mode, role: follower, epoch, ready: false, leader, group: ready });
    this.pump();
  }

  sendCheckpoint(leader: string, target: string, epoch: number): void {
    this.step(leader, { type: 'control', msg: { type: 'sendCheckpoint', server: leader, target: members(target)[0]!, epoch } });
  }

  /** A client's request on its connection to `node` (one connection per client and node). */
  request(node: string, client: string, num: number, payload: string): ConnId {
    const id = this.clientConn(node, client);
    this.queue.push({ to: node, event: { type: 'request', conn: id, msg: { type: 'request', client, server: node, num, payload } } });
    return id;
  }

  /** The client's open connection to `node`, made on first use (one per client and node). */
  private clientConn(node: string, client: string): ConnId {
    const key = `${client}@${node}`;
    let id = this.clientConns.get(key);
    if (id === undefined || this.conns.get(id)!.closed) {
      id = this.nextId++;
      this.conns.set(id, { kind: 'client', id, client, node, closed: false });
      this.clientConns.set(key, id);
    }
    return id;
  }

  /** A client's subscription on its connection to `node` (the same connection as its requests there). */
  subscribe(node: string, client: string, topic: string, since: number): ConnId {
    const id = this.clientConn(node, client);
    this.queue.push({ to: node, event: { type: 'subscribe', conn: id, msg: { type: 'subscribe', client, server: node, topic, since } } });
    return id;
  }

  /** Events a client was pushed, as `S1:rev:text`. */
  events(client: string): string[] {
    return (this.inbox.get(client) ?? []).flatMap((m) => (m.type === 'event' ? [`${m.server}:${m.rev}:${m.text}`] : []));
  }

  /** Replies and rejects a client got, as `S1:reply:101:result` / `S1:reject:101:reason`. */
  answers(client: string): string[] {
    return (this.inbox.get(client) ?? []).map((m) => (m.type === 'reply' ? `${m.server}:reply:${m.num}:${m.result}` : m.type === 'reject' ? `${m.server}:reject:${m.num}:${m.reason}` : m.type));
  }

  isClosed(conn: ConnId): boolean {
    return this.conns.get(conn)!.closed;
  }

  /** The node's side of a client connection: the client half-closed it, or it closed. */
  clientEvent(conn: ConnId, type: 'ended' | 'closed'): void {
    const c = this.conns.get(conn)!;
    if (type === 'closed') c.closed = true;
    this.step(c.node, { type, conn });
  }

  fire(name: string, timer: TimerName): void {
    this.step(name, { type: 'timer', timer });
    this.pump();
  }

  /** kill -9: the node stops, its connections close at the other ends. */
  kill(name: string): void {
    const node = this.node(name);
    node.alive = false;
    for (const c of this.conns.values()) {
      if (c.closed) continue;
      if (c.kind === 'link' && c.from === name) this.closeLink(c);
      else if (c.kind === 'link' && c.node === name) {
        c.closed = true;
        const leader = this.node(c.from);
        if (leader.links.get(name) === c.id) {
          leader.links.set(name, undefined);
          this.queue.push({ to: c.from, event: { type: 'linkDown', peer: name } });
        }
      } else if (c.node === name) c.closed = true;
    }
  }

  /** A relaunched process under the same name: a fresh core, nothing held. */
  restart(name: string): Node {
    if (this.node(name).alive) this.kill(name);
    this.statics.delete(name);
    return this.add(name);
  }

  traces(name: string, event?: string): Trace[] {
    return this.node(name).traces.filter((t) => !event || t.event === event);
  }

  texts(name: string, event: string): string[] {
    return this.traces(name, event).map((t) => t.text);
  }

  reports(name: string): Array<MessageOf<'report'>> {
    return this.node(name).toLfd.filter((m): m is MessageOf<'report'> => m.type === 'report');
  }

  // ---- routing commands -------------------------------------------------------------

  private closeLink(c: Conn): void {
    c.closed = true;
    this.queue.push({ to: c.node, event: { type: 'closed', conn: c.id } });
  }

  private sendOnLink(from: Node, peer: string, msg: Message): void {
    const id = from.links.get(peer);
    if (id === undefined) return;
    this.queue.push({ to: peer, event: { type: 'peer', conn: id, peer: from.name, msg: msg as Extract<ReplicaEvent, { type: 'peer' }>['msg'] } });
  }

  private execute(node: Node, cmd: Command): void {
    switch (cmd.type) {
      case 'send': {
        const c = this.conns.get(cmd.conn);
        if (!c || c.closed) return;
        if (c.kind === 'client') return void this.inbox.set(c.client, [...(this.inbox.get(c.client) ?? []), cmd.msg]);
        // A follower answers on the link its leader opened: the leader gets it as a follower's message.
        if (this.node(c.from).links.get(c.node) === c.id) this.queue.push({ to: c.from, event: { type: 'follower', peer: c.node, msg: cmd.msg } });
        return;
      }
      case 'close': {
        const c = this.conns.get(cmd.conn);
        if (!c || c.closed) return;
        c.closed = true;
        this.queue.push({ to: c.node, event: { type: 'closed', conn: c.id } });
        if (c.kind === 'link' && this.node(c.from).links.get(c.node) === c.id) {
          this.node(c.from).links.set(c.node, undefined);
          this.queue.push({ to: c.from, event: { type: 'linkDown', peer: c.node } });
        }
        return;
      }
      case 'peerSend':
        return this.sendOnLink(node, cmd.peer, cmd.msg);
      case 'broadcast':
        for (const peer of cmd.peers) this.sendOnLink(node, peer, { ...cmd.msg, to: peer });
        return;
      case 'keepPeers': {
        const wanted = new Set(cmd.members.map((m) => m.name));
        for (const [peer, id] of node.links) {
          if (wanted.has(peer)) continue;
          node.links.delete(peer);
          if (id !== undefined) this.closeLink(this.conns.get(id)!);
        }
        for (const peer of wanted) {
          if (node.links.has(peer)) continue;
          node.links.set(peer, undefined);
          this.connect(node, peer);
        }
        return;
      }
      case 'closePeers':
        for (const id of node.links.values()) if (id !== undefined) this.closeLink(this.conns.get(id)!);
        node.links.clear();
        return;
      case 'toLfd': {
        node.toLfd.push(cmd.msg);
        const fixed = this.statics.get(node.name);
        if (fixed) this.obey(node, fixed.upward(cmd.msg));
        return;
      }
      case 'setTimer':
        return void node.timers.set(cmd.timer, { ms: cmd.ms, repeat: cmd.repeat });
      case 'clearTimer':
        return void node.timers.delete(cmd.timer);
      case 'flush':
        node.wantsFlush = true;
        return;
      case 'trace':
        return void node.traces.push({ event: cmd.event, text: cmd.text, data: cmd.data });
      case 'stream': {
        const peers = new Map<string, ConnId>();
        for (const peer of cmd.peers) {
          const id = node.links.get(peer);
          if (id !== undefined) peers.set(peer, id);
        }
        this.streams.push({ from: node, cmd, peers, parts: cmd.checkpoint.parts(PART_CHARS)[Symbol.iterator](), sent: 0 });
        return;
      }
    }
  }

  /** Open a link (it comes up on the next pump round if the peer is alive and reachable). */
  connect(node: Node, peer: string): void {
    const target = this.nodes.get(peer);
    if (!target?.alive || this.unreachable.has(peer) || !node.links.has(peer)) return;
    const id = this.nextId++;
    this.conns.set(id, { kind: 'link', id, from: node.name, node: peer, closed: false });
    node.links.set(peer, id);
    this.queue.push({ to: node.name, event: { type: 'linkUp', peer } });
  }

  /** A link that was down (peer unreachable or restarted) reconnects. */
  reconnect(from: string, peer: string): void {
    const node = this.node(from);
    if (node.links.has(peer) && node.links.get(peer) === undefined) this.connect(node, peer);
  }
}
