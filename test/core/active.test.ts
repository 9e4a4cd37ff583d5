/**
 * The replica's core in active mode: the sequencer orders, every member applies in sequence
 * and answers once committed, and a new sequencer brings everyone to the same last order.
 */
import t from 'tap';
import { Cluster } from '../helpers/cluster.js';
import type { ReplicaEvent } from '../../servers/core/index.js';

const ALL = ['S1', 'S2', 'S3'];

function active(): Cluster {
  const c = new Cluster(ALL);
  c.group('active', 1, 'S1', ALL);
  return c;
}

/** Everyone sends request `num` of `client` to every replica. */
function everywhere(c: Cluster, names: string[], client: string, num: number, payload: string): void {
  for (const n of names) c.request(n, client, num, payload);
}

const isOrderTo = (to: string, e: ReplicaEvent) => e.type === 'peer' && e.msg.type === 'order' && to !== '';

t.test('every replica applies the order and replies once it is committed', async (t) => {
  const c = active();
  everywhere(c, ALL, 'C1', 1, 'add 3');
  c.pump();
  t.same(c.answers('C1').sort(), ['S1:reply:1:3', 'S2:reply:1:3', 'S3:reply:1:3']);
  for (const n of ALL) t.equal(c.traces(n, 'state_after').length, 1, `${n} applied it once`);
});

t.test("a member answers only once the sequencer's commit says every member holds the order", async (t) => {
  const c = active();
  c.filter = (to, e) => !(to === 'S2' && e.type === 'peer' && e.msg.type === 'commit');
  everywhere(c, ALL, 'C1', 1, 'add 3');
  c.pump();
  t.same(c.answers('C1').sort(), ['S1:reply:1:3', 'S3:reply:1:3'], 'S2 applied it but heard no commit');
  t.equal(c.core('S2').state.seq, 1);
  c.filter = () => true;
  everywhere(c, ALL, 'C1', 2, 'add 1');
  c.pump();
  t.ok(c.answers('C1').includes('S2:reply:1:3') && c.answers('C1').includes('S2:reply:2:4'), 'the next commit answers both');
});

t.test('a request that reaches a member first is forwarded and ordered once', async (t) => {
  const c = active();
  c.request('S3', 'C1', 1, 'add 1');
  c.pump();
  t.same(c.answers('C1'), ['S3:reply:1:1']);
  for (const n of ALL) t.equal(c.core(n).state.app.describe(), '1', `${n} applied it`);
  c.request('S2', 'C1', 1, 'add 1');
  c.pump();
  t.same(c.answers('C1'), ['S3:reply:1:1', 'S2:reply:1:1'], 'the copy that came late is answered from the table');
  t.same(c.texts('S2', 'already_ordered'), ['<C1, S2, 1, request> already applied in order: replying']);
  for (const n of ALL) t.equal(c.traces(n, 'state_after').length, 1, `${n} applied it once`);
});

t.test('the sequencer tells the commit point once per batch, however many orders the batch held', async (t) => {
  const c = active();
  let commits = 0;
  c.filter = (to, e) => {
    if (to === 'S2' && e.type === 'peer' && e.msg.type === 'commit') commits++;
    return true;
  };
  for (let n = 1; n <= 5; n++) c.request('S1', `C${n}`, 1, 'add 1');
  c.pump();
  t.equal(commits, 1, 'one commit for five orders acknowledged together');
  t.equal(c.core('S2').commitSeq, 5);
});

t.test('a member applies orders strictly in sequence, holding those past a gap', async (t) => {
  const c = active();
  const order = (seq: number) => ({ type: 'peer' as const, conn: c.node('S1').links.get('S2')!, peer: 'S1', msg: { type: 'order' as const, from: 'S1', to: 'S2', seq, client: `C${seq}`, num: 1, payload: 'add 1', epoch: 1 } });
  c.step('S2', order(2));
  t.equal(c.core('S2').state.seq, 0, 'order 2 waits for order 1');
  c.step('S2', order(1));
  t.equal(c.core('S2').state.seq, 2, 'both applied, in order');
  t.same(c.traces('S2', 'state_after').map((e) => e.data!['client']), ['C1', 'C2']);
});

t.test('new sequencer, member ahead: it takes the orders the member holds past its own', async (t) => {
  const c = active();
  // S1 orders request 1; only S2 gets it, then S1 dies.
  c.filter = (to, e) => !(to === 'S3' && isOrderTo(to, e));
  c.request('S1', 'C1', 1, 'add 7');
  c.pump();
  t.equal(c.core('S2').state.seq, 1);
  t.equal(c.core('S3').state.seq, 0);
  t.same(c.answers('C1'), [], 'not committed: S3 lacks it');
  c.filter = () => true;
  c.kill('S1');
  c.group('active', 2, 'S3', ['S2', 'S3']);
  t.same(c.texts('S3', 'sync_started'), ['S3: new sequencer at seq 0; bringing S2 to the same last order']);
  t.same(c.texts('S3', 'sync_done'), ['S3: every replica at seq 1; ordering resumes']);
  t.equal(c.core('S3').state.app.describe(), '7', 'S3 applied the order S2 held');
  c.request('S3', 'C1', 1, 'add 7');
  c.pump();
  t.same(c.answers('C1'), ['S3:reply:1:7'], 'the retry is answered from the table, not executed again');
});

t.test('new sequencer, member behind: the member gets the orders it lacks', async (t) => {
  const c = active();
  c.filter = (to, e) => !(to === 'S3' && isOrderTo(to, e));
  c.request('S1', 'C1', 1, 'add 7');
  c.request('S1', 'C2', 1, 'add 1');
  c.pump();
  c.filter = () => true;
  c.kill('S1');
  c.group('active', 2, 'S2', ['S2', 'S3']);
  t.same(c.texts('S2', 'sync_done'), ['S2: every replica at seq 2; ordering resumes']);
  t.equal(c.core('S3').state.seq, 2);
  t.equal(c.core('S3').state.app.describe(), '8');
  t.equal(c.core('S2').commitSeq, 2, 'both orders committed in the new epoch');
});

