/**
 * The fail-slow faults a replica injects into itself (servers/slow.ts): what each does, how long
 * it lasts, and the orders refused.
 */
import t from 'tap';
import { SlowFaults } from '../../servers/slow.js';
import { checkSlowOrder } from '../../lib/faults.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';

t.test('orders: the ones that make sense, and why others are refused', async (t) => {
  t.equal(checkSlowOrder({ kind: 'delay', amount: 50, seconds: 10 }), undefined);
  t.equal(checkSlowOrder({ kind: 'clear', amount: 0, seconds: 0 }), undefined);
  t.match(checkSlowOrder({ kind: 'slow' as never, amount: 1, seconds: 0 }), /unknown fault "slow": cpu-hog, mem-hog, delay or clear/);
  t.match(checkSlowOrder({ kind: 'cpu-hog', amount: 100, seconds: 0 }), /at most 99 ms of every 100 ms/);
  t.match(checkSlowOrder({ kind: 'delay', amount: 0, seconds: 0 }), /delay takes a time in ms/);
  t.match(checkSlowOrder({ kind: 'mem-hog', amount: -1, seconds: 0 }), /≥ 0/);
  t.match(checkSlowOrder({ kind: 'delay', amount: 5, seconds: NaN }), /duration/);
  t.throws(() => new SlowFaults().start({ kind: 'cpu-hog', amount: 500, seconds: 0 }), RangeError);
});

t.test('delay: every message held for the time given, until the fault ends by itself', async (t) => {
  const f = new SlowFaults();
  f.start({ kind: 'delay', amount: 50, seconds: 0.2 });
  t.equal(f.delayMs, 50);
  t.equal(f.describe(), 'delay 50 ms for 0.2 s');
  await new Promise<void>((resolve) => {
    const check = setInterval(() => f.delayMs === 0 && (clearInterval(check), resolve()), 20);
  });
  t.equal(f.describe(), 'none', 'over after its 0.2 s');
});

t.test('cpu-hog: the event loop is blocked for most of each 100 ms until cleared', async (t) => {
  const f = new SlowFaults();
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  f.start({ kind: 'cpu-hog', amount: 60, seconds: 0 });
  const cpu = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 500));
  f.clear();
  h.disable();
  const burnt = (process.cpuUsage(cpu).user + process.cpuUsage(cpu).system) / 1000;
  // Burning is by the wall clock: on a busy machine part of it is spent descheduled, so the CPU is a floor.
  t.ok(burnt >= 60, `CPU burnt in 0.5 s: ${burnt.toFixed(0)} ms`);
  t.ok(h.max / 1e6 >= 50, `the loop was held up to ${(h.max / 1e6).toFixed(0)} ms at a time`);
});

t.test('mem-hog: the resident memory grows while it runs and is let go when cleared', async (t) => {
  const f = new SlowFaults();
  const before = process.memoryUsage().rss;
  const started = performance.now();
  f.start({ kind: 'mem-hog', amount: 200, seconds: 0 });
  // It grows in 2 MB steps every 10 ms: as fast as this machine faults the pages in, at most 200 MB/s.
  const grown = await new Promise<number>((resolve) => {
    const check = setInterval(() => {
      const mb = (process.memoryUsage().rss - before) / 1048576;
      if (mb < 50 && performance.now() - started < 5000) return;
      clearInterval(check);
      resolve(mb);
    }, 20);
  });
  t.ok(grown >= 50, `RSS grew by ${grown.toFixed(0)} MB in ${((performance.now() - started) / 1000).toFixed(2)} s at up to 200 MB/s`);
  t.match(f.describe(), /^mem-hog 200 MB\/s \(\d+ MB so far\)$/);
  f.clear();
  t.equal(f.describe(), 'none');
});
