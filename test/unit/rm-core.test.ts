/**
 * The Replication Manager's pure decision core (rm/core.ts): events in, commands out.
 * Passive mode (primary/backup) and active mode (sequencer/member), joins, catch-up
 * reports, failures, designation, and an RM restart that must ask before it decides.
 */
import t from 'tap';
import { ReplicationCore, type RmCommand, type RmEvent } from '../../rm/core.js';
import type { Member, MessageOf, Mode, Role } from '../../lib/protocol/index.js';

type RoleMsg = MessageOf<'role'>;
type CheckpointMsg = MessageOf<'sendCheckpoint'>;

const addr = (name: string) => `127.0.0.1:${7200 + Number(name.slice(1))}`;
const member = (name: string): Member => ({ name, addr: addr(name) });

const sent = (cmds: RmCommand[]) => cmds.flatMap((c) => (c.type === 'send' ? [c.msg] : []));
const roleMsgs = (cmds: RmCommand[]) => sent(cmds).filter((m): m is RoleMsg => m.type === 'role');
/** The last role message each server got in this batch. */
const roles = (cmds: RmCommand[]): Record<string, RoleMsg> => Object.fromEntries(roleMsgs(cmds).map((m) => [m.server, m]));
const checkpoints = (cmds: RmCommand[]) => sent(cmds).filter((m): m is CheckpointMsg => m.type === 'sendCheckpoint');
const queries = (cmds: RmCommand[]) => sent(cmds).flatMap((m) => (m.type === 'query' ? [m.server] : []));
const viewsCount = (cmds: RmCommand[]) => cmds.filter((c) => c.type === 'views').length;
const traces = (cmds: RmCommand[]) => cmds.flatMap((c) => (c.type === 'trace' ? [c.text] : []));

const added = (name: string): RmEvent => ({ type: 'added', name, addr: addr(name) });
const deleted = (name: string): RmEvent => ({ type: 'deleted', name });
function report(
  server: string,
  fields: { mode?: Mode | 'none'; role?: Role; epoch: number; ready: boolean; checkpoint?: number; seq?: number; held?: number },
): RmEvent {
  return {
    type: 'report',
    report: { type: 'report', server, mode: fields.mode ?? 'passive', role: fields.role ?? 'backup', epoch: fields.epoch, ready: fields.ready, checkpoint: fields.checkpoint ?? 3, seq: fields.seq ?? 0, held: fields.held ?? fields.epoch },
  };
}

/**
 * The replicas the RM asked in `out` (after the leader failed) answer: each is a ready
 * follower of the current epoch holding `seqs[name]` (0 if not given). Returns every
 * command the core gave, `out` included.
 */
function answer(core: ReplicationCore, out: RmCommand[], seqs: Record<string, number> = {}): RmCommand[] {
  const all = [...out];
  for (const name of queries(out)) all.push(...core.handle(report(name, { mode: core.mode, role: core.followerRole, epoch: core.epoch, ready: true, seq: seqs[name] ?? 0 })));
  return all;
}

/** A core with the given replicas joined and caught up, the first one leader at epoch 1. */
function running(mode: Mode, names: string[]): ReplicationCore {
  const core = new ReplicationCore(mode);
  for (const n of names) {
    core.handle(added(n));
    if (n !== names[0]) core.handle(report(n, { mode, role: core.followerRole, epoch: core.epoch, ready: true }));
  }
  return core;
}

