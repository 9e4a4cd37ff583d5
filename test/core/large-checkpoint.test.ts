/**
 * Large checkpoints in parts (docs/PROTOCOL.md, "Large checkpoints"), driven in memory: the
 * leader freezes its state at one sequence number and begins; the parts follow one per round
 * while requests go on; the follower installs exactly the state of that point at the end and
 * keeps what the leader sent after the begin.
 */
import t from 'tap';
import { Cluster } from '../helpers/cluster.js';
import { PART_CHARS, STREAM_ABOVE_CHARS, digest } from '../../servers/core/index.js';

const ALL = ['S1', 'S2', 'S3'];
const ITEM = 'x'.repeat(4000);
/** Enough entries of ITEM for a state well past STREAM_ABOVE_CHARS, in several parts. */
const ENTRIES = Math.ceil((2.5 * Math.max(STREAM_ABOVE_CHARS, PART_CHARS)) / ITEM.length);

function fill(c: Cluster, leader: string, client: string, n: number): string[] {
  const entries: string[] = [];
  for (let i = 1; i <= n; i++) {
    entries.push(`${i}:${ITEM}`);
    c.request(leader, client, i, `append ${i}:${ITEM}`);
  }
  c.pump();
  return entries;
}

/** Whether a log app's snapshot holds exactly these entries (compared, not diffed: they are large). */
const same = (snapshot: string, entries: string[]) => snapshot === JSON.stringify(entries);

const partsTo = (c: Cluster, peer: string) => c.traces(peer, 'checkpoint_received').at(-1)?.data;

t.test('passive: a backup installs the state of the point the checkpoint was taken at, and holds what came after it', async (t) => {
  const c = new Cluster(ALL, { app: 'log' });
  c.group('passive', 1, 'S1', ALL);
  const entries = fill(c, 'S1', 'C1', ENTRIES);
  let partsSeen = 0;
  let logBetween = false;
  c.filter = (to, e) => {
    if (to === 'S2' && e.type === 'peer' && e.msg.type === 'checkpointPart') partsSeen++;
    if (to === 'S2' && e.type === 'peer' && e.msg.type === 'log' && partsSeen > 0 && c.core('S2').incoming) logBetween = true;
    return true;
  };
  c.step('S1', { type: 'timer', timer: 'checkpoint' });
  // Requests while the parts go: applied by the primary after the point the checkpoint holds.
  c.request('S1', 'C2', 1, 'append during-1');
  c.round();
  c.round();
  c.request('S1', 'C2', 2, 'append during-2');
  c.pump();
  t.ok(partsSeen >= 3, `the state went in ${partsSeen} parts`);
  t.ok(logBetween, 'log entries reached the backup between the parts');
  t.same(c.answers('C2'), ['S1:reply:1:' + (ENTRIES + 1), 'S1:reply:2:' + (ENTRIES + 2)], 'both answered while the checkpoint was on its way');
  t.match(c.texts('S1', 'checkpoint_sent').at(-1), /in parts/);
  for (const b of ['S2', 'S3']) {
    const got = partsTo(c, b)!;
    t.equal(got.seq, ENTRIES, `${b}: the checkpoint covers exactly the requests before it`);
    t.equal(got.digest, digest(JSON.stringify(entries)), `${b}: its state is the primary's at that point`);
    t.ok(same(c.core(b).state.app.snapshot(), entries), `${b} holds that state`);
    t.same(c.core(b).log.map((e) => e.payload), ['append during-1', 'append during-2'], `${b} holds the two requests after it`);
    t.equal(c.core(b).incoming, undefined);
  }
  // The primary dies: a backup replays what it holds past the checkpoint, each once.
  c.kill('S1');
  c.group('passive', 2, 'S2', ['S2', 'S3']);
  t.ok(same(c.core('S2').state.app.snapshot(), [...entries, 'during-1', 'during-2']), 'nothing acknowledged is lost, nothing runs twice');
});

t.test('active: a newcomer installs the sequencer state in parts and then applies the orders that came meanwhile, in order', async (t) => {
  const c = new Cluster(ALL, { app: 'log' });
  c.group('active', 1, 'S1', ['S1', 'S2'], ['S3']);
  const entries = fill(c, 'S1', 'C1', ENTRIES);
  c.sendCheckpoint('S1', 'S3', 1);
  c.request('S1', 'C2', 1, 'append during-1');
  c.round();
  c.round();
  c.request('S1', 'C2', 2, 'append during-2');
  c.pump();
  t.equal(partsTo(c, 'S3')!.seq, ENTRIES);
  for (const n of ALL) t.ok(same(c.core(n).state.app.snapshot(), [...entries, 'during-1', 'during-2']), `${n} holds every request, in the one order`);
  t.equal(c.core('S3').state.seq, ENTRIES + 2);
  t.ok(c.reports('S3').some((r) => r.ready), 'the newcomer reports that it caught up');
});

