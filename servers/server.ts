/**
 * A replica server, the one I/O shell around the replica's pure core (servers/core/): it
 * listens for clients and peer replicas on one port, registers with the LFD on its machine
 * and answers its heartbeats, keeps the links to the peers it feeds (peers.ts), numbers the
 * connections for the core, runs its timers, and carries out the commands the core leaves,
 * asking it to flush once at the end of each I/O batch.
 *
 * Without an RM (`group`), a StaticControl (static.ts) gives the core what the RM would have
 * sent, and the LFD is optional: it only heartbeats the server.
 */
import { Component, advertisedAddress } from '../lib/component.js';
import type { Connection, Link, Listener, Security } from '../lib/net/index.js';
import { DEFAULT_GROUP, UnexpectedMessageError, encodeForEach, type Message } from '../lib/protocol/index.js';
import { Tracer } from '../lib/trace/index.js';
import { DEFAULT_CHECKPOINT_FREQ_S } from '../lib/config/options.js';
import { ReplicaCore, createApp, isPeerMessage, type AppName, type Command, type ConnId, type Fault, type PassiveStyle, type ReplicaEvent, type TimerName } from './core/index.js';
import { PEER_MAX_FRAME_BYTES, Peers } from './peers.js';
import { StaticControl, type StaticGroup, type StaticOutput } from './static.js';
import { ReplicaMetrics } from './metrics.js';
import { Durable } from './durable.js';
import { SlowFaults } from './slow.js';
import type { FsyncPolicy } from '../lib/storage/wal.js';

/** Environment variable that turns on a deliberate fault, for testing the chaos checker. */
export const FAULT_ENV = 'FTKIT_FAULT';

/** The deliberate fault FTKIT_FAULT names, if any. */
export function faultFromEnv(env: NodeJS.ProcessEnv = process.env): Fault | undefined {
  const v = env[FAULT_ENV];
  return v === 'early-reply' || v === 'skip-log-replay' ? v : undefined;
}

export interface ServerOptions {
  name: string;
  host?: string;
  /** The host peers and clients are told to reach it at (default: host). */
  advertise?: string;
  port?: number;
  /** The LFD on this machine, host:port. Without an RM (`group`) it is optional. */
  lfd?: string;
  /**
   * No RM: the group, its mode and its leader, fixed at start (static.ts). The group lists this
   * server too; a group of one serves alone.
   */
  group?: StaticGroup;
  /** With an RM: the replica group this server joins (default g1). */
  groupName?: string;
  app?: AppName;
  checkpointFreq?: number;
  /** What this server does as passive primary before it replies (default `log`). */
  passive?: PassiveStyle;
  /** Seconds a leader waits for a ready follower's acknowledgement before asking the RM to remove it (default: 4 LFD heartbeat periods). */
  lagTimeout?: number;
  /** Keep the replica on disk here (durable.ts); without it, the state lives in memory only. */
  dataDir?: string;
  /** With a data dir: when writes are fsynced (default always). */
  fsync?: FsyncPolicy;
  /** The command line that started this server, so its LFD can relaunch it (empty: cannot). */
  command?: string[];
  /** Measure log/order latency to the followers and this process, reported to the LFD (default true). */
  metrics?: boolean;
  /** Secrets and TLS files (default: open). */
  security?: Security;
  tracer?: Tracer;
  /** A deliberately broken build, for the chaos checker's own tests (default: FTKIT_FAULT). */
  fault?: Fault;
  /** Called after the server stopped because the RM retired it. */
  onRetire?: () => void;
  /**
   * Called after the server stopped because its registration was refused for good (a live
   * server has its name, here or on another LFD): retrying cannot change that.
   */
  onRefused?: (reason: string) => void;
}

/** What a delay fault holds back: every message the replica sends. */
const DELAYED: ReadonlySet<Command['type']> = new Set(['send', 'close', 'peerSend', 'broadcast', 'toLfd', 'closePeers']);

/** The name a server uses for its LFD until the LFD says its own (in `welcome`). */
const UNKNOWN_LFD = 'LFD';

