/**
 * Issue 4 acceptance: warm-passive replication with real processes. Clients append
 * unique items while primaries are killed; no acknowledged item is lost or doubled,
 * backups converge, only the primary answers, and backup failures never stall clients.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { System } from '../../harness/launch/system.js';
import type { Proc } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';

const CLIENTS = ['C1', 'C2', 'C3'];
const digest = (s: string) => createHash('sha1').update(s).digest('hex').slice(0, 12);
const done = (c: Proc) => c.events.filter((e) => e.type === 'request_done');
const data = <T>(e: TraceEvent) => e.data as T;

/** The RM's current primary, from its latest view event. */
function primaryOf(sys: System): string {
  const views = sys.rm.events.filter((e) => e.type === 'view_changed');
  return data<{ leader: string }>(views[views.length - 1]!).leader;
}

/** Resolves when every client has had `n` more replies than now. */
async function progress(clients: Proc[], n: number): Promise<void> {
  const base = clients.map((c) => done(c).length);
  await Promise.all(clients.map((c, i) => c.waitFor(() => done(c).length >= base[i]! + n, 20_000)));
}

/** Longest time between two consecutive replies at any client, within [from, to]. */
function longestGap(clients: Proc[], from: number, to: number): number {
  let worst = 0;
  for (const c of clients) {
    const times = done(c).map((e) => e.time).filter((x) => x >= from && x <= to);
    for (let i = 1; i < times.length; i++) worst = Math.max(worst, times[i]! - times[i - 1]!);
  }
  return worst;
}

t.test('passive replication: primary failovers lose nothing and execute nothing twice', async (t) => {
  const sys = new System({ mode: 'passive', autoRestart: false, app: 'log', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, checkpointFreq: 1 });
  t.teardown(() => sys.stop());
  await sys.start();
  const clients = CLIENTS.map((c) => sys.startClient(c, ['--message', `append ${c}-{n}`, '--interval', '0.02', '--timeout', '1']));
  await progress(clients, 10);

  // milestone-3 rubric: checkpoint lines on the sender and each receiver
  const first = primaryOf(sys);
  const backups = ['S1', 'S2', 'S3'].filter((s) => s !== first);
  const sent = await sys.proc(first).waitFor((e) => e.type === 'checkpoint_sent', 5000);
  t.match(sent.text, new RegExp(`^\\[\\d+\\] \\[my_state=.*\\] ${first} sending checkpoint to S\\d$`));
  for (const b of backups) {
    const got = await sys.proc(b).waitFor((e) => e.type === 'checkpoint_received', 5000);
    t.match(got.text, new RegExp(`^\\[\\d+\\] \\[my_state=.*\\] ${b} receives checkpoint from ${first}$`));
  }

  // kill -9 the primary
  let killedAt = Date.now();
  sys.proc(first).kill('SIGKILL');
  await sys.rm.waitFor((e) => e.type === 'view_changed' && data<{ leader: string }>(e).leader !== first && data<{ view: unknown[] }>(e).view.length === 1);
  const second = primaryOf(sys);
  await progress(clients, 10);
  const gap1 = longestGap(clients, killedAt - 1000, Date.now());

  // restart the first one by hand: it recovers from a checkpoint and becomes a backup
  const fromRm = sys.rm.events.length;
  const again = await sys.startServer(first);
  await again.waitFor((e) => e.type === 'checkpoint_received', 10_000);
  await sys.rm.waitFor((e) => e.type === 'decision' && e.text === `RM: ${first} caught up (checkpoint ${(e.text.match(/checkpoint (\d+)/) ?? [])[1]}): ready`, 10_000, fromRm);
  await again.waitFor((e) => e.type === 'role_changed' && data<{ role: string; ready: boolean }>(e).role === 'backup' && data<{ ready: boolean }>(e).ready);
  t.pass(`${first} came back as a ready backup`);
  await progress(clients, 10);

  // kill -9 the new primary
  killedAt = Date.now();
  const mark = sys.rm.events.length;
  sys.proc(second).kill('SIGKILL');
  await sys.rm.waitFor((e) => e.type === 'view_changed' && data<{ leader: string }>(e).leader !== second && data<{ view: unknown[] }>(e).view.length === 1, 10_000, mark);
  const third = primaryOf(sys);
  await progress(clients, 10);
  const gap2 = longestGap(clients, killedAt - 1000, Date.now());
  t.comment(`longest gap between two replies at a client across a primary failover: ${Math.max(gap1, gap2)} ms (first ${gap1} ms, second ${gap2} ms)`);

  // stop the clients, then read the log from the primary
  await Promise.all(clients.map((c) => c.stop()));
  const acked = clients.flatMap((c) => done(c).map((e) => `${c.name}-${data<{ num: number }>(e).num}`));
  const read = await sys.ask('R1', 'read');
  t.equal(read.server, third, 'the read is answered by the current primary');
  const log = JSON.parse(read.result) as string[];
  const counts = new Map<string, number>();
  for (const item of log) counts.set(item, (counts.get(item) ?? 0) + 1);
  const lost = acked.filter((a) => !counts.has(a));
  const doubled = [...counts].filter(([, n]) => n > 1).map(([item]) => item);
  t.same(lost, [], `every one of ${acked.length} acknowledged appends is in the log`);
  t.same(doubled, [], 'no append is in the log twice');
  t.ok(log.every((item) => /^C[123]-\d+$/.test(item)), 'nothing in the log that no client sent');

  // the backups hold the same state after the next checkpoint
  const want = digest(read.result);
  for (const b of ['S1', 'S2', 'S3'].filter((s) => s !== third && sys.proc(s).running)) {
    const from = sys.proc(b).events.length;
    const cp = await sys.proc(b).waitFor((e) => e.type === 'checkpoint_received' && data<{ digest: string }>(e).digest === want, 5000, from);
    t.ok(cp, `${b} installed a checkpoint identical to the primary's state`);
  }

  // only primaries ever answered clients (the primaries are whoever the RM made primary)
  const leaders = new Set(sys.rm.events.filter((e) => e.type === 'view_changed').map((e) => data<{ leader: string }>(e).leader));
  const answered = new Set(clients.flatMap((c) => done(c).map((e) => data<{ server: string }>(e).server)));
  t.same([...answered].filter((s) => !leaders.has(s)), [], `replies came only from primaries (${[...leaders].join(', ')})`);
  for (const s of ['S1', 'S2', 'S3']) {
    const answered = sys.proc(s).events.filter((e) => e.type === 'reply_sent').length;
    if (!leaders.has(s)) t.equal(answered, 0, `${s} was never primary and answered nobody`);
  }
});

