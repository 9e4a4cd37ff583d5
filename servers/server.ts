/**
 * A replica server: listens for clients and peer replicas on one port, registers
 * with the LFD on its machine, and answers its heartbeats. Replication itself lives
 * in Replica; this class is the I/O shell around it.
 */
import { Component } from '../lib/component.js';
import type { Connection, Link, Listener, Security } from '../lib/net/index.js';
import { UnexpectedMessageError, type Message } from '../lib/protocol/index.js';
import { Tracer } from '../lib/trace/index.js';
import { DEFAULT_CHECKPOINT_FREQ_S } from '../lib/config/options.js';
import { Replica, isPeerMessage, type ReplicaIO } from './replica.js';
import { PEER_MAX_FRAME_BYTES } from './peers.js';
import { createApp, type AppName } from './apps.js';

export interface ServerOptions {
  name: string;
  host?: string;
  port?: number;
  /** The LFD on this machine, host:port. */
  lfd: string;
  app?: AppName;
  checkpointFreq?: number;
  /** The command line that started this server, so its LFD can relaunch it (empty: cannot). */
  command?: string[];
  /** Secrets and TLS files (default: open). */
  security?: Security;
  tracer?: Tracer;
  /** Called after the server stopped because the RM retired it. */
  onRetire?: () => void;
  /**
   * Called after the server stopped because its registration was refused for good (a live
   * server has its name, here or on another LFD): retrying cannot change that.
   */
  onRefused?: (reason: string) => void;
}

/** The name a server uses for its LFD until the LFD says its own (in `welcome`). */
const UNKNOWN_LFD = 'LFD';

export class Server extends Component {
  private readonly listener: Listener;
  private readonly lfdLink: Link;
  private lfdName = UNKNOWN_LFD;
  readonly replica: Replica;

  constructor(readonly options: ServerOptions) {
    super(options.name, options.tracer ?? new Tracer(options.name), options.security);
    this.listener = this.createListener({
      host: options.host,
      port: options.port,
      identify: (conn, first) => this.identify(conn, first),
      onClose: (conn) => this.replica.connectionClosed(conn),
      // A client that has finished sending still gets every reply it is owed.
      onEnd: (conn) => this.replica.connectionEnded(conn),
    });
    this.lfdLink = this.createUpstream(UNKNOWN_LFD, options.lfd, (conn) => this.onLfdUp(conn), (reason) => void this.stop().then(() => options.onRefused?.(reason)));
    this.lfdLink.on('down', () => this.replica.detached());
    const io: ReplicaIO = { tracer: this.tracer, security: this.security, toLfd: (msg) => this.lfdLink.connection?.send(msg) ?? false };
    this.replica = new Replica(this.name, createApp(options.app ?? 'status'), (options.checkpointFreq ?? DEFAULT_CHECKPOINT_FREQ_S) * 1000, io);
  }

  get address(): string {
    return this.listener.address;
  }

  async start(): Promise<void> {
    this.setState('starting');
    await this.listener.listen();
    this.trace('listening', 'info', `${this.name} listening on ${this.address} (app ${this.options.app ?? 'status'})`, { addr: this.address });
    this.traceSecurity(this.address);
    this.lfdLink.start();
    this.setState('running');
  }

  async stop(): Promise<void> {
    this.setState('stopping');
    this.lfdLink.stop();
    this.replica.stop();
    await this.listener.close();
    this.setState('stopped');
  }

  private onLfdUp(conn: Connection): void {
    conn.peer = this.lfdName;
    conn.on('message', (msg) => this.fromLfd(conn, msg));
    conn.send({
      type: 'serverRegister',
      server: this.name,
      lfd: this.lfdName,
      addr: this.address,
      pid: process.pid,
      command: JSON.stringify(this.options.command ?? []),
    });
    this.trace('register_sent', 'membership', `${this.name} registering with ${this.lfdName} at ${this.lfdLink.target}`);
  }

  /** Messages from the LFD: heartbeats, and the RM's orders routed through GFD and LFD. */
  private fromLfd(conn: Connection, msg: Message): void {
    switch (msg.type) {
      case 'welcome':
        this.lfdName = conn.peer = msg.from;
        this.trace('registered', 'membership', `${this.name} registered with ${msg.from}`, { lfd: msg.from });
        return;
      case 'heartbeat':
        conn.send({ type: 'heartbeat', from: this.name, to: msg.from, num: msg.num });
        this.trace('heartbeat_answered', 'heartbeat', `[${msg.num}] ${this.name} receives heartbeat from ${msg.from} and answers`, {
          num: msg.num,
        });
        return;
      case 'role':
      case 'sendCheckpoint':
      case 'query':
      case 'set':
        return this.replica.command(msg);
      case 'retire':
        this.trace('retiring', 'membership', `${this.name}: retiring at the RM's request`);
        void this.stop().then(() => this.options.onRetire?.());
        return;
      case 'refused':
        if (this.lifecycle !== 'running') return;
        this.trace('refused', 'fault', `${this.name}: registration refused by ${msg.from}: ${msg.reason}; exiting`, { by: msg.from, reason: msg.reason });
        void this.stop().then(() => this.options.onRefused?.(msg.reason));
        return;
      case 'error':
        this.trace('peer_error', 'fault', `${this.name}: ${msg.from} reports an error: ${msg.reason}`);
        return;
      default:
        throw this.unexpected(conn, msg);
    }
  }

  /**
   * The first message on an inbound connection says who the peer is. `welcome` opens a peer
   * replica's connection: every message on it must be a replica message from the name it gave.
   * Anything else is a client's connection, which may send only requests.
   */
  private identify(conn: Connection, first: Message): (msg: Message) => void {
    if (first.type === 'welcome') {
      if (first.to !== this.name) throw new UnexpectedMessageError(`${first.from} greets ${first.to}, but this is ${this.name}`);
      if (first.from === this.name) throw new UnexpectedMessageError(`a peer greets ${this.name} as ${this.name}`);
      const peer = first.from;
      // A peer replica opening its link: checkpoints of any state size may follow.
      conn.peer = peer;
      conn.allowFrames(PEER_MAX_FRAME_BYTES);
      return (msg) => {
        if (!isPeerMessage(msg)) throw this.unexpected(conn, msg);
        if (msg.from !== peer) throw new UnexpectedMessageError(`${peer} sends ${msg.type} as ${msg.from}`);
        this.replica.receive(conn, msg);
      };
    }
    const client = (msg: Message) => {
      if (msg.type !== 'request') throw new UnexpectedMessageError(`${this.name} does not accept ${msg.type} from ${conn.peer}: only requests, unless a replica says welcome first`);
      this.replica.receive(conn, msg);
    };
    client(first);
    return client;
  }
}
