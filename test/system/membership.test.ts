/**
 * Issue 3 acceptance: the real `ftkit` processes on 127.0.0.1 detect failures and
 * keep membership right through server, machine (LFD) and GFD failures.
 */
import t from 'tap';
import { System } from '../../harness/launch/system.js';
import type { TraceEvent } from '../../lib/trace/index.js';

const members = (who: 'RM' | 'GFD', list: string) => (e: TraceEvent) => e.type === 'membership_changed' && e.text === `${who}: ${list}`;

t.test('the course notation: RM: 0 members again when the GFD registers with none; 1 member in the singular', async (t) => {
  const sys = new System({ heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, autoRestart: false, replicas: 1 });
  t.teardown(() => sys.stop());
  await sys.startRm();
  await sys.rm.waitFor(members('RM', '0 members'));
  await sys.startGfd();
  await sys.gfd.waitFor(members('GFD', '0 members'));
  const registered = await sys.rm.waitFor((e) => e.type === 'gfd_registered');
  const again = await sys.rm.waitFor(members('RM', '0 members'), 10_000, sys.rm.events.indexOf(registered));
  t.ok(again.time >= registered.time, 'the RM prints RM: 0 members again once the GFD registered with none');
  t.equal(sys.rm.events.filter(members('RM', '0 members')).length, 2, 'at start and at the registration');
  await sys.startLfd('LFD1');
  await sys.startServer('S1');
  await sys.gfd.waitFor(members('GFD', '1 member: S1'));
  await sys.rm.waitFor(members('RM', '1 member: S1'));
  t.pass('GFD: 1 member: S1 and RM: 1 member: S1');
});

t.test('membership follows server, machine and GFD failures', async (t) => {
  const sys = new System({ heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, autoRestart: false });
  t.teardown(() => sys.stop());
  await sys.start();
  await sys.rm.waitFor(members('RM', '3 members: S1, S2, S3'));
  await sys.gfd.waitFor(members('GFD', '3 members: S1, S2, S3'));
  t.pass('RM and GFD print 3 members: S1, S2, S3');

  // kill -9 a server: LFD2 sees the failed heartbeat, everyone drops S2 within a second
  const s2 = sys.proc('S2');
  const killedAt = Date.now();
  s2.kill('SIGKILL');
  const lfd2 = sys.proc('LFD2');
  const failed = await lfd2.waitFor((e) => e.type === 'heartbeat_failed' && e.category === 'fault');
  t.match(failed.text, /^\[\d+\] LFD2: heartbeat to S2 failed/);
  await lfd2.waitForText('LFD2: delete replica S2');
  const rmSaw = await sys.rm.waitFor(members('RM', '2 members: S1, S3'));
  const gfdSaw = await sys.gfd.waitFor(members('GFD', '2 members: S1, S3'));
  t.ok(rmSaw.time - killedAt < 1000, `RM dropped S2 ${rmSaw.time - killedAt} ms after kill -9`);
  t.ok(gfdSaw.time - killedAt < 1000, `GFD dropped S2 ${gfdSaw.time - killedAt} ms after kill -9`);

  // start S2 again: three members again
  const rmFrom = sys.rm.events.length;
  await sys.startServer('S2');
  await sys.rm.waitFor(members('RM', '3 members: S1, S2, S3'), 10_000, rmFrom);
  await sys.proc('LFD2').waitForText('LFD2: add replica S2', 10_000);
  t.pass('S2 restarted by hand rejoins');

  // kill -9 LFD3: the machine is gone, and S3 with it
  sys.proc('LFD3').kill('SIGKILL');
  await sys.gfd.waitFor((e) => e.type === 'lfd_lost' && /LFD3/.test(e.text) && /deleting S3/.test(e.text));
  await sys.gfd.waitFor(members('GFD', '2 members: S1, S2'));
  await sys.rm.waitFor(members('RM', '2 members: S1, S2'));
  t.pass('losing LFD3 drops S3');

  // kill -9 the GFD, then restart it on its port: the RM's membership is right again
  const gfdPort = sys.gfdAddr.split(':')[1]!;
  sys.gfd.kill('SIGKILL');
  await sys.rm.waitFor((e) => e.type === 'gfd_lost');
  sys.proc('S1').kill('SIGKILL'); // a change while the GFD is down
  const from = sys.rm.events.length;
  const gfd2 = sys.group.spawn('GFD', ['gfd', '--port', gfdPort, '--rm', sys.rmAddr, '--heartbeat-freq', '0.1', '--timeout', '1', '--json', ...sys.securityArgs()]);
  await gfd2.waitFor((e) => e.type === 'lfd_registered' && /LFD2/.test(e.text));
  await sys.rm.waitFor((e) => e.type === 'gfd_registered', 10_000, from);
  await sys.rm.waitFor(members('RM', '1 member: S2'), 10_000, from);
  const status = JSON.parse(await sys.ctl({ op: 'status' })) as { members: Array<{ name: string }>; gfd: string };
  t.same(status.members.map((m) => m.name), ['S2'], 'RM membership after the GFD restart');
  t.equal(status.gfd, 'connected');
});