for (const mode of ['passive', 'active'] as const) {
  const leaderRole: Role = mode === 'passive' ? 'primary' : 'sequencer';
  const followerRole: Role = mode === 'passive' ? 'backup' : 'member';

  t.test(`${mode}: the first replica becomes ${leaderRole} at epoch 1, ready`, async (t) => {
    const core = new ReplicationCore(mode);
    t.equal(core.leaderRole, leaderRole);
    t.equal(core.followerRole, followerRole);
    t.equal(core.epoch, 0);
    t.same(core.view(), []);
    const out = core.handle(added('S1'));
    t.equal(core.leader, 'S1');
    t.equal(core.epoch, 1);
    t.equal(core.members.get('S1')?.ready, true);
    t.same(roleMsgs(out), [
      { type: 'role', server: 'S1', mode, role: leaderRole, epoch: 1, ready: true, leader: 'S1', group: [member('S1')] },
    ]);
    t.equal(viewsCount(out), 1, 'clients get a new view');
    t.same(checkpoints(out), [], 'nobody to checkpoint');
    t.same(core.view(), [member('S1')]);
    t.equal(core.roleOf('S1'), leaderRole);
  });

  t.test(`${mode}: a second replica joins not ready; the ${leaderRole} is ordered to checkpoint it`, async (t) => {
    const core = running(mode, ['S1']);
    const out = core.handle(added('S2'));
    t.equal(core.leader, 'S1');
    t.equal(core.epoch, 1, 'a join does not change the epoch');
    t.equal(core.members.get('S2')?.ready, false);
    t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S1', target: member('S2'), epoch: 1 }]);
    const r = roles(out);
    t.same(r.S2, { type: 'role', server: 'S2', mode, role: followerRole, epoch: 1, ready: false, leader: 'S1', group: [member('S1')] });
    t.match(r.S1, { role: leaderRole, epoch: 1, ready: true, leader: 'S1' });
    t.same(Object.keys(r).sort(), ['S1', 'S2'], 'roles only to members');
    t.equal(viewsCount(out), 0, 'the ready set did not change: no new views');
    t.same(core.view(), [member('S1')]);
  });

  t.test(`${mode}: a report of the current epoch makes the newcomer ready; roles to all and views`, async (t) => {
    const core = running(mode, ['S1']);
    core.handle(added('S2'));
    const out = core.handle(report('S2', { mode, role: followerRole, epoch: 1, ready: true }));
    t.equal(core.members.get('S2')?.ready, true);
    const r = roles(out);
    t.same(Object.keys(r).sort(), ['S1', 'S2']);
    t.same(r.S2, { type: 'role', server: 'S2', mode, role: followerRole, epoch: 1, ready: true, leader: 'S1', group: [member('S1'), member('S2')] });
    t.same(r.S1, { type: 'role', server: 'S1', mode, role: leaderRole, epoch: 1, ready: true, leader: 'S1', group: [member('S1'), member('S2')] });
    t.equal(viewsCount(out), 1);
    t.same(checkpoints(out), []);
    t.same(core.handle(report('S2', { mode, role: followerRole, epoch: 1, ready: true })), [], 'a repeated report changes nothing');
  });

  t.test(`${mode}: a report with a lower epoch, or not ready, does not make it ready`, async (t) => {
    const core = running(mode, ['S1', 'S2']);
    core.handle(deleted('S1')); // S2 takes over at epoch 2
    t.equal(core.epoch, 2);
    core.handle(added('S3'));
    t.same(core.handle(report('S3', { mode, epoch: 1, ready: true })), [], 'epoch 1 < 2');
    t.equal(core.members.get('S3')?.ready, false);
    t.same(core.handle(report('S3', { mode, epoch: 2, ready: false })), [], 'not ready yet');
    t.equal(core.members.get('S3')?.ready, false);
    t.same(core.handle(report('S9', { mode, epoch: 2, ready: true })), [], 'an unknown replica is ignored');
    const out = core.handle(report('S3', { mode, epoch: 2, ready: true }));
    t.equal(core.members.get('S3')?.ready, true);
    t.equal(viewsCount(out), 1);
  });

  t.test(`${mode}: deleting a ready backup sends roles and views; a not-ready one changes nothing`, async (t) => {
    const core = running(mode, ['S1', 'S2', 'S3']);
    core.handle(added('S4'));
    const out = core.handle(deleted('S2'));
    t.equal(core.leader, 'S1');
    t.equal(core.epoch, 1, 'the epoch only changes with the leader');
    const r = roles(out);
    t.same(Object.keys(r).sort(), ['S1', 'S3', 'S4']);
    t.same(r.S1!.group, [member('S1'), member('S3')]);
    t.equal(viewsCount(out), 1);
    t.same(checkpoints(out), []);
    t.same(core.handle(deleted('S4')), [], 'S4 was not ready');
    t.same(core.handle(deleted('S4')), [], 'deleting twice is a no-op');
    t.same(core.names(), ['S1', 'S3']);
  });

  t.test(`${mode}: deleting the ${leaderRole} elects the first ready replica by natural name order`, async (t) => {
    const core = running(mode, ['S1', 'S10', 'S2']);
    core.handle(added('S3')); // not ready
    const asked = core.handle(deleted('S1'));
    t.same(queries(asked), ['S2', 'S10'], 'the ready ones are asked what they hold');
    t.equal(core.leader, undefined, 'no leader before they answer');
    t.same(roleMsgs(asked), []);
    t.equal(viewsCount(asked), 0);
    const out = answer(core, asked);
    t.equal(core.leader, 'S2', 'holding the same, S2 comes before S10');
    t.equal(core.epoch, 2);
    const r = roles(out);
    t.same(Object.keys(r).sort(), ['S10', 'S2', 'S3']);
    t.match(r.S2, { role: leaderRole, epoch: 2, ready: true, leader: 'S2' });
    t.match(r.S10, { role: followerRole, epoch: 2, ready: true, leader: 'S2' });
    t.match(r.S3, { role: followerRole, epoch: 2, ready: false, leader: 'S2' });
    t.same(r.S2!.group, [member('S2'), member('S10')]);
    t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S2', target: member('S3'), epoch: 2 }], 'the new leader checkpoints the not-ready replica');
    t.equal(viewsCount(out), 1);
  });

  t.test(`${mode}: the preferred replica takes over when it becomes ready, and again after a failure`, async (t) => {
    const core = new ReplicationCore(mode, 'S3');
    core.handle(added('S1'));
    t.equal(core.leader, 'S1', 'the preferred replica is not there yet: the first one leads');
    core.handle(added('S2'));
    core.handle(report('S2', { mode, epoch: 1, ready: true }));
    t.equal(core.leader, 'S1', 'a replica that is not preferred does not take over');
    core.handle(added('S3'));
    const over = core.handle(report('S3', { mode, epoch: 1, ready: true }));
    t.equal(core.leader, 'S3', 'the preferred replica takes over once it is ready');
    t.equal(core.epoch, 2);
    t.match(roles(over).S3, { role: leaderRole, epoch: 2, ready: true });
    t.match(roles(over).S1, { role: followerRole, epoch: 2, leader: 'S3' });
    answer(core, core.handle(deleted('S3')));
    t.equal(core.leader, 'S1', 'the preferred one failed: the first ready replica leads');
    t.equal(core.epoch, 3);
  });

  t.test(`${mode}: deleting the last replica leaves no leader and an empty view`, async (t) => {
    const core = running(mode, ['S1', 'S2']);
    core.handle(deleted('S2'));
    const out = core.handle(deleted('S1'));
    t.equal(core.leader, undefined);
    t.equal(core.epoch, 1, 'no election, no new epoch');
    t.same(roleMsgs(out), []);
    t.same(checkpoints(out), []);
    t.equal(viewsCount(out), 1);
    t.same(core.view(), []);
    t.same(core.names(), []);
    // The next replica to join is asked what it holds (it may be the last leader, back from a
    // false suspicion), and takes over with a new epoch.
    t.same(queries(core.handle(added('S2'))), ['S2']);
    t.equal(core.leader, undefined, 'not before it answered');
    // S2 was lost before S1, which may have committed more without it: the RM waits for S1 until the deadline.
    const waited = core.handle(report('S2', { mode, epoch: 1, ready: false, seq: 7 }));
    t.equal(core.leader, undefined, 'S1, the last ready replica, may come back');
    t.match(traces(waited).join('\n'), /S1, the last ready replica, is not back/);
    const back = core.handle({ type: 'reportDeadline' });
    t.equal(core.leader, 'S2');
    t.equal(core.epoch, 2);
    t.match(roles(back).S2, { role: leaderRole, epoch: 2, ready: true });
    t.ok(traces(back).some((x) => /S2/.test(x)), 'traced');
  });

  t.test(`${mode}: the ${leaderRole} dies with no ready replica left: a remaining one carries on`, async (t) => {
    const core = running(mode, ['S1']);
    core.handle(added('S3'));
    core.handle(added('S2'));
    const asked = core.handle(deleted('S1'));
    t.same(queries(asked).sort(), ['S2', 'S3'], 'with no ready replica left, the RM first asks what the others hold');
    t.same(asked.filter((c) => c.type === 'awaitReports'), [{ type: 'awaitReports', why: 'election' }]);
    t.equal(core.leader, undefined, 'nothing is decided before the answers');
    const out = core.handle({ type: 'reportDeadline' });
    t.equal(core.leader, 'S2', 'first by name among the survivors');
    t.equal(core.epoch, 2);
    t.equal(core.members.get('S2')?.ready, true);
    t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S2', target: member('S3'), epoch: 2 }]);
    t.ok(out.some((c) => c.type === 'trace' && c.category === 'fault'), 'traced as a fault');
    t.match(traces(out).join('\n'), /S2 continues with no reported state; requests acknowledged before may be lost/);
  });

  t.test(`${mode}: with no ready replica left, the one that holds the most recent state carries on`, async (t) => {
    const core = running(mode, ['S1']);
    core.handle(added('S2'));
    core.handle(added('S3'));
    core.handle(added('S4'));
    // S3 was a ready member at epoch 1, falsely suspected, back and not ready; it holds up to seq 40.
    core.handle(report('S2', { mode, epoch: 1, ready: false, seq: 12 }));
    core.handle(report('S3', { mode, epoch: 1, ready: false, seq: 40 }));
    core.handle(report('S4', { mode, epoch: 0, ready: false, seq: 90 }));
    // S1, the only ready replica, held everything acknowledged: the RM first waits for it to come back.
    const waiting = core.handle(deleted('S1'));
    t.equal(core.leader, undefined, 'none of the newcomers is sure to hold what S1 acknowledged alone');
    t.match(traces(waiting).join('\n'), /S1, the last ready replica, is not back/);
    const out = core.handle({ type: 'reportDeadline' });
    t.equal(core.leader, 'S3', 'the highest (epoch, seq) wins over name order and over a higher seq of an older epoch');
    t.equal(core.epoch, 2);
    t.match(traces(out).join('\n'), /no ready replica survived; S3 continues with the most recent state \(epoch 1, seq 40\)/);
    t.same(checkpoints(out).map((c) => c.target.name).sort(), ['S2', 'S4'], 'the others get its checkpoint');
  });

  t.test(`${mode}: no ready replica left: the RM asks the others, and one back from a false suspicion wins with the most recent state`, async (t) => {
    const core = running(mode, ['S1', 'S2', 'S3']);
    // S2 and S3 are falsely suspected: S1 goes on alone and commits what only it holds.
    core.handle(deleted('S2'));
    core.handle(deleted('S3'));
    core.handle(added('S2'));
    core.handle(added('S3'));
    const asked = core.handle(deleted('S1'));
    t.same(queries(asked).sort(), ['S2', 'S3']);
    t.equal(core.leader, undefined);
    // S1 itself was only suspected: it registers again while the RM waits, and is asked too.
    t.same(queries(core.handle(added('S1'))), ['S1'], 'a replica that joins while the RM chooses is asked as well');
    core.handle(report('S2', { mode, epoch: 1, ready: false, seq: 10 }));
    core.handle(report('S3', { mode, epoch: 1, ready: false, seq: 10 }));
    const out = core.handle(report('S1', { mode, epoch: 1, ready: false, seq: 40 }));
    t.equal(core.leader, 'S1', 'the replica that holds everything acknowledged carries on');
    t.equal(core.epoch, 2);
    t.match(traces(out).join('\n'), /no ready replica survived; S1 continues with the most recent state \(epoch 1, seq 40\)/);
    t.same(checkpoints(out).map((c) => c.target.name).sort(), ['S2', 'S3'], 'the others start again from its checkpoint');
  });

  t.test(`${mode}: with no ready replica left, the epoch of a replica's state counts, not the epoch of its role`, async (t) => {
    const core = running(mode, ['S1']);
    core.handle(added('S2'));
    core.handle(added('S3'));
    // S2 was given epoch 3 without ever catching up: it holds a state of epoch 1. S3 missed that
    // role (its LFD link was down) but holds what the leader of epoch 2 gave it, further on.
    core.handle(report('S2', { mode, epoch: 3, ready: false, seq: 40, held: 1 }));
    core.handle(report('S3', { mode, epoch: 2, ready: false, seq: 35, held: 2 }));
    const out = core.handle(deleted('S1'));
    t.equal(core.leader, 'S3', 'the state of epoch 2 is more recent than any of epoch 1, whatever the role epoch says');
    t.match(traces(out).join('\n'), /S3 continues with the most recent state \(epoch 2, seq 35\)/);
  });

  /**
   * Chaos on namespace hosts, active seed 7010 on a loaded machine: S3 left the group under a
   * new epoch (a cut link), then S2 and S1, which held everything acknowledged in that epoch,
   * were both falsely suspected; the RM continued from S3's older state at once, S1 and S2
   * installed its checkpoint when they came back, and the appends acknowledged in the new epoch
   * were lost. The RM now waits for the election deadline for one of them to register again.
   */
  const leftBehind = () => {
    const core = running(mode, ['S1', 'S2', 'S3']);
    // S1 waited its lag timeout for S3: S3 leaves the group under epoch 2, holding epoch 1's state.
    core.handle({ type: 'lagging', lagging: { type: 'lagging', server: 'S1', follower: 'S3', epoch: 1, seq: 36, acked: 35 } });
    core.handle(report('S3', { mode, epoch: 2, ready: false, seq: 35, held: 1 }));
    // S1 and S2 go on at epoch 2; then both are suspected, S2 first.
    core.handle(deleted('S2'));
    return core;
  };

  t.test(`${mode}: no ready replica left, and those left hold an older epoch: a suspected replica of the current epoch that registers again carries on`, async (t) => {
    const core = leftBehind();
    t.equal(core.epoch, 2, 'S3 left the group under epoch 2');
    const out = core.handle(deleted('S1'));
    t.equal(core.leader, undefined, 'S3 is not chosen at once: it holds epoch 1, the group is at epoch 2');
    t.same(out.filter((c) => c.type === 'awaitReports'), [{ type: 'awaitReports', why: 'lastReady' }], 'the RM waits for a replica of the current epoch (rm --recovery-wait)');
    t.match(traces(out).join('\n'), /no replica left holds the state of epoch 2: waiting for one to register again before choosing/);
    t.same(queries(core.handle(added('S1'))), ['S1'], 'S1, back from its false suspicion, is asked what it holds');
    const chosen = core.handle(report('S1', { mode, epoch: 2, ready: false, seq: 60, held: 2 }));
    t.equal(core.leader, 'S1', 'S1, the last ready replica, holds everything acknowledged in epoch 2: it carries on, without waiting for the deadline');
    t.equal(core.epoch, 3);
    t.match(traces(chosen).join('\n'), /no ready replica survived; S1 continues with the most recent state \(epoch 2, seq 60\)/);
    t.same(checkpoints(chosen).map((c) => c.target.name), ['S3'], 'S3 starts again from its checkpoint');
    t.same(core.handle({ type: 'reportDeadline' }), [], 'the deadline, once passed, changes nothing');
  });

  t.test(`${mode}: no ready replica left: a follower lost before the last ready replica waits for it, since the leader may have committed on without it`, async (t) => {
    const core = leftBehind();
    core.handle(deleted('S1'));
    core.handle(added('S2'));
    const back = core.handle(report('S2', { mode, epoch: 2, ready: false, seq: 50, held: 2 }));
    t.equal(core.leader, undefined, 'S2 was lost while S1 went on: it may lack what S1 acknowledged alone');
    t.same(back.filter((c) => c.type === 'send' && c.msg.type === 'role'), [], 'the RM still waits');
    const out = core.handle({ type: 'reportDeadline' });
    t.equal(core.leader, 'S2', 'after the deadline, the most recent state left carries on');
    t.match(traces(out).join('\n'), /S2 continues with the most recent state \(epoch 2, seq 50\)/);
  });

  t.test(`${mode}: no ready replica left, those left hold an older epoch, and nobody comes back: the deadline decides with them`, async (t) => {
    const core = leftBehind();
    core.handle(deleted('S1'));
    t.equal(core.leader, undefined);
    const out = core.handle({ type: 'reportDeadline' });
    t.equal(core.leader, 'S3', 'after the deadline, the most recent state left carries on');
    t.match(traces(out).join('\n'), /no replica holding the state of epoch 2 registered again in time; deciding with those left[\s\S]*no ready replica survived; S3 continues with the most recent state \(epoch 1, seq 35\)/);
    // The next failure waits again if it has to.
    t.equal(core.epoch, 3);
  });

  t.test(`${mode}: a report from a replica that joined again is forgotten with its old process`, async (t) => {
    const core = running(mode, ['S1']);
    core.handle(added('S2'));
    core.handle(added('S3'));
    core.handle(report('S3', { mode, epoch: 1, ready: false, seq: 40 }));
    core.handle(deleted('S3'));
    core.handle(added('S3'));
    core.handle(report('S2', { mode, epoch: 1, ready: false, seq: 5 }));
    t.same(queries(core.handle(deleted('S1'))), ['S3'], 'only S3 is asked: its report belonged to its previous process');
    core.handle(report('S3', { mode, epoch: 0, ready: false, seq: 0 }));
    // Neither was ready when S1 was lost: the RM waits for S1 until the election deadline.
    t.equal(core.leader, undefined);
    core.handle({ type: 'reportDeadline' });
    t.equal(core.leader, 'S2', "the new S3 process holds nothing");
  });

  t.test(`${mode}: designate a ready non-leader: it becomes ${leaderRole} at epoch + 1`, async (t) => {
    const core = running(mode, ['S1', 'S2', 'S3']);
    const out = core.handle({ type: 'designate', name: 'S3' });
    t.equal(core.leader, 'S3');
    t.equal(core.epoch, 2);
    t.equal(core.preferred, 'S3');
    const r = roles(out);
    t.match(r.S3, { role: leaderRole, epoch: 2, leader: 'S3' });
    t.match(r.S1, { role: followerRole, epoch: 2, leader: 'S3' });
    t.equal(viewsCount(out), 1);
    t.same(core.handle({ type: 'designate', name: 'S3' }), [], 'designating the leader again changes nothing');
    t.equal(core.epoch, 2);
  });

  t.test(`${mode}: designating a non-ready replica records the preference; it takes over once ready`, async (t) => {
    const core = running(mode, ['S1', 'S2']);
    core.handle(added('S3'));
    t.same(core.handle({ type: 'designate', name: 'S3' }), []);
    t.equal(core.leader, 'S1');
    t.equal(core.epoch, 1);
    t.equal(core.preferred, 'S3');
    t.same(core.handle({ type: 'designate', name: 'S7' }), [], 'an unknown one too');
    t.equal(core.preferred, 'S7');
    core.handle({ type: 'designate', name: 'S3' });
    core.handle(report('S3', { mode, epoch: 1, ready: true }));
    t.equal(core.leader, 'S3', 'the designated replica takes over once it is ready');
    t.equal(core.epoch, 2);
    answer(core, core.handle(deleted('S3')));
    t.equal(core.leader, 'S1', 'and when it fails, another ready replica leads');
    t.equal(core.epoch, 3);
  });
}

