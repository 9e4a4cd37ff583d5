/**
 * Newcomers, checkpoints, role changes and client connections in the replica's core: a
 * newcomer installs a checkpoint and catches up; every role change goes through setRole and
 * is traced `old -> new`; a half-closed client is answered before it is closed.
 */
import t from 'tap';
import { ReplicaCore, createApp } from '../../servers/core/index.js';
import { Cluster, members } from '../helpers/cluster.js';

const ALL = ['S1', 'S2', 'S3'];

t.test('a passive newcomer installs the checkpoint the RM orders, reports, and is made ready', async (t) => {
  const c = new Cluster([...ALL]);
  c.group('passive', 1, 'S1', ['S1', 'S2']);
  c.request('S1', 'C1', 1, 'add 5');
  c.pump();
  c.role('S3', { mode: 'passive', role: 'backup', epoch: 1, ready: false, leader: 'S1', group: ['S1', 'S2'] });
  t.match(c.reports('S3').at(-1), { ready: false, seq: 0 }, 'not caught up yet');
  c.sendCheckpoint('S1', 'S3', 1);
  c.pump();
  t.same(c.texts('S3', 'checkpoint_received'), ['[2] [my_state=5] S3 receives checkpoint from S1']);
  t.same(c.texts('S3', 'high_watermarks'), ['S3: high-watermark request numbers: C1 1'], 'and where each client stands');
  t.match(c.reports('S3').at(-1), { ready: true, checkpoint: 2, seq: 1 }, 'it tells the RM it has caught up');
  // Requests meanwhile reach the newcomer as log entries past its checkpoint.
  c.request('S1', 'C1', 2, 'add 1');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:5', 'S1:reply:2:6'], 'committed without waiting for the newcomer');
  t.same(c.core('S3').log.map((e) => e.seq), [2], 'the newcomer holds the entry past its checkpoint');
  c.group('passive', 1, 'S1', ALL);
  c.step('S1', { type: 'timer', timer: 'checkpoint' });
  c.pump();
  t.equal(c.texts('S3', 'checkpoint_received').length, 2, 'a periodic checkpoint reaches the ready backup');
  t.equal(c.texts('S3', 'high_watermarks').length, 1, 'which prints no high-watermark line: only a newcomer does');
  t.same(c.texts('S3', 'role_changed'), ['S3: none (not ready) at epoch 0 -> backup (not ready) at epoch 1', 'S3: backup (not ready) at epoch 1 -> backup at epoch 1']);
});

t.test('an active newcomer stays silent, installs a checkpoint, and applies only the orders past its watermark', async (t) => {
  const c = new Cluster([...ALL]);
  c.group('active', 1, 'S1', ['S1', 'S2'], ['S3']);
  c.request('S3', 'C1', 1, 'add 1');
  c.pump();
  t.same(c.answers('C1'), [], 'a newcomer answers no client');
  c.request('S1', 'C2', 1, 'add 2');
  c.pump();
  c.sendCheckpoint('S1', 'S3', 1);
  c.pump();
  t.equal(c.core('S3').state.seq, 1, 'the checkpoint covers seq 1');
  const link = c.node('S1').links.get('S3')!;
  const order = (seq: number, client: string) => ({ type: 'peer' as const, conn: link, peer: 'S1', msg: { type: 'order' as const, from: 'S1', to: 'S3', seq, client, num: 1, payload: 'add 10', epoch: 1 } });
  c.step('S3', order(1, 'C2'));
  c.step('S3', order(2, 'C3'));
  t.equal(c.core('S3').state.seq, 2);
  t.equal(c.core('S3').state.app.describe(), '12', 'the order at the watermark is skipped, the one past it applied');
  t.equal(c.traces('S3', 'state_after').length, 1);
});

