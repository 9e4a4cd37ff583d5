/**
 * The RM's supervision core: the restart counts `ftkit ctl status` shows only ever grow, while
 * the restart budget counts only the relaunches within its window.
 */
import t from 'tap';
import { Supervisor, type SupCommand } from '../../rm/supervisor.js';

const WINDOW_MS = 60_000;
const launches = (cmds: SupCommand[]) => cmds.filter((c) => c.type === 'send' && c.msg.type === 'launch');

/** S1 dies at `at` and is relaunched when its timer is due. */
function dieAndRelaunch(sup: Supervisor, at: number): number {
  sup.handle({ type: 'deleted', name: 'S1', now: at });
  const sent = launches(sup.handle({ type: 'launchDue', name: 'S1', now: at + 100 }));
  sup.handle({ type: 'added', name: 'S1', lfd: 'LFD1', now: at + 200 });
  return sent.length;
}

t.test('restart counts never go back; the budget counts the window', async (t) => {
  const sup = new Supervisor({ autoRestart: true, budget: 2, windowMs: WINDOW_MS });
  sup.handle({ type: 'machine', lfd: 'LFD1', up: true, now: 0 });
  sup.handle({ type: 'added', name: 'S1', lfd: 'LFD1', now: 0 });
  t.match(sup.status(0).S1, { state: 'alive', restarts: 0, recent: 0 });
  t.equal(dieAndRelaunch(sup, 1000), 1, 'first death: relaunched');
  t.equal(dieAndRelaunch(sup, 2000), 1, 'second death: relaunched');
  t.match(sup.status(3000).S1, { restarts: 2, recent: 2 });
  const later = 3000 + WINDOW_MS;
  t.match(sup.status(later).S1, { restarts: 2, recent: 0 }, 'after the window: the count stays, the budget is free again');
  t.equal(dieAndRelaunch(sup, later), 1, 'so a third death is relaunched');
  t.match(sup.status(later + 300).S1, { restarts: 3, recent: 1 });
});
