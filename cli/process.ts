/**
 * What every subcommand shares: its tracer, its secrets and TLS files, and running a component
 * as this process until a signal stops it.
 */
import { homedir, tmpdir } from 'node:os';
import { Tracer, consoleSink } from '../lib/trace/index.js';
import { createInterface } from 'node:readline';
import { PARENT_PIPE_ENV, SYSTEM_STOPPING_LINE } from '../lib/detect/parent.js';
import { loadSecurity, type SecurityFiles, type TlsUse } from '../lib/config/secrets.js';
import type { Component } from '../lib/component.js';
import type { Security } from '../lib/net/index.js';
import { defaultStateDir } from '../lfd/commands.js';

/** A subcommand's options as resolved from its flags and .ini file. */
export type Opts = Record<string, unknown>;
/** What a subcommand runs, given its options and its positional arguments. */
export type Runner = (opts: Opts, args: string[]) => Promise<void>;

/** End the process with one line on stderr: exit status 2 for bad usage, 1 for a failure. */
export function exitWith(status: 1 | 2, who: string, message: string): never {
  process.stderr.write(`ftkit ${who}: ${message}\n`);
  process.exit(status);
}

export function tracerFor(name: string, opts: Opts): Tracer {
  return new Tracer(name, consoleSink({ json: opts.json === true, color: opts.color === false ? false : undefined, quiet: opts.quiet === true, quietHeartbeats: opts.quietHeartbeats === true }));
}

/**
 * The secrets and TLS files a process was given, read now: a missing or bad file ends it with
 * one line (exit 2, like any bad option). Warnings (a secret others may read) go to its trace.
 */
export function securityFor(who: string, o: Opts, use: TlsUse, tracer?: Tracer): Security {
  try {
    const { security, warnings } = loadSecurity(o as SecurityFiles, use);
    for (const w of warnings) tracer?.emitEvent('security_warning', 'fault', `${who}: ${w}`);
    return security;
  } catch (err) {
    exitWith(2, who, (err as Error).message);
  }
}

/** Start a component and keep it running until SIGINT/SIGTERM. */
export async function serve(component: Component): Promise<void> {
  let reporting = false;
  process.on('uncaughtException', (err) => {
    if (reporting) return;
    reporting = true;
    try {
      component.tracer.emitEvent('internal_error', 'fault', `${component.name}: internal error (kept running): ${err.stack ?? err.message}`);
    } finally {
      reporting = false;
    }
  });
  try {
    await component.start();
  } catch (err) {
    exitWith(1, component.name, `cannot start: ${(err as Error).message}`);
  }
  const shutdown = () => void component.stop().finally(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  if (process.env[PARENT_PIPE_ENV]) {
    // Started by a harness (demo, tests): its pipe closing means it is gone, so we go too.
    process.stdin.on('close', shutdown).on('end', shutdown);
    createInterface({ input: process.stdin }).on('line', (line) => line.trim() === SYSTEM_STOPPING_LINE && component.expectSystemStop());
  }
}

function safeHomedir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}

/** This user's ftkit state folder (XDG_STATE_HOME, else the home folder, else the temp folder). */
export function userStateDir(): string {
  return defaultStateDir(process.env, safeHomedir(), tmpdir(), process.getuid?.());
}

/** An interactive client of a terminal user (`ftkit sns`, `ftkit chat`): it logs in, takes lines, and stops. */
export interface LineClient {
  login(): Promise<boolean>;
  line(input: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Run `client` on this terminal: log in (exit 1 if it cannot), hand it each line typed, one after
 * another, and stop it at Ctrl-D (exit 0).
 */
export async function runLines(client: LineClient): Promise<void> {
  if (!(await client.login())) {
    await client.stop();
    process.exit(1);
  }
  const input = createInterface({ input: process.stdin, terminal: false });
  let lines = Promise.resolve();
  input.on('line', (line) => (lines = lines.then(() => client.line(line))));
  input.on('close', () => void lines.then(() => client.stop()).then(() => process.exit(0)));
}
