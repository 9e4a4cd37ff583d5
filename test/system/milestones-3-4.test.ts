/**
 * `ftkit demo --milestone N --duration D` for the course's milestones 3 and 4, as a user runs it:
 * M3 (no RM): checkpoints counted from 1 at the primary and the backups, a backup started again
 * receiving the next one, clients only to S1. M4 (the RM, --no-auto-restart): a backup killed is
 * not relaunched; started again by hand it is not ready until it installed a checkpoint, prints
 * its high-watermark request numbers, then the RM makes it ready. Each exits 0, leaves nothing.
 */
import t from 'tap';
import { demoEnv, runCli } from '../helpers/cli.js';
import { after, indexOf, nothingLeft, noLineOf, of, parseDemo, timeOf } from '../helpers/milestones.js';
import { claimPorts } from '../helpers/ports.js';

// Fixed ports (the demo's layout) below the ephemeral range: each run a block of its own (helpers/ports.ts).
const NO_RM = [/\bno RM\b/];

async function milestone(n: number, duration: number, extra: string[] = []) {
  const port = await claimPorts(); // the demo's layout, this test's alone and free now
  // Each run its own state folder: two demos making the secret in one folder at once could race.
  const { code, out } = await runCli(t, ['demo', '--milestone', String(n), '--duration', String(duration), '--no-color', '--base-port', String(port), ...extra], 90_000, demoEnv(t).env);
  return { code, out, lines: parseDemo(out), port };
}

// The two runs use different ports and go on at the same time; each subtest checks its own.
const runs = { 3: milestone(3, 10, ['--checkpoint-freq', '1']), 4: milestone(4, 12, ['--checkpoint-freq', '1']) };

t.test('milestone 3: S1 primary, checkpoint-only backups; checkpoints counted from 1 at both ends; a backup started again receives the next', async (t) => {
  const { code, out, lines, port } = await runs[3];
  t.equal(code, 0, `exit 0; output ends:\n${out.split('\n').slice(-12).join('\n')}`);
  for (const s of ['S1', 'S2', 'S3']) t.ok(of(lines, 'demo', new RegExp(`^${s}: ftkit server ${s} .*--mode passive .*--passive checkpoint-only`)).length >= 1, `${s}: passive, checkpoint-only`);
  const count = (name: string, re: RegExp) => of(lines, name, re).map((l) => Number(/\] \[(\d+)\] \[my_state=/.exec(l.text)![1]));
  const sent = [...new Set(count('S1', /\] \[\d+\] \[my_state=.*\] S1 sending checkpoint to S[23]$/))];
  t.ok(sent.length >= 4, `S1 sends checkpoints: ${sent.join(', ')}`);
  t.same(sent, sent.map((_, i) => i + 1), 'counted from 1, one more each time');
  const s2 = count('S2', /\] \[\d+\] \[my_state=.*\] S2 receives checkpoint from S1$/);
  t.ok(s2.length >= 3 && s2[0]! <= 2 && s2.every((n, i) => i === 0 || n > s2[i - 1]!), `S2 receives them, from the first: ${s2.join(', ')}`);

  const killed = after(lines, /^kill -9 S3 \(pid \d+\)$/);
  const relaunch = killed.findIndex((l) => l.name === 'demo' && l.text === 'starting S3 again by hand');
  t.ok(relaunch >= 0, 'S3 killed, then started again by hand');
  const sentAfter = indexOf(killed, 'S1', /\] \[\d+\] \[my_state=.*\] S1 sending checkpoint to S3$/, relaunch);
  const got = indexOf(killed, 'S3', /\] \[\d+\] \[my_state=.*\] S3 receives checkpoint from S1$/, relaunch);
  t.ok(sentAfter > relaunch && got > relaunch, 'S1 sends the restarted S3 its next checkpoint, and S3 receives it');
  const n = Number(/\] \[(\d+)\]/.exec(killed[got]!.text)![1]);
  const beforeKill = lines.slice(0, lines.length - killed.length);
  const lastBefore = Math.max(...of(beforeKill, 'S3', /receives checkpoint from S1$/).map((l) => Number(/\] \[(\d+)\]/.exec(l.text)![1])));
  t.ok(n > lastBefore, `the restarted S3 receives checkpoint ${n}, after the ${lastBefore} it held before the kill`);
  t.ok(of(killed.slice(got), 'S3', /high-watermark request numbers: C1 \d+, C2 \d+, C3 \d+$/).length > 0, 'S3 prints the high-watermark request numbers of the checkpoint it installed');

  const sends = lines.filter((l) => /^C[123]$/.test(l.name) && /\] Sent <C[123], S\d, \d+, request>$/.test(l.text));
  t.ok(sends.length > 0 && sends.every((l) => /, S1, /.test(l.text)), `the clients send only to the primary S1 (${sends.length} requests)`);
  t.same(lines.filter((l) => /^S[23]$/.test(l.name) && /Sending <C/.test(l.text)), [], 'the backups answer no one');
  noLineOf(t, lines, 'RM', NO_RM);
  nothingLeft(t, port);
});


