/**
 * `ftkit demo` (= `npm start`): the whole system on 127.0.0.1 as separate processes
 * (RM, GFD, LFD1–3, S1–3, C1–3), every line shown behind its process's name (view.ts), with
 * keys to inject faults (keys.ts) and an orderly stop; with `--app sns` or `--app chat`,
 * scripted users (users.ts) in place of the clients. A set-up is what `start()` launches;
 * the scenario (scenario.ts) and the tmux layout (tmux.ts) drive the same Demo.
 */
import { resolve } from 'node:path';
import { System, type SystemTls } from '../launch/system.js';
import { alive, type Proc } from '../launch/proc.js';
import { SYSTEM_STOPPING_LINE } from '../../lib/detect/parent.js';
import type { Category, TraceEvent } from '../../lib/trace/index.js';
import { formatStatus } from '../../clients/ctl.js';
import type { Mode } from '../../lib/protocol/index.js';
import type { AppName } from '../../servers/core/apps.js';
import { PlainView, shown, type DemoView, type ShowOptions } from './view.js';
import type { KeySetUp } from './keys.js';
import { DemoSlowFaults } from './slowfaults.js';
import { ScriptedUsers } from './users.js';

export interface DemoOptions extends ShowOptions {
  mode: Mode;
  app: AppName;
  heartbeatFreq: number;
  checkpointFreq: number;
  /** Keep each replica on disk under this folder (`--data-dir`). */
  dataDir?: string;
  basePort: number;
  color?: boolean;
  /** One JSON trace event per line, from every component and the demo. */
  json?: boolean;
  /** The deployment secret (made if missing); undefined: the demo runs open. */
  secretFile?: string;
  /** Every link over TLS with these files. */
  tls?: SystemTls;
  /** The RM relaunches replicas that die (default true). */
  autoRestart?: boolean;
  /** The RM's fail-slow warm-up in seconds (`--slow-warmup`; default: the RM's). */
  slowWarmup?: number;
  /** Where lines go (default: prefixed lines on stdout). */
  view?: DemoView;
  /** An RM (default true); without one, the set-up of the course's milestones 1–3 (System's `rm`). */
  rm?: boolean;
  /** A GFD (default true; milestone 1 has none). */
  gfd?: boolean;
  /** How many replicas, S1…Sn (default 3); per group with several groups. */
  replicas?: number;
  /**
   * Replica groups (default 1): g1 = S1–S3, g2 = S4–S6, g3 = S7–S9 over LFD1–3, the first replica
   * of group k on LFDk so the leaders start on different machines; client Ck has key k, and the
   * RM routes by key with fallback (`--route mod --fallback`).
   */
  groups?: number;
  /** Extra flags for every server (e.g. `--passive checkpoint-only`). */
  serverArgs?: string[];
  /** The first line the demo says (default: the mode, the RM's port and the app). */
  intro?: string;
  /** Say each command line the demo runs, as a user would type it on that machine (the milestones). */
  showCommands?: boolean;
}

export const SERVERS = ['S1', 'S2', 'S3'];
export const CLIENTS = ['C1', 'C2', 'C3'];
/** The control plane's processes, which keys may kill and start again. */
export const CONTROL = ['RM', 'GFD', 'LFD1', 'LFD2', 'LFD3'];
/** How long an orderly stop waits for every component to acknowledge that the system is stopping. */
const STOP_NOTICE_MS = 3000;

/** The most replica groups the demo runs: its keys 1–9 kill S1–S9. */
export const MAX_DEMO_GROUPS = 3;

/** The demo's ports from its base: RM base, GFD base+1, the dashboard base+2, LFDi base+100+i, Si base+200+i (S1–S3, or S1–S9 with groups). */
export function demoPorts(base: number, servers = 3): Record<string, number> {
  const ports: Record<string, number> = { RM: base, GFD: base + 1, dashboard: base + 2 };
  for (const i of [1, 2, 3]) ports[`LFD${i}`] = base + 100 + i;
  for (let i = 1; i <= servers; i++) ports[`S${i}`] = base + 200 + i;
  return ports;
}

/** The highest port the demo uses from `base`. */
export const lastDemoPort = (base: number, servers = 3) => Math.max(...Object.values(demoPorts(base, servers)));

/** The payload template that suits each app, so every client request does something visible. */
export function demoMessage(app: DemoOptions['app'], client: string): string {
  if (app === 'counter') return 'add 1';
  if (app === 'log') return `append ${client}-{n}`;
  return `hello_from_${client}_{n}`;
}

