/**
 * Fail-slow faults injected on request (`ftkit ctl fault S2 …`, the demo's keys, the chaos
 * harness): their names and which orders make sense, shared by ctl, the RM and the replica
 * that carries them out (servers/slow.ts).
 */

export type SlowKind = 'cpu-hog' | 'mem-hog' | 'delay';
export const SLOW_KINDS: readonly SlowKind[] = ['cpu-hog', 'mem-hog', 'delay'];
/** A cpu-hog burns the CPU for part of every period of this many ms. */
export const HOG_PERIOD_MS = 100;
export const MAX_HOG_MB = 1024;

export interface SlowFaultOrder {
  kind: SlowKind | 'clear';
  /** cpu-hog: ms burnt per 100 ms; mem-hog: MB a second; delay: ms (0: the default for the hogs). */
  amount: number;
  /** How long it lasts (0: until cleared). */
  seconds: number;
}

/** Why an order makes no sense, or undefined. */
export function checkSlowOrder(o: SlowFaultOrder): string | undefined {
  if (o.kind !== 'clear' && !SLOW_KINDS.includes(o.kind)) return `unknown fault ${JSON.stringify(o.kind)}: ${SLOW_KINDS.join(', ')} or clear`;
  if (!Number.isFinite(o.amount) || o.amount < 0) return 'the amount must be a number ≥ 0';
  if (o.kind === 'cpu-hog' && o.amount >= HOG_PERIOD_MS) return `cpu-hog burns at most ${HOG_PERIOD_MS - 1} ms of every ${HOG_PERIOD_MS} ms (the replica must still answer)`;
  if (o.kind === 'delay' && (o.amount <= 0 || o.amount > 60_000)) return 'delay takes a time in ms, 1–60000';
  if (o.kind === 'mem-hog' && o.amount > MAX_HOG_MB) return `mem-hog grows at most ${MAX_HOG_MB} MB a second`;
  if (!Number.isFinite(o.seconds) || o.seconds < 0) return 'the duration must be a number of seconds ≥ 0';
  return undefined;
}
