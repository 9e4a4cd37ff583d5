/**
 * Global Fault Detector: LFDs register with it; it heartbeats each LFD, keeps the
 * membership (a lost LFD is a lost machine: all its servers go), and reports every
 * change to the RM, with the full list on every (re)connection. It routes the RM's
 * orders to the LFD of the server they name.
 */
import { Component, describeMembers } from '../lib/component.js';
import { HeartbeatTiming, PeerWatch } from '../lib/detect/watch.js';
import type { Connection, Link, Listener } from '../lib/net/index.js';
import type { Security } from '../lib/net/index.js';
import { UnexpectedMessageError, type Message, type MessageOf } from '../lib/protocol/index.js';
import { Tracer } from '../lib/trace/index.js';
import { parseProperty } from '../lib/config/properties.js';
import { Membership, type Change } from './membership.js';

export const GFD_NAME = 'GFD';
/**
 * A newly started GFD waits this long for LFDs to (re)register before it reports to
 * the RM, so a restarted GFD does not report an empty membership (every machine lost)
 * while the LFDs are still reconnecting. LFDs retry at least once a second.
 */
export const DEFAULT_SETTLE_MS = 1500;

export interface GfdOptions {
  host?: string;
  port?: number;
  rm: string;
  heartbeatFreq?: number;
  timeout?: number;
  /** See DEFAULT_SETTLE_MS. */
  settleMs?: number;
  /** Secrets and TLS files (default: open). */
  security?: Security;
  tracer?: Tracer;
  /** Called after the GFD stopped because the RM refused it for good (a wrong secret). */
  onRefused?: (reason: string) => void;
}

interface LfdEntry {
  name: string;
  host: string;
  conn: Connection;
  watch: PeerWatch;
  lastAnswer: number;
}

export class Gfd extends Component {
  private readonly listener: Listener;
  private readonly rmLink: Link;
  private readonly lfds = new Map<string, LfdEntry>();
  readonly membership = new Membership();
  private readonly timing: HeartbeatTiming;
  /** Properties the RM set for LFDs and servers, replayed to LFDs that (re)register. */
  private readonly downstream = new Map<string, string>();
  private settleTimer: NodeJS.Timeout | undefined;

  constructor(readonly options: GfdOptions) {
    super(GFD_NAME, options.tracer ?? new Tracer(GFD_NAME), options.security);
    this.timing = new HeartbeatTiming(options.heartbeatFreq, options.timeout);
    this.listener = this.createListener({
      host: options.host,
      port: options.port,
      identify: (conn, first) => this.identify(conn, first),
      onClose: (conn) => this.lfdConnectionClosed(conn),
    });
    this.rmLink = this.createUpstream('RM', options.rm, (conn) => this.onRmUp(conn), (reason) => void this.stop().then(() => options.onRefused?.(reason)));
  }

  get address(): string {
    return this.listener.address;
  }

  async start(): Promise<void> {
    this.setState('starting');
    await this.listener.listen();
    this.trace('listening', 'info', `GFD listening on ${this.address}; heartbeat every ${this.timing.periodMs / 1000} s`, { addr: this.address });
    this.traceSecurity(this.address);
    this.traceMembers();
    const settle = this.options.settleMs ?? DEFAULT_SETTLE_MS;
    this.settleTimer = setTimeout(() => this.rmLink.start(), settle);
    this.setState('running');
  }

  async stop(): Promise<void> {
    this.setState('stopping');
    clearTimeout(this.settleTimer);
    this.rmLink.stop();
    for (const lfd of this.lfds.values()) lfd.watch.stop();
    this.lfds.clear();
    await this.listener.close();
    this.setState('stopped');
  }

  setHeartbeatFreq(seconds: number): void {
    this.timing.setFrequency(seconds);
    for (const lfd of this.lfds.values()) lfd.watch.retime();
    this.trace('property_set', 'state', `GFD: heartbeat_freq = ${seconds} s`, { key: 'gfd-heartbeat-freq', value: seconds });
  }

  private traceMembers(): void {
    const names = this.membership.names();
    this.trace('membership_changed', 'membership', `GFD: ${describeMembers(names)}`, { members: names });
  }

  // ---- LFDs ------------------------------------------------------------------

  private identify(conn: Connection, first: Message): (msg: Message) => void {
    if (first.type !== 'lfdRegister') throw new UnexpectedMessageError(`GFD expects an LFD's register first, got ${first.type}`);
    const existing = this.lfds.get(first.lfd);
    if (existing?.conn.isOpen) {
      if (Date.now() - existing.lastAnswer > this.timing.timeoutMs) {
        // The one registered has stopped answering: it will be declared lost shortly. Retrying may succeed then.
        throw new UnexpectedMessageError(`${first.lfd} is registered with the GFD and has not answered for a while; try again`);
      }
      const reason = `${first.lfd} is already running: registered with the GFD from ${existing.conn.remote} (host ${existing.host})`;
      this.trace('registration_refused', 'fault', `GFD: refused a second ${first.lfd} from ${conn.remote}: ${reason}`, { lfd: first.lfd, reason });
      conn.send({ type: 'refused', from: this.name, to: first.lfd, reason });
      conn.close();
      return () => {};
    }
    conn.peer = first.lfd;
    const entry: LfdEntry = {
      name: first.lfd,
      host: first.host,
      lastAnswer: Date.now(),
      conn,
      watch: new PeerWatch({
        me: this.name,
        peer: first.lfd,
        role: 'lfd',
        conn,
        timing: this.timing,
        tracer: this.tracer,
        onAlive: () => {},
        onLost: (num, why) => this.lfdLost(first.lfd, `[${num}] heartbeat ${why}`),
      }),
    };
    this.lfds.set(first.lfd, entry);
    conn.send({ type: 'welcome', from: this.name, to: first.lfd });
    for (const [key, value] of this.downstream) conn.send({ type: 'set', from: this.name, key, value });
    this.trace('lfd_registered', 'membership', `GFD: ${first.lfd} registered (host ${first.host})`, { lfd: first.lfd, host: first.host });
    this.rmLink.connection?.send({ type: 'machine', from: this.name, lfd: first.lfd, state: 'up' });
    entry.watch.start();
    return (msg) => this.fromLfd(entry, msg);
  }