t.test('GFD reconnects: the RM asks every replica it counts as ready where it stands', async (t) => {
  const core = running('passive', ['S1', 'S2', 'S3']);
  core.handle(added('S4'));
  const out = core.handle({ type: 'members', members: ['S1', 'S2', 'S3', 'S4'].map(member) });
  t.same(queries(out), ['S1', 'S2', 'S3'], 'the ready ones, not the newcomer');
  t.same(roleMsgs(out), [], 'nothing decided before they answer');
  t.same(core.handle(report('S2', { epoch: 1, ready: true })), [], 'a ready answer changes nothing');
});

t.test('a ready replica whose role was lost on the way (the GFD was away) is told again; a leader also gets the checkpoint orders it missed', async (t) => {
  const core = running('passive', ['S1', 'S2', 'S3']);
  core.handle(added('S4'));
  answer(core, core.handle(deleted('S1'))); // S2 is elected at epoch 2; say its role and S4's checkpoint order were lost
  t.equal(core.leader, 'S2');
  const out = core.handle(report('S2', { role: 'backup', epoch: 1, ready: true }));
  t.same(roleMsgs(out).map((m) => [m.server, m.role, m.epoch, m.ready]), [['S2', 'primary', 2, true]], 'S2 learns that it is primary');
  t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S2', target: member('S4'), epoch: 2 }], 'and checkpoints the newcomer');
  t.match(traces(out).join('\n'), /S2 reports backup at epoch 1; telling it again: primary at epoch 2/);
  const follower = core.handle(report('S3', { role: 'backup', epoch: 1, ready: true }));
  t.same(roleMsgs(follower).map((m) => [m.server, m.role, m.epoch]), [['S3', 'backup', 2]], 'a follower gets its role again');
  t.same(checkpoints(follower), [], 'but no checkpoint orders');
  t.same(core.handle(report('S3', { role: 'backup', epoch: 2, ready: true })), [], 'an up-to-date answer changes nothing');
});

