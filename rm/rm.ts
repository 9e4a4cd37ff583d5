/**
 * Replication Manager shell: takes the GFD, clients and `ftkit ctl` on one port,
 * feeds membership and reports to the ReplicationCore, and carries out what it
 * decides: role and checkpoint orders down through the GFD, views out to clients.
 */
import { Component, describeMembers } from '../lib/component.js';
import { sendProperties } from '../lib/children.js';
import type { Connection, Listener, Security } from '../lib/net/index.js';
import { DEFAULT_GROUP, UnexpectedMessageError, type Message, type MessageOf, type Mode } from '../lib/protocol/index.js';
import { Tracer } from '../lib/trace/index.js';
import { DEFAULT_MODE, DEFAULT_RESTART_BUDGET, DEFAULT_RESTART_WINDOW_S } from '../lib/config/options.js';
import { PROPERTIES } from '../lib/config/properties.js';
import type { RmCommand, RmEvent } from './core.js';
import { GroupTable, splitByGroup, type Group } from './group.js';
import { ClientTable } from './clients.js';
import { Router, type RouteRule } from './routing.js';
import { ToldTable } from './told.js';
import { SyncTable } from './syncs.js';
import { setRefusal } from './refusal.js';
import { Supervisor, type SupCommand, type SupEvent } from './supervisor.js';
import { MetricsStore } from './metrics.js';
import { Observers, type ObserverOptions } from './observers.js';
import type { WatchedGroup } from './slow.js';

export const RM_NAME = 'RM';
/** How long a restarted RM waits for replicas to report their state before it decides. */
export const REPORT_DEADLINE_MS = 2000;
/** How long the RM waits for the ready replicas to say what they hold before electing a new leader without the silent ones. */
export const ELECTION_DEADLINE_MS = 500;
/** Properties the RM acts on itself; every other one is relayed down to the GFD. */
const RM_ONLY_PROPERTIES = new Set(['primary', 'replicas', 'restart-budget']);

export interface RmOptions extends ObserverOptions {
  port?: number;
  mode?: Mode;
  primary?: string;
  /** Relaunch replicas that die (default true). */
  autoRestart?: boolean;
  restartBudget?: number;
  restartWindow?: number; // seconds
  /** How clients are routed to replica groups by their key (default mod). */
  route?: RouteRule;
  /** Route a key whose group has no ready replica to the first group that has one. */
  fallback?: boolean;
  /** The replica groups known from the start (`--groups`): keys are routed over all of them at once. */
  groups?: string[];
  /** Seconds to wait for a replica that holds everything acknowledged to register again when none is left (default 0.5). */
  recoveryWait?: number;
  /** Secrets and TLS files (default: open). */
  security?: Security;
  tracer?: Tracer;
  /** Tie-breaks of least-loaded routing (default Math.random). */
  random?: () => number;
}

export class Rm extends Component {
  private readonly listener: Listener;
  /** The replica groups, and the group each server joined. */
  private readonly groups: GroupTable;
  readonly supervisor: Supervisor;
  private readonly clients: ClientTable;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** The LFD each server was last reported from. */
  private readonly homeHints = new Map<string, string>();
  private gfd: Connection | undefined;
  /** Self-measurement, fail-slow watch, dashboard (observers.ts). */
  readonly observers: Observers;
  /** Run-time properties set with `ftkit ctl set`, replayed to a GFD that (re)registers. */
  readonly properties = new Map<string, string>();
  /** What ftkit sync last reported of each link (`backlog`). */
  private readonly syncs = new SyncTable();
  /** What each component told it runs with (`in_force`). */
  private readonly told = new ToldTable((who) => who === 'GFD' || this.groups.hasMember(who) || this.supervisor.isUp(who));
  /** Every link's latency and every process's CPU and memory, as reported (docs/OBSERVABILITY.md). */
  readonly metrics = new MetricsStore((from, reason) => this.trace('metrics_refused', 'fault', `RM: metrics report from ${from} refused: ${reason}`, { from, reason }));