t.test('a checkpoint cut short changes nothing; the next one installs', async (t) => {
  const c = new Cluster(ALL, { app: 'log' });
  c.group('passive', 1, 'S1', ALL);
  const entries = fill(c, 'S1', 'C1', ENTRIES);
  const before = c.core('S2').state.app.snapshot();
  const count = c.core('S2').state.checkpointCount;
  let dropped = false;
  // One part to S2 is lost: the end announces more parts than came.
  c.filter = (to, e) => {
    if (dropped || to !== 'S2' || e.type !== 'peer' || e.msg.type !== 'checkpointPart') return true;
    dropped = true;
    return false;
  };
  c.fire('S1', 'checkpoint');
  c.pump();
  t.ok(dropped);
  t.match(c.texts('S2', 'checkpoint_bad').at(-1), /announces \d+ parts, \d+ came/);
  t.ok(c.core('S2').state.app.snapshot() === before, 'S2 still holds what it held');
  t.equal(c.core('S2').state.checkpointCount, count);
  t.ok(same(c.core('S3').state.app.snapshot(), entries), 'S3 got every part and installed it');
  // S2 never said it installed it: the periodic checkpoints wait for it ten times, then one goes.
  c.fire('S1', 'checkpoint');
  t.equal(c.core('S2').state.checkpointCount, count, 'the next one waits');
  for (let i = 0; i < 10; i++) c.fire('S1', 'checkpoint');
  t.ok(same(c.core('S2').state.app.snapshot(), entries), 'then one goes, and installs');
});

t.test('a newer checkpoint beginning drops the one coming in; a small state still goes in one frame', async (t) => {
  const c = new Cluster(ALL, { app: 'log' });
  c.group('passive', 1, 'S1', ALL);
  c.request('S1', 'C1', 1, 'append small');
  c.pump();
  c.fire('S1', 'checkpoint');
  t.notMatch(c.texts('S1', 'checkpoint_sent').at(-1), /in parts/, 'a small state: one checkpoint frame');
  const entries = fill(c, 'S1', 'C2', ENTRIES);
  // The end of the first checkpoint in parts never reaches S2.
  c.filter = (to, e) => !(to === 'S2' && e.type === 'peer' && e.msg.type === 'checkpointEnd');
  c.fire('S1', 'checkpoint');
  t.ok(c.core('S2').incoming, 'S2 is still waiting for its end');
  c.filter = () => true;
  c.request('S1', 'C3', 1, 'append after');
  c.pump();
  // S2 has not said it installed it: the next periodic one waits for it a while, then goes.
  for (let i = 0; i < 11; i++) c.fire('S1', 'checkpoint');
  t.match(c.texts('S2', 'checkpoint_dropped').at(-1), /a newer one \(\d+\) begins/);
  t.same(c.texts('S2', 'checkpoint_bad'), [], 'which is no fault');
  t.equal(c.core('S2').incoming, undefined);
  t.ok(same(c.core('S2').state.app.snapshot(), ['small', ...entries, 'after']), 'S2 installed the newer one');
});

t.test('the sns and chat apps: a large state goes in parts while requests change it, and every replica ends alike', async (t) => {
  const text = 'y'.repeat(300);
  const apps = {
    sns: { setup: ['login a s 1', ...Array.from({ length: 60 }, (_, i) => [`login f${i} s 1`, `follow f${i} a`]).flat()], change: (i: number) => `post a ${i} p${i} ${text}`, during: (i: number) => [`login late${i} s 1`, `follow late${i} a`, `post a ${i} during${i}`, `unfollow f${i} a`] },
    chat: { setup: Array.from({ length: 60 }, (_, i) => [`login m${i}`, `join m${i} room`]).flat(), change: (i: number) => `say m${i % 60} ${i} ${text}`, during: (i: number) => [`login late${i}`, `join late${i} room`, `say late${i} ${i} during`, `leave m${i} room`] },
  };
  for (const [app, how] of Object.entries(apps)) {
    for (const mode of ['passive', 'active'] as const) {
      const c = new Cluster(ALL, { app: app as 'sns' | 'chat' });
      if (mode === 'passive') c.group('passive', 1, 'S1', ALL);
      else c.group('active', 1, 'S1', ['S1', 'S2'], ['S3']);
      let n = 0;
      for (const p of how.setup) c.request('S1', 'C1', ++n, p);
      for (let i = 0; i < 40; i++) c.request('S1', 'C1', ++n, how.change(i));
      c.pump();
      const then = c.core('S1').state.app.snapshot();
      const size = then.length;
      if (mode === 'passive') c.step('S1', { type: 'timer', timer: 'checkpoint' });
      else c.sendCheckpoint('S1', 'S3', 1);
      // Changes to what was frozen while its parts are on their way: new users, posts, follows undone.
      let m = 0;
      for (let i = 0; i < 3; i++) {
        for (const p of how.during(i)) c.request('S1', 'C2', ++m, p);
        c.round();
      }
      c.pump();
      const target = mode === 'passive' ? 'S2' : 'S3';
      t.ok(size > STREAM_ABOVE_CHARS, `${app}, ${mode}: a state of ${size} characters`);
      t.match(c.texts('S1', 'checkpoint_sent').at(-1), /in parts/, `${app}, ${mode}: sent in parts`);
      t.ok(partsTo(c, target), `${app}, ${mode}: ${target} installed it`);
      const leader = c.core('S1').state.app.snapshot();
      t.not(leader, then, `${app}, ${mode}: the leader went on`);
      if (mode === 'passive') {
        // A passive backup holds the state of the point frozen, and the requests after it in its log.
        for (const b of ['S2', 'S3']) t.equal(c.core(b).state.app.snapshot(), then, `${app}, passive: ${b} holds the state frozen`);
        t.equal(c.core('S2').log.length, 12, `${app}, passive: and the 12 requests after it`);
        c.step('S1', { type: 'timer', timer: 'checkpoint' });
        c.pump();
      }
      for (const r of ALL) t.equal(c.core(r).state.app.snapshot(), leader, `${app}, ${mode}: ${r} holds the leader's state`);
    }
  }
});