t.test('a newcomer joining while the leader has not seen its role: roles go out before the checkpoint order', async (t) => {
  const core = running('active', ['S1', 'S2']);
  const out = core.handle(added('S3'));
  const kinds = sent(out).map((m) => `${m.type}:${'server' in m ? m.server : ''}`);
  t.ok(kinds.indexOf('sendCheckpoint:S1') > kinds.lastIndexOf('role:S1'), `the leader's role precedes its checkpoint order: ${kinds.join(' ')}`);
});

for (const mode of ['passive', 'active'] as const) {
  const leaderRole = mode === 'passive' ? 'primary' : 'sequencer';
  t.test(`${mode}: the ${leaderRole} reports that it lost its state (left and came back unseen): a new one is elected`, async (t) => {
    const core = running(mode, ['S1', 'S2', 'S3']);
    core.handle({ type: 'members', members: ['S1', 'S2', 'S3'].map(member) });
    const out = answer(core, core.handle(report('S1', { mode, role: 'none', epoch: 1, ready: false })));
    t.equal(core.leader, 'S2');
    t.equal(core.epoch, 2);
    t.equal(core.members.get('S1')?.ready, false);
    t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S2', target: member('S1'), epoch: 2 }], 'S1 catches up from the new leader');
    t.match(traces(out).join('\n'), /S1 reports that it is not ready any more/);
    t.equal(viewsCount(out), 1);
  });

  t.test(`${mode}: a follower reports that it lost its state: it is checkpointed again, the leader stays`, async (t) => {
    const core = running(mode, ['S1', 'S2', 'S3']);
    const out = core.handle(report('S3', { mode, epoch: 1, ready: false }));
    t.equal(core.leader, 'S1');
    t.equal(core.epoch, 1);
    t.equal(core.members.get('S3')?.ready, false);
    t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S1', target: member('S3'), epoch: 1 }]);
    t.match(roles(out).S3, { ready: false });
    t.equal(viewsCount(out), 1, 'clients stop using S3');
  });

  t.test(`${mode}: a not-ready report from before the replica's latest role only gets the role again`, async (t) => {
    const core = running(mode, ['S1']);
    core.handle(added('S2'));
    core.handle(deleted('S1'));
    core.handle({ type: 'reportDeadline' }); // S2 does not answer in time: it is made leader at epoch 2 anyway, nobody else is left
    t.equal(core.leader, 'S2');
    const out = core.handle(report('S2', { mode, epoch: 1, ready: false }));
    t.equal(core.leader, 'S2', 'no second election');
    t.equal(core.epoch, 2);
    t.same(roleMsgs(out).map((m) => [m.server, m.ready, m.epoch]), [['S2', true, 2]]);
  });
}

