/**
 * A closed loop over a session: send a request, wait for its end, think, send the next.
 * The CLI client (a request every interval, or each line typed), the chaos clients
 * (random operations and pauses) and the bench's load clients (no think time) run one.
 */
import type { Outcome } from './outcome.js';
import type { Session } from './session.js';

export interface LoopOptions {
  /** The payload for request `num`, or undefined to end the loop. */
  next(num: number): string | undefined | Promise<string | undefined>;
  /** End after this many replies (0 or absent: no limit). */
  count?: number;
  /** Pause after each request, ms (0: a pure closed loop). */
  thinkMs?: number | (() => number);
  /** Go on after a request that ended without a reply (default: the loop ends with it). */
  continueOnFailure?: boolean;
}

export class ClosedLoop {
  private running = true;
  private paused: { promise: Promise<void>; resume: () => void } | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly session: Session,
    private readonly options: LoopOptions,
  ) {}

  /** Resolves when the loop ends: with the outcome that ended it (a request without a reply), else undefined. */
  async run(): Promise<Outcome | undefined> {
    const stopped = () => this.stop();
    this.session.once('stopped', stopped);
    try {
      return await this.loop();
    } finally {
      this.session.off('stopped', stopped);
    }
  }

  private async loop(): Promise<Outcome | undefined> {
    const o = this.options;
    let replies = 0;
    while (this.running && !this.session.stopped) {
      if (this.paused) {
        await this.paused.promise;
        continue;
      }
      const payload = await o.next(this.session.num);
      if (payload === undefined || !this.running) break;
      const outcome = await this.session.request(payload);
      if (outcome.status !== 'ok' && !o.continueOnFailure) return outcome;
      if (outcome.status === 'ok' && o.count && ++replies >= o.count) break;
      const think = typeof o.thinkMs === 'function' ? o.thinkMs() : o.thinkMs ?? 0;
      if (think > 0 && this.running) await this.sleep(think);
    }
    return undefined;
  }

  /** Start no new request; the open one runs to its end. */
  stop(): void {
    this.running = false;
    this.resume();
    this.wake?.();
  }

  /** Send nothing new until resume() (the open request runs to its end); connections stay open. */
  pause(): void {
    if (this.paused) return;
    let resume!: () => void;
    const promise = new Promise<void>((r) => (resume = r));
    this.paused = { promise, resume };
  }

  resume(): void {
    const p = this.paused;
    this.paused = undefined;
    p?.resume();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
