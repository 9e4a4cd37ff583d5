/**
 * HeartbeatMonitor (lib/detect/heartbeat.ts), driven by a manual fake clock: no sockets,
 * no real timers, no sleeps. The clock holds a timer queue; advance(ms) fires due timers
 * in time order (ties in scheduling order), moving now to each timer's due time; stall(ms)
 * moves now forward without firing anything, like a blocked event loop.
 */
import t from 'tap';
import type { Clock } from '../../lib/detect/clock.js';
import { HeartbeatMonitor, type HeartbeatOptions } from '../../lib/detect/heartbeat.js';

interface FakeTimer {
  id: number;
  due: number;
  fn: () => void;
}

class ManualClock implements Clock {
  private time = 0;
  private seq = 0;
  private timers: FakeTimer[] = [];

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

  /** Timers still scheduled. */
  get pending(): number {
    return this.timers.length;
  }

  /** Move time forward by ms, firing every timer that falls due on the way, in time order. */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      const next = this.nextDue(target);
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.time = Math.max(this.time, next.due);
      next.fn();
    }
    this.time = Math.max(this.time, target);
  }

  /** The event loop was blocked for ms: time moves, nothing fires. */
  stall(ms: number): void {
    this.time += ms;
  }

  /** Fire whatever is overdue now (the loop unblocks). */
  fire(): void {
    this.advance(0);
  }

  private nextDue(limit: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const x of this.timers) {
      if (x.due > limit) continue;
      if (!best || x.due < best.due || (x.due === best.due && x.id < best.id)) best = x;
    }
    return best;
  }
}

interface Rig {
  clock: ManualClock;
  mon: HeartbeatMonitor;
  sent: { num: number; at: number }[];
  alive: { num: number; rtt: number }[];
  timeouts: { num: number; waited: number; at: number }[];
  stalls: { num: number; late: number }[];
  /** When set, the peer answers each heartbeat this many ms after it is sent. */
  autoAnswerMs: number | undefined;
  answers: boolean[];
}

function rig(opts: Partial<HeartbeatOptions> = {}): Rig {
  const clock = new ManualClock();
  const r: Rig = {
    clock,
    mon: undefined as unknown as HeartbeatMonitor,
    sent: [],
    alive: [],
    timeouts: [],
    stalls: [],
    autoAnswerMs: undefined,
    answers: [],
  };
  r.mon = new HeartbeatMonitor({
    periodMs: 100,
    timeoutMs: 250,
    clock,
    send: (num) => {
      r.sent.push({ num, at: clock.now() });
      const delay = r.autoAnswerMs;
      if (delay !== undefined) clock.setTimeout(() => r.answers.push(r.mon.answer(num)), delay);
    },
    onAlive: (num, rtt) => r.alive.push({ num, rtt }),
    onTimeout: (num, waited) => r.timeouts.push({ num, waited, at: clock.now() }),
    onStall: (num, late) => r.stalls.push({ num, late }),
    ...opts,
  });
  return r;
}

const nums = (r: Rig) => r.sent.map((s) => s.num);
const times = (r: Rig) => r.sent.map((s) => s.at);

t.test('the fake clock fires timers in time order and moves now to each due time', async (t) => {
  const clock = new ManualClock();
  const seen: [string, number][] = [];
  clock.setTimeout(() => seen.push(['b', clock.now()]), 20);
  clock.setTimeout(() => seen.push(['a', clock.now()]), 10);
  const h = clock.setTimeout(() => seen.push(['x', clock.now()]), 15);
  clock.setTimeout(() => clock.setTimeout(() => seen.push(['c', clock.now()]), 5), 20);
  clock.clearTimeout(h);
  clock.advance(30);
  t.same(seen, [['a', 10], ['b', 20], ['c', 25]]);
  t.equal(clock.now(), 30);
  clock.setTimeout(() => seen.push(['late', clock.now()]), 10);
  clock.stall(100);
  t.equal(seen.length, 3, 'stall fires nothing');
  clock.fire();
  t.same(seen.at(-1), ['late', 130], 'an overdue timer fires at the current time');
});

