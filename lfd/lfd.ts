/**
 * Local Fault Detector: one per machine. Servers on the machine register with it;
 * it heartbeats each of them, tells the GFD when one is added or deleted, answers
 * the GFD's heartbeats, and passes the RM's orders down to its servers.
 */
import { Component } from '../lib/component.js';
import { HeartbeatTiming, PeerWatch } from '../lib/detect/watch.js';
import type { Connection, Link, Listener } from '../lib/net/index.js';
import { UnexpectedMessageError, type Message, type MessageOf } from '../lib/protocol/index.js';
import { Tracer, writeStdout } from '../lib/trace/index.js';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PARENT_PIPE_ENV } from '../lib/launch/proc.js';
import { DEFAULT_HOST } from '../lib/config/options.js';
import { parseProperty } from '../lib/config/properties.js';

export interface LfdOptions {
  name: string;
  host?: string;
  port?: number;
  gfd: string;
  heartbeatFreq?: number;
  /** Seconds to wait for a heartbeat answer (default 2 × heartbeatFreq). */
  timeout?: number;
  /**
   * Where the LFD keeps the command lines of its servers, so that after its own restart
   * it can still relaunch them (default: ftkit-lfd in the system's temp directory).
   */
  stateDir?: string;
  tracer?: Tracer;
}

interface ServerEntry {
  name: string;
  addr: string;
  pid: number;
  command: string[];
  conn: Connection;
  watch: PeerWatch;
  added: boolean;
}

export class Lfd extends Component {
  private readonly listener: Listener;
  private readonly gfdLink: Link;
  private readonly servers = new Map<string, ServerEntry>();
  private readonly timing: HeartbeatTiming;
  /** The command line each server registered with, kept after it dies so it can be relaunched. */
  private readonly commands = new Map<string, string[]>();
  /** Servers this LFD launched that have not registered yet. */
  private readonly launching = new Map<string, number>();
  /** Properties the RM set that servers need too (checkpoint-freq), replayed to newcomers. */
  private readonly serverProperties = new Map<string, string>();

  constructor(readonly options: LfdOptions) {
    super(options.name, options.tracer ?? new Tracer(options.name));
    this.timing = new HeartbeatTiming(options.heartbeatFreq, options.timeout);
    this.listener = this.createListener({
      host: options.host,
      port: options.port,
      identify: (conn, first) => this.identify(conn, first),
      onClose: (conn) => this.serverConnectionClosed(conn),
    });
    this.gfdLink = this.createUpstream('GFD', options.gfd, (conn) => this.onGfdUp(conn));
  }

  get address(): string {
    return this.listener.address;
  }

  get heartbeatFreq(): number {
    return this.timing.periodMs / 1000;
  }

  async start(): Promise<void> {
    this.setState('starting');
    await this.listener.listen();
    this.trace('listening', 'info', `${this.name} listening on ${this.address}; heartbeat every ${this.heartbeatFreq} s`, { addr: this.address });
    this.loadCommands();
    this.gfdLink.start();
    this.setState('running');
  }

  async stop(): Promise<void> {
    this.setState('stopping');
    this.gfdLink.stop();
    for (const entry of this.servers.values()) entry.watch.stop();
    this.servers.clear();
    await this.listener.close();
    this.setState('stopped');
  }

  /** Change the heartbeat frequency of every server's detector, at once. */
  setHeartbeatFreq(seconds: number): void {
    this.timing.setFrequency(seconds);
    for (const entry of this.servers.values()) entry.watch.retime();
    this.trace('property_set', 'state', `${this.name}: heartbeat_freq = ${seconds} s`, { key: 'lfd-heartbeat-freq', value: seconds });
  }

  // ---- servers ---------------------------------------------------------------