  constructor(readonly options: RmOptions = {}) {
    super(RM_NAME, options.tracer ?? new Tracer(RM_NAME), options.security);
    const homeOf = (server: string) => this.supervisor.homeOf(server) ?? this.homeHints.get(server);
    this.groups = new GroupTable(this.mode, options.primary, homeOf, (g) =>
      this.trace('group_added', 'membership', `RM: replica group ${g.name} (${this.mode} replication)${this.options.groups && !this.options.groups.includes(g.name) ? '; not in --groups: keys are now routed over one more group' : ''}`, { group: g.name }),
    );
    for (const name of options.groups ?? []) this.groups.get(name);
    this.supervisor = new Supervisor({
      autoRestart: options.autoRestart ?? true,
      budget: options.restartBudget ?? DEFAULT_RESTART_BUDGET,
      windowMs: (options.restartWindow ?? DEFAULT_RESTART_WINDOW_S) * 1000,
    });
    const router = new Router(options.route ?? 'mod', options.fallback ?? false, this.mode === 'active', options.random);
    this.clients = new ClientTable(router, () => this.groups.inOrder(), this.mode);
    this.listener = this.createListener({
      host: options.host,
      port: options.port,
      identify: (conn, first) => this.identify(conn, first),
      onClose: (conn) => this.connectionClosed(conn),
    });
    this.observers = new Observers(this, options);
  }

  get address(): string {
    return this.listener.address;
  }

  get mode(): Mode {
    return this.options.mode ?? (DEFAULT_MODE as Mode);
  }

  /** The default group's core (the only one in a single-group system). */
  get core() {
    return this.groups.get(DEFAULT_GROUP).core;
  }

  async start(): Promise<void> {
    this.setState('starting');
    await this.listener.listen();
    this.trace('listening', 'info', `RM listening on ${this.address}; ${this.mode} replication`, { addr: this.address, mode: this.mode });
    this.traceSecurity(this.address);
    this.traceMembers(this.groups.get(DEFAULT_GROUP), true);
    await this.observers.start();
    this.setState('running');
  }

