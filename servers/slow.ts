/**
 * Fail-slow faults a replica injects into itself on request (`ftkit ctl fault S2 …`), to show
 * the fail-slow detector at work: the replica keeps running and answering, only slower.
 *
 *   cpu-hog [ms]   every 100 ms, burn the CPU for `ms` (default 60) on the event loop: what a
 *                  runaway thread or a noisy neighbour does to everything the process answers
 *   mem-hog [mb]   grow the heap by `mb` (default 100) a second (in steps every 10 ms) and
 *                  keep it, touched, up to 1 GB: the garbage collector works ever harder
 *   delay <ms>     hold every message the replica sends (replies, acks, log entries, heartbeat
 *                  answers) for `ms` before it goes; order is kept
 *
 * Each lasts `seconds` if given, else until cleared; a new fault replaces the one running.
 */

import { HOG_PERIOD_MS as PERIOD_MS, MAX_HOG_MB, checkSlowOrder, type SlowFaultOrder } from '../lib/faults.js';

const DEFAULT_BURN_MS = 60;
const DEFAULT_MB_PER_S = 100;
/**
 * The memory hog grows in small steps, often: a fresh buffer's pages are faulted in as it is
 * filled, and on a busy machine 10 MB at once held the loop for up to 280 ms, past a 0.2 s
 * heartbeat's timeout, a crash rather than slowness; 1 MB (at 100 MB/s) holds it for far less.
 */
const GROW_PERIOD_MS = 10;

export class SlowFaults {
  private timer: NodeJS.Timeout | undefined;
  private ender: NodeJS.Timeout | undefined;
  private hog: Buffer[] = [];
  private grownMb = 0;
  private delay = 0;
  private running: SlowFaultOrder | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** How long each outgoing message is held now (0: sent at once). */
  get delayMs(): number {
    return this.delay;
  }

  /** What runs now, for traces: e.g. `delay 50 ms for 10 s`. */
  describe(): string {
    const o = this.running;
    if (!o) return 'none';
    const what = o.kind === 'cpu-hog' ? `cpu-hog ${o.amount} ms of every ${PERIOD_MS} ms` : o.kind === 'mem-hog' ? `mem-hog ${o.amount} MB/s (${Math.round(this.grownMb)} MB so far)` : `delay ${o.amount} ms`;
    return o.seconds > 0 ? `${what} for ${o.seconds} s` : what;
  }

  /** Start a fault (replacing any), or clear. Throws on an order checkSlowOrder refuses. */
  start(order: SlowFaultOrder): void {
    const refusal = checkSlowOrder(order);
    if (refusal) throw new RangeError(refusal);
    this.clear();
    if (order.kind === 'clear') return;
    const o: SlowFaultOrder = { ...order, amount: order.amount || (order.kind === 'cpu-hog' ? DEFAULT_BURN_MS : DEFAULT_MB_PER_S) };
    this.running = o;
    if (o.kind === 'delay') this.delay = o.amount;
    if (o.kind === 'cpu-hog') this.timer = setInterval(() => this.burn(o.amount), PERIOD_MS);
    if (o.kind === 'mem-hog') this.timer = setInterval(() => this.grow(o.amount / (1000 / GROW_PERIOD_MS)), GROW_PERIOD_MS);
    if (o.seconds > 0) this.ender = setTimeout(() => this.clear(), o.seconds * 1000);
  }

  clear(): void {
    clearInterval(this.timer);
    clearTimeout(this.ender);
    this.timer = this.ender = undefined;
    this.hog = [];
    this.grownMb = 0;
    this.delay = 0;
    this.running = undefined;
  }

  private burn(ms: number): void {
    const until = this.now() + ms;
    while (this.now() < until) {
      // burning: the point of the fault
    }
  }

  private grow(mb: number): void {
    if (this.grownMb + mb > MAX_HOG_MB) return;
    // Filled, so the pages are really taken, not just reserved.
    this.hog.push(Buffer.alloc(Math.round(mb * 1024 * 1024), 1));
    this.grownMb += mb;
  }
}
