/**
 * One attempt at a request (clients/session.ts): the copies sent to the view's targets, the
 * wait for a reply that starts when the first copy goes out (connecting has its own deadline),
 * and how the attempt ends: with the first reply, or with why there was none (no reply in time,
 * every target failed, the session stopped or was refused). It ends once.
 */
import type { Member } from '../lib/protocol/index.js';

/** The reply that ended an attempt, or why there was none. */
export type AttemptResult = { server: string; result: string } | string;

export class Attempt {
  private readonly targets: Set<string>;
  private readonly failed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    readonly num: number,
    targets: readonly Member[],
    private readonly timeoutMs: number,
    private readonly end: (r: AttemptResult) => void,
  ) {
    this.targets = new Set(targets.map((m) => m.name));
  }

  /** A copy went out: the wait for a reply starts. */
  sent(): void {
    if (this.ended) return;
    this.timer ??= setTimeout(() => this.finish(`no reply within ${this.timeoutMs} ms`), this.timeoutMs);
  }

  finish(r: AttemptResult): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.end(r);
  }

  /** One target will not answer; the attempt fails when none is left. */
  fail(server: string, why: string): void {
    if (!this.targets.has(server)) return;
    this.failed.add(server);
    if (this.failed.size >= this.targets.size) this.finish(why);
  }
}
