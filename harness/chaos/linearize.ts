/**
 * The constructive half of the chaos checker's linearizability check (checker.ts): given a
 * history and the final log, find an order of the operations that respects real time and the
 * log's sequential specification, or the pair of operations that rules one out. Pure.
 */
import { completion, parseReadResult, type Op } from './history.js';

export type Linearization =
  | { ok: true; order: Op[] }
  /** `after` completed before `before` was invoked, yet its place in the final log's order is later. */
  | { ok: false; violation: { before: Op; after: Op } };

/**
 * Find a linearization of `history` against the final log `log`, or the pair of
 * operations that rules one out. Only operations whose results are legal against the
 * log take part (the other checks report the rest): appends in the log (at their first
 * position; acknowledged ones at their returned index), acknowledged reads that are a
 * prefix of the log. Appends not in the log did not take effect; reads with no answer
 * took effect nowhere visible. An operation with no completion (unknown) is concurrent
 * with everything invoked after it.
 *
 * Each operation gets a place: the append at position i (1-based) place 2i, a read of k
 * entries place 2k + 1. A linearization orders operations by place (reads with the same
 * place in any order), each at a moment between its invocation and its completion.
 * Sweeping places in increasing order, the earliest moment for an operation is the
 * latest invocation among all operations with a smaller place (and its own); so one
 * exists exactly when no operation completed before an operation with a smaller place
 * was invoked. O(n log n) plus the size of the reads; `items` gives a read's parsed
 * result (the checker passes the ones it already parsed).
 */
export function linearize(history: readonly Op[], log: readonly string[], items: (read: Op) => string[] | undefined = (r) => parseReadResult(r.result)): Linearization {
  const position = new Map<string, number>();
  log.forEach((item, i) => {
    if (!position.has(item)) position.set(item, i + 1);
  });
  const placed: Array<{ op: Op; place: number }> = [];
  const seen = new Set<string>();
  for (const o of history) {
    if (o.op === 'append' && o.value !== undefined) {
      const at = position.get(o.value);
      if (at === undefined || o.outcome === 'fail' || seen.has(o.value)) continue;
      if (o.outcome === 'ok' && o.result !== String(at)) continue;
      seen.add(o.value);
      placed.push({ op: o, place: 2 * at });
    } else if (o.op === 'read' && o.outcome === 'ok') {
      const got = items(o);
      if (!got || got.length > log.length || got.some((x, i) => x !== log[i])) continue;
      placed.push({ op: o, place: 2 * got.length + 1 });
    }
  }
  placed.sort((a, b) => a.place - b.place || a.op.invokeTime - b.op.invokeTime);
  let latest: Op | undefined; // the latest-invoked operation among those with a smaller place
  for (let i = 0; i < placed.length; ) {
    let j = i;
    while (j < placed.length && placed[j]!.place === placed[i]!.place) j++;
    for (let k = i; k < j; k++) {
      const o = placed[k]!.op;
      if (latest && completion(o) < latest.invokeTime) return { ok: false, violation: { before: latest, after: o } };
    }
    for (let k = i; k < j; k++) if (!latest || placed[k]!.op.invokeTime > latest.invokeTime) latest = placed[k]!.op;
    i = j;
  }
  return { ok: true, order: placed.map((p) => p.op) };
}
