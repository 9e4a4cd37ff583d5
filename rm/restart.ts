/**
 * Restart policy for replicas, as process supervisors do it: back-off between
 * attempts, and a budget of N relaunches within T seconds per replica, after which
 * the RM stops trying and says so. Pure: the caller passes the time, and the back-off has no
 * jitter (the RM relaunches one replica at a time, so there is no herd to spread).
 */
import { backoffDelay } from '../lib/net/backoff.js';

export const DEFAULT_RESTART_BASE_MS = 100;
export const DEFAULT_RESTART_CAP_MS = 5000;

export interface RestartOptions {
  /** Relaunches allowed per replica within the window. */
  budget: number;
  windowMs: number;
  baseMs?: number;
  capMs?: number;
}

export type RestartDecision = { relaunch: true; delayMs: number; attempt: number } | { relaunch: false; attempts: number };

export class RestartPolicy {
  private readonly attempts = new Map<string, number[]>();
  private readonly exhausted = new Set<string>();

  constructor(readonly options: RestartOptions) {}

  /** Relaunches of `name` inside the window ending at `now`. */
  recent(name: string, now: number): number[] {
    const kept = (this.attempts.get(name) ?? []).filter((t) => now - t < this.options.windowMs);
    this.attempts.set(name, kept);
    return kept;
  }

  /** `name` died (or its relaunch failed) at `now`: relaunch after a delay, or give up. */
  next(name: string, now: number, budget = this.options.budget): RestartDecision {
    const recent = this.recent(name, now);
    if (recent.length >= budget) {
      this.exhausted.add(name);
      return { relaunch: false, attempts: recent.length };
    }
    const attempt = recent.length + 1;
    const { baseMs = DEFAULT_RESTART_BASE_MS, capMs = DEFAULT_RESTART_CAP_MS } = this.options;
    return { relaunch: true, delayMs: backoffDelay(attempt, baseMs, capMs), attempt };
  }

  /** A relaunch of `name` is being made at `now`. */
  record(name: string, now: number): void {
    this.recent(name, now).push(now);
  }

  gaveUp(name: string): boolean {
    return this.exhausted.has(name);
  }

  /** Start over for `name` (it was relaunched by hand, or retired). */
  forget(name: string): void {
    this.attempts.delete(name);
    this.exhausted.delete(name);
  }
}
