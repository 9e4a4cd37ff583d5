/**
 * `npm run chaos -- --durable`: durable replicas, and the kill-all fault (every replica of the
 * group killed at the same instant, then started again, each from its data dir): the history
 * stays linearizable and nothing acknowledged is lost. The schedule draws kill-all only when
 * asked, so the default schedules are the ones they were.
 */
import t from 'tap';
import { runChaos } from '../../harness/chaos/runner.js';
import { formatAnomaly, formatRun } from '../../harness/chaos/report.js';
import { makeSchedule, LOOPBACK_FAULT_KINDS } from '../../harness/chaos/schedule.js';

t.setTimeout(150_000);

t.test('kill-all is drawn only when asked, and never with a second replica fault', async (t) => {
  for (let seed = 0; seed < 50; seed++) {
    const plain = makeSchedule({ seed, durationMs: 20_000, kinds: LOOPBACK_FAULT_KINDS });
    if (plain.some((s) => s.fault.kind === 'kill-all' || s.overlap?.fault.kind === 'kill-all')) t.fail(`seed ${seed}: kill-all without being asked`);
    const durable = makeSchedule({ seed, durationMs: 20_000, kinds: [...LOOPBACK_FAULT_KINDS, 'kill-all'], double: 0.5 });
    for (const s of durable) {
      if (s.fault.kind === 'kill-all' && s.overlap && s.overlap.fault.kind !== 'restart-gfd' && s.overlap.fault.kind !== 'restart-rm' && !s.overlap.fault.kind.startsWith('net-')) t.fail(`seed ${seed}: kill-all with ${s.overlap.fault.kind}`);
      if (s.overlap?.fault.kind === 'kill-all') t.fail(`seed ${seed}: kill-all drawn as the second fault`);
    }
  }
  t.ok(makeSchedule({ seed: 1, durationMs: 20_000, kinds: ['kill-all'] }).every((s) => s.fault.kind === 'kill-all'));
});

// Passive here; active mode's kill-all is test/system/durable-active.test.ts, and `npm run chaos -- --durable --mode both` runs both.
for (const [mode, seed] of [['passive', 11]] as const) {
  t.test(`${mode}: kill-all on durable replicas, seed ${seed}: linearizable, nothing lost`, async (t) => {
    const r = await runChaos({ mode, seed, durationS: 8, durable: true, faults: ['kill-all'] });
    t.comment(formatRun(r).join('\n'));
    const killAll = r.injected.filter((f) => f.kind === 'kill-all' && !f.skipped);
    t.ok(killAll.length > 0, `${killAll.length} kill-all faults injected`);
    t.ok(r.stats.appends.ok > 50, `${r.stats.appends.ok} acknowledged appends`);
    t.ok(r.final.replicas.length > 0, 'the final state was compared across replicas');
    t.same(r.anomalies.flatMap(formatAnomaly), [], `no anomaly (reproduce: npm run chaos -- --durable --faults kill-all --mode ${mode} --seed ${seed} --runs 1 --duration 8)`);
  });
}
