/**
 * The course's four-machine deployment on four namespace hosts with the addresses
 * config/deployment.ini names (10.0.0.1-4), each process started on its machine with the
 * command line a user types there (`ftkit lfd LFD1 --config deployment.ini`), the file used as
 * shipped (a copy beside its own secret). A client on the sacred machine (10.0.0.4) runs against
 * the RM throughout, and the same outcomes as on 127.0.0.1 are asserted (recovery.test.ts,
 * membership.test.ts, control-plane.test.ts):
 *
 * (a) kill -9 of the primary: another is elected, the client carries on, its LFD relaunches it
 *     and it comes back as a ready backup;
 * (b) a server machine cut off the network and healed: the GFD declares its LFD lost, the RM
 *     elects another primary (if it led) and the client carries on; after the heal the LFD
 *     registers again and its replica rejoins and catches up;
 * (c) a GFD kill -9 and restart: the RM keeps the membership, then relearns it, and the client
 *     carries on.
 */
import t from 'tap';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { FTKIT_BIN, PACKAGE_ROOT, type Proc } from '../../harness/launch/proc.js';
import { Hosts } from '../../harness/launch/hosts.js';
import type { TraceEvent } from '../../lib/trace/index.js';

const data = <T>(e: TraceEvent) => e.data as T;
/** The machines of config/deployment.ini: 1-3 run an LFD and a replica, 4 the RM, the GFD and the clients. */
const MACHINES = { m1: '10.0.0.1', m2: '10.0.0.2', m3: '10.0.0.3', m4: '10.0.0.4' };
interface Status {
  leader: string;
  epoch: number;
  members: Array<{ name: string; addr: string; ready: boolean; role: string }>;
  supervision: Record<string, { state: string; restarts: number; home: string }>;
  gfd: string;
}

