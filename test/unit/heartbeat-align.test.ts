/**
 * Aligned heartbeat ticks (lib/detect/heartbeat.ts `align`; not switched on in PeerWatch yet): after the first
 * heartbeat, ticks fall on a grid of the period plus a phase, so every monitor of a process
 * with the same period ticks at the same instants (one wake-up), and processes on one machine
 * share the grid. Driven by a manual fake clock: no sockets, no real timers, no sleeps.
 */
import t from 'tap';
import type { Clock } from '../../lib/detect/clock.js';
import { HeartbeatMonitor, nextAlignedTick, type HeartbeatAlignment } from '../../lib/detect/heartbeat.js';

class ManualClock implements Clock {
  time = 0;
  private seq = 0;
  private timers: { id: number; due: number; fn: () => void }[] = [];
  /** Added to every timer's firing, as an event loop that runs late. */
  lateness = 0;
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { id: ++this.seq, due: this.time + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      let next: (typeof this.timers)[number] | undefined;
      for (const x of this.timers) if (x.due + this.lateness <= target && (!next || x.due < next.due || (x.due === next.due && x.id < next.id))) next = x;
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.time = Math.max(this.time, next.due + this.lateness);
      next.fn();
    }
    this.time = Math.max(this.time, target);
  }
}

function monitor(clock: ManualClock, align: HeartbeatAlignment | undefined, periodMs = 100) {
  const sent: number[] = [];
  const mon = new HeartbeatMonitor({
    periodMs,
    timeoutMs: 2 * periodMs,
    clock,
    align,
    send: (num) => {
      sent.push(clock.now());
      // The peer answers at once, so no deadline ever fires.
      mon.answer(num);
    },
    onAlive: () => undefined,
    onTimeout: () => undefined,
  });
  return { mon, sent };
}

t.test('nextAlignedTick: the next grid point at least half a period ahead', async (t) => {
  const a = { phaseMs: 0 };
  t.equal(nextAlignedTick(0, 100, a), 100, 'on a grid point: the next one');
  t.equal(nextAlignedTick(10, 100, a), 100);
  t.equal(nextAlignedTick(49.9, 100, a), 100);
  t.equal(nextAlignedTick(50.1, 100, a), 200, 'less than half a period to go: the one after');
  t.equal(nextAlignedTick(99.5, 100, a), 200);
  t.equal(nextAlignedTick(10, 100, { phaseMs: 3 }), 103, 'the phase shifts the grid');
  t.equal(nextAlignedTick(102, 100, { phaseMs: 3 }), 203, 'just before a grid point counts as close');
  t.equal(nextAlignedTick(10, 100, { phaseMs: 0, originMs: 1_000_000_070 }), 130, 'the origin moves the grid into another clock');
  t.equal(nextAlignedTick(1, 1000, { phaseMs: 250 }), 1250, 'a later phase than now in the first period, but less than half a period ahead');
  for (let now = 0; now < 1000; now += 7.3) {
    const next = nextAlignedTick(now, 100, { phaseMs: 3, originMs: 12.5 });
    t.ok(next - now >= 50 && next - now <= 150, `gap between half and one and a half periods (now ${now})`);
    t.ok(Math.abs((((next + 12.5 - 3) % 100) + 100) % 100) < 1e-9, `on the grid (now ${now})`);
  }
});

t.test('aligned monitors started at different times tick together after their first heartbeat', async (t) => {
  const clock = new ManualClock();
  const a = monitor(clock, { phaseMs: 0 });
  const b = monitor(clock, { phaseMs: 0 });
  clock.advance(13);
  a.mon.start();
  clock.advance(24);
  b.mon.start();
  clock.advance(500);
  t.same(a.sent, [13, 100, 200, 300, 400, 500]);
  t.same(b.sent, [37, 100, 200, 300, 400, 500], 'the same instants as the other monitor');
  a.mon.stop();
  b.mon.stop();
});

t.test('without align the period runs from each send (unchanged behaviour)', async (t) => {
  const clock = new ManualClock();
  const a = monitor(clock, undefined);
  clock.advance(13);
  a.mon.start();
  clock.advance(300);
  t.same(a.sent, [13, 113, 213, 313]);
  a.mon.stop();
});

t.test('a late timer does not shift the grid, and heartbeats never come closer than half a period', async (t) => {
  const clock = new ManualClock();
  const a = monitor(clock, { phaseMs: 3 });
  a.mon.start();
  clock.lateness = 4;
  clock.advance(350);
  clock.lateness = 0;
  clock.advance(300);
  t.same(a.sent.slice(0, 4), [0, 107, 207, 307], 'late by the loop, not by an accumulating drift');
  t.same(a.sent.slice(4), [403, 503, 603], 'back on the grid');
  for (let i = 1; i < a.sent.length; i++) t.ok(a.sent[i]! - a.sent[i - 1]! >= 50);
  a.mon.stop();
});

t.test('setPeriod moves an aligned monitor to the grid of the new period', async (t) => {
  const clock = new ManualClock();
  const a = monitor(clock, { phaseMs: 0 });
  a.mon.start();
  clock.advance(120);
  a.mon.setPeriod(50, 100);
  clock.advance(130);
  t.same(a.sent, [0, 100, 150, 200, 250]);
  a.mon.stop();
});
