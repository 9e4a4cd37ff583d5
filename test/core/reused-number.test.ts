/**
 * A client process restarted under the same name numbers its requests from 1 again. A request
 * whose number is the last one its predecessor used, but which asks for something else, is a new
 * request: the replicas must not answer it from the dedup table (that would acknowledge what was
 * never executed). They refuse it as stale, and the client moves past the number. The same number
 * with the same payload is a retry and is answered from the table, as before.
 */
import t from 'tap';
import { Cluster } from '../helpers/cluster.js';

const ALL = ['S1', 'S2', 'S3'];

t.test('passive: the same number with another payload is refused as stale; with the same payload it is a retry', async (t) => {
  const c = new Cluster(ALL);
  c.group('passive', 1, 'S1', ALL);
  c.request('S1', 'C1', 1, 'add 5');
  c.pump();
  c.request('S1', 'C1', 1, 'add 7');
  c.pump();
  c.request('S1', 'C1', 1, 'add 5');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:5', 'S1:reject:1:stale: request_num 1 already answered', 'S1:reply:1:5']);
  c.request('S1', 'C1', 2, 'add 7');
  c.pump();
  t.same(c.answers('C1').at(-1), 'S1:reply:2:12', 'the client moves past the number and its request is executed');
  t.equal(c.core('S1').state.app.describe(), '12', 'add 7 executed once, add 5 once');
});

t.test('active: every replica refuses the other payload alike', async (t) => {
  const c = new Cluster(ALL);
  c.group('active', 1, 'S1', ALL);
  for (const s of ALL) c.request(s, 'C1', 1, 'add 5');
  c.pump();
  for (const s of ALL) c.request(s, 'C1', 1, 'add 7');
  c.pump();
  const rejects = c.answers('C1').filter((a) => a.includes(':reject:'));
  t.same(rejects.sort(), ALL.map((s) => `${s}:reject:1:stale: request_num 1 already answered`));
  for (const s of ALL) t.equal(c.core(s).state.app.describe(), '5', `${s} executed add 5 only`);
});

t.test('what a replica learnt from a checkpoint or a replayed log tells the payloads apart too', async (t) => {
  const c = new Cluster(ALL);
  c.group('passive', 1, 'S1', ALL);
  c.request('S1', 'C1', 1, 'add 5');
  c.request('S1', 'C2', 1, 'add 1');
  c.pump();
  c.fire('S1', 'checkpoint');
  c.request('S1', 'C2', 2, 'add 1');
  c.pump();
  c.kill('S1');
  c.group('passive', 2, 'S2', ['S2', 'S3']);
  c.request('S2', 'C1', 1, 'add 7'); // in S2's table from S1's checkpoint
  c.request('S2', 'C2', 2, 'add 9'); // in S2's table from its replayed log
  c.request('S2', 'C2', 2, 'add 1'); // a retry
  c.pump();
  t.same(c.answers('C1').at(-1), 'S2:reject:1:stale: request_num 1 already answered');
  t.same(c.answers('C2').slice(-2), ['S2:reject:2:stale: request_num 2 already answered', 'S2:reply:2:7']);
});
