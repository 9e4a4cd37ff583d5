/**
 * bench/rm-scale.ts end to end at its smallest: a real RM driven through groups, clients and
 * failovers by the stand-in GFD and clients, and a real GFD heartbeating stand-in LFDs. Checks
 * that every step completes and what was counted (views pushed, rows), never a timing.
 */
import t from 'tap';
import { runRmScale } from '../../bench/rm-scale.js';

t.test('rm-scale runs end to end at a minimal size', async (t) => {
  const r = await runRmScale({ groups: [2], clients: [0, 3], cycles: 2, asks: 1, lfds: [0, 2], heartbeat: 0.1, gfdWindowMs: 300 }, () => {});
  t.same(r.failures, [], 'no step failed');
  t.same(
    r.rm.map((x) => [x.groups, x.clients]),
    [
      [2, 0],
      [2, 3],
    ],
  );
  t.equal(r.rm[0]!.viewsPerCycle, 0, 'without clients no view is pushed');
  // Keys 1-3 under --route mod: g1 serves keys 1 and 3, g2 key 2; one failover in each group.
  t.equal(r.rm[1]!.viewsPerCycle, 1.5, "each failover pushes a view to its group's clients only");
  for (const x of r.rm) t.ok(Number.isFinite(x.cycleMs), `CPU per failover cycle measured (${x.clients} clients)`);
  t.ok(Number.isFinite(r.rm[1]!.joinUs) && Number.isFinite(r.rm[1]!.askUs), 'CPU per join and per discovery measured');
  t.same(
    r.gfd.map((x) => x.lfds),
    [0, 2],
  );
  t.ok(Number.isFinite(r.gfd[1]!.usPerHeartbeat), 'CPU per heartbeat measured');
  t.equal(r.gfd[1]!.lost, 0, "every stand-in LFD stayed registered");
});