/** Median gap between consecutive `sending heartbeat` events for one server. */
function medianGap(events: TraceEvent[]): number {
  const times = events.map((e) => e.time);
  const gaps = times.slice(1).map((x, i) => x - times[i]!).sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)]!;
}

t.test('heartbeat frequencies change at run time through the RM', async (t) => {
  const sys = new System({ heartbeat: 0.1, heartbeatTimeout: 1, replicas: 1 });
  t.teardown(() => sys.stop());
  await sys.start();
  const lfd = sys.proc('LFD1');
  const sent = (e: TraceEvent) => e.type === 'heartbeat_sent';
  // ten heartbeats at the initial frequency
  const before = lfd.events.filter(sent).length;
  await lfd.waitFor(() => lfd.events.filter(sent).length >= before + 10, 10_000);
  const fast = medianGap(lfd.events.filter(sent).slice(-10));

  const lmark = lfd.events.length;
  t.equal(await sys.ctl({ op: 'set', key: 'lfd-heartbeat-freq', value: '0.5' }), 'lfd-heartbeat-freq = 0.5');
  await lfd.waitFor((e) => e.type === 'property_set', 5000, lmark);
  const mark = lfd.events.length;
  await lfd.waitFor(() => lfd.events.slice(mark).filter(sent).length >= 5, 10_000);
  const slow = medianGap(lfd.events.slice(mark).filter(sent));
  t.ok(fast < 200, `median interval at 0.1 s: ${fast} ms`);
  t.ok(slow > 400 && slow < 700, `median interval at 0.5 s: ${slow} ms`);

  // Mark before asking: the GFD may apply the property before the RM's answer reaches us.
  const gmark = sys.gfd.events.length;
  t.equal(await sys.ctl({ op: 'set', key: 'gfd-heartbeat-freq', value: '0.3' }), 'gfd-heartbeat-freq = 0.3');
  await sys.gfd.waitFor((e) => e.type === 'property_set', 5000, gmark);
  await sys.gfd.waitFor(() => sys.gfd.events.slice(gmark).filter(sent).length >= 5, 10_000);
  const gslow = medianGap(sys.gfd.events.slice(gmark).filter(sent).slice(1));
  t.ok(gslow > 250 && gslow < 450, `GFD median interval at 0.3 s: ${gslow} ms`);

  const status = JSON.parse(await sys.ctl({ op: 'status' })) as { properties: Record<string, string> };
  t.same(status.properties, { 'lfd-heartbeat-freq': '0.5', 'gfd-heartbeat-freq': '0.3' });
  await t.rejects(sys.ctl({ op: 'set', key: 'lfd-heartbeat-freq', value: 'abc' }), /expected seconds/);
  await t.rejects(sys.ctl({ op: 'set', key: 'nonsense', value: '1' }), /unknown property "nonsense"/);
});

t.test('an LFD whose GFD goes silent (a frozen GFD, a machine cut off) drops the connection and registers again', async (t) => {
  const sys = new System({ heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, autoRestart: false });
  t.teardown(() => sys.stop());
  await sys.start();
  await sys.rm.waitFor(members('RM', '3 members: S1, S2, S3'));
  const lfd1 = sys.proc('LFD1');
  const gfdMark = sys.gfd.events.length;
  sys.gfd.kill('SIGSTOP');
  const silent = await lfd1.waitFor((e) => e.type === 'gfd_silent', 5_000);
  t.equal(silent.text, 'LFD1: no heartbeat from the GFD for 0.4 s; dropping the connection and dialling again', 'four heartbeat periods of silence');
  sys.gfd.kill('SIGCONT');
  await sys.gfd.waitFor((e) => e.type === 'lfd_registered' && /LFD1/.test(e.text), 10_000, gfdMark);
  await sys.rm.waitFor(members('RM', '3 members: S1, S2, S3'), 10_000);
  t.pass('LFD1 registers again once the GFD answers, and the RM has three members');
});
