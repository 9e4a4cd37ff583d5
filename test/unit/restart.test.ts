/** The RM's relaunch policy: the shared back-off without jitter, and a budget per replica within a window. */
import t from 'tap';
import { RestartPolicy } from '../../rm/restart.js';

t.test('relaunch delays double from the base up to the cap, then the budget runs out', async (t) => {
  const p = new RestartPolicy({ budget: 5, windowMs: 60_000, baseMs: 100, capMs: 500 });
  const delays: number[] = [];
  for (let now = 0; ; now += 10) {
    const d = p.next('S1', now);
    if (!d.relaunch) {
      t.equal(d.attempts, 5, 'gives up after the budget');
      break;
    }
    t.equal(d.attempt, delays.length + 1);
    delays.push(d.delayMs);
    p.record('S1', now);
  }
  t.same(delays, [100, 200, 400, 500, 500]);
  t.ok(p.gaveUp('S1'));
});

t.test('relaunches older than the window no longer count', async (t) => {
  const p = new RestartPolicy({ budget: 2, windowMs: 1000, baseMs: 100 });
  p.record('S1', 0);
  p.record('S1', 100);
  t.same(p.next('S1', 500), { relaunch: false, attempts: 2 });
  t.same(p.next('S1', 1050), { relaunch: true, delayMs: 200, attempt: 2 }, 'the first relaunch left the window');
  t.same(p.next('S1', 1200), { relaunch: true, delayMs: 100, attempt: 1 });
  p.forget('S1');
  t.notOk(p.gaveUp('S1'));
});