export class Server extends Component {
  private readonly listener: Listener;
  private readonly lfdLink: Link | undefined;
  /** Without an RM: what stands in for it. */
  private readonly fixed: StaticControl | undefined;
  private lfdName = UNKNOWN_LFD;
  readonly core: ReplicaCore;
  private readonly peers: Peers;
  private readonly metrics: ReplicaMetrics | undefined;
  /** The inbound connections the core knows, by the number it knows them by (never reused). */
  private readonly conns = new Map<ConnId, Connection>();
  private readonly ids = new WeakMap<Connection, ConnId>();
  private nextId = 1;
  private readonly timers = new Map<TimerName, NodeJS.Timeout>();
  private flushScheduled = false;
  /** Carrying out commands: an event that arrives meanwhile leaves its commands for this loop. */
  private executing = false;
  /** With a data dir: the disk, and the messages waiting for it. */
  private disk: Durable | undefined;
  /** Fail-slow faults injected on request (ftkit ctl fault). */
  private readonly slow = new SlowFaults();

  constructor(readonly options: ServerOptions) {
    super(options.name, options.tracer ?? new Tracer(options.name), options.security);
    this.core = new ReplicaCore({
      name: this.name,
      app: createApp(options.app ?? 'status', options.groupName),
      checkpointMs: (options.checkpointFreq ?? DEFAULT_CHECKPOINT_FREQ_S) * 1000,
      lagMs: options.lagTimeout === undefined ? undefined : options.lagTimeout * 1000,
      passive: options.passive,
      static: options.group !== undefined,
      fault: options.fault ?? faultFromEnv(),
      durable: options.dataDir !== undefined,
      wants: (category) => this.tracer.wants(category),
    });
    if (options.group) this.fixed = new StaticControl(this.name, options.group);
    else if (options.lfd === undefined) throw new Error(`${this.name}: a server needs its LFD unless it runs without an RM (a static group)`);
    this.peers = new Peers(this.name, this.security, {
      onUp: (peer) => this.run({ type: 'linkUp', peer }),
      onDown: (peer) => {
        this.metrics?.down(peer);
        this.run({ type: 'linkDown', peer });
      },
      onMessage: (peer, msg) => {
        if (msg.type === 'ack') this.metrics?.acked(peer, msg.seq);
        this.run({ type: 'follower', peer, msg });
      },
      onRefused: (peer, reason) => this.run({ type: 'linkRefused', peer, reason }),
      onStreamed: (s) => this.trace('checkpoint_streamed', 'checkpoint', `[${s.count}] ${this.name} sent checkpoint to ${s.peers.join(', ')} in ${s.parts} parts (${s.chars} characters, ${Math.round(s.ms)} ms)`, { ...s }),
    });
    this.listener = this.createListener({
      host: options.host,
      port: options.port,
      identify: (conn, first) => this.identify(conn, first),
      onClose: (conn) => this.connectionGone(conn),
      // A client that has finished sending still gets every reply it is owed.
      onEnd: (conn) => {
        const id = this.ids.get(conn);
        if (id !== undefined) this.run({ type: 'ended', conn: id });
      },
    });
    if (options.metrics !== false && options.lfd !== undefined) this.metrics = new ReplicaMetrics(this.name, this.tracer, () => this.lfdLink?.connection);
    if (options.lfd !== undefined) {
      this.lfdLink = this.createUpstream(UNKNOWN_LFD, options.lfd, (conn) => this.onLfdUp(conn), (reason) => this.stopRefused(reason, options.onRefused));
      // With an RM, losing the LFD means the RM will act on our death; without one, the LFD only heartbeats us.
      if (!this.fixed) this.lfdLink.on('down', () => this.run({ type: 'detached' }));
    }
  }

  get address(): string {
    return this.listener.address;
  }

  /** The replica group this server serves in. */
  get groupName(): string {
    return this.options.groupName ?? DEFAULT_GROUP;
  }

  /** The address it registers with, which the RM gives clients and peers: the advertised host, on the port it listens on. */
  get advertisedAddress(): string {
    return advertisedAddress(this.options, this.listener.port);
  }

  async start(): Promise<void> {
    this.setState('starting');
    if (this.options.dataDir !== undefined) await this.openDisk(this.options.dataDir);
    await this.listener.listen();
    const adv = this.advertisedAddress === this.address ? '' : `, advertised as ${this.advertisedAddress}`;
    this.trace('listening', 'info', `${this.name} listening on ${this.address}${adv} (app ${this.options.app ?? 'status'})`, { addr: this.address, advertised: this.advertisedAddress });
    this.traceSecurity(this.address);
    this.lfdLink?.start();
    this.metrics?.start();
    this.setState('running');
    if (this.fixed) this.runStatic(this.fixed.start());
  }

  async stop(): Promise<void> {
    this.setState('stopping');
    this.metrics?.stop();
    this.slow.clear();
    this.lfdLink?.stop();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.peers.closeAll();
    await this.listener.close();
    await this.disk?.close();
    this.setState('stopped');
  }

