/**
 * `ftkit demo --tmux`: outside tmux, a session of its own; inside tmux, a new window of the
 * current session. Either way the first pane runs the demo (its keys), every process has a pane
 * named after it showing its lines (a relaunched replica's too), and stopping the demo closes
 * the window and leaves nothing running. Every tmux server here is the test's own (TMUX_TMPDIR,
 * `-L`), so the user's sessions are never touched.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import { demoEnv } from '../helpers/cli.js';
import { killSurvivors, survivors } from '../helpers/demo.js';
import { claimPorts } from '../helpers/ports.js';

t.setTimeout(180_000);

/** An environment with a tmux socket folder of the test's own, and no tmux of the caller's. */
function tmuxEnv(t: Test): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'ftkit-tmux-'));
  const { env } = demoEnv(t);
  const out: NodeJS.ProcessEnv = { ...env, TMUX_TMPDIR: dir };
  delete out.TMUX;
  delete out.TMUX_PANE;
  t.teardown(() => {
    spawnSync('tmux', ['kill-server'], { env: out });
    rmSync(dir, { recursive: true, force: true });
  });
  return out;
}

/** Poll a tmux query until `ok` holds (tmux has no event to await); rejects after `ms`. */
async function until<T>(query: () => T, ok: (v: T) => boolean, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = query();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms; last: ${JSON.stringify(v).slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function panes(tmux: (...a: string[]) => string, target: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of tmux('list-panes', '-t', target, '-F', '#{pane_title} #{pane_id}').split('\n')) {
    const i = line.lastIndexOf(' ');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

const NAMES = ['demo (keys)', 'RM', 'GFD', 'LFD1', 'LFD2', 'LFD3', 'S1', 'S2', 'S3', 'C1', 'C2', 'C3'];

t.test('outside tmux: a session of its own, one pane per process, closed with the demo', async (t) => {
  const env = tmuxEnv(t);
  const tmux = (...a: string[]) => spawnSync('tmux', a, { encoding: 'utf8', env }).stdout.trim();
  const base = await claimPorts(); // the demo's layout, this test's alone and free now
  t.teardown(() => killSurvivors(base));
  const child = spawn(process.execPath, [FTKIT_BIN, 'demo', '--tmux', '--base-port', String(base), '--heartbeat-freq', '0.2'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  await new Promise<void>((resolve) => child.stdout.on('data', (d) => ((out += d), /stop with q/.test(out) && resolve())));
  const session = /tmux attach -t (\S+)/.exec(out)![1]!;
  const byName = await until(() => panes(tmux, session), (p) => NAMES.every((n) => p.has(n)), 'a named pane for the demo and each process');
  t.equal(byName.size, 12, 'the demo and every process, each in a pane named after it, and no other pane');
  await until(() => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', byName.get('RM')!), (s) => /RM: 3 members: S1, S2, S3/.test(s), "the RM's pane shows the RM");
  await until(() => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', byName.get('C1')!), (s) => /C1: request_num \d+ answered by S\d/.test(s), "C1's pane shows C1");
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  t.equal(code, 0);
  t.not(spawnSync('tmux', ['has-session', '-t', session], { env }).status, 0, 'the session is gone');
  t.same(survivors(`127.0.0.1:${base}`), [], 'no process of the demo survives it');
});

t.test('inside tmux: a new window of the current session; a relaunched replica speaks in its own pane; q closes it', async (t) => {
  const env = tmuxEnv(t);
  const socket = `ftkit-test-${process.pid}`;
  const tmux = (...a: string[]) => spawnSync('tmux', ['-L', socket, ...a], { encoding: 'utf8', env }).stdout.trim();
  t.teardown(() => spawnSync('tmux', ['-L', socket, 'kill-server'], { env }));
  const base = await claimPorts(); // the demo's layout, this test's alone and free now
  t.teardown(() => killSurvivors(base));
  const demo = [process.execPath, FTKIT_BIN, 'demo', '--tmux', '--mode', 'passive', '--base-port', String(base), '--heartbeat-freq', '0.2'].join(' ');
  const made = spawnSync('tmux', ['-L', socket, 'new-session', '-d', '-s', 'mine', '-x', '220', '-y', '60', demo], { encoding: 'utf8', env });
  t.equal(made.status, 0, made.stderr);
  const windows = await until(() => tmux('list-windows', '-t', 'mine', '-F', '#{window_name}'), (w) => w.split('\n').includes('ftkit-demo'), 'the demo window');
  t.equal(windows.split('\n').length, 2, 'a new window beside the one the demo was started in');
  const byName = await until(() => panes(tmux, 'mine:ftkit-demo'), (p) => NAMES.every((n) => p.has(n)), 'a named pane for the demo and each process');
  t.equal(byName.size, 12, 'every process has its pane, and no other pane');
  const pane = (name: string) => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', byName.get(name)!);
  await until(() => pane('C3'), (s) => /C3: request_num \d+ answered by S\d/.test(s), "C3's pane shows C3");
  t.match(pane('S1'), /\] S1 registered with LFD1$/m, "S1's pane shows S1");

  tmux('send-keys', '-t', byName.get('demo (keys)')!, '1');
  await until(() => pane('LFD1'), (s) => /LFD1: launched S1 \(pid \d+\)/.test(s), 'the RM has LFD1 relaunch S1');
  await until(() => pane('S1'), (s) => (s.match(/\] S1 registered with LFD1$/gm) ?? []).length === 2, 'the relaunched S1 registers, in S1’s pane');
  t.notMatch(pane('LFD1'), /\] S1 /, "none of S1's lines in LFD1's pane");

  tmux('send-keys', '-t', byName.get('demo (keys)')!, 'q');
  await until(() => spawnSync('tmux', ['-L', socket, 'has-session'], { env }).status, (s) => s !== 0, 'the demo window, then the session it was started from, closed');
  t.same(survivors(`127.0.0.1:${base}`), [], 'no process of the demo survives it');
  t.same(survivors(`127.0.0.1:${base + 101}`), [], 'nor a replica LFD1 relaunched');
});
