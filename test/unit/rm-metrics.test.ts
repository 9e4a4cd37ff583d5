/**
 * rm/metrics.ts: the RM's store of reports, on a clock the test turns: the sliding window, CPU %
 * from cumulative CPU seconds, bounded memory however long reports come, a process that stops
 * reporting shown stale and then forgotten, and reports refused for good reasons.
 */
import t from 'tap';
import { Histogram, encodeReport, type LinkReport, type Report } from '../../lib/metrics/index.js';
import { MAX_WINDOWS, MetricsStore, RETAIN_MS, STALE_MS } from '../../rm/metrics.js';

function link(to: string, samples: number[], kind: LinkReport['kind'] = 'heartbeat'): LinkReport {
  const h = new Histogram();
  for (const s of samples) h.record(s);
  return { to, kind, ...h.toWindow() };
}

const report = (process: string, at: number, cpuSeconds: number, links: LinkReport[] = [], extra: Partial<Report> = {}): Report => ({
  process,
  at,
  cpu: { user: cpuSeconds * 0.75, system: cpuSeconds * 0.25 },
  rss: 50 * 2 ** 20,
  heap: 10 * 2 ** 20,
  links,
  ...extra,
});

t.test('a link over the sliding window: count, min, avg, quantiles, max; older windows drop out', async (t) => {
  const store = new MetricsStore();
  store.add(report('LFD1', 0, 0, [link('S1', [100])]), 0);
  for (let s = 1; s <= 10; s++) store.add(report('LFD1', s * 1000, 0, [link('S1', [1, 2, 3])]), s * 1000);
  const m = store.summary(10_000, 10_000);
  const l = m.links.find((l) => l.to === 'S1')!;
  t.equal(l.count, 30, 'ten windows of three, the first (at 0) outside the last 10 s');
  t.equal(l.min, 1);
  t.equal(l.max, 3);
  t.equal(l.avg, 2);
  t.ok(l.p50! >= 1 && l.p50! <= 3 && l.p99! >= l.p50! && l.p99! <= 3, `p50 ${l.p50}, p99 ${l.p99}`);
  t.equal(l.totalCount, 31, 'the running total counts every window ever kept');
  t.equal(l.totalSumMs, 160);
  t.equal(l.stale, false);
  const wide = store.summary(10_000, 60_000).links[0]!;
  t.equal(wide.max, 100, 'a wider window reaches the older one');
  t.equal(store.histogram('LFD1', 'S1', 'heartbeat', 5_000).count, 15, 'histogram(): the merged windows since a time');
});

t.test('CPU % from the cumulative CPU seconds between the first and last report in the window', async (t) => {
  const store = new MetricsStore();
  // 0.25 CPU seconds per second of the sender's clock: 25 %.
  for (let s = 0; s <= 5; s++) store.add(report('S1', 1_000_000 + s * 1000, s * 0.25, [], { requests: s * 10 }), s * 1000);
  const p = store.summary(5000).processes[0]!;
  t.equal(p.cpu, 25);
  t.equal(p.cpuSeconds, 1.25);
  t.equal(p.rss, 50 * 2 ** 20);
  t.equal(p.heap, 10 * 2 ** 20);
  t.equal(p.requests, 50, 'the requests it last counted');
  t.equal(p.stale, false);
  const one = new MetricsStore();
  one.add(report('S2', 0, 1), 0);
  t.equal(one.summary(0).processes[0]!.cpu, null, 'one report: no CPU % yet');
});

t.test('memory stays bounded: windows are kept for RETAIN_MS and at most MAX_WINDOWS', async (t) => {
  const store = new MetricsStore();
  const seconds = RETAIN_MS / 1000 + 200;
  for (let s = 0; s < seconds; s++) store.add(report('LFD1', s * 1000, 0, [link('S1', [1])]), s * 1000);
  const now = (seconds - 1) * 1000;
  t.equal(store.histogram('LFD1', 'S1', 'heartbeat', -1).count, RETAIN_MS / 1000 + 1, 'only the last five minutes of windows');
  // A sender that reports far too often, on one instant of the RM's clock.
  for (let i = 0; i < 3 * MAX_WINDOWS; i++) store.add(report('LFD2', i, 0, [link('S2', [1])]), now);
  t.equal(store.histogram('LFD2', 'S2', 'heartbeat', -1).count, MAX_WINDOWS, 'never more than MAX_WINDOWS');
});

