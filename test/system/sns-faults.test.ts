/**
 * Issue 17, the course's failure cases for the social network's client: (b) a user whose group is
 * entirely down gets `connection failed: -1` at login, and logs in once a replica is back; (c) a
 * running client whose group goes entirely down gets `Command failed`, keeps its prompt, and works
 * again once a replica is ready, without restarting.
 */
import t from 'tap';
import { System } from '../../harness/launch/system.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { startSnsUser } from '../helpers/sns.js';

const data = <T>(e: TraceEvent) => e.data as T;

t.test('a group entirely down: login fails with -1, commands fail and the prompt stays; both work once it is back', async (t) => {
  // Two groups of one replica each, relaunched by hand only.
  const sys = new System({ mode: 'passive', app: 'sns', groups: 2, replicas: 1, machines: 2, heartbeat: 0.2, heartbeatTimeout: 1, autoRestart: false, quiet: true });
  t.teardown(() => sys.stop());
  await sys.start();
  const ready = (g: string, from = 0) => sys.rm.waitFor((e) => e.type === 'ready_changed' && (data<{ group?: string }>(e).group ?? 'g1') === g && data<{ ready: string[] }>(e).ready.length === 1, 20_000, from);
  await Promise.all(['g1', 'g2'].map((g) => ready(g)));

  // (c) user 1 (g1) is logged in when g1 goes down
  const u1 = startSnsUser(sys, '1');
  t.teardown(() => void u1.child.kill('SIGKILL'));
  await u1.until(/Cmd> /);
  t.equal(await u1.command('LIST'), 'All users: 1\nFollowers: \n');
  sys.proc('S1').kill('SIGKILL');
  await sys.rm.waitFor((e) => e.type === 'ready_changed' && (data<{ group?: string }>(e).group ?? 'g1') === 'g1' && data<{ ready: string[] }>(e).ready.length === 0, 20_000);
  t.equal(await u1.command('LIST'), 'Command failed\n', 'a command while its group is down fails, and the prompt comes back');

  // (b) user 2's group (g2) is down when it logs in
  sys.proc('S2').kill('SIGKILL');
  await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ group?: string }>(e).group === 'g2' && data<{ ready: string[] }>(e).ready.length === 0, 20_000);
  const down = startSnsUser(sys, '2');
  t.teardown(() => void down.child.kill('SIGKILL'));
  await down.until(/connection failed: -1\n/);
  const [code] = await Promise.all([down.quit()]);
  t.equal(code, 1, 'and exits 1');

  // both groups back (started again by hand: they start empty, nothing durable yet)
  const mark = sys.rm.events.length;
  await sys.startServer('S1');
  await sys.startServer('S2');
  await Promise.all(['g1', 'g2'].map((g) => ready(g, mark)));
  t.equal(await u1.command('LIST'), 'All users: 1\nFollowers: \n', 'the same client works again, without restarting (its group started empty: it logged in again)');
  const again = startSnsUser(sys, '2');
  t.teardown(() => void again.child.kill('SIGKILL'));
  await again.until(/===== TINY SNS CLIENT =====[\s\S]*Cmd> /);
  t.pass('user 2 logs in once a replica of its group is back');
  t.equal(await again.quit(), 0);
  t.equal(await u1.quit(), 0);
});
