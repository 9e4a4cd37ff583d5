/**
 * Heartbeating one peer over its connection, with the course's traces: what an LFD
 * does for each of its servers and the GFD for each LFD.
 */
import type { Connection } from '../net/index.js';
import type { Tracer } from '../trace/index.js';
import { DEFAULT_HEARTBEAT_FREQ_S } from '../config/options.js';
import { HeartbeatMonitor } from './heartbeat.js';

/** A heartbeat period and its timeout; the timeout follows the period (2×) unless fixed. */
export class HeartbeatTiming {
  periodMs: number;
  timeoutMs: number;
  private readonly fixedTimeout: boolean;

  constructor(freqSeconds = DEFAULT_HEARTBEAT_FREQ_S, timeoutSeconds?: number) {
    this.periodMs = freqSeconds * 1000;
    this.fixedTimeout = timeoutSeconds !== undefined;
    this.timeoutMs = timeoutSeconds !== undefined ? timeoutSeconds * 1000 : 2 * this.periodMs;
  }

  setFrequency(seconds: number): void {
    this.periodMs = seconds * 1000;
    if (!this.fixedTimeout) this.timeoutMs = 2 * this.periodMs;
  }
}

export interface PeerWatchOptions {
  me: string;
  peer: string;
  /** The key naming the peer in event data: `server` (LFD) or `lfd` (GFD). */
  role: 'server' | 'lfd';
  conn: Connection;
  timing: HeartbeatTiming;
  tracer: Tracer;
  onAlive(): void;
  onLost(num: number, why: string): void;
  /** Each heartbeat's round trip, in ms (none: not measured). */
  onRtt?(rttMs: number): void;
}

export class PeerWatch {
  readonly monitor: HeartbeatMonitor;

  constructor(private readonly o: PeerWatchOptions) {
    const { me, peer, role, conn, tracer } = o;
    this.monitor = new HeartbeatMonitor({
      periodMs: o.timing.periodMs,
      timeoutMs: o.timing.timeoutMs,
      send: (num) => {
        conn.send({ type: 'heartbeat', from: me, to: peer, num });
        if (tracer.wants('heartbeat')) tracer.emitEvent('heartbeat_sent', 'heartbeat', `[${num}] ${me} sending heartbeat to ${peer}`, { [role]: peer, num });
      },
      onAlive: () => o.onAlive(),
      onRtt: o.onRtt,
      onTimeout: (num, waited) => o.onLost(num, `timed out after ${Math.round(waited)} ms`),
      onStall: (num, late) =>
        tracer.emitEvent(
          'heartbeat_stall',
          'fault',
          `[${num}] ${me}: heartbeat timer for ${peer} fired ${Math.round(late)} ms late (event loop stalled); not taken as a failure`,
          { [role]: peer, num, lateMs: late },
        ),
    });
  }

  start(): void {
    this.monitor.start();
  }

  stop(): void {
    this.monitor.stop();
  }

  /** The peer answered heartbeat `num`. */
  answer(num: number): void {
    if (this.monitor.answer(num) && this.o.tracer.wants('heartbeat')) {
      this.o.tracer.emitEvent('heartbeat_received', 'heartbeat', `[${num}] ${this.o.me} receives heartbeat from ${this.o.peer}`, { [this.o.role]: this.o.peer, num });
    }
  }

  /** Apply the current timing (after a run-time change of frequency). */
  retime(): void {
    this.monitor.setPeriod(this.o.timing.periodMs, this.o.timing.timeoutMs);
  }

  /** The number of the last heartbeat sent. */
  get lastNum(): number {
    return this.monitor.nextNum - 1;
  }
}
