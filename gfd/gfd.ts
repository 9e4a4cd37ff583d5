/**
 * Global Fault Detector: LFDs register with it; it heartbeats each LFD, keeps the
 * membership (a lost LFD is a lost machine: all its servers go), and reports every
 * change to the RM, with the full list on every (re)connection. It routes the RM's
 * orders to the LFD of the server they name.
 *
 * Without an RM (the course's milestone 2) it keeps and traces the membership only.
 */
import { Component, describeMembers } from '../lib/component.js';
import { Children, type Child } from '../lib/children.js';
import type { Connection, Link, Listener } from '../lib/net/index.js';
import type { Security } from '../lib/net/index.js';
import { UnexpectedMessageError, type Message } from '../lib/protocol/index.js';
import { Tracer } from '../lib/trace/index.js';
import { Membership, type Change } from './membership.js';
import { MetricsProbe } from '../lib/metrics/probe.js';

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
  /** The RM, host:port; undefined: none (keep the membership, report it to no one). */
  rm?: string;
  heartbeatFreq?: number;
  timeout?: number;
  /** See DEFAULT_SETTLE_MS. */
  settleMs?: number;
  /** Measure heartbeat latency and this process, and pass the LFDs' reports up (default true). */
  metrics?: boolean;
  /** Secrets and TLS files (default: open). */
  security?: Security;
  tracer?: Tracer;
  /** Called after the GFD stopped because the RM refused it for good (a wrong secret). */
  onRefused?: (reason: string) => void;
}

interface LfdEntry extends Child {
  host: string;
}

export class Gfd extends Component {
  private readonly listener: Listener;
  private readonly rmLink: Link | undefined;
  /** The LFDs registered here, each heartbeated; the RM's properties for LFDs and servers are relayed to them. */
  private readonly lfds: Children<LfdEntry>;
  readonly membership = new Membership();
  private settleTimer: NodeJS.Timeout | undefined;
  private readonly probe: MetricsProbe | undefined;

  constructor(readonly options: GfdOptions) {
    super(GFD_NAME, options.tracer ?? new Tracer(GFD_NAME), options.security);
    if (options.metrics !== false) this.probe = new MetricsProbe({ me: this.name, tracer: this.tracer, upstream: () => this.rmLink?.connection });
    this.lfds = new Children({ me: this.name, role: 'lfd', tracer: this.tracer, heartbeatFreq: options.heartbeatFreq, timeout: options.timeout, frequencyKey: 'gfd-heartbeat-freq', tellFrequency: true, onFrequency: () => this.rmLink?.connection?.send(this.lfds.ownInForce()), metrics: this.probe?.recorder });
    this.listener = this.createListener({
      host: options.host,
      port: options.port,
      identify: (conn, first) => this.identify(conn, first),
      onClose: (conn) => this.lfdConnectionClosed(conn),
    });
    if (options.rm !== undefined) this.rmLink = this.createUpstream('RM', options.rm, (conn) => this.onRmUp(conn), (reason) => this.stopRefused(reason, options.onRefused));
  }

  get address(): string {
    return this.listener.address;
  }

  async start(): Promise<void> {
    this.setState('starting');
    await this.listener.listen();
    this.trace('listening', 'info', `GFD listening on ${this.address}; heartbeat every ${this.lfds.timing.periodMs / 1000} s`, { addr: this.address });
    this.traceSecurity(this.address);
    this.traceMembers();
    this.probe?.start();
    const settle = this.options.settleMs ?? DEFAULT_SETTLE_MS;
    const rm = this.rmLink;
    if (rm) this.settleTimer = setTimeout(() => rm.start(), settle);
    else this.trace('no_rm', 'info', 'GFD: no RM: keeping the membership, reporting it to no one');
    this.setState('running');
  }

  async stop(): Promise<void> {
    this.setState('stopping');
    clearTimeout(this.settleTimer);
    this.probe?.stop();
    this.rmLink?.stop();
    this.lfds.stopAll();
    await this.listener.close();
    this.setState('stopped');
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
      if (!this.lfds.answering(existing)) {
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
      watch: this.lfds.watch(first.lfd, conn, {
        alive: () => {},
        lost: (num, why) => this.lfdLost(first.lfd, `[${num}] heartbeat ${why}`),
      }),
    };
    this.lfds.admit(entry, () => {
      this.trace('lfd_registered', 'membership', `GFD: ${first.lfd} registered (host ${first.host})`, { lfd: first.lfd, host: first.host });
      this.rmLink?.connection?.send({ type: 'machine', from: this.name, lfd: first.lfd, state: 'up' });
    });
    return (msg) => this.fromLfd(entry, msg);
  }

