/**
 * Replication Manager shell: takes the GFD, clients and `ftkit ctl` on one port,
 * feeds membership and reports to the ReplicationCore, and carries out what it
 * decides: role and checkpoint orders down through the GFD, views out to clients.
 */
import { Component, describeMembers } from '../lib/component.js';
import { sendProperties } from '../lib/children.js';
import type { Connection, Listener } from '../lib/net/index.js';
import type { Security } from '../lib/net/index.js';
import { UnexpectedMessageError, type Message, type MessageOf, type Mode } from '../lib/protocol/index.js';
import { Tracer } from '../lib/trace/index.js';
import { DEFAULT_MODE } from '../lib/config/options.js';
import { PROPERTIES, parseProperty } from '../lib/config/properties.js';
import { ReplicationCore, type RmCommand, type RmEvent } from './core.js';
import { Supervisor, type SupCommand, type SupEvent } from './supervisor.js';
import { DEFAULT_RESTART_BUDGET, DEFAULT_RESTART_WINDOW_S } from '../lib/config/options.js';

export const RM_NAME = 'RM';
/** How long a restarted RM waits for replicas to report their state before it decides. */
export const REPORT_DEADLINE_MS = 2000;
/** How long the RM waits for the ready replicas to say what they hold before electing a new leader without the silent ones. */
export const ELECTION_DEADLINE_MS = 500;
/** Properties the RM acts on itself; every other one is relayed down to the GFD. */
const RM_ONLY_PROPERTIES = new Set(['primary', 'replicas']);

export interface RmOptions {
  host?: string;
  port?: number;
  mode?: Mode;
  primary?: string;
  /** Relaunch replicas that die (default true). */
  autoRestart?: boolean;
  restartBudget?: number;
  /** Seconds. */
  restartWindow?: number;
  /** Secrets and TLS files (default: open). */
  security?: Security;
  tracer?: Tracer;
}

export class Rm extends Component {
  private readonly listener: Listener;
  readonly core: ReplicationCore;
  readonly supervisor: Supervisor;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** The LFD each server was last reported from. */
  private readonly homeHints = new Map<string, string>();
  private gfd: Connection | undefined;
  private readonly clients = new Map<string, Connection>();
  /** Run-time properties set with `ftkit ctl set`, replayed to a GFD that (re)registers. */
  readonly properties = new Map<string, string>();
  /** What each component told it runs with (`in_force`): by key, by component. */
  private readonly told = new Map<string, Map<string, string>>();
  private reportTimer: NodeJS.Timeout | undefined;
  private lastMembers = '';
  private lastView = '';
  private lastReady = '';

  constructor(readonly options: RmOptions = {}) {
    super(RM_NAME, options.tracer ?? new Tracer(RM_NAME), options.security);
    this.core = new ReplicationCore(options.mode ?? (DEFAULT_MODE as Mode), options.primary);
    this.supervisor = new Supervisor({
      autoRestart: options.autoRestart ?? true,
      budget: options.restartBudget ?? DEFAULT_RESTART_BUDGET,
      windowMs: (options.restartWindow ?? DEFAULT_RESTART_WINDOW_S) * 1000,
    });
    this.listener = this.createListener({
      host: options.host,
      port: options.port,
      identify: (conn, first) => this.identify(conn, first),
      onClose: (conn) => this.connectionClosed(conn),
    });
  }

  get address(): string {
    return this.listener.address;
  }

  async start(): Promise<void> {
    this.setState('starting');
    await this.listener.listen();
    this.trace('listening', 'info', `RM listening on ${this.address}; ${this.core.mode} replication`, { addr: this.address, mode: this.core.mode });
    this.traceSecurity(this.address);
    this.traceMembers(true);
    this.setState('running');
  }

  async stop(): Promise<void> {
    this.setState('stopping');
    clearTimeout(this.reportTimer);
    for (const t of this.timers.values()) clearTimeout(t);
    await this.listener.close();
    this.setState('stopped');
  }

  private identify(conn: Connection, first: Message): (msg: Message) => void {
    switch (first.type) {
      case 'gfdRegister': {
        if (this.gfd?.isOpen) throw new UnexpectedMessageError(`a GFD is already registered with the RM`);
        conn.peer = first.gfd;
        this.gfd = conn;
        conn.send({ type: 'welcome', from: this.name, to: first.gfd });
        sendProperties(conn, this.name, [...this.properties].filter(([key]) => !RM_ONLY_PROPERTIES.has(key)));
        this.trace('gfd_registered', 'membership', `RM: ${first.gfd} registered`);
        return (msg) => this.fromGfd(conn, msg);
      }
      case 'client': {
        conn.peer = first.client;
        const handle = (msg: Message) => {
          if (msg.type !== 'client' || msg.client !== first.client) throw this.unexpected(conn, msg);
          this.clients.set(msg.client, conn);
          this.sendView(conn, msg.client);
        };
        handle(first);
        return handle;
      }
      case 'status':
      case 'set': {
        conn.peer = first.from;
        const handle = (msg: Message) => this.fromAdmin(conn, msg);
        handle(first);
        return handle;
      }
      default:
        throw new UnexpectedMessageError(`RM expects the GFD's register, a client or an admin message first, got ${first.type}`);
    }
  }