t.test('the first heartbeat is number 1, sent at start; then one per period', async (t) => {
  const r = rig();
  r.autoAnswerMs = 10;
  t.equal(r.mon.nextNum, 1);
  t.equal(r.mon.periodMs, 100);
  t.same(r.sent, [], 'nothing is sent before start');
  r.mon.start();
  t.same(r.sent, [{ num: 1, at: 0 }], 'heartbeat 1 goes out at once');
  r.mon.start();
  t.equal(r.sent.length, 1, 'a second start() is a no-op');
  r.clock.advance(99);
  t.equal(r.sent.length, 1, 'nothing before the period has elapsed');
  r.clock.advance(1);
  t.same(r.sent.at(-1), { num: 2, at: 100 });
  r.clock.advance(400);
  t.same(nums(r), [1, 2, 3, 4, 5, 6]);
  t.same(times(r), [0, 100, 200, 300, 400, 500]);
  t.equal(r.mon.nextNum, 7);
  t.same(r.timeouts, []);
  r.mon.stop();
});

t.test('firstNum sets the first heartbeat number', async (t) => {
  const r = rig({ firstNum: 17 });
  r.autoAnswerMs = 5;
  r.mon.start();
  r.clock.advance(200);
  t.same(nums(r), [17, 18, 19]);
  t.same(r.alive, [{ num: 17, rtt: 5 }]);
  r.mon.stop();
});

t.test('an answer before the deadline: onAlive once, with the round-trip time', async (t) => {
  const r = rig();
  r.mon.start();
  r.clock.advance(40);
  t.equal(r.mon.answer(1), true);
  t.same(r.alive, [{ num: 1, rtt: 40 }]);
  r.clock.advance(70); // t = 110: heartbeat 2 went out at 100
  t.equal(r.mon.answer(2), true, 'later answers are accepted');
  t.equal(r.alive.length, 1, 'onAlive only for the first answer');
  r.autoAnswerMs = 30;
  r.clock.advance(5000);
  t.equal(r.alive.length, 1, 'still only one onAlive after many answers');
  t.ok(r.answers.length > 40 && r.answers.every(Boolean), 'every answer was accepted');
  t.same(r.timeouts, [], 'no timeout while the peer answers');
  t.same(r.stalls, []);
  r.mon.stop();
});

t.test('no answer: onTimeout(n, waited) exactly once, then the monitor stops sending', async (t) => {
  const r = rig();
  r.mon.start();
  r.clock.advance(249);
  t.same(r.timeouts, []);
  t.same(nums(r), [1, 2, 3]);
  r.clock.advance(1);
  t.same(r.timeouts, [{ num: 1, waited: 250, at: 250 }]);
  r.clock.advance(10_000);
  t.equal(r.timeouts.length, 1, 'exactly one timeout');
  t.same(nums(r), [1, 2, 3], 'no heartbeat after the timeout');
  t.same(r.alive, []);
  t.equal(r.mon.answer(2), false, 'an answer after the timeout is not accepted');
  t.equal(r.mon.answer(3), false);
  t.same(r.alive, [], 'and does not bring the peer back to life');
  t.equal(r.clock.pending, 0, 'no timers left behind');
});

t.test('a peer that answered and then goes silent times out on its first unanswered heartbeat', async (t) => {
  const r = rig();
  r.autoAnswerMs = 10;
  r.mon.start();
  r.clock.advance(250); // 1, 2, 3 answered; 3 sent at 200, answered at 210
  r.autoAnswerMs = undefined; // silent from here: 4 goes out at 300 unanswered
  r.clock.advance(1000);
  t.same(r.alive, [{ num: 1, rtt: 10 }]);
  t.same(r.timeouts, [{ num: 4, waited: 250, at: 550 }]);
  t.same(nums(r), [1, 2, 3, 4, 5, 6]);
  t.equal(r.clock.pending, 0);
});

t.test('answer(n) settles every earlier outstanding heartbeat', async (t) => {
  const r = rig();
  r.mon.start();
  r.clock.advance(220); // 1 (t=0), 2 (t=100), 3 (t=200) outstanding
  t.equal(r.mon.answer(3), true);
  t.same(r.alive, [{ num: 3, rtt: 20 }]);
  r.autoAnswerMs = 10;
  r.clock.advance(2000);
  t.same(r.timeouts, [], 'the deadlines of 1 and 2 were cleared by the answer to 3');
  t.equal(r.mon.answer(1), false, 'a settled heartbeat is stale');
  t.equal(r.mon.answer(2), false);
  r.mon.stop();
});

