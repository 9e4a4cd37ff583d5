/**
 * The leader's lag watch, in memory: a ready follower that its LFD still vouches for but that
 * acknowledges nothing (a cut link, a one-way cut) is reported to the RM after one lag timeout;
 * when the RM takes it out of the group under a new epoch, the leader renews its followers with a
 * checkpoint of that epoch and commits again; the follower rejoins through a checkpoint once the
 * link heals. Both modes.
 */
import t from 'tap';
import { Cluster } from '../helpers/cluster.js';
import { LAG_CHECKS, type ReplicaEvent } from '../../servers/core/index.js';
import type { Mode, MessageOf } from '../../lib/protocol/index.js';

const ALL = ['S1', 'S2', 'S3'];

/** Nothing crosses between S1 and S3 (either direction, or only `oneWay`); the link itself stays up, as a TCP connection does. */
function cut(c: Cluster, oneWay?: 'S1->S3' | 'S3->S1'): void {
  c.filter = (to: string, e: ReplicaEvent) => {
    const toS3 = to === 'S3' && e.type === 'peer' && e.peer === 'S1';
    const toS1 = to === 'S1' && e.type === 'follower' && e.peer === 'S3';
    if (oneWay === 'S1->S3') return !toS3;
    if (oneWay === 'S3->S1') return !toS1;
    return !toS3 && !toS1;
  };
}

const lagging = (c: Cluster, name: string) => c.node(name).toLfd.filter((m): m is MessageOf<'lagging'> => m.type === 'lagging');

/** Hold back what S3 sends S1 (its acknowledgements); the test delivers them when it chooses. */
function holdAcks(c: Cluster): Array<{ to: string; event: ReplicaEvent }> {
  const acks: Array<{ to: string; event: ReplicaEvent }> = [];
  c.filter = (to, e) => {
    if (to === 'S1' && e.type === 'follower' && e.peer === 'S3') return void acks.push({ to, event: e }), false;
    return true;
  };
  return acks;
}

/** Fire the leader's lag check as its timer would, while it is armed; at most `max` times. */
function fireLag(c: Cluster, leader: string, max: number): number {
  let fired = 0;
  while (fired < max && c.node(leader).timers.has('lag')) {
    c.node(leader).timers.delete('lag');
    c.fire(leader, 'lag');
    fired++;
  }
  return fired;
}

