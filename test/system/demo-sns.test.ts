/**
 * `ftkit demo --app sns` on a terminal of its own: three groups, ftkit sync and users 1-4; the
 * scripted users' posts arrive live at the users of other groups, a person's own client started
 * beside the demo, as its line says, sees them and their posts, the status key shows the sync's
 * links, and the end of --duration stops everything, ftkit sync included, and exits 0.
 */
import t from 'tap';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { endsCleanly, killSurvivors, ownClient, startPtyDemo } from '../helpers/demo.js';
import { claimPorts } from '../helpers/ports.js';

const stateHome = mkdtempSync(join(tmpdir(), 'ftkit-demo-state-'));
t.teardown(() => rmSync(stateHome, { recursive: true, force: true }));

const base = await claimPorts(9);

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

  demo.key('4');
  await demo.until(/demo\s+│ kill -9 S4 \(pid \d+\)\n/);
  const [, n] = await demo.until(/u2\s+│ > post (\d+) from u2\n/, 20_000);
  await demo.until(new RegExp(`u1\\s+│ 2 \\(.*\\) >> post ${n} from u2\\n`), 20_000);
  t.pass(`the keys work: S4 (g2) killed, and u2's post ${n}, made after, reaches u1`);

  demo.key('s');
  await demo.until(/demo\s+│ sync \(each link: entries waiting, last revision delivered\):\n(?:demo\s+│ {3}g\d>g\d .*\n){6}/);
  t.pass('the status key shows the six links of ftkit sync');
  t.equal(me.child.exitCode, null, 'your own client is still at its timeline');
  me.child.stdin.end();
  await once(me.child, 'exit');
  await endsCleanly(t, demo, base);
});
