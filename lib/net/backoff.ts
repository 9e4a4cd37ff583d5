/**
 * The back-off of every retry loop in ftkit (reconnecting links, client requests, the RM's
 * relaunches, the harness's retries). A policy is one function `(attempt, cause) => delayMs |
 * false`, where `false` means give up; the default is exponential back-off with jitter and a cap.
 */
export type ReconnectPolicy = (attempt: number, cause: Error | undefined) => number | false;

export const DEFAULT_BACKOFF_BASE_MS = 50;
export const DEFAULT_BACKOFF_CAP_MS = 2000;

export interface BackoffOptions {
  baseMs?: number;
  capMs?: number;
  /** Give up after this many attempts (default: never). */
  maxAttempts?: number;
  random?: () => number;
}

/** The exponential delay before retry `attempt` (from 1): base·2^(attempt-1), capped. Without jitter, for pure cores. */
export function backoffDelay(attempt: number, baseMs = DEFAULT_BACKOFF_BASE_MS, capMs = DEFAULT_BACKOFF_CAP_MS): number {
  return Math.min(capMs, baseMs * 2 ** Math.min(attempt - 1, 30));
}

/** Exponential back-off: backoffDelay() with jitter drawing from [delay/2, delay], until maxAttempts. */
export function exponentialBackoff(options: BackoffOptions = {}): ReconnectPolicy {
  const { baseMs, capMs, maxAttempts = Infinity, random = Math.random } = options;
  return (attempt) => {
    if (attempt > maxAttempts) return false;
    const ceiling = backoffDelay(attempt, baseMs, capMs);
    return Math.round(ceiling / 2 + random() * (ceiling / 2));
  };
}