t.test('view(): the primary only in passive mode, every ready replica in active mode', async (t) => {
  const passive = running('passive', ['S1', 'S2', 'S10']);
  passive.handle(added('S3'));
  t.same(passive.view(), [member('S1')]);
  const active = running('active', ['S1', 'S2', 'S10']);
  active.handle(added('S3'));
  t.same(active.view(), [member('S1'), member('S2'), member('S10')], 'ready ones only, natural order');
  t.same(active.ready().map((m) => m.name), ['S1', 'S2', 'S10']);
});

t.test('an address change of a replica is a delete and a fresh join', async (t) => {
  const core = running('passive', ['S1', 'S2']);
  const out = core.handle({ type: 'added', name: 'S2', addr: '127.0.0.1:9999' });
  t.equal(core.members.get('S2')?.ready, false);
  t.equal(core.members.get('S2')?.addr, '127.0.0.1:9999');
  t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S1', target: { name: 'S2', addr: '127.0.0.1:9999' }, epoch: 1 }]);
});

t.test('RM restart: query every replica, decide nothing until all have reported, keep the reported primary', async (t) => {
  const core = new ReplicationCore('passive');
  const out = core.handle({ type: 'members', members: ['S1', 'S2', 'S3'].map(member) });
  t.same(queries(out).sort(), ['S1', 'S2', 'S3']);
  t.equal(out.filter((c) => c.type === 'awaitReports').length, 1);
  t.same(roleMsgs(out), [], 'no role decided yet');
  t.same(checkpoints(out), []);
  t.equal(viewsCount(out), 0);
  t.equal(core.epoch, 0);
  t.same(core.names(), ['S1', 'S2', 'S3']);

  t.same(core.handle(report('S2', { role: 'primary', epoch: 4, ready: true })), [], 'nothing decided after one report');
  t.same(core.handle(report('S1', { role: 'backup', epoch: 4, ready: true })), [], 'nothing after two');
  t.same(core.handle(added('S4')), [], 'a join while waiting decides nothing either');
  const last = core.handle(report('S3', { mode: 'none', role: 'none', epoch: 0, ready: false }));
  t.equal(core.leader, 'S2', 'the primary that reported itself is kept');
  t.equal(core.epoch, 4, 'its epoch is adopted, not bumped');
  const r = roles(last);
  t.same(Object.keys(r).sort(), ['S1', 'S2', 'S3', 'S4']);
  for (const m of Object.values(r)) t.match(m, { epoch: 4, leader: 'S2' }, `${m.server} told epoch 4, leader S2`);
  t.match(r.S2, { role: 'primary', ready: true });
  t.match(r.S1, { role: 'backup', ready: true });
  t.match(r.S3, { role: 'backup', ready: false });
  t.same(
    checkpoints(last).map((c) => [c.server, c.target.name, c.epoch]).sort(),
    [['S2', 'S3', 4], ['S2', 'S4', 4]],
    'the not-ready replicas are checkpointed by the kept primary',
  );
  t.equal(viewsCount(last), 1);
  t.same(core.view(), [member('S2')]);
  t.same(core.handle({ type: 'reportDeadline' }), [], 'the deadline after everything is decided is a no-op');
});

