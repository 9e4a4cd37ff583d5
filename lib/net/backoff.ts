/**
 * Reconnect policy: one function `(attempt, cause) => delayMs | false`.
 * `false` means give up. The default is exponential back-off with full jitter and a cap.
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

/** Exponential back-off: base·2^(attempt-1), capped, with jitter drawing from [delay/2, delay]. */
export function exponentialBackoff(options: BackoffOptions = {}): ReconnectPolicy {
  const { baseMs = DEFAULT_BACKOFF_BASE_MS, capMs = DEFAULT_BACKOFF_CAP_MS, maxAttempts = Infinity, random = Math.random } = options;
  return (attempt) => {
    if (attempt > maxAttempts) return false;
    const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt - 1, 30));
    return Math.round(ceiling / 2 + random() * (ceiling / 2));
  };
}