  private identify(conn: Connection, first: Message): (msg: Message) => void {
    if (first.type !== 'serverRegister') throw new UnexpectedMessageError(`${this.name} expects a server's register first, got ${first.type}`);
    if (first.lfd !== this.name && first.lfd !== 'LFD') {
      throw new UnexpectedMessageError(`${first.server} registered for ${first.lfd} but this is ${this.name}`);
    }
    const existing = this.servers.get(first.server);
    if (existing?.conn.isOpen) throw new UnexpectedMessageError(`${first.server} is already registered with ${this.name}`);
    let command: string[] = [];
    try {
      const parsed: unknown = JSON.parse(first.command || '[]');
      if (Array.isArray(parsed) && parsed.every((a) => typeof a === 'string')) command = parsed;
      else throw new Error('not a list of strings');
    } catch {
      throw new UnexpectedMessageError(`${first.server}'s register.command is not a JSON list of strings`);
    }
    conn.peer = first.server;
    const server = first.server;
    const watch = new PeerWatch({
      me: this.name,
      peer: server,
      role: 'server',
      conn,
      timing: this.timing,
      tracer: this.tracer,
      onAlive: () => this.addReplica(server),
      onLost: (num, why) => this.deleteReplica(server, num, why),
    });
    const entry: ServerEntry = { name: server, addr: first.addr, pid: first.pid, command, conn, added: false, watch };
    this.servers.set(first.server, entry);
    if (command.length > 0 && JSON.stringify(this.commands.get(first.server)) !== JSON.stringify(command)) {
      this.commands.set(first.server, command);
      this.saveCommands();
    }
    this.launching.delete(first.server);
    conn.send({ type: 'welcome', from: this.name, to: first.server });
    for (const [key, value] of this.serverProperties) conn.send({ type: 'set', from: this.name, key, value });
    this.trace('server_registered', 'membership', `${this.name}: ${first.server} registered from ${first.addr} (pid ${first.pid})`, {
      server: first.server,
      addr: first.addr,
      pid: first.pid,
    });
    entry.watch.start();
    return (msg) => this.fromServer(entry, msg);
  }

