/**
 * The chaos checker: is a history of appends and reads on the replicated `log` app,
 * plus the replicas' final states, consistent with a linearizable log that loses
 * nothing? Pure: a history and a final state in, anomalies out; no I/O, no clock.
 *
 * What it proves, for the log app (`append X` returns X's 1-based index, `read` the
 * whole log as JSON):
 * - every acknowledged append is in the final log exactly once (lost, duplicate);
 *   an append whose outcome is unknown may be there at most once (duplicate);
 *   an append that was never sent is not there (failed-applied);
 * - nothing is in the log or in a read that no client sent (phantom);
 * - an acknowledged append's index is its position in the final log (wrong-index);
 * - appends respect real time: one acknowledged before another was invoked comes
 *   first, within a client (client-order) and across clients (realtime-order);
 * - every read is a prefix of the final log (read-not-prefix), contains every append
 *   acknowledged before the read was invoked (stale-read) and none invoked after it
 *   completed (future-read), and returns at least what any read that completed
 *   before it was invoked returned (nonmonotonic-read);
 * - all ready replicas end with the same state (divergence).
 * Each anomaly carries the smallest excerpt of the history that shows it.
 *
 * Together these are a linearizability check of the whole history against the log's
 * sequential specification, and `linearize()` (linearize.ts) proves it constructively: the final log
 * fixes the order of the appends that took effect, so each operation whose result is
 * legal has one place in that order (an append at its index, a read of k entries
 * between the k-th and the (k+1)-th append), and a history is linearizable exactly
 * when no operation that completed before another was invoked has the later place.
 * linearize() sweeps the places in order and either returns a linearization or the
 * pair that forbids one; if it ever finds a pair the kinds above missed, that is
 * reported as not-linearizable.
 */
import { digest } from '../../servers/core/state.js';
import { completion, parseReadResult, type Op } from './history.js';
import { linearize } from './linearize.js';

export type AnomalyKind =
  | 'lost'
  | 'duplicate'
  | 'phantom'
  | 'failed-applied'
  | 'wrong-index'
  | 'client-order'
  | 'realtime-order'
  | 'read-not-prefix'
  | 'stale-read'
  | 'future-read'
  | 'nonmonotonic-read'
  | 'bad-result'
  | 'divergence'
  | 'no-final-state'
  | 'not-linearizable'
  /** Several groups: a replica of another group answered a client (groups.ts). */
  | 'wrong-group'
  /** Several groups: a fault in one group changed another's epoch or leader (isolation.ts). */
  | 'cross-group'
  /** The sns workload (sns-check.ts): a post in the timeline of a user who does not follow its author. */
  | 'misdelivered'
  /** The sns workload: a post of unknown outcome that reached some of its author's followers but not all. */
  | 'partial-delivery';

export interface Anomaly {
  kind: AnomalyKind;
  message: string;
  /** The smallest excerpt of the history that shows the anomaly, in invocation order. */
  ops: Op[];
  /** What else shows it (cross-group: the RM's decisions about the group in that window). */
  detail?: string[];
}

/** What one ready replica holds at the end: its whole log (active), or the digest of its last checkpoint (passive backup). */
export interface ReplicaFinal {
  name: string;
  log?: string[];
  digest?: string;
}

export interface FinalState {
  /** The log read from the leader after every fault healed and every client stopped; absent if none could be read. */
  log?: string[];
  /** Who answered that read. */
  source?: string;
  replicas: ReplicaFinal[];
}

export interface CheckOptions {
  /** Report at most this many anomalies of each kind; the rest are counted (default 10). */
  maxPerKind?: number;
}

export interface OutcomeCounts {
  ok: number;
  fail: number;
  unknown: number;
}

export interface CheckStats {
  appends: OutcomeCounts;
  reads: OutcomeCounts;
  finalLength: number | undefined;
  /** Appends with an unknown outcome that turned out to be in the final log. */
  unknownApplied: number;
  /** The whole history is linearizable against the final log (no anomaly, and linearize() found an order). */
  linearizable: boolean;
}