  private connectionClosed(conn: Connection): void {
    if (conn === this.gfd) {
      this.gfd = undefined;
      this.trace('gfd_lost', 'fault', `RM: connection to GFD lost; keeping the last known membership until it reconnects`);
    }
    if (this.clients.get(conn.peer) === conn) this.clients.delete(conn.peer);
  }

  private fromGfd(conn: Connection, msg: Message): void {
    switch (msg.type) {
      case 'members':
        // The GFD (re)registered: the membership is printed again, `RM: 0 members` included.
        return this.dispatch({ type: 'members', members: msg.members }, true);
      case 'membership':
        if (msg.from !== 'GFD') this.homeHints.set(msg.server, msg.from);
        if (msg.action === 'delete') return this.dispatch({ type: 'deleted', name: msg.server });
        this.dispatch({ type: 'added', name: msg.server, addr: msg.addr });
        // A repeated add (after a GFD reconnect) changes nothing in the core but tells where the server runs.
        if (this.core.members.has(msg.server)) this.supervise({ type: 'added', name: msg.server, lfd: msg.from, now: Date.now() });
        return;
      case 'report':
        return this.dispatch({ type: 'report', report: msg });
      case 'lagging':
        return this.dispatch({ type: 'lagging', lagging: msg });
      case 'inForce': {
        let byComponent = this.told.get(msg.key);
        if (!byComponent) this.told.set(msg.key, (byComponent = new Map()));
        byComponent.set(msg.from, msg.value);
        return;
      }
      case 'machine':
        return this.supervise({ type: 'machine', lfd: msg.lfd, up: msg.state === 'up', now: Date.now() });
      case 'launchFailed':
        this.trace('launch_failed', 'fault', `RM: ${msg.lfd} could not launch ${msg.server}: ${msg.reason}`, { server: msg.server, lfd: msg.lfd });
        return this.supervise({ type: 'launchFailed', name: msg.server, reason: msg.reason, now: Date.now() });
      default:
        throw this.unexpected(conn, msg);
    }
  }

  /** Feed the core one event and carry out its commands; membership changes go on to the supervisor. */
  private dispatch(event: RmEvent, printMembers = false): void {
    const before = new Set(this.core.members.keys());
    for (const cmd of this.core.handle(event)) this.execute(cmd);
    this.traceMembers(printMembers);
    this.traceReady();
    const now = Date.now();
    for (const name of before) if (!this.core.members.has(name)) this.supervise({ type: 'deleted', name, now });
    for (const name of this.core.members.keys()) if (!before.has(name)) this.supervise({ type: 'added', name, lfd: this.homeHints.get(name), now });
  }

  private supervise(event: SupEvent): void {
    for (const cmd of this.supervisor.handle(event)) this.carryOut(cmd);
  }

  private carryOut(cmd: SupCommand): void {
    switch (cmd.type) {
      case 'send':
        return this.execute(cmd);
      case 'trace':
        return this.trace('supervision', cmd.category, cmd.text);
      case 'timer': {
        const key = `${cmd.event}:${cmd.name}`;
        clearTimeout(this.timers.get(key));
        this.timers.set(
          key,
          setTimeout(() => {
            this.timers.delete(key);
            this.supervise({ type: cmd.event, name: cmd.name, now: Date.now() });
          }, cmd.ms),
        );
      }
    }
  }

  private execute(cmd: RmCommand): void {
    switch (cmd.type) {
      case 'send':
        if (!this.gfd?.send(cmd.msg)) this.trace('route_failed', 'fault', `RM: cannot send ${cmd.msg.type} (no GFD connected)`);
        return;
      case 'views': {
        const view = JSON.stringify(this.core.view());
        if (view === this.lastView) return;
        this.lastView = view;
        for (const [client, conn] of this.clients) this.sendView(conn, client);
        this.trace('view_changed', 'state', `RM: clients now use ${this.core.view().map((m) => m.name).join(', ') || 'no replica'}`, {
          view: this.core.view(),
          leader: this.core.leader,
          epoch: this.core.epoch,
        });
        return;
      }
      case 'trace':
        this.trace('decision', cmd.category, cmd.text, { leader: this.core.leader, epoch: this.core.epoch });
        return;
      case 'awaitReports':
        clearTimeout(this.reportTimer);
        this.reportTimer = setTimeout(() => this.dispatch({ type: 'reportDeadline' }), cmd.why === 'restart' ? REPORT_DEADLINE_MS : ELECTION_DEADLINE_MS);
        return;
    }
  }

  private traceMembers(force = false): void {
    const names = this.core.names();
    const text = describeMembers(names);
    if (!force && text === this.lastMembers) return;
    this.lastMembers = text;
    this.trace('membership_changed', 'membership', `RM: ${text}`, { members: names, count: names.length });
  }

