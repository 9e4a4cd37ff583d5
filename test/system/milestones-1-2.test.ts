/**
 * `ftkit demo --milestone N --duration D` for the course's milestones 1 and 2, as a user runs it:
 * each shows its rubric on its own (M1: heartbeats both ways, the failed heartbeat when S1 is
 * killed, the clients' retries, replies again once S1 is started again by hand; M2: duplicates
 * discarded, the GFD's membership lines as S3 dies and comes back), with no RM (and in M1 no GFD)
 * anywhere, exits 0 and leaves nothing running. `--milestone` refuses what does not fit.
 */
import t from 'tap';
import { demoEnv, runCli } from '../helpers/cli.js';
import { after, indexOf, nothingLeft, noLineOf, of, parseDemo } from '../helpers/milestones.js';
import { claimPorts } from '../helpers/ports.js';

const { env } = demoEnv(t);
// Fixed ports (the demo's layout) below the ephemeral range: each run a block of its own (helpers/ports.ts).
const NO_RM = [/\bno RM\b/];

async function milestone(n: number, duration: number, extra: string[] = []) {
  const port = await claimPorts(); // the demo's layout, this test's alone and free now
  // Each run its own state folder: two demos making the secret in one folder at once could race.
  const { code, out } = await runCli(t, ['demo', '--milestone', String(n), '--duration', String(duration), '--no-color', '--base-port', String(port), ...extra], 90_000, demoEnv(t).env);
  return { code, out, lines: parseDemo(out), port };
}

// The two runs use different ports and go on at the same time; each subtest checks its own.
const runs = { 1: milestone(1, 9), 2: milestone(2, 9) };

t.test('milestone 1: S1 and LFD1 heartbeat each other; kill -9 S1, the clients retry; S1 started again by hand answers them', async (t) => {
  const { code, out, lines, port } = await runs[1];
  t.equal(code, 0, `exit 0; output ends:\n${out.split('\n').slice(-12).join('\n')}`);
  t.ok(of(lines, 'demo', /^S1: ftkit server S1 --port \d+ --lfd 127\.0\.0\.1:\d+ .*--static/).length >= 2, 'S1 started with --static, then again by hand');
  t.ok(of(lines, 'demo', /^LFD1: ftkit lfd LFD1 .*--no-gfd/).length === 1, 'LFD1 started with --no-gfd');
  for (const c of ['C1', 'C2', 'C3']) t.equal(of(lines, 'demo', new RegExp(`^${c}: ftkit client ${c} --servers S1=127\\.0\\.0\\.1:${port + 201}$`)).length, 1, `${c} given S1`);

  const before = lines.slice(0, lines.findIndex((l) => l.name === 'demo' && /kill -9 S1 \(pid/.test(l.text)));
  t.ok(of(before, 'LFD1', /\] \[\d+\] LFD1 sending heartbeat to S1$/).length > 0, 'LFD1 prints each heartbeat it sends');
  t.ok(of(before, 'S1', /\] \[\d+\] S1 receives heartbeat from LFD1 and answers$/).length > 0, 'S1 prints each heartbeat it answers');
  for (const c of ['C1', 'C2', 'C3']) t.ok(of(before, c, /request_num \d+ answered by S1/).length > 0, `${c} answered by S1 before the kill`);

  const killed = after(lines, /^kill -9 S1 \(pid \d+\)$/);
  t.ok(killed.length > 0, 'the script kills S1');
  const failed = indexOf(killed, 'LFD1', /\] \[\d+\] LFD1: heartbeat to S1 failed/);
  t.ok(failed >= 0, "LFD1 prints the failed heartbeat");
  const relaunch = killed.findIndex((l) => l.name === 'demo' && l.text === 'starting S1 again by hand');
  t.ok(relaunch > 0, 'the script starts S1 again by hand');
  for (const c of ['C1', 'C2', 'C3']) {
    t.ok(of(killed.slice(0, relaunch + 1), c, /request_num \d+ not answered \(.*\); retrying/).length > 0, `${c} retries while S1 is down`);
    t.ok(of(killed.slice(relaunch), c, /request_num \d+ answered by S1/).length > 0, `${c} answered again once S1 is back`);
  }
  t.ok(indexOf(killed, 'S1', /\] \[\d+\] S1 receives heartbeat from LFD1 and answers$/, relaunch) > relaunch, 'LFD1 heartbeats the new S1');
  noLineOf(t, lines, 'RM', NO_RM);
  noLineOf(t, lines, 'GFD', [/\bno GFD\b/]);
  t.match(out, /stopping in order \(--duration ended\): the clients, then the LFD and the replica; /);
  nothingLeft(t, port);
});

