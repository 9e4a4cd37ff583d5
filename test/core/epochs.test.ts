/**
 * The door: every leader message's epoch and sender are checked once, before any role sees
 * it. Lower epochs are refused with `stale_epoch`; higher ones wait for the RM's role; a
 * deposed leader commits nothing and answers no one.
 */
import t from 'tap';
import { ReplicaCore, createApp, AHEAD_LIMIT, type Command } from '../../servers/core/index.js';
import { Cluster, members } from '../helpers/cluster.js';

const ALL = ['S1', 'S2', 'S3'];

/** A lone core, given a role, for feeding messages by hand. */
function lone(name = 'S2'): ReplicaCore {
  const core = new ReplicaCore({ name, app: createApp('counter'), checkpointMs: 1000 });
  core.step({ type: 'control', msg: { type: 'role', server: name, mode: 'passive', role: 'backup', epoch: 3, ready: true, leader: 'S1', group: members('S1', 'S2') } });
  core.drain();
  return core;
}

const log = (epoch: number, seq: number, from = 'S1') => ({ type: 'log' as const, from, to: 'S2', seq, client: 'C1', num: seq, payload: 'add 1', epoch });
const sent = (cmds: Command[]) => cmds.flatMap((c) => (c.type === 'send' ? [c.msg] : []));
const traced = (cmds: Command[], event: string) => cmds.flatMap((c) => (c.type === 'trace' && c.event === event ? [c.text] : []));

t.test('a lower epoch is refused at the door with stale_epoch, and changes nothing', async (t) => {
  const core = lone();
  core.step({ type: 'peer', conn: 9, peer: 'S1', msg: log(2, 1) });
  const out = core.drain();
  t.same(sent(out), [{ type: 'staleEpoch', from: 'S2', to: 'S1', epoch: 3 }]);
  t.same(traced(out, 'stale_epoch'), ['S2: refusing S1 at epoch 2; current epoch is 3']);
  t.same(core.log, [], 'nothing held');
});

t.test('a message from anyone but the leader the RM named is refused, and a leader takes none', async (t) => {
  const core = lone();
  core.step({ type: 'peer', conn: 9, peer: 'S3', msg: log(3, 1, 'S3') });
  t.same(traced(core.drain(), 'peer_refused'), ['S2: refusing log from S3 at epoch 3: the RM named S1 for epoch 3']);
  core.step({ type: 'control', msg: { type: 'role', server: 'S2', mode: 'passive', role: 'primary', epoch: 4, ready: true, leader: 'S2', group: members('S2') } });
  core.drain();
  core.step({ type: 'peer', conn: 9, peer: 'S1', msg: log(4, 1) });
  t.same(traced(core.drain(), 'peer_refused'), ['S2: refusing log from S1 at epoch 4: the RM named me for epoch 4']);
  t.same(core.log, []);
});

t.test('a higher epoch is held, with what follows it, until the role of that epoch arrives', async (t) => {
  const core = lone();
  core.step({ type: 'peer', conn: 9, peer: 'S3', msg: { type: 'checkpoint', from: 'S3', to: 'S2', count: 4, state: '7', table: '[]', epoch: 4, seq: 7 } });
  // A message of our own epoch after it on the same connection waits behind it.
  core.step({ type: 'peer', conn: 9, peer: 'S3', msg: log(3, 8, 'S3') });
  core.step({ type: 'peer', conn: 9, peer: 'S3', msg: log(4, 8, 'S3') });
  const held = core.drain();
  t.same(traced(held, 'held_ahead'), ['S2: S3 sends checkpoint of epoch 4; the RM has given me epoch 3: holding what it sends until my role of that epoch']);
  t.equal(core.epoch, 3, 'a held message sets no epoch');
  t.equal(core.state.seq, 0, 'nothing installed yet');
  core.step({ type: 'control', msg: { type: 'role', server: 'S2', mode: 'passive', role: 'backup', epoch: 4, ready: true, leader: 'S3', group: members('S3', 'S2') } });
  const out = core.drain();
  t.equal(core.state.seq, 7, 'the checkpoint went through');
  t.match(sent(out), [{ type: 'installed', to: 'S3', count: 4, seq: 7, epoch: 4 }, { type: 'staleEpoch', epoch: 4 }], 'installed, then the old-epoch log refused');
  t.same(core.log.map((e) => e.seq), [8], 'the entry of the new epoch is held');
});

t.test('a connection with too many messages waiting for a role is closed', async (t) => {
  const core = lone();
  for (let i = 1; i <= AHEAD_LIMIT; i++) core.step({ type: 'peer', conn: 9, peer: 'S3', msg: log(5, i, 'S3') });
  t.notOk(core.drain().some((c) => c.type === 'close'), `${AHEAD_LIMIT} messages are held`);
  core.step({ type: 'peer', conn: 9, peer: 'S3', msg: log(5, AHEAD_LIMIT + 1, 'S3') });
  const out = core.drain();
  t.same(out.filter((c) => c.type === 'close'), [{ type: 'close', conn: 9 }]);
  t.same(traced(out, 'held_overflow'), [`S2: ${AHEAD_LIMIT} messages from S3 wait for a role of epoch 5 (mine is 3); dropping them and closing the connection`]);
  core.step({ type: 'control', msg: { type: 'role', server: 'S2', mode: 'passive', role: 'backup', epoch: 5, ready: true, leader: 'S3', group: members('S3', 'S2') } });
  t.same(core.log, [], 'the dropped messages never go through');
});

