/**
 * Fail-slow detection (rm/failslow.ts), on a simulated clock at one sample a second: a learnt
 * baseline, a slowdown flagged only once it lasts, load that slows every replica alike never
 * flagged, memory compared with the peers, CPU that only says why, and a flag cleared once every
 * signal is back.
 */
import t from 'tap';
import { FailSlowDetector, type SlowChange } from '../../rm/failslow.js';

const GROUP = ['S1', 'S2', 'S3'];
const peersOf = (s: string) => GROUP.filter((x) => x !== s);

/** Run `seconds` of samples from `at`, each replica's signals given by `sample`; returns the changes and the time after. */
function run(d: FailSlowDetector, at: number, seconds: number, sample: (replica: string, second: number) => Record<string, number>): { changes: Array<SlowChange & { at: number }>; at: number } {
  const changes: Array<SlowChange & { at: number }> = [];
  for (let i = 0; i < seconds; i++, at += 1000) {
    for (const r of GROUP) for (const [signal, v] of Object.entries(sample(r, i))) d.observe(r, signal, v, at);
    for (const c of d.evaluate(at, peersOf)) changes.push({ ...c, at });
  }
  return { changes, at };
}

/** A steady replica: about 1 ms round trips, 5 % CPU, 60 MB, with some jitter. */
const steady = (_r: string, i: number) => ({ latency: 1 + (i % 5) * 0.3, cpu: 5 + (i % 3), rss: 60 + (i % 4) });

t.test('nothing is flagged in the warm-up, nor over five minutes of jitter', async (t) => {
  const d = new FailSlowDetector();
  const warm = run(d, 0, 8, (r, i) => (r === 'S2' ? { latency: 500, cpu: 100, rss: 900 } : steady(r, i)));
  t.same(warm.changes, [], 'during the warm-up (10 s) even a slow start flags nothing');
  const later = run(new FailSlowDetector(), 0, 300, steady);
  t.same(later.changes, [], 'five minutes of a steady system: no flag');
});

t.test('a replica whose latency stays beyond 3x its baseline (and its peers) is flagged after 3 s, and cleared after 3 s back', async (t) => {
  const d = new FailSlowDetector();
  let at = run(d, 0, 30, steady).at;
  const slowFrom = at;
  const slow = run(d, at, 10, (r, i) => (r === 'S2' ? { latency: 52, cpu: 97, rss: 61 } : steady(r, i)));
  t.equal(slow.changes.length, 1);
  const flag = slow.changes[0]!;
  t.equal(flag.subject, 'S2');
  t.ok(flag.slow);
  t.equal(flag.at - slowFrom, 3000, 'flagged once it lasted 3 s');
  t.match(flag.why, /^S2: latency 52\.0 ms, baseline 1\.\d ms, threshold 21\.\d ms \(its peers 1\.\d ms\); cpu 97\.0 %, baseline 6\.0 %/);
  t.same([...d.slow().keys()], ['S2']);
  at = slow.at;
  const brief = run(d, at, 2, steady);
  t.same(brief.changes, [], 'two good seconds do not clear it');
  const back = run(d, brief.at, 5, steady);
  t.same(back.changes.map((c) => [c.subject, c.slow]), [['S2', false]], 'three do');
  t.same([...d.slow().keys()], []);
});

t.test('a slowdown shorter than the sustain time, and load that slows every replica alike, flag nothing', async (t) => {
  const d = new FailSlowDetector();
  let at = run(d, 0, 30, steady).at;
  const blip = run(d, at, 2, (r, i) => (r === 'S1' ? { latency: 80, cpu: 5, rss: 60 } : steady(r, i)));
  t.same(blip.changes, [], 'a two-second blip');
  at = run(d, blip.at, 5, steady).at;
  const load = run(d, at, 300, () => ({ latency: 45, cpu: 100, rss: 70 }));
  t.same(load.changes, [], 'five minutes of a saturating load on all three: no flag');
});

t.test('memory: flagged against its peers, not when every replica grows alike (a growing state)', async (t) => {
  const d = new FailSlowDetector();
  let at = run(d, 0, 30, steady).at;
  const state = run(d, at, 60, (_r, i) => ({ latency: 1, cpu: 5, rss: 60 + i * 10 }));
  t.same(state.changes, [], 'every replica from 60 to 650 MB together');
  at = state.at;
  const hog = run(d, at, 10, (r, i) => (r === 'S3' ? { latency: 1, cpu: 5, rss: 650 + (i + 1) * 100 } : { latency: 1, cpu: 5, rss: 650 }));
  t.same(hog.changes.map((c) => [c.subject, c.slow]), [['S3', true]], "S3 alone grows: flagged");
  t.match(hog.changes[0]!.why, /S3: rss \d+\.0 MB, baseline/);
});

t.test('CPU alone never flags (a busy primary is not a slow one); forget() starts a relaunched replica over', async (t) => {
  const d = new FailSlowDetector();
  const at = run(d, 0, 30, steady).at;
  const busy = run(d, at, 60, (r, i) => (r === 'S1' ? { latency: 1.5, cpu: 100, rss: 62 } : steady(r, i)));
  t.same(busy.changes, []);
  run(d, busy.at, 10, (r, i) => (r === 'S1' ? { latency: 90, cpu: 100, rss: 62 } : steady(r, i)));
  t.ok(d.slow().has('S1'));
  d.forget('S1');
  t.notOk(d.slow().has('S1'), 'a new process: no flag, a new warm-up');
  const again = run(d, busy.at + 10_000, 5, (r, i) => (r === 'S1' ? { latency: 90, cpu: 100, rss: 62 } : steady(r, i)));
  t.same(again.changes, [], 'still warming up');
});

t.test('a busy primary flagged for a delay is cleared once the delay goes, its CPU still high from the load', async (t) => {
  const d = new FailSlowDetector();
  let at = run(d, 0, 30, steady).at;
  // The load comes after the warm-up: S1's CPU is far beyond its baseline from then on.
  const busy = (latency: number) => (r: string, i: number) => (r === 'S1' ? { latency, cpu: 85, rss: 62 } : steady(r, i));
  at = run(d, at, 20, busy(1.5)).at;
  const slow = run(d, at, 10, busy(52));
  t.same(slow.changes.map((c) => c.slow), [true], 'the delay is flagged');
  t.match(slow.changes[0]!.why, /latency 52\.0 ms.*; cpu 85\.0 %/, 'with the CPU beyond its baseline as part of why');
  const back = run(d, slow.at, 10, busy(1.5));
  t.same(back.changes.map((c) => ({ slow: c.slow, after: c.at - slow.at })), [{ slow: false, after: 3000 }], 'cleared 3 s after its latency is back, the CPU notwithstanding');
  t.notOk(d.slow().has('S1'));
  const hogged = run(d, back.at, 10, busy(60));
  t.same(hogged.changes.map((c) => c.slow), [true], 'and the next slowdown is flagged again');
});
