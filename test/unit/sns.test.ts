/**
 * The social network's state machine (servers/core/sns.ts): users, follows, posts and
 * timelines in one group, and what goes to other groups through the outbox, applied there as
 * `sync` requests.
 */
import t from 'tap';
import { SnsApp, OUTBOX_TOPIC, TIMELINE_KEEP, TIMELINE_LENGTH, timelineTopic, type OutboxEntry } from '../../servers/core/sns.js';

const timeline = (app: SnsApp, u: string) => JSON.parse(app.apply(`timeline ${u}`)) as { rev: number; posts: Array<{ author: string; time: number; text: string }> };
const outbox = (app: SnsApp, after = 0) => app.since(OUTBOX_TOPIC, after, app.lastRev()).map((e) => JSON.parse(e.text) as OutboxEntry);

/** Carry every outbox entry of `from` (after `after`) meant for `to` into it, as the synchronizer does. */
function carry(from: SnsApp, to: SnsApp, after = 0): number {
  let n = 0;
  for (const e of from.since(OUTBOX_TOPIC, after, from.lastRev())) {
    const entry = JSON.parse(e.text) as OutboxEntry;
    if (entry.to !== '*' && entry.to !== to.group) continue;
    t.equal(to.apply(`sync ${e.text}`), 'ok', `${to.group} applies ${entry.op}`);
    n++;
  }
  return n;
}

t.test('one group: login, follow, list, posts and the timeline', async (t) => {
  const g = new SnsApp('g1');
  t.equal(g.apply('login 1 a 1000'), 'ok');
  t.equal(g.apply('login 4 b 1000'), 'ok');
  t.equal(g.apply('login 1 c 2000'), 'elsewhere', 'another session within the hold time');
  t.equal(g.apply('login 1 a 2500'), 'ok', 'the same session again');
  t.equal(g.apply('logout 1 a'), 'ok');
  t.equal(g.apply('login 1 c 2600'), 'ok', 'after a logout another session may log in');
  t.equal(g.apply('login 4 z 40000'), 'ok', 'a session not seen for the hold time gives way');
  t.equal(g.apply('follow 1 1'), 'exists', 'following oneself');
  t.equal(g.apply('follow 1 9'), 'invalid', 'no such user');
  t.equal(g.apply('follow 9 1'), 'unknown-user', 'a follower that never logged in here is told so (its client logs in again)');
  t.equal(g.apply('list 9'), 'unknown-user');
  t.equal(g.apply('timeline 9'), 'unknown-user');
  t.equal(g.apply('post 9 1 x'), 'unknown-user');
  t.equal(g.apply('unfollow 1 4'), 'not-follower');
  t.equal(g.apply('post 4 3000 before'), 'ok');
  t.equal(g.apply('follow 1 4'), 'ok');
  t.equal(g.apply('follow 1 4'), 'exists', 'following twice');
  t.same(JSON.parse(g.apply('list 4')), { users: ['1', '4'], followers: ['1'] });
  for (let i = 1; i <= TIMELINE_LENGTH + 2; i++) t.equal(g.apply(`post 4 ${4000 + i} p${i}`), 'ok');
  const tl = timeline(g, '1');
  t.equal(tl.posts.length, TIMELINE_LENGTH, `the last ${TIMELINE_LENGTH}`);
  t.equal(tl.posts[0]!.text, `p${TIMELINE_LENGTH + 2}`, 'newest first');
  t.notOk(tl.posts.some((p) => p.text === 'before'), 'a post made before the follow is not in the timeline');
  t.equal(tl.rev, g.lastRev(), 'the timeline says the revision to watch from');
  t.equal(g.apply('unfollow 1 4'), 'ok');
  g.apply('post 4 9000 after-unfollow');
  t.equal(timeline(g, '1').posts[0]!.text, `p${TIMELINE_LENGTH + 2}`, 'nothing after an unfollow');
  t.match(g.apply('post x'), /^error: sns cannot parse/);
  t.match(g.apply('frobnicate'), /^error: /);
});

