/**
 * Issue 17, the course's case (f): users 1, 2 and 3, in three groups, all follow each other and
 * post; then the leader of g2 is killed (kill -9), the three clients are started again, and user
 * 5 (routed to g2) joins. Every group still knows every user and every follower, each timeline
 * shows every post of the users followed exactly once, and posts made after the failover arrive live.
 */
import t from 'tap';
import { BANNER, count, enterTimelines, followEachOther, killLeader, listUntil, postLine, seenOnce, startSnsSystem, type SnsUser } from '../helpers/sns.js';

type Seen = Array<[SnsUser, string, string]>;

t.test('case (f): a leader killed, the clients started again and a new user: nothing lost, nothing twice', async (t) => {
  t.setTimeout(85_000);
  const { sys, user } = await startSnsSystem(t);
  const ids = ['1', '2', '3'];
  let users = new Map(ids.map((id) => [id, user(id)]));
  await Promise.all([...users.values()].map((u) => u.until(BANNER)));
  for (const u of users.values()) await listUntil(u, 'All users: 1, 2, 3\n');
  await followEachOther(t, users);
  await enterTimelines([...users.values()]);
  for (const [id, u] of users) u.type(`p${id} before`);
  // Every post of the others, at each of them: what each follows.
  const before = (who: Map<string, SnsUser>): Seen => ids.flatMap((id) => ids.filter((a) => a !== id).map((a): [SnsUser, string, string] => [who.get(id)!, a, `p${a} before`]));
  await seenOnce(t, before(users), ', live, before the failover');

  const { killed } = await killLeader(sys, 'g2');
  t.pass(`g2's leader ${killed} killed; the RM named another`);
  for (const [id, u] of users) t.equal(await u.quit(), 0, `user ${id}'s client leaves`);
  users = new Map(ids.map((id) => [id, user(id)]));
  const u5 = user('5');
  await Promise.all([...users.values(), u5].map((u) => u.until(BANNER)));
  t.pass('users 1, 2, 3 log in again, and 5 (g2) for the first time');

  const followers: Record<string, string> = { '1': '2, 3', '2': '1, 3', '3': '1, 2', '5': '' };
  for (const [id, u] of [...users, ['5', u5] as const]) {
    const list = await listUntil(u, 'All users: 1, 2, 3, 5\n');
    t.equal(list, `All users: 1, 2, 3, 5\nFollowers: ${followers[id]}\n`, `user ${id}: every user, and its followers`);
  }
  for (const whom of ['1', '2']) t.equal(await u5.command(`FOLLOW ${whom}`), 'Command completed successfully\n', `5 follows ${whom}`);

  // The timelines as stored, read again by new clients: every earlier post once.
  await enterTimelines([...users.values(), u5]);
  await seenOnce(t, before(users), ', read again after the failover');
  t.equal(count(u5, /\) >> /), 0, "5 followed after those posts: its timeline starts empty");

  for (const [id, u] of users) u.type(`p${id} after`);
  const after: Seen = [
    ...ids.flatMap((id) => ids.filter((a) => a !== id).map((a): [SnsUser, string, string] => [users.get(id)!, a, `p${a} after`])),
    [u5, '1', 'p1 after'],
    [u5, '2', 'p2 after'],
  ];
  await seenOnce(t, after, ', live, after the failover');
  t.equal(count(u5, postLine('3', 'p3 after')), 0, '5 does not follow 3');
  for (const [u, author, text] of before(users)) t.equal(count(u, postLine(author, text)), 1, `${text} still once at a follower of ${author}`);
  for (const u of [...users.values(), u5]) t.equal(await u.quit(), 0, 'Ctrl-D leaves, exit 0');
});
