/**
 * Chaos over several replica groups (docs/CHAOS.md, "Several replica groups"): the cross-group
 * check on fabricated snapshots (it passes what a fault was allowed to change and catches a group
 * that changed though no fault aimed at it), each group's history checked on its own, faults
 * aimed at groups without changing the schedule, and two short runs of two groups on the real
 * system: passive seed 6 (the first step kills g1's primary's machine, which holds a g2 backup
 * too, while g2's primary is killed), active seed 22 (g2's sequencer's machine, with a g1 member,
 * is frozen; then a g2 member stalls while g1's sequencer is killed).
 */
import t from 'tap';
import { allowedGroups, checkIsolation, type Snapshot, type StepFault } from '../../harness/chaos/isolation.js';
import { checkGroups, groupForKey } from '../../harness/chaos/groups.js';
import { assignGroups, formatSchedule, makeSchedule } from '../../harness/chaos/schedule.js';
import { runChaos } from '../../harness/chaos/runner.js';
import { formatAnomaly, formatRun } from '../../harness/chaos/report.js';
import type { Op } from '../../harness/chaos/history.js';
import type { Mode } from '../../lib/protocol/index.js';

const snap = (beforeStep: number, at: number, groups: Record<string, [number, string | null]>): Snapshot => ({
  beforeStep,
  at,
  groups: Object.fromEntries(Object.entries(groups).map(([g, [epoch, leader]]) => [g, { epoch, leader }])),
});

