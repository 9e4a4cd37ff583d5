/**
 * The fail-slow detector's event-loop signal: each replica's own event-loop delay (the p90 of a
 * 10 ms timer's lateness, lib/metrics/loop.ts), reported with its metrics and compared with its
 * baseline and its peers'. A CPU hog is flagged by it even when a busy machine's jitter drowns the
 * hog in the link latencies; a busy machine alone, and a saturating load on the primary, flag
 * nothing. Then the measure itself (a real hog on this process), its report, the RM's store, and
 * the RM's watch over them.
 */
import t from 'tap';
import { FailSlowDetector, type SlowChange } from '../../rm/failslow.js';
import { LoopProbe, encodeReport, parseReport, type Report } from '../../lib/metrics/index.js';
import { MetricsStore } from '../../rm/metrics.js';
import { SlowWatch } from '../../rm/slow.js';
import { MetricsReportError } from '../../lib/errors.js';

const GROUP = ['S1', 'S2', 'S3'];
const peersOf = (s: string) => GROUP.filter((x) => x !== s);

/** `seconds` of samples from `at`, one a second; returns the changes and the time after. */
function run(d: FailSlowDetector, at: number, seconds: number, sample: (replica: string, second: number) => Record<string, number>) {
  const changes: Array<SlowChange & { at: number }> = [];
  for (let i = 0; i < seconds; i++, at += 1000) {
    for (const r of GROUP) for (const [signal, v] of Object.entries(sample(r, i))) d.observe(r, signal, v, at);
    for (const c of d.evaluate(at, peersOf)) changes.push({ ...c, at });
  }
  return { changes, at };
}

/** At rest: 1 ms round trips, a loop delay under a ms, 5 % CPU, 60 MB. */
const rest = (_r: string, i: number) => ({ latency: 1 + (i % 5) * 0.3, loop: 0.2 + (i % 4) * 0.2, cpu: 5 + (i % 3), rss: 60 });
/** A busy machine (the test suite beside it): every replica's round trips jump about, up to 50 ms, and its loop now and then runs late. */
const busy = (r: string, i: number) => ({ latency: 10 + ((i * 7 + r.charCodeAt(1) * 13) % 41), loop: 1 + ((i * 3 + r.charCodeAt(1)) % 9), cpu: 20 + (i % 10), rss: 60 });

t.test('a CPU hog on a busy machine: its round trips do not stand out, its event loop does', async (t) => {
  const d = new FailSlowDetector();
  let at = run(d, 0, 15, rest).at;
  at = run(d, at, 20, busy).at;
  t.same([...d.slow().keys()], [], 'a busy machine alone flags nothing');
  const from = at;
  // The hog holds S1's loop 60 ms of every 100: its p90 delay is about 55 ms; its round trips are as noisy as its peers'.
  const hog = run(d, at, 8, (r, i) => (r === 'S1' ? { ...busy(r, i), latency: 50, loop: 55 + (i % 3), cpu: 70 } : busy(r, i)));
  t.same(hog.changes.map((c) => [c.subject, c.slow]), [['S1', true]], 'S1 is flagged');
  t.equal(hog.changes[0]!.at - from, 3000, 'once it lasted 3 s');
  t.match(hog.changes[0]!.why, /^S1: event-loop delay 5\d\.0 ms, baseline \d\.\d ms, threshold 2\d\.\d ms \(its peers \d\.\d ms\)/);
  t.notMatch(hog.changes[0]!.why, /latency/, 'not by its latency: 50 ms is what its peers see too');
  // Every signal must be back under for 3 s in a row: on a busy machine a round trip now and then stands out for a second.
  const back = run(d, hog.at, 15, busy);
  t.same(back.changes.map((c) => [c.subject, c.slow]), [['S1', false]], 'cleared once the hog stops');
});

t.test('saturating load on the primary flags nothing: its loop is busy, not blocked', async (t) => {
  const d = new FailSlowDetector();
  // Baselines learnt at rest, then five minutes of load: the primary takes a whole core and
  // its loop, busy with many short requests, runs a few ms late; every round trip grows.
  const at = run(d, 0, 15, rest).at;
  const load = run(d, at, 300, (r, i) =>
    r === 'S1' ? { latency: 20 + (i % 7) * 4, loop: 3 + (i % 6), cpu: 100, rss: 70 } : { latency: 18 + (i % 5) * 5, loop: 0.5 + (i % 3) * 0.5, cpu: 30, rss: 70 },
  );
  t.same(load.changes, [], 'no flag');
});

t.test('the same machine slowing every loop alike is not a slow replica', async (t) => {
  const d = new FailSlowDetector();
  const at = run(d, 0, 15, rest).at;
  const starved = run(d, at, 60, (_r, i) => ({ latency: 60, loop: 35 + (i % 5), cpu: 5, rss: 60 }));
  t.same(starved.changes, [], 'all three at 35–39 ms: load, not one slow replica');
  const hog = run(d, starved.at, 6, (r, i) => (r === 'S2' ? { latency: 60, loop: 90, cpu: 60, rss: 60 } : { latency: 60, loop: 35 + (i % 5), cpu: 5, rss: 60 }));
  t.same(hog.changes.map((c) => [c.subject, c.slow]), [['S2', true]], 'one far beyond the others is');
});

