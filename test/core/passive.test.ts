/**
 * The replica's core in passive mode, driven in memory the way the RM drives it: the primary
 * executes and logs, replies only once every ready backup holds the entry, checkpoints, and a
 * promoted backup replays its log.
 */
import t from 'tap';
import { Cluster } from '../helpers/cluster.js';

const ALL = ['S1', 'S2', 'S3'];

function passive(options: ConstructorParameters<typeof Cluster>[1] = {}): Cluster {
  const c = new Cluster(ALL, options);
  c.group('passive', 1, 'S1', ALL);
  return c;
}

t.test('the primary executes, logs to every backup, and replies once both hold the entry', async (t) => {
  const c = passive();
  // S3's acknowledgements are lost for now: the entry is not committed.
  c.filter = (to, e) => !(to === 'S1' && e.type === 'follower' && e.peer === 'S3' && e.msg.type === 'ack');
  c.request('S1', 'C1', 1, 'add 5');
  c.pump();
  t.same(c.answers('C1'), [], 'no reply while S3 has not acknowledged');
  t.same(c.texts('S2', 'log_held'), ['S2 holds <C1, S1, 1, request> from S1 (seq 1)']);
  t.same(c.texts('S3', 'log_held'), ['S3 holds <C1, S1, 1, request> from S1 (seq 1)']);
  c.filter = () => true;
  c.request('S1', 'C1', 2, 'add 1');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:5', 'S1:reply:2:6'], 'both replies once S3 acknowledges (cumulatively)');
  t.equal(c.core('S2').state.seq, 0, 'a backup does not execute log entries');
});

t.test('backups and newcomers send clients away; a stale request number is refused', async (t) => {
  const c = new Cluster([...ALL, 'S4']);
  c.group('passive', 1, 'S1', ALL, ['S4']);
  c.request('S2', 'C1', 1, 'add 1');
  c.request('S4', 'C1', 1, 'add 1');
  c.pump();
  t.same(c.answers('C1'), ['S2:reject:1:not_primary', 'S4:reject:1:not_ready']);
  c.request('S1', 'C2', 7, 'add 1');
  c.pump();
  c.request('S1', 'C2', 6, 'add 1');
  c.pump();
  t.same(c.answers('C2'), ['S1:reply:7:1', 'S1:reject:6:stale: request_num 7 already answered']);
});

t.test('a retried request is answered from the dedup table and never executed twice', async (t) => {
  const c = passive();
  c.request('S1', 'C1', 1, 'add 5');
  c.pump();
  c.request('S1', 'C1', 1, 'add 5');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:5', 'S1:reply:1:5']);
  t.equal(c.traces('S1', 'state_after').length, 1, 'executed once');
  t.same(c.texts('S1', 'duplicate_request'), ['request_num 1 from C1 already executed: answering from the dedup table']);
  t.equal(c.traces('S2', 'log_held').length, 1, 'logged once');
});

t.test('failover: the promoted backup replays its log, and a retry is answered from what it replayed', async (t) => {
  const c = passive();
  for (let n = 1; n <= 3; n++) c.request('S1', 'C1', n, 'add 2');
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:2', 'S1:reply:2:4', 'S1:reply:3:6']);
  c.kill('S1');
  c.group('passive', 2, 'S2', ['S2', 'S3']);
  t.same(c.texts('S2', 'log_replay'), ['S2 replays 3 logged request(s) past checkpoint 1']);
  t.equal(c.core('S2').state.app.describe(), '6', 'S2 holds every acknowledged request');
  t.same(c.texts('S2', 'role_changed'), ['S2: none (not ready) at epoch 0 -> backup at epoch 1', 'S2: backup at epoch 1 -> primary at epoch 2']);
  // The client did not see the reply to 3 and retries it at the new primary.
  c.request('S2', 'C1', 3, 'add 2');
  c.request('S2', 'C1', 4, 'add 2');
  c.pump();
  t.same(c.answers('C1').slice(3), ['S2:reply:3:6', 'S2:reply:4:8'], 'the retry from the table, the next request executed');
  t.equal(c.core('S3').state.app.describe(), '6', "S3 installed S2's checkpoint");
});

t.test('a promoted backup replays only what follows the last checkpoint', async (t) => {
  const c = passive();
  c.request('S1', 'C1', 1, 'add 1');
  c.request('S1', 'C2', 1, 'add 1');
  c.pump();
  c.fire('S1', 'checkpoint');
  t.same(c.texts('S2', 'checkpoint_received').at(-1), '[3] [my_state=2] S2 receives checkpoint from S1');
  c.request('S1', 'C1', 2, 'add 1');
  c.pump();
  t.same(c.reports('S2'), [], 'nothing reported while ready');
  c.step('S2', { type: 'control', msg: { type: 'query', server: 'S2' } });
  t.match(c.reports('S2').at(-1), { seq: 3, checkpoint: 3, ready: true }, 'S2 holds the checkpoint (seq 2) and one entry past it');
  c.kill('S1');
  c.group('passive', 2, 'S2', ['S2', 'S3']);
  t.same(c.texts('S2', 'log_replay'), ['S2 replays 1 logged request(s) past checkpoint 3']);
  t.equal(c.core('S2').state.app.describe(), '3');
});

