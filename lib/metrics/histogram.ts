/**
 * A latency histogram with fixed, log-scaled bucket edges: recording a sample is one
 * logarithm and a counter increment, two histograms (of two windows, or of two processes)
 * merge exactly by adding counts, and any quantile can be read later, to within one bucket
 * (a relative error of at most BUCKET_RATIO - 1, about 19 %, halved by reading the bucket's
 * geometric middle). Samples are milliseconds.
 */

/** The lower edge of bucket 0, in ms: anything faster lands in bucket 0. */
export const MIN_MS = 0.01;
/** Buckets per doubling of latency. */
export const BUCKETS_PER_DOUBLING = 4;
/** How much wider each bucket's upper edge is than its lower one. */
export const BUCKET_RATIO = 2 ** (1 / BUCKETS_PER_DOUBLING);
/** 10 µs × 2^24 ≈ 168 s: anything slower lands in the last bucket. */
export const BUCKET_COUNT = 24 * BUCKETS_PER_DOUBLING + 1;

/** The bucket a latency of `ms` falls in. */
export function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  const i = Math.floor(Math.log2(ms / MIN_MS) * BUCKETS_PER_DOUBLING);
  return i >= BUCKET_COUNT ? BUCKET_COUNT - 1 : i;
}

/** The lower edge of bucket `i`, in ms. */
export function lowerEdge(i: number): number {
  return MIN_MS * 2 ** (i / BUCKETS_PER_DOUBLING);
}

/** Count, sum, min, max and the bucket counts of a set of samples. */
export class Histogram {
  count = 0;
  sum = 0;
  min = Infinity;
  max = 0;
  readonly buckets = new Float64Array(BUCKET_COUNT);

  record(ms: number): void {
    if (!(ms >= 0)) return;
    this.count++;
    this.sum += ms;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
    this.buckets[bucketOf(ms)]!++;
  }

  reset(): void {
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = 0;
    this.buckets.fill(0);
  }

  /** Add another window's samples (exact: the edges are the same everywhere). */
  merge(w: Window): void {
    if (w.count === 0) return;
    this.count += w.count;
    this.sum += w.sum;
    if (w.min < this.min) this.min = w.min;
    if (w.max > this.max) this.max = w.max;
    for (let k = 0; k + 1 < w.buckets.length; k += 2) {
      const i = w.buckets[k]!;
      if (i >= 0 && i < BUCKET_COUNT) this.buckets[i]! += w.buckets[k + 1]!;
    }
  }

  /**
   * The `q` quantile (0..1): the geometric middle of the bucket holding it, kept within
   * [min, max]. Undefined when there are no samples.
   */
  quantile(q: number): number | undefined {
    if (this.count === 0) return undefined;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) {
        const mid = i === 0 ? MIN_MS : Math.sqrt(lowerEdge(i) * lowerEdge(i + 1));
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }

  /** This histogram as a window: the non-empty buckets only, as `[index, count, index, count, …]`. */
  toWindow(): Window {
    const buckets: number[] = [];
    for (let i = 0; i < BUCKET_COUNT; i++) if (this.buckets[i]! > 0) buckets.push(i, this.buckets[i]!);
    return { count: this.count, sum: this.sum, min: this.count ? this.min : 0, max: this.max, buckets };
  }
}

/** A histogram as it travels and is kept: its non-empty buckets as index, count pairs. */
export interface Window {
  count: number;
  sum: number;
  min: number;
  max: number;
  buckets: number[];
}
