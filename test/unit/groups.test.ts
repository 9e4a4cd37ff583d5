/**
 * Replica groups in the RM's pure parts: routing keys to groups (mod, hash, least-loaded,
 * fallback), placing a group's new replicas on different machines, spreading leaders over
 * machines, and splitting the GFD's list by group.
 */
import t from 'tap';
import { Router, groupForKey, type GroupLoad, type Route } from '../../rm/routing.js';
import { Supervisor, type SupCommand } from '../../rm/supervisor.js';
import { ReplicationCore } from '../../rm/core.js';
import { splitByGroup } from '../../rm/group.js';

const groups = (names: string[], down: string[] = [], replicas: Record<string, string[]> = {}): GroupLoad[] =>
  names.map((name) => ({ name, serving: !down.includes(name), replicas: replicas[name] ?? [] }));
/** A random source that always picks the first of the tied. */
const first = () => 0;

t.test('mod: key k goes to group ((k - 1) mod N) + 1, in name order', async (t) => {
  const three = ['g1', 'g2', 'g3'];
  t.same([1, 2, 3, 4, 5, 6, 7].map((k) => groupForKey('mod', String(k), three)), ['g1', 'g2', 'g3', 'g1', 'g2', 'g3', 'g1']);
  t.equal(groupForKey('mod', '4', ['g10', 'g2', 'g1']), 'g1', 'name order is numeric-aware: g1, g2, g10');
  t.equal(groupForKey('mod', '3', ['g10', 'g2', 'g1']), 'g10');
  t.equal(groupForKey('mod', 'alice', three), groupForKey('hash', 'alice', three), 'a key that is not a number is hashed');
  t.equal(groupForKey('mod', '0', three), groupForKey('hash', '0', three), 'nor is 0 (keys start at 1)');
});

t.test('hash: stable, spread, and adding a group moves only the keys the new group takes', async (t) => {
  const keys = Array.from({ length: 3000 }, (_, i) => `user${i}`);
  const three = ['g1', 'g2', 'g3'];
  const before = new Map(keys.map((k) => [k, groupForKey('hash', k, three)]));
  t.same(keys.map((k) => groupForKey('hash', k, three)), [...before.values()], 'the same key always goes to the same group');
  const counts = three.map((g) => [...before.values()].filter((x) => x === g).length);
  t.ok(counts.every((c) => c > 800 && c < 1200), `about a third each: ${counts.join(', ')}`);
  const four = [...three, 'g4'];
  const moved = keys.filter((k) => groupForKey('hash', k, four) !== before.get(k));
  t.ok(moved.every((k) => groupForKey('hash', k, four) === 'g4'), 'every key that moved moved to the new group');
  t.ok(moved.length > 500 && moved.length < 1000, `about a quarter moved: ${moved.length} of ${keys.length}`);
});

t.test('no key: the default group, or the first group there is', async (t) => {
  const r = new Router('mod', false, false);
  t.same(r.route('C1', undefined, groups(['g2', 'g1']), new Map()), { home: 'g1', group: 'g1' });
  t.same(r.route('C1', undefined, groups(['g3', 'g2']), new Map()), { home: 'g2', group: 'g2' });
  t.equal(r.route('C1', '1', [], new Map()), undefined, 'no group at all: no route');
});

t.test('fallback: a key whose group cannot serve goes to the first group that can, and back', async (t) => {
  const plain = new Router('mod', false, false);
  const fb = new Router('mod', true, false);
  const all = ['g1', 'g2', 'g3'];
  t.same(plain.route('C3', '3', groups(all, ['g3']), new Map()), { home: 'g3', group: 'g3' }, 'without --fallback it stays with its group');
  t.same(fb.route('C3', '3', groups(all, ['g3']), new Map()), { home: 'g3', group: 'g1' });
  t.same(fb.route('C3', '3', groups(all, ['g1', 'g3']), new Map()), { home: 'g3', group: 'g2' }, 'the first group that can serve');
  t.same(fb.route('C3', '3', groups(all, all), new Map()), { home: 'g3', group: 'g3' }, 'none can: it waits for its own');
  t.same(fb.route('C3', '3', groups(all), new Map()), { home: 'g3', group: 'g3' }, 'back home when its group recovers');
});