export interface CheckResult {
  anomalies: Anomaly[];
  /** Anomalies found beyond maxPerKind, by kind. */
  suppressed: Partial<Record<AnomalyKind, number>>;
  stats: CheckStats;
}

/** The digest a server traces for a log app whose entries are `entries` (servers/core/state.ts). */
export function logDigest(entries: readonly string[]): string {
  return digest(JSON.stringify(entries));
}

/** Anomalies found, at most `maxPerKind` of each kind reported and the rest counted. */
export class Findings {
  readonly anomalies: Anomaly[] = [];
  readonly suppressed: Partial<Record<AnomalyKind, number>> = {};
  private readonly counts = new Map<AnomalyKind, number>();

  constructor(private readonly maxPerKind: number) {}

  add(kind: AnomalyKind, message: string, ops: Array<Op | undefined>): void {
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    if (n > this.maxPerKind) {
      this.suppressed[kind] = (this.suppressed[kind] ?? 0) + 1;
      return;
    }
    const unique = [...new Set(ops.filter((o): o is Op => o !== undefined))].sort((a, b) => a.id - b.id);
    this.anomalies.push({ kind, message, ops: unique });
  }
}

interface ParsedRead {
  op: Op;
  items: string[];
}


export function check(history: readonly Op[], final: FinalState, options: CheckOptions = {}): CheckResult {
  const found = new Findings(options.maxPerKind ?? 10);
  const count = (kind: 'append' | 'read'): OutcomeCounts => {
    const ops = history.filter((o) => o.op === kind);
    return { ok: ops.filter((o) => o.outcome === 'ok').length, fail: ops.filter((o) => o.outcome === 'fail').length, unknown: ops.filter((o) => o.outcome === 'unknown').length };
  };

  const appends = history.filter((o) => o.op === 'append' && o.value !== undefined);
  const byValue = new Map<string, Op>();
  for (const a of appends) if (!byValue.has(a.value!)) byValue.set(a.value!, a);

  for (const a of appends) {
    if (a.outcome === 'ok' && !/^\d+$/.test(a.result ?? '')) found.add('bad-result', `append ${a.value} was acknowledged with ${JSON.stringify(a.result)}, not an index`, [a]);
  }
  const reads: ParsedRead[] = [];
  for (const r of history) {
    if (r.op !== 'read' || r.outcome !== 'ok') continue;
    const items = parseReadResult(r.result);
    if (items) reads.push({ op: r, items });
    else found.add('bad-result', `read returned ${JSON.stringify((r.result ?? '').slice(0, 80))}, not a JSON list of items`, [r]);
  }

  // Items no client sent, wherever they show up.
  const phantoms = new Set<string>();
  const phantom = (item: string, where: string, op?: Op) => {
    if (byValue.has(item) || phantoms.has(item)) return;
    phantoms.add(item);
    found.add('phantom', `${JSON.stringify(item)} ${where}, but no client ever sent it`, [op]);
  };

  const log = final.log;
  let unknownApplied = 0;
  if (!log) {
    found.add('no-final-state', 'no replica answered the final read, so nothing can be checked against the final log', []);
  } else {
    const positions = new Map<string, number[]>();
    log.forEach((item, i) => {
      const list = positions.get(item);
      if (list) list.push(i);
      else positions.set(item, [i]);
    });
    for (const [item, at] of positions) {
      if (at.length > 1) found.add('duplicate', `${item} is in the final log ${at.length} times (positions ${at.map((p) => p + 1).join(', ')})`, [byValue.get(item)]);
      phantom(item, `is at position ${at[0]! + 1} of the final log`);
    }

    // The first read (in invocation order) that returned each item, and where.
    const firstSeen = new Map<string, { op: Op; at: number }>();
    for (const r of [...reads].sort((x, y) => x.op.invokeTime - y.op.invokeTime)) {
      r.items.forEach((item, at) => {
        if (!firstSeen.has(item)) firstSeen.set(item, { op: r.op, at });
      });
    }
    for (const a of appends) {
      const at = positions.get(a.value!);
      if (a.outcome === 'ok' && !at) {
        const witness = firstSeen.get(a.value!);
        const seen = witness ? `; a read saw it at position ${witness.at + 1}` : '';
        found.add('lost', `acknowledged append ${a.value} (index ${a.result}) is not in the final log of ${log.length} entries${seen}`, [a, witness?.op]);
      }
      if (a.outcome === 'fail' && at) found.add('failed-applied', `append ${a.value} was never sent, yet it is at position ${at[0]! + 1} of the final log`, [a]);
      if (a.outcome === 'unknown' && at) unknownApplied++;
      if (a.outcome === 'ok' && at?.length === 1 && /^\d+$/.test(a.result ?? '') && Number(a.result) !== at[0]! + 1) {
        found.add('wrong-index', `append ${a.value} was acknowledged as index ${a.result} but is at position ${at[0]! + 1} of the final log`, [a]);
      }
    }

    // Real-time order of appends that are in the log (at their first position).
    const placed = appends
      .filter((a) => positions.has(a.value!))
      .map((a) => ({ op: a, pos: positions.get(a.value!)![0]!, done: completion(a) }));
    // Within a client: everything it had acknowledged before invoking an append comes first.
    const byProcess = new Map<string, typeof placed>();
    for (const p of placed) {
      const list = byProcess.get(p.op.process);
      if (list) list.push(p);
      else byProcess.set(p.op.process, [p]);
    }
    for (const list of byProcess.values()) {
      let latest: (typeof placed)[number] | undefined;
      for (const p of list.sort((x, y) => x.op.invokeTime - y.op.invokeTime)) {
        if (latest && p.pos < latest.pos) {
          found.add('client-order', `${p.op.process} had ${latest.op.value} acknowledged before it invoked ${p.op.value}, but ${p.op.value} is at position ${p.pos + 1} and ${latest.op.value} at ${latest.pos + 1}`, [latest.op, p.op]);
        }
        if (p.op.outcome === 'ok' && (!latest || p.pos > latest.pos)) latest = p;
      }
    }
    // Across clients: scan from the end of the log, keeping the earliest-acknowledged appends placed later.
    let best: (typeof placed)[number] | undefined;
    let other: (typeof placed)[number] | undefined;
    for (const b of [...placed].sort((x, y) => y.pos - x.pos)) {
      const a = best && best.op.process !== b.op.process ? best : other;
      if (a && a.done < b.op.invokeTime) {
        found.add('realtime-order', `${a.op.value} was acknowledged before ${b.op.value} was invoked, but ${b.op.value} is at position ${b.pos + 1} and ${a.op.value} at ${a.pos + 1}`, [a.op, b.op]);
      }
      if (!best || b.done < best.done) {
        if (best && best.op.process !== b.op.process) other = best;
        best = b;
      } else if (b.op.process !== best.op.process && (!other || b.done < other.done)) other = b;
    }

    for (const r of reads) {
      const i = r.items.findIndex((item, k) => item !== log[k]);
      if (i !== -1) {
        const what = i >= log.length ? `has ${r.items.length} entries, the final log only ${log.length}` : `has ${JSON.stringify(r.items[i])} at position ${i + 1} where the final log has ${JSON.stringify(log[i])}`;
        found.add('read-not-prefix', `a read by ${r.op.process} is not a prefix of the final log: it ${what}`, [r.op, byValue.get(r.items[i]!), byValue.get(log[i] ?? '')]);
      }
    }
    for (const rep of final.replicas) {
      if (rep.log) {
        const i = firstDifference(rep.log, log);
        if (i !== -1) {
          found.add(
            'divergence',
            `${rep.name} holds ${rep.log.length} entries, ${final.source ?? 'the leader'} ${log.length}; they first differ at position ${i + 1}: ${JSON.stringify(rep.log[i] ?? null)} vs ${JSON.stringify(log[i] ?? null)}`,
            [byValue.get(rep.log[i] ?? ''), byValue.get(log[i] ?? '')],
          );
        }
      }
      if (rep.digest !== undefined && rep.digest !== logDigest(log)) {
        found.add('divergence', `${rep.name}'s state digest is ${rep.digest} but ${final.source ?? 'the leader'}'s state (${log.length} entries) has digest ${logDigest(log)}`, []);
      }
    }
  }

  for (const r of reads) r.items.forEach((item, k) => phantom(item, `was returned at position ${k + 1} by a read of ${r.op.process}`, r.op));
  // An acknowledged append missing from the final log is reported once, as lost, not again by every later read.
  const inLog = log ? new Set(log) : undefined;
  checkReads(reads, appends.filter((a) => !inLog || inLog.has(a.value!)), byValue, found);

  // With an anomaly found the history is not linearizable anyway; otherwise prove it (or catch what the checks above missed).
  let linearizable = false;
  if (log && found.anomalies.length === 0) {
    const parsed = new Map(reads.map((r) => [r.op, r.items] as const));
    const lin = linearize(history, log, (op) => parsed.get(op));
    if (!lin.ok) {
      const { before, after } = lin.violation;
      found.add('not-linearizable', `no linearization: ${describeOp(after)} completed before ${describeOp(before)} was invoked, yet the final log puts it later`, [before, after]);
    }
    linearizable = lin.ok;
  }

  return {
    anomalies: found.anomalies,
    suppressed: found.suppressed,
    stats: { appends: count('append'), reads: count('read'), finalLength: log?.length, unknownApplied, linearizable },
  };
}

