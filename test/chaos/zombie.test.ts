/**
 * The checker sees what an outside checker sees: in active mode, a sequencer that is
 * paused, replaced by the RM and resumed must not answer from its own, deposed order
 * (issue 11). The servers run with FTKIT_FAULT=early-reply (servers/core/replica.ts: a
 * deliberately broken build in which active replicas reply as soon as they apply,
 * without waiting for the order to be committed). The stale-view client is pointed at
 * the leader before it is paused, so its requests queue in the paused leader's socket;
 * the run must report an anomaly of the whole history that involves that client.
 *
 * The anomaly depends on timing: a request must be in the paused leader's socket when
 * it resumes, and the leader must handle it before it learns of the new epoch, which
 * happened on about every other leader pause on a loaded 2-core machine. So the test
 * tries fixed seeds in order until one run shows it (seed 3 did on its own when the
 * test was written); eight seeds that all miss would be a failure.
 */
import t from 'tap';
import { runChaos } from '../../harness/chaos/runner.js';
import type { RunReport } from '../../harness/chaos/report.js';
import { STALE_CLIENT_PREFIX } from '../../harness/chaos/client.js';
import { formatAnomaly } from '../../harness/chaos/report.js';

const SEEDS = [3, 1, 2, 4, 5, 6, 7, 8];
const DURATION_S = 5;

// Up to eight runs of about 17 s each, though the first one usually suffices.
t.setTimeout(300_000);

t.test('active chaos against a build whose resumed sequencer answers from its deposed order reports non-linearizable operations', async (t) => {
  let found: RunReport | undefined;
  const tried: string[] = [];
  for (const seed of SEEDS) {
    const r = await runChaos({ mode: 'active', seed, durationS: DURATION_S, faults: ['pause-leader', 'pause-machine'], double: 0, serverEnv: { FTKIT_FAULT: 'early-reply' } });
    const paused = r.injected.filter((f) => !f.skipped).length;
    tried.push(`seed ${seed}: ${paused} leader/machine pauses, ${r.anomalies.length} anomalies`);
    t.ok(paused > 0, `seed ${seed}: the leader was paused ${paused} times`);
    if (r.anomalies.some((a) => a.ops.some((o) => o.process.startsWith(STALE_CLIENT_PREFIX)))) {
      found = r;
      break;
    }
  }
  t.comment(tried.join('\n'));
  t.ok(found, `an anomaly involving the stale-view client within seeds ${SEEDS.join(', ')}`);
  if (!found) return;
  for (const a of found.anomalies.slice(0, 3)) t.comment(formatAnomaly(a).join('\n'));
  t.equal(found.stats.linearizable, false, 'the history is not linearizable');
  const stale = found.anomalies.find((a) => a.ops.some((o) => o.process.startsWith(STALE_CLIENT_PREFIX)))!;
  t.ok(stale.ops.some((o) => o.process.startsWith(STALE_CLIENT_PREFIX) && o.outcome === 'ok'), `the excerpt holds an answer the stale-view client got: ${stale.kind}`);
  t.ok(['lost', 'wrong-index', 'read-not-prefix', 'stale-read', 'future-read', 'nonmonotonic-read', 'realtime-order', 'client-order', 'not-linearizable'].includes(stale.kind), `a linearizability anomaly: ${stale.kind}`);
});