export class Demo {
  readonly system: System;
  readonly view: DemoView;
  /** Processes whose per-request lines are left out (the scenario's final read of the whole log). */
  readonly digestOnly = new Set<string>();
  /** Replicas paused with SIGSTOP, by name: their pids. */
  private readonly paused = new Map<string, number>();
  private stopping: Promise<void> | undefined;
  /** Run when an orderly stop begins (the keys give the terminal back). */
  onStopping: (() => void) | undefined;
  /** The scripted users of `--app sns` and `--app chat`, in place of the clients C1–C3. */
  users: ScriptedUsers | undefined;
  /** The fail-slow keys' faults (c, m, d; n clears). */
  readonly slowFaults: DemoSlowFaults;

  constructor(readonly options: DemoOptions) {
    this.system = new System({
      mode: options.mode,
      app: options.app,
      heartbeat: options.heartbeatFreq,
      checkpointFreq: options.checkpointFreq,
      dataDir: options.dataDir === undefined ? undefined : resolve(options.dataDir),
      basePort: options.basePort,
      secretFile: options.secretFile ?? false,
      tls: options.tls,
      autoRestart: options.autoRestart,
      rm: options.rm,
      gfd: options.gfd,
      replicas: options.replicas,
      groups: options.groups,
      machines: options.groups && options.groups > 1 ? 3 : undefined,
      // The RM serves the dashboard and /metrics beside its own port.
      // Durable replicas come back with what they held: wait for the last ready one rather than continue without it.
      // The milestones show the course's own command lines: no dashboard there.
      rmArgs: [...(demoRoute(options) ?? []), ...(options.showCommands ? [] : ['--http', String(options.basePort + 2)]), ...(options.dataDir ? ['--recovery-wait', '5'] : []), ...(options.slowWarmup === undefined ? [] : ['--slow-warmup', String(options.slowWarmup)])],
      // What is not shown is not built: heartbeat and per-request lines cost the components work.
      quietHeartbeats: !options.heartbeats,
      serverArgs: [...(options.serverArgs ?? []), ...(options.quiet ? ['--quiet'] : [])],
      // A terminal's Ctrl-C reaches the demo alone, which stops the others in order.
      detached: true,
    });
    this.view = options.view ?? new PlainView({ json: options.json, color: options.color });
    this.slowFaults = new DemoSlowFaults(this.system, (text, category, data) => this.say(text, category, data));
    this.system.group.on('spawned', (proc) => this.follow(proc));
  }

  say(text: string, category?: Category, data?: Record<string, unknown>): void {
    this.view.say(text, category, data);
  }

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** What this set-up has, for the keys and their help. */
  get setUp(): KeySetUp {
    const sys = this.system;
    return { replicas: sys.servers.length, machines: sys.machines.length, gfd: sys.hasGfd, rm: sys.hasRm, byHand: !sys.hasRm || this.options.autoRestart === false };
  }

  private follow(proc: Proc): void {
    if (this.options.showCommands) this.say(`${proc.name}: ${userCommand(proc.args)}`);
    // Events carry their component: a server relaunched by an LFD speaks through the LFD's output.
    proc.on('event', (e: TraceEvent) => {
      if (!shown(e, this.options)) return;
      if (this.digestOnly.has(e.component) && (e.category === 'request' || e.category === 'reply')) return;
      this.view.event(e);
    });
    proc.on('line', (line) => this.view.line(proc.name, line));
    proc.on('exit', (code, signal) => {
      if (this.stopping) return;
      this.view.event({ time: Date.now(), component: proc.name, type: 'exited', category: 'fault', text: `exited (${signal ?? `status ${code}`})` });
    });
  }

  /** The set-up: RM, GFD, LFD1–3 and S1–3, then clients C1–C3. */
  async start(): Promise<void> {
    this.say(this.options.intro ?? `starting ${this.options.mode} replication on 127.0.0.1 (RM port ${this.options.basePort}, app ${this.options.app})`);
    const secret = this.system.secretFile;
    if (secret) {
      const tls = this.options.tls ? ` --tls-ca ${this.options.tls.ca}` : '';
      const ctl = this.system.hasRm ? `; administer with: ftkit ctl --rm 127.0.0.1:${this.options.basePort} --secret-file ${secret}${tls} status` : '';
      this.say(`every component proves the secret in ${secret}${this.options.tls ? ', over TLS' : ''}${ctl}`);
    }
    await this.system.start();
    if (this.system.hasRm && !this.options.showCommands) this.say(`live dashboard: http://127.0.0.1:${this.options.basePort + 2}/ (Prometheus metrics at /metrics)`);
    const groups = this.system.groupCount;
    const layout = `${groups} replica groups: ${this.system.groupNames.map((g) => `${g} ${this.system.serversOf(g).join(', ')}`).join(' · ')}`;
    const app = this.options.app;
    if (app === 'sns' || app === 'chat') return this.startUsers(layout);
    if (groups > 1) this.say(`${layout}; client Ck has key k, routed to group ((k - 1) mod ${groups}) + 1, or to the first group with a ready replica while its own has none`);
    for (const c of this.clientNames) this.startClient(c, groups > 1 ? ['--key', c.slice(1)] : []);
  }

