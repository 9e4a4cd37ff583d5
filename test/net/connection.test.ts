/**
 * Connection's batched writes (lib/net/connection.ts): what is sent in one turn of the event
 * loop leaves in one socket write, whole frames in send order; close() writes what is pending
 * before ending; a send on a closed connection returns false and writes nothing.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { setImmediate as nextImmediate } from 'node:timers/promises';
import { Connection } from '../../lib/net/index.js';
import { encode, type Message } from '../../lib/protocol/index.js';

/** Two Connections over a real loopback socket pair; `writes` records every chunk the sender hands its socket. */
async function pair(t: Test) {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const accepted = once(server, 'connection');
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [serverSocket] = (await accepted) as [net.Socket];
  const sender = new Connection(client, { me: 'A' });
  const receiver = new Connection(serverSocket, { me: 'B' });
  const writes: string[] = [];
  const write = client.write.bind(client) as (chunk: string) => boolean;
  client.write = ((chunk: string) => {
    writes.push(chunk);
    return write(chunk);
  }) as typeof client.write;
  const received: Message[] = [];
  receiver.on('message', (m) => received.push(m));
  t.teardown(() => {
    sender.destroy();
    receiver.destroy();
    server.close();
  });
  return { sender, receiver, writes, received };
}

const request = (num: number): Message => ({ type: 'request', client: 'C1', server: 'S1', num, payload: `add ${num}, then, <more>` });

/** Wait until `received` holds `n` messages (each arrival is an event; no fixed sleeps). */
async function receivedCount(receiver: Connection, received: Message[], n: number): Promise<void> {
  while (received.length < n) await once(receiver, 'message');
}

t.test('messages sent in one turn leave in one write, whole and in order', async (t) => {
  const { sender, receiver, writes, received } = await pair(t);
  for (let i = 1; i <= 200; i++) t.equal(sender.send(request(i)), true);
  t.equal(writes.length, 0, 'nothing is written before the check phase');
  t.ok(sender.pendingChars > 0);
  await nextImmediate();
  t.equal(writes.length, 1, 'one write for the batch');
  t.equal(sender.pendingChars, 0);
  await receivedCount(receiver, received, 200);
  t.same(received.map((m) => (m as { num: number }).num), Array.from({ length: 200 }, (_, i) => i + 1), 'in send order');
  t.same(received[7], request(8), 'fields intact, escapes included');

  // The next turn is a new batch.
  sender.send(request(201));
  sender.send(request(202));
  await nextImmediate();
  t.equal(writes.length, 2);
  await receivedCount(receiver, received, 202);
  t.same(received.slice(200).map((m) => (m as { num: number }).num), [201, 202]);
});

t.test('close() writes what is pending, then ends; later sends return false', async (t) => {
  const { sender, receiver, writes, received } = await pair(t);
  sender.send(request(1));
  sender.send(request(2));
  sender.send(request(3));
  const ended = once(receiver, 'end');
  sender.close();
  t.equal(writes.length, 1, 'the pending frames were written at close');
  t.equal(sender.send(request(4)), false, 'a send after close is refused');
  await ended;
  t.same(received.map((m) => (m as { num: number }).num), [1, 2, 3], 'everything sent before close arrived, nothing after');
  await nextImmediate();
  t.equal(writes.length, 1, 'the queued flush writes nothing more');
});

t.test('destroy() drops what is pending; a reject still sends its error before closing', async (t) => {
  const { sender, writes } = await pair(t);
  sender.send(request(1));
  sender.destroy();
  await nextImmediate();
  t.equal(writes.length, 0, 'nothing written after destroy');
  t.equal(sender.send(request(2)), false);

  const second = await pair(t);
  const closed = once(second.receiver, 'close');
  second.receiver.on('protocolError', () => undefined);
  const errors: Message[] = [];
  second.sender.on('message', (m) => errors.push(m));
  const gone = once(second.sender, 'close');
  (second.sender.socket as net.Socket).write('not a frame');
  await closed;
  await gone;
  t.equal(errors.length, 1, 'the peer got the error message before the close');
  t.equal(errors[0]!.type, 'error');
});

t.test('a frame encoded already (a broadcast copy) goes in order with sent messages, in the same write', async (t) => {
  const { sender, receiver, writes, received } = await pair(t);
  t.equal(sender.send(request(1)), true);
  t.equal(sender.sendFrame(encode(request(2))), true);
  t.equal(sender.send(request(3)), true);
  await nextImmediate();
  t.equal(writes.length, 1, 'one write for the three');
  await receivedCount(receiver, received, 3);
  t.same(received.map((m) => (m as { num: number }).num), [1, 2, 3], 'in send order');
  sender.destroy();
  t.equal(sender.sendFrame(encode(request(4))), false, 'nothing goes out on a closed connection');
});