t.test("a closed connection's held messages are forgotten", async (t) => {
  const core = lone();
  core.step({ type: 'peer', conn: 9, peer: 'S3', msg: log(4, 1, 'S3') });
  core.step({ type: 'closed', conn: 9 });
  core.step({ type: 'control', msg: { type: 'role', server: 'S2', mode: 'passive', role: 'backup', epoch: 4, ready: true, leader: 'S3', group: members('S3', 'S2') } });
  core.drain();
  t.same(core.log, []);
});

t.test('a role of a lower epoch is ignored', async (t) => {
  const core = lone();
  core.step({ type: 'control', msg: { type: 'role', server: 'S2', mode: 'passive', role: 'primary', epoch: 2, ready: true, leader: 'S2', group: members('S2') } });
  const out = core.drain();
  t.same(traced(out, 'stale_role'), ['S2: ignoring a role for epoch 2; current epoch is 3']);
  t.equal(core.role, 'backup');
});

/** S1 leads epoch 1; the RM moves on without it (frozen, say) to S2 at epoch 2; a client reaches S1. */
function deposed(mode: 'active' | 'passive', fault?: 'early-reply'): Cluster {
  const c = new Cluster(ALL, { fault });
  c.group(mode, 1, 'S1', ALL);
  c.group(mode, 2, 'S2', ['S2', 'S3']);
  c.request('S1', 'C1', 1, 'add 1');
  c.pump();
  return c;
}

t.test('a deposed passive primary commits nothing and answers no one until the RM tells it', async (t) => {
  const c = deposed('passive');
  t.same(c.answers('C1'), [], 'S1 executed it but cannot commit it');
  t.ok(c.texts('S3', 'stale_epoch').includes('S3: refusing S1 at epoch 1; current epoch is 2'), 'S3 refuses its log');
  t.match(c.texts('S1', 'ack_ahead'), [/^S1: S[23] refuses my epoch 1: it is at epoch 2; waiting for the RM$/], 'traced once for epoch 2');
  t.equal(c.core('S3').log.length, 0, 'S3 holds nothing of it');
  c.role('S1', { mode: 'passive', role: 'backup', epoch: 2, ready: false, leader: 'S2', group: ['S2', 'S3'] });
  c.pump();
  t.same(c.answers('C1'), ['S1:reject:1:not_primary'], 'stepping down, it sends the client elsewhere');
});

t.test('the zombie sequencer: a deposed one orders on, commits nothing, answers no one', async (t) => {
  const c = deposed('active');
  t.same(c.answers('C1'), [], 'S1 answers no one');
  t.equal(c.core('S1').commitSeq, 0, 'S1 committed nothing');
  t.equal(c.core('S2').state.seq, 0, 'the members did not take its order');
  t.equal(c.core('S3').state.seq, 0);
  t.ok(c.traces('S1', 'ack_ahead').length > 0, 'S1 traced the refusal');
});

t.test('FTKIT_FAULT=early-reply: the broken build answers from the zombie (what the chaos checker must catch)', async (t) => {
  const c = deposed('active', 'early-reply');
  t.same(c.answers('C1'), ['S1:reply:1:1'], 'it replies on apply, before commit');
});

t.test('a leader counts no acknowledgement of another epoch', async (t) => {
  const c = new Cluster(ALL);
  c.group('passive', 1, 'S1', ALL);
  c.filter = (to, e) => !(to === 'S1' && e.type === 'follower' && e.peer === 'S3');
  c.request('S1', 'C1', 1, 'add 1');
  c.pump();
  c.filter = () => true;
  c.step('S1', { type: 'follower', peer: 'S3', msg: { type: 'ack', from: 'S3', to: 'S1', seq: 1, epoch: 2 } });
  c.pump();
  t.same(c.answers('C1'), []);
  t.same(c.texts('S1', 'ack_ahead'), ['S1: S3 acknowledges at epoch 2, the RM has given me 1: not counted; waiting for the RM']);
  c.step('S1', { type: 'follower', peer: 'S3', msg: { type: 'ack', from: 'S2', to: 'S1', seq: 1, epoch: 1 } });
  t.same(c.texts('S1', 'peer_refused'), ['S1: refusing ack from S2 on my link to S3'], 'a name that is not the link');
  c.step('S1', { type: 'follower', peer: 'S3', msg: { type: 'ack', from: 'S3', to: 'S1', seq: 1, epoch: 1 } });
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:1'], 'the ack of its epoch counts');
});