t.test('a stale or unknown answer returns false and changes nothing', async (t) => {
  const r = rig();
  t.equal(r.mon.answer(1), false, 'before start');
  r.mon.start();
  t.equal(r.mon.answer(0), false, 'never sent');
  t.equal(r.mon.answer(2), false, 'not sent yet');
  t.equal(r.mon.answer(99), false, 'unknown');
  t.same(r.alive, []);
  r.clock.advance(10);
  t.equal(r.mon.answer(1), true);
  t.equal(r.mon.answer(1), false, 'the same answer twice: the second is stale');
  t.same(r.alive, [{ num: 1, rtt: 10 }]);
  // An unknown answer must not settle anything: 2 (sent at 100) still times out at 350.
  r.clock.advance(100);
  t.equal(r.mon.answer(50), false);
  r.clock.advance(240);
  t.same(r.timeouts, [{ num: 2, waited: 250, at: 350 }]);
});

t.test('setPeriod changes the interval of subsequent sends and the timeout', async (t) => {
  const r = rig();
  r.autoAnswerMs = 10;
  r.mon.start();
  r.clock.advance(50); // 1 answered at 10
  r.mon.setPeriod(40, 90);
  t.equal(r.mon.periodMs, 40);
  r.autoAnswerMs = undefined;
  r.clock.advance(129); // t = 179
  t.same(times(r), [0, 90, 130, 170], 'the next heartbeat goes out one new period after setPeriod');
  t.same(r.timeouts, []);
  r.clock.advance(1); // t = 180: heartbeat 2 (sent at 90) is 90 ms old
  t.same(r.timeouts, [{ num: 2, waited: 90, at: 180 }], 'the new timeout applies');
  r.clock.advance(1000);
  t.equal(r.timeouts.length, 1);
  t.equal(r.sent.length, 4);
});

t.test('setPeriod before start: the first period and timeout are the new ones', async (t) => {
  const r = rig();
  r.mon.setPeriod(30, 70);
  t.same(r.sent, [], 'setPeriod does not start the monitor');
  t.equal(r.clock.pending, 0);
  r.mon.start();
  r.clock.advance(69);
  t.same(times(r), [0, 30, 60]);
  r.clock.advance(1);
  t.same(r.timeouts, [{ num: 1, waited: 70, at: 70 }]);
});

t.test('stop() clears everything: no further send, timeout or stall', async (t) => {
  const r = rig();
  r.mon.start();
  r.clock.advance(220); // 1, 2, 3 outstanding
  r.mon.stop();
  t.equal(r.clock.pending, 0, 'every timer was cleared');
  r.clock.advance(10_000);
  r.clock.stall(10_000);
  r.clock.fire();
  t.same(nums(r), [1, 2, 3]);
  t.same(r.timeouts, []);
  t.same(r.stalls, []);
  t.equal(r.mon.answer(3), false, 'answers after stop are not accepted');
  t.same(r.alive, []);
  r.mon.stop();
  t.pass('a second stop() is harmless');
});

t.test('stall guard: a deadline that fires far too late is a stall, not a timeout', async (t) => {
  // A long period keeps the tick out of the way: only heartbeat 1 is outstanding.
  const r = rig({ periodMs: 1000, timeoutMs: 250 }); // default tolerance: max(50, 125) = 125
  r.mon.start();
  r.clock.advance(50);
  r.clock.stall(450); // now = 500, the deadline (due 250) has not fired
  r.clock.fire();
  t.same(r.stalls, [{ num: 1, late: 250 }], 'onStall with how late the deadline fired');
  t.same(r.timeouts, [], 'no timeout on a stall');
  t.same(nums(r), [1]);
  t.test('still unanswered after the fresh deadline (on time): timeout', async (t) => {
    r.clock.advance(249);
    t.same(r.timeouts, [], 'the fresh deadline is a full timeout after the stall');
    r.clock.advance(1); // t = 750
    t.same(r.timeouts, [{ num: 1, waited: 750, at: 750 }], 'waited counts from the send');
    t.equal(r.stalls.length, 1);
    r.clock.advance(5000);
    t.equal(r.timeouts.length, 1);
    t.same(nums(r), [1], 'stopped: no more heartbeats');
  });
});

