/**
 * Issue 17, the social network: three replica groups running the sns app, ftkit sync between
 * them, and real `ftkit sns` clients driven through their prompt. The course's cases: sanity
 * (login, bad input, LIST, TIMELINE), users in one group following each other, users in three
 * groups following each other and seeing each other's posts live, each post exactly once.
 */
import t from 'tap';
import { BANNER, count, enterTimelines, followEachOther, killLeader, listUntil, postLine as post, seenOnce, startSnsSystem, type SnsUser } from '../helpers/sns.js';

t.test('tiny SNS over three groups: prompts, follows across groups, live timelines', async (t) => {
  const { sys, user } = await startSnsSystem(t);
  const [u1, u2, u3, u4] = ['1', '2', '3', '4'].map(user) as [SnsUser, SnsUser, SnsUser, SnsUser];
  const users = [u1, u2, u3, u4];
  await Promise.all(users.map((u) => u.until(BANNER)));
  t.pass('every user logged in and got the banner and the prompt');

  // (a) bad input, and the answers the course's client gives
  t.equal(await u1.command('LIST x'), 'Invalid Input -- Only FOLLOW and UNFOLLOW commands have Arguments\n');
  t.equal(await u1.command('FOLLOW'), 'Invalid Input -- No Arguments Given\n');
  t.equal(await u1.command('HELLO'), 'Invalid Command\n');
  t.equal(await u1.command('follow 1'), 'Input username already exists, command failed\n', 'following oneself (commands are case-insensitive)');
  t.equal(await u1.command('FOLLOW 99'), 'Command failed with invalid username\n');
  t.equal(await u1.command('UNFOLLOW 4'), 'Command failed with not a follower\n');

  // every group learns every user through ftkit sync
  for (const u of [u1, u2, u3]) await listUntil(u, 'All users: 1, 2, 3, 4\n');
  t.pass('LIST shows all users of all groups, from g1, g2 and g3');

  // (d) 1 and 4 (both g1) follow each other; (e) 1, 2, 3 (three groups) all follow each other
  for (const [u, whom] of [[u1, '4'], [u4, '1']] as Array<[SnsUser, string]>) t.equal(await u.command(`FOLLOW ${whom}`), 'Command completed successfully\n', `FOLLOW ${whom}`);
  await followEachOther(t, new Map([['1', u1], ['2', u2], ['3', u3]]));
  t.equal(await u1.command('FOLLOW 4'), 'Input username already exists, command failed\n', 'following twice');
  const list1 = await listUntil(u1, 'Followers: 2, 3, 4\n');
  t.match(list1, /^All users: 1, 2, 3, 4\nFollowers: 2, 3, 4\n$/, "1's followers, from its own group and two others");
  await listUntil(u2, 'Followers: 1, 3\n');
  await listUntil(u3, 'Followers: 1, 2\n');

  await enterTimelines(users);
  u2.type('p2 from two');
  u3.type('p3 from three');
  u4.type('p4 from four');
  u1.type('p1 from one');
  const expected: Array<[SnsUser, string, string]> = [
    [u1, '2', 'p2 from two'],
    [u1, '3', 'p3 from three'],
    [u1, '4', 'p4 from four'],
    [u2, '1', 'p1 from one'],
    [u2, '3', 'p3 from three'],
    [u3, '1', 'p1 from one'],
    [u3, '2', 'p2 from two'],
    [u4, '1', 'p1 from one'],
  ];
  await seenOnce(t, expected);
  t.equal(count(u4, post('2', 'p2 from two')), 0, '4 does not follow 2: nothing of 2 in its timeline');

  // Push that survives failover: kill -9 the leaders of the poster's group (g2) and of the
  // follower's (g1); the follower's subscription moves to the new leader, from the last post it saw.
  await Promise.all(['g1', 'g2'].map((g) => killLeader(sys, g)));
  for (let i = 1; i <= 5; i++) u2.type(`after failover ${i}`);
  await seenOnce(t, [1, 2, 3, 4, 5].map((i): [SnsUser, string, string] => [u1, '2', `after failover ${i}`]), ', after the failovers');
  for (const [u, author, text] of expected) t.equal(count(u, post(author, text)), 1, `${text} still shown once at the follower of ${author}`);
  for (const u of users) t.equal(await u.quit(), 0, 'Ctrl-D leaves, exit 0');
});