t.test('killing a backup, twice, one at a time, never interrupts the clients', async (t) => {
  const sys = new System({ mode: 'passive', autoRestart: false, app: 'counter', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, checkpointFreq: 1 });
  t.teardown(() => sys.stop());
  await sys.start();
  const clients = CLIENTS.map((c) => sys.startClient(c, ['--message', 'add 1', '--interval', '0.02', '--timeout', '1']));
  await progress(clients, 5);
  const primary = primaryOf(sys);
  const start = Date.now();
  for (const backup of ['S1', 'S2', 'S3'].filter((s) => s !== primary)) {
    sys.proc(backup).kill('SIGKILL');
    await sys.rm.waitFor((e) => e.type === 'membership_changed' && !data<{ members: string[] }>(e).members.includes(backup));
    await progress(clients, 5);
    const back = await sys.startServer(backup);
    await back.waitFor((e) => e.type === 'role_changed' && data<{ ready: boolean }>(e).ready, 10_000);
    await progress(clients, 5);
  }
  const retries = clients.flatMap((c) => c.events.filter((e) => e.type === 'retry' || e.type === 'rejected'));
  t.same(retries.map((e) => e.text), [], 'no client ever had to retry');
  t.equal(primaryOf(sys), primary, 'the primary stayed the same');
  t.comment(`longest gap between replies while backups were killed and restarted: ${longestGap(clients, start, Date.now())} ms`);

  // A client process restarted under the same name numbers from 1 again: its new request 1 is
  // another request, executed, never answered with its predecessor's result.
  const before = await sys.ask('CR', 'add 100');
  const again = sys.startClient('CR', ['--message', 'add 1000', '--count', '1', '--timeout', '1']);
  const after = data<{ result: string; num: number }>(await again.waitFor((e) => e.type === 'request_done', 20_000));
  t.ok(Number(after.result) >= Number(before.result) + 1000, `add 1000 was executed: ${before.result}, then ${after.result}`);
  t.equal(after.num, 2, 'as request 2: the replica refused number 1 with another payload as stale');
  t.match(again.events.find((e) => e.type === 'renumber')?.text, /has answered up to request_num 1; continuing at 2/);
  await again.exited;
});
