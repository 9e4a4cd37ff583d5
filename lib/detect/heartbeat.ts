/**
 * A heartbeat fault detector for one peer: sends heartbeat n every period, expects
 * the answer within a timeout, and reports the peer alive (first answer) or dead
 * (an answer that did not come in time).
 *
 * Stall guard: a deadline timer that fires far later than scheduled means our own
 * event loop was blocked (GC, a paused process, a slow machine), and the answer may
 * be sitting unread in the socket. That is not evidence that the peer died: the
 * detector reports a stall and gives the heartbeat a fresh deadline instead.
 *
 * Aligned ticks (`align`): heartbeats after the first go out on a grid of the period
 * (multiples of it, plus a phase, on a clock shared by every process on the machine when
 * `originMs` makes it the epoch), instead of one period after the previous send. Every
 * monitor of a process with the same period then ticks in one timer wake-up (the GFD's, one
 * per LFD), and a process that both answers heartbeats and sends its own (an LFD) can tick
 * just after the heartbeats it answers arrive, handling both in one wake-up. On an idle
 * system the wake-ups, not the work in them, are most of the CPU. Off unless asked for:
 * PeerWatch does not use it yet (docs/BENCHMARKS.md, issue 13: no idle gain measurable on a
 * busy machine, and all detectors waking at once is untested at heartbeat 0.05 s under load).
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
  onStall?(num: number, lateMs: number): void;
  /** Tick on a grid of the period instead of one period after the previous send (see above). */
  align?: HeartbeatAlignment;
}

export interface HeartbeatAlignment {
  /** Where in the period the ticks fall, ms after each multiple of the period. */
  phaseMs: number;
  /** Added to clock.now() to place the grid (performance.timeOrigin: the epoch, the same in every process). */
  originMs?: number;
}

/**
 * The next tick on the grid `k * period + phase` (in clock time plus `origin`), strictly after
 * `now` and at least half a period after it, so two heartbeats are never closer than that
 * (the gap is between half a period and one and a half). A late timer does not shift the grid.
 */
export function nextAlignedTick(now: number, periodMs: number, align: HeartbeatAlignment): number {
  const offset = (now + (align.originMs ?? 0) - align.phaseMs) % periodMs;
  let next = now - (offset < 0 ? offset + periodMs : offset) + periodMs;
  if (next - now < periodMs / 2) next += periodMs;
  return next;
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
    this.scheduleTick();
  }

  /** The peer answered heartbeat `num`: it and every earlier one are settled. */
  answer(num: number): boolean {
    const entry = this.outstanding.get(num);
    if (!entry || !this.running) return false;
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
    if (this.running) this.scheduleTick();
  }

  private scheduleTick(): void {
    const { periodMs, align } = this.options;
    if (!align) {
      this.tickTimer = this.clock.setTimeout(this.onTick, periodMs);
      return;
    }
    const now = this.clock.now();
    // Timers have whole milliseconds: round up, so the tick is never before its grid point.
    this.tickTimer = this.clock.setTimeout(this.onTick, Math.max(1, Math.ceil(nextAlignedTick(now, periodMs, align) - now)));
  }

  private readonly onTick = (): void => this.tick();

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