t.test('a checkpoint the replica cannot install is refused: no installed, nothing changes', async (t) => {
  const core = new ReplicaCore({ name: 'S2', app: createApp('log'), checkpointMs: 1000 });
  core.step({ type: 'control', msg: { type: 'role', server: 'S2', mode: 'passive', role: 'backup', epoch: 1, ready: false, leader: 'S1', group: members('S1') } });
  core.drain();
  core.step({ type: 'peer', conn: 1, peer: 'S1', msg: { type: 'checkpoint', from: 'S1', to: 'S2', count: 3, state: 'not json', table: '[]', epoch: 1, seq: 4 } });
  const out = core.drain();
  t.match(out, [{ type: 'trace', event: 'checkpoint_bad', text: /^S2: cannot install checkpoint 3 from S1: / }]);
  t.equal(out.length, 1, 'no installed answer, no report');
  t.equal(core.state.seq, 0);
  t.notOk(core.caughtUp);
  core.step({ type: 'peer', conn: 1, peer: 'S1', msg: { type: 'checkpoint', from: 'S1', to: 'S2', count: 4, state: '["a"]', table: '[["C1",{"num":1,"result":"1","seq":4}]]', epoch: 1, seq: 4 } });
  const ok = core.drain();
  t.match(ok.filter((c) => c.type === 'send'), [{ type: 'send', conn: 1, msg: { type: 'installed', from: 'S2', to: 'S1', count: 4, seq: 4, epoch: 1 } }]);
  t.match(ok.filter((c) => c.type === 'toLfd'), [{ msg: { type: 'report', ready: true, checkpoint: 4, seq: 4 } }]);
});

t.test("a checkpoint order for an epoch whose role has not arrived waits for it; a non-leader's is ignored", async (t) => {
  const c = new Cluster([...ALL]);
  c.group('passive', 1, 'S1', ['S1', 'S2']);
  c.role('S3', { mode: 'passive', role: 'backup', epoch: 2, ready: false, leader: 'S2', group: ['S2'] });
  c.sendCheckpoint('S2', 'S3', 2);
  t.same(c.texts('S2', 'checkpoint_order_deferred'), ['S2: asked to checkpoint to S3 for epoch 2; waiting for my role of that epoch']);
  c.sendCheckpoint('S1', 'S3', 1);
  c.pump();
  t.same(c.texts('S3', 'stale_epoch'), ['S3: refusing S1 at epoch 1; current epoch is 2'], "S1's checkpoint of epoch 1 is refused at the door");
  c.kill('S1');
  c.role('S2', { mode: 'passive', role: 'primary', epoch: 2, ready: true, leader: 'S2', group: ['S2'] });
  c.pump();
  t.same(c.texts('S3', 'checkpoint_received').length, 1, 'carried out once the role came');
  c.sendCheckpoint('S3', 'S2', 2);
  t.same(c.texts('S3', 'checkpoint_order_ignored'), ['S3: asked to checkpoint to S2 but I am not the leader of epoch 2']);
});

t.test("a replica made not ready after installing the new leader's checkpoint of that epoch stays caught up", async (t) => {
  const core = new ReplicaCore({ name: 'S3', app: createApp('counter'), checkpointMs: 1000 });
  core.step({ type: 'control', msg: { type: 'role', server: 'S3', mode: 'passive', role: 'backup', epoch: 1, ready: true, leader: 'S1', group: members('S1', 'S3') } });
  core.step({ type: 'control', msg: { type: 'role', server: 'S3', mode: 'passive', role: 'backup', epoch: 2, ready: true, leader: 'S2', group: members('S2', 'S3') } });
  core.step({ type: 'peer', conn: 5, peer: 'S2', msg: { type: 'checkpoint', from: 'S2', to: 'S3', count: 1, state: '3', table: '[]', epoch: 2, seq: 3 } });
  core.step({ type: 'control', msg: { type: 'role', server: 'S3', mode: 'passive', role: 'backup', epoch: 2, ready: false, leader: 'S2', group: members('S2') } });
  t.ok(core.caughtUp, 'its state came from the leader of this epoch');
  core.step({ type: 'control', msg: { type: 'role', server: 'S3', mode: 'passive', role: 'backup', epoch: 3, ready: false, leader: 'S2', group: members('S2') } });
  t.notOk(core.caughtUp, 'a newer epoch needs a new checkpoint');
  t.match(core.drain().filter((c) => c.type === 'toLfd').at(-1), { msg: { ready: false, epoch: 3 } });
});