  /** Read the data dir back into the core before serving anyone. */
  private async openDisk(dir: string): Promise<void> {
    this.disk = await Durable.attach(dir, this.options.fsync ?? 'always', this.core, this.tracer, (cmd) => this.carryOut(cmd), (err) => this.diskFailed(err));
  }

  /** A write that could not be made durable: acknowledge nothing more; stop, so that the group fails over. */
  private diskFailed(err: Error): void {
    if (this.lifecycle !== 'running') return;
    this.trace('disk_failed', 'fault', `${this.name}: ${err.message}; stopping: nothing that is not durable is acknowledged, and the group fails over`, { reason: err.message });
    this.stopRefused(err.message, this.options.onRefused);
  }

  private onLfdUp(conn: Connection): void {
    conn.peer = this.lfdName;
    conn.on('message', (msg) => this.fromLfd(conn, msg));
    conn.send({
      type: 'serverRegister',
      server: this.name,
      lfd: this.lfdName,
      addr: this.advertisedAddress,
      pid: process.pid,
      command: JSON.stringify(this.options.command ?? []),
      group: this.groupName,
    });
    this.trace('register_sent', 'membership', `${this.name} registering with ${this.lfdName} at ${this.lfdLink!.target}`);
  }

  /** Messages from the LFD: heartbeats, and the RM's orders routed through GFD and LFD. */
  private fromLfd(conn: Connection, msg: Message): void {
    switch (msg.type) {
      case 'welcome':
        this.lfdName = conn.peer = msg.from;
        this.trace('registered', 'membership', `${this.name} registered with ${msg.from}`, { lfd: msg.from });
        return this.run({ type: 'registered' });
      case 'heartbeat':
        if (this.slow.delayMs > 0) return void setTimeout(() => this.answerHeartbeat(conn, msg), this.slow.delayMs);
        return this.answerHeartbeat(conn, msg);
      case 'inject':
        this.slow.start({ kind: msg.fault, amount: msg.amount, seconds: msg.seconds });
        return this.trace('fault_injected', 'fault', `${this.name}: fail-slow fault from ${msg.from}: ${this.slow.describe() === 'none' ? 'cleared' : this.slow.describe()}`, { fault: msg.fault, amount: msg.amount, seconds: msg.seconds });
      case 'role':
      case 'sendCheckpoint':
      case 'query':
      case 'retire':
        if (this.fixed) return this.trace('rm_ignored', 'fault', `${this.name}: ignoring ${msg.type} from an RM: this server runs without one (its group is fixed)`, { type: msg.type });
        if (msg.type === 'retire') return this.retire();
        return this.run({ type: 'control', msg });
      case 'set':
        // A property set for one replica group reaches every server of the machine: it is another group's.
        if (msg.group && msg.group !== this.groupName) return;
        return this.run({ type: 'control', msg });
      case 'refused':
        if (this.lifecycle !== 'running') return;
        this.trace('refused', 'fault', `${this.name}: registration refused by ${msg.from}: ${msg.reason}; exiting`, { by: msg.from, reason: msg.reason });
        this.stopRefused(msg.reason, this.options.onRefused);
        return;
      case 'error':
        this.trace('peer_error', 'fault', `${this.name}: ${msg.from} reports an error: ${msg.reason}`);
        return;
      default:
        throw this.unexpected(conn, msg);
    }
  }

  private retire(): void {
    this.trace('retiring', 'membership', `${this.name}: retiring at the RM's request`);
    void this.stop().then(() => this.options.onRetire?.());
  }