t.test('least-loaded: 30 clients spread within one of each other; a client stays where it was put', async (t) => {
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const r = new Router('least-loaded', false, false, random);
  const all = groups(['g1', 'g2', 'g3']);
  const routes = new Map<string, Route>();
  for (let i = 1; i <= 30; i++) routes.set(`C${i}`, r.route(`C${i}`, String(i), all, routes)!);
  const counts = ['g1', 'g2', 'g3'].map((g) => [...routes.values()].filter((x) => x.group === g).length);
  t.ok(Math.max(...counts) - Math.min(...counts) <= 1, `no group has more than one client above another: ${counts.join(', ')}`);
  t.same(r.route('C1', '1', all, routes), routes.get('C1'), 'asking again changes nothing');
  r.forget('C2');
  routes.delete('C2');
  const lighter = ['g1', 'g2', 'g3'].filter((g) => [...routes.values()].filter((x) => x.group === g).length === Math.min(...['g1', 'g2', 'g3'].map((h) => [...routes.values()].filter((x) => x.group === h).length)));
  t.ok(lighter.includes(r.route('C31', '31', all, routes)!.group), 'a newcomer goes to a group with the fewest clients');
});

t.test('least-loaded in active mode also hands out the replica with the fewest clients, and replaces one that left', async (t) => {
  const r = new Router('least-loaded', false, true, first);
  const routes = new Map<string, Route>();
  const g = groups(['g1'], [], { g1: ['S1', 'S2', 'S3'] });
  for (let i = 1; i <= 6; i++) routes.set(`C${i}`, r.route(`C${i}`, 'k', g, routes)!);
  t.same([...routes.values()].map((x) => x.replica), ['S1', 'S2', 'S3', 'S1', 'S2', 'S3']);
  const without = groups(['g1'], [], { g1: ['S1', 'S3'] });
  const again = r.route('C2', 'k', without, routes)!;
  t.equal(again.group, 'g1', 'it stays in its group');
  t.ok(['S1', 'S3'].includes(again.replica!), `and gets a replica still there: ${again.replica}`);
});

const launchesOf = (cmds: SupCommand[]) => cmds.flatMap((c) => (c.type === 'send' && c.msg.type === 'launch' ? [c.msg] : []));

t.test("placement: a group's new replicas go to machines without one of that group, then to the least loaded", async (t) => {
  const sup = new Supervisor({ autoRestart: true, budget: 3, windowMs: 60_000 });
  for (const lfd of ['LFD1', 'LFD2', 'LFD3']) sup.handle({ type: 'machine', lfd, up: true, now: 0 });
  // g1 has S1 on LFD1 and S2 on LFD2; g2 has S3 on LFD3
  sup.handle({ type: 'added', name: 'S1', lfd: 'LFD1', group: 'g1', now: 0 });
  sup.handle({ type: 'added', name: 'S2', lfd: 'LFD2', group: 'g1', now: 0 });
  sup.handle({ type: 'added', name: 'S3', lfd: 'LFD3', group: 'g2', now: 0 });
  const g1 = launchesOf(sup.handle({ type: 'target', count: 3, leader: 'S1', group: 'g1', now: 0 }));
  t.same(g1, [{ type: 'launch', server: 'S4', lfd: 'LFD3', group: 'g1' }], "g1's third replica goes to LFD3, the machine without a g1 replica");
  const g2 = launchesOf(sup.handle({ type: 'target', count: 3, leader: 'S3', group: 'g2', now: 0 }));
  t.same(
    g2.map((m) => [m.server, m.lfd, m.group]),
    [
      ['S5', 'LFD1', 'g2'],
      ['S6', 'LFD2', 'g2'],
    ],
    "g2's replicas avoid LFD3, where g2 already runs",
  );
  t.equal(sup.status(0).S5!.group, 'g2', 'status names the group');
  t.equal(sup.targetOf('g2'), 3);
  t.equal(sup.target, 3, "the default group's target");
  const retire = sup.handle({ type: 'target', count: 1, leader: 'S3', group: 'g2', now: 0 });
  const retired = retire.flatMap((c) => (c.type === 'send' && c.msg.type === 'retire' ? [c.msg.server] : []));
  t.same(retired, [], 'replicas still launching are not retired');
  sup.handle({ type: 'added', name: 'S5', lfd: 'LFD1', group: 'g2', now: 1 });
  sup.handle({ type: 'added', name: 'S6', lfd: 'LFD2', group: 'g2', now: 1 });
  const again = sup.handle({ type: 'target', count: 1, leader: 'S3', group: 'g2', now: 2 });
  t.same(again.flatMap((c) => (c.type === 'send' && c.msg.type === 'retire' ? [c.msg.server] : [])), ['S6', 'S5'], "only g2's followers are retired, never g1's");
});

