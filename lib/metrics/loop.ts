/**
 * How blocked a process's event loop is, over each window: the delay a timer firing every
 * RESOLUTION_MS suffers (its p90 and max), and the share of the window the loop was busy
 * (event-loop utilisation). A CPU hog, a long GC pause or a synchronous burst holds the loop:
 * everything the process answers waits behind it. Unlike a link's round trip, this is the
 * process's own measure, so it does not carry the jitter of the peer that times it.
 *
 * The p90, not the max: a busy machine deschedules any process now and then (one late timer),
 * while a hog holds the loop again and again (every tenth timer and more is late).
 */
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';

/** The timer's period: a stall shorter than this is not seen. */
export const RESOLUTION_MS = 10;

/** One window of a process's event loop: timer delay p90 and max (ms), utilisation (0–1). */
export interface LoopReport {
  delay: number;
  max: number;
  elu: number;
}

export class LoopProbe {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private last: EventLoopUtilization | undefined;

  start(): void {
    this.histogram.enable();
    this.last = performance.eventLoopUtilization();
  }

  stop(): void {
    this.histogram.disable();
  }

  /** The window since the last read (or start), and a new one begun; undefined before start or without a sample. */
  read(): LoopReport | undefined {
    if (!this.last) return undefined;
    const now = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(now, this.last).utilization;
    this.last = now;
    const h = this.histogram;
    if (h.count === 0) return undefined;
    // The histogram holds each period the timer took, in ns: the delay is what it took beyond RESOLUTION_MS.
    const late = (ns: number) => round(Math.max(0, ns / 1e6 - RESOLUTION_MS));
    const report = { delay: late(h.percentile(90)), max: late(h.max), elu: round(elu) };
    h.reset();
    return report;
  }
}

const round = (v: number) => Math.round(v * 1000) / 1000;