  /**
   * The first message on an inbound connection says who the peer is. `welcome` opens a peer
   * replica's connection: every message on it must be a replica message from the name it gave.
   * Anything else is a client's connection, which may send only requests and subscriptions.
   */
  private identify(conn: Connection, first: Message): (msg: Message) => void {
    if (first.type === 'welcome') {
      if (first.to !== this.name) throw new UnexpectedMessageError(`${first.from} greets ${first.to}, but this is ${this.name}`);
      if (first.from === this.name) throw new UnexpectedMessageError(`a peer greets ${this.name} as ${this.name}`);
      const peer = first.from;
      // A peer replica opening its link: checkpoints of any state size may follow.
      conn.peer = peer;
      conn.allowFrames(PEER_MAX_FRAME_BYTES);
      const id = this.register(conn);
      return (msg) => {
        if (!isPeerMessage(msg)) throw this.unexpected(conn, msg);
        if (msg.from !== peer) throw new UnexpectedMessageError(`${peer} sends ${msg.type} as ${msg.from}`);
        this.run({ type: 'peer', conn: id, peer, msg });
      };
    }
    const id = this.register(conn);
    const client = (msg: Message) => {
      if (msg.type === 'subscribe') {
        conn.peer = msg.client;
        return this.run({ type: 'subscribe', conn: id, msg });
      }
      if (msg.type !== 'request') throw new UnexpectedMessageError(`${this.name} does not accept ${msg.type} from ${conn.peer}: only requests and subscriptions, unless a replica says welcome first`);
      conn.peer = msg.client;
      this.metrics?.request();
      this.run({ type: 'request', conn: id, msg });
    };
    client(first);
    return client;
  }

  // ---- the core's events and commands -----------------------------------------------

  private register(conn: Connection): ConnId {
    const id = this.nextId++;
    this.conns.set(id, conn);
    this.ids.set(conn, id);
    return id;
  }

  private connectionGone(conn: Connection): void {
    const id = this.ids.get(conn);
    if (id === undefined) return;
    this.conns.delete(id);
    this.run({ type: 'closed', conn: id });
  }

  /** Hand the core one event, then carry out what it asks for. */
  private run(event: ReplicaEvent): void {
    if (this.lifecycle === 'stopped') return;
    this.core.step(event);
    if (this.fixed) this.obey(this.fixed.after(event));
    this.drain();
  }

  /** Without an RM: give the core what the RM would have sent, and carry out what it asks for. */
  private runStatic(outs: StaticOutput[]): void {
    if (this.lifecycle === 'stopped') return;
    this.obey(outs);
    this.drain();
  }

  private obey(outs: StaticOutput[]): void {
    for (const out of outs) {
      if (out.type === 'trace') this.trace(out.event, out.category, out.text, out.data);
      else this.core.step({ type: 'control', msg: out.msg });
    }
  }

  private drain(): void {
    if (this.executing) return;
    this.executing = true;
    try {
      for (let cmd = this.core.next(); cmd; cmd = this.core.next()) this.execute(cmd);
    } finally {
      this.executing = false;
    }
  }

  private execute(cmd: Command): void {
    if (this.disk?.take(cmd)) return;
    this.carryOut(cmd);
  }

  private carryOut(cmd: Command): void {
    // A delay fault holds every message back by the same time, so their order is kept.
    if (this.slow.delayMs > 0 && DELAYED.has(cmd.type)) return void setTimeout(() => this.carryOutNow(cmd), this.slow.delayMs);
    this.carryOutNow(cmd);
  }

  private carryOutNow(cmd: Command): void {
    switch (cmd.type) {
      case 'send':
        return void this.conns.get(cmd.conn)?.send(cmd.msg);
      case 'close':
        return this.conns.get(cmd.conn)?.close();
      case 'peerSend':
        return void this.peers.send(cmd.peer, cmd.msg);
      case 'broadcast':
        this.metrics?.broadcast(cmd.msg, cmd.peers);
        return encodeForEach(cmd.msg, cmd.peers, (peer, frame) => this.peers.sendFrame(peer, frame));
      case 'stream':
        return this.peers.stream(cmd);
      case 'keepPeers':
        return this.peers.keep(cmd.members);
      case 'closePeers':
        return this.peers.closeAll();
      case 'toLfd':
        // Without an RM, what the core tells the RM goes to what stands in for it.
        if (this.fixed) return this.obey(this.fixed.upward(cmd.msg));
        return void this.lfdLink?.connection?.send(cmd.msg);
      case 'setTimer': {
        clearTimeout(this.timers.get(cmd.timer));
        const fire = () => this.run({ type: 'timer', timer: cmd.timer });
        this.timers.set(cmd.timer, cmd.repeat ? setInterval(fire, cmd.ms) : setTimeout(fire, cmd.ms));
        return;
      }
      case 'clearTimer':
        clearTimeout(this.timers.get(cmd.timer));
        this.timers.delete(cmd.timer);
        return;
      case 'flush':
        if (this.flushScheduled) return;
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.run({ type: 'flush' });
        });
        return;
      case 'trace':
        return this.trace(cmd.event, cmd.category, cmd.text, cmd.data);
      case 'persist':
      case 'snapshot':
        return; // Only a core with a data dir asks (durable.ts takes them); nothing to do without one.
    }
  }
}
