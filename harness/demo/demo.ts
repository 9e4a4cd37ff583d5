/**
 * `ftkit demo` (= `npm start`): the whole system on 127.0.0.1 as separate processes
 * (RM, GFD, LFD1–3, S1–3, C1–3), every line prefixed with a fixed-width, coloured
 * process name. On a terminal, keys inject faults: 1/2/3 kill S1/S2/S3 (SIGKILL),
 * p pauses or resumes a replica (SIGSTOP/SIGCONT), s prints the status, q quits.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { System, type SystemTls } from '../launch/system.js';
import type { Proc } from '../launch/proc.js';
import { colorEnabled, formatText } from '../../lib/trace/index.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { formatStatus } from '../../clients/ctl.js';
import type { Mode } from '../../lib/protocol/index.js';

export interface DemoOptions {
  mode: Mode;
  app: 'status' | 'counter' | 'log';
  heartbeatFreq: number;
  checkpointFreq: number;
  basePort: number;
  color?: boolean;
  /** The deployment secret (made if missing); undefined: the demo runs open. */
  secretFile?: string;
  /** Every link over TLS with these files. */
  tls?: SystemTls;
  /** Show heartbeat lines (they are many). */
  heartbeats?: boolean;
  write?: (line: string) => void;
}

const PREFIX_COLORS = ['cyan', 'magenta', 'yellow', 'green', 'blue', 'red', 'white', 'gray'] as const;
const KEYS_HELP = 'keys: 1/2/3 kill S1/S2/S3 · p pause/resume a replica · s status · q quit';

/** The payload template that suits each app, so every client request does something visible. */
export function demoMessage(app: DemoOptions['app'], client: string): string {
  if (app === 'counter') return 'add 1';
  if (app === 'log') return `append ${client}-{n}`;
  return `hello_from_${client}_{n}`;
}

export class Demo {
  readonly system: System;
  private readonly chalk: ChalkInstance;
  private readonly write: (line: string) => void;
  private readonly prefixes = new Map<string, string>();
  private paused: { server: string; pid: number } | undefined;
  private stopping: Promise<void> | undefined;

  constructor(readonly options: DemoOptions) {
    this.system = new System({
      mode: options.mode,
      app: options.app,
      heartbeat: options.heartbeatFreq,
      checkpointFreq: options.checkpointFreq,
      basePort: options.basePort,
      secretFile: options.secretFile ?? false,
      tls: options.tls,
    });
    this.chalk = new Chalk({ level: colorEnabled(options.color) ? 1 : 0 });
    this.write = options.write ?? ((line) => process.stdout.write(line + '\n'));
    this.system.group.on('spawned', (proc) => this.follow(proc));
  }

  say(text: string): void {
    this.write(`${this.chalk.bold('demo'.padEnd(5))} │ ${text}`);
  }

  /** A fixed-width, coloured name; each process keeps its colour (a relaunched one too). */
  private prefix(name: string): string {
    let p = this.prefixes.get(name);
    if (!p) {
      p = this.chalk[PREFIX_COLORS[this.prefixes.size % PREFIX_COLORS.length]!](name.padEnd(5)) + ' │ ';
      this.prefixes.set(name, p);
    }
    return p;
  }

  private follow(proc: Proc): void {
    // Events carry their component: a server relaunched by an LFD speaks through the LFD's output.
    proc.on('event', (e: TraceEvent) => {
      if (e.category === 'heartbeat' && !this.options.heartbeats) return;
      if (e.type === 'lifecycle') return;
      this.write(this.prefix(e.component) + formatText(e, this.chalk));
    });
    proc.on('line', (line) => this.write(this.prefix(proc.name) + line));
    proc.on('exit', (code, signal) => {
      if (!this.stopping) this.write(this.prefix(proc.name) + this.chalk.red(`exited (${signal ?? `status ${code}`})`));
    });
  }

  /** Start RM, GFD, LFD1–3 and S1–3, then clients C1–C3. */
  async start(): Promise<void> {
    this.say(`starting ${this.options.mode} replication on 127.0.0.1 (RM port ${this.options.basePort}, app ${this.options.app})`);
    const secret = this.system.secretFile;
    if (secret) {
      const tls = this.options.tls ? ` --tls-ca ${this.options.tls.ca}` : '';
      this.say(`every component proves the secret in ${secret}${this.options.tls ? ', over TLS' : ''}; administer with: ftkit ctl --rm 127.0.0.1:${this.options.basePort} --secret-file ${secret}${tls} status`);
    }
    await this.system.start();
    for (const c of ['C1', 'C2', 'C3']) this.startClient(c);
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
    this.say(this.chalk.red(`${signal === 'SIGKILL' ? 'kill -9' : signal} ${server} (pid ${pid})`));
    process.kill(pid, signal);
    return pid;
  }

  togglePause(): void {
    if (this.paused) {
      const { server, pid } = this.paused;
      this.paused = undefined;
      if (alive(pid)) {
        this.say(this.chalk.red(`SIGCONT ${server} (pid ${pid})`));
        process.kill(pid, 'SIGCONT');
        return;
      }
      const now = this.serverPid(server);
      this.say(`${server} (pid ${pid}) is gone: its LFD killed it when it stopped answering${now === undefined ? '' : `; ${server} runs again as pid ${now}`}`);
      return;
    }
    const target = ['S1', 'S2', 'S3'].find((s) => this.serverPid(s) !== undefined);
    if (!target) return this.say('no replica running to pause');
    const pid = this.kill(target, 'SIGSTOP');
    if (pid === undefined) return;
    this.paused = { server: target, pid };
    this.say('press p again to resume it');
  }

  async status(): Promise<void> {
    try {
      this.write(formatStatus(await this.system.ctl({ op: 'status' })));
    } catch (err) {
      this.say(`status: ${(err as Error).message}`);
    }
  }

  /** Keys act on the system when stdin is a terminal. */
  enableKeys(): boolean {
    if (!process.stdin.isTTY) return false;
    process.stdin.setRawMode(true);
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (key: string) => {
      if (key === '1' || key === '2' || key === '3') this.kill(`S${key}`);
      else if (key === 'p') this.togglePause();
      else if (key === 's') void this.status();
      else if (key === 'q' || key === '\u0003') void this.stop().then(() => process.exit(0));
      else this.say(KEYS_HELP);
    });
    this.say(KEYS_HELP);
    return true;
  }

  /** Stop every process the demo started (resuming a paused one first so it can exit). */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        this.say('stopping every process');
        // A stopped process ignores SIGTERM until it is continued.
        if (this.paused && alive(this.paused.pid)) process.kill(this.paused.pid, 'SIGCONT');
        if (process.stdin.isTTY) process.stdin.setRawMode(false);
        process.stdin.pause();
        await this.system.stop();
      })();
    }
    return this.stopping;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