t.test('a process that stops reporting goes stale, its links with it, and is forgotten after RETAIN_MS', async (t) => {
  const store = new MetricsStore();
  for (let s = 0; s <= 3; s++) {
    store.add(report('LFD1', s * 1000, 0, [link('S1', [1]), ...(s < 2 ? [link('S2', [1])] : [])]), s * 1000);
    store.add(report('S1', s * 1000, 0), s * 1000);
    if (s < 2) store.add(report('S2', s * 1000, 0), s * 1000);
  }
  let m = store.summary(3000);
  t.equal(m.processes.find((p) => p.process === 'S2')!.stale, false, 'S2 silent for 2 s: not stale yet');
  m = store.summary(1000 + STALE_MS + 1);
  t.equal(m.processes.find((p) => p.process === 'S2')!.stale, true, `S2 silent for more than ${STALE_MS} ms: stale`);
  t.equal(m.links.find((l) => l.to === 'S2')!.stale, true, 'and the link to it');
  t.equal(m.processes.find((p) => p.process === 'S1')!.stale, false, 'S1 still reporting');
  t.equal(m.links.find((l) => l.to === 'S1')!.stale, false, 'and its link live');
  m = store.summary(1000 + RETAIN_MS + 1);
  t.notOk(m.processes.some((p) => p.process === 'S2'), 'forgotten after RETAIN_MS');
  t.notOk(m.links.some((l) => l.to === 'S2'), 'its links too');
  t.ok(store.isStale('nobody'), 'a process never heard of counts as stale');
});

t.test('receive(): refused reports are said, with why; good ones kept', async (t) => {
  const refused: string[] = [];
  const store = new MetricsStore((from, reason) => refused.push(`${from}: ${reason}`));
  const msg = (from: string, r: string) => ({ type: 'metrics' as const, from, to: 'RM', report: r });
  store.receive(msg('C1', encodeReport(report('C1', 0, 0, [link('S1', [2], 'request')]))!), (p) => p === 'C1', 0);
  store.receive(msg('C1', encodeReport(report('C2', 0, 0))!), (p) => p === 'C1', 0);
  store.receive(msg('GFD', '{"process":'), () => true, 0);
  store.receive(msg('GFD', '{"process":'), () => true, 0);
  t.same(refused, ['C1: it reports for C2, which it does not speak for', 'GFD: bad metrics report: not JSON'], 'a name not its own, then bad JSON (said once, though sent twice)');
  const m = store.summary(0);
  t.same(m.processes.map((p) => p.process), ['C1']);
  t.equal(m.links[0]!.kind, 'request');
});

t.test('the same refusal is said once a minute', async (t) => {
  const { RefusalLimiter, REFUSAL_REPEAT_MS } = await import('../../lib/metrics/index.js');
  const l = new RefusalLimiter();
  t.equal(l.shouldSay('S1', 'bad', 0), true);
  t.equal(l.shouldSay('S1', 'bad', 1000), false, 'again within the minute: not said');
  t.equal(l.shouldSay('S2', 'bad', 1000), true, 'another sender: said');
  t.equal(l.shouldSay('S1', 'other', 1000), true, 'another reason: said');
  t.equal(l.shouldSay('S1', 'bad', REFUSAL_REPEAT_MS), true, 'a minute later: said again');
});

t.test('series for graphs: a link window by window, a process report by report; every report is announced', async (t) => {
  const store = new MetricsStore();
  const seen: string[] = [];
  store.on('report', (r, at) => seen.push(`${r.process}@${at}`));
  for (let s = 0; s < 4; s++) store.add(report('S1', s * 1000, s * 0.5, [link('S2', s === 2 ? [] : [s + 1, s + 3], 'log')]), s * 1000);
  t.same(seen, ['S1@0', 'S1@1000', 'S1@2000', 'S1@3000']);
  const l = store.linkSeries('S1', 'S2', 'log', 500);
  t.same(l.map((p) => [p.at, p.count, p.avg, p.max]), [[1000, 2, 3, 4], [2000, 0, null, null], [3000, 2, 5, 6]], 'one point per window since the time asked, an empty window with no latency');
  t.ok(l[0]!.p99! >= 3 && l[0]!.p99! <= 4, 'p99 within the window');
  const p = store.processSeries('S1', -1);
  t.same(p.map((x) => x.cpu), [null, 50, 50, 50], 'CPU % between consecutive reports');
  t.same(store.linkSeries('S1', 'nobody', 'log', 0), [], 'an unknown link: no points');
  t.same(store.processSeries('nobody', 0), []);
});

t.test('beyond MAX_PROCESSES a new process is refused; a link with no sample in the window is stale', async (t) => {
  const { MAX_PROCESSES } = await import('../../rm/metrics.js');
  const store = new MetricsStore();
  const refusals = Array.from({ length: MAX_PROCESSES }, (_, i) => store.add(report(`C${i}`, 0, 0), 0)).filter(Boolean);
  t.same(refusals, [], `${MAX_PROCESSES} processes kept`);
  t.match(store.add(report('late', 0, 0), 0), /already 1000 processes reporting/, 'one more is refused, with why');
  t.equal(store.add(report('C1', 1000, 0), 1000), undefined, 'one already known still reports');
  const quiet = new MetricsStore();
  quiet.add(report('LFD1', 0, 0, [link('S1', [1])]), 0);
  for (let s = 1; s <= 11; s++) quiet.add(report('LFD1', s * 1000, 0, []), s * 1000);
  const l = quiet.summary(11_000).links[0]!;
  t.equal(l.count, 0, 'no sample in the last 10 s');
  t.equal(l.stale, true, 'stale, though its reporter is not');
  t.equal(l.avg, null);
});
