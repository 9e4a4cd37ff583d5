/**
 * Issue 6 acceptance: the RM relaunches dead replicas through their LFD, within a
 * restart budget; replicas on a lost machine wait for it; the replica count follows
 * a run-time target. The two passive cases share one system.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { System } from '../../harness/launch/system.js';
import type { TraceEvent } from '../../lib/trace/index.js';

const data = <T>(e: TraceEvent) => e.data as T;
interface Status {
  members: Array<{ name: string; ready: boolean; role: string }>;
  supervision: Record<string, { state: string; restarts: number; home: string }>;
}
const status = async (sys: System) => JSON.parse(await sys.ctl({ op: 'status' })) as Status;

// Both passive cases share one system: a replica killed alone, then a whole machine lost.
t.test('passive: relaunching a replica, and waiting for its lost machine', async (t) => {
  const sys = new System({ mode: 'passive', app: 'counter', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1 });
  t.teardown(() => sys.stop());
  await sys.start();

  t.test('a killed replica is relaunched by its LFD and comes back as a backup', async (t) => {
    const client = sys.startClient('C1', ['--message', 'add 1', '--interval', '0.05']);
    await client.waitFor((e) => e.type === 'request_done');
    const oldPid = sys.proc('S2').pid;
    const mark = sys.rm.events.length;
    sys.proc('S2').kill('SIGKILL');
    const launched = await sys.proc('LFD2').waitFor((e) => e.type === 'launched' && data<{ server: string }>(e).server === 'S2', 10_000);
    const newPid = data<{ pid: number }>(launched).pid;
    t.not(newPid, oldPid, `S2 relaunched with a new pid (${oldPid} -> ${newPid})`);
    await sys.rm.waitForText('RM: 3 members: S1, S2, S3', 10_000, mark);
    // the relaunched server's traces continue in its LFD's output
    const ready = await sys.proc('LFD2').waitFor((e) => e.component === 'S2' && e.type === 'role_changed' && data<{ ready: boolean }>(e).ready, 10_000);
    t.equal(data<{ role: string }>(ready).role, 'backup', 'it is a ready backup again');
    const s = await status(sys);
    t.match(s.supervision.S2, { state: 'alive', home: 'LFD2', restarts: 1 });
    t.same(s.members.map((m) => [m.name, m.ready]), [['S1', true], ['S2', true], ['S3', true]]);
    const before = client.events.filter((e) => e.type === 'request_done').length;
    await client.waitFor(() => client.events.filter((e) => e.type === 'request_done').length > before + 5);
  });

  t.test('a replica on a lost machine is relaunched only when its LFD returns', async (t) => {
    const lfd3Port = sys.lfdAddrs.get('LFD3')!.split(':')[1]!;
    // LFD3 keeps S3's command line once the system has accepted S3 (the RM addressed it)
    await sys.proc('LFD3').waitFor((e) => e.type === 'command_learned' && data<{ server: string }>(e).server === 'S3');
    // the machine goes down: its LFD and its server die together
    sys.proc('LFD3').kill('SIGKILL');
    sys.proc('S3').kill('SIGKILL');
    await sys.rm.waitFor((e) => e.type === 'supervision' && e.text === "RM: S3's machine LFD3 is down; S3 will be relaunched when it returns", 10_000);
    t.notOk(sys.rm.events.some((e) => e.text === 'RM: asking LFD3 to launch S3'), 'no launch while LFD3 is gone');
    const mark = sys.rm.events.length;
    const lfd3 = await sys.startLfd('LFD3', lfd3Port);
    await lfd3.waitFor((e) => e.type === 'launched' && data<{ server: string }>(e).server === 'S3', 10_000);
    await sys.rm.waitForText('RM: 3 members: S1, S2, S3', 10_000, mark);
    t.pass('S3 relaunched on LFD3 once it returned');
  });
});

t.test('a replica that crashes at start-up exhausts its restart budget and the RM says so', async (t) => {
  const sys = new System({ mode: 'active', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, rmArgs: ['--restart-budget', '3', '--restart-window', '60'] });
  t.teardown(() => sys.stop());
  const dir = t.testdir({ 's2.ini': '[S2]\napp = status\n' });
  await sys.startRm();
  await sys.startGfd();
  for (const l of ['LFD1', 'LFD2']) await sys.startLfd(l);
  await sys.startServer('S1');
  await sys.startServer('S2', 'LFD2', ['--config', `${dir}/s2.ini`]);
  await sys.rm.waitForText('RM: 2 members: S1, S2');
  // a bad configuration is deployed, then the replica dies: every relaunch fails at start-up
  writeFileSync(`${dir}/s2.ini`, '[S2]\nport = banana\n');
  sys.proc('S2').kill('SIGKILL');
  const gaveUp = await sys.rm.waitFor((e) => e.type === 'supervision' && /giving up/.test(e.text), 20_000);
  t.equal(gaveUp.category, 'fault', 'reported as a fault (red)');
  t.match(gaveUp.text, /^RM: S2 launch failed: .*relaunched 3 times within 60 s: giving up on it$/);
  const failures = sys.rm.events.filter((e) => e.type === 'launch_failed');
  t.equal(failures.length, 3, 'three launches failed');
  t.match(failures[0]!.text, /LFD2 could not launch S2: exited \(status 2\) before registering/);
  const s = await status(sys);
  t.match(s.supervision.S2, { state: 'gave up', restarts: 3 });
  t.same(s.members.map((m) => m.name), ['S1']);
});

t.test('the replica count follows a run-time target', async (t) => {
  const sys = new System({ mode: 'active', app: 'counter', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1 });
  t.teardown(() => sys.stop());
  await sys.start();
  const client = sys.startClient('C1', ['--message', 'add 1', '--interval', '0.05']);
  t.equal(await sys.ctl({ op: 'set', key: 'replicas', value: '4' }), 'replicas = 4');
  await sys.rm.waitForText('RM: 4 members: S1, S2, S3, S4', 10_000);
  const started = sys.rm.events.find((e) => /target 4 replicas: asking LFD\d to start S4/.test(e.text));
  t.ok(started, `S4 started: ${started?.text}`);
  await sys.rm.waitFor((e) => e.type === 'view_changed' && data<{ view: unknown[] }>(e).view.length === 4, 10_000);
  t.equal(await sys.ctl({ op: 'set', key: 'replicas', value: '2' }), 'replicas = 2');
  await sys.rm.waitFor((e) => e.type === 'membership_changed' && data<{ count: number }>(e).count === 2, 10_000);
  await sys.rm.waitFor(() => sys.rm.events.filter((e) => /^RM: S\d retired$/.test(e.text)).length === 2, 10_000);
  const retired = sys.rm.events.filter((e) => /^RM: S\d retired$/.test(e.text)).map((e) => e.text);
  t.equal(retired.length, 2, `two replicas retired: ${retired.join('; ')}`);
  t.notOk(sys.rm.events.some((e) => /relaunching/.test(e.text)), 'retired replicas are not relaunched');
  const before = client.events.filter((e) => e.type === 'request_done').length;
  await client.waitFor(() => client.events.filter((e) => e.type === 'request_done').length > before + 5);
  t.pass('the client carries on with two replicas');
});
