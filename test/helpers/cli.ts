/** Running the `ftkit` command line from system tests, as a user would. */
import type { Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FTKIT_BIN } from '../../harness/launch/proc.js';

/**
 * An environment whose per-user state folder (where the demo keeps its secret) is the test's
 * own, removed in teardown; `secretFile` is where the demo will put its secret.
 */
export function demoEnv(t: Test): { env: NodeJS.ProcessEnv; secretFile: string } {
  const stateHome = mkdtempSync(join(tmpdir(), 'ftkit-demo-state-'));
  t.teardown(() => rmSync(stateHome, { recursive: true, force: true }));
  return { env: { ...process.env, NO_COLOR: '1', XDG_STATE_HOME: stateHome }, secretFile: join(stateHome, 'ftkit', 'secret') };
}

/** Run the CLI to completion (SIGTERM after `ms`); resolves with its status and output. Stopped in `t`'s teardown if it still runs. */
export async function runCli(t: Test, args: string[], ms: number, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [FTKIT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  // SIGTERM: the demo stops every process it started.
  t.teardown(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGTERM')));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGTERM'), ms);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, out };
}

/** ftkit processes still running whose command line mentions `marker`. */
export function survivors(marker: string): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).stdout;
  return ps.split('\n').filter((l) => l.includes(FTKIT_BIN) && l.includes(marker));
}
