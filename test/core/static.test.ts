/**
 * Replicas without an RM (servers/static.ts), in memory: the group, the leader and the epoch are
 * fixed at start; the leader serves at once, feeds every other member, counts a follower in its
 * commit group once it holds its checkpoint, and takes it out when the link drops or it lags;
 * followers become ready by installing the leader's checkpoint. Both modes, and checkpoint-only.
 */
import t from 'tap';
import { Cluster } from '../helpers/cluster.js';
import { LAG_CHECKS } from '../../servers/core/index.js';
import type { Mode } from '../../lib/protocol/index.js';

const ALL = ['S1', 'S2', 'S3'];

t.test('a group of one serves alone, with nobody to feed', async (t) => {
  const c = new Cluster(['S1']);
  c.startStatic('passive', 'S1');
  t.same(c.texts('S1', 'static_group'), ['S1: no RM: passive replication, primary; group S1 (fixed)']);
  t.same(c.texts('S1', 'role_changed'), ['S1: none (not ready) at epoch 0 -> primary at epoch 1']);
  c.request('S1', 'C1', 1, 'add 2');
  c.request('S1', 'C1', 2, 'add 3');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:2', 'S1:reply:2:5']);
  t.equal(c.node('S1').links.size, 0, 'no links to open');
});

for (const mode of ['passive', 'active'] as Mode[]) {
  const follower = mode === 'passive' ? 'backup' : 'member';

  t.test(`${mode}: the leader serves before its followers are up; each joins its group once it holds its checkpoint`, async (t) => {
    const c = new Cluster(ALL);
    c.unreachable.add('S2').add('S3');
    c.startStatic(mode, 'S1');
    c.request('S1', 'C1', 1, 'add 1');
    c.pump();
    t.same(c.answers('C1'), ['S1:reply:1:1'], 'served alone while nobody else is up');
    t.equal(c.core('S2').ready, false, 'a follower is not ready before it holds a checkpoint');
    t.same(c.texts('S2', 'role_changed'), [`S2: none (not ready) at epoch 0 -> ${follower} (not ready) at epoch 1`]);

    c.unreachable.clear();
    c.reconnect('S1', 'S2');
    c.reconnect('S1', 'S3');
    c.pump();
    for (const f of ['S2', 'S3']) {
      t.equal(c.core(f).ready, true, `${f} is ready`);
      t.equal(c.core(f).state.app.describe(), '1', `${f} holds the leader's state`);
      t.same(c.texts(f, 'role_changed').at(-1), `${f}: ${follower} (not ready) at epoch 1 -> ${follower} at epoch 1`);
    }
    t.match(c.texts('S1', 'group_joined'), [/^S1: S2 holds my checkpoint \d+: in the group \(S1, S2\)$/, /^S1: S3 holds my checkpoint \d+: in the group \(S1, S2, S3\)$/]);
    t.same(c.core('S1').group.map((m) => m.name), ['S1', 'S2', 'S3'], "the leader's commit group");
    t.equal(c.core('S1').epoch, 1, 'the epoch never changes');
    t.same(c.node('S1').toLfd.filter((m) => m.type === 'lagging'), [], 'nothing for an RM');
  });

  t.test(`${mode}: a follower that dies leaves the group and no longer holds up replies; restarted, it gets the state again`, async (t) => {
    const c = new Cluster(ALL);
    c.startStatic(mode, 'S1');
    c.request('S1', 'C1', 1, 'add 5');
    c.pump();
    t.same(c.answers('C1'), ['S1:reply:1:5']);
    c.kill('S3');
    c.pump();
    t.match(c.texts('S1', 'group_left'), [/^S1: S3 leaves the group \(our link to it dropped\); it rejoins when it holds my next checkpoint$/]);
    c.request('S1', 'C1', 2, 'add 1');
    c.pump();
    t.same(c.answers('C1'), ['S1:reply:1:5', 'S1:reply:2:6'], 'answered without S3');

    c.restart('S3');
    c.startStatic(mode, 'S1', ['S3'], ALL);
    t.equal(c.core('S3').ready, false);
    c.reconnect('S1', 'S3');
    c.pump();
    t.equal(c.core('S3').ready, true, 'S3 is ready again');
    t.equal(c.core('S3').state.app.describe(), '6', "S3 holds the leader's state");
    t.same(c.core('S1').group.map((m) => m.name), ['S1', 'S2', 'S3'], 'S3 is back in the group');
    c.request('S1', 'C1', 3, 'add 1');
    c.pump();
    t.same(c.answers('C1').at(-1), 'S1:reply:3:7');
    if (mode === 'passive') t.equal(c.traces('S3', 'log_held').length, 1, 'S3 holds the next entry');
    else t.equal(c.core('S3').state.app.describe(), '7', 'S3 applies the next order');
  });

  t.test(`${mode}: a follower that stops acknowledging is taken out after the lag timeout; the pending reply goes out`, async (t) => {
    const c = new Cluster(ALL, { static: true });
    c.startStatic(mode, 'S1');
    c.filter = (to, e) => !(to === 'S1' && e.type === 'follower' && e.peer === 'S3');
    c.request('S1', 'C1', 1, 'add 1');
    c.pump();
    t.same(c.answers('C1'), [], 'the commit waits for S3');
    for (let i = 0; i <= LAG_CHECKS && c.node('S1').timers.has('lag'); i++) {
      c.node('S1').timers.delete('lag');
      c.fire('S1', 'lag');
    }
    t.match(c.texts('S1', 'follower_lagging'), [/^S1: S3 has not acknowledged seq 1 for over 4 s \(it holds 0\); taking it out of my group$/]);
    t.match(c.texts('S1', 'group_left'), [/^S1: S3 leaves the group \(it has not acknowledged seq 1 for a lag timeout\)/]);
    t.same(c.answers('C1'), ['S1:reply:1:1'], 'answered once S3 is out');
    t.same(c.core('S1').group.map((m) => m.name), ['S1', 'S2']);
    // The link heals: S3 installs the leader's checkpoint and is back.
    c.filter = () => true;
    c.fire('S1', 'checkpoint');
    if (mode === 'active') {
      c.kill('S3');
      c.restart('S3');
      c.startStatic(mode, 'S1', ['S3'], ALL);
      c.reconnect('S1', 'S3');
      c.pump();
    }
    t.same(c.core('S1').group.map((m) => m.name), ['S1', 'S2', 'S3'], 'S3 rejoined through a checkpoint');
  });
}

