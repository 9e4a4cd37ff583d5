/**
 * The chaos harness's fail-slow faults (cpu-hog, mem-hog, delay), injected through the RM as
 * `ftkit ctl fault` does and cleared after their hold: drawn only when asked (the default
 * schedules are the ones they were), and a short run with the RM evicting a slow leader
 * (`--evict-slow`) keeps the history linearizable.
 */
import t from 'tap';
import { runChaos } from '../../harness/chaos/runner.js';
import { formatAnomaly, formatRun } from '../../harness/chaos/report.js';
import { LOOPBACK_FAULT_KINDS, SLOW_FAULT_KINDS, describeFault, isSlowFault, makeSchedule } from '../../harness/chaos/schedule.js';

t.setTimeout(120_000);

t.test('fail-slow kinds are drawn only when asked, each with an amount and a hold', async (t) => {
  for (let seed = 0; seed < 50; seed++) {
    const plain = makeSchedule({ seed, durationMs: 20_000, kinds: LOOPBACK_FAULT_KINDS });
    if (plain.some((s) => isSlowFault(s.fault.kind) || (s.overlap && isSlowFault(s.overlap.fault.kind)))) t.fail(`seed ${seed}: a fail-slow fault without being asked`);
    t.same(makeSchedule({ seed, durationMs: 20_000 }), plain, `seed ${seed}: the default schedule is unchanged`);
  }
  const slow = makeSchedule({ seed: 3, durationMs: 60_000, kinds: SLOW_FAULT_KINDS });
  t.ok(slow.length > 3);
  for (const { fault: f } of slow) {
    t.ok(isSlowFault(f.kind) && (f.target === 'leader' || f.target === 'follower'), describeFault(f));
    const [min, max] = f.kind === 'cpu-hog' ? [40, 80] : f.kind === 'mem-hog' ? [20, 60] : [20, 200];
    t.ok(f.amount! >= min && f.amount! <= max && f.holdMs >= 2000 && f.holdMs <= 9000, `${f.kind} ${f.amount}, ${f.holdMs} ms`);
  }
  t.match(describeFault({ kind: 'delay', target: 'leader', pick: 0, holdMs: 3000, amount: 50 }), 'delay leader +50 ms on all it sends (for 3.00s)');
});

// Seed 759: a delay of 156 ms on the leader for 8.6 s (long enough to be flagged and evicted), then a CPU hog on the leader with one on a follower.
t.test('passive, fail-slow faults with --evict-slow, seed 759: linearizable, nothing lost', async (t) => {
  const progress: string[] = [];
  const r = await runChaos({ mode: 'passive', seed: 759, durationS: 12, faults: SLOW_FAULT_KINDS, evictSlow: true, log: (line) => progress.push(line) });
  t.comment(progress.filter((l) => / #\d+ /.test(l)).join('\n'));
  t.comment(formatRun(r).join('\n'));
  const flagged = progress.filter((l) => /the RM flagged S\d fail-slow/.test(l));
  t.ok(flagged.length >= 1, `the RM flagged a slow replica: ${flagged.join('; ')}`);
  const injected = r.injected.filter((f) => isSlowFault(f.kind) && !f.skipped);
  // The schedule has two; on a loaded machine the system starts late and the run ends after the first.
  t.ok(injected.length >= 1, `${injected.length} fail-slow fault(s) injected: ${injected.map((f) => `${f.description} on ${f.target}`).join('; ')}`);
  t.ok(r.stats.appends.ok > 50, `${r.stats.appends.ok} acknowledged appends`);
  t.ok(r.final.replicas.length > 0, 'the final state was compared across replicas');
  t.same(r.anomalies.flatMap(formatAnomaly), [], 'no anomaly (reproduce: npm run chaos -- --faults cpu-hog,mem-hog,delay --evict-slow --mode passive --seed 759 --runs 1 --duration 12)');
});