t.test('three groups: users, follows and posts cross through the outbox exactly as applied', async (t) => {
  const [g1, g2, g3] = ['g1', 'g2', 'g3'].map((n) => new SnsApp(n)) as [SnsApp, SnsApp, SnsApp];
  g1.apply('login 1 a 1000');
  g2.apply('login 2 b 1000');
  g3.apply('login 3 c 1000');
  t.same(outbox(g1), [{ to: '*', from: 'g1', op: 'user', user: '1', home: 'g1' }], 'a new user goes to every other group');
  for (const [a, b] of [[g1, g2], [g1, g3], [g2, g1], [g2, g3], [g3, g1], [g3, g2]] as const) carry(a, b);
  t.same(JSON.parse(g2.apply('list 2')).users, ['1', '2', '3'], 'every group knows every user');

  const mark1 = g1.lastRev();
  t.equal(g1.apply('follow 1 2'), 'ok', 'a follow of a user in another group');
  t.same(outbox(g1, mark1), [{ to: 'g2', from: 'g1', op: 'follow', user: '2', follower: '1' }]);
  const mark3 = g3.lastRev();
  t.equal(g3.apply('follow 3 2'), 'ok');
  carry(g1, g2, mark1);
  carry(g3, g2, mark3);
  t.same(JSON.parse(g2.apply('list 2')).followers, ['1', '3'], "2's followers, in two other groups");

  const mark2 = g2.lastRev();
  g2.apply('post 2 5000 hello');
  t.same(
    outbox(g2, mark2).map((e) => [e.to, e.op, 'users' in e ? e.users : []]),
    [
      ['g1', 'deliver', ['1']],
      ['g3', 'deliver', ['3']],
    ],
    'one delivery per group, naming its followers',
  );
  carry(g2, g1, mark2);
  carry(g2, g3, mark2);
  t.same(timeline(g1, '1').posts.map((p) => p.text), ['hello']);
  t.same(timeline(g3, '3').posts.map((p) => p.text), ['hello']);
  t.equal(g1.since(timelineTopic('1'), 0, g1.lastRev()).length, 1, 'one timeline event for the post');

  // An unfollow that reaches the author's group after a post was sent: the follower's group drops it.
  const m1 = g1.lastRev();
  t.equal(g1.apply('unfollow 1 2'), 'ok');
  const m2 = g2.lastRev();
  g2.apply('post 2 6000 late');
  carry(g2, g1, m2);
  t.same(timeline(g1, '1').posts.map((p) => p.text), ['hello'], 'a post for someone who no longer follows is not delivered');
  carry(g1, g2, m1);
  t.same(JSON.parse(g2.apply('list 2')).followers, ['3']);
});

t.test('the state survives a snapshot: another replica restored from it answers alike', async (t) => {
  const a = new SnsApp('g1');
  a.apply('login 1 a 1000');
  a.apply('login 4 b 1000');
  a.apply('follow 4 1');
  a.apply('post 1 2000 x');
  const b = new SnsApp('g1');
  b.restore(a.snapshot());
  t.equal(b.snapshot(), a.snapshot());
  t.equal(b.lastRev(), a.lastRev());
  t.same(b.apply('timeline 4'), a.apply('timeline 4'));
  t.same(b.since(timelineTopic('4'), 0, b.lastRev()), a.since(timelineTopic('4'), 0, a.lastRev()));
});