  /** `--app sns` and `--app chat`: scripted users (and for sns, ftkit sync) instead of C1–C3. */
  private async startUsers(layout: string): Promise<void> {
    const groups = this.system.groupCount;
    if (this.options.app === 'sns') {
      this.say(`${layout}; user N lives in group ((N - 1) mod ${groups}) + 1, and ftkit sync carries each group's outbox to the others`);
      this.system.startSync();
    } else {
      const servers = this.system.servers;
      this.say(`chat rooms on ${servers.join(', ')}: the RM hands each user the replica with the fewest users`);
      // Users spread over the replicas that are ready: wait for all of them (a while at most).
      const allReady = (e: TraceEvent) => e.type === 'ready_changed' && (e.data as { ready: string[] }).ready.length === servers.length;
      await this.system.rm.waitFor(allReady, 20_000).catch(() => undefined);
      if (this.isStopping) return;
    }
    this.users = new ScriptedUsers(this);
    this.users.start();
    this.say(`open your own client beside them: ${this.users.ownClient()}`);
  }

  /** C1–C3, or one client per group. */
  get clientNames(): string[] {
    return this.system.groupCount > 1 ? this.system.groupNames.map((_, i) => `C${i + 1}`) : CLIENTS;
  }

  startClient(name: string, extra: string[] = []): Proc {
    return this.system.startClient(name, ['--message', demoMessage(this.options.app, name), '--interval', '1', '--give-up', '3600', ...extra]);
  }

  /**
   * The pid of a server now: the one that last registered with an LFD, while it runs; else the one
   * the demo started, or the latest one an LFD relaunched. (On a slow machine the RM may launch a
   * second copy before the first has registered; that copy finds the port taken and exits, and
   * killing it would not kill the member.)
   */
  serverPid(server: string): number | undefined {
    let pid: number | undefined;
    let registered: { pid: number; time: number } | undefined;
    const own = this.system.group.procs.get(server);
    if (own?.running) pid = own.pid;
    for (const p of this.system.group.procs.values()) {
      for (const e of p.events) {
        const d = e.data as { server?: string; pid?: number } | undefined;
        if (d?.server !== server || d.pid === undefined) continue;
        if (e.type === 'launched') pid = d.pid;
        if (e.type === 'server_registered' && (!registered || e.time >= registered.time)) registered = { pid: d.pid, time: e.time };
      }
    }
    if (registered && alive(registered.pid)) return registered.pid;
    return pid !== undefined && alive(pid) ? pid : undefined;
  }

  kill(server: string, signal: NodeJS.Signals = 'SIGKILL'): number | undefined {
    const pid = this.serverPid(server);
    if (pid === undefined) {
      this.say(`${server} is not running`);
      return undefined;
    }
    this.say(`${signal === 'SIGKILL' ? 'kill -9' : signal} ${server} (pid ${pid})`, 'fault', { signal, target: server, pid });
    process.kill(pid, signal);
    return pid;
  }

  /** Start `server` again by hand, where it ran, as its machine's user would (where nothing relaunches it). */
  async relaunch(server: string): Promise<void> {
    const pid = this.serverPid(server);
    if (pid !== undefined) return this.say(`${server} is running (pid ${pid})`);
    this.say(`starting ${server} again by hand`, 'info', { relaunch: server });
    try {
      await this.system.startServer(server);
    } catch (err) {
      this.say(`cannot start ${server}: ${(err as Error).message}`, 'fault');
    }
  }

  /** Pause `server` (SIGSTOP), or resume it (SIGCONT) if the demo paused it. */
  togglePause(server: string): void {
    const pid = this.paused.get(server);
    if (pid !== undefined) {
      this.paused.delete(server);
      if (alive(pid)) {
        this.say(`SIGCONT ${server} (pid ${pid})`, 'fault', { signal: 'SIGCONT', target: server, pid });
        process.kill(pid, 'SIGCONT');
        return;
      }
      const now = this.serverPid(server);
      this.say(`${server} (pid ${pid}) is gone: its LFD killed it when it stopped answering${now === undefined ? '' : `; ${server} runs again as pid ${now}`}`);
      return;
    }
    const paused = this.kill(server, 'SIGSTOP');
    if (paused === undefined) return;
    this.paused.set(server, paused);
    this.say(`press p then ${server.slice(1)} again to resume it`);
  }