t.test('FTKIT_FAULT=skip-log-replay drops the log instead of replaying it (for the chaos checker)', async (t) => {
  const c = passive({ fault: 'skip-log-replay' });
  c.request('S1', 'C1', 1, 'add 1');
  c.pump();
  c.kill('S1');
  c.group('passive', 2, 'S2', ['S2', 'S3']);
  t.same(c.texts('S2', 'fault_injected'), ['S2: FTKIT_FAULT=skip-log-replay: dropping 1 logged request(s) instead of replaying them']);
  t.equal(c.core('S2').state.app.describe(), '0', 'the acknowledged request is lost, as the broken build should');
});

t.test('the periodic checkpoint goes to every backup, encoded once, and backups answer installed', async (t) => {
  const c = passive();
  t.match(c.node('S1').timers.get('checkpoint'), { ms: 1000, repeat: true }, 'the primary runs the checkpoint timer');
  t.notOk(c.node('S2').timers.has('checkpoint'), 'a backup does not');
  c.request('S1', 'C1', 1, 'add 4');
  c.pump();
  c.core('S1').step({ type: 'timer', timer: 'checkpoint' });
  const cmds = c.core('S1').drain();
  const broadcasts = cmds.filter((cmd) => cmd.type === 'broadcast');
  t.equal(broadcasts.length, 1, 'one broadcast');
  t.match(broadcasts[0], { peers: ['S2', 'S3'], msg: { type: 'checkpoint', state: '4', seq: 1, epoch: 1 } });
  t.same(
    cmds.filter((cmd) => cmd.type === 'trace').map((cmd) => cmd.type === 'trace' && cmd.text),
    ['[3] [my_state=4] S1 sending checkpoint to S2', '[3] [my_state=4] S1 sending checkpoint to S3'],
  );
});

t.test('set checkpoint-freq restarts the timer; a bad value is refused', async (t) => {
  const c = passive();
  c.step('S1', { type: 'control', msg: { type: 'set', from: 'LFD1', key: 'checkpoint-freq', value: '2.5' } });
  t.match(c.node('S1').timers.get('checkpoint'), { ms: 2500, repeat: true });
  t.same(c.texts('S1', 'property_set'), ['S1: checkpoint_freq = 2.5 s']);
  c.step('S1', { type: 'control', msg: { type: 'set', from: 'LFD1', key: 'checkpoint-freq', value: 'often' } });
  t.equal(c.traces('S1', 'property_rejected').length, 1);
  t.match(c.node('S1').timers.get('checkpoint'), { ms: 2500 }, 'unchanged');
  c.step('S2', { type: 'control', msg: { type: 'set', from: 'LFD2', key: 'checkpoint-freq', value: '3' } });
  t.equal(c.core('S2').checkpointMs, 3000, 'a backup keeps the value for when it leads');
  t.notOk(c.node('S2').timers.has('checkpoint'), 'but starts no timer');
});

t.test('a backup the RM removes from the group no longer holds up commits', async (t) => {
  const c = passive();
  c.filter = (to, e) => !(to === 'S1' && e.type === 'follower' && e.peer === 'S3');
  c.request('S1', 'C1', 1, 'add 1');
  c.pump();
  t.same(c.answers('C1'), []);
  c.role('S1', { mode: 'passive', role: 'primary', epoch: 1, ready: true, leader: 'S1', group: ['S1', 'S2'] });
  c.pump();
  t.same(c.answers('C1'), ['S1:reply:1:1'], 'committed by the group the RM gave');
  t.notOk(c.node('S1').links.has('S3'), 'the link to S3 is dropped');
});

t.test('the RM makes the primary not ready: pending replies are rejected and it reports', async (t) => {
  const c = passive();
  c.filter = (to, e) => !(to === 'S1' && e.type === 'follower');
  c.request('S1', 'C1', 1, 'add 1');
  c.pump();
  c.role('S1', { mode: 'passive', role: 'backup', epoch: 2, ready: false, leader: 'S2', group: ['S2', 'S3'] });
  t.same(c.answers('C1'), ['S1:reject:1:not_primary']);
  t.same(c.texts('S1', 'step_down'), ['S1: stepping down as leader: the RM chose another leader']);
  t.same(c.texts('S1', 'role_changed').at(-1), 'S1: primary at epoch 1 -> backup (not ready) at epoch 2');
  t.match(c.reports('S1').at(-1), { server: 'S1', role: 'backup', epoch: 2, ready: false, seq: 1 });
  t.notOk(c.node('S1').timers.has('checkpoint'), 'no more checkpoints');
  t.equal(c.node('S1').links.size, 0, 'its links are closed');
});

t.test('the primary refuses a forward from outside its group, and orders nothing from one inside it', async (t) => {
  const c = passive();
  c.step('S1', { type: 'peer', conn: 99, peer: 'S9', msg: { type: 'forward', from: 'S9', to: 'S1', client: 'C1', num: 1, payload: 'add 1' } });
  t.same(c.texts('S1', 'peer_refused'), ['S1: refusing forward from S9: not in the group the RM gave me (S1, S2, S3)']);
  c.step('S1', { type: 'follower', peer: 'S2', msg: { type: 'forward', from: 'S2', to: 'S1', client: 'C1', num: 1, payload: 'add 1' } });
  c.pump();
  t.equal(c.core('S1').state.seq, 0, 'passive replicas do not forward: nothing executed');
});
