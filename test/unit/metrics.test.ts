/**
 * lib/metrics: the histogram's quantiles against a sorted-array oracle (within one bucket), exact
 * merging of windows, the recorder's report with an injected CPU, memory and clock, round trips
 * settled by cumulative acks, and the report check that refuses what is too large or malformed.
 */
import t from 'tap';
import {
  BUCKET_COUNT,
  BUCKET_RATIO,
  Histogram,
  MAX_REPORT_BYTES,
  MAX_REPORT_LINKS,
  MetricsRecorder,
  MetricsReportError,
  PendingAcks,
  Reporter,
  bucketOf,
  encodeReport,
  lowerEdge,
  parseReport,
  type Report,
  type Usage,
} from '../../lib/metrics/index.js';

/** A seeded generator: the same samples every run. */
function rng(seed: number): () => number {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

const oracle = (sorted: number[], q: number) => sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;

t.test('bucket edges: each sample falls in the bucket whose edges hold it', async (t) => {
  for (const ms of [0.011, 0.05, 0.3, 1, 7.5, 42, 999, 12_345]) {
    const i = bucketOf(ms);
    t.ok(lowerEdge(i) <= ms && ms < lowerEdge(i + 1), `${ms} ms in bucket ${i} [${lowerEdge(i)}, ${lowerEdge(i + 1)})`);
  }
  t.equal(bucketOf(0), 0, 'zero: the first bucket');
  t.equal(bucketOf(1e9), BUCKET_COUNT - 1, 'beyond the last edge: the last bucket');
});

t.test('quantiles are within one bucket of the sorted-array oracle', async (t) => {
  const next = rng(7);
  for (const [label, gen] of [
    ['uniform 0.1..10 ms', () => 0.1 + next() * 9.9],
    ['log-normal around 1 ms', () => Math.exp((next() + next() + next() - 1.5) * 2)],
    ['bimodal 0.5 ms / 40 ms', () => (next() < 0.9 ? 0.5 + next() * 0.1 : 40 + next() * 5)],
  ] as Array<[string, () => number]>) {
    const h = new Histogram();
    const samples = Array.from({ length: 5000 }, gen);
    for (const s of samples) h.record(s);
    const sorted = [...samples].sort((a, b) => a - b);
    for (const q of [0.01, 0.5, 0.9, 0.99, 0.999, 1]) {
      const got = h.quantile(q)!;
      const want = oracle(sorted, q);
      t.ok(got / want <= BUCKET_RATIO && want / got <= BUCKET_RATIO, `${label}: p${q * 100} ${got.toFixed(4)} vs ${want.toFixed(4)}`);
    }
    t.equal(h.count, 5000);
    t.equal(h.min, sorted[0]);
    t.equal(h.max, sorted[sorted.length - 1]);
    t.ok(Math.abs(h.sum - samples.reduce((a, b) => a + b, 0)) < 1e-6, 'sum');
  }
  t.equal(new Histogram().quantile(0.5), undefined, 'no samples: no quantile');
});

t.test('windows merge exactly: the merge of parts is the histogram of the whole', async (t) => {
  const next = rng(11);
  const whole = new Histogram();
  const parts = [new Histogram(), new Histogram(), new Histogram()];
  for (let i = 0; i < 3000; i++) {
    const ms = next() * 50;
    whole.record(ms);
    parts[i % 3]!.record(ms);
  }
  const merged = new Histogram();
  for (const p of parts) merged.merge(JSON.parse(JSON.stringify(p.toWindow())));
  t.same([...merged.buckets], [...whole.buckets], 'the same bucket counts');
  t.equal(merged.count, whole.count);
  t.equal(merged.min, whole.min);
  t.equal(merged.max, whole.max);
  for (const q of [0.5, 0.99]) t.equal(merged.quantile(q), whole.quantile(q), `p${q * 100}`);
  const before = merged.count;
  merged.merge(new Histogram().toWindow());
  t.equal(merged.count, before, 'an empty window changes nothing');
});

const fakeUsage = (cpuUs: { user: number; system: number }, mem = { rss: 50e6, heapUsed: 10e6 }): Usage => ({ cpu: () => ({ ...cpuUs }), memory: () => ({ ...mem }) });

t.test('the recorder closes a window into a report and starts the next', async (t) => {
  const cpu = { user: 1_500_000, system: 250_000 };
  let now = 1000;
  const r = new MetricsRecorder('S1', fakeUsage(cpu), () => now);
  r.link('S2', 'log').record(0.4);
  r.link('S2', 'log').record(0.6);
  r.link('S3', 'log');
  r.countsRequests = true;
  r.requests = 7;
  const report = r.close();
  t.same(report, { process: 'S1', at: 1000, cpu: { user: 1.5, system: 0.25 }, rss: 50e6, heap: 10e6, requests: 7, links: [{ to: 'S2', kind: 'log', count: 2, sum: 1, min: 0.4, max: 0.6, buckets: [bucketOf(0.4), 1, bucketOf(0.6), 1] }] }, 'one link with samples, CPU in seconds, the request count');
  now = 2000;
  cpu.user = 2_000_000;
  const second = r.close();
  t.same(second.links, [], 'the next window starts empty (an idle link is left out)');
  t.equal(second.cpu.user, 2);
  r.link('S2', 'log').record(1);
  r.drop('S2');
  t.same(r.close().links, [], 'a dropped peer has no link');
  t.equal(new MetricsRecorder('LFD1', fakeUsage(cpu)).close().requests, undefined, 'only a replica counts requests');
});

t.test('the reporter sends one report per tick, and holds back one that is too large', async (t) => {
  const sent: string[] = [];
  const big: Report[] = [];
  const r = new MetricsRecorder('GFD', fakeUsage({ user: 0, system: 0 }));
  const reporter = new Reporter(r, (text) => sent.push(text), (rep) => big.push(rep));
  r.link('LFD1', 'heartbeat').record(2);
  reporter.tick();
  t.equal(sent.length, 1);
  t.equal(parseReport(sent[0]!).links[0]!.to, 'LFD1');
  for (let i = 0; i < MAX_REPORT_LINKS + 1; i++) r.link(`LFD${i}`, 'heartbeat').record(i + 0.5);
  reporter.tick();
  t.equal(sent.length, 1, 'too many links: not sent');
  t.equal(big.length, 1, 'and said');
  for (let i = 0; i < 200; i++) r.link(`LFD${i}`, 'heartbeat').record(i + 0.5);
  reporter.tick();
  t.equal(sent.length, 2, 'fewer: sent');
  t.ok(sent[1]!.length < MAX_REPORT_BYTES, `${sent[1]!.length} bytes for 200 links`);
});

t.test('cumulative acks settle every entry up to their seq, each one sample', async (t) => {
  const h = new Histogram();
  const p = new PendingAcks(h, 4);
  p.sent(1, 100);
  p.sent(2, 110);
  p.sent(3, 120);
  p.acked(2, 130);
  t.equal(h.count, 2, 'entries 1 and 2');
  t.equal(h.max, 30);
  t.equal(h.min, 20);
  t.equal(p.waiting, 1);
  p.acked(2, 200);
  t.equal(h.count, 2, 'an ack seen before settles nothing more');
  for (let seq = 4; seq <= 9; seq++) p.sent(seq, 300 + seq);
  t.equal(p.waiting, 4, 'the ring keeps the newest entries');
  p.acked(9, 400);
  t.equal(h.count, 6, 'the overwritten ones are never counted');
  p.sent(20, 500);
  p.sent(5, 510);
  t.equal(p.waiting, 1, 'a seq going back (a new epoch) starts afresh');
  p.clear();
  p.acked(100, 600);
  t.equal(h.count, 6, 'cleared: nothing to settle');
});

t.test('parseReport refuses what is too large or malformed, with a reason', async (t) => {
  const good: Report = { process: 'C1', at: 1, cpu: { user: 0.1, system: 0 }, rss: 1, heap: 1, links: [{ to: 'S1', kind: 'request', count: 1, sum: 1, min: 1, max: 1, buckets: [bucketOf(1), 1] }] };
  t.same(parseReport(encodeReport(good)!), good, 'a good report round-trips');
  const bad: Array<[string, string, RegExp]> = [
    ['too large', ' '.repeat(MAX_REPORT_BYTES + 1), /over the 65536-byte limit/],
    ['not JSON', '{', /not JSON/],
    ['not an object', '3', /not an object/],
    ['no process', JSON.stringify({ ...good, process: 'a b' }), /process name/],
    ['negative rss', JSON.stringify({ ...good, rss: -1 }), /rss/],
    ['no cpu', JSON.stringify({ ...good, cpu: 1 }), /cpu/],
    ['unknown kind', JSON.stringify({ ...good, links: [{ ...good.links[0], kind: 'gossip' }] }), /link kind "gossip"/],
    ['min over max', JSON.stringify({ ...good, links: [{ ...good.links[0], min: 5, max: 1 }] }), /min ≤ max/],
    ['odd buckets', JSON.stringify({ ...good, links: [{ ...good.links[0], buckets: [1] }] }), /index, count pairs/],
    ['bucket out of range', JSON.stringify({ ...good, links: [{ ...good.links[0], buckets: [BUCKET_COUNT, 1] }] }), /bad bucket/],
    ['links not a list', JSON.stringify({ ...good, links: {} }), /links must be a list/],
  ];
  for (const [label, text, reason] of bad) t.throws(() => parseReport(text), { name: 'MetricsReportError', message: reason }, label);
  t.ok(new MetricsReportError('x') instanceof Error);
});

t.test('a heartbeat monitor gives the round trip of each answer in time', async (t) => {
  const { HeartbeatMonitor } = await import('../../lib/detect/heartbeat.js');
  let now = 0;
  const timers: Array<{ at: number; fn: () => void }> = [];
  const clock = { now: () => now, setTimeout: (fn: () => void, ms: number) => timers.push({ at: now + ms, fn }), clearTimeout: () => {} };
  const rtts: number[] = [];
  const m = new HeartbeatMonitor({ periodMs: 100, timeoutMs: 200, clock, send: () => {}, onAlive: () => {}, onTimeout: () => {}, onRtt: (ms) => rtts.push(ms) });
  m.start();
  now = 3;
  m.answer(1);
  now = 100;
  timers.find((x) => x.at === 100)!.fn();
  now = 107;
  m.answer(2);
  m.answer(2);
  m.stop();
  t.same(rtts, [3, 7], 'one sample per answered heartbeat, none for a repeated answer');
});

t.test('a probe passes on only good reports of processes the sender speaks for, and says why it refused the others', async (t) => {
  const { MetricsProbe } = await import('../../lib/metrics/probe.js');
  const { Tracer } = await import('../../lib/trace/index.js');
  const tracer = new Tracer('LFD1');
  const refused: string[] = [];
  tracer.on('event', (e) => e.type === 'metrics_refused' && refused.push(e.text));
  const sent: unknown[] = [];
  const upstream = { peer: 'GFD', send: (msg: unknown) => sent.push(msg) };
  const probe = new MetricsProbe({ me: 'LFD1', tracer, upstream: () => upstream as never, usage: fakeUsage({ user: 0, system: 0 }) });
  const good = encodeReport({ process: 'S1', at: 1, cpu: { user: 0, system: 0 }, rss: 1, heap: 1, links: [] })!;
  const mine = (p: string) => p === 'S1';
  probe.relay({ type: 'metrics', from: 'S1', to: 'LFD1', report: good }, mine);
  probe.relay({ type: 'metrics', from: 'S2', to: 'LFD1', report: good.replace('"S1"', '"S2"') }, mine);
  probe.relay({ type: 'metrics', from: 'S1', to: 'LFD1', report: 'x'.repeat(MAX_REPORT_BYTES + 1) }, mine);
  t.same(sent, [{ type: 'metrics', from: 'LFD1', to: 'GFD', report: good }], 'the good one, unchanged, from this hop to its upstream');
  t.same(refused, ['LFD1: metrics report from S2 refused: it reports for S2, which it does not speak for', `LFD1: metrics report from S1 refused: bad metrics report: ${MAX_REPORT_BYTES + 1} bytes, over the ${MAX_REPORT_BYTES}-byte limit`]);
});
