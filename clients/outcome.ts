/**
 * What a request comes to: ok (a reply), fail (it never left the client: it certainly did
 * not run) or unknown (sent, but no reply before giving up or stopping: it may have run).
 */
import type { GiveUpError, RefusedError, SessionStoppedError } from '../lib/errors.js';

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
