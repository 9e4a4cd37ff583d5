/**
 * `ftkit demo --app chat` on a terminal of its own: three users spread over three replicas chat
 * in one room and see each other's messages live; a person's own client started beside the demo
 * joins them; the end of --duration stops everything and exits 0. The demo refuses --app chat
 * with several groups, and either app with --tmux, --scenario or --milestone.
 */
import t from 'tap';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import { endsCleanly, killSurvivors, ownClient, startPtyDemo } from '../helpers/demo.js';
import { claimPorts } from '../helpers/ports.js';

const stateHome = mkdtempSync(join(tmpdir(), 'ftkit-demo-state-'));
t.teardown(() => rmSync(stateHome, { recursive: true, force: true }));

const base = await claimPorts(9);

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
  await endsCleanly(t, demo, base);
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
