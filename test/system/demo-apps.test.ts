/**
 * `ftkit demo --app sns` and `--app chat` on a terminal of their own: the scripted users' posts
 * (messages) arrive live at the users of other groups (other replicas), a person's own client
 * started beside the demo, as its line says, sees them, the status key shows the sync's links,
 * and the end of --duration stops everything, ftkit sync included, and exits 0.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import { killSurvivors, startPtyDemo, survivors } from '../helpers/demo.js';
import { followOutput } from '../helpers/output.js';
import { claimPorts } from '../helpers/ports.js';

const stateHome = mkdtempSync(join(tmpdir(), 'ftkit-demo-state-'));
t.teardown(() => rmSync(stateHome, { recursive: true, force: true }));
t.setTimeout(110_000);

const base = await claimPorts(9);

/** A person's own client, the command the demo printed, typed at through its prompt. */
function ownClient(t: Test, command: string, prompt: RegExp) {
  const [, ...args] = command.split(' ');
  const child = spawn(process.execPath, [FTKIT_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const { output, until } = followOutput(child, command, 20_000);
  const command_ = async (line: string) => {
    child.stdin.write(`${line}\n`);
    return (await until(new RegExp(`([\\s\\S]*?)${prompt.source}`)))[1]!;
  };
  return { child, output, until, command: command_, type: (line: string) => void child.stdin.write(`${line}\n`) };
}

/** The demo's run has ended: status 0, the orderly stop's last line, and nothing left on its ports. */
async function endsCleanly(t: Test, demo: ReturnType<typeof startPtyDemo>) {
  const [code] = (await once(demo.child, 'exit')) as [number | null];
  t.equal(code, 0, 'the end of --duration stops in order and exits 0');
  t.match(demo.output(), /demo\s+│ stopped: every process the demo started has exited/);
  t.same(survivors(`127.0.0.1:${base}`), [], 'nothing the demo started runs on: no replica, no sync');
}

t.test('demo --app sns: three groups, ftkit sync, users following each other across groups, your own client beside them', async (t) => {
  const demo = startPtyDemo(['--app', 'sns', '--duration', '22', '--base-port', String(base), '--heartbeat-freq', '0.2', '--quiet', '--no-color'], stateHome);
  t.teardown(() => {
    demo.child.kill('SIGKILL');
    killSurvivors(base);
  });
  await demo.until(/demo\s+│ 3 replica groups: g1 S1, S2, S3 · g2 S4, S5, S6 · g3 S7, S8, S9; user N lives in group/, 60_000);
  const [, own] = await demo.until(/demo\s+│ open your own client beside them: (ftkit sns -u 7 --rm 127\.0\.0\.1:\d+)\n/);
  t.equal(own, `ftkit sns -u 7 --rm 127.0.0.1:${base}`, 'the demo says how to open your own client');
  // u1 lives in g1, u2 in g2: a post of u2 reaches u1 through the sync and u1's subscription.
  await demo.until(/u1\s+│ 2 \((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}\) >> post \d+ from u2\n/, 30_000);
  t.match(demo.output(), /u2\s+│ > post \d+ from u2/, 'u2 posted in g2');
  await demo.until(/u3\s+│ 4 \(.*\) >> post \d+ from u4\n/, 20_000);
  t.pass("u1 (g1) sees u2's posts (g2) live, and u3 (g3) u4's (g1)");

  const me = ownClient(t, own!, /Cmd> /);
  await me.until(/===== TINY SNS CLIENT =====[\s\S]*Cmd> /);
  let list = '';
  for (let i = 0; i < 100 && !/All users: 1, 2, 3, 4, 7\n/.test(list); i++) list = await me.command('LIST');
  t.match(list, /^All users: 1, 2, 3, 4, 7\nFollowers: \n$/, 'LIST at your own client shows the scripted users (and you)');
  t.equal(await me.command('FOLLOW 2'), 'Command completed successfully\n', 'FOLLOW 2 from your own client');
  me.type('TIMELINE');
  await me.until(/Now you are in the timeline\n/);
  await me.until(/2 \(.*\) >> post \d+ from u2\n/, 20_000);
  t.pass("your own user 7 (g1) follows user 2 (g2) and sees its new posts live");

  demo.key('s');
  await demo.until(/demo\s+│ sync \(each link: entries waiting, last revision delivered\):\n(?:demo\s+│ {3}g\d>g\d .*\n){6}/);
  t.pass('the status key shows the six links of ftkit sync');
  t.equal(me.child.exitCode, null, 'your own client is still at its timeline');
  me.child.stdin.end();
  await once(me.child, 'exit');
  await endsCleanly(t, demo);
});

t.test('demo --app chat: users on different replicas in one room, your own client beside them', async (t) => {
  const demo = startPtyDemo(['--app', 'chat', '--duration', '14', '--base-port', String(base), '--heartbeat-freq', '0.2', '--quiet', '--no-color'], stateHome);
  t.teardown(() => {
    demo.child.kill('SIGKILL');
    killSurvivors(base);
  });
  await demo.until(/demo\s+│ starting active replication .*app chat/, 20_000);
  const [, own] = await demo.until(/demo\s+│ open your own client beside them: (ftkit chat dave --rm 127\.0\.0\.1:\d+)\n/, 60_000);
  await demo.until(/alice\s+│ bob: hello #\d+ from bob\n/, 20_000);
  await demo.until(/bob\s+│ carol: hey #\d+ from carol\n/, 20_000);
  t.pass("each user sees the others' messages live");
  // Each said where it was served on logging in, before its first message.
  const served = [...demo.output().matchAll(/(alice|bob|carol)\s+│ \(served by (S\d)\)\n/g)].map((m) => m[2]);
  t.same([...new Set(served)].sort(), ['S1', 'S2', 'S3'], `the RM spread the three users over the three replicas (${served.join(', ')})`);

  const me = ownClient(t, own!, /:: /);
  await me.until(/Login Successful\n:: /);
  t.equal(await me.command('JOIN general'), 'Join Successful\n', 'dave joins the room');
  me.type('CHAT');
  await me.until(/You are now in CHAT mode\.\.\.\n/);
  await me.until(/alice: hi #\d+ from alice\n/, 20_000);
  me.type('hello from dave');
  await demo.until(/carol\s+│ dave: hello from dave\n/, 20_000);
  t.pass('your own client dave sees the room live, and the scripted users see what dave says');
  me.child.stdin.end();
  await once(me.child, 'exit');
  await endsCleanly(t, demo);
});

t.test('--app chat with several groups, and --app sns with --tmux, --scenario or --milestone, are refused with one line', async (t) => {
  const env = { ...process.env, XDG_STATE_HOME: stateHome };
  const refused: Array<[string[], string]> = [
    [['--app', 'chat', '--groups', '2'], '--app chat runs one group of chat rooms: leave out --groups'],
    [['--app', 'sns', '--tmux'], '--app sns runs its scripted users in one terminal: not with --milestone, --scenario or --tmux'],
    [['--app', 'chat', '--scenario', 'm5'], '--app chat runs its scripted users in one terminal: not with --milestone, --scenario or --tmux'],
    [['--app', 'sns', '--milestone', '5'], '--app sns runs its scripted users in one terminal: not with --milestone, --scenario or --tmux'],
  ];
  for (const [args, why] of refused) {
    const r = spawnSync(process.execPath, [FTKIT_BIN, 'demo', ...args, '--base-port', String(base)], { encoding: 'utf8', env, timeout: 20_000 });
    t.equal(r.status, 2, `${args.join(' ')}: status 2`);
    t.equal(r.stderr, `ftkit demo: ${why}\n`);
    t.equal(r.stdout, '', 'nothing started');
  }
});
