/**
 * New replicas (`ctl set replicas`) take their ports from the LFD's --replica-ports: a range
 * whose ports are all taken is a launch failure naming the range, and the launch succeeds once
 * a port of it is free again.
 */
import t from 'tap';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { System } from '../../harness/launch/system.js';

const data = <T>(e: { data?: unknown }) => e.data as T;

/** A port held by this test on every address (as another program on the machine would hold it). */
async function hold(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '0.0.0.0', exclusive: true }, resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

t.test('an exhausted --replica-ports is a launch failure naming the range; a freed port is used', async (t) => {
  const held = await hold();
  t.teardown(() => held.server.close());
  const range = `${held.port}-${held.port}`;
  const sys = new System({ mode: 'passive', heartbeat: 0.2, quietHeartbeats: true, heartbeatTimeout: 1, replicas: 1, rmArgs: ['--restart-budget', '20'] });
  t.teardown(() => sys.stop());
  await sys.startRm();
  await sys.startGfd();
  const lfd = sys.group.spawn('LFD1', ['lfd', 'LFD1', '--port', '0', '--gfd', sys.gfdAddr, '--heartbeat-freq', '0.2', '--timeout', '1', '--state-dir', sys.stateDir, '--replica-ports', range, '--json', ...sys.securityArgs()]);
  sys.lfdAddrs.set('LFD1', await lfd.address());
  await sys.startServer('S1');
  await sys.rm.waitForText('RM: 1 member: S1');
  await lfd.waitFor((e) => e.type === 'command_learned', 10_000);

  t.equal(await sys.ctl({ op: 'set', key: 'replicas', value: '2' }), 'replicas = 2');
  const failed = await lfd.waitFor((e) => e.type === 'launch_failed', 10_000);
  t.equal(failed.text, `LFD1: cannot launch S2: no free port left in --replica-ports ${range}`);
  t.equal(failed.category, 'fault', 'in red');
  const rmSaw = await sys.rm.waitFor((e) => e.type === 'launch_failed', 10_000);
  t.equal(rmSaw.text, `RM: LFD1 could not launch S2: no free port left in --replica-ports ${range}`);

  // the port is freed: the RM's next attempt starts S2 on it
  await new Promise((resolve) => held.server.close(resolve));
  await sys.rm.waitForText('RM: 2 members: S1, S2', 20_000);
  const launched = lfd.events.find((e) => e.type === 'launched' && data<{ server: string }>(e).server === 'S2');
  t.equal(data<{ port: number }>(launched!).port, held.port, `S2 launched on port ${held.port}`);
  const status = JSON.parse(await sys.ctl({ op: 'status' })) as { members: Array<{ name: string; addr: string }> };
  t.equal(status.members.find((m) => m.name === 'S2')?.addr, `127.0.0.1:${held.port}`, 'and listens there');
});