  async stop(): Promise<void> {
    this.setState('stopping');
    for (const g of this.groups) clearTimeout(g.reportTimer);
    for (const t of this.timers.values()) clearTimeout(t);
    await this.observers.stop();
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
        for (const g of this.groups) {
          for (const [key, value] of g.properties) if (!RM_ONLY_PROPERTIES.has(key)) conn.send({ type: 'set', from: this.name, key, value, group: g.name });
        }
        this.trace('gfd_registered', 'membership', `RM: ${first.gfd} registered`);
        return (msg) => this.fromGfd(conn, msg);
      }
      case 'client': {
        conn.peer = first.client;
        const handle = (msg: Message) => {
          if (msg.type === 'metrics' && msg.from === first.client) return this.metrics.receive(msg, (process) => process === first.client);
          if (msg.type !== 'client' || msg.client !== first.client) throw this.unexpected(conn, msg);
          this.clients.asked(msg.client, conn, msg.key || undefined);
        };
        handle(first);
        return handle;
      }
      case 'backlog':
        conn.peer = first.from;
        return this.syncs.follow(first, (msg) => this.unexpected(conn, msg));
      case 'status':
      case 'inject':
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
    this.clients.closed(conn);
  }

  private fromGfd(conn: Connection, msg: Message): void {
    switch (msg.type) {
      case 'members': {
        // The GFD (re)registered: the membership is printed again, `RM: 0 members` included.
        const byGroup = splitByGroup(msg.members, msg.groups, DEFAULT_GROUP);
        for (const [group, members] of byGroup) for (const m of members) this.groups.join(m.name, group);
        for (const name of byGroup.keys()) this.groups.get(name);
        for (const g of this.groups) this.dispatch(g, { type: 'members', members: byGroup.get(g.name) ?? [] }, true);
        return;
      }
      case 'membership': {
        if (msg.from !== 'GFD') this.homeHints.set(msg.server, msg.from);
        if (msg.action === 'delete') return this.dispatch(this.groups.of(msg.server), { type: 'deleted', name: msg.server });
        const group = msg.group ?? DEFAULT_GROUP;
        // A name that comes back in another group leaves its old one first.
        const was = this.groups.join(msg.server, group);
        if (was) this.dispatch(was, { type: 'deleted', name: msg.server });
        const g = this.groups.get(group);
        this.dispatch(g, { type: 'added', name: msg.server, addr: msg.addr });
        // A repeated add (after a GFD reconnect) changes nothing in the core but tells where the server runs.
        if (g.core.members.has(msg.server)) this.supervise({ type: 'added', name: msg.server, lfd: msg.from, group, now: Date.now() });
        return;
      }
      case 'report':
        return this.dispatch(this.groups.of(msg.server), { type: 'report', report: msg });
      case 'lagging':
        return this.dispatch(this.groups.of(msg.server), { type: 'lagging', lagging: msg });
      case 'inForce':
        return this.told.record(msg);
      case 'metrics':
        return this.metrics.receive(msg, () => true);
      case 'machine':
        return this.supervise({ type: 'machine', lfd: msg.lfd, up: msg.state === 'up', now: Date.now() });
      case 'launchFailed':
        this.trace('launch_failed', 'fault', `RM: ${msg.lfd} could not launch ${msg.server}: ${msg.reason}`, { server: msg.server, lfd: msg.lfd });
        return this.supervise({ type: 'launchFailed', name: msg.server, reason: msg.reason, now: Date.now() });
      default:
        throw this.unexpected(conn, msg);
    }
  }

  /** Feed a group's core one event and carry out its commands; membership changes go on to the supervisor. */
  private dispatch(g: Group, event: RmEvent, printMembers = false): void {
    const core = g.core;
    const before = new Set(core.members.keys());
    for (const cmd of core.handle(event)) this.execute(g, cmd);
    this.traceMembers(g, printMembers);
    this.traceReady(g);
    const now = Date.now();
    for (const name of before) if (!core.members.has(name)) this.supervise({ type: 'deleted', name, now });
    for (const name of core.members.keys()) if (!before.has(name)) this.supervise({ type: 'added', name, lfd: this.homeHints.get(name), group: g.name, now });
  }

  private supervise(event: SupEvent): void {
    for (const cmd of this.supervisor.handle(event)) this.carryOut(cmd);
  }

  private carryOut(cmd: SupCommand): void {
    switch (cmd.type) {
      case 'send':
        if (!this.gfd?.send(cmd.msg)) this.trace('route_failed', 'fault', `RM: cannot send ${cmd.msg.type} (no GFD connected)`);
        return;
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

  private execute(g: Group, cmd: RmCommand): void {
    const core = g.core;
    switch (cmd.type) {
      case 'send':
        if (!this.gfd?.send(cmd.msg)) this.trace('route_failed', 'fault', `RM: cannot send ${cmd.msg.type} (no GFD connected)`);
        return;
      case 'views': {
        const view = JSON.stringify(core.view());
        if (view === g.lastView) return;
        g.lastView = view;
        this.clients.pushAll();
        const data = { view: core.view(), leader: core.leader, epoch: core.epoch, ...this.groups.data(g) };
        this.trace('view_changed', 'state', `RM: ${this.groups.label(g)}clients now use ${core.view().map((m) => m.name).join(', ') || 'no replica'}`, data);
        return;
      }
      case 'trace':
        this.trace('decision', cmd.category, cmd.text.replace(/^RM: /, `RM: ${this.groups.label(g)}`), { leader: core.leader, epoch: core.epoch, ...this.groups.data(g) });
        return;
      case 'awaitReports':
        clearTimeout(g.reportTimer);
        g.reportTimer = setTimeout(() => this.dispatch(g, { type: 'reportDeadline' }), cmd.why === 'restart' ? REPORT_DEADLINE_MS : cmd.why === 'lastReady' ? (this.options.recoveryWait ?? ELECTION_DEADLINE_MS / 1000) * 1000 : ELECTION_DEADLINE_MS);
        return;
    }
  }

  private traceMembers(g: Group, force = false): void {
    const names = g.core.names();
    const text = describeMembers(names);
    if (!force && text === g.lastMembers) return;
    g.lastMembers = text;
    this.trace('membership_changed', 'membership', `RM: ${this.groups.label(g)}${text}`, { members: names, count: names.length, ...this.groups.data(g) });
  }

  private traceReady(g: Group): void {
    const core = g.core;
    const ready = core.ready().map((m) => m.name);
    const text = ready.join(', ');
    if (text === g.lastReady) return;
    g.lastReady = text;
    this.trace('ready_changed', 'state', `RM: ${this.groups.label(g)}ready replicas: ${text || 'none'}`, { ready, leader: core.leader, epoch: core.epoch, ...this.groups.data(g) });
  }

  // ---- administration (ftkit ctl) ---------------------------------------------

  private fromAdmin(conn: Connection, msg: Message): void {
    switch (msg.type) {
      case 'status':
        return void conn.send({ type: 'ok', from: this.name, to: msg.from, text: JSON.stringify(this.status()) });
      case 'set':
        return this.onSet(conn, msg);
      case 'inject': {
        const refusal = this.observers.inject(msg);
        return void conn.send(refusal ? { type: 'error', from: this.name, to: msg.from, reason: refusal } : { type: 'ok', from: this.name, to: msg.from, text: `${msg.fault} sent to ${msg.server}` });
      }
      default:
        throw this.unexpected(conn, msg);
    }
  }

  private onSet(conn: Connection, msg: MessageOf<'set'>): void {
    const refusal = setRefusal(msg, this.groups);
    const what = `${msg.key} = ${msg.value}${msg.group ? ` in ${msg.group}` : ''}`;
    if (refusal !== undefined) {
      // A bad value is the administrator's mistake, not a protocol error: say why and keep the connection.
      this.trace('property_refused', 'fault', `RM: refused ${what} (from ${msg.from}): ${refusal}`, { key: msg.key, value: msg.value, group: msg.group, reason: refusal });
      conn.send({ type: 'error', from: this.name, to: msg.from, reason: refusal });
      return;
    }
    const g = msg.group ? this.groups.get(msg.group) : undefined;
    (g?.properties ?? this.properties).set(msg.key, msg.value);
    this.trace('property_set', 'state', `RM: ${what} (from ${msg.from})`, { key: msg.key, value: msg.value, ...(g ? { group: g.name } : {}) });
    if (msg.key === 'primary') {
      this.dispatch(this.groups.of(msg.value), { type: 'designate', name: msg.value });
    } else if (msg.key === 'restart-budget') {
      this.supervisor.setBudget(Number(msg.value), g?.name);
    } else if (msg.key === 'replicas') {
      const target = g ?? this.groups.get(DEFAULT_GROUP);
      this.supervise({ type: 'target', count: Number(msg.value), leader: target.core.leader, group: target.name, now: Date.now() });
    } else if (!this.gfd?.send({ type: 'set', from: this.name, key: msg.key, value: msg.value, group: msg.group })) {
      this.trace('route_failed', 'fault', `RM: ${msg.key} recorded; it reaches the GFD when one registers`);
    }
    conn.send({ type: 'ok', from: this.name, to: msg.from, text: what });
  }

  /**
   * Each run-time property as it is now: the leader and the replica count (the RM's own, of the
   * default group), and what ctl set (relayed to every component, and to each that registers
   * later); null for a property never set, which each component still takes from its own flags.
   */
  private inForce(): Record<string, string | null> {
    const out: Record<string, string | null> = {};
    for (const key of Object.keys(PROPERTIES)) if (!RM_ONLY_PROPERTIES.has(key)) out[key] = this.told.summary(key) ?? this.properties.get(key) ?? null;
    out.primary = this.core.leader ?? null;
    out.replicas = String(this.supervisor.target ?? this.core.members.size);
    // The RM's own --restart-budget is on its command line; shown here once ctl changed it.
    if (this.properties.has('restart-budget')) out['restart-budget'] = String(this.supervisor.budgetOf(DEFAULT_GROUP));
    return out;
  }

  watchedGroups(): WatchedGroup[] {
    return this.groups.inOrder().map((g) => ({ name: g.name, leader: g.core.leader ?? null, members: g.core.names() }));
  }

  /** A message for a server, through the GFD and its LFD; false if no GFD is connected. */
  sendDown(msg: MessageOf<'retire' | 'inject'>): boolean {
    return this.gfd?.send(msg) ?? false;
  }

  status(): Record<string, unknown> {
    const groups = this.groups.inOrder();
    const byGroup = this.clients.byGroup();
    return {
      mode: this.core.mode,
      epoch: this.core.epoch,
      leader: this.core.leader ?? null,
      gfd: this.gfd?.isOpen ? 'connected' : 'disconnected',
      members: groups.flatMap((g) => g.members()),
      clients: this.clients.names(),
      properties: Object.fromEntries(this.properties),
      inForce: this.inForce(),
      reported: this.told.reported(),
      target: this.supervisor.target ?? null,
      supervision: this.supervisor.status(Date.now()),
      groups: groups.map((g) => ({
        name: g.name,
        mode: g.core.mode,
        epoch: g.core.epoch,
        leader: g.core.leader ?? null,
        ready: g.core.ready().map((m) => m.name),
        members: g.members().map(({ group: _, ...m }) => m),
        clients: byGroup.get(g.name) ?? [],
        target: this.supervisor.targetOf(g.name) ?? null,
        restartBudget: this.supervisor.budgetOf(g.name),
        failSlow: this.observers.slow.flagged(g.name),
        properties: Object.fromEntries(g.properties),
      })),
      route: { rule: this.options.route ?? 'mod', fallback: this.options.fallback ?? false },
      routes: this.clients.routes(),
      sync: this.syncs.status(),
      metrics: this.metrics.summary(),
    };
  }
}