t.test('leaders spread: of equal candidates, the one on a machine with fewer other leaders is elected', async (t) => {
  const machine: Record<string, string> = { S4: 'LFD1', S5: 'LFD2', S6: 'LFD3' };
  const otherLeaders: Record<string, number> = { LFD1: 1, LFD2: 1, LFD3: 0 };
  const core = new ReplicationCore('passive', undefined, (name) => otherLeaders[machine[name]!]!);
  for (const s of ['S4', 'S5', 'S6']) core.handle({ type: 'added', name: s, addr: `127.0.0.1:${7200 + Number(s.slice(1))}` });
  t.equal(core.leader, 'S4', 'the first to join leads (no one else could)');
  for (const s of ['S5', 'S6']) core.handle({ type: 'report', report: { type: 'report', server: s, mode: 'passive', role: 'backup', epoch: 1, ready: true, checkpoint: 1, seq: 0, held: 1 } });
  core.handle({ type: 'deleted', name: 'S4' });
  for (const s of ['S5', 'S6']) core.handle({ type: 'report', report: { type: 'report', server: s, mode: 'passive', role: 'backup', epoch: 1, ready: true, checkpoint: 1, seq: 3, held: 1 } });
  t.equal(core.leader, 'S6', 'S5 and S6 hold the same: S6, on the machine with no other leader, wins over S5 (first by name)');
  const plain = new ReplicationCore('passive');
  for (const s of ['S4', 'S5', 'S6']) plain.handle({ type: 'added', name: s, addr: `127.0.0.1:${7200 + Number(s.slice(1))}` });
  for (const s of ['S5', 'S6']) plain.handle({ type: 'report', report: { type: 'report', server: s, mode: 'passive', role: 'backup', epoch: 1, ready: true, checkpoint: 1, seq: 0, held: 1 } });
  plain.handle({ type: 'deleted', name: 'S4' });
  for (const s of ['S5', 'S6']) plain.handle({ type: 'report', report: { type: 'report', server: s, mode: 'passive', role: 'backup', epoch: 1, ready: true, checkpoint: 1, seq: 3, held: 1 } });
  t.equal(plain.leader, 'S5', 'with one group (no leader load) name order decides, as before');
});

t.test("splitByGroup: the GFD's list by group; servers not named are in the default group", async (t) => {
  const m = (name: string) => ({ name, addr: `127.0.0.1:${7200 + Number(name.slice(1))}` });
  const split = splitByGroup([m('S1'), m('S4'), m('S5'), m('S2')], 'S4=g2;S5=g2', 'g1');
  t.same([...split.keys()].sort(), ['g1', 'g2']);
  t.same(split.get('g1')!.map((x) => x.name), ['S1', 'S2']);
  t.same(split.get('g2')!.map((x) => x.name), ['S4', 'S5']);
  t.same([...splitByGroup([m('S1')], '', 'g1').keys()], ['g1']);
});

t.test('restart budget per group: a group given its own budget gives up after it, the others keep the default', async (t) => {
  const sup = new Supervisor({ autoRestart: true, budget: 3, windowMs: 60_000 });
  sup.handle({ type: 'machine', lfd: 'LFD1', up: true, now: 0 });
  sup.handle({ type: 'added', name: 'S1', lfd: 'LFD1', group: 'g1', now: 0 });
  sup.handle({ type: 'added', name: 'S4', lfd: 'LFD1', group: 'g2', now: 0 });
  sup.setBudget(1, 'g2');
  t.equal(sup.budgetOf('g2'), 1);
  t.equal(sup.budgetOf('g1'), 3);
  const cycle = (name: string, at: number) => {
    const out = sup.handle({ type: 'deleted', name, now: at });
    sup.handle({ type: 'launchDue', name, now: at + 1 });
    sup.handle({ type: 'added', name, lfd: 'LFD1', now: at + 2 });
    return out.flatMap((c) => (c.type === 'trace' ? [c.text] : []));
  };
  t.match(cycle('S4', 10), [/relaunching it in \d+ ms \(attempt 1 of 1\)/]);
  t.match(cycle('S4', 20), [/giving up on it/], 'g2 gives up after one relaunch');
  t.match(cycle('S1', 30), [/attempt 1 of 3/]);
  t.match(cycle('S1', 40), [/attempt 2 of 3/], 'g1 keeps the RM-wide budget');
  sup.setBudget(5);
  t.equal(sup.budgetOf('g2'), 5, 'a budget set without a group applies to every group again');
});
