/**
 * Chaos runs over several replica groups (pure): which group a client belongs to, and each
 * group's history checked on its own against that group's final state with the one checker
 * (checker.ts), since every group replicates a log of its own. The clients are routed by key
 * with `ftkit rm --route mod` and no fallback, so a client's operations all belong to its key's
 * group; an answer from a replica of any other group is an anomaly (`wrong-group`).
 */
import { check, type Anomaly, type AnomalyKind, type CheckStats, type FinalState, type OutcomeCounts } from './checker.js';
import type { Op } from './history.js';

/** The `mod` rule: key k is served by group number ((k − 1) mod N) + 1 of `groups` (in name order). */
export function groupForKey(key: number, groups: readonly string[]): string {
  return groups[(key - 1) % groups.length]!;
}

export interface GroupReport {
  name: string;
  /** Its clients, stale-view ones included. */
  clients: string[];
  stats: CheckStats;
  anomalies: Anomaly[];
  suppressed: Partial<Record<AnomalyKind, number>>;
  final: { source?: string; length?: number; replicas: Array<{ name: string; digest?: string; length?: number }> };
  /** The group's final log its history was checked against. */
  finalLog?: string[];
}

export interface GroupsCheck {
  groups: GroupReport[];
  /** The history, each operation tagged with its group. */
  history: Op[];
  /** Every group's anomalies, each message led by its group. */
  anomalies: Anomaly[];
  suppressed: Partial<Record<AnomalyKind, number>>;
  /** Summed over the groups; linearizable when every group's history is. */
  stats: CheckStats;
}

/**
 * Check each group's history against its final state. `clientGroup` gives each client's group,
 * `serverGroup` each replica's; `finals` each group's final state.
 */
export function checkGroups(history: readonly Op[], clientGroup: ReadonlyMap<string, string>, serverGroup: (server: string) => string, finals: ReadonlyMap<string, FinalState>): GroupsCheck {
  const tagged = history.map((op) => ({ ...op, group: clientGroup.get(op.process) ?? '?' }));
  const groups: GroupReport[] = [];
  for (const [name, final] of finals) {
    const ops = tagged.filter((op) => op.group === name);
    const result = check(ops, final);
    const anomalies = result.anomalies.map((a) => ({ ...a, message: `${name}: ${a.message}` }));
    for (const op of ops) {
      if (op.outcome === 'ok' && op.server && serverGroup(op.server) !== name) {
        anomalies.push({ kind: 'wrong-group', message: `${name}: ${op.process} belongs to ${name}, but ${op.server} of ${serverGroup(op.server)} answered its request ${op.num ?? '?'}`, ops: [op] });
      }
    }
    groups.push({
      name,
      clients: [...clientGroup].filter(([, g]) => g === name).map(([c]) => c),
      stats: { ...result.stats, linearizable: result.stats.linearizable && anomalies.length === result.anomalies.length },
      anomalies,
      suppressed: result.suppressed,
      final: {
        source: final.source,
        length: final.log?.length,
        replicas: final.replicas.map((r) => ({ name: r.name, digest: r.digest, length: r.log?.length })),
      },
      finalLog: final.log,
    });
  }
  const suppressed: Partial<Record<AnomalyKind, number>> = {};
  for (const g of groups) for (const [k, n] of Object.entries(g.suppressed) as Array<[AnomalyKind, number]>) suppressed[k] = (suppressed[k] ?? 0) + n;
  const sum = (pick: (s: CheckStats) => OutcomeCounts): OutcomeCounts => ({
    ok: groups.reduce((n, g) => n + pick(g.stats).ok, 0),
    fail: groups.reduce((n, g) => n + pick(g.stats).fail, 0),
    unknown: groups.reduce((n, g) => n + pick(g.stats).unknown, 0),
  });
  const lengths = groups.map((g) => g.stats.finalLength);
  return {
    groups,
    history: tagged,
    anomalies: groups.flatMap((g) => g.anomalies),
    suppressed,
    stats: {
      appends: sum((s) => s.appends),
      reads: sum((s) => s.reads),
      finalLength: lengths.every((n) => n !== undefined) ? lengths.reduce((a, b) => a! + b!, 0) : undefined,
      unknownApplied: groups.reduce((n, g) => n + g.stats.unknownApplied, 0),
      linearizable: groups.length > 0 && groups.every((g) => g.stats.linearizable),
    },
  };
}
