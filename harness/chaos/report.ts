/** Human-readable chaos reports: one per run, and totals over runs. */
import type { Op } from './history.js';
import { STALE_CLIENT_PREFIX } from './client.js';
import type { Anomaly } from './checker.js';
import type { RunReport } from './runner.js';

const secs = (ms: number | undefined) => (ms === undefined ? '?' : `${(ms / 1000).toFixed(3)}s`);

/** The gist of a read result: its length and last items. */
function readGist(result: string | undefined): string {
  try {
    const items = JSON.parse(result ?? '') as string[];
    if (!Array.isArray(items)) throw new Error();
    const tail = items.slice(-3).map((x) => JSON.stringify(x)).join(', ');
    return `${items.length} entries${items.length ? ` [${items.length > 3 ? '…, ' : ''}${tail}]` : ''}`;
  } catch {
    return JSON.stringify((result ?? '').slice(0, 60));
  }
}

/** One operation on one line: `[1.203s → 1.210s] C2 append C2-17  ok → 412 (S1)`. */
export function formatOp(op: Op): string {
  const what = op.op === 'append' ? `append ${op.value}` : 'read';
  let outcome: string;
  if (op.outcome === 'ok') outcome = `ok → ${op.op === 'read' ? readGist(op.result) : op.result} (${op.server})`;
  else outcome = `${op.outcome}${op.note ? ` (${op.note})` : ''}`;
  return `[${secs(op.invokeTime).padStart(8)} → ${secs(op.completeTime).padStart(8)}] ${op.process} #${op.num ?? '?'} ${what}  ${outcome}`;
}

export function formatAnomaly(a: Anomaly): string[] {
  return [`ANOMALY ${a.kind}: ${a.message}`, ...a.ops.map((op) => `    ${formatOp(op)}`)];
}

export function formatRun(r: RunReport, index?: { run: number; of: number }, verbose = false): string[] {
  const s = r.stats;
  const head = `== chaos ${index ? `run ${index.run}/${index.of}: ` : ''}mode ${r.mode}, seed ${r.seed}, ${r.durationS} s ==`;
  const lines = [head, `schedule (seed ${r.seed}):`, ...r.schedule.map((l) => `  ${l}`), 'faults injected:'];
  for (const f of r.injected) {
    const at = `[${secs(f.at).padStart(8)}]`;
    if (f.skipped) lines.push(`  ${at} #${f.step} ${f.description}: skipped (${f.skipped})`);
    else {
      const healed = f.healedAt !== undefined ? `, healed at ${secs(f.healedAt)}` : '';
      const whole = f.recoveredAt !== undefined ? `, whole again at ${secs(f.recoveredAt)}` : '';
      lines.push(`  ${at} #${f.step} ${f.description} on ${f.target ?? '?'}${healed}${whole}`);
    }
  }
  if (r.injected.length === 0) lines.push('  (none)');
  lines.push(
    `operations: ${s.appends.ok + s.appends.fail + s.appends.unknown + s.reads.ok + s.reads.fail + s.reads.unknown} ` +
      `(append: ${s.appends.ok} ok, ${s.appends.unknown} unknown, ${s.appends.fail} fail; read: ${s.reads.ok} ok, ${s.reads.unknown} unknown, ${s.reads.fail} fail); ` +
      `${s.retries} retries; ${s.unknownApplied} unknown appends turned out applied`,
  );
  const stale = r.history.filter((o) => o.process.startsWith(STALE_CLIENT_PREFIX));
  if (stale.length > 0) {
    const ok = stale.filter((o) => o.outcome === 'ok').length;
    lines.push(`stale-view clients: ${stale.length} operations, ${ok} answered (by ${[...new Set(stale.filter((o) => o.server).map((o) => o.server))].sort().join(', ') || 'none'})`);
  }
  if (s.finalLength !== undefined) lines.push(`linearizable: ${s.linearizable ? 'yes' : 'no'}`);
  const reps = r.final.replicas.map((x) => `${x.name} ${x.digest !== undefined ? `digest ${x.digest}` : `${x.length} entries`}`).join(', ');
  lines.push(`final state: ${r.final.length !== undefined ? `${r.final.length} entries from ${r.final.source}` : 'none'}${reps ? `; compared with ${reps}` : ''}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  if (verbose || r.anomalies.length > 0) lines.push('RM decisions:', ...r.decisions.map((d) => `  ${d}`));
  if (r.anomalies.length === 0) lines.push('anomalies: none');
  else {
    lines.push(`anomalies: ${r.anomalies.length + Object.values(r.suppressed).reduce((a, b) => a + (b ?? 0), 0)}`);
    for (const a of r.anomalies) lines.push(...formatAnomaly(a));
    for (const [kind, n] of Object.entries(r.suppressed)) lines.push(`  … and ${n} more ${kind} anomalies`);
  }
  for (const t of r.traces) lines.push(t.title, ...t.lines.map((l) => `    ${l}`));
  lines.push(`run took ${(s.elapsedMs / 1000).toFixed(1)} s`);
  return lines;
}

export interface Totals {
  runs: number;
  faults: number;
  operations: number;
  acknowledged: number;
  anomalies: number;
  warnings: number;
  failedSeeds: number[];
}

export function totals(reports: readonly RunReport[]): Totals {
  const t: Totals = { runs: reports.length, faults: 0, operations: 0, acknowledged: 0, anomalies: 0, warnings: 0, failedSeeds: [] };
  for (const r of reports) {
    const s = r.stats;
    t.faults += s.faults;
    t.operations += s.appends.ok + s.appends.fail + s.appends.unknown + s.reads.ok + s.reads.fail + s.reads.unknown;
    t.acknowledged += s.appends.ok + s.reads.ok;
    const n = r.anomalies.length + Object.values(r.suppressed).reduce((a, b) => a + (b ?? 0), 0);
    t.anomalies += n;
    t.warnings += r.warnings.length;
    if (n > 0) t.failedSeeds.push(r.seed);
  }
  return t;
}

export function formatTotals(t: Totals): string {
  const failed = t.failedSeeds.length ? `; anomalies in seed(s) ${t.failedSeeds.join(', ')}` : '';
  return `totals: ${t.runs} runs, ${t.faults} faults, ${t.operations} operations (${t.acknowledged} acknowledged), ${t.anomalies} anomalies, ${t.warnings} warnings${failed}`;
}
