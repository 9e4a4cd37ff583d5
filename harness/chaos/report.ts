/** The report of a chaos run: what it holds, compacted for writing out, and read by people (one per run, totals over runs). */
import type { Mode } from '../../lib/protocol/index.js';
import { STALE_CLIENT_PREFIX } from './client.js';
import { parseReadResult, type Op } from './history.js';
import type { Anomaly, AnomalyKind, CheckStats } from './checker.js';
import type { InjectedFault } from './nemesis.js';
import type { GroupReport } from './groups.js';
import type { IsolationResult } from './isolation.js';
import type { SnsSummary } from './sns-check.js';

export interface RunStats extends CheckStats {
  retries: number;
  elapsedMs: number;
  faults: number;
}

export interface RunReport {
  seed: number;
  mode: Mode;
  durationS: number;
  schedule: string[];
  injected: InjectedFault[];
  stats: RunStats;
  anomalies: Anomaly[];
  suppressed: Partial<Record<AnomalyKind, number>>;
  /** Liveness problems and surprises (a component that died on its own, an internal error): reported, not anomalies. */
  warnings: string[];
  /** The RM's decisions (elections, readiness, view changes), for diagnosing anomalies. */
  decisions: string[];
  /** Component traces explaining the first anomalies and any replica left not ready. */
  traces: Array<{ title: string; lines: string[] }>;
  final: { source?: string; length?: number; replicas: Array<{ name: string; digest?: string; length?: number }> };
  history: Op[];
  /** The final log the history was checked against (one group). */
  finalLog?: string[];
  /** Several replica groups: each group's check, its final log included. */
  groups?: GroupReport[];
  /** Several replica groups: the cross-group check (its violations are among the anomalies). */
  isolation?: Omit<IsolationResult, 'violations'>;
  /** The sns workload (sns-run.ts): its users, follows and posts; the history holds the posts (as appends), `reads` counts the follows. */
  sns?: SnsSummary;
}

/**
 * The report without its bulk, for writing out: each read whose result is a prefix of
 * the final log keeps only its length (`result: "prefix:<n>"`); the final log is kept,
 * so the history can be checked again.
 */
export function compactReport(r: RunReport): RunReport {
  const logs = new Map((r.groups ?? []).map((g) => [g.name, g.finalLog]));
  const history = r.history.map((op) => {
    const log = op.group !== undefined ? logs.get(op.group) : r.finalLog;
    if (op.op !== 'read' || op.outcome !== 'ok' || !log) return op;
    const items = parseReadResult(op.result);
    if (!items || items.some((x, i) => x !== log[i])) return op;
    return { ...op, result: `prefix:${items.length}` };
  });
  return { ...r, history };
}

/** Operations of every outcome. */
function operations(s: RunStats): number {
  return s.appends.ok + s.appends.fail + s.appends.unknown + s.reads.ok + s.reads.fail + s.reads.unknown;
}

/** Anomalies, those left out of the report included. */
function anomalyCount(r: RunReport): number {
  return r.anomalies.length + Object.values(r.suppressed).reduce((a, b) => a + (b ?? 0), 0);
}

const secs = (ms: number | undefined) => (ms === undefined ? '?' : `${(ms / 1000).toFixed(3)}s`);

/** The gist of a read result: its length and last items. */
function readGist(result: string | undefined): string {
  const items = parseReadResult(result);
  if (!items) return JSON.stringify((result ?? '').slice(0, 60));
  const tail = items.slice(-3).map((x) => JSON.stringify(x)).join(', ');
  return `${items.length} entries${items.length ? ` [${items.length > 3 ? '…, ' : ''}${tail}]` : ''}`;
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
  return [`ANOMALY ${a.kind}: ${a.message}`, ...a.ops.map((op) => `    ${formatOp(op)}`), ...(a.detail ?? []).map((l) => `    ${l}`)];
}

/** Several groups: each group's operations, check and final state, and the cross-group check. */
function formatGroups(r: RunReport): string[] {
  const lines: string[] = [];
  for (const g of r.groups ?? []) {
    const s = g.stats;
    const n = g.anomalies.length + Object.values(g.suppressed).reduce((a, b) => a + (b ?? 0), 0);
    const reps = g.final.replicas.map((x) => `${x.name} ${x.digest !== undefined ? `digest ${x.digest}` : `${x.length} entries`}`).join(', ');
    lines.push(
      `group ${g.name} (clients ${g.clients.join(', ') || 'none'}): append ${s.appends.ok} ok, ${s.appends.unknown} unknown, ${s.appends.fail} fail; read ${s.reads.ok} ok, ${s.reads.unknown} unknown, ${s.reads.fail} fail; ` +
        `linearizable: ${s.linearizable ? 'yes' : 'no'}; final state: ${g.final.length !== undefined ? `${g.final.length} entries from ${g.final.source}` : 'none'}${reps ? ` (compared with ${reps})` : ''}; anomalies: ${n}`,
    );
  }
  const iso = r.isolation;
  if (iso) {
    const list = (counts: Record<string, number>) => Object.entries(counts).sort().map(([g, n]) => `${g} ${n}`).join(', ') || 'none';
    const crossed = r.anomalies.filter((a) => a.kind === 'cross-group').length;
    lines.push(
      `cross-group: ${iso.windows} windows between whole-system snapshots, ${iso.compared} group epochs compared; changes where a fault allowed them: ${list(iso.changes)}; ` +
        `after a false suspicion or lag report in the group itself: ${list(iso.excused)}; changes no fault allowed: ${crossed}`,
    );
  }
  return lines;
}