  private traceReady(): void {
    const ready = this.core.ready().map((m) => m.name);
    const text = ready.join(', ');
    if (text === this.lastReady) return;
    this.lastReady = text;
    this.trace('ready_changed', 'state', `RM: ready replicas: ${text || 'none'}`, { ready, leader: this.core.leader, epoch: this.core.epoch });
  }

  private sendView(conn: Connection, client: string): void {
    conn.send({ type: 'view', client, mode: this.core.mode, replicas: this.core.view() });
  }

  // ---- administration (ftkit ctl) ---------------------------------------------

  private fromAdmin(conn: Connection, msg: Message): void {
    switch (msg.type) {
      case 'status':
        conn.send({ type: 'ok', from: this.name, to: msg.from, text: JSON.stringify(this.status()) });
        return;
      case 'set':
        return this.onSet(conn, msg);
      default:
        throw this.unexpected(conn, msg);
    }
  }

  private onSet(conn: Connection, msg: MessageOf<'set'>): void {
    const refusal = this.refusal(msg.key, msg.value);
    if (refusal !== undefined) {
      // A bad value is the administrator's mistake, not a protocol error: say why and keep the connection.
      this.trace('property_refused', 'fault', `RM: refused ${msg.key} = ${msg.value} (from ${msg.from}): ${refusal}`, { key: msg.key, value: msg.value, reason: refusal });
      conn.send({ type: 'error', from: this.name, to: msg.from, reason: refusal });
      return;
    }
    this.properties.set(msg.key, msg.value);
    this.trace('property_set', 'state', `RM: ${msg.key} = ${msg.value} (from ${msg.from})`, { key: msg.key, value: msg.value });
    if (msg.key === 'primary') {
      this.dispatch({ type: 'designate', name: msg.value });
    } else if (msg.key === 'replicas') {
      this.supervise({ type: 'target', count: Number(msg.value), leader: this.core.leader, now: Date.now() });
    } else if (!this.gfd?.send({ type: 'set', from: this.name, key: msg.key, value: msg.value })) {
      this.trace('route_failed', 'fault', `RM: ${msg.key} recorded; it reaches the GFD when one registers`);
    }
    conn.send({ type: 'ok', from: this.name, to: msg.from, text: `${msg.key} = ${msg.value}` });
  }

  /**
   * Each run-time property as it is now: the leader and the replica count (the RM's own), and what
   * ctl set (relayed to every component, and to each that registers later); null for a property
   * never set, which each component still takes from its own flags.
   */
  private inForce(): Record<string, string | null> {
    const out: Record<string, string | null> = {};
    for (const key of Object.keys(PROPERTIES)) out[key] = this.toldSummary(key) ?? this.properties.get(key) ?? null;
    out.primary = this.core.leader ?? null;
    out.replicas = String(this.supervisor.target ?? this.core.members.size);
    return out;
  }

  /**
   * What the components that are still there told of `key`, by value: `1 (LFD1, LFD2, LFD3)`, or
   * `1 (LFD1, LFD2); 0.5 (LFD3)` when they differ. Replicas that left and LFDs of machines that are
   * down no longer count.
   */
  private toldSummary(key: string): string | undefined {
    const byValue = new Map<string, string[]>();
    for (const [who, value] of this.toldNow(key)) byValue.set(value, [...(byValue.get(value) ?? []), who]);
    if (byValue.size === 0) return undefined;
    return [...byValue].map(([value, who]) => `${value} (${who.sort().join(', ')})`).join('; ');
  }

  private toldNow(key: string): Array<[string, string]> {
    const byComponent = this.told.get(key) ?? new Map<string, string>();
    const there = (who: string) => who === 'GFD' || this.core.members.has(who) || this.supervisor.isUp(who);
    return [...byComponent].filter(([who]) => there(who));
  }

  /** Why `ctl set key value` cannot be done, or undefined. */
  private refusal(key: string, value: string): string | undefined {
    try {
      parseProperty(key, value);
    } catch (err) {
      return (err as Error).message;
    }
    if (key === 'primary' && !this.core.members.has(value)) {
      const names = this.core.names();
      return `primary: no replica ${value} (replicas: ${names.join(', ') || 'none'})`;
    }
    return undefined;
  }

  status(): Record<string, unknown> {
    return {
      mode: this.core.mode,
      epoch: this.core.epoch,
      leader: this.core.leader ?? null,
      gfd: this.gfd?.isOpen ? 'connected' : 'disconnected',
      members: this.core.names().map((n) => {
        const m = this.core.members.get(n)!;
        return { name: n, addr: m.addr, role: this.core.roleOf(n), ready: m.ready };
      }),
      clients: [...this.clients.keys()],
      properties: Object.fromEntries(this.properties),
      inForce: this.inForce(),
      reported: Object.fromEntries([...this.told.keys()].map((k) => [k, Object.fromEntries(this.toldNow(k))])),
      target: this.supervisor.target ?? null,
      supervision: this.supervisor.status(Date.now()),
    };
  }
}