  private fromLfd(entry: LfdEntry, msg: Message): void {
    switch (msg.type) {
      case 'heartbeat':
        return this.lfds.answered(entry, msg.num);
      case 'membership':
        if (msg.from !== entry.name) throw new UnexpectedMessageError(`${entry.name} sent membership for another LFD (${msg.from})`);
        if (msg.action === 'delete') return this.apply(this.membership.delete(entry.name, msg.server));
        return this.add(entry, msg.server, msg.addr, msg.group);
      case 'report':
      case 'lagging':
      case 'launchFailed':
        this.rmLink?.connection?.send(msg);
        return;
      case 'metrics':
        // An LFD speaks for itself and the servers on it.
        return this.probe?.relay(msg, (process) => process === entry.name || this.membership.lfdOf(process) === entry.name);
      case 'inForce':
        // An LFD tells its own values and its servers'; of a server not on it (refused, or gone) nothing is kept.
        if (msg.from !== entry.name && this.membership.lfdOf(msg.from) !== entry.name) return;
        this.lfds.keepInForce(msg);
        this.rmLink?.connection?.send(msg);
        return;
      default:
        throw this.unexpected(entry.conn, msg);
    }
  }

  /** A server joined on an LFD; refused for good if its name is live on another LFD. */
  private add(entry: LfdEntry, server: string, addr: string, group: string | undefined): void {
    const result = this.membership.add(entry.name, server, addr, group);
    if ('refused' in result) {
      this.trace('registration_refused', 'fault', `GFD: refused ${server} on ${entry.name} (${addr}): ${result.refused}`, { server, lfd: entry.name, addr, reason: result.refused });
      entry.conn.send({ type: 'refused', from: this.name, to: server, reason: result.refused });
      return;
    }
    this.apply(result);
  }

  private lfdConnectionClosed(conn: Connection): void {
    const entry = this.lfds.ofConnection(conn);
    if (entry) this.lfdLost(entry.name, 'connection closed');
  }

  private lfdLost(lfd: string, why: string): void {
    if (!this.lfds.drop(lfd)) return;
    const lost = this.membership.serversOn(lfd);
    this.trace('lfd_lost', 'fault', `GFD: lost ${lfd} (${why}): machine down${lost.length ? `, deleting ${lost.join(', ')}` : ''}`, { lfd, servers: lost });
    this.apply(this.membership.dropLfd(lfd));
    this.rmLink?.connection?.send({ type: 'machine', from: this.name, lfd, state: 'down' });
  }

  /** Report membership changes to the RM and trace the new membership. */
  private apply(changes: Change[]): void {
    if (changes.length === 0) return;
    for (const c of changes) this.rmLink?.connection?.send({ type: 'membership', from: c.lfd, server: c.server, action: c.action, addr: c.addr, group: c.group });
    this.traceMembers();
  }

  // ---- RM --------------------------------------------------------------------

  private onRmUp(conn: Connection): void {
    conn.on('message', (msg) => this.fromRm(conn, msg));
    conn.send({ type: 'gfdRegister', gfd: this.name });
    conn.send({ type: 'members', from: this.name, members: this.membership.list(), groups: this.membership.groups() });
    // Then which machine each server is on (the RM relaunches a replica on its own machine).
    for (const { name: lfd } of this.lfds) conn.send({ type: 'machine', from: this.name, lfd, state: 'up' });
    for (const m of this.membership.list()) {
      conn.send({ type: 'membership', from: this.membership.lfdOf(m.name)!, server: m.name, action: 'add', addr: m.addr, group: this.membership.groupOf(m.name) });
    }
    for (const msg of this.lfds.inForceToTell((who) => !!this.lfds.get(who) || this.membership.lfdOf(who) !== undefined)) conn.send(msg);
    this.trace('register_sent', 'membership', `GFD registering with RM at ${this.rmLink!.target}`);
  }

  private fromRm(conn: Connection, msg: Message): void {
    switch (msg.type) {
      case 'welcome':
        this.trace('registered', 'membership', `GFD registered with ${msg.from}`);
        return;
      case 'set':
        return this.lfds.relay(msg);
      case 'role':
      case 'sendCheckpoint':
      case 'query':
      case 'retire':
      case 'inject':
        return this.toLfdOf(msg.server, msg);
      case 'launch':
        return this.toLfd(msg.lfd, msg);
      case 'refused':
        this.trace('refused', 'fault', `GFD: the RM refused the GFD: ${msg.reason}; exiting`, { reason: msg.reason });
        this.stopRefused(msg.reason, this.options.onRefused);
        return;
      case 'error':
        this.trace('peer_error', 'fault', `GFD: RM reports an error: ${msg.reason}`);
        return;
      default:
        throw this.unexpected(conn, msg);
    }
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