t.test('a half-closed client connection gets every reply it is owed, then is closed', async (t) => {
  const c = new Cluster(ALL);
  c.group('passive', 1, 'S1', ALL);
  c.filter = (to, e) => !(to === 'S1' && e.type === 'follower' && e.peer === 'S3');
  const conn = c.request('S1', 'C1', 1, 'add 1');
  c.request('S1', 'C1', 2, 'add 1');
  c.pump();
  c.clientEvent(conn, 'ended');
  c.pump();
  t.notOk(c.isClosed(conn), 'still owed two replies');
  c.filter = () => true;
  c.step('S1', { type: 'follower', peer: 'S3', msg: { type: 'ack', from: 'S3', to: 'S1', seq: 2, epoch: 1 } });
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:1', 'S1:reply:2:2']);
  t.ok(c.isClosed(conn), 'closed after the last one');
});

t.test('a half-closed connection owed nothing is closed at once; a closed one is owed nothing', async (t) => {
  const c = new Cluster(ALL);
  c.group('passive', 1, 'S1', ALL);
  const idle = c.request('S2', 'C1', 1, 'add 1');
  c.pump();
  c.clientEvent(idle, 'ended');
  c.pump();
  t.ok(c.isClosed(idle));
  c.filter = (to, e) => !(to === 'S1' && e.type === 'follower');
  const gone = c.request('S1', 'C2', 1, 'add 1');
  c.pump();
  c.clientEvent(gone, 'closed');
  c.filter = () => true;
  c.step('S1', { type: 'follower', peer: 'S2', msg: { type: 'ack', from: 'S2', to: 'S1', seq: 1, epoch: 1 } });
  c.step('S1', { type: 'follower', peer: 'S3', msg: { type: 'ack', from: 'S3', to: 'S1', seq: 1, epoch: 1 } });
  c.pump();
  t.same(c.answers('C2'), [], 'no reply on a closed connection');
  t.equal(c.core('S1').commitSeq, 1, 'yet the request is committed');
});

t.test('detached: the leader steps down, rejects what it held, and serves no one until caught up', async (t) => {
  const c = new Cluster(ALL);
  c.group('passive', 1, 'S1', ALL);
  c.filter = (to, e) => !(to === 'S1' && e.type === 'follower');
  c.request('S1', 'C1', 1, 'add 1');
  c.pump();
  c.step('S1', { type: 'detached' });
  t.same(c.answers('C1'), ['S1:reject:1:not_primary']);
  t.same(c.texts('S1', 'step_down'), ['S1: stepping down as leader: lost contact with my LFD']);
  t.same(c.texts('S1', 'role_changed').at(-1), 'S1: primary at epoch 1 -> none (not ready) at epoch 1');
  t.same(c.texts('S1', 'detached'), ['S1: lost contact with my LFD; not ready until I catch up again']);
  t.notOk(c.core('S1').caughtUp);
  c.request('S1', 'C1', 2, 'add 1');
  c.pump();
  t.same(c.answers('C1').at(-1), 'S1:reject:2:not_ready');
  c.step('S2', { type: 'detached' });
  t.same(c.texts('S2', 'role_changed').at(-1), 'S2: backup at epoch 1 -> none (not ready) at epoch 1');
  t.same(c.texts('S2', 'step_down'), [], 'a backup has nothing to step down from');
});

