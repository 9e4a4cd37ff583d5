/**
 * Issue 16 acceptance: three replica groups of two replicas over three machines (LFDs), one RM
 * routing clients by key (`--route mod --fallback`). Each client is served by group
 * ((key − 1) mod 3) + 1; a primary's death fails over its group alone; a group with no replica
 * left hands its keys to the first group that has one, and takes them back when it recovers.
 */
import t from 'tap';
import { once } from 'node:events';
import { ViewFollower } from '../../clients/view.js';
import { System } from '../../harness/launch/system.js';
import type { Proc } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';

interface GroupStatus {
  name: string;
  epoch: number;
  leader: string | null;
  ready: string[];
  members: Array<{ name: string }>;
  clients: string[];
}

const data = <T>(e: TraceEvent) => e.data as T;
const done = (c: Proc) => c.events.filter((e) => e.type === 'request_done');
const expected = (key: number) => `g${((key - 1) % 3) + 1}`;

async function groups(sys: System): Promise<Map<string, GroupStatus>> {
  const status = JSON.parse(await sys.ctl({ op: 'status' })) as { groups: GroupStatus[] };
  return new Map(status.groups.map((g) => [g.name, g]));
}

/** Resolves with the client's first view event served by `group` from event index `from` on. */
function servedBy(c: Proc, group: string, from = 0): Promise<TraceEvent> {
  return c.waitFor((e) => e.type === 'view' && data<{ group?: string; replicas: unknown[] }>(e).group === group && data<{ replicas: unknown[] }>(e).replicas.length > 0, 20_000, from);
}

/** Resolves when every client has had `n` more replies than now. */
async function progress(clients: Proc[], n: number): Promise<void> {
  const base = clients.map((c) => done(c).length);
  await Promise.all(clients.map((c, i) => c.waitFor(() => done(c).length >= base[i]! + n, 20_000)));
}

/** The log of the group `key` routes to, read by a one-shot client with that key. */
async function readLog(sys: System, name: string, key: number): Promise<{ server: string; log: string[] }> {
  const c = sys.startClient(name, ['--key', String(key), '--message', 'read', '--count', '1', '--timeout', '1']);
  const e = await c.waitFor((ev) => ev.type === 'request_done', 20_000);
  await c.exited;
  return { server: data<{ server: string }>(e).server, log: JSON.parse(data<{ result: string }>(e).result) as string[] };
}