/** The sns workload: what the users did, and what the timelines held. */
function formatSns(x: SnsSummary, retries: number): string[] {
  const p = x.posts;
  return [
    `sns: ${x.users} users, ${x.follows} follows (${x.crossGroup} across groups) made and spread in ${(x.setupMs / 1000).toFixed(2)} s; sync started ${x.syncStarts} time(s)`,
    `posts: ${p.ok + p.fail + p.unknown} (${p.ok} ok, ${p.unknown} unknown, ${p.fail} fail); ${retries} retries; ${x.unknownDelivered} unknown posts turned out delivered`,
    `timelines: ${x.entries} entries read from revision 0; ${x.expected} deliveries owed by acknowledged posts`,
    ...(x.uncovered.length > 0 ? [`beyond the fault model: every ready replica of ${x.uncovered.join(', ')} was declared failed, and the RM continued from one that was not ready (what it had acknowledged may be lost)`] : []),
  ];
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
  if (r.sns) lines.push(...formatSns(r.sns, s.retries));
  else lines.push(
    `operations: ${operations(s)} ` +
      `(append: ${s.appends.ok} ok, ${s.appends.unknown} unknown, ${s.appends.fail} fail; read: ${s.reads.ok} ok, ${s.reads.unknown} unknown, ${s.reads.fail} fail); ` +
      `${s.retries} retries; ${s.unknownApplied} unknown appends turned out applied`,
  );
  const stale = r.history.filter((o) => o.process.startsWith(STALE_CLIENT_PREFIX));
  if (stale.length > 0) {
    const ok = stale.filter((o) => o.outcome === 'ok').length;
    lines.push(`stale-view clients: ${stale.length} operations, ${ok} answered (by ${[...new Set(stale.filter((o) => o.server).map((o) => o.server))].sort().join(', ') || 'none'})`);
  }
  if (r.groups) lines.push(...formatGroups(r));
  else if (s.finalLength !== undefined && !r.sns) lines.push(`linearizable: ${s.linearizable ? 'yes' : 'no'}`);
  const reps = r.final.replicas.map((x) => `${x.name} ${x.digest !== undefined ? `digest ${x.digest}` : `${x.length} entries`}`).join(', ');
  if (!r.groups && !r.sns) lines.push(`final state: ${r.final.length !== undefined ? `${r.final.length} entries from ${r.final.source}` : 'none'}${reps ? `; compared with ${reps}` : ''}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  if (verbose || r.anomalies.length > 0) lines.push('RM decisions:', ...r.decisions.map((d) => `  ${d}`));
  if (r.anomalies.length === 0) lines.push('anomalies: none');
  else {
    lines.push(`anomalies: ${anomalyCount(r)}`);
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
  /** Faults injected (not skipped), by kind. */
  byKind: Record<string, number>;
  /** Several groups: anomalies by group (`cross-group` for those between groups). */
  byGroup?: Record<string, number>;
}

export function totals(reports: readonly RunReport[]): Totals {
  const t: Totals = { runs: reports.length, faults: 0, operations: 0, acknowledged: 0, anomalies: 0, warnings: 0, failedSeeds: [], byKind: {} };
  for (const r of reports) {
    const s = r.stats;
    t.faults += s.faults;
    t.operations += operations(s);
    t.acknowledged += s.appends.ok + s.reads.ok;
    const n = anomalyCount(r);
    t.anomalies += n;
    t.warnings += r.warnings.length;
    if (n > 0) t.failedSeeds.push(r.seed);
    for (const f of r.injected) if (!f.skipped) t.byKind[f.kind] = (t.byKind[f.kind] ?? 0) + 1;
    if (r.groups) {
      t.byGroup ??= {};
      for (const g of r.groups) t.byGroup[g.name] = (t.byGroup[g.name] ?? 0) + g.anomalies.length + Object.values(g.suppressed).reduce((a, b) => a + (b ?? 0), 0);
      t.byGroup['cross-group'] = (t.byGroup['cross-group'] ?? 0) + r.anomalies.filter((a) => a.kind === 'cross-group').length;
    }
  }
  return t;
}

export function formatTotals(t: Totals): string {
  const failed = t.failedSeeds.length ? `; anomalies in seed(s) ${t.failedSeeds.join(', ')}` : '';
  const kinds = Object.entries(t.byKind).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
  const groups = t.byGroup ? `\nanomalies by group: ${Object.entries(t.byGroup).map(([g, n]) => `${g} ${n}`).join(', ')}` : '';
  return `totals: ${t.runs} runs, ${t.faults} faults, ${t.operations} operations (${t.acknowledged} acknowledged), ${t.anomalies} anomalies, ${t.warnings} warnings${failed}\nfaults by kind: ${kinds || 'none'}${groups}`;
}
