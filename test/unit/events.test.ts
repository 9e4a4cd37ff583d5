/**
 * The apps' bounded event log (servers/core/events.ts): revisions, reads by topic, compaction
 * of each topic that keeps what the app says and runs at points fixed by the log alone, so
 * replicas that applied the same requests (one of them restored from its records midway) hold
 * the same log; and a frozen log that stays as it was.
 */
import t from 'tap';
import { EventLog, EventLogBuilder, keepLatest } from '../../servers/core/events.js';

const records = (log: EventLog) => [...log.freeze()()];

/** A copy of `log` rebuilt from its records. */
function rebuilt(log: EventLog, keep = keepLatest(2)): EventLog {
  const b = new EventLogBuilder();
  for (const r of records(log)) t.ok(b.take(r)) || t.fail(`not taken: ${JSON.stringify(r)}`);
  const copy = new EventLog(keep);
  copy.install(b.done());
  return copy;
}

t.test('revisions, reads by topic and the latest of a topic', async (t) => {
  const log = new EventLog(keepLatest(10));
  for (let i = 1; i <= 6; i++) log.add(i % 2 ? 'a' : 'b', `m${i}`);
  t.equal(log.rev, 6);
  t.same(log.since('a', 0, 6).map((e) => e.rev), [1, 3, 5]);
  t.same(log.since('a', 3, 6).map((e) => e.text), ['m5'], 'only after the revision given');
  t.same(log.since('b', 0, 4).map((e) => e.text), ['m2', 'm4'], 'only up to the revision given');
  t.same(log.latest('b', 2), ['m6', 'm4'], 'newest first');
  t.same(log.since('c', 0, 6), [], 'a topic with no events');
  t.same(log.latest('c', 2), []);
});

t.test('each topic is compacted alone, once it has doubled: the latest it keeps stay', async (t) => {
  const log = new EventLog(keepLatest(3));
  for (let i = 1; i <= 15; i++) log.add('busy', String(i));
  for (let i = 1; i <= 10; i++) log.add('rare', `r${i}`);
  t.equal(log.length, 25, 'no topic has reached 16 events: nothing dropped');
  log.add('busy', '16');
  t.equal(log.length, 13, 'at 16: three busy ones left, every rare one');
  t.same(log.since('busy', 0, log.rev).map((e) => e.text), ['14', '15', '16']);
  t.same(log.since('rare', 0, log.rev).map((e) => e.text), Array.from({ length: 10 }, (_, i) => `r${i + 1}`));
  t.equal(log.rev, 26, 'revisions go on from where they were');
  log.add('busy', 'next');
  t.equal(log.since('busy', 26, log.rev)[0]!.rev, 27);
  for (let i = 0; i < 11; i++) log.add('busy', `b${i}`);
  t.equal(log.since('busy', 0, log.rev).length, 15, 'the next compaction waits for 16 again (twice 3 is less)');
  log.add('busy', 'last');
  t.same(log.since('busy', 0, log.rev).map((e) => e.text), ['b9', 'b10', 'last']);
  const big = new EventLog(keepLatest(100));
  for (let i = 0; i < 1000; i++) big.add('t', String(i));
  t.ok(big.length >= 100 && big.length < 200, `with 100 kept, between 100 and 200 stay (${big.length})`);
  t.equal(big.latest('t', 1)[0], '999');
});

t.test('a log rebuilt from its records compacts at the same points as the one it came from', async (t) => {
  const a = new EventLog(keepLatest(2));
  let b = new EventLog(keepLatest(2));
  for (let i = 0; i < 3000; i++) {
    a.add(`u${i % 7}`, String(i));
    if (i === 1500) b = rebuilt(a);
    if (i > 1500) b.add(`u${i % 7}`, String(i));
  }
  t.same(records(b), records(a), 'the same topics, events, revisions and next compaction points');
  t.equal(b.length, a.length);
  t.equal(b.chars, a.chars);
});

t.test('a frozen log reads as it was, while topics grow, compact and are added', async (t) => {
  const log = new EventLog(keepLatest(4));
  for (let i = 0; i < 40; i++) log.add(`t${i % 3}`, String(i));
  const then = records(log);
  const frozen = log.freeze();
  for (let i = 0; i < 200; i++) log.add(`t${i % 5}`, `later ${i}`);
  const again = log.freeze();
  const mid = records(log);
  for (let i = 0; i < 200; i++) log.add(`t${i % 2}`, `after ${i}`);
  t.same([...frozen()], then, 'the first freeze: as it was');
  t.same([...again()], mid, 'the second: as it was then');
});

t.test('bad records are refused; a log written whole (an older data dir) is still read', async (t) => {
  const take = (...rs: unknown[][]) => {
    const b = new EventLogBuilder();
    for (const r of rs) b.take(r);
    return b.done();
  };
  t.throws(() => take(['topic', 'a', 16]), /topic before the log record/);
  t.throws(() => take(['log', 5], ['event', 1, 'x']), /event before its topic/);
  t.throws(() => take(['log', 5], ['topic', 'a', 16], ['event', 2, 'x'], ['event', 2, 'y']), /revision 2 is out of order/);
  t.throws(() => take(['log', 5], ['topic', 'a', 16], ['event', 9, 'x']), /revision 9 is out of order/, 'past the log revision');
  t.throws(() => take(['log', 5], ['topic', 'a', 16], ['topic', 'a', 16]), /topic "a" twice/);
  t.throws(() => take(['log', 5], ['topic', 'a', 16], ['event', 1, 7]), /text is not a string/);
  t.throws(() => take(), /no log record/);
  t.notOk(new EventLogBuilder().take(['user', 'x']), "a record that is not the log's is left to the app");

  const log = new EventLog(keepLatest(2));
  log.restoreWhole({ rev: 7, events: [{ rev: 3, topic: 'a', text: 'x' }, { rev: 5, topic: 'b', text: 'y' }, { rev: 7, topic: 'a', text: 'z' }] });
  t.equal(log.rev, 7);
  t.same(log.latest('a', 5), ['z', 'x']);
  t.same(log.since('b', 0, 7).map((e) => e.rev), [5]);
  log.restoreWhole(undefined);
  t.equal(log.rev, 0);
  log.restoreWhole({ rev: 5, events: 'nonsense' as never });
  t.equal(log.length, 0, 'a damaged one: no events');
  t.equal(log.rev, 5);
});
