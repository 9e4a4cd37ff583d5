/**
 * The servers an LFD starts on its machine (when the RM asks it to relaunch one): child
 * processes that stop with the LFD, whose traces continue in the LFD's output under their own
 * names, and that count as launching until they register.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { PARENT_PIPE_ENV } from '../lib/detect/parent.js';
import { Tracer, writeStdout } from '../lib/trace/index.js';
import type { PortRange } from '../lib/config/values.js';
import { DEFAULT_GROUP } from '../lib/protocol/index.js';

/** How long a stopping LFD gives the servers it launched to exit before it kills them. */
const CHILD_STOP_GRACE_MS = 2000;

export interface LaunchEvents {
  launched(pid: number): void;
  /** It could not start, or it exited before it registered. */
  failed(reason: string): void;
}

export class Launcher {
  /** Servers launched that have not registered yet, by name: their pids. */
  private readonly launching = new Map<string, number>();
  /** Every server process launched that is still running. */
  private readonly children = new Map<number, ChildProcess>();

  constructor(private readonly tracer: Tracer) {}

  /** Start server `name` with `command`. */
  launch(name: string, command: string[], on: LaunchEvents): void {
    const child = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, [PARENT_PIPE_ENV]: '1' } });
    // The server's traces continue in ours (a launched server has no terminal of its own), under its own name.
    const relay = (line: string) => (isTraceLine(line) ? writeStdout(line) : this.tracer.child(name).emitEvent('output', 'fault', line, { server: name }));
    createInterface({ input: child.stdout! }).on('line', relay);
    createInterface({ input: child.stderr! }).on('line', relay);
    child.on('error', (err) => on.failed(err.message));
    child.on('spawn', () => {
      this.children.set(child.pid!, child);
      this.launching.set(name, child.pid!);
      on.launched(child.pid!);
    });
    child.on('exit', (code, signal) => {
      this.children.delete(child.pid!);
      if (this.launching.get(name) !== child.pid) return;
      this.launching.delete(name);
      on.failed(`exited (${signal ?? `status ${code}`}) before registering`);
    });
  }

  /** Write `line` on the parent pipe of every server launched that still runs. */
  tell(line: string): void {
    for (const child of this.children.values()) {
      if (child.exitCode !== null || child.signalCode !== null || !child.stdin?.writable) continue;
      child.stdin.once('error', () => {}); // it exited meanwhile: nothing to tell
      child.stdin.write(line + '\n');
    }
  }

  /** Server `name` registered: it is launched. */
  registered(name: string): void {
    this.launching.delete(name);
  }

  /**
   * The servers launched go with the LFD (they would anyway: their stdin is our pipe), stopped
   * ones included: SIGTERM and SIGCONT, then SIGKILL for any still there after a grace period.
   */
  async stopAll(): Promise<void> {
    const waits = [...this.children.values()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_STOP_GRACE_MS);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
          child.kill('SIGCONT');
        }),
    );
    await Promise.all(waits);
  }
}

/** A line a server printed as a trace: a JSON event, or a timestamped text line. */
function isTraceLine(line: string): boolean {
  return line.startsWith('{') || /^\[\d\d:\d\d:\d\d\.\d{3}\]/.test(line) || /^\u001b\[[\d;]*m\[\d\d:/.test(line);
}

/**
 * A sibling's command line turned into one for `name`: its name replaced, on `port` (0: any free
 * port), in replica group `group`. A sibling configured by a file reads the sibling's section, its own name having none.
 */
export function templateCommand(sibling: string[] | undefined, name: string, port = 0, group = DEFAULT_GROUP): string[] | undefined {
  if (!sibling) return undefined;
  const cmd = [...sibling];
  const sub = cmd.indexOf('server');
  if (sub === -1 || sub + 1 >= cmd.length) return undefined;
  const siblingName = cmd[sub + 1]!;
  cmd[sub + 1] = name;
  setFlag(cmd, '--port', String(port));
  const given = (flag: string) => cmd.some((a) => a === flag || a.startsWith(`${flag}=`));
  if (given('--config') && !given('--section')) cmd.push('--section', siblingName);
  if (group !== DEFAULT_GROUP || given('--group')) setFlag(cmd, '--group', group);
  return cmd;
}

/** Give `flag` the value `value`: replace it where it is (`--flag v` or `--flag=v`), else append it. */
function setFlag(cmd: string[], flag: string, value: string): void {
  const at = cmd.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
  if (at === -1) cmd.push(flag, value);
  else if (cmd[at] === flag) cmd[at + 1] = value;
  else cmd[at] = `${flag}=${value}`;
}

/** The port a command line gives with `--port`, if any. */
export function portOf(cmd: readonly string[]): number | undefined {
  const at = cmd.findIndex((a) => a === '--port' || a.startsWith('--port='));
  if (at === -1) return undefined;
  const value = Number(cmd[at] === '--port' ? cmd[at + 1] : cmd[at]!.slice('--port='.length));
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

/** Whether nothing listens on `port` on any address of this machine: a listen on the wildcard fails if anything does. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '0.0.0.0', exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** The first port of `range` that `taken` does not hold and `isFree` finds free; undefined when none is left. */
export async function choosePort(range: PortRange, taken: ReadonlySet<number>, isFree: (port: number) => Promise<boolean> = portIsFree): Promise<number | undefined> {
  for (let port = range.first; port <= range.last; port++) {
    if (!taken.has(port) && (await isFree(port))) return port;
  }
  return undefined;
}
