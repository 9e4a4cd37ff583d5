/**
 * What a request comes to: ok (a reply), fail (it never left the client: it certainly did
 * not run) or unknown (sent, but no reply before giving up or stopping: it may have run).
 */
import type { RefusedError } from '../lib/net/index.js';

/** No replica answered a request within the give-up time (or the policy gave up). */
export class GiveUpError extends Error {
  override name = 'GiveUpError';
  constructor(client: string, seconds: number, cause?: unknown) {
    super(`${client}: no replica answered for ${seconds} s; giving up`, { cause });
  }
}

/** The session was stopped while a request was open. */
export class SessionStoppedError extends Error {
  override name = 'SessionStoppedError';
  constructor(client: string, cause?: unknown) {
    super(`${client}: stopped before a reply`, { cause });
  }
}

interface OutcomeBase {
  /** The request number on the wire (the last one, if the service made us skip ahead). */
  num: number;
  payload: string;
  /** Epoch milliseconds (sub-millisecond precision): first sent, and completed. */
  sentAt: number;
  at: number;
  attempts: number;
}
export type Outcome =
  | (OutcomeBase & { status: 'ok'; server: string; result: string })
  /** unknown: sent at least once, no reply: it may have run. fail: never sent: it did not run. */
  | (OutcomeBase & { status: 'unknown' | 'fail'; error: GiveUpError | SessionStoppedError | RefusedError });
