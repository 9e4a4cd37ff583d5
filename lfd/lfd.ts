/**
 * Local Fault Detector: one per machine. Servers on the machine register with it;
 * it heartbeats each of them, tells the GFD when one is added or deleted, answers
 * the GFD's heartbeats, and passes the RM's orders down to its servers.
 *
 * Without a GFD (the course's milestone 1) it only heartbeats its servers and traces it.
 */
import { Component } from '../lib/component.js';
import { Children, type Child } from '../lib/children.js';
import type { Connection, Link, Listener } from '../lib/net/index.js';
import type { Security } from '../lib/net/index.js';
import { DEFAULT_GROUP, UnexpectedMessageError, type Message, type MessageOf } from '../lib/protocol/index.js';
import { Tracer } from '../lib/trace/index.js';
import { DEFAULT_HOST } from '../lib/config/options.js';
import { SYSTEM_STOPPING_LINE } from '../lib/detect/parent.js';
import { MetricsProbe } from '../lib/metrics/probe.js';

/** An LFD drops its GFD connection after this many heartbeat periods without one. */
export const GFD_SILENCE_PERIODS = 4;
import { Fencer, isLocalPeer } from './fence.js';
import { Relauncher } from './relaunch.js';
import type { PortRange } from '../lib/config/values.js';

export interface LfdOptions {
  name: string;
  host?: string;
  /** The host the GFD is told this machine is at (default: host). */
  advertise?: string;
  port?: number;
  /** The GFD, host:port; undefined: none (heartbeat the servers, report to no one). */
  gfd?: string;
  heartbeatFreq?: number;
  /** Seconds to wait for a heartbeat answer (default 2 × heartbeatFreq). */
  timeout?: number;
  /**
   * Where the LFD keeps the command lines of its servers, so that after its own restart
   * it can still relaunch them (the CLI's default is per user: see defaultStateDir).
   * Undefined: in memory only.
   */
  stateDir?: string;
  /** Kill a server that times out before reporting it failed (default true). */
  fence?: boolean;
  /** Ports for the new servers it starts (a server it never ran); default: any free port. */
  replicaPorts?: PortRange;
  /** Measure heartbeat latency and this process, and pass its servers' reports up (default true). */
  metrics?: boolean;
  /** Secrets and TLS files (default: open). */
  security?: Security;
  tracer?: Tracer;
  /** Called after the LFD stopped because the GFD refused it for good (another LFD has its name). */
  onRefused?: (reason: string) => void;
}

interface ServerEntry extends Child {
  addr: string;
  pid: number;
  /** Its start time in /proc when it registered: the pid is only killed while it is the same process. */
  startTime: string | undefined;
  /** It registered from this machine. */
  local: boolean;
  command: string[];
  /** The replica group it serves. */
  group: string;
  added: boolean;
  /** The system accepted it (the RM addressed it): its command line may be kept for relaunches. */
  accepted: boolean;
}

export class Lfd extends Component {
  private readonly listener: Listener;
  private readonly gfdLink: Link | undefined;
  /** Fires when the GFD has been silent for GFD_SILENCE_PERIODS of its heartbeat period (known once the GFD tells it). */
  private gfdSilence: NodeJS.Timeout | undefined;
  /** The servers registered here, each heartbeated; the RM's properties for servers are relayed to them. */
  private readonly servers: Children<ServerEntry>;
  /** The command lines kept and the servers launched on the RM's order. */
  private readonly relauncher: Relauncher;
  private readonly fencer = new Fencer();
  private readonly probe: MetricsProbe | undefined;

  constructor(readonly options: LfdOptions) {
    super(options.name, options.tracer ?? new Tracer(options.name), options.security);
    if (options.metrics !== false) this.probe = new MetricsProbe({ me: this.name, tracer: this.tracer, upstream: () => this.gfdLink?.connection });
    this.servers = new Children({ me: this.name, role: 'server', tracer: this.tracer, heartbeatFreq: options.heartbeatFreq, timeout: options.timeout, frequencyKey: 'lfd-heartbeat-freq', tellFrequency: true, onFrequency: () => this.gfdLink?.connection?.send(this.servers.ownInForce()), metrics: this.probe?.recorder });
    const host = {
      name: this.name,
      tracer: this.tracer,
      running: () => this.lifecycle === 'running',
      connected: (server: string) => !!this.servers.get(server)?.conn.isOpen,
      addresses: () => [...this.servers].map((s) => s.addr),
      toGfd: (msg: Message) => void this.gfdLink?.connection?.send(msg),
    };
    // Command lines are kept for the RM's relaunches: without a GFD there is no RM to ask for one.
    this.relauncher = new Relauncher(host, options.gfd === undefined ? undefined : options.stateDir, options.replicaPorts, { gfd: options.gfd ?? 'none', lfd: options.name });
    this.listener = this.createListener({
      host: options.host,
      port: options.port,
      identify: (conn, first) => this.identify(conn, first),
      onClose: (conn) => this.serverConnectionClosed(conn),
    });
    if (options.gfd !== undefined) this.gfdLink = this.createUpstream('GFD', options.gfd, (conn) => this.onGfdUp(conn), (reason) => this.stopRefused(reason, options.onRefused));
  }