t.test('stall guard: answered after the stall, no timeout', async (t) => {
  const r = rig({ periodMs: 1000, timeoutMs: 250 });
  r.mon.start();
  r.clock.advance(50);
  r.clock.stall(450);
  r.clock.fire();
  t.equal(r.stalls.length, 1);
  r.clock.advance(10); // the answer was in the socket: read right after the timers
  t.equal(r.mon.answer(1), true);
  t.same(r.alive, [{ num: 1, rtt: 510 }]);
  r.autoAnswerMs = 20;
  r.clock.advance(10_000);
  t.same(r.timeouts, []);
  t.equal(r.stalls.length, 1);
  t.same(nums(r), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  r.mon.stop();
});

t.test('stall guard: with several overdue timers (ticks and deadlines), the answers that follow settle everything', async (t) => {
  const r = rig(); // period 100, timeout 250
  r.autoAnswerMs = 10;
  r.mon.start();
  r.clock.advance(150); // 1 answered at 10, 2 sent at 100 and answered at 110
  r.autoAnswerMs = undefined;
  r.clock.advance(100); // 3 sent at 200, unanswered; t = 250
  r.clock.stall(1000); // t = 1250: tick (300) and deadline of 3 (450) overdue
  r.autoAnswerMs = 10;
  r.clock.fire();
  t.same(r.stalls.map((s) => s.num), [3], 'the overdue deadline of 3 is a stall');
  t.same(r.timeouts, []);
  r.clock.advance(3000);
  t.same(r.timeouts, [], 'the answers after the stall settle 3 too');
  r.mon.stop();
});

t.test('stall guard: a deadline only slightly late (within the tolerance) is still a timeout', async (t) => {
  const r = rig({ periodMs: 1000, timeoutMs: 250 });
  r.mon.start();
  r.clock.advance(50);
  r.clock.stall(300); // now 350: 100 ms late, tolerance 125
  r.clock.fire();
  t.same(r.stalls, []);
  t.same(r.timeouts, [{ num: 1, waited: 350, at: 350 }]);
});

t.test('stall guard: stallToleranceMs sets how late counts as a stall', async (t) => {
  const r = rig({ periodMs: 1000, timeoutMs: 250, stallToleranceMs: 20 });
  r.mon.start();
  r.clock.advance(50);
  r.clock.stall(230); // now 280: 30 ms late > 20
  r.clock.fire();
  t.same(r.stalls, [{ num: 1, late: 30 }]);
  t.same(r.timeouts, []);
  r.clock.advance(250); // fresh deadline at 530
  t.same(r.timeouts, [{ num: 1, waited: 530, at: 530 }]);
});

t.test('stall guard: the default tolerance is at least 50 ms', async (t) => {
  const r = rig({ periodMs: 1000, timeoutMs: 40 }); // half the timeout would be 20
  r.mon.start();
  r.clock.stall(80); // 40 ms late: not over 50
  r.clock.fire();
  t.same(r.stalls, []);
  t.same(r.timeouts, [{ num: 1, waited: 80, at: 80 }]);
  const s = rig({ periodMs: 1000, timeoutMs: 40 });
  s.mon.start();
  s.clock.stall(100); // 60 ms late
  s.clock.fire();
  t.same(s.stalls, [{ num: 1, late: 60 }]);
  t.same(s.timeouts, []);
  s.mon.stop();
});

t.test('stall guard works without an onStall callback', async (t) => {
  const r = rig({ periodMs: 1000, timeoutMs: 250, onStall: undefined });
  r.mon.start();
  r.clock.stall(600);
  r.clock.fire();
  t.same(r.timeouts, [], 'a stall is not a timeout even when nobody listens for stalls');
  t.equal(r.mon.answer(1), true);
  t.same(r.alive, [{ num: 1, rtt: 600 }]);
  r.mon.stop();
});