t.test('active: a member forwards what it receives to the fixed sequencer and answers once committed', async (t) => {
  const c = new Cluster(ALL);
  c.startStatic('active', 'S1');
  c.request('S2', 'C1', 1, 'add 4');
  c.request('S3', 'C1', 1, 'add 4');
  c.request('S1', 'C1', 1, 'add 4');
  c.pump();
  t.same(c.answers('C1').sort(), ['S1:reply:1:4', 'S2:reply:1:4', 'S3:reply:1:4'], 'every replica answers, with the same result');
  t.equal(c.traces('S1', 'state_after').length, 1, 'executed once at the sequencer');
  for (const s of ALL) t.equal(c.core(s).state.app.describe(), '4');
});

t.test('passive checkpoint-only: backups follow the primary only through checkpoints', async (t) => {
  const c = new Cluster(ALL, { passive: 'checkpoint-only' });
  c.startStatic('passive', 'S1');
  c.request('S1', 'C1', 1, 'add 2');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:2']);
  t.equal(c.core('S2').state.app.describe(), '0', 'no log entry reached S2');
  c.fire('S1', 'checkpoint');
  for (const b of ['S2', 'S3']) t.equal(c.core(b).state.app.describe(), '2', `${b} holds the primary's state after the checkpoint`);
  t.same(c.texts('S1', 'checkpoint_sent').map((l) => /^\[(\d+)\]/.exec(l)![1]), ['1', '2', '3', '3'], 'counted from 1');
});

t.test('a follower whose leader is down waits for it; the leader, restarted, starts from an empty state and feeds it again', async (t) => {
  const c = new Cluster(ALL);
  c.startStatic('passive', 'S1');
  c.request('S1', 'C1', 1, 'add 3');
  c.pump();
  c.kill('S1');
  c.pump();
  c.request('S2', 'C1', 2, 'add 1');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:3', 'S2:reject:2:not_primary'], 'no failover: a backup does not serve');
  c.restart('S1');
  c.startStatic('passive', 'S1', ['S1'], ALL);
  t.equal(c.core('S2').state.app.describe(), '0', "the restarted primary's first checkpoint replaces the backups' state");
  t.equal(c.core('S2').ready, true, 'S2 stays ready');
});