  get address(): string {
    return this.listener.address;
  }

  get heartbeatFreq(): number {
    return this.servers.timing.periodMs / 1000;
  }

  async start(): Promise<void> {
    this.setState('starting');
    await this.listener.listen();
    this.trace('listening', 'info', `${this.name} listening on ${this.address}; heartbeat every ${this.heartbeatFreq} s`, { addr: this.address });
    this.traceSecurity(this.address);
    this.relauncher.load();
    this.probe?.start();
    if (this.gfdLink) this.gfdLink.start();
    else this.trace('no_gfd', 'info', `${this.name}: no GFD: heartbeating my servers, reporting to no one`);
    this.setState('running');
  }

  async stop(): Promise<void> {
    if (this.lifecycle === 'stopping' || this.lifecycle === 'stopped') return;
    this.setState('stopping');
    clearTimeout(this.gfdSilence);
    this.probe?.stop();
    this.gfdLink?.stop();
    this.servers.stopAll();
    await Promise.all([this.listener.close(), this.relauncher.stopAll()]);
    this.setState('stopped');
  }

  /** The servers this LFD launched are told too (they hear only us). */
  override expectSystemStop(): void {
    super.expectSystemStop();
    this.relauncher.tell(SYSTEM_STOPPING_LINE);
  }

  // ---- servers ---------------------------------------------------------------

  private identify(conn: Connection, first: Message): (msg: Message) => void {
    if (first.type !== 'serverRegister') throw new UnexpectedMessageError(`${this.name} expects a server's register first, got ${first.type}`);
    if (first.lfd !== this.name && first.lfd !== 'LFD') {
      throw new UnexpectedMessageError(`${first.server} registered for ${first.lfd} but this is ${this.name}`);
    }
    if (first.server === this.name) throw new UnexpectedMessageError(`a server may not be named like its LFD (${this.name})`);
    let command: string[] = [];
    try {
      const parsed: unknown = JSON.parse(first.command || '[]');
      if (Array.isArray(parsed) && parsed.every((a) => typeof a === 'string')) command = parsed;
      else throw new Error('not a list of strings');
    } catch {
      throw new UnexpectedMessageError(`${first.server}'s register.command is not a JSON list of strings`);
    }
    const local = isLocalPeer(conn.socket.remoteAddress, conn.socket.localAddress);
    const existing = this.servers.get(first.server);
    if (existing?.conn.isOpen) {
      if (existing.pid === first.pid && existing.local === local && existing.addr === first.addr) {
        // The same process registering again (its old connection has not closed on our side yet).
        this.deleteReplica(existing.name, existing.watch.lastNum, 'it registered again', false);
      } else if (this.servers.answering(existing)) {
        return this.refuse(conn, first.server, `${first.server} is already running: registered with ${this.name} from ${existing.addr} (pid ${existing.pid})`);
      } else {
        // The one registered has stopped answering: it will be declared failed shortly. Retrying may succeed then.
        throw new UnexpectedMessageError(`${first.server} is registered with ${this.name} (pid ${existing.pid}) and has not answered for a while; try again`);
      }
    }
    conn.peer = first.server;
    const server = first.server;
    const watch = this.servers.watch(server, conn, {
      alive: () => this.addReplica(server),
      lost: (num, why) => this.deleteReplica(server, num, why, true),
    });
    const entry: ServerEntry = {
      name: server,
      addr: first.addr,
      pid: first.pid,
      startTime: local ? this.fencer.startTime(first.pid) : undefined,
      local,
      command,
      group: first.group ?? DEFAULT_GROUP,
      conn,
      added: false,
      accepted: false,
      watch,
      lastAnswer: Date.now(),
    };
    this.relauncher.registered(first.server);
    this.servers.admit(entry, () =>
      this.trace('server_registered', 'membership', `${this.name}: ${first.server} registered from ${first.addr} (pid ${first.pid})`, {
        server: first.server,
        addr: first.addr,
        pid: first.pid,
      }),
    );
    return (msg) => this.fromServer(entry, msg);
  }