t.test('the outbox is trimmed behind what the synchronizer says is delivered; a timeline keeps its latest posts', async (t) => {
  const g2 = new SnsApp('g2');
  g2.apply('login 2 b 1000');
  // Followers in g1 and g3 (their users are learnt as g2 learns them from those groups).
  for (const [u, home] of [['1', 'g1'], ['3', 'g3']]) {
    t.equal(g2.apply(`sync ${JSON.stringify({ to: '*', from: home, op: 'user', user: u, home })}`), 'ok');
    t.equal(g2.apply(`sync ${JSON.stringify({ to: 'g2', from: home, op: 'follow', user: '2', follower: u })}`), 'ok');
  }
  g2.apply('login 5 e 1000');
  t.equal(g2.apply('follow 5 2'), 'ok', 'and one follower here');
  const posts = 1500;
  for (let i = 1; i <= posts; i++) g2.apply(`post 2 ${1000 + i} p${i}`);
  const entries = () => outbox(g2).filter((e) => e.op === 'deliver');
  t.equal(entries().length, 2 * posts, 'nothing delivered is said yet: every entry is kept');
  const rev = (n: number, to: string) => g2.since(OUTBOX_TOPIC, 0, g2.lastRev()).find((e) => e.text.includes(`"p${n}"`) && e.text.includes(`"to":"${to}"`))!.rev;

  t.equal(g2.apply(`synced g1 ${rev(posts, 'g1')}`), 'ok', 'g1 has every post');
  t.equal(g2.apply(`synced g3 ${rev(1000, 'g3')}`), 'ok', 'g3 has the first 1,000');
  t.equal(g2.apply(`synced g3 ${rev(10, 'g3')}`), 'ok', 'an older report (a restarted synchronizer) takes nothing back');
  // Posts seen only here (6 follows 5): events, but the outbox does not grow, so it is not compacted.
  g2.apply('login 6 f 1000');
  g2.apply('follow 6 5');
  for (let j = 0; j < 3000; j++) g2.apply(`post 5 ${j} filler`);
  t.ok(entries().some((e) => e.to === 'g1'), "a topic is compacted only as it grows: g1's delivered entries are still there");
  // New users (an entry for every group each): the outbox grows, and is compacted when it has doubled.
  let users = 0;
  while (entries().some((e) => e.to === 'g1') && users < 10_000) for (let j = 0; j < 100; j++) g2.apply(`login n${++users} s 1000`);
  t.same([...new Set(entries().map((e) => e.to))], ['g3'], "the outbox's next compaction drops g1's delivered entries");
  t.same(entries().map((e) => e.text), Array.from({ length: posts - 1000 }, (_, i) => `p${1001 + i}`), "and of g3's, only those delivered");
  const userEntries = outbox(g2).filter((e) => e.op !== 'deliver').map((e) => e.op === 'user' && e.user);
  t.same(userEntries, ['2', '5', '6', ...Array.from({ length: users }, (_, i) => `n${i + 1}`)], "a new user's entry stays (one per user)");

  const own = g2.since(timelineTopic('5'), 0, g2.lastRev());
  t.ok(own.length >= TIMELINE_KEEP && own.length < 2 * TIMELINE_KEEP, `a timeline keeps at least its latest ${TIMELINE_KEEP} posts, and fewer than twice that (${own.length})`);
  t.same(own.slice(-TIMELINE_KEEP).map((e) => JSON.parse(e.text).text), Array.from({ length: TIMELINE_KEEP }, (_, i) => `p${posts - TIMELINE_KEEP + 1 + i}`), 'the latest, in order');
  t.equal(JSON.parse(own.at(-1)!.text).text, `p${posts}`);
  t.equal(JSON.parse(g2.apply('timeline 5')).posts.length, TIMELINE_LENGTH);
  t.match(g2.apply('synced g1 x'), /^error:/, 'a report it cannot read');
  t.match(g2.apply('synced g1 5 extra'), /^error:/);
});

t.test('list: every user in id order (u2 before u10), kept as users come, the same after a restore', async (t) => {
  const g = new SnsApp('g1');
  const byId = new Intl.Collator('en', { numeric: true }).compare;
  // Ids that collate equal (u01, u1) keep the order they came in, as a stable sort of them would.
  const ids = ['u10', 'u2', 'B', 'a', 'u01', 'u1', 'x_y', 'x-y', 'x.y', 'u100', 'A', 'u9'];
  for (const id of ids) t.equal(g.apply(`login ${id} s 1000`), 'ok');
  const users = () => (JSON.parse(g.apply('list a')) as { users: string[] }).users;
  t.same(users(), [...ids].sort(byId), 'in id order');
  t.same(users().slice(users().indexOf('u01'), users().indexOf('u01') + 2), ['u01', 'u1'], 'equal ids in the order they came');
  // Users of other groups, learnt through sync, go in their place too.
  for (const id of ['u3', 'c']) g.apply(`sync ${JSON.stringify({ to: '*', from: 'g2', op: 'user', user: id, home: 'g2' })}`);
  t.same(users(), [...ids, 'u3', 'c'].sort(byId));
  const copy = new SnsApp('g1');
  const r = copy.restorer!();
  for (const part of g.freeze().parts(40)) r.push(part);
  r.done();
  t.equal(copy.apply('list a'), g.apply('list a'), 'restored: the same list');
  for (const app of [g, copy]) app.apply('login u05 s 1000');
  t.equal(copy.apply('list a'), g.apply('list a'), 'and the same after a new user on both');
  const bad = new SnsApp('g1').restorer!();
  t.throws(() => bad.push(g.snapshot().replace('["dir","A"', '["dir","zz"')), /user "(a|zz|B)" out of order/, 'a directory out of order is refused');
});
