/**
 * A replica's disk in the shell (servers/durable.ts) with a real core: what goes out waits for
 * what was persisted before it, in order; a snapshot holds back what follows it too; and what
 * was persisted brings a new core back to the same state (core/recover.ts).
 */
import t from 'tap';
import { Durable } from '../../servers/durable.js';
import { ReplicaCore, createApp, recover, type Command } from '../../servers/core/index.js';

const core = () => new ReplicaCore({ name: 'S1', app: createApp('log'), checkpointMs: 1000, durable: true });
/** What the disk lets go, and a promise for the moment `n` have gone. */
function collector() {
  const out: Command[] = [];
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  const carryOut = (c: Command) => {
    out.push(c);
    for (const w of waiting.filter((w) => out.length >= w.n)) w.resolve();
  };
  const gone = (n: number) => new Promise<void>((resolve) => (out.length >= n ? resolve() : waiting.push({ n, resolve })));
  return { out, carryOut, gone };
}

const send = (n: number): Command => ({ type: 'send', conn: 1, msg: { type: 'reply', client: 'C1', server: 'S1', num: n, result: String(n) } });

t.test('messages wait for the entries persisted before them, and go in order once those are durable', async (t) => {
  const dir = t.testdir({});
  const { out, carryOut, gone } = collector();
  const { durable } = await Durable.open(dir, 'always', core(), carryOut, (err) => t.fail(err.message));
  t.equal(durable.take(send(0)), false, 'nothing persisted yet: a message goes at once');
  t.equal(durable.take({ type: 'persist', entry: { seq: 1, client: 'C1', num: 1, payload: 'append a' }, epoch: 3 }), true);
  t.equal(durable.take(send(1)), true, 'after an entry: held');
  t.equal(durable.take({ type: 'setTimer', timer: 'lag', ms: 1, repeat: false }), false, 'a timer is not a message: not held');
  t.equal(durable.take({ type: 'broadcast', peers: ['S2'], msg: { type: 'commit', from: 'S1', to: '', seq: 1, epoch: 3 } }), false, 'what goes to peers is not held: they persist before they acknowledge');
  t.equal(durable.take({ type: 'persist', entry: { seq: 2, client: 'C1', num: 2, payload: 'append b' }, epoch: 3 }), true);
  t.equal(durable.take(send(2)), true);
  t.same(out, [], 'nothing went before the disk said so');
  await gone(2);
  t.same(out.map((c) => (c.type === 'send' && c.msg.type === 'reply' ? c.msg.num : -1)), [1, 2], 'then both, in order');
  t.equal(durable.take(send(3)), false, 'all durable: at once again');
  await durable.close();
});

t.test('a snapshot holds back what follows it; a new core recovers the same state from the disk', async (t) => {
  const dir = t.testdir({});
  const a = core();
  const { carryOut, gone } = collector();
  const { durable } = await Durable.open(dir, 'always', a, carryOut, (err) => t.fail(err.message));
  for (let i = 1; i <= 5; i++) {
    a.state.execute('C1', i, `append e${i}`, i);
    durable.take({ type: 'persist', entry: { seq: i, client: 'C1', num: i, payload: `append e${i}` }, epoch: 2 });
    if (i === 3) durable.take({ type: 'snapshot' });
  }
  durable.take(send(9));
  await gone(1);
  await durable.close();
  const b = core();
  const again = await Durable.open(dir, 'always', b, () => undefined, (err) => t.fail(err.message));
  t.ok(again.recovered.snapshot, 'a snapshot was written');
  recover(b, again.recovered.snapshot, again.recovered.entries);
  t.equal(b.state.seq, 5);
  t.equal(b.state.app.apply('read'), a.state.app.apply('read'), 'the same log');
  t.equal(b.state.lookup('C1', 5).kind, 'duplicate', 'and the same dedup table');
  await again.durable.close();
});
