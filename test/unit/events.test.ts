/**
 * The apps' bounded event log (servers/core/events.ts): revisions, reads by topic, compaction
 * that keeps what the app says and runs at points fixed by the log alone, so replicas that
 * applied the same requests (one of them restored from a snapshot midway) hold the same log.
 */
import t from 'tap';
import { EventLog, keepLatest } from '../../servers/core/events.js';

t.test('revisions, reads by topic and the latest of a topic', async (t) => {
  const log = new EventLog(keepLatest(10));
  for (let i = 1; i <= 6; i++) log.add(i % 2 ? 'a' : 'b', `m${i}`);
  t.equal(log.rev, 6);
  t.same(log.since('a', 0, 6).map((e) => e.rev), [1, 3, 5]);
  t.same(log.since('a', 3, 6).map((e) => e.text), ['m5'], 'only after the revision given');
  t.same(log.since('b', 0, 4).map((e) => e.text), ['m2', 'm4'], 'only up to the revision given');
  t.same(log.latest('b', 2), ['m6', 'm4'], 'newest first');
  t.same(log.since('c', 0, 6), [], 'a topic with no events');
});

t.test('compaction keeps the latest of each topic and runs once the log has doubled', async (t) => {
  const log = new EventLog(keepLatest(3));
  for (let i = 1; i <= 1023; i++) log.add(i % 4 === 0 ? 'rare' : 'busy', String(i));
  t.equal(log.length, 1023, 'nothing dropped below 1,024 events');
  log.add('busy', '1024');
  t.equal(log.length, 6, 'at 1,024: three of each topic left');
  t.same(log.since('busy', 0, log.rev).map((e) => e.text), ['1022', '1023', '1024']);
  t.same(log.since('rare', 0, log.rev).map((e) => e.text), ['1012', '1016', '1020']);
  t.equal(log.rev, 1024, 'revisions go on from where they were');
  log.add('busy', 'next');
  t.equal(log.since('busy', 1024, log.rev)[0]!.rev, 1025);
  for (let i = 0; i < 1016; i++) log.add(`t${i}`, 'x');
  t.equal(log.length, 1023, 'the next compaction waits for 1,024 events again');
  log.add('t-last', 'x');
  t.equal(log.since('busy', 0, log.rev).length, 3, 'and then drops the oldest busy one');
  t.equal(log.length, 1023, 'every one-event topic stays');
});

t.test('a log restored from a snapshot compacts at the same points as the one it came from', async (t) => {
  const a = new EventLog(keepLatest(2));
  const b = new EventLog(keepLatest(2));
  for (let i = 0; i < 3000; i++) {
    a.add(`u${i % 7}`, String(i));
    if (i === 1500) b.restore(JSON.parse(JSON.stringify(a.state())));
    if (i > 1500) b.add(`u${i % 7}`, String(i));
  }
  t.same(b.state(), a.state(), 'the same events, revisions and next compaction point');
});

t.test('a snapshot without a log, or with a damaged one, restores to an empty log', async (t) => {
  const log = new EventLog(keepLatest(2));
  log.restore(undefined);
  t.equal(log.rev, 0);
  log.restore({ rev: 5, events: 'nonsense' as never });
  t.equal(log.length, 0);
  t.equal(log.rev, 5);
});
