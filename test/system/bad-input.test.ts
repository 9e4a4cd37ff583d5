/**
 * Bad input on each of the four kinds of listener (RM, GFD, LFD, server): each answers
 * `error`, closes that connection, keeps running, and still serves a well-behaved peer.
 * The system runs open (no secret), so that a raw connection may speak as a member and
 * every parser and registration check is reached; test/system/security.test.ts sends the
 * same kinds of input as an intruder to a system with a secret.
 */
import t, { type Test } from 'tap';
import { System } from '../../harness/launch/system.js';
import { decode } from '../../lib/protocol/index.js';
import { rawConnect } from '../helpers/socket.js';
import { parseAddress } from '../../lib/net/index.js';

const port = (addr: string) => parseAddress(addr).port;

/** Send `input` on a fresh connection; expect an error naming `reason`, then the close. */
async function expectError(t: Test, addr: string, input: string | Buffer, from: string, reason: RegExp) {
  const peer = await rawConnect(port(addr));
  peer.socket.write(input);
  const msg = decode(await peer.waitFor(/<[^<>]*, error>/));
  t.match(msg, { type: 'error', from, reason }, `${from} answers ${JSON.stringify(String(input).slice(0, 30))}`);
  await peer.closed;
}

/** Send a register for a live name on a fresh connection; expect `refused` naming `reason`, then the close. */
async function expectRefused(t: Test, addr: string, input: string, from: string, reason: RegExp) {
  const peer = await rawConnect(port(addr));
  peer.socket.write(input);
  const msg = decode(await peer.waitFor(/<[^<>]*, refused>/));
  t.match(msg, { type: 'refused', from, reason }, `${from} refuses ${JSON.stringify(input.slice(0, 30))}`);
  await peer.closed;
}

t.test('garbage, unknown kinds, bad field counts and bad registers on every listener', async (t) => {
  const sys = new System({ heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, replicas: 1, secretFile: false });
  t.teardown(() => sys.stop());
  await sys.start();
  const lfd1 = sys.lfdAddrs.get('LFD1')!;
  const s1 = sys.serverAddrs.get('S1')!;
  const garbage = Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0a, 0x80, 0x41]);

  for (const [who, addr] of [['RM', sys.rmAddr], ['GFD', sys.gfdAddr], ['LFD1', lfd1], ['S1', s1]] as const) {
    await expectError(t, addr, garbage, who, /unexpected bytes outside a frame/);
    await expectError(t, addr, 'hello there\n', who, /unexpected bytes outside a frame: "hello there"/);
    await expectError(t, addr, '<x, y, z, frobnicate>', who, /unknown message kind/);
    await expectError(t, addr, '<C1, S1, request>', who, /request takes 4 fields but got 2/);
    await expectError(t, addr, '<GFD, 1, 2, heartbeat>', who, /expects|does not accept/);
  }
  // registers from unknown or duplicate names (a live name is refused for good: `refused`, not `error`)
  await expectRefused(t, lfd1, '<S1, LFD1, 127.0.0.1:9, 1, [], register>', 'LFD1', /S1 is already running: registered with LFD1 from 127\.0\.0\.1:\d+ \(pid \d+\)/);
  await expectError(t, lfd1, '<S9, LFD7, 127.0.0.1:9, 1, [], register>', 'LFD1', /S9 registered for LFD7 but this is LFD1/);
  await expectError(t, lfd1, '<S9, LFD1, 127.0.0.1:9, 1, not json, register>', 'LFD1', /not a JSON list/);
  await expectRefused(t, sys.gfdAddr, '<LFD1, 127.0.0.1, register>', 'GFD', /LFD1 is already running: registered with the GFD from 127\.0\.0\.1:\d+/);
  await expectError(t, sys.rmAddr, '<GFD, register>', 'RM', /a GFD is already registered/);
  // A value the RM refuses is no protocol error: the administrator's connection stays open for the next command.
  const admin1 = await rawConnect(port(sys.rmAddr));
  admin1.send('<admin, replicas, lots, set>');
  t.match(decode(await admin1.waitFor(/<[^<>]*, error>/)), { type: 'error', from: 'RM', reason: /replicas: expected a whole number/ }, 'RM refuses a bad value');
  admin1.send('<admin, status>');
  t.match(decode(await admin1.waitFor(/<RM, admin, [^<>]*, ok>/)), { type: 'ok' }, 'and answers the next command on that connection');
  admin1.end();

  // every component is still running and serves a well-behaved peer
  for (const name of ['RM', 'GFD', 'LFD1', 'S1']) t.ok(sys.proc(name).running, `${name} still running`);
  const admin = await rawConnect(port(sys.rmAddr));
  admin.send('<admin, status>\n');
  t.match(decode(await admin.waitFor(/<RM, admin, [^<>]*, ok>/)), { type: 'ok', text: /"members":\[\{"name":"S1"/ });
  admin.end();

  const lfd = await rawConnect(port(sys.gfdAddr));
  lfd.send('<LFD9, 127.0.0.1, register>');
  t.equal(await lfd.waitFor(/<GFD, LFD9, welcome>/), '<GFD, LFD9, welcome>');
  t.match(await lfd.waitFor(/<GFD, LFD9, \d+, heartbeat>/), /heartbeat/, 'the GFD heartbeats the new LFD');
  lfd.end();

  const server = await rawConnect(port(lfd1));
  server.send('<S9, LFD1, 127.0.0.1:9, 1, [], register>');
  t.equal(await server.waitFor(/<LFD1, S9, welcome>/), '<LFD1, S9, welcome>');
  t.equal(await server.waitFor(/<LFD1, S9, 1, heartbeat>/), '<LFD1, S9, 1, heartbeat>');
  server.end();

  const client = await rawConnect(port(s1));
  client.send('<C1, S1, 1, hello, request>');
  t.match(decode(await client.waitFor(/<C1, S1, 1, [^<>]*, (reply|reject)>/)), { client: 'C1', server: 'S1', num: 1 });
  client.end();

  for (const name of ['RM', 'GFD', 'LFD1', 'S1']) {
    t.ok(sys.proc(name).events.some((e) => e.type === 'protocol_error' && e.category === 'fault'), `${name} traced bad input in red`);
  }
});