t.test('each role change goes through setRole, swaps the handler and is traced old -> new', async (t) => {
  const core = new ReplicaCore({ name: 'S1', app: createApp('counter'), checkpointMs: 1000 });
  const role = (mode: 'active' | 'passive', role: 'primary' | 'backup' | 'sequencer' | 'member', epoch: number, ready: boolean, leader: string) =>
    core.step({ type: 'control', msg: { type: 'role', server: 'S1', mode, role, epoch, ready, leader, group: members('S1', 'S2') } });
  t.equal(core.handler.name, 'newcomer');
  role('active', 'member', 1, false, 'S2');
  t.equal(core.handler.name, 'newcomer');
  role('active', 'member', 1, true, 'S2');
  t.equal(core.handler.name, 'member');
  role('active', 'sequencer', 2, true, 'S1');
  t.equal(core.handler.name, 'sequencer');
  role('active', 'sequencer', 2, true, 'S1');
  role('active', 'member', 3, true, 'S2');
  t.equal(core.handler.name, 'member');
  const p = new ReplicaCore({ name: 'S1', app: createApp('counter'), checkpointMs: 1000 });
  p.step({ type: 'control', msg: { type: 'role', server: 'S1', mode: 'passive', role: 'backup', epoch: 1, ready: true, leader: 'S2', group: members('S1', 'S2') } });
  t.equal(p.handler.name, 'backup');
  p.step({ type: 'control', msg: { type: 'role', server: 'S1', mode: 'passive', role: 'primary', epoch: 2, ready: true, leader: 'S1', group: members('S1', 'S2') } });
  t.equal(p.handler.name, 'primary');
  const texts = core.drain().flatMap((c) => (c.type === 'trace' && c.event === 'role_changed' ? [c.text] : []));
  t.same(texts, [
    'S1: none (not ready) at epoch 0 -> member (not ready) at epoch 1',
    'S1: member (not ready) at epoch 1 -> member at epoch 1',
    'S1: member at epoch 1 -> sequencer at epoch 2',
    'S1: sequencer at epoch 2 -> member at epoch 3',
  ], 'every change once; the same role again is no change');
});

t.test('a relaunched follower gets a fresh checkpoint on the new link and counts only what it acknowledges then', async (t) => {
  const c = new Cluster(ALL);
  c.group('passive', 1, 'S1', ALL);
  c.request('S1', 'C1', 1, 'add 1');
  c.pump();
  c.restart('S3');
  c.role('S3', { mode: 'passive', role: 'backup', epoch: 1, ready: false, leader: 'S1', group: ALL });
  c.pump();
  c.reconnect('S1', 'S3');
  c.filter = (to, e) => !(to === 'S1' && e.type === 'follower');
  c.pump();
  t.equal(c.core('S1').progress.get('S3')!.acked, 0, 'a new link counts nothing until the new process acknowledges');
  c.filter = () => true;
  c.step('S1', { type: 'follower', peer: 'S3', msg: { type: 'installed', from: 'S3', to: 'S1', count: 3, seq: 1, epoch: 1 } });
  t.same(c.texts('S3', 'checkpoint_received'), ['[3] [my_state=1] S3 receives checkpoint from S1']);
  t.equal(c.core('S1').progress.get('S3')!.acked, 1, 'its installed counts');
  c.request('S1', 'C1', 2, 'add 1');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:1', 'S1:reply:2:2']);
});

t.test('with nobody watching, per-request traces and checkpoint digests are not built', async (t) => {
  const c = new Cluster(ALL, { quiet: true });
  c.group('passive', 1, 'S1', ALL);
  c.request('S1', 'C1', 1, 'add 1');
  c.pump();
  c.fire('S1', 'checkpoint');
  t.same(c.answers('C1'), ['S1:reply:1:1']);
  const events = new Set(ALL.flatMap((n) => c.traces(n).map((e) => e.event)));
  for (const e of ['request_received', 'state_before', 'state_after', 'reply_sent', 'log_held', 'checkpoint_sent', 'checkpoint_received']) t.notOk(events.has(e), `no ${e}`);
  t.ok(events.has('role_changed'), 'role changes are still traced');
});
