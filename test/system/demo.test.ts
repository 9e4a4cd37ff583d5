/**
 * `ftkit demo`: the milestone-5 scenario passes in both modes and picks its victims by role
 * (passive: the third fault hits a backup, as the RM's own record of roles shows); `--json` and
 * `--quiet` shape every component's output; `--heartbeats` and `--verbose` add their lines; an
 * orderly stop (SIGTERM, `--duration`) prints no fault; `--base-port` refuses a layout past 65535.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { demoEnv, runCli, survivors } from '../helpers/cli.js';
import { claimPorts } from '../helpers/ports.js';

// The demo keeps its secret in the user's state folder: here, a folder of the test's own.
const { env, secretFile } = demoEnv(t);
const run = (args: string[], ms: number) => runCli(t, args, ms, env);

// Two whole scenarios and three demos: more than the default two minutes on a busy machine.
t.setTimeout(400_000);

/** What reads as a fault in an orderly stop: the cascade the demo's stop used to print. */
const CASCADE = /machine down|stepping down|connection to \S+ lost|heartbeat to \S+ failed|delete replica|lost contact|exited \(|unreachable|not relaunching|relaunching/;

const scenarioArgs = (mode: string, base: string) => ['demo', '--scenario', 'm5', '--mode', mode, '--heartbeat-freq', '0.1', '--checkpoint-freq', '0.5', '--base-port', base];

// The two scenarios start now and run side by side (and beside the tests after them), each on its
// own ports and in a state folder of its own (two demos making one secret at once could race).
// Fixed ports (the demo's layout) below the ephemeral range: each demo a block of its own (helpers/ports.ts).
const scenario = async (mode: string, extra: string[]) => {
  const base = String(await claimPorts());
  return { base, result: runCli(t, [...scenarioArgs(mode, base), ...extra], 150_000, demoEnv(t).env) };
};
const passive = await scenario('passive', ['--json', '--quiet']);
const active = await scenario('active', ['--seed', '7']);

t.test('milestone-5 scenario in passive mode, --json --quiet: the third fault kills a backup, not the primary of that moment', async (t) => {
  const { base } = passive;
  const { code, out } = await passive.result;
  const lines = out.split('\n').filter((l) => l !== '');
  const events: TraceEvent[] = [];
  for (const line of lines) {
    try {
      events.push(JSON.parse(line) as TraceEvent);
    } catch {
      t.fail(`not a JSON line: ${line}`);
    }
  }
  const texts = events.filter((e) => e.component === 'demo').map((e) => e.text);
  t.equal(code, 0, `exit status 0; the demo's lines end:\n${texts.slice(-14).join('\n')}`);
  t.ok(texts.includes('milestone-5 scenario, passive mode: PASSED'), 'the summary says PASSED');
  for (const c of ['RM', 'GFD', 'LFD1', 'LFD2', 'LFD3', 'S1', 'S2', 'S3', 'C1', 'C2', 'C3']) t.ok(events.some((e) => e.component === c), `events of ${c}`);
  t.same(events.filter((e) => ['request', 'reply', 'duplicate', 'heartbeat'].includes(e.category)), [], '--quiet: no per-request line; no heartbeat line');
  t.notOk(events.some((e) => e.text.length > 400), 'no line carries the whole log');
  t.match(texts.join('\n'), /the log, read from S\d: \d+ entries \(sha256 [0-9a-f]{12}\), first C\d-\d+, last C\d-\d+/);

  // The roles at each fault, from the RM's own trace: the leader and ready set of its last report before the kill.
  const kills = events.filter((e) => e.component === 'demo' && (e.data as { signal?: string } | undefined)?.signal === 'SIGKILL');
  t.equal(kills.length, 3, 'three faults');
  const rmBefore = (time: number) => events.filter((e) => e.component === 'RM' && e.type === 'ready_changed' && e.time <= time).pop()?.data as { ready: string[]; leader: string };
  const victims = kills.map((k) => (k.data as { target: string }).target);
  const first = rmBefore(kills[0]!.time);
  t.equal(victims[0], first.leader, 'the first fault kills the primary of that moment');
  t.equal(victims[1], victims[0], 'the second kills the recovered replica again');
  const third = rmBefore(kills[2]!.time);
  t.not(victims[2], third.leader, `the third fault kills ${victims[2]}, not the primary ${third.leader}`);
  t.ok(third.ready.includes(victims[2]!), 'a ready backup');
  t.not(victims[2], victims[0], 'a different replica');
  const electionsAfter = events.filter((e) => e.component === 'RM' && e.type === 'decision' && e.time > kills[2]!.time && /is primary \(epoch/.test(e.text));
  t.same(electionsAfter, [], 'no election after the third fault: the primary was not hit');
  t.same(survivors(`--port ${base}`), [], 'no process of the demo survives it');
});

t.test('milestone-5 scenario in active mode: victims drawn from a printed seed', async (t) => {
  const { base } = active;
  const { code, out } = await active.result;
  t.equal(code, 0, `exit status 0; output ends:\n${out.split('\n').slice(-16).join('\n')}`);
  t.match(out, 'milestone-5 scenario, active mode: PASSED');
  t.match(out, 'seed 7: the victims are drawn from it (repeat them with --seed 7)');
  for (const phase of ['phase 1: bootstrapping', 'phase 2: steady state with S1–S3', 'phase 3: steady state with C1–C3', 'phase 4: first fault', 'phase 5: the recovered', 'phase 6: a second, different replica']) {
    t.match(out, phase);
  }
  const victims = /replicas killed, in order\s+(S\d), (S\d), (S\d)/.exec(out);
  t.ok(victims, 'the summary names the victims');
  t.equal(victims?.[2], victims?.[1], 'the recovered one killed again');
  t.not(victims?.[3], victims?.[1], 'then a different one');
  const figure = (label: string) => Number(new RegExp(`${label}\\s+(\\d+)`).exec(out)?.[1]);
  t.equal(figure('acknowledged requests lost'), 0);
  t.equal(figure('requests executed twice'), 0);
  t.ok(figure('relaunches by the RM') >= 3, 'three relaunches at least');
  t.match(out, /all three replicas back and ready\s+yes/);
  for (const c of ['C1', 'C2', 'C3']) t.ok(Number(new RegExp(`${c}: acknowledged / duplicates discarded\\s+(\\d+)`).exec(out)?.[1]) > 10, `${c} acknowledged requests`);
  t.ok(Number(/C1: acknowledged \/ duplicates discarded\s+\d+ \/ (\d+)/.exec(out)?.[1]) > 0, 'duplicates discarded in active mode');
  t.same(survivors(`--port ${base}`), [], 'no process of the demo survives it');
});

t.test('the interactive demo starts everything and stops everything on SIGTERM, in order and without a fault', async (t) => {
  const base = String(await claimPorts());
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
  t.notMatch(out, /-> starting|heartbeat (to|from)/, 'no lifecycle or heartbeat line without --verbose and --heartbeats');
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  t.equal(code, 0);
  const stop = out.slice(out.indexOf('stopping in order (SIGTERM)'));
  t.match(stop, /^stopping in order \(SIGTERM\): the clients, then the RM, then the GFD, the LFDs and the replicas/);
  t.notMatch(stop, CASCADE, `the stop prints no fault:\n${stop}`);
  for (const c of ['C1', 'C2', 'C3']) t.match(stop, new RegExp(`${c}\\s+│ .*${c}: done after \\d+ replies`), `${c} says how it ended`);
  t.match(stop, /demo\s+│ stopped: every process the demo started has exited\n$/);
  t.same(survivors(`127.0.0.1:${base}`), [], 'no orphan');
  t.same(survivors(`--port ${Number(base) + 201}`), []);
});

t.test('--duration stops in order by itself; --heartbeats and --verbose add their lines', async (t) => {
  const base = String(await claimPorts());
  const { code, out } = await run(['demo', '--mode', 'active', '--base-port', base, '--heartbeat-freq', '0.2', '--duration', '3', '--heartbeats', '--verbose'], 60_000);
  t.equal(code, 0, out.split('\n').slice(-10).join('\n'));
  t.match(out, /^LFD1\s+│ \[[\d:.]+\] \[\d+\] LFD1 sending heartbeat to S1$/m, 'the LFD heartbeats its server');
  t.match(out, /^S1\s+│ \[[\d:.]+\] \[\d+\] S1 receives heartbeat from LFD1 and answers$/m, 'the server answers');
  t.match(out, /^GFD\s+│ \[[\d:.]+\] \[\d+\] GFD sending heartbeat to LFD\d$/m, 'the GFD heartbeats the LFDs');
  t.match(out, /^RM\s+│ \[[\d:.]+\] RM: idle -> starting$/m, '--verbose: lifecycle lines');
  const stop = out.slice(out.indexOf('stopping in order (--duration ended)'));
  t.ok(stop.length > 0 && out.includes('stopping in 3 s (--duration)'), 'the demo says when and why it stops');
  for (const c of ['RM', 'GFD', 'LFD1', 'S1']) t.match(stop, new RegExp(`${c}\\s+│ .*${c}: the system is stopping in order; peers leaving now are not faults`));
  t.notMatch(stop, CASCADE, 'no fault in the stop');
  t.same(survivors(`127.0.0.1:${base}`), [], 'no orphan');
});

t.test('--base-port: the layout is in --help, and a base whose layout passes 65535 is refused', async (t) => {
  const help = spawnSync(process.execPath, [FTKIT_BIN, 'demo', '--help'], { encoding: 'utf8', env });
  t.match(help.stdout.replace(/\s+/g, ' '), "the RM's port; the GFD takes base+1, the dashboard base+2, LFD1–3 base+101–103 and S1–S3 base+201–203 (so at most 65332)");
  for (const flag of ['--heartbeats', '--verbose', '--no-auto-restart', '--duration', '--seed', '--json', '--quiet']) t.match(help.stdout, flag);
  for (const bad of ['65500', '65333', '0']) {
    const r = spawnSync(process.execPath, [FTKIT_BIN, 'demo', '--base-port', bad], { encoding: 'utf8', env, timeout: 20_000 });
    t.equal(r.status, 2, `--base-port ${bad}: status 2`);
    t.equal(r.stderr, `ftkit demo: --base-port ${bad} does not fit: the demo takes ports base, base+1, base+2 (the dashboard), base+101–103 and base+201–203, so the base must be 1–65332\n`);
    t.equal(r.stdout, '', 'nothing started');
  }
});
