/**
 * The sns workload's check catches a real bug: against a deliberately broken build (servers run
 * with FTKIT_FAULT=skip-log-replay: a backup made primary drops the requests logged since the last
 * checkpoint instead of replaying them), a run that kills a primary must report acknowledged posts
 * lost, each with its post in the excerpt.
 */
import t from 'tap';
import { runSnsChaos } from '../../harness/chaos/sns-run.js';
import { formatRun } from '../../harness/chaos/report.js';

t.setTimeout(90_000);

t.test('sns against a build whose new primary skips log replay: acknowledged posts are reported lost', async (t) => {
  const report = await runSnsChaos({ mode: 'passive', seed: 8, durationS: 5, faults: ['kill-leader'], serverEnv: { FTKIT_FAULT: 'skip-log-replay' }, drainTimeoutMs: 3000, setupTimeoutMs: 5000, heartbeat: 0.25 });
  t.ok(report.injected.some((f) => f.kind === 'kill-leader' && !f.skipped), 'a primary was killed');
  const lost = report.anomalies.filter((a) => a.kind === 'lost');
  t.ok(lost.length > 0, `the check reports lost posts (${lost.length} shown):\n${formatRun(report).join('\n')}`);
  const posts = lost.filter((a) => a.ops.length > 0);
  t.ok(posts.length > 0, 'acknowledged posts among them');
  t.ok(posts.every((a) => a.ops.length === 1 && a.ops[0]!.outcome === 'ok' && a.ops[0]!.result === 'ok'), 'each with its acknowledged post in its excerpt');
});
