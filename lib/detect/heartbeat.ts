/**
 * A heartbeat fault detector for one peer: sends heartbeat n every period, expects
 * the answer within a timeout, and reports the peer alive (first answer) or dead
 * (an answer that did not come in time).
 *
 * Stall guard: a deadline timer that fires far later than scheduled means our own
 * event loop was blocked (GC, a paused process, a slow machine), and the answer may
 * be sitting unread in the socket. That is not evidence that the peer died: the
 * detector reports a stall and gives the heartbeat a fresh deadline instead.
 */
import { systemClock, type Clock } from './clock.js';

export interface HeartbeatOptions {
  periodMs: number;
  timeoutMs: number;
  /** How late a deadline may fire before it counts as a stall (default: half the timeout, at least 50 ms). */
  stallToleranceMs?: number;
  /** The first heartbeat number (the course starts at 1). */
  firstNum?: number;
  clock?: Clock;
  send(num: number): void;
  /** The first answer after start. */
  onAlive(num: number, rttMs: number): void;
  onTimeout(num: number, waitedMs: number): void;
  /** Every answer in time: the round trip of heartbeat `num` (the link's latency). */
  onRtt?(rttMs: number): void;
  onStall?(num: number, lateMs: number): void;
}

export class HeartbeatMonitor {
  private num: number;
  private readonly outstanding = new Map<number, { sentAt: number; timer: unknown }>();
  private tickTimer: unknown;
  private running = false;
  private alive = false;
  private readonly clock: Clock;

  constructor(private readonly options: HeartbeatOptions) {
    this.num = options.firstNum ?? 1;
    this.clock = options.clock ?? systemClock;
  }

  get nextNum(): number {
    return this.num;
  }

  get periodMs(): number {
    return this.options.periodMs;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.alive = false;
    this.tick();
  }

  stop(): void {
    this.running = false;
    this.clock.clearTimeout(this.tickTimer);
    for (const { timer } of this.outstanding.values()) this.clock.clearTimeout(timer);
    this.outstanding.clear();
  }

  /** Change the period (and timeout) while running; the next heartbeat goes out on the new schedule. */
  setPeriod(periodMs: number, timeoutMs: number): void {
    this.options.periodMs = periodMs;
    this.options.timeoutMs = timeoutMs;
    if (!this.running) return;
    this.clock.clearTimeout(this.tickTimer);
    this.tickTimer = this.clock.setTimeout(() => this.tick(), periodMs);
  }

  /** The peer answered heartbeat `num`: it and every earlier one are settled. */
  answer(num: number): boolean {
    const entry = this.outstanding.get(num);
    if (!entry || !this.running) return false;
    this.options.onRtt?.(this.clock.now() - entry.sentAt);
    for (const [n, { timer }] of this.outstanding) {
      if (n > num) continue;
      this.clock.clearTimeout(timer);
      this.outstanding.delete(n);
    }
    if (!this.alive) {
      this.alive = true;
      this.options.onAlive(num, this.clock.now() - entry.sentAt);
    }
    return true;
  }

  private tick(): void {
    if (!this.running) return;
    const num = this.num++;
    const sentAt = this.clock.now();
    this.outstanding.set(num, { sentAt, timer: this.armDeadline(num, sentAt) });
    this.options.send(num);
    if (this.running) this.tickTimer = this.clock.setTimeout(() => this.tick(), this.options.periodMs);
  }

  private armDeadline(num: number, sentAt: number): unknown {
    const due = this.clock.now() + this.options.timeoutMs;
    return this.clock.setTimeout(() => this.onDeadline(num, sentAt, due), this.options.timeoutMs);
  }

  private onDeadline(num: number, sentAt: number, due: number): void {
    if (!this.running || !this.outstanding.has(num)) return;
    const late = this.clock.now() - due;
    const tolerance = this.options.stallToleranceMs ?? Math.max(50, this.options.timeoutMs / 2);
    if (late > tolerance) {
      this.options.onStall?.(num, late);
      this.outstanding.set(num, { sentAt, timer: this.armDeadline(num, sentAt) });
      return;
    }
    this.stop();
    this.options.onTimeout(num, this.clock.now() - sentAt);
  }
}