t.test('milestone 4: a backup killed is not relaunched; started again by hand, it is not ready until its checkpoint, prints its high-watermarks, then the RM makes it ready', async (t) => {
  const { code, out, lines, port } = await runs[4];
  t.equal(code, 0, `exit 0; output ends:\n${out.split('\n').slice(-12).join('\n')}`);
  t.equal(of(lines, 'demo', /^RM: ftkit rm --port \d+ --mode passive --no-auto-restart$/).length, 1, 'the RM runs --no-auto-restart');
  const kill = /^kill -9 (S\d) \(pid \d+\)$/.exec(lines.find((l) => l.name === 'demo' && /^kill -9 S\d/.test(l.text))?.text ?? '');
  t.ok(kill, 'the script kills a replica');
  const victim = kill![1]!;
  const killed = after(lines, /^kill -9 S\d \(pid \d+\)$/);
  t.match(lines.slice(0, lines.length - killed.length).filter((l) => l.name === 'RM' && /RM: ready replicas:/.test(l.text)).at(-1)?.text, /ready replicas: S1, S2, S3$/, 'all three were ready before the kill');
  t.ok(indexOf(killed, 'RM', new RegExp(`\\] RM: 2 members: (?!.*${victim})`)) >= 0, `the RM drops ${victim}`);
  const relaunch = killed.findIndex((l) => l.name === 'demo' && l.text === `starting ${victim} again by hand`);
  t.ok(relaunch > 0, `the script starts ${victim} again by hand`);
  t.same(of(killed.slice(0, relaunch), 'RM', /relaunch|asking LFD\d to launch/), [], 'the RM relaunches nothing');
  t.same(lines.filter((l) => /^LFD\d$/.test(l.name) && /launched S\d/.test(l.text)), [], 'no LFD launches a replica');
  const notReady = indexOf(killed, victim, new RegExp(`\\] ${victim}: none \\(not ready\\) at epoch 0 -> backup \\(not ready\\) at epoch \\d+$`), relaunch);
  const marks = indexOf(killed, victim, new RegExp(`\\] ${victim}: high-watermark request numbers: C1 \\d+, C2 \\d+, C3 \\d+$`), relaunch);
  const ready = indexOf(killed, 'RM', new RegExp(`\\] RM: ${victim} caught up \\(checkpoint \\d+\\): ready$`), relaunch);
  const becomes = indexOf(killed, victim, new RegExp(`\\] ${victim}: backup \\(not ready\\) at epoch \\d+ -> backup at epoch \\d+$`), relaunch);
  t.ok(notReady > relaunch, `${victim} joins not ready`);
  t.ok(marks > notReady, `then prints its high-watermark request numbers, from the checkpoint it installed: ${killed[marks]?.text}`);
  // The RM's line and the replica's come through different pipes: their timestamps give the order.
  t.ok(ready >= 0 && timeOf(killed[ready]) >= timeOf(killed[notReady]) && becomes > marks, 'then the RM makes it ready');
  t.ok(indexOf(killed, 'RM', /\] RM: ready replicas: S1, S2, S3$/, relaunch) > relaunch, 'all three ready again');
  nothingLeft(t, port);
});
