/**
 * The RM's summary of what was reported (rm/metrics.ts), as `ctl status --json` gives it under
 * `metrics` and `ctl metrics` prints it: the shape readers of the status depend on.
 */
import type { LinkKind } from './report.js';
import type { LoopReport } from './loop.js';

export interface LinkSummary {
  from: string;
  to: string;
  kind: LinkKind;
  /** Samples in the window; the latencies (ms) are null without any. */
  count: number;
  min: number | null;
  avg: number | null;
  p50: number | null;
  p99: number | null;
  max: number | null;
  /** Its reporter or its peer stopped reporting, or it had no sample in the window. */
  stale: boolean;
  totalCount: number;
  totalSumMs: number;
}

export interface ProcessSummary {
  process: string;
  /** CPU (user + system) over the window, as a percentage of one core; null before two reports. */
  cpu: number | null;
  /** CPU seconds used since the process started, as last reported. */
  cpuSeconds: number;
  rss: number;
  heap: number;
  requests?: number;
  /** Its event loop over the window: the median of its reports' timer delay p90 (ms), the longest delay (ms), the mean utilisation (0–1). */
  loop?: LoopReport;
  /** Milliseconds since its last report. */
  age: number;
  stale: boolean;
}

export interface MetricsSummary {
  windowMs: number;
  links: LinkSummary[];
  processes: ProcessSummary[];
}