t.test('RM restart: the primary at the highest epoch is kept whatever the order of reports', async (t) => {
  for (const order of [['S1', 'S2', 'S3'], ['S3', 'S2', 'S1'], ['S2', 'S3', 'S1']]) {
    const core = new ReplicationCore('passive');
    core.handle({ type: 'members', members: ['S1', 'S2', 'S3'].map(member) });
    const reports: Record<string, RmEvent> = {
      S1: report('S1', { role: 'primary', epoch: 2, ready: true }), // an old primary
      S2: report('S2', { role: 'backup', epoch: 5, ready: true }),
      S3: report('S3', { role: 'primary', epoch: 5, ready: true }), // the current one
    };
    let out: RmCommand[] = [];
    for (const n of order) out = core.handle(reports[n]!);
    t.equal(core.leader, 'S3', `order ${order.join(',')}: S3 kept`);
    t.equal(core.epoch, 5, `order ${order.join(',')}: epoch 5`);
    t.match(roles(out).S1, { role: 'backup', epoch: 5, leader: 'S3' });
  }
});

t.test('RM restart: no leader among the reports elects one', async (t) => {
  const core = new ReplicationCore('active');
  core.handle({ type: 'members', members: ['S10', 'S2', 'S3'].map(member) });
  core.handle(report('S10', { mode: 'active', role: 'member', epoch: 3, ready: true }));
  core.handle(report('S3', { mode: 'active', role: 'member', epoch: 3, ready: false }));
  const out = core.handle(report('S2', { mode: 'active', role: 'member', epoch: 3, ready: true }));
  t.equal(core.leader, 'S2', 'first ready by natural name order');
  t.equal(core.epoch, 4, 'the highest reported epoch, bumped');
  t.match(roles(out).S2, { role: 'sequencer', epoch: 4, ready: true });
  t.match(roles(out).S3, { role: 'member', epoch: 4, ready: false });
  t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S2', target: member('S3'), epoch: 4 }]);
  t.same(core.view(), [member('S2'), member('S10')]);
});

t.test('RM restart: a replica of the other mode is not counted as ready', async (t) => {
  const core = new ReplicationCore('passive');
  core.handle({ type: 'members', members: ['S1', 'S2'].map(member) });
  core.handle(report('S1', { mode: 'active', role: 'sequencer', epoch: 7, ready: true }));
  const out = core.handle(report('S2', { mode: 'passive', role: 'backup', epoch: 7, ready: true }));
  t.equal(core.leader, 'S2');
  t.equal(core.epoch, 8);
  t.equal(core.members.get('S1')?.ready, false);
  t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S2', target: member('S1'), epoch: 8 }]);
});

t.test('RM restart: a fresh system (nobody has a role) starts at epoch 1', async (t) => {
  const core = new ReplicationCore('passive');
  core.handle({ type: 'members', members: ['S2', 'S1'].map(member) });
  core.handle(report('S2', { mode: 'none', role: 'none', epoch: 0, ready: false }));
  const out = core.handle(report('S1', { mode: 'none', role: 'none', epoch: 0, ready: false }));
  t.equal(core.leader, 'S1');
  t.equal(core.epoch, 1);
  t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S1', target: member('S2'), epoch: 1 }]);
});

t.test('RM restart: the report deadline decides with the reports that came', async (t) => {
  const core = new ReplicationCore('passive');
  core.handle({ type: 'members', members: ['S1', 'S2', 'S3'].map(member) });
  t.same(core.handle(report('S3', { role: 'primary', epoch: 2, ready: true })), []);
  const out = core.handle({ type: 'reportDeadline' });
  t.equal(core.leader, 'S3');
  t.equal(core.epoch, 2);
  t.same(checkpoints(out).map((c) => c.target.name).sort(), ['S1', 'S2'], 'the silent ones are checkpointed');
  t.equal(viewsCount(out), 1);
  t.ok(out.some((c) => c.type === 'trace' && c.category === 'fault' && /S1/.test(c.text) && /S2/.test(c.text)), 'the missing reports are traced');
  t.same(core.handle({ type: 'reportDeadline' }), [], 'a second deadline is a no-op');
  // A late report after the decision is an ordinary catch-up report.
  const late = core.handle(report('S1', { role: 'backup', epoch: 2, ready: true }));
  t.equal(core.members.get('S1')?.ready, true);
  t.equal(viewsCount(late), 1);
});

t.test('RM restart: the deadline with no report at all elects one', async (t) => {
  const core = new ReplicationCore('passive');
  core.handle({ type: 'members', members: ['S1', 'S2'].map(member) });
  const out = core.handle({ type: 'reportDeadline' });
  t.equal(core.leader, 'S1');
  t.equal(core.epoch, 1);
  t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S1', target: member('S2'), epoch: 1 }]);
});