t.test('milestone 2: active, every request to all three; duplicates discarded; the GFD prints each membership change; no RM', async (t) => {
  const { code, out, lines, port } = await runs[2];
  t.equal(code, 0, `exit 0; output ends:\n${out.split('\n').slice(-12).join('\n')}`);
  const group = `S1=127.0.0.1:${port + 201},S2=127.0.0.1:${port + 202},S3=127.0.0.1:${port + 203}`;
  t.equal(of(lines, 'demo', /^GFD: ftkit gfd .*--no-rm/).length, 1, 'the GFD runs --no-rm');
  for (const s of ['S1', 'S2', 'S3']) t.ok(of(lines, 'demo', new RegExp(`^${s}: ftkit server ${s} .*--group ${group} --mode active`)).length >= 1, `${s} given the group, active`);
  for (const c of ['C1', 'C2', 'C3']) {
    t.equal(of(lines, 'demo', new RegExp(`^${c}: ftkit client ${c} --servers ${group} --mode active$`)).length, 1, `${c} sends to all three`);
    t.ok(of(lines, c, /\] request_num \d+: Discarded duplicate reply from S[123]$/).length > 0, `${c} discards duplicate replies`);
  }
  t.ok(of(lines, 'LFD2', /\] \[\d+\] LFD2 sending heartbeat to S2$/).length > 0, 'heartbeat lines are shown');
  const gfd = lines.filter((l) => l.name === 'GFD' && /\] GFD: \d+ members?/.test(l.text)).map((l) => l.text.replace(/^\[[^\]]+\] /, ''));
  t.same(gfd.slice(0, 4), ['GFD: 0 members', 'GFD: 1 member: S1', 'GFD: 2 members: S1, S2', 'GFD: 3 members: S1, S2, S3'], 'the GFD prints the members as they join');
  const killed = after(lines, /^kill -9 S3 \(pid \d+\)$/);
  const down = indexOf(killed, 'GFD', /\] GFD: 2 members: S1, S2$/);
  t.ok(down >= 0, 'S3 killed: the GFD lists S1 and S2');
  const relaunch = killed.findIndex((l) => l.name === 'demo' && l.text === 'starting S3 again by hand');
  t.ok(relaunch > down, 'then the script starts S3 again by hand');
  for (const c of ['C1', 'C2', 'C3']) t.ok(of(killed.slice(down, relaunch), c, /request_num \d+ answered by S[12]/).length > 0, `${c} answered while S3 is down`);
  t.ok(indexOf(killed, 'GFD', /\] GFD: 3 members: S1, S2, S3$/, relaunch) > relaunch, 'S3 back: the GFD lists three members again');
  t.ok(indexOf(killed, 'S3', /\] \[\d+\] \[my_state=.*\] S3 receives checkpoint from S1$/, relaunch) > relaunch, "S3 gets S1's state");
  noLineOf(t, lines, 'RM', NO_RM);
  nothingLeft(t, port);
});

t.test('--milestone refuses what does not fit, in one line, exit 2', async (t) => {
  const refusals: Array<[string[], RegExp]> = [
    [['--milestone', '6'], /expected one of 1, 2, 3, 4, 5, got "6"/],
    [['--milestone', '2', '--scenario', 'm5'], /^ftkit demo: --milestone and --scenario are two different runs/],
    [['--milestone', '3', '--mode', 'active'], /^ftkit demo: --mode does not apply to milestone 3/],
  ];
  const results = refusals.map(([args]) => runCli(t, ['demo', ...args, '--base-port', '7000'], 20_000, env));
  for (const [i, [args, re]] of refusals.entries()) {
    const { code, out } = await results[i]!;
    t.equal(code, 2, `${args.join(' ')}: exit 2`);
    t.equal(out.trim().split('\n').length, 1, 'one line');
    t.match(out.trim(), re);
  }
});
