/**
 * Issue 5 acceptance: active replication with total order. Concurrent clients append
 * to an order-sensitive log; replicas stay identical through a sequencer failure and
 * a replica's recovery; duplicates are discarded by the clients.
 */
import t, { type Test } from 'tap';
import { System } from '../../harness/launch/system.js';
import type { Proc } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';

const data = <T>(e: TraceEvent) => e.data as T;
const done = (c: Proc) => c.events.filter((e) => e.type === 'request_done');

async function progress(clients: Proc[], n: number): Promise<void> {
  const base = clients.map((c) => done(c).length);
  await Promise.all(clients.map((c, i) => c.waitFor(() => done(c).length >= base[i]! + n, 20_000)));
}

/** Send `read` as client `reader` and collect the answer each running replica sent. */
async function readEverywhere(sys: System, reader: string, servers: string[]): Promise<Map<string, string[]>> {
  await sys.ask(reader, 'read');
  const out = new Map<string, string[]>();
  for (const s of servers) {
    const e = await sys.proc(s).waitFor((ev) => ev.type === 'reply_sent' && data<{ client: string }>(ev).client === reader, 10_000);
    out.set(s, JSON.parse(data<{ result: string }>(e).result) as string[]);
  }
  return out;
}

/** Every replica's events about one request, to explain an anomaly. */
function history(sys: System, item: string): string[] {
  const [client, num] = item.split('-');
  const out: string[] = [];
  for (const s of ['S1', 'S2', 'S3']) {
    for (const e of sys.proc(s).events) {
      const d = e.data as { client?: string; num?: number } | undefined;
      if ((d?.client === client && d?.num === Number(num)) || /sync|sequencer|stale|step/.test(e.text)) out.push(`${s} ${e.time} ${e.text}`);
    }
  }
  return out;
}

function checkLog(t: Test, log: string[], acked: string[], what: string, sys?: System): void {
  const counts = new Map<string, number>();
  for (const item of log) counts.set(item, (counts.get(item) ?? 0) + 1);
  const missing = acked.filter((a) => !counts.has(a));
  t.same(missing, [], `${what}: all ${acked.length} acknowledged appends present`);
  if (sys) for (const m of missing.slice(0, 3)) t.comment(`history of ${m}:\n${history(sys, m).join('\n')}`);
  t.same([...counts].filter(([, n]) => n > 1).map(([i]) => i), [], `${what}: no append twice`);
}

const acked = (clients: Proc[]) => clients.flatMap((c) => done(c).map((e) => `${c.name}-${data<{ num: number }>(e).num}`));

t.test('active replication keeps replicas identical through sequencer failure and recovery', async (t) => {
  const sys = new System({ mode: 'active', autoRestart: false, app: 'log', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, checkpointFreq: 1 });
  t.teardown(() => sys.stop());
  await sys.start();
  const clients = ['C1', 'C2', 'C3'].map((c) => sys.startClient(c, ['--message', `append ${c}-{n}`, '--interval', '0.01', '--timeout', '1']));
  await progress(clients, 15);

  // every request went to all three replicas; the later replies were discarded, verbatim
  const dup = clients.flatMap((c) => c.events.filter((e) => e.type === 'duplicate_reply'));
  t.ok(dup.length > 0, `${dup.length} duplicate replies discarded`);
  t.match(dup[0]!.text, /^request_num \d+: Discarded duplicate reply from S[123]$/);
  const sent = clients[0]!.events.filter((e) => e.type === 'request_sent' && data<{ num: number }>(e).num === 1);
  t.same(sent.map((e) => data<{ server: string }>(e).server).sort(), ['S1', 'S2', 'S3'], 'request 1 was sent to every replica');

  // the same order everywhere, under three concurrent writers
  const first = await readEverywhere(sys, 'R1', ['S1', 'S2', 'S3']);
  t.same(first.get('S2'), first.get('S1'), 'S2 holds the same log as S1');
  t.same(first.get('S3'), first.get('S1'), 'S3 holds the same log as S1');

  // kill -9 the sequencer while the clients run
  const views = sys.rm.events.filter((e) => e.type === 'view_changed');
  const sequencer = data<{ leader: string }>(views[views.length - 1]!).leader;
  const survivors = ['S1', 'S2', 'S3'].filter((s) => s !== sequencer);
  sys.proc(sequencer).kill('SIGKILL');
  await sys.gfd.waitForText(`GFD: 2 members: ${survivors.join(', ')}`);
  await progress(clients, 15);
  t.pass(`clients kept getting replies after the sequencer ${sequencer} died`);
  const ackedBefore = acked(clients); // a read must contain everything acknowledged before it was sent
  const second = await readEverywhere(sys, 'R2', survivors);
  t.same(second.get(survivors[1]!), second.get(survivors[0]!), 'the survivors hold the same log');
  checkLog(t, second.get(survivors[0]!)!, ackedBefore, 'after the sequencer failure', sys);

  // kill -9 a replica and restart it by hand: ready only after its checkpoint
  const victim = survivors[1]!;
  sys.proc(victim).kill('SIGKILL');
  await sys.rm.waitFor((e) => e.type === 'membership_changed' && !data<{ members: string[] }>(e).members.includes(victim));
  await progress(clients, 5);
  const back = await sys.startServer(victim);
  const ready = await back.waitFor((e) => e.type === 'role_changed' && data<{ ready: boolean }>(e).ready, 10_000);
  const installed = back.events.find((e) => e.type === 'checkpoint_received');
  t.ok(installed && back.events.indexOf(installed) < back.events.indexOf(ready), `${victim} installed a checkpoint before it was made ready`);
  const early = back.events.slice(0, back.events.indexOf(ready)).filter((e) => e.type === 'reply_sent');
  t.same(early, [], `${victim} replied to nobody before it was ready`);
  await sys.rm.waitFor((e) => e.type === 'view_changed' && data<{ view: Array<{ name: string }> }>(e).view.some((m) => m.name === victim));
  await progress(clients, 15);

  await Promise.all(clients.map((c) => c.stop()));
  const final = await readEverywhere(sys, 'R3', survivors);
  t.same(final.get(victim), final.get(survivors[0]!), `the recovered ${victim} is identical to ${survivors[0]}`);
  checkLog(t, final.get(survivors[0]!)!, acked(clients), 'at the end', sys);
});