t.test('RM restart: the last awaited replica is deleted before it reports: the core still decides', async (t) => {
  // S1 reports a ready backup of epoch 2; S2 (the primary) dies before it answers the query.
  const core = new ReplicationCore('passive');
  core.handle({ type: 'members', members: ['S1', 'S2'].map(member) });
  core.handle(report('S1', { role: 'backup', epoch: 2, ready: true }));
  const out = [...core.handle(deleted('S2')), ...core.handle({ type: 'reportDeadline' })];
  t.equal(core.leader, 'S1', 'S1 is elected');
  t.equal(core.epoch, 3);
  t.match(roles(out).S1, { role: 'primary', epoch: 3, ready: true });
  t.ok(viewsCount(out) >= 1, 'clients are told');
});

t.test('RM restart: the reported primary is deleted while waiting for the others: it is not kept', async (t) => {
  const core = new ReplicationCore('passive');
  core.handle({ type: 'members', members: ['S1', 'S2', 'S3'].map(member) });
  core.handle(report('S1', { role: 'primary', epoch: 2, ready: true }));
  core.handle(deleted('S1'));
  core.handle(report('S2', { role: 'backup', epoch: 2, ready: true }));
  const out = core.handle(report('S3', { role: 'backup', epoch: 2, ready: true }));
  t.equal(core.leader, 'S2', 'a surviving replica leads');
  t.ok(core.leader === undefined || core.members.has(core.leader), 'the leader is a member');
  t.equal(core.epoch, 3);
  t.same(core.view(), [member('S2')], 'clients have a primary');
  t.same(checkpoints(out).filter((c) => !core.members.has(c.server)), [], 'no order goes to a deleted replica');
});

t.test('RM restart: a stale primary reporting before a higher epoch is not kept', async (t) => {
  // S2 still believes it is primary at epoch 2; S1 is a backup of epoch 3 (another primary led
  // epoch 3 and is gone). Whatever the order of the reports, S2 must not lead epoch 3: the epoch
  // would then name two different primaries.
  const outcome = (order: string[]) => {
    const core = new ReplicationCore('passive');
    core.handle({ type: 'members', members: ['S1', 'S2'].map(member) });
    const reports: Record<string, RmEvent> = {
      S1: report('S1', { role: 'backup', epoch: 3, ready: true }),
      S2: report('S2', { role: 'primary', epoch: 2, ready: true }),
    };
    for (const n of order) core.handle(reports[n]!);
    return { leader: core.leader, epoch: core.epoch };
  };
  const s1First = outcome(['S1', 'S2']);
  t.same(s1First, { leader: 'S1', epoch: 4 }, 'S1 first: a new election at epoch 4');
  t.same(outcome(['S2', 'S1']), s1First, 'S2 first: the same decision');
});

t.test("'members' later (GFD reconnect) reconciles: missing ones deleted, new ones added", async (t) => {
  const core = running('passive', ['S1', 'S2', 'S3']);
  const out = core.handle({ type: 'members', members: ['S1', 'S3', 'S4'].map(member) });
  t.same(core.names(), ['S1', 'S3', 'S4']);
  t.same(queries(out), ['S1', 'S3'], 'a running RM asks only the ready replicas still listed, and does not wait');
  t.equal(out.filter((c) => c.type === 'awaitReports').length, 0);
  t.equal(core.leader, 'S1');
  t.equal(core.epoch, 1);
  t.equal(core.members.get('S4')?.ready, false);
  t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S1', target: member('S4'), epoch: 1 }]);
  t.ok(viewsCount(out) >= 1, 'S2 was ready: new views');
  const again = core.handle({ type: 'members', members: ['S1', 'S3', 'S4'].map(member) });
  t.same(again.filter((c) => !(c.type === 'send' && c.msg.type === 'query')), [], 'the same list again changes nothing but asks again');
});

t.test("'members' later without the leader: it is deleted and another elected", async (t) => {
  const core = running('active', ['S1', 'S2', 'S3']);
  const out = answer(core, core.handle({ type: 'members', members: ['S2', 'S3'].map(member) }));
  t.equal(core.leader, 'S2');
  t.equal(core.epoch, 2);
  t.match(roles(out).S2, { role: 'sequencer', epoch: 2 });
  t.same(core.view(), [member('S2'), member('S3')]);
});

t.test("an empty first 'members' list queries nobody; joins then proceed normally", async (t) => {
  const core = new ReplicationCore('passive');
  t.same(core.handle({ type: 'members', members: [] }), []);
  const out = core.handle(added('S1'));
  t.equal(core.leader, 'S1');
  t.equal(core.epoch, 1);
  t.equal(viewsCount(out), 1);
});