const describeOp = (o: Op) => (o.op === 'append' ? `append ${o.value} by ${o.process}` : `a read by ${o.process} (${parseReadResult(o.result)?.length ?? '?'} entries)`);

/** How many of the sorted `xs` are below `limit`. */
function countBelow(xs: readonly number[], limit: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < limit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function firstDifference(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Real-time checks of reads against appends and against each other (they need no final log). */
function checkReads(reads: ParsedRead[], appends: Op[], byValue: Map<string, Op>, found: Findings): void {
  const acked = appends.filter((a) => a.outcome === 'ok').sort((x, y) => completion(x) - completion(y));
  const doneTimes = acked.map(completion);
  for (const r of reads) {
    // How many appends were acknowledged before the read was invoked, and how many of them it returned.
    const due = countBelow(doneTimes, r.op.invokeTime);
    let returned = 0; // over-counted if the read repeats an item: then the exact check below runs
    for (const item of r.items) {
      const a = byValue.get(item);
      if (a && a.outcome === 'ok' && completion(a) < r.op.invokeTime) returned++;
    }
    const has = returned === due ? undefined : new Set(r.items);
    const missing = has ? acked.slice(0, due).filter((a) => !has.has(a.value!)) : [];
    if (missing.length > 0) {
      const a = missing[0]!;
      const more = missing.length > 1 ? ` (and ${missing.length - 1} more acknowledged before it)` : '';
      found.add('stale-read', `a read by ${r.op.process} misses ${a.value}, acknowledged before the read was invoked${more}; the read returned ${r.items.length} entries`, [a, r.op]);
    }
    for (const item of r.items) {
      const a = byValue.get(item);
      if (a && a.invokeTime > completion(r.op)) {
        found.add('future-read', `a read by ${r.op.process} returned ${item}, which was invoked only after the read completed`, [r.op, a]);
        break;
      }
    }
  }
  // A read returns at least what the longest read that completed before it was invoked returned.
  const byDone = [...reads].sort((x, y) => completion(x.op) - completion(y.op));
  let k = 0;
  let longest: ParsedRead | undefined;
  for (const r of [...reads].sort((x, y) => x.op.invokeTime - y.op.invokeTime)) {
    while (k < byDone.length && completion(byDone[k]!.op) < r.op.invokeTime) {
      if (!longest || byDone[k]!.items.length > longest.items.length) longest = byDone[k];
      k++;
    }
    if (!longest) continue;
    const prefix = longest.items.every((item, i) => r.items[i] === item);
    if (!prefix) {
      const shorter = r.items.length < longest.items.length;
      found.add(
        'nonmonotonic-read',
        shorter
          ? `a read by ${r.op.process} returned ${r.items.length} entries after a read by ${longest.op.process} had completed with ${longest.items.length}`
          : `a read by ${r.op.process} does not extend what a read by ${longest.op.process} returned before it was invoked`,
        [longest.op, r.op],
      );
    }
  }
}