  /** Kill a control-plane process (SIGKILL); if it is down, start it again where it was. */
  async killOrStart(name: string): Promise<void> {
    const proc = this.system.group.procs.get(name);
    if (proc?.running) {
      this.say(`kill -9 ${name} (pid ${proc.pid}); press the same key again to start it again`, 'fault', { signal: 'SIGKILL', target: name, pid: proc.pid });
      proc.kill('SIGKILL');
      return;
    }
    this.say(`starting ${name} again`);
    try {
      if (name === 'RM') await this.system.startRm();
      else if (name === 'GFD') await this.system.startGfd();
      else await this.system.startLfd(name);
    } catch (err) {
      this.say(`cannot start ${name}: ${(err as Error).message}`, 'fault');
    }
  }

  async status(): Promise<void> {
    try {
      const json = await this.system.ctl({ op: 'status' });
      if (this.options.json) this.say('status', 'info', JSON.parse(json) as Record<string, unknown>);
      else for (const line of formatStatus(json).split('\n')) this.say(line);
    } catch (err) {
      this.say(`status: ${(err as Error).message}`, 'fault');
    }
  }

  /**
   * The orderly stop (q, Ctrl-C, SIGTERM, the end of --duration): every component is told that
   * the system is stopping, so what its peers do next is no fault; then the clients stop (each
   * says how many replies it had), then the RM (so nothing is elected or relaunched), then the
   * rest. A paused replica is resumed first, so it can hear and exit.
   */
  stop(why: string): Promise<void> {
    this.stopping ??= (async () => {
      this.onStopping?.();
      const one = this.system.servers.length === 1;
      const rest = [...(this.system.hasGfd ? ['the GFD'] : []), one ? 'the LFD' : 'the LFDs'].join(', ');
      const order = ['the clients', ...(this.system.hasRm ? ['the RM'] : []), `${rest} and ${one ? 'the replica' : 'the replicas'}`];
      this.say(`stopping in order (${why}): ${order.join(', then ')}; what they print now is no fault`);
      for (const pid of this.paused.values()) if (alive(pid)) process.kill(pid, 'SIGCONT');
      const running = [...this.system.group.procs.values()].filter((p) => p.running);
      // ftkit sync is a client of the groups: it stops with them.
      const isClient = (p: Proc) => p.args[0] === 'client' || p.args[0] === 'sync';
      await this.announceStop(running.filter((p) => !isClient(p)));
      await Promise.all([this.users?.stop(), ...running.filter(isClient).map((p) => p.stop())]);
      await this.system.group.procs.get('RM')?.stop();
      await this.system.stop();
      this.say('stopped: every process the demo started has exited');
      this.view.close?.();
    })();
    return this.stopping;
  }

  /** Tell every component the system is stopping; resolves when each said it heard (or after a while). */
  private announceStop(procs: Proc[]): Promise<void> {
    const expected = new Set(procs.map((p) => p.name));
    // A relaunched replica hears it from its LFD, and answers through the LFD's output.
    for (const s of this.system.servers) if (this.serverPid(s) !== undefined) expected.add(s);
    const heard = new Set<string>();
    return new Promise((resolve) => {
      const onEvent = (e: TraceEvent) => {
        if (e.type !== 'system_stopping') return;
        heard.add(e.component);
        if ([...expected].every((n) => heard.has(n))) done();
      };
      const done = () => {
        clearTimeout(timer);
        for (const p of procs) p.off('event', onEvent);
        resolve();
      };
      const timer = setTimeout(done, STOP_NOTICE_MS);
      for (const p of procs) {
        p.on('event', onEvent);
        p.tell(SYSTEM_STOPPING_LINE);
      }
    });
  }
}

/** How the RM routes: sns users to their home group (`mod`, no fallback: a user lives in one group), chat users to the least-loaded replica, the clients of several groups by key with fallback. */
function demoRoute(o: DemoOptions): string[] | undefined {
  if (o.app === 'chat') return ['--route', 'least-loaded'];
  if (!o.groups || o.groups < 2) return undefined;
  return o.app === 'sns' ? ['--route', 'mod'] : ['--route', 'mod', '--fallback'];
}

/** Flags the demo adds for itself (its output format, its secret, its state folder): not what a user types. */
const HARNESS_FLAGS = new Set(['--json', '--no-color', '--quiet-heartbeats']);
const HARNESS_VALUES = new Set(['--secret-file', '--state-dir', '--tls-cert', '--tls-key', '--tls-ca', '--give-up', '--interval', '--message']);

/** `ftkit server S1 --port 7201 …`: a command line as a user would type it on its machine. */
export function userCommand(args: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (HARNESS_VALUES.has(args[i]!)) i++;
    else if (!HARNESS_FLAGS.has(args[i]!)) out.push(args[i]!);
  }
  return ['ftkit', ...out].join(' ');
}