t.test('LoopProbe: a real hog on this event loop, then a window without it', async (t) => {
  const probe = new LoopProbe();
  t.equal(probe.read(), undefined, 'nothing before start');
  probe.start();
  t.teardown(() => probe.stop());
  const hog = setInterval(() => {
    const until = performance.now() + 60;
    while (performance.now() < until) {
      // holding the loop, as cpu-hog does
    }
  }, 100);
  await new Promise((r) => setTimeout(r, 800));
  clearInterval(hog);
  const held = probe.read()!;
  t.ok(held.delay >= 40, `with the hog, the loop's p90 delay is ${held.delay} ms`);
  t.ok(held.max >= held.delay, `max ${held.max} ms`);
  t.ok(held.elu >= 0.4 && held.elu <= 1, `busy ${(held.elu * 100).toFixed(0)} % of the window`);
  await new Promise((r) => setTimeout(r, 500));
  const after = probe.read()!;
  t.ok(after.delay < held.delay, `a new window, without the hog: ${after.delay} ms`);
});

const report = (process: string, at: number, loop?: Report['loop']): Report => ({ process, at, cpu: { user: at / 1e4, system: 0 }, rss: 60e6, heap: 10e6, links: [], ...(loop ? { loop } : {}) });

t.test('the loop travels in the report, is checked on arrival, and is optional', async (t) => {
  const r = report('S1', 1000, { delay: 55.5, max: 71, elu: 0.62 });
  t.same(parseReport(encodeReport(r)!), r, 'round trip');
  t.same(parseReport(encodeReport(report('S1', 1000))!).loop, undefined, 'a report without it (an older component)');
  for (const loop of [{ delay: -1, max: 1, elu: 0.1 }, { delay: 1, max: 1, elu: 1.5 }, { delay: 1, elu: 0.1 }, 'busy']) {
    t.throws(() => parseReport(JSON.stringify({ ...report('S1', 1000), loop })), MetricsReportError, `refused: ${JSON.stringify(loop)}`);
  }
});

t.test("the RM's store and watch: median loop delay over the window, and a hogged replica flagged", async (t) => {
  const store = new MetricsStore();
  let now = 0;
  const changes: string[] = [];
  const watch = new SlowWatch({
    metrics: store,
    groups: () => [{ name: 'g1', leader: 'S1', members: GROUP }],
    onChange: (c) => changes.push(`${c.subject} ${c.slow ? 'slow' : 'ok'}${c.leader ? ' (leader)' : ''}`),
    detector: { warmupMs: 3000, sustainMs: 3000, rules: (await import('../../rm/failslow.js')).DEFAULT_RULES },
    now: () => now,
  });
  const second = (loopOf: (r: string) => number) => {
    now += 1000;
    for (const r of GROUP) store.add(report(r, now, { delay: loopOf(r), max: loopOf(r) + 5, elu: 0.1 }), now);
    watch.tick(now);
  };
  for (let i = 0; i < 6; i++) second(() => 0.5);
  second((r) => (r === 'S2' ? 80 : 0.5));
  const s = store.summary(now, 3000).processes.find((p) => p.process === 'S2')!;
  t.same(s.loop, { delay: 0.5, max: 85, elu: 0.1 }, 'one late window does not move the median; the max shows it');
  for (let i = 0; i < 6; i++) second((r) => (r === 'S1' ? 60 : 0.5));
  t.same(changes, ['S1 slow (leader)'], 'the hogged leader is flagged by its loop alone (no link reported at all)');
  t.match(watch.reasons().get('S1'), /event-loop delay 60\.0 ms/);
});

t.test('/metrics: each process that measures its loop has ftkit_process_event_loop_delay_seconds', async (t) => {
  const { writeMeasured } = await import('../../rm/observers.js');
  const { Exposition } = await import('../../rm/prometheus.js');
  const store = new MetricsStore();
  const now = Date.now();
  store.add(report('S1', now - 1000, { delay: 55, max: 70, elu: 0.6 }), now - 1000);
  store.add(report('LFD1', now - 1000), now - 1000);
  const out = new Exposition();
  const rm = { name: 'RM', metrics: store, watchedGroups: () => [] } as unknown as Parameters<typeof writeMeasured>[1];
  writeMeasured(out, rm, () => []);
  const text = out.text();
  t.match(text, /# TYPE ftkit_process_event_loop_delay_seconds gauge\n/);
  t.match(text, /ftkit_process_event_loop_delay_seconds\{process="S1"\} 0\.055\n/);
  t.notMatch(text, /ftkit_process_event_loop_delay_seconds\{process="LFD1"\}/, 'not for a process that does not report it');
});
