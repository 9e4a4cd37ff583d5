/**
 * Issue 6 acceptance: `ftkit demo --scenario m5` passes in both modes and reports its
 * figures; the interactive demo and the tmux layout stop every process they started.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import { demoEnv, runCli, survivors } from '../helpers/cli.js';

// The demo keeps its secret in the user's state folder: here, a folder of the test's own.
const { env, secretFile } = demoEnv(t);
const run = (args: string[], ms: number) => runCli(t, args, ms, env);

// Fixed ports (the demo's layout), below the ephemeral range (32768+) that other tests' sockets use.
let port = 10000 + (process.pid % 50) * 400;
// Two whole scenarios and three demos: more than the default two minutes on a busy machine.
t.setTimeout(300_000);

for (const mode of ['passive', 'active']) {
  t.test(`milestone-5 scenario in ${mode} mode`, async (t) => {
    const base = String((port += 400));
    const { code, out } = await run(['demo', '--scenario', 'm5', '--mode', mode, '--heartbeat-freq', '0.1', '--checkpoint-freq', '0.5', '--base-port', base], 120_000);
    t.equal(code, 0, `exit status 0; output ends:\n${out.split('\n').slice(-14).join('\n')}`);
    t.match(out, `milestone-5 scenario, ${mode} mode: PASSED`);
    for (const phase of ['phase 1: bootstrapping', 'phase 2: steady state with S1–S3', 'phase 3: steady state with C1–C3', 'phase 4: first fault', 'phase 5: the recovered', 'phase 6: a second, different replica']) {
      t.match(out, phase);
    }
    if (mode === 'passive') t.match(out, /phase 4: first fault: the primary S\d/);
    const figure = (label: string) => Number(new RegExp(`${label}\\s+(\\d+)`).exec(out)?.[1]);
    t.equal(figure('acknowledged requests lost'), 0);
    t.equal(figure('requests executed twice'), 0);
    t.ok(figure('relaunches by the RM') >= 3, 'three relaunches at least');
    t.ok(figure('failovers \\(leader elections after start\\)') >= 1, 'at least one failover');
    t.match(out, /all three replicas back and ready\s+yes/);
    for (const c of ['C1', 'C2', 'C3']) t.ok(Number(new RegExp(`${c}: acknowledged / duplicates discarded\\s+(\\d+)`).exec(out)?.[1]) > 10, `${c} acknowledged requests`);
    if (mode === 'active') t.ok(Number(/C1: acknowledged \/ duplicates discarded\s+\d+ \/ (\d+)/.exec(out)?.[1]) > 0, 'duplicates discarded in active mode');
    t.same(survivors(`--port ${base}`), [], 'no process of the demo survives it');
  });
}

t.test('the interactive demo starts everything and stops everything on SIGTERM', async (t) => {
  const base = String((port += 400));
  const child = spawn(process.execPath, [FTKIT_BIN, 'demo', '--mode', 'passive', '--base-port', base, '--heartbeat-freq', '0.2'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  const seen = new Promise<void>((resolve) =>
    child.stdout.on('data', (d) => {
      out += d;
      if (/C3\s+│ .*C3: request_num \d+ answered by S\d/.test(out)) resolve();
    }),
  );
  await seen;
  t.match(out, 'no terminal: keys are off');
  t.match(out, `every component proves the secret in ${secretFile}; administer with: ftkit ctl --rm 127.0.0.1:${base} --secret-file ${secretFile} status`);
  t.equal(statSync(secretFile).mode & 0o777, 0o600, 'the secret is readable only by its owner');
  const ctl = (...args: string[]) => spawnSync(process.execPath, [FTKIT_BIN, 'ctl', '--rm', `127.0.0.1:${base}`, ...args, 'status'], { encoding: 'utf8', env });
  const admin = ctl('--secret-file', secretFile);
  t.equal(admin.status, 0, admin.stderr);
  t.match(admin.stdout, /members \(3\):/, 'ftkit ctl with the printed command line works');
  const stranger = ctl();
  t.equal(stranger.status, 1);
  t.match(stranger.stderr, /^ftkit ctl: status needs the deployment secret/, 'without the secret, status is refused');
  t.match(out, /^RM\s+│ \[\d\d:\d\d:\d\d\.\d{3}\] RM: 3 members: S1, S2, S3$/m, 'lines are prefixed with a fixed-width process name');
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  t.equal(code, 0);
  t.same(survivors(`127.0.0.1:${base}`), [], 'no orphan');
  t.same(survivors(`--port ${Number(base) + 201}`), []);
});

t.test('--tmux opens one pane per process and closes them with the demo', async (t) => {
  const base = String((port += 400));
  if (spawnSync('tmux', ['-V']).status !== 0) {
    // Without tmux the demo says how to get it, and exits with status 2.
    const { code, out } = await run(['demo', '--tmux', '--base-port', base], 10_000);
    t.equal(code, 2);
    t.match(out, 'tmux is not installed');
    return;
  }
  const child = spawn(process.execPath, [FTKIT_BIN, 'demo', '--tmux', '--base-port', base], { stdio: ['ignore', 'pipe', 'pipe'], env });
  // The tmux server outlives the demo: if the test fails half-way, its session must not.
  t.teardown(() => {
    child.kill('SIGKILL');
    spawnSync('tmux', ['kill-session', '-t', `ftkit-${child.pid}`]);
  });
  let out = '';
  await new Promise<void>((resolve) => child.stdout.on('data', (d) => ((out += d), /stop with Ctrl-C/.test(out) && resolve())));
  const session = /tmux attach -t (\S+)/.exec(out)![1]!;
  const panes = spawnSync('tmux', ['list-panes', '-t', session, '-F', '#{pane_start_command}'], { encoding: 'utf8' }).stdout.trim().split('\n');
  t.equal(panes.length, 11, 'RM, GFD, 3 LFDs, 3 servers, 3 clients');
  t.ok(panes.some((p) => p.includes(`'rm' '--port' '${base}'`)), 'the RM pane runs the RM');
  t.equal(panes.filter((p) => p.includes(`'--secret-file' '${secretFile}'`)).length, 8, 'every component pane proves the secret, no client pane needs it');
  child.kill('SIGTERM');
  await once(child, 'exit');
  t.not(spawnSync('tmux', ['has-session', '-t', session]).status, 0, 'the session is gone');
});