  private fromLfd(entry: LfdEntry, msg: Message): void {
    switch (msg.type) {
      case 'heartbeat':
        entry.lastAnswer = Date.now();
        return entry.watch.answer(msg.num);
      case 'membership':
        if (msg.from !== entry.name) throw new UnexpectedMessageError(`${entry.name} sent membership for another LFD (${msg.from})`);
        if (msg.action === 'delete') return this.apply(this.membership.delete(entry.name, msg.server));
        return this.add(entry, msg.server, msg.addr);
      case 'report':
      case 'launchFailed':
        this.rmLink.connection?.send(msg);
        return;
      default:
        throw this.unexpected(entry.conn, msg);
    }
  }

  /** A server joined on an LFD; refused for good if its name is live on another LFD. */
  private add(entry: LfdEntry, server: string, addr: string): void {
    const result = this.membership.add(entry.name, server, addr);
    if ('refused' in result) {
      this.trace('registration_refused', 'fault', `GFD: refused ${server} on ${entry.name} (${addr}): ${result.refused}`, { server, lfd: entry.name, addr, reason: result.refused });
      entry.conn.send({ type: 'refused', from: this.name, to: server, reason: result.refused });
      return;
    }
    this.apply(result);
  }

  private lfdConnectionClosed(conn: Connection): void {
    const entry = this.lfds.get(conn.peer);
    if (entry?.conn === conn) this.lfdLost(entry.name, 'connection closed');
  }

  private lfdLost(lfd: string, why: string): void {
    const entry = this.lfds.get(lfd);
    if (!entry) return;
    this.lfds.delete(lfd);
    entry.watch.stop();
    entry.conn.destroy();
    const lost = this.membership.serversOn(lfd);
    this.trace('lfd_lost', 'fault', `GFD: lost ${lfd} (${why}): machine down${lost.length ? `, deleting ${lost.join(', ')}` : ''}`, { lfd, servers: lost });
    this.apply(this.membership.dropLfd(lfd));
    this.rmLink.connection?.send({ type: 'machine', from: this.name, lfd, state: 'down' });
  }

  /** Report membership changes to the RM and trace the new membership. */
  private apply(changes: Change[]): void {
    if (changes.length === 0) return;
    for (const c of changes) this.rmLink.connection?.send({ type: 'membership', from: c.lfd, server: c.server, action: c.action, addr: c.addr });
    this.traceMembers();
  }

  // ---- RM --------------------------------------------------------------------

  private onRmUp(conn: Connection): void {
    conn.on('message', (msg) => this.fromRm(conn, msg));
    conn.send({ type: 'gfdRegister', gfd: this.name });
    conn.send({ type: 'members', from: this.name, members: this.membership.list() });
    // Then which machine each server is on (the RM relaunches a replica on its own machine).
    for (const lfd of this.lfds.keys()) conn.send({ type: 'machine', from: this.name, lfd, state: 'up' });
    for (const m of this.membership.list()) {
      conn.send({ type: 'membership', from: this.membership.lfdOf(m.name)!, server: m.name, action: 'add', addr: m.addr });
    }
    this.trace('register_sent', 'membership', `GFD registering with RM at ${this.rmLink.target}`);
  }

  private fromRm(conn: Connection, msg: Message): void {
    switch (msg.type) {
      case 'welcome':
        this.trace('registered', 'membership', `GFD registered with ${msg.from}`);
        return;
      case 'set':
        return this.onSet(msg);
      case 'role':
      case 'sendCheckpoint':
      case 'query':
      case 'retire':
        return this.toLfdOf(msg.server, msg);
      case 'launch':
        return this.toLfd(msg.lfd, msg);
      case 'refused':
        this.trace('refused', 'fault', `GFD: the RM refused the GFD: ${msg.reason}; exiting`, { reason: msg.reason });
        void this.stop().then(() => this.options.onRefused?.(msg.reason));
        return;
      case 'error':
        this.trace('peer_error', 'fault', `GFD: RM reports an error: ${msg.reason}`);
        return;
      default:
        throw this.unexpected(conn, msg);
    }
  }

  private onSet(msg: MessageOf<'set'>): void {
    let value: number | string;
    try {
      value = parseProperty(msg.key, msg.value);
    } catch (err) {
      return this.trace('property_rejected', 'fault', `GFD: ${(err as Error).message}`);
    }
    if (msg.key === 'gfd-heartbeat-freq') return this.setHeartbeatFreq(value as number);
    this.downstream.set(msg.key, msg.value);
    for (const lfd of this.lfds.values()) lfd.conn.send({ ...msg, from: this.name });
  }

  private toLfdOf(server: string, msg: Message): void {
    const lfd = this.membership.lfdOf(server);
    if (lfd === undefined) return this.trace('route_failed', 'fault', `GFD: cannot pass ${msg.type} to ${server}: no LFD knows it`, { server, type: msg.type });
    this.toLfd(lfd, msg);
  }

  private toLfd(lfd: string, msg: Message): void {
    if (!this.lfds.get(lfd)?.conn.send(msg)) {
      this.trace('route_failed', 'fault', `GFD: cannot pass ${msg.type} to ${lfd}: not connected`, { lfd, type: msg.type });
    }
  }
}