for (const mode of ['passive', 'active'] as const) {
  const leaderRole = mode === 'passive' ? 'primary' : 'sequencer';

  t.test(`${mode}: the ${leaderRole} fails just after a replica was made ready: the most up-to-date one leads, not the first by name`, async (t) => {
    // S2 caught up and was made ready a moment ago: S1 may have committed entries with S3 alone
    // before S2's new role reached it, so S2 can lack them.
    const core = running(mode, ['S1', 'S3']);
    core.handle(added('S2'));
    core.handle(report('S2', { mode, epoch: 1, ready: true, seq: 100 }));
    t.same(core.ready().map((m) => m.name), ['S1', 'S2', 'S3']);
    const asked = core.handle(deleted('S1'));
    t.same(queries(asked), ['S2', 'S3']);
    t.match(traces(asked).join('\n'), new RegExp(`${leaderRole} S1 failed; asking S2, S3 what they hold before choosing`));
    const out = answer(core, asked, { S2: 100, S3: 120 });
    t.equal(core.leader, 'S3', 'S3 holds seq 120, S2 only 100');
    t.equal(core.epoch, 2);
    t.match(roles(out).S3, { role: leaderRole, epoch: 2, ready: true });
    t.match(roles(out).S2, { role: mode === 'passive' ? 'backup' : 'member', epoch: 2, ready: true, leader: 'S3' });
    t.match(traces(out).join('\n'), /S3 is \w+ \(epoch 2\), holding the most recent state \(epoch 1, seq 120\)/);
    t.equal(viewsCount(out), 1);
  });

  t.test(`${mode}: a ready replica that does not answer in time is left out of the choice`, async (t) => {
    const core = running(mode, ['S1', 'S2', 'S3']);
    const asked = core.handle(deleted('S1'));
    t.same(queries(asked), ['S2', 'S3']);
    t.same(asked.filter((c) => c.type === 'awaitReports'), [{ type: 'awaitReports', why: 'election' }], 'the shell starts the election deadline');
    t.same(core.handle(report('S3', { mode, role: core.followerRole, epoch: 1, ready: true, seq: 7 })), [], 'one answer of two decides nothing');
    t.equal(core.leader, undefined);
    const out = core.handle({ type: 'reportDeadline' });
    t.match(traces(out).join('\n'), /no report from S2; deciding without them/);
    t.equal(core.leader, 'S3', 'the one that answered');
    t.equal(core.members.get('S2')?.ready, true, 'the silent one stays ready: it may just be slow');
  });

  t.test(`${mode}: a ready replica deleted while the RM waits for its answer: the others decide`, async (t) => {
    const core = running(mode, ['S1', 'S2', 'S3']);
    core.handle(deleted('S1'));
    core.handle(report('S3', { mode, role: core.followerRole, epoch: 1, ready: true, seq: 3 }));
    const out = core.handle(deleted('S2'));
    t.equal(core.leader, 'S3');
    t.equal(core.epoch, 2);
    t.same(core.ready().map((m) => m.name), ['S3']);
    t.equal(viewsCount(out), 1);
  });

  t.test(`${mode}: a replica that answers that it lost its state is not chosen and catches up from the new ${leaderRole}`, async (t) => {
    const core = running(mode, ['S1', 'S2', 'S3']);
    core.handle(deleted('S1'));
    core.handle(report('S2', { mode, role: 'none', epoch: 1, ready: false, seq: 500 }));
    const out = core.handle(report('S3', { mode, role: core.followerRole, epoch: 1, ready: true, seq: 9 }));
    t.equal(core.leader, 'S3');
    t.equal(core.members.get('S2')?.ready, false);
    t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S3', target: member('S2'), epoch: 2 }]);
  });

  t.test(`${mode}: a replica that joins while the RM chooses is checkpointed by the new ${leaderRole}`, async (t) => {
    const core = running(mode, ['S1', 'S2', 'S3']);
    const asked = core.handle(deleted('S1'));
    t.same(core.handle(added('S4')), [], 'nothing decided while waiting');
    const out = answer(core, asked, { S2: 5, S3: 5 });
    t.equal(core.leader, 'S2');
    t.same(checkpoints(out), [{ type: 'sendCheckpoint', server: 'S2', target: member('S4'), epoch: 2 }]);
  });

  t.test(`${mode}: with the same state everywhere the preferred replica still wins the tie`, async (t) => {
    const core = new ReplicationCore(mode, 'S3');
    core.handle(added('S1'));
    for (const n of ['S2', 'S3']) {
      core.handle(added(n));
      core.handle(report(n, { mode, epoch: core.epoch, ready: true }));
    }
    t.equal(core.leader, 'S3');
    core.handle(added('S4'));
    core.handle(report('S4', { mode, epoch: core.epoch, ready: true }));
    answer(core, core.handle(deleted('S3')), { S1: 40, S2: 41, S4: 41 });
    t.equal(core.leader, 'S2', 'S2 and S4 hold the most; S2 first by name');
  });
}

t.test('no ready replica left: a newcomer of the current epoch does not take over from the ones that were ready; it waits for them', async (t) => {
  // S1 leads, S2 and S3 are ready. S3 is suspected (a busy machine) and comes back as a newcomer,
  // still holding epoch 1's state up to seq 10; S1 commits on with S2 alone, up to seq 20.
  const core = running('passive', ['S1', 'S2', 'S3']);
  t.equal(core.epoch, 1);
  core.handle(deleted('S3'));
  core.handle(added('S3'));
  core.handle(report('S3', { epoch: 1, ready: false, seq: 10, held: 1 }));
  t.notOk(core.members.get('S3')!.ready, 'S3 is a newcomer again');
  // Then S1 and S2 are lost at once (their machines suspected).
  core.handle(deleted('S2'));
  const out = core.handle(deleted('S1'));
  const asked = queries(out);
  const answers = asked.flatMap((name) => core.handle(report(name, { epoch: 1, ready: false, seq: 10, held: 1 })));
  const all = [...out, ...answers];
  t.equal(core.leader, undefined, 'S3 is not made primary, though it holds epoch 1');
  t.match(traces(all).join('\n'), /S1, the last ready replica, is not back: waiting for one to register again/);
  t.ok(all.some((c) => c.type === 'awaitReports'), 'the RM waits for the election deadline');
  // S1 was only suspected: it registers again, still holding everything it acknowledged.
  const back = core.handle(added('S1'));
  const reported = queries(back).flatMap((name) => core.handle(report(name, { epoch: 1, ready: false, role: 'none', seq: name === 'S1' ? 20 : 10, held: 1 })));
  t.equal(core.leader, 'S1', 'S1, which was ready when it was lost, continues');
  t.equal(core.epoch, 2);
  t.match(traces([...back, ...reported]).join('\n'), /S1 continues with the most recent state \(epoch 1, seq 20\)/);
});

t.test('no ready replica left and none of the ready ones comes back: after the deadline the best left continues, and says what may be lost', async (t) => {
  const core = running('active', ['S1', 'S2', 'S3']);
  core.handle(deleted('S3'));
  core.handle(added('S3'));
  core.handle(report('S3', { mode: 'active', role: 'member', epoch: 1, ready: false, seq: 10, held: 1 }));
  core.handle(deleted('S2'));
  const out = core.handle(deleted('S1'));
  for (const name of queries(out)) core.handle(report(name, { mode: 'active', role: 'member', epoch: 1, ready: false, seq: 10, held: 1 }));
  t.equal(core.leader, undefined);
  const late = core.handle({ type: 'reportDeadline' });
  t.equal(core.leader, 'S3', 'after the deadline S3 continues');
  t.match(traces(late).join('\n'), /no ready replica survived; S3 continues/);
});
