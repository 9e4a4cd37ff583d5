/**
 * Subscriptions in the replica's core (watchers.ts), with the sns app: a client watching a
 * timeline is pushed each post once it is committed, never before; only a replica that serves
 * (the primary, in passive mode; any ready replica in active mode) accepts a subscription; a
 * failover ends it, and subscribing again at the new leader from the last revision seen gives
 * every later post once and none twice.
 */
import t from 'tap';
import { Cluster } from '../helpers/cluster.js';

const text = (e: string) => JSON.parse(e.slice(e.indexOf(':', e.indexOf(':') + 1) + 1)) as { author: string; text: string };
const revOf = (e: string) => Number(e.split(':')[1]);

/** Users 1 and 2 logged in at the leader, 2 following 1. */
function social(c: Cluster, leader: string): void {
  c.request(leader, 'U1', 1, 'login 1 s1 1000');
  c.request(leader, 'U2', 1, 'login 2 s2 1000');
  c.request(leader, 'U2', 2, 'follow 2 1');
  c.pump();
}

t.test('passive: the primary pushes a post to its watcher only once the backups hold it', async (t) => {
  const c = new Cluster(['S1', 'S2', 'S3'], { app: 'sns', quiet: true });
  c.group('passive', 1, 'S1', ['S1', 'S2', 'S3']);
  social(c, 'S1');
  t.same(c.answers('U2'), ['S1:reply:1:ok', 'S1:reply:2:ok']);
  c.subscribe('S1', 'W2', 'timeline/2', 0);
  c.pump();
  t.same(c.events('W2'), [], 'nothing posted yet');

  // Hold the backups' acks back: the post is applied at the primary but not committed.
  let holding = true;
  c.filter = (to, e) => !(holding && to === 'S1' && e.type === 'follower' && e.msg.type === 'ack');
  c.request('S1', 'U1', 2, 'post 1 2000 hello');
  c.pump();
  t.same(c.events('W2'), [], 'not pushed before it is committed');
  t.same(c.answers('U1'), ['S1:reply:1:ok'], 'nor answered');
  holding = false;
  c.reconnect('S1', 'S2');
  c.reconnect('S1', 'S3');
  c.request('S1', 'U1', 3, 'post 1 3000 again');
  c.pump();
  t.same(c.events('W2').map((e) => text(e).text), ['hello', 'again'], 'both pushed once committed, in order');
  t.same(c.answers('U1'), ['S1:reply:1:ok', 'S1:reply:2:ok', 'S1:reply:3:ok']);

  c.subscribe('S2', 'W9', 'timeline/2', 0);
  c.pump();
  t.match(c.answers('W9'), ['S2:reject:0:not_primary'], 'a backup does not serve subscriptions');
});

t.test('passive failover: the watcher is told to look elsewhere, resubscribes from its last revision, sees each post once', async (t) => {
  const c = new Cluster(['S1', 'S2', 'S3'], { app: 'sns', quiet: true });
  c.group('passive', 1, 'S1', ['S1', 'S2', 'S3']);
  social(c, 'S1');
  c.subscribe('S1', 'W2', 'timeline/2', 0);
  for (let i = 1; i <= 3; i++) c.request('S1', 'U1', 1 + i, `post 1 ${2000 + i} p${i}`);
  c.pump();
  const seen = c.events('W2');
  t.same(seen.map((e) => text(e).text), ['p1', 'p2', 'p3']);

  c.kill('S1');
  c.group('passive', 2, 'S2', ['S2', 'S3']);
  c.request('S2', 'U1', 5, 'post 1 3000 p4');
  c.request('S2', 'U1', 6, 'post 1 3001 p5');
  c.pump();
  const last = revOf(seen.at(-1)!);
  c.subscribe('S2', 'W2', 'timeline/2', last);
  c.pump();
  t.same(c.events('W2').map((e) => text(e).text), ['p1', 'p2', 'p3', 'p4', 'p5'], 'every post once, in order');
  const revs = c.events('W2').map(revOf);
  t.same(revs, [...revs].sort((a, b) => a - b), 'revisions only grow');

  // A demoted primary ends its subscriptions with a reject.
  c.subscribe('S2', 'W3', 'timeline/2', 0);
  c.pump();
  c.group('passive', 3, 'S3', ['S2', 'S3']);
  t.match(c.answers('W3').at(-1), /^S2:reject:\d+:not_primary/, 'the old primary tells its watcher to look elsewhere');
});

t.test('active: any ready member serves, pushing what the sequencer says is committed', async (t) => {
  const c = new Cluster(['S1', 'S2', 'S3'], { app: 'sns', quiet: true });
  c.group('active', 1, 'S1', ['S1', 'S2', 'S3']);
  for (const s of ['S1', 'S2', 'S3']) c.request(s, 'U1', 1, 'login 1 s1 1000');
  for (const s of ['S1', 'S2', 'S3']) c.request(s, 'U2', 1, 'login 2 s2 1000');
  for (const s of ['S1', 'S2', 'S3']) c.request(s, 'U2', 2, 'follow 2 1');
  c.pump();
  c.subscribe('S3', 'W2', 'timeline/2', 0);
  for (const s of ['S1', 'S2', 'S3']) c.request(s, 'U1', 2, 'post 1 2000 hi');
  c.pump();
  t.same(c.events('W2').map((e) => `${e.split(':')[0]} ${text(e).text}`), ['S3 hi'], 'member S3 pushed the post');
});

t.test('an app without events refuses subscriptions', async (t) => {
  const c = new Cluster(['S1'], { app: 'counter', quiet: true });
  c.group('passive', 1, 'S1', ['S1']);
  c.subscribe('S1', 'W1', 'x', 0);
  c.pump();
  t.same(c.answers('W1'), ['S1:reject:0:app counter has nothing to subscribe to']);
});
