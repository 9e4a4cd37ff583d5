import t, { type Test } from 'tap';
import { once } from 'node:events';
import { Listener, connect, exponentialBackoff, Link, type Connection } from '../../lib/net/index.js';
import { ProtocolError, decode, type Message } from '../../lib/protocol/index.js';
import { rawConnect } from '../helpers/socket.js';

/** An echo service: answers every request with a reply carrying the payload. */
async function echoListener(t: Test, extra: { maxFrameBytes?: number; firstMessageTimeoutMs?: number } = {}) {
  const errors: ProtocolError[] = [];
  const listener = new Listener({
    me: 'S1',
    host: '127.0.0.1',
    port: 0,
    ...extra,
    onProtocolError: (_conn, e) => errors.push(e),
    identify(conn: Connection, first: Message) {
      const handle = (m: Message) => {
        if (m.type !== 'request') throw new ProtocolError(`S1 does not take ${m.type}`);
        conn.peer = m.client;
        conn.send({ type: 'reply', client: m.client, server: 'S1', num: m.num, result: m.payload });
      };
      handle(first);
      return handle;
    },
  });
  await listener.listen();
  t.teardown(() => listener.close());
  return { listener, errors };
}

t.test('garbage gets an error message and a closed socket; the listener keeps serving', async (t) => {
  const { listener, errors } = await echoListener(t);
  const bad = await rawConnect(listener.port);
  bad.send('GET / HTTP/1.1\r\n\r\n');
  const answer = await bad.waitFor(/<S1, [^>]*, error>/);
  t.match(answer, /unexpected bytes outside a frame: "GET \/ HTTP\/1\.1"/);
  await bad.closed;
  t.equal(errors.length, 1);
  t.equal(errors[0]!.name, 'UnexpectedBytesError');

  const good = await rawConnect(listener.port);
  good.send('<C1, S1, 101, hello%2C world, request>\n');
  t.equal(await good.waitFor(/<[^>]*reply>/), '<C1, S1, 101, hello%2C world, reply>');
  good.end();
});

t.test('unknown kind, wrong field count and a message the peer may not send are each answered and closed', async (t) => {
  const { listener } = await echoListener(t);
  const cases: Array<[string, RegExp]> = [
    ['<C1, frobnicate>', /unknown message kind \\?"frobnicate\\?"/],
    ['<C1, S1, request>', /request takes 4 fields but got 2/],
    ['<C1, S1, x, p, request>', /request\.num is not a non-negative integer/],
    ['<C1, status>', /S1 does not take status/],
  ];
  for (const [input, reason] of cases) {
    const peer = await rawConnect(listener.port);
    peer.send(input);
    const error = decode(await peer.waitFor(/<S1, [^>]*, error>/));
    t.match(error, { type: 'error', from: 'S1', reason }, input);
    await peer.closed;
  }
});

t.test('a frame over the limit is refused before it is complete', async (t) => {
  const { listener } = await echoListener(t, { maxFrameBytes: 1024 });
  const peer = await rawConnect(listener.port);
  peer.send('<C1, S1, 1, ' + 'x'.repeat(4096));
  t.match(await peer.waitFor(/<S1, [^>]*, error>/), /frame exceeds 1024 characters/);
  await peer.closed;
});

t.test('a silent connection is closed after the first-message deadline', async (t) => {
  const { listener } = await echoListener(t, { firstMessageTimeoutMs: 100 });
  const peer = await rawConnect(listener.port);
  t.match(await peer.waitFor(/<S1, [^>]*, error>/), /no message within 100 ms/);
  await peer.closed;
});

t.test('typed connect, send and receive; connect to a closed port fails', async (t) => {
  const { listener } = await echoListener(t);
  const conn = await connect(listener.address, { me: 'C1' });
  conn.send({ type: 'request', client: 'C1', server: 'S1', num: 7, payload: ' ünïcødé, <ok> ' });
  const [msg] = await once(conn, 'message');
  t.same(msg, { type: 'reply', client: 'C1', server: 'S1', num: 7, result: ' ünïcødé, <ok> ' });
  conn.destroy();
  await listener.close();
  await t.rejects(connect(listener.address, { me: 'C1' }), { code: 'ECONNREFUSED' });
});

t.test('exponential back-off grows, is capped, jitters within [d/2, d], and can give up', async (t) => {
  const low = exponentialBackoff({ baseMs: 100, capMs: 1000, maxAttempts: 6, random: () => 0 });
  const high = exponentialBackoff({ baseMs: 100, capMs: 1000, maxAttempts: 6, random: () => 1 });
  t.same([1, 2, 3, 4, 5, 6].map((a) => high(a, undefined)), [100, 200, 400, 800, 1000, 1000]);
  t.same([1, 2, 3, 4, 5, 6].map((a) => low(a, undefined)), [50, 100, 200, 400, 500, 500]);
  t.equal(high(7, undefined), false);
});

t.test('a link reconnects after its peer restarts, and gives up when the policy says so', async (t) => {
  const { listener } = await echoListener(t);
  const port = listener.port;
  const link = new Link({ me: 'C1', addr: listener.address, policy: exponentialBackoff({ baseMs: 10, capMs: 50 }) });
  t.teardown(() => link.stop());
  link.start();
  await once(link, 'up');
  await listener.close();
  await once(link, 'down');
  const again = new Listener({ me: 'S1', host: '127.0.0.1', port, identify: () => () => {} });
  await again.listen();
  t.teardown(() => again.close());
  const [conn] = (await once(link, 'up')) as [Connection];
  t.ok(conn.isOpen, 'reconnected to the restarted listener');
  link.stop();

  const doomed = new Link({ me: 'C1', addr: `127.0.0.1:${port}`, policy: (attempt) => (attempt < 3 ? 5 : false) });
  await again.close();
  doomed.start();
  await once(doomed, 'giveUp');
  t.pass('gave up after the policy returned false');
});
