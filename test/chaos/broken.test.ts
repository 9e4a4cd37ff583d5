/**
 * The checker catches a real bug: a passive backup promoted to primary that does not
 * replay its log past the last checkpoint loses acknowledged appends. The servers run
 * with FTKIT_FAULT=skip-log-replay (read by servers/server.ts, carried out by servers/core/primary.ts: a deliberately broken build);
 * the chaos run kills the primary and must report lost acknowledged appends.
 */
import t from 'tap';
import { runChaos } from '../../harness/chaos/runner.js';
import { formatAnomaly } from '../../harness/chaos/report.js';

t.test('passive chaos against a build whose new primary skips log replay reports lost appends', async (t) => {
  const r = await runChaos({ mode: 'passive', seed: 1, durationS: 6, faults: ['kill-leader'], serverEnv: { FTKIT_FAULT: 'skip-log-replay' } });
  const killed = r.injected.filter((f) => f.kind === 'kill-leader' && !f.skipped);
  t.ok(killed.length > 0, `the primary was killed ${killed.length} times`);
  const lost = r.anomalies.filter((a) => a.kind === 'lost');
  t.ok(lost.length > 0, `the checker reports lost acknowledged appends (${lost.length} shown)`);
  for (const a of lost.slice(0, 2)) t.comment(formatAnomaly(a).join('\n'));
  t.ok(lost.every((a) => a.ops.some((o) => o.op === 'append' && o.outcome === 'ok')), 'each with the acknowledged append in its excerpt');
});