for (const mode of ['passive', 'active'] as Mode[]) {
  const leaderRole = mode === 'passive' ? 'primary' : 'sequencer';
  const followerRole = mode === 'passive' ? 'backup' : 'member';

  for (const how of [undefined, 'S1->S3', 'S3->S1'] as const) {
    t.test(`${mode}: a follower cut off from the leader only (${how ?? 'both ways'}) is reported, removed under a new epoch, and rejoins after the heal`, async (t) => {
      const c = new Cluster(ALL, { app: 'counter' });
      c.group(mode, 1, 'S1', ALL);
      c.request('S1', 'C1', 1, 'add 2');
      c.pump();
      t.same(c.answers('C1'), ['S1:reply:1:2'], 'served while the links are whole');
      // The check armed while request 1 waited finds nothing waiting, and is not armed again.
      t.equal(fireLag(c, 'S1', 5), 1);
      t.notOk(c.node('S1').timers.has('lag'), 'no lag check runs while nothing waits');

      cut(c, how);
      c.request('S1', 'C1', 2, 'add 3');
      c.pump();
      t.same(c.answers('C1').length, 1, 'the commit waits for S3');
      t.ok(c.node('S1').timers.has('lag'), 'the lag check is armed while a commit waits');
      t.equal(c.node('S1').timers.get('lag')!.ms, c.core('S1').lag.ms / LAG_CHECKS);

      t.equal(fireLag(c, 'S1', LAG_CHECKS - 1), LAG_CHECKS - 1);
      t.same(lagging(c, 'S1'), [], 'not before a whole lag timeout');
      fireLag(c, 'S1', 1);
      t.match(lagging(c, 'S1'), [{ type: 'lagging', server: 'S1', follower: 'S3', epoch: 1, seq: 2, acked: 1 }], 'reported after the lag timeout');
      t.match(c.texts('S1', 'follower_lagging'), [/^S1: S3 has not acknowledged seq 2 for over 4 s \(it holds 1\); asking the RM/]);
      t.same(lagging(c, 'S2'), [], 'only the leader reports');

      // The RM takes S3 out under epoch 2 and orders its checkpoint.
      c.role('S1', { mode, role: leaderRole, epoch: 2, ready: true, leader: 'S1', group: ['S1', 'S2'] });
      c.role('S2', { mode, role: followerRole, epoch: 2, ready: true, leader: 'S1', group: ['S1', 'S2'] });
      c.role('S3', { mode, role: followerRole, epoch: 2, ready: false, leader: 'S1', group: ['S1', 'S2'] });
      c.unreachable.add('S3');
      c.sendCheckpoint('S1', 'S3', 2);
      c.pump();
      t.match(c.answers('C1'), ['S1:reply:1:2', 'S1:reply:2:5'], 'committed with S2 once S2 installed the checkpoint of epoch 2');
      t.equal(c.core('S3').ready, false, 'S3 serves no one');
      c.request('S1', 'C1', 3, 'add 1');
      c.pump();
      t.match(c.answers('C1').at(-1), 'S1:reply:3:6', 'and the service goes on without S3');

      // The link heals: the leader's new link reaches S3, which installs the checkpoint and reports.
      c.filter = () => true;
      c.unreachable.delete('S3');
      c.reconnect('S1', 'S3');
      c.pump();
      t.equal(c.core('S3').state.app.describe(), '6', 'S3 holds the current state');
      t.match(c.reports('S3').at(-1), { ready: true, epoch: 2, held: 2, seq: 3 }, 'and tells the RM it has caught up');
    });
  }

  t.test(`${mode}: a follower that acknowledges late but within the lag timeout is not reported`, async (t) => {
    const c = new Cluster(ALL, { app: 'counter' });
    c.group(mode, 1, 'S1', ALL);
    // S3's acknowledgements are held back one lag check.
    const acks = holdAcks(c);
    for (let n = 1; n <= 3 * LAG_CHECKS; n++) {
      c.request('S1', 'C1', n, 'add 1');
      c.pump();
      fireLag(c, 'S1', 1);
      const late = acks.splice(0);
      for (const { to, event } of late) c.step(to, event);
      c.pump();
    }
    t.same(lagging(c, 'S1'), [], 'slow but useful: kept');
    t.equal(c.answers('C1').length, 3 * LAG_CHECKS, 'every request answered');
  });

  for (const [held, reported] of [
    [LAG_CHECKS - 1, false],
    [LAG_CHECKS, true],
  ] as const) {
    t.test(`${mode}: a follower whose every acknowledgement takes ${held} of the ${LAG_CHECKS} checks of a lag timeout is ${reported ? '' : 'not '}reported`, async (t) => {
      const c = new Cluster(ALL, { app: 'counter' });
      c.group(mode, 1, 'S1', ALL);
      const acks = holdAcks(c);
      // One client at a time, as a slow link makes it: each request waits for S3's late acknowledgement.
      for (let n = 1; n <= 3 && lagging(c, 'S1').length === 0; n++) {
        c.request('S1', 'C1', n, 'add 1');
        c.pump();
        fireLag(c, 'S1', held);
        for (const { to, event } of acks.splice(0)) c.step(to, event);
        c.pump();
        fireLag(c, 'S1', 1);
      }
      if (reported) t.match(lagging(c, 'S1'), [{ follower: 'S3', seq: 1, acked: 0 }], 'a link this slow is useless: reported on the first request');
      else {
        t.same(lagging(c, 'S1'), [], 'slow but within the lag timeout: kept');
        t.equal(c.answers('C1').length, 3, 'every request answered');
      }
    });
  }

  t.test(`${mode}: the lag timeout follows the LFD's heartbeat period unless fixed`, async (t) => {
    const c = new Cluster(['S1']);
    const set = (key: string, value: string) => c.step('S1', { type: 'control', msg: { type: 'set', from: 'LFD1', key, value } });
    set('lfd-heartbeat-freq', '0.2');
    t.equal(c.core('S1').lag.ms, 800, 'four heartbeat periods');
    set('lag-timeout', '1.5');
    t.equal(c.core('S1').lag.ms, 1500);
    set('lfd-heartbeat-freq', '0.1');
    t.equal(c.core('S1').lag.ms, 1500, 'a lag timeout set explicitly stays');
    set('lag-timeout', 'soon');
    t.match(c.texts('S1', 'property_rejected'), [/lag-timeout/]);
  });
}

t.test('the report carries the epoch of the state held, not of the role', async (t) => {
  const c = new Cluster(['S1', 'S2', 'S3'], { app: 'counter' });
  c.group('passive', 1, 'S1', ['S1', 'S2']);
  c.request('S1', 'C1', 1, 'add 1');
  c.pump();
  // S3 is given epoch 3 without ever catching up; S2 holds what the leader of epoch 1 gave it.
  c.role('S3', { mode: 'passive', role: 'backup', epoch: 3, ready: false, leader: 'S9', group: ['S9'] });
  t.match(c.reports('S3').at(-1), { epoch: 3, held: 0, seq: 0 });
  c.step('S2', { type: 'control', msg: { type: 'query', server: 'S2' } });
  t.match(c.reports('S2').at(-1), { epoch: 1, held: 1, seq: 1 });
});