t.test('cross-group check: a group changed by a fault aimed at it passes; one no fault aimed at is caught', async (t) => {
  const faults: StepFault[] = [
    { step: 1, kind: 'kill-leader', description: 'kill-leader g2 (down 0.50s)', target: 'S4 (primary)', group: 'g2' },
    { step: 2, kind: 'kill-follower', description: 'kill-follower g1 (down 0.40s)', target: 'S2 (backup)', group: 'g1' },
  ];
  const snapshots = [
    snap(1, 1000, { g1: [1, 'S1'], g2: [1, 'S4'], g3: [1, 'S7'] }),
    snap(2, 3000, { g1: [1, 'S1'], g2: [2, 'S5'], g3: [1, 'S7'] }),
    // g3's epoch and leader change while only g1 was faulted.
    snap(3, 5000, { g1: [1, 'S1'], g2: [2, 'S5'], g3: [2, 'S8'] }),
  ];
  const r = checkIsolation(snapshots, faults);
  t.equal(r.windows, 2);
  t.equal(r.compared, 6, 'every group compared in every window');
  t.same(r.changes, { g2: 1 }, "g2's new primary is a change its own fault allowed");
  t.equal(r.violations.length, 1, 'one violation');
  const v = r.violations[0]!;
  t.equal(v.group, 'g3');
  t.same([v.from, v.to], [3000, 5000], 'in the window of step 2');
  t.match(v.message, /g3 changed from epoch 1, leader S7 to epoch 2, leader S8 during #2 kill-follower g1 .* on S2 \(backup\): only g1 may change/);

  // The same histories with nothing changed in g3: clean.
  const clean = checkIsolation([snapshots[0]!, snapshots[1]!, snap(3, 5000, { g1: [1, 'S1'], g2: [2, 'S5'], g3: [1, 'S7'] })], faults);
  t.same(clean.violations, []);
});

t.test('cross-group check: a machine fault may change the groups whose leader was on it, and only those', async (t) => {
  const machine: StepFault = { step: 1, kind: 'kill-machine', description: 'kill-machine g3 follower (down 1.00s)', target: 'LFD2 with S9 (backup), S2 (backup), S4 (primary)', group: 'g3', leadersThere: ['g2'] };
  t.same([...allowedGroups([machine])].sort(), ['g2', 'g3']);
  const before = snap(1, 0, { g1: [3, 'S1'], g2: [1, 'S4'], g3: [1, 'S7'] });
  t.same(checkIsolation([before, snap(2, 2000, { g1: [3, 'S1'], g2: [2, 'S5'], g3: [1, 'S7'] })], [machine]).violations, [], "g2's primary was on the machine: it may fail over");
  const wrong = checkIsolation([before, snap(2, 2000, { g1: [4, 'S3'], g2: [1, 'S4'], g3: [1, 'S7'] })], [machine]);
  t.same(wrong.violations.map((v) => v.group), ['g1'], "g1's primary was elsewhere: its new epoch is caught");
  t.match(wrong.violations[0]!.message, /only g2, g3 may change/);
});

t.test('cross-group check: control-plane and skipped faults allow nothing; an epoch never goes back; a missing snapshot widens the window', async (t) => {
  const rm: StepFault = { step: 1, kind: 'restart-rm', description: 'restart-rm (down 0.30s)', target: 'RM' };
  const skipped: StepFault = { step: 2, kind: 'kill-leader', description: 'kill-leader g1 (down 0.30s)', group: 'g1', skipped: 'no replica in that role to target' };
  const a = snap(1, 0, { g1: [2, 'S1'], g2: [5, 'S4'] });
  const b = snap(2, 1000, { g1: [3, 'S2'], g2: [5, 'S4'] });
  t.same(checkIsolation([a, b], [rm]).violations.map((v) => v.group), ['g1'], 'an RM restart aims at no group');
  t.match(checkIsolation([a, b], [rm]).violations[0]!.message, /no group may change/);
  t.same(checkIsolation([snap(2, 0, { g1: [2, 'S1'] }), snap(3, 1, { g1: [3, 'S1'] })], [skipped]).violations.length, 1, 'a skipped fault changed nothing');
  const back = checkIsolation([snap(1, 0, { g1: [2, 'S1'] }), snap(2, 1, { g1: [1, 'S1'] })], [{ ...skipped, step: 1, skipped: undefined }]);
  t.match(back.violations[0]!.message, /g1's epoch went back: epoch 2, leader S1 → epoch 1, leader S1/, 'even in the group aimed at');
  // No snapshot before step 2: steps 1 and 2 share a window, and g2's change is allowed by step 2's fault.
  const g2Fault: StepFault = { step: 2, kind: 'pause-leader', description: 'pause-leader g2', group: 'g2' };
  const merged = checkIsolation([snap(1, 0, { g1: [1, 'S1'], g2: [1, 'S4'] }), snap(3, 9, { g1: [1, 'S1'], g2: [2, 'S6'] })], [rm, g2Fault]);
  t.equal(merged.windows, 1);
  t.same(merged.violations, []);
});

t.test('cross-group check: a change after a suspicion in that group itself is counted apart, not as a violation', async (t) => {
  const fault: StepFault = { step: 1, kind: 'kill-leader', description: 'kill-leader g1', target: 'S1 (primary)', group: 'g1' };
  const snapshots = [snap(1, 1000, { g1: [1, 'S1'], g2: [1, 'S4'] }), snap(2, 4000, { g1: [2, 'S2'], g2: [2, 'S5'] })];
  const excused = checkIsolation(snapshots, [fault], [{ at: 2500, groups: ['g2'] }]);
  t.same(excused.violations, []);
  t.same(excused.excused, { g2: 1 });
  t.same(excused.changes, { g1: 1 });
  const elsewhere = checkIsolation(snapshots, [fault], [{ at: 2500, groups: ['g1'] }, { at: 100, groups: ['g2'] }, { at: 4100, groups: ['g2'] }]);
  t.same(elsewhere.violations.map((v) => v.group), ['g2'], "a suspicion in another group, or outside the window, excuses nothing");
});

const op = (id: number, process: string, kind: 'append' | 'read', value: string | undefined, result: string, server: string, t0: number): Op => ({
  id,
  process,
  op: kind,
  ...(value ? { value } : {}),
  invokeTime: t0,
  completeTime: t0 + 1,
  outcome: 'ok',
  result,
  server,
  num: id + 1,
});

t.test('each group is checked against its own log; an answer from another group is caught', async (t) => {
  t.same([1, 2, 3, 4, 7].map((k) => groupForKey(k, ['g1', 'g2', 'g3'])), ['g1', 'g2', 'g3', 'g1', 'g1'], 'mod: ((key - 1) mod N) + 1');
  const clientGroup = new Map([
    ['C1', 'g1'],
    ['C2', 'g2'],
  ]);
  const serverGroup = (s: string) => (['S1', 'S2', 'S3'].includes(s) ? 'g1' : 'g2');
  // Both appends are index 1: right in their own groups' logs, not in any one log.
  const history = [op(0, 'C1', 'append', 'C1-1', '1', 'S1', 0), op(1, 'C2', 'append', 'C2-1', '1', 'S4', 10), op(2, 'C2', 'read', undefined, '["C2-1"]', 'S5', 20)];
  const finals = new Map([
    ['g1', { log: ['C1-1'], source: 'S1', replicas: [{ name: 'S2', log: ['C1-1'] }] }],
    ['g2', { log: ['C2-1'], source: 'S4', replicas: [] }],
  ]);
  const ok = checkGroups(history, clientGroup, serverGroup, finals);
  t.same(ok.anomalies.flatMap(formatAnomaly), []);
  t.same(ok.groups.map((g) => [g.name, g.clients, g.stats.appends.ok, g.stats.linearizable]), [
    ['g1', ['C1'], 1, true],
    ['g2', ['C2'], 1, true],
  ]);
  t.same(ok.history.map((o) => o.group), ['g1', 'g2', 'g2'], 'each operation is tagged with its group');
  t.equal(ok.stats.appends.ok, 2);
  t.ok(ok.stats.linearizable);

  const wrong = checkGroups([...history.slice(0, 2), { ...history[2]!, server: 'S2' }], clientGroup, serverGroup, finals);
  t.same(wrong.anomalies.map((a) => a.kind), ['wrong-group']);
  t.match(wrong.anomalies[0]!.message, /g2: C2 belongs to g2, but S2 of g1 answered its request 3/);
  t.notOk(wrong.groups[1]!.stats.linearizable);

  const lost = checkGroups(history, clientGroup, serverGroup, new Map([...finals, ['g2', { log: [], source: 'S4', replicas: [] }]]));
  t.same(lost.anomalies.map((a) => a.kind), ['lost', 'read-not-prefix'], "g2's own log is the one checked");
  t.match(lost.anomalies[0]!.message, /^g2: acknowledged append C2-1/);
});

t.test('aiming faults at groups leaves the schedule as one group gets it', async (t) => {
  const plain = makeSchedule({ seed: 6, durationMs: 20_000 });
  const aimed = assignGroups(plain, 6, ['g1', 'g2', 'g3']);
  t.same(aimed.map((s) => ({ ...s, fault: { ...s.fault, group: undefined }, ...(s.overlap ? { overlap: { ...s.overlap, fault: { ...s.overlap.fault, group: undefined } } } : {}) })), plain.map((s) => ({ ...s, fault: { ...s.fault, group: undefined }, ...(s.overlap ? { overlap: { ...s.overlap, fault: { ...s.overlap.fault, group: undefined } } } : {}) })));
  t.same(assignGroups(plain, 6, ['g1', 'g2', 'g3']), aimed, 'the same seed aims the same way');
  const all = aimed.flatMap((s) => [s.fault, ...(s.overlap ? [s.overlap.fault] : [])]);
  for (const f of all) t.equal(f.group === undefined, f.kind === 'restart-gfd' || f.kind === 'restart-rm', `${f.kind}: ${f.group ?? 'no group'}`);
  t.same(new Set(all.map((f) => f.group).filter(Boolean)), new Set(['g1', 'g2', 'g3']), 'every group is aimed at');
  t.match(formatSchedule(aimed)[0], /^# 1 after \d\.\d\ds: kill-machine g\d leader \(down/, "a fault names the group it aims at");
  t.same(formatSchedule(aimed).map((l) => l.replace(/ g\d\b/g, '')), formatSchedule(plain), 'without its groups, the schedule reads as a single group\'s');
});

// Two runs of about 5 s of faults each, on a system of 2 groups × 3 replicas (9 processes more than one group's).
t.setTimeout(240_000);
const RUNS: Array<[Mode, number]> = [
  ['passive', 6],
  ['active', 22],
];
for (const [mode, seed] of RUNS) {
  t.test(`two groups, ${mode}, seed ${seed}: each group's history linearizable, no fault crossed into the other group`, async (t) => {
    const r = await runChaos({ mode, seed, durationS: 5, groups: 2 });
    t.comment(formatRun(r).join('\n'));
    const machine = r.injected.find((f) => !f.skipped && f.machine);
    t.ok(machine, `a machine fault was injected: ${machine?.description} on ${machine?.target}`);
    t.match(machine?.target ?? '', /^LFD\d with S\d \([a-z]+\), S\d \([a-z]+\)$/, 'it hit a replica of each group');
    t.same(r.groups?.map((g) => g.name), ['g1', 'g2'], 'each group was checked on its own');
    for (const g of r.groups ?? []) {
      t.same(g.clients, g.name === 'g1' ? ['C1', 'C3', 'CS1'] : ['C2', 'C4', 'CS2'], `${g.name}: its clients by key`);
      t.ok(g.stats.appends.ok > 20, `${g.name}: ${g.stats.appends.ok} acknowledged appends`);
      t.ok(g.final.length !== undefined && g.final.replicas.length > 0, `${g.name}: final state read from ${g.final.source} and compared with ${g.final.replicas.length} more`);
      t.ok(g.stats.linearizable, `${g.name}: linearizable`);
      t.same(g.anomalies.flatMap(formatAnomaly), [], `${g.name}: no anomaly`);
    }
    t.ok(r.isolation && r.isolation.windows >= 1 && r.isolation.compared === 2 * r.isolation.windows, `cross-group check over ${r.isolation?.windows} windows`);
    t.ok(Object.keys(r.isolation?.changes ?? {}).length > 0, `some group changed where a fault allowed it: ${JSON.stringify(r.isolation?.changes)}`);
    t.same(r.anomalies.flatMap(formatAnomaly), [], `no anomaly (reproduce: npm run chaos -- --mode ${mode} --seed ${seed} --runs 1 --duration 5 --groups 2)`);
  });
}