t.test('new sequencer, no answer before the deadline: it goes on and sends the silent member a checkpoint', async (t) => {
  const c = active();
  c.request('S1', 'C1', 1, 'add 2');
  c.pump();
  c.kill('S1');
  c.filter = (to, e) => !(to === 'S2' && e.type === 'follower' && e.msg.type === 'synced');
  c.group('active', 2, 'S2', ['S2', 'S3']);
  t.match(c.node('S2').timers.get('sync'), { ms: 1000, repeat: false }, 'the deadline is set');
  // A request that arrives while syncing waits.
  c.request('S2', 'C2', 1, 'add 1');
  c.pump();
  t.same(c.answers('C2'), []);
  t.equal(c.core('S2').state.seq, 1, 'nothing ordered while syncing');
  c.filter = () => true;
  c.fire('S2', 'sync');
  t.same(c.texts('S2', 'sync_done'), ['S2: every replica at seq 1; ordering resumes']);
  t.ok(c.texts('S3', 'checkpoint_received').some((x) => x.endsWith('S3 receives checkpoint from S2')), 'S3 got a checkpoint');
  t.same(c.answers('C2'), ['S2:reply:1:3'], 'the held request is ordered and committed');
  t.notOk(c.node('S2').timers.has('sync'), 'the deadline is cleared');
});

t.test('a sequencer alone commits alone', async (t) => {
  const c = new Cluster(['S1']);
  c.group('active', 1, 'S1', ['S1']);
  t.same(c.texts('S1', 'sync_started'), [], 'nobody to sync with');
  c.request('S1', 'C1', 1, 'add 1');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:1']);
});

t.test('the sequencer refuses a forward from outside its group', async (t) => {
  const c = active();
  c.step('S1', { type: 'peer', conn: 99, peer: 'S9', msg: { type: 'forward', from: 'S9', to: 'S1', client: 'C1', num: 1, payload: 'add 1' } });
  t.same(c.texts('S1', 'peer_refused'), ['S1: refusing forward from S9: not in the group the RM gave me (S1, S2, S3)']);
  t.equal(c.core('S1').state.seq, 0);
});

t.test('requests waiting at a member go to the new sequencer after a failover', async (t) => {
  const c = active();
  // S3's forward to S1 is lost with S1.
  c.filter = (to, e) => !(to === 'S1' && e.type === 'follower' && e.msg.type === 'forward');
  c.request('S3', 'C1', 1, 'add 4');
  c.pump();
  c.filter = () => true;
  c.kill('S1');
  c.group('active', 2, 'S2', ['S2', 'S3']);
  t.same(c.answers('C1'), ['S3:reply:1:4'], 'S3 forwarded it to S2 on its first message, and answered once committed');
  t.equal(c.core('S2').state.app.describe(), '4');
});

t.test('a sequencer made member steps down: it rejects what it held and stops its links', async (t) => {
  const c = active();
  c.filter = (to, e) => !(to === 'S1' && e.type === 'follower');
  c.request('S1', 'C1', 1, 'add 1');
  c.pump();
  c.role('S1', { mode: 'active', role: 'member', epoch: 2, ready: true, leader: 'S2', group: ALL });
  t.same(c.answers('C1'), ['S1:reject:1:not_ready']);
  t.same(c.texts('S1', 'role_changed').at(-1), 'S1: sequencer at epoch 1 -> member at epoch 2');
  t.same(c.texts('S1', 'step_down'), ['S1: stepping down as leader: the RM chose another leader']);
  t.equal(c.node('S1').links.size, 0);
});

t.test("a newcomer's checkpoint ordered while the new sequencer syncs waits until the sync is done", async (t) => {
  const c = new Cluster([...ALL, 'S4']);
  c.group('active', 1, 'S1', ALL);
  c.request('S1', 'C1', 1, 'add 2');
  c.pump();
  c.kill('S1');
  c.filter = (to, e) => !(to === 'S2' && e.type === 'follower' && e.msg.type === 'synced');
  c.group('active', 2, 'S2', ['S2', 'S3'], ['S4']);
  c.sendCheckpoint('S2', 'S4', 2);
  c.pump();
  t.same(c.texts('S4', 'checkpoint_received'), [], 'no checkpoint while S2 may still be behind');
  t.ok(c.node('S2').links.has('S4'), 'but the link is opened');
  c.filter = () => true;
  c.fire('S2', 'sync');
  t.same(c.texts('S4', 'checkpoint_received'), ['[2] [my_state=2] S4 receives checkpoint from S2'], 'sent once the sync is done');
  t.match(c.reports('S4').at(-1), { ready: true, seq: 1 });
});

t.test('each order is one broadcast to every member and newcomer, encoded once by the shell', async (t) => {
  const c = new Cluster([...ALL, 'S4']);
  c.group('active', 1, 'S1', ALL, ['S4']);
  c.sendCheckpoint('S1', 'S4', 1);
  c.pump();
  c.core('S1').step({ type: 'request', conn: 1000, msg: { type: 'request', client: 'C1', server: 'S1', num: 1, payload: 'add 1' } });
  const out = c.core('S1').drain();
  t.match(
    out.filter((cmd) => cmd.type === 'broadcast' || cmd.type === 'peerSend'),
    [{ type: 'broadcast', peers: ['S2', 'S3', 'S4'], msg: { type: 'order', seq: 1, client: 'C1', num: 1, epoch: 1 } }],
  );
});
