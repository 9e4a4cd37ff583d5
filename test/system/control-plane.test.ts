/**
 * Control-plane restarts (DESIGN §3): the GFD and the RM hold nothing that cannot be
 * rebuilt. A restarted RM relearns membership from the GFD and asks the servers for
 * their role and epoch before deciding: it keeps the primary and never goes back in epoch.
 */
import t from 'tap';
import { System } from '../../harness/launch/system.js';
import type { TraceEvent } from '../../lib/trace/index.js';

const data = <T>(e: TraceEvent) => e.data as T;

t.test('a restarted RM keeps the primary and the epoch, and clients carry on', async (t) => {
  const sys = new System({ mode: 'passive', app: 'counter', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1 });
  t.teardown(() => sys.stop());
  await sys.start();
  const client = sys.startClient('C1', ['--message', 'add 1', '--interval', '0.05', '--timeout', '0.5']);
  await client.waitFor((e) => e.type === 'request_done');
  // a failover first, so the epoch is past 1
  const before = JSON.parse(await sys.ctl({ op: 'status' })) as { leader: string; epoch: number };
  sys.proc(before.leader).kill('SIGKILL');
  await sys.rm.waitFor((e) => e.type === 'view_changed' && data<{ leader: string }>(e).leader !== before.leader && data<{ view: unknown[] }>(e).view.length === 1);
  const prior = JSON.parse(await sys.ctl({ op: 'status' })) as { leader: string; epoch: number };
  t.ok(prior.epoch >= 2, `epoch ${prior.epoch} after a failover`);

  // kill -9 the RM and start it again on its port
  const rmPort = sys.rmAddr.split(':')[1]!;
  sys.rm.kill('SIGKILL');
  await sys.gfd.waitFor((e) => e.type === 'rm_lost');
  const rm2 = sys.group.spawn('RM', ['rm', '--port', rmPort, '--mode', 'passive', '--json', ...sys.securityArgs()]);
  await rm2.waitFor((e) => e.type === 'gfd_registered', 10_000);
  const resumed = await rm2.waitFor((e) => e.type === 'decision' && /is primary at epoch|is primary \(epoch/.test(e.text), 10_000);
  t.match(resumed.text, new RegExp(`^RM: ${prior.leader} is primary at epoch ${prior.epoch}$`), 'the RM kept the primary and its epoch');
  t.notOk(rm2.events.some((e) => e.type === 'decision' && /is primary \(epoch/.test(e.text)), 'no new election');
  const after = JSON.parse(await sys.ctl({ op: 'status' })) as { leader: string; epoch: number; members: unknown[] };
  t.equal(after.leader, prior.leader);
  t.equal(after.epoch, prior.epoch);
  t.equal(after.members.length, 2);
  const done = client.events.filter((e) => e.type === 'request_done').length;
  await client.waitFor(() => client.events.filter((e) => e.type === 'request_done').length > done + 5, 10_000);
  t.pass('the client kept getting replies after the RM restart');
});

t.test('a primary that lost its LFD while the GFD was down is replaced once the GFD is back', async (t) => {
  const sys = new System({ mode: 'passive', app: 'counter', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 0.3, autoRestart: false });
  t.teardown(() => sys.stop());
  await sys.start();
  const client = sys.startClient('C1', ['--message', 'add 1', '--interval', '0.02', '--timeout', '0.5']);
  await client.waitFor((e) => e.type === 'request_done');
  const before = JSON.parse(await sys.ctl({ op: 'status' })) as { leader: string; epoch: number };
  const leader = sys.proc(before.leader);
  const lfd = sys.proc(`LFD${before.leader.slice(1)}`);

  // the GFD goes away, so the RM cannot see the primary leave and come back
  const gfdPort = sys.gfdAddr.split(':')[1]!;
  sys.gfd.kill('SIGKILL');
  await sys.rm.waitFor((e) => e.type === 'gfd_lost');
  const lfdMark = lfd.events.length;
  const leaderMark = leader.events.length;
  leader.kill('SIGSTOP');
  await lfd.waitForText(`${lfd.name}: delete replica ${before.leader}`, 10_000, lfdMark);
  leader.kill('SIGCONT');
  await leader.waitFor((e) => e.type === 'detached', 10_000, leaderMark);
  await lfd.waitForText(`${lfd.name}: add replica ${before.leader}`, 10_000, lfdMark);

  const rmMark = sys.rm.events.length;
  sys.group.spawn('GFD', ['gfd', '--port', gfdPort, '--rm', sys.rmAddr, '--heartbeat-freq', '0.1', '--timeout', '0.3', '--json', ...sys.securityArgs()]);
  await sys.rm.waitForText(`RM: ${before.leader} reports that it is not ready any more; it must catch up again`, 10_000, rmMark);
  const moved = await sys.rm.waitFor((e) => e.type === 'view_changed' && data<{ leader: string }>(e).leader !== before.leader, 10_000, rmMark);
  t.ok(data<{ epoch: number }>(moved).epoch > before.epoch, 'a new primary at a higher epoch');
  await sys.rm.waitForText(new RegExp(`^RM: ${before.leader} caught up`), 10_000, rmMark);
  t.pass(`${before.leader} caught up again from the new primary`);

  // the client carries on, and nothing acknowledged was lost or applied twice
  const done = client.events.filter((e) => e.type === 'request_done').length;
  await client.waitFor(() => client.events.filter((e) => e.type === 'request_done').length > done + 5, 10_000);
  client.kill('SIGKILL');
  await client.exited;
  const acked = client.events.filter((e) => e.type === 'request_done').length;
  const { result } = await sys.ask('C9', 'get');
  t.ok(Number(result) === acked || Number(result) === acked + 1, `counter ${result} for ${acked} acknowledged adds (one more if the last was in flight)`);
});