t.test('three groups behind one RM: routing by key, independent failover, fallback and return', async (t) => {
  const sys = new System({ mode: 'passive', app: 'log', groups: 3, replicas: 2, machines: 3, heartbeat: 0.1, heartbeatTimeout: 1, checkpointFreq: 1, rmArgs: ['--route', 'mod', '--fallback'] });
  t.teardown(() => sys.stop());
  await sys.start();
  t.same(sys.servers.map((s) => `${s}:${sys.groupOf(s)}@${sys.homeOf(s)}`), ['S1:g1@LFD1', 'S2:g1@LFD2', 'S3:g2@LFD2', 'S4:g2@LFD3', 'S5:g3@LFD3', 'S6:g3@LFD1']);
  await Promise.all(sys.groupNames.map((g) => sys.rm.waitFor((e) => e.type === 'ready_changed' && (data<{ group?: string }>(e).group ?? 'g1') === g && data<{ ready: string[] }>(e).ready.length === 2, 20_000)));

  const clients = [1, 2, 3, 4, 5, 6].map((k) => sys.startClient(`C${k}`, ['--key', String(k), '--message', `append C${k}-{n}`, '--interval', '0.05', '--timeout', '1']));
  await Promise.all(clients.map((c, i) => servedBy(c, expected(i + 1))));
  await progress(clients, 5);
  for (const [i, c] of clients.entries()) {
    const servers = new Set(done(c).map((e) => data<{ server: string }>(e).server));
    t.ok([...servers].every((s) => sys.groupOf(s) === expected(i + 1)), `C${i + 1} (key ${i + 1}) is answered by ${expected(i + 1)} only (${[...servers].join(', ')})`);
  }
  const before = await groups(sys);
  t.same([...before.values()].map((g) => g.epoch), [1, 1, 1], 'each group elected its first leader (epoch 1)');
  t.same(before.get('g2')!.clients.sort(), ['C2', 'C5'], 'the RM counts C2 and C5 as g2 clients');
  const leaderMachines = new Set([...before.values()].map((g) => sys.homeOf(g.leader!)));
  t.equal(leaderMachines.size, 3, `the three leaders run on three machines (${[...before.values()].map((g) => `${g.leader}@${sys.homeOf(g.leader!)}`).join(', ')})`);

  // kill -9 g2's primary: g2 elects the other one and bumps its epoch; g1 and g3 do not move
  const g2Leader = before.get('g2')!.leader!;
  let mark = sys.rm.events.length;
  sys.proc(g2Leader).kill('SIGKILL');
  await sys.rm.waitFor((e) => e.type === 'view_changed' && data<{ group?: string; leader?: string }>(e).group === 'g2' && data<{ leader?: string }>(e).leader !== g2Leader && data<{ view: unknown[] }>(e).view.length === 1, 10_000, mark);
  await progress(clients, 5);
  const after = await groups(sys);
  t.ok(after.get('g2')!.epoch > before.get('g2')!.epoch, `g2's epoch went from ${before.get('g2')!.epoch} to ${after.get('g2')!.epoch}`);
  t.not(after.get('g2')!.leader, g2Leader, `g2 has a new primary: ${after.get('g2')!.leader}`);
  for (const g of ['g1', 'g3']) {
    t.equal(after.get(g)!.epoch, before.get(g)!.epoch, `${g}'s epoch unchanged`);
    t.equal(after.get(g)!.leader, before.get(g)!.leader, `${g}'s leader unchanged`);
  }
  t.notOk(sys.rm.events.slice(mark).some((e) => e.type === 'decision' && /epoch/.test(e.text) && data<{ group?: string }>(e).group !== 'g2'), 'no decision of g1 or g3 mentions a new epoch');

  // every acknowledged append of g1's and g2's clients is in their group's log, once
  await progress(clients, 5);
  for (const key of [1, 2]) {
    const mine = clients.filter((_, i) => expected(i + 1) === expected(key));
    const acked = mine.flatMap((c) => done(c).map((e) => `${c.name}-${data<{ num: number }>(e).num}`));
    const { server, log } = await readLog(sys, `R${key}`, key);
    t.equal(sys.groupOf(server), expected(key), `the read for key ${key} is answered by ${expected(key)} (${server})`);
    const counts = new Map<string, number>();
    for (const item of log) counts.set(item, (counts.get(item) ?? 0) + 1);
    t.same(acked.filter((a) => !counts.has(a)), [], `${expected(key)}: all ${acked.length} acknowledged appends so far are in its log`);
    t.same([...counts].filter(([, n]) => n > 1), [], `${expected(key)}: nothing twice`);
    t.ok(log.every((item) => mine.some((c) => item.startsWith(`${c.name}-`))), `${expected(key)}: only its own clients' appends`);
  }

  // kill -9 both replicas of g3: keys 3 and 6 move to g1, and come back once g3 is relaunched
  const [c3, c6] = [clients[2]!, clients[5]!];
  const from3 = c3.events.length;
  const from6 = c6.events.length;
  mark = sys.rm.events.length;
  for (const s of sys.serversOf('g3')) sys.proc(s).kill('SIGKILL');
  await Promise.all([servedBy(c3, 'g1', from3), servedBy(c6, 'g1', from6)]);
  t.pass('C3 and C6 are served by g1 while g3 has no ready replica');
  const moved = c3.events.length;
  await progress([c3, c6], 3);
  t.ok(done(c3).slice(-3).every((e) => sys.groupOf(data<{ server: string }>(e).server) === 'g1'), 'C3 is answered by g1 meanwhile');
  await Promise.all([servedBy(c3, 'g3', moved), servedBy(c6, 'g3', moved)]);
  t.pass('C3 and C6 are served by g3 again once it has a ready replica');
  await progress([c3, c6], 3);
  t.ok(done(c3).slice(-3).every((e) => sys.groupOf(data<{ server: string }>(e).server) === 'g3'), 'C3 is answered by g3 again');
  const end = await groups(sys);
  t.equal(end.get('g1')!.epoch, before.get('g1')!.epoch, "g3's loss did not change g1's epoch");
  t.equal(end.get('g2')!.epoch, after.get('g2')!.epoch, "g3's loss did not change g2's epoch");
  t.equal(sys.rm.events.slice(mark).filter((e) => e.type === 'decision' && /is primary \(epoch/.test(e.text) && data<{ group?: string }>(e).group !== 'g3').length, 0, 'only g3 elected during its loss');
  await Promise.all(clients.map((c) => c.stop()));
});

t.test('least-loaded: 30 clients over three groups, no group more than one client above another', async (t) => {
  const sys = new System({ mode: 'active', groups: 3, replicas: 1, machines: 3, quiet: true, rmArgs: ['--route', 'least-loaded'] });
  t.teardown(() => sys.stop());
  await sys.start();
  await Promise.all(sys.groupNames.map((g) => sys.rm.waitFor((e) => e.type === 'ready_changed' && (data<{ group?: string }>(e).group ?? 'g1') === g && data<{ ready: string[] }>(e).ready.length === 1, 20_000)));
  // Thirty clients that only ask the RM where to send, each with its own key, in this process.
  const followers = Array.from({ length: 30 }, (_, i) => new ViewFollower({ name: `C${i + 1}`, rm: sys.rmAddr, key: String(i + 1), security: sys.security }));
  t.teardown(() => followers.forEach((f) => f.stop()));
  await Promise.all(
    followers.map((f) => {
      const viewed = once(f, 'view');
      f.start();
      return viewed;
    }),
  );
  const status = (await groups(sys)).values();
  const counts = [...status].map((g) => g.clients.length);
  t.equal(counts.reduce((a, b) => a + b, 0), 30, 'the RM routed all 30');
  t.ok(Math.max(...counts) - Math.min(...counts) <= 1, `clients per group: ${counts.join(', ')}`);
  t.ok(followers.every((f) => f.replicas.length === 1 && sys.groupOf(f.replicas[0]!.name) === f.group), 'each was handed one replica of its group');
  const byGroup = new Map<string, number>();
  for (const f of followers) byGroup.set(f.group!, (byGroup.get(f.group!) ?? 0) + 1);
  t.same([...byGroup.values()].sort(), [...counts].sort(), 'each client was told the group the RM counts it in');
});
