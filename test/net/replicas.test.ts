/**
 * A client's connections to its replicas (lib/net/replicas.ts): one per replica, even when
 * several callers ask at once while it is being made (a second connection would only be dropped,
 * and one dropped mid-handshake shows up at the replica as a peer that hung up).
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { ReplicaConnections } from '../../lib/net/index.js';

/** A TCP server counting the connections it accepts; `settled()` resolves once it has accepted every connection made before the call. */
async function server(t: Test) {
  const accepted: net.Socket[] = [];
  const srv = net.createServer((s) => {
    accepted.push(s);
    srv.emit('accepted', s);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  t.teardown(() => {
    for (const s of accepted) s.destroy();
    srv.close();
  });
  // Connections are accepted in the order they were made: once a marker connection is, all before it are.
  const settled = async () => {
    const marker = net.connect(port, '127.0.0.1');
    await once(marker, 'connect');
    const markerPort = marker.localPort;
    const mine = (s: net.Socket) => s.remotePort === markerPort;
    if (!accepted.some(mine)) await new Promise<void>((resolve) => srv.on('accepted', (s: net.Socket) => mine(s) && resolve()));
    marker.destroy();
    return accepted.filter((s) => !mine(s)).length;
  };
  return { accepted, settled, addr: `127.0.0.1:${port}` };
}

const connections = () => new ReplicaConnections({ me: 'C1', connectTimeoutMs: 2000, onMessage: () => {}, onClose: () => {} });

t.test('callers that ask at once get one connection', async (t) => {
  const { settled, addr } = await server(t);
  const conns = connections();
  t.teardown(() => conns.closeAll());
  const member = { name: 'S1', addr };
  const got = await Promise.all([conns.get(member), conns.get(member), conns.get(member)]);
  t.ok(got[0], 'connected');
  t.ok(got.every((c) => c === got[0]), 'the same connection for all three');
  t.equal(await conns.get(member), got[0], 'and for a later caller');
  t.equal(await settled(), 1, 'one connection reached the replica');
});

t.test('a replica at a new address gets a new connection; closeAll ends one being made', async (t) => {
  const a = await server(t);
  const b = await server(t);
  const conns = connections();
  const first = await conns.get({ name: 'S1', addr: a.addr });
  const moved = await conns.get({ name: 'S1', addr: b.addr });
  t.not(moved, first, 'a new address: a new connection');
  const making = conns.get({ name: 'S2', addr: a.addr });
  conns.closeAll();
  t.equal(await making, undefined, 'closed while it was made: none is handed out');
  t.notOk(moved!.isOpen, 'closeAll closed the open ones');
});