t.test('the four-machine deployment on namespace hosts: kill -9, a machine cut off, a GFD restart', async (t) => {
  const dir = t.testdir({});
  const ini = join(dir, 'deployment.ini');
  copyFileSync(join(PACKAGE_ROOT, 'config', 'deployment.ini'), ini);
  execFileSync(process.execPath, [FTKIT_BIN, 'secret', join(dir, 'ftkit.secret')]);

  const net = await Hosts.create({ hosts: MACHINES });
  t.teardown(() => net.destroy());
  const sacred = net.host('m4');
  const common = ['--config', ini, '--json'];
  const machineOf = (n: string) => net.host(`m${n.replace(/\D/g, '')}`);
  const startGfd = () => sacred.spawn('GFD', ['gfd', ...common]);
  const rm = sacred.spawn('RM', ['rm', ...common]);
  startGfd();
  for (const i of [1, 2, 3]) {
    // each LFD keeps its servers' command lines in a folder of this test (the default is the user's own)
    const stateDir = join(dir, `state-${i}`);
    mkdirSync(stateDir);
    machineOf(`${i}`).spawn(`LFD${i}`, ['lfd', `LFD${i}`, ...common, '--state-dir', stateDir]);
  }
  // S3 listens on every address and advertises its machine's: peers and clients must be given 10.0.0.3
  const serverArgs = (n: string) => ['server', n, ...common, ...(n === 'S3' ? ['--host', '0.0.0.0', '--advertise', MACHINES.m3] : [])];
  for (const n of ['S1', 'S2', 'S3']) machineOf(n).spawn(n, serverArgs(n));
  await rm.waitForText('RM: 3 members: S1, S2, S3', 20_000);
  const s3 = await net.group.get('S3').waitFor((e) => e.type === 'listening');
  t.match(s3.text, /^S3 listening on 0\.0\.0\.0:7201, advertised as 10\.0\.0\.3:7201 /, 'S3 says where it listens and what it advertises');

  const ctlStatus = async (): Promise<Status> => JSON.parse(await sacred.run([process.execPath, FTKIT_BIN, 'ctl', '--config', ini, '--json', 'status'])) as Status;
  await rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: unknown[] }>(e).ready.length === 3, 20_000);
  const first = await ctlStatus();
  t.same(
    first.members.map((m) => [m.name, m.addr]),
    [['S1', '10.0.0.1:7201'], ['S2', '10.0.0.2:7201'], ['S3', '10.0.0.3:7201']],
    'the RM knows each replica at its machine address (S3 at the advertised one)',
  );

  const client = sacred.spawn('C1', ['client', 'C1', ...common, '--interval', '0.05', '--timeout', '0.5']);
  const done = () => client.events.filter((e) => e.type === 'request_done').length;
  /** The client gets `n` more replies. */
  const carriesOn = async (n = 5, ms = 20_000) => {
    const before = done();
    await client.waitFor(() => done() >= before + n, ms);
  };
  await carriesOn();
  const proc = (name: string): Proc => net.group.get(name);

  await t.test('(a) kill -9 of the primary: failover, relaunch by its LFD, back as a ready backup', async (t) => {
    const leader = first.leader;
    const lfd = proc(`LFD${leader.slice(1)}`);
    const oldPid = proc(leader).pid;
    const mark = rm.events.length;
    proc(leader).kill('SIGKILL');
    const moved = await rm.waitFor((e) => e.type === 'view_changed' && data<{ leader: string }>(e).leader !== leader, 10_000, mark);
    t.ok(data<{ epoch: number }>(moved).epoch > first.epoch, `a new primary (${data<{ leader: string }>(moved).leader}) at a higher epoch`);
    await carriesOn();
    t.pass('the client carries on');
    const launched = await lfd.waitFor((e) => e.type === 'launched' && data<{ server: string }>(e).server === leader, 10_000);
    t.not(data<{ pid: number }>(launched).pid, oldPid, `${lfd.name} relaunched ${leader} with a new pid`);
    await rm.waitForText('RM: 3 members: S1, S2, S3', 10_000, mark);
    const ready = await lfd.waitFor((e) => e.component === leader && e.type === 'role_changed' && data<{ ready: boolean }>(e).ready, 15_000);
    t.equal(data<{ role: string }>(ready).role, 'backup', `${leader} is a ready backup again`);
    const s = await ctlStatus();
    t.match(s.supervision[leader], { state: 'alive', home: lfd.name, restarts: 1 });
    t.same(s.members.map((m) => [m.name, m.ready]), [['S1', true], ['S2', true], ['S3', true]]);
    await carriesOn();
  });

  await t.test('(b) the primary machine cut off and healed: GFD declares it down, another leads; it rejoins after the heal', async (t) => {
    const before = await ctlStatus();
    const leader = before.leader;
    const machine = machineOf(leader);
    const lfdName = `LFD${leader.slice(1)}`;
    const gfd = proc('GFD');
    const [rmMark, gfdMark] = [rm.events.length, gfd.events.length];
    const cut = await net.cutHost(machine);
    const lost = await gfd.waitFor((e) => e.type === 'lfd_lost' && data<{ lfd: string }>(e).lfd === lfdName, 15_000, gfdMark);
    t.match(lost.text, new RegExp(`^GFD: lost ${lfdName} \\(.*\\): machine down, deleting ${leader}$`), lost.text);
    const moved = await rm.waitFor((e) => e.type === 'view_changed' && data<{ leader: string }>(e).leader !== leader, 10_000, rmMark);
    t.ok(data<{ epoch: number }>(moved).epoch > before.epoch, `${data<{ leader: string }>(moved).leader} is primary at a higher epoch`);
    await rm.waitFor((e) => e.type === 'supervision' && e.text === `RM: ${leader}'s machine ${lfdName} is down; ${leader} will be relaunched when it returns`, 10_000, rmMark);
    await carriesOn();
    t.pass('the client carries on while the machine is cut off');

    const healMark = rm.events.length;
    await cut.heal();
    await gfd.waitFor((e) => e.type === 'lfd_registered' && data<{ lfd: string }>(e).lfd === lfdName, 20_000, gfdMark);
    t.pass(`${lfdName} registers with the GFD again`);
    await rm.waitForText('RM: 3 members: S1, S2, S3', 20_000, healMark);
    await rm.waitFor((e) => new RegExp(`^RM: ${leader} caught up`).test(e.text), 20_000, healMark);
    const s = await ctlStatus();
    t.same(s.members.map((m) => [m.name, m.ready]), [['S1', true], ['S2', true], ['S3', true]], 'three ready replicas again');
    t.not(s.leader, leader, 'the old primary did not take the lead back');
    await carriesOn();
  });

  await t.test('(c) GFD kill -9 and restart: the RM relearns the membership, the client carries on', async (t) => {
    const mark = rm.events.length;
    proc('GFD').kill('SIGKILL');
    await rm.waitFor((e) => e.type === 'gfd_lost', 10_000, mark);
    await carriesOn();
    t.pass('the client carries on without a GFD');
    const gfd2 = startGfd();
    for (const l of ['LFD1', 'LFD2', 'LFD3']) await gfd2.waitFor((e) => e.type === 'lfd_registered' && data<{ lfd: string }>(e).lfd === l, 20_000);
    await rm.waitFor((e) => e.type === 'gfd_registered', 10_000, mark);
    const s = await ctlStatus();
    t.equal(s.gfd, 'connected');
    t.same(s.members.map((m) => [m.name, m.ready]), [['S1', true], ['S2', true], ['S3', true]], 'RM membership after the GFD restart');
    t.notOk(rm.events.slice(mark).some((e) => e.type === 'view_changed' && data<{ leader: string }>(e).leader !== s.leader), 'no failover');
    await carriesOn();
  });

  t.notOk(client.events.some((e) => e.type === 'gave_up' || /giving up/.test(e.text)), 'the client never gave up');
});