  /** Refuse a registration for good: the server is told why, and stops. Nothing else changes. */
  private refuse(conn: Connection, server: string, reason: string): (msg: Message) => void {
    this.trace('registration_refused', 'fault', `${this.name}: refused a second ${server} from ${conn.remote}: ${reason}`, { server, reason });
    conn.send({ type: 'refused', from: this.name, to: server, reason });
    conn.close();
    return () => {};
  }

  private fromServer(entry: ServerEntry, msg: Message): void {
    switch (msg.type) {
      case 'heartbeat':
        return this.servers.answered(entry, msg.num);
      case 'report':
        this.gfdLink?.connection?.send(msg);
        return;
      case 'metrics':
        return this.probe?.relay(msg, (process) => process === entry.name);
      case 'lagging':
        // Only a server speaks for itself: another's name on this connection is bad input.
        if (msg.server !== entry.name) throw new UnexpectedMessageError(`${entry.name} reports a lagging follower as ${msg.server}`);
        this.gfdLink?.connection?.send(msg);
        return;
      case 'inForce':
        if (msg.from !== entry.name) throw new UnexpectedMessageError(`${entry.name} tells a property as ${msg.from}`);
        this.servers.keepInForce(msg);
        // Told upward once the GFD has heard of the server (addReplica), never before its add.
        if (entry.added) this.gfdLink?.connection?.send(msg);
        return;
      default:
        throw this.unexpected(entry.conn, msg);
    }
  }

  private addReplica(server: string): void {
    const entry = this.servers.get(server);
    if (!entry || entry.added) return;
    entry.added = true;
    this.trace('replica_added', 'membership', `${this.name}: add replica ${server}`, { server, addr: entry.addr });
    this.gfdLink?.connection?.send({ type: 'membership', from: this.name, server, action: 'add', addr: entry.addr, group: entry.group });
    for (const msg of this.servers.inForceToldBy(server)) this.gfdLink?.connection?.send(msg);
  }

  /**
   * A server is gone: its connection closed, or it timed out. One that timed out may be hung, not
   * dead: it is killed first (fenced), and reported failed only once it is gone, so the RM never
   * relaunches it while the hung process still holds its port or could come back.
   */
  private deleteReplica(server: string, num: number, why: string, timedOut: boolean): void {
    const entry = this.servers.drop(server);
    if (!entry) return;
    this.trace('heartbeat_failed', 'fault', `[${num}] ${this.name}: heartbeat to ${server} failed: ${why}`, { server, num, why });
    if (!timedOut || this.options.fence === false) return this.reportDeleted(entry);
    void this.fencer.fence(entry.pid, entry.local, entry.startTime).then((result) => {
      if (result.fenced) {
        this.trace('fenced', 'fault', `${this.name}: killed ${server} (pid ${entry.pid}, SIGKILL): it stopped answering; it is gone before anyone replaces it`, {
          server,
          pid: entry.pid,
          ms: result.ms,
        });
      } else if (!result.gone) {
        this.trace('fence_failed', 'fault', `${this.name}: cannot fence ${server} (pid ${entry.pid}): ${result.reason}; reporting it failed anyway`, {
          server,
          pid: entry.pid,
          reason: result.reason,
        });
      }
      this.reportDeleted(entry);
    });
  }

  private reportDeleted(entry: ServerEntry): void {
    if (!entry.added || this.lifecycle !== 'running') return;
    this.trace('replica_deleted', 'membership', `${this.name}: delete replica ${entry.name}`, { server: entry.name, addr: entry.addr });
    this.gfdLink?.connection?.send({ type: 'membership', from: this.name, server: entry.name, action: 'delete', addr: entry.addr });
  }

  private serverConnectionClosed(conn: Connection): void {
    const entry = this.servers.ofConnection(conn);
    if (entry) this.deleteReplica(entry.name, entry.watch.lastNum, 'connection closed', false);
  }