  private fromServer(entry: ServerEntry, msg: Message): void {
    switch (msg.type) {
      case 'heartbeat':
        return entry.watch.answer(msg.num);
      case 'report':
        this.gfdLink.connection?.send(msg);
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
    this.gfdLink.connection?.send({ type: 'membership', from: this.name, server, action: 'add', addr: entry.addr });
  }

  private deleteReplica(server: string, num: number, why: string): void {
    const entry = this.servers.get(server);
    if (!entry) return;
    this.servers.delete(server);
    entry.watch.stop();
    entry.conn.destroy();
    this.trace('heartbeat_failed', 'fault', `[${num}] ${this.name}: heartbeat to ${server} failed: ${why}`, { server, num, why });
    if (!entry.added) return;
    this.trace('replica_deleted', 'membership', `${this.name}: delete replica ${server}`, { server, addr: entry.addr });
    this.gfdLink.connection?.send({ type: 'membership', from: this.name, server, action: 'delete', addr: entry.addr });
  }

  private serverConnectionClosed(conn: Connection): void {
    const entry = this.servers.get(conn.peer);
    if (entry?.conn === conn) this.deleteReplica(entry.name, entry.watch.lastNum, 'connection closed');
  }

  // ---- GFD -------------------------------------------------------------------

  private onGfdUp(conn: Connection): void {
    conn.on('message', (msg) => this.fromGfd(conn, msg));
    conn.send({ type: 'lfdRegister', lfd: this.name, host: this.options.host ?? DEFAULT_HOST });
    for (const entry of this.servers.values()) {
      if (entry.added) conn.send({ type: 'membership', from: this.name, server: entry.name, action: 'add', addr: entry.addr });
    }
    this.trace('register_sent', 'membership', `${this.name} registering with GFD at ${this.gfdLink.target}`);
  }

  private fromGfd(conn: Connection, msg: Message): void {
    switch (msg.type) {
      case 'welcome':
        this.trace('registered', 'membership', `${this.name} registered with ${msg.from}`);
        return;
      case 'heartbeat':
        conn.send({ type: 'heartbeat', from: this.name, to: msg.from, num: msg.num });
        this.trace('gfd_heartbeat', 'heartbeat', `[${msg.num}] ${this.name} receives heartbeat from ${msg.from} and answers`, { num: msg.num });
        return;
      case 'set':
        return this.onSet(msg);
      case 'role':
      case 'sendCheckpoint':
      case 'query':
        return this.toServer(msg.server, msg);
      case 'launch':
        return this.launch(msg.server);
      case 'retire':
        return this.toServer(msg.server, msg);
      case 'error':
        this.trace('peer_error', 'fault', `${this.name}: GFD reports an error: ${msg.reason}`);
        return;
      default:
        throw this.unexpected(conn, msg);
    }
  }

  private onSet(msg: MessageOf<'set'>): void {
    let value: string | number;
    try {
      value = parseProperty(msg.key, msg.value);
    } catch (err) {
      return this.trace('property_rejected', 'fault', `${this.name}: ${(err as Error).message}`);
    }
    if (msg.key === 'lfd-heartbeat-freq') return this.setHeartbeatFreq(value as number);
    this.serverProperties.set(msg.key, msg.value);
    for (const entry of this.servers.values()) entry.conn.send({ ...msg, from: this.name });
  }

  /**
   * Start server `name` with the command it registered with; a server this LFD never ran
   * starts with a sibling's command, under its own name and on any free port.
   */
  private launch(name: string): void {
    const fail = (reason: string) => {
      this.trace('launch_failed', 'fault', `${this.name}: cannot launch ${name}: ${reason}`, { server: name, reason });
      this.gfdLink.connection?.send({ type: 'launchFailed', lfd: this.name, server: name, reason });
    };
    if (this.servers.get(name)?.conn.isOpen) return fail(`${name} is already running here`);
    const command = this.commands.get(name) ?? templateCommand([...this.commands.values()][0], name);
    if (!command) return fail('no server has registered here, so there is no command line to start it with');
    const child = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, [PARENT_PIPE_ENV]: '1' } });
    // The server's traces continue in ours: a launched server has no terminal of its own.
    createInterface({ input: child.stdout! }).on('line', writeStdout);
    createInterface({ input: child.stderr! }).on('line', writeStdout);
    child.on('error', (err) => fail(err.message));
    child.on('spawn', () => {
      this.launching.set(name, child.pid!);
      this.trace('launched', 'membership', `${this.name}: launched ${name} (pid ${child.pid})`, { server: name, pid: child.pid });
    });
    child.on('exit', (code, signal) => {
      if (this.launching.get(name) !== child.pid) return;
      this.launching.delete(name);
      fail(`exited (${signal ?? `status ${code}`}) before registering`);
    });
  }

  private get commandsFile(): string {
    return join(this.options.stateDir ?? join(tmpdir(), 'ftkit-lfd'), `${this.name}-${this.listener.port}.json`);
  }

  private loadCommands(): void {
    try {
      const saved = JSON.parse(readFileSync(this.commandsFile, 'utf8')) as Record<string, string[]>;
      for (const [name, cmd] of Object.entries(saved)) if (Array.isArray(cmd) && cmd.every((a) => typeof a === 'string')) this.commands.set(name, cmd);
      if (this.commands.size) this.trace('commands_loaded', 'info', `${this.name}: can relaunch ${[...this.commands.keys()].join(', ')} (from ${this.commandsFile})`);
    } catch {
      // No saved commands (first start) or an unreadable file: start with none.
    }
  }

  private saveCommands(): void {
    try {
      mkdirSync(join(this.commandsFile, '..'), { recursive: true });
      writeFileSync(this.commandsFile, JSON.stringify(Object.fromEntries(this.commands)));
    } catch (err) {
      this.trace('commands_unsaved', 'fault', `${this.name}: cannot save command lines to ${this.commandsFile}: ${(err as Error).message}`);
    }
  }

  private toServer(server: string, msg: Message): void {
    const entry = this.servers.get(server);
    if (!entry?.conn.send(msg)) {
      this.trace('route_failed', 'fault', `${this.name}: cannot pass ${msg.type} to ${server}: not registered here`, { server, type: msg.type });
    }
  }
}

/** A sibling's command line turned into one for `name`: its name replaced, on any free port. */
export function templateCommand(sibling: string[] | undefined, name: string): string[] | undefined {
  if (!sibling) return undefined;
  const cmd = [...sibling];
  const sub = cmd.indexOf('server');
  if (sub === -1 || sub + 1 >= cmd.length) return undefined;
  cmd[sub + 1] = name;
  const port = cmd.findIndex((a) => a === '--port' || a.startsWith('--port='));
  if (port === -1) cmd.push('--port', '0');
  else if (cmd[port] === '--port') cmd[port + 1] = '0';
  else cmd[port] = '--port=0';
  return cmd;
}
