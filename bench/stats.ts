/** Small statistics helpers for the benchmarks. */
import { performance } from 'node:perf_hooks';

/** The p-th percentile (0..100) of already sorted values, nearest-rank; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Spread {
  n: number;
  min: number;
  median: number;
  p90: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, min: s[0] ?? NaN, median: percentile(s, 50), p90: percentile(s, 90), max: s[s.length - 1] ?? NaN };
}

/** Format a number for a table: fixed decimals, `-` for NaN/undefined. */
export function fmt(x: number | undefined | null, digits = 1): string {
  if (x === undefined || x === null || !Number.isFinite(x)) return '-';
  return x.toFixed(digits);
}

/** Render rows as an aligned text table; the first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  return out.join('\n');
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Epoch milliseconds with sub-millisecond precision, comparable with Date.now() in other processes. */
export const preciseNow = (): number => performance.timeOrigin + performance.now();
