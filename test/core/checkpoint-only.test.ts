/**
 * Checkpoint-only passive replication (`--passive checkpoint-only`, the course's milestone 3):
 * the primary replies as soon as it has executed a request and sends no log entries; backups
 * change only through checkpoints. Driven in memory the way the RM (or a static group) drives it.
 */
import t from 'tap';
import { Cluster } from '../helpers/cluster.js';

const ALL = ['S1', 'S2', 'S3'];

function checkpointOnly(): Cluster {
  const c = new Cluster(ALL, { passive: 'checkpoint-only' });
  c.group('passive', 1, 'S1', ALL);
  return c;
}

t.test('the primary replies without logging, even when no backup answers', async (t) => {
  const c = checkpointOnly();
  // Nothing the backups send reaches the primary: a logging primary would wait forever.
  c.filter = (to, e) => !(to === 'S1' && e.type === 'follower');
  c.request('S1', 'C1', 1, 'add 5');
  c.request('S1', 'C1', 2, 'add 1');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:5', 'S1:reply:2:6'], 'both answered at once');
  for (const b of ['S2', 'S3']) {
    t.same(c.traces(b, 'log_held'), [], `${b} got no log entry`);
    t.equal(c.core(b).log.length, 0, `${b} holds nothing past its checkpoint`);
    t.equal(c.core(b).state.app.describe(), '0', `${b} is unchanged until the next checkpoint`);
  }
  t.notOk(c.node('S1').timers.has('lag'), 'no lag watch: no commit waits for a follower');
  t.same(c.texts('S1', 'checkpoint_only'), ['S1: checkpoint-only passive replication: replying without logging; backups change only through checkpoints (every 1 s)']);
});

t.test('backups change only through the periodic checkpoints, which count up by one from the first', async (t) => {
  const c = checkpointOnly();
  // The checkpoints a new link starts with (one per backup) are the first ones: counting starts at 1.
  t.same(c.texts('S1', 'checkpoint_sent'), ['[1] [my_state=0] S1 sending checkpoint to S2', '[2] [my_state=0] S1 sending checkpoint to S3']);
  t.same(c.texts('S2', 'checkpoint_received'), ['[1] [my_state=0] S2 receives checkpoint from S1']);
  c.request('S1', 'C1', 1, 'add 3');
  c.pump();
  t.equal(c.core('S2').state.app.describe(), '0', 'the request alone changes no backup');
  c.fire('S1', 'checkpoint');
  t.same(c.texts('S1', 'checkpoint_sent').slice(2), ['[3] [my_state=3] S1 sending checkpoint to S2', '[3] [my_state=3] S1 sending checkpoint to S3']);
  for (const b of ['S2', 'S3']) {
    t.same(c.texts(b, 'checkpoint_received').at(-1), `[3] [my_state=3] ${b} receives checkpoint from S1`);
    t.equal(c.core(b).state.app.describe(), '3', `${b} holds the primary's state after the checkpoint`);
  }
  c.request('S1', 'C1', 2, 'add 4');
  c.pump();
  c.fire('S1', 'checkpoint');
  t.same(c.texts('S2', 'checkpoint_received').map((l) => Number(/^\[(\d+)\]/.exec(l)![1])), [1, 3, 4], 'S2 sees checkpoints 1, 3, 4');
  t.equal(c.core('S3').state.app.describe(), '7');
});

t.test('a retry is answered from the dedup table at once', async (t) => {
  const c = checkpointOnly();
  c.filter = (to, e) => !(to === 'S1' && e.type === 'follower');
  c.request('S1', 'C1', 1, 'add 2');
  c.pump();
  c.request('S1', 'C1', 1, 'add 2');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:2', 'S1:reply:1:2']);
  t.equal(c.traces('S1', 'state_after').length, 1, 'executed once');
});

t.test('failover loses exactly what was acknowledged since the last checkpoint', async (t) => {
  const c = checkpointOnly();
  c.request('S1', 'C1', 1, 'add 1');
  c.request('S1', 'C1', 2, 'add 1');
  c.pump();
  c.fire('S1', 'checkpoint');
  c.request('S1', 'C1', 3, 'add 10');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:1', 'S1:reply:2:2', 'S1:reply:3:12'], 'three requests acknowledged');
  c.kill('S1');
  // The RM promotes a backup: it holds checkpoint 3 (requests 1 and 2), nothing after it.
  c.group('passive', 2, 'S2', ['S2', 'S3']);
  t.same(c.texts('S2', 'log_replay'), [], 'nothing to replay');
  t.equal(c.core('S2').state.app.describe(), '2', 'request 3 is lost');
  // C1 got its reply to 3, so it goes on with 4; a retry of 3 would run again as new.
  c.request('S2', 'C1', 4, 'add 100');
  c.pump();
  t.same(c.answers('C1').at(-1), 'S2:reply:4:102');
});

t.test('the default is still to log: a primary waits for its backups before replying', async (t) => {
  const c = new Cluster(ALL);
  c.group('passive', 1, 'S1', ALL);
  c.filter = (to, e) => !(to === 'S1' && e.type === 'follower');
  c.request('S1', 'C1', 1, 'add 1');
  c.pump();
  t.same(c.answers('C1'), [], 'no reply until the backups hold the entry');
  t.equal(c.traces('S2', 'log_held').length, 1);
  t.same(c.texts('S1', 'checkpoint_only'), []);
});

t.test('checkpoint-only changes nothing in active mode', async (t) => {
  const c = new Cluster(ALL, { passive: 'checkpoint-only' });
  c.group('active', 1, 'S1', ALL);
  c.request('S1', 'C1', 1, 'add 1');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:1']);
  t.equal(c.core('S2').state.app.describe(), '1', 'members apply the order as usual');
});
