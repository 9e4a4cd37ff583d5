/**
 * Spawn ftkit components as real processes and follow their JSON trace events.
 * Used by the system tests, the demo, the chaos harness and the benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TraceEvent } from '../../lib/trace/index.js';
import { PARENT_PIPE_ENV } from '../../lib/detect/parent.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The package root, whether this module runs compiled (dist/harness/launch) or from source (harness/launch). */
export const PACKAGE_ROOT = here.includes(`${sep}dist${sep}`) ? resolve(here, '../../..') : resolve(here, '../..');
/** The compiled CLI entry point. */
export const FTKIT_BIN = join(PACKAGE_ROOT, 'dist/bin/ftkit.js');


export type EventMatch = (e: TraceEvent) => boolean;

export interface ProcOptions {
  env?: NodeJS.ProcessEnv;
  /** The process reads stdin itself (it does not watch a parent pipe). */
  stdin?: boolean;
  /**
   * A command that runs `node ftkit.js …` for us and becomes it (it must exec, not fork, so the
   * pid and signals are the component's): e.g. `ip netns exec <ns>` to run it on a namespace host.
   */
  prefix?: string[];
  /**
   * In a session of its own: a terminal's Ctrl-C reaches only the parent (the demo), which then
   * stops its children in order. It still stops when the parent pipe closes.
   */
  detached?: boolean;
}

export class Proc extends EventEmitter<{ event: [TraceEvent]; line: [string]; exit: [number | null, NodeJS.Signals | null] }> {
  readonly child: ChildProcess;
  readonly events: TraceEvent[] = [];
  /** Lines that were not JSON events (stderr, and stdout without --json). */
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly name: string,
    readonly args: string[],
    options: ProcOptions = {},
  ) {
    super();
    // Without a stdin of its own to feed, the child watches a pipe from us and stops when it
    // closes: so it never outlives its parent, even one killed with SIGKILL.
    const [command, ...rest] = [...(options.prefix ?? []), process.execPath, FTKIT_BIN, ...args] as [string, ...string[]];
    this.child = spawn(command, rest, {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: options.detached,
      env: { ...process.env, ...(options.stdin ? {} : { [PARENT_PIPE_ENV]: '1' }), ...options.env },
    });
    const onLine = (line: string) => {
      if (line.startsWith('{')) {
        try {
          const event = JSON.parse(line) as TraceEvent;
          this.events.push(event);
          this.emit('event', event);
          return;
        } catch {
          // not an event: keep it as a line
        }
      }
      this.lines.push(line);
      this.emit('line', line);
    };
    createInterface({ input: this.child.stdout! }).on('line', onLine);
    createInterface({ input: this.child.stderr! }).on('line', onLine);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        this.emit('exit', code, signal);
        resolve(this.exitInfo);
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** Resolve with the first event (already seen from index `from`, or future) that matches; reject after `ms`. */
  waitFor(match: EventMatch, ms = 10_000, from = 0): Promise<TraceEvent> {
    const seen = this.events.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const onEvent = (e: TraceEvent) => {
        if (!match(e)) return;
        cleanup();
        resolve(e);
      };
      const onExit = () => {
        cleanup();
        reject(new Error(`${this.name} exited while waiting for an event; last lines:\n${this.tail()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name}: no matching event within ${ms} ms; last lines:\n${this.tail()}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('exit', onExit);
      };
      this.on('event', onEvent);
      this.on('exit', onExit);
    });
  }

  /** Wait for an event whose text matches. */
  waitForText(pattern: RegExp | string, ms?: number, from?: number): Promise<TraceEvent> {
    return this.waitFor((e) => (typeof pattern === 'string' ? e.text === pattern : pattern.test(e.text)), ms, from);
  }

  /** The address the component printed in its `listening` event. */
  async address(ms = 10_000): Promise<string> {
    const e = await this.waitFor((ev) => ev.type === 'listening', ms);
    return (e.data as { addr: string }).addr;
  }

  /** Write `line` on the child's stdin (the parent pipe), if it still runs. */
  tell(line: string): void {
    const stdin = this.child.stdin;
    if (!this.running || !stdin?.writable) return;
    stdin.once('error', () => {}); // it exited meanwhile: nothing to tell
    stdin.write(line + '\n');
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.running) this.child.kill(signal);
  }

  /** Stop gracefully (SIGTERM, and SIGCONT in case it is stopped), then SIGKILL if it does not exit in time. */
  async stop(ms = 3000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    this.child.kill('SIGCONT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    await this.exited;
    clearTimeout(timer);
  }

  tail(n = 15): string {
    const text = this.events.slice(-n).map((e) => e.text);
    return [...text, ...this.lines.slice(-5)].join('\n');
  }
}

/** A set of processes that are all stopped together. */
export class ProcGroup extends EventEmitter<{ spawned: [Proc] }> {
  readonly procs = new Map<string, Proc>();

  /** `defaults`: options for every process of the group (a spawn's own override them). */
  constructor(private readonly defaults: ProcOptions = {}) {
    super();
  }

  spawn(name: string, args: string[], options?: ProcOptions): Proc {
    const proc = new Proc(name, args, { ...this.defaults, ...options });
    this.procs.set(name, proc);
    this.emit('spawned', proc);
    return proc;
  }

  get(name: string): Proc {
    const p = this.procs.get(name);
    if (!p) throw new Error(`no process named ${name}`);
    return p;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => p.stop()));
  }
}

/**
 * Whether process `pid` is still there (one of another user counts). A process killed but not
 * yet reaped by its parent (a zombie: on a busy machine, for a while after `kill -9`) is not:
 * it will never run again, and a user who starts it again must not be told it runs.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // /proc/PID/stat: "PID (COMMAND) STATE …"; the command may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return true; // no /proc (not Linux), or gone since: kill(0) said it was there
  }
}
