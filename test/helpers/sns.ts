/** Driving `ftkit sns -u <id>` through its prompt, as a user would, from system tests. */
import type { Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import { System, type SystemOptions } from '../../harness/launch/system.js';
import { followOutput } from './output.js';

export interface SnsUser {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the match when the output after the previous match matches `re`. */
  until: (re: RegExp, ms?: number) => Promise<RegExpExecArray>;
  /** Resolves once the whole output matches `re` (order-free, moves nothing). */
  seen: (re: RegExp, ms?: number) => Promise<void>;
  /** Type a line (Enter included). */
  type: (line: string) => void;
  /** Type `line` and wait for the next prompt; resolves with what was printed before it. */
  command: (line: string, ms?: number) => Promise<string>;
  /** Ctrl-D; resolves with the exit code. */
  quit: () => Promise<number | null>;
}

/**
 * Three sns groups of two replicas over three machines, every replica ready, and ftkit sync
 * between them; `users` (add the ones a test starts) are killed and everything stopped in teardown.
 */
export async function startSnsSystem(t: Test, options: SystemOptions = {}): Promise<{ sys: System; users: SnsUser[] }> {
  const sys = new System({ mode: 'passive', app: 'sns', groups: 3, replicas: 2, machines: 3, heartbeat: 0.2, heartbeatTimeout: 1, quiet: true, ...options });
  const users: SnsUser[] = [];
  t.teardown(async () => {
    for (const u of users) u.child.kill('SIGKILL');
    await sys.stop();
  });
  await sys.start();
  const readyIn = (g: string) => (e: { type: string; data?: unknown }) => {
    const d = e.data as { group?: string; ready: string[] };
    return e.type === 'ready_changed' && (d.group ?? 'g1') === g && d.ready.length === 2;
  };
  await Promise.all(sys.groupNames.map((g) => sys.rm.waitFor(readyIn(g), 20_000)));
  sys.startSync();
  return { sys, users };
}

export function startSnsUser(sys: System, id: string): SnsUser {
  const child = spawn(process.execPath, [FTKIT_BIN, 'sns', '-u', id, '--rm', sys.rmAddr, ...sys.securityArgs('client')], { stdio: ['pipe', 'pipe', 'pipe'] });
  const { output, until, seen } = followOutput(child, `user ${id}`, 20_000);
  const type = (line: string) => void child.stdin!.write(`${line}\n`);
  const command = async (line: string, ms?: number) => {
    type(line);
    const [, printed] = await until(/([\s\S]*?)Cmd> /, ms);
    return printed!;
  };
  const quit = async () => {
    if (child.exitCode !== null) return child.exitCode;
    child.stdin!.end();
    const [code] = (await once(child, 'exit')) as [number | null];
    return code;
  };
  return { child, output, until, seen, type, command, quit };
}

/**
 * Ask LIST until its answer includes `want` (the directory and the followers reach a group
 * through ftkit sync, within a second or so); resolves with that answer. Bounded: each try is
 * one request round trip.
 */
export async function listUntil(u: SnsUser, want: string, tries = 500): Promise<string> {
  let last = '';
  for (let i = 0; i < tries; i++) {
    last = await u.command('LIST');
    if (last.includes(want)) return last;
  }
  throw new Error(`LIST never showed ${JSON.stringify(want)}; last:\n${last}`);
}