  // ---- GFD -------------------------------------------------------------------

  private onGfdUp(conn: Connection): void {
    conn.on('message', (msg) => this.fromGfd(conn, msg));
    conn.send({ type: 'lfdRegister', lfd: this.name, host: this.options.advertise ?? this.options.host ?? DEFAULT_HOST });
    for (const entry of this.servers) {
      if (entry.added) conn.send({ type: 'membership', from: this.name, server: entry.name, action: 'add', addr: entry.addr, group: entry.group });
    }
    // The properties in force here: our heartbeat frequency, and what our servers told.
    for (const msg of this.servers.inForceToTell((s) => !!this.servers.get(s)?.added)) conn.send(msg);
    this.trace('register_sent', 'membership', `${this.name} registering with GFD at ${this.gfdLink!.target}`);
  }

  /**
   * The GFD says how often it heartbeats us. If it then goes silent for GFD_SILENCE_PERIODS
   * periods (our machine cut off the network: TCP says nothing for a long while), drop the
   * connection and dial again, so that we register again as soon as the network lets us.
   */
  private watchGfd(conn: Connection, value: string): void {
    const seconds = Number(value);
    if (!(seconds > 0)) return this.trace('property_rejected', 'fault', `${this.name}: gfd-heartbeat-freq ${JSON.stringify(value)} is not a number of seconds`);
    clearTimeout(this.gfdSilence);
    const ms = seconds * 1000 * GFD_SILENCE_PERIODS;
    this.gfdSilence = setTimeout(() => {
      if (this.gfdLink?.connection !== conn) return;
      this.trace('gfd_silent', 'fault', `${this.name}: no heartbeat from the GFD for ${ms / 1000} s; dropping the connection and dialling again`, { ms });
      conn.destroy();
    }, ms);
    this.gfdSilence.unref();
  }

  private fromGfd(conn: Connection, msg: Message): void {
    switch (msg.type) {
      case 'welcome':
        this.trace('registered', 'membership', `${this.name} registered with ${msg.from}`);
        return;
      case 'refused':
        return msg.to === this.name ? this.refused(msg.reason) : this.serverRefused(msg);
      case 'heartbeat':
        this.gfdSilence?.refresh();
        return this.answerHeartbeat(conn, msg, 'gfd_heartbeat');
      case 'set':
        if (msg.key === 'gfd-heartbeat-freq') return this.watchGfd(conn, msg.value);
        return this.servers.relay(msg);
      case 'role':
      case 'query':
        this.accepted(msg.server);
        return this.toServer(msg.server, msg);
      case 'sendCheckpoint':
        return this.toServer(msg.server, msg);
      case 'launch':
        return void this.relauncher.launch(msg.server, msg.group ?? DEFAULT_GROUP);
      case 'retire':
      case 'inject':
        return this.toServer(msg.server, msg);
      case 'error':
        this.trace('peer_error', 'fault', `${this.name}: GFD reports an error: ${msg.reason}`);
        return;
      default:
        throw this.unexpected(conn, msg);
    }
  }

  /** The GFD refused this LFD for good (a live LFD has its name): stop, and say why. */
  private refused(reason: string): void {
    this.trace('refused', 'fault', `${this.name}: the GFD refused this LFD: ${reason}; exiting`, { reason });
    this.stopRefused(reason, this.options.onRefused);
  }

  /** The GFD refused one of our servers (its name is live on another LFD): tell it, and forget it. */
  private serverRefused(msg: MessageOf<'refused'>): void {
    const entry = this.servers.forget(msg.to);
    if (!entry) return;
    this.trace('registration_refused', 'fault', `${this.name}: ${msg.from} refused ${entry.name} (pid ${entry.pid}): ${msg.reason}`, { server: entry.name, reason: msg.reason });
    entry.conn.send(msg);
    entry.conn.close();
  }

  /** The RM addressed `server`: the system accepted it, so its command line is the one to relaunch it with. */
  private accepted(server: string): void {
    const entry = this.servers.get(server);
    if (!entry || entry.accepted) return;
    entry.accepted = true;
    this.relauncher.learn(server, entry.command);
  }

  private toServer(server: string, msg: Message): void {
    const entry = this.servers.get(server);
    if (!entry?.conn.send(msg)) {
      this.trace('route_failed', 'fault', `${this.name}: cannot pass ${msg.type} to ${server}: not registered here`, { server, type: msg.type });
    }
  }
}
