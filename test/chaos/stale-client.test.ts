/**
 * The stale-view client over real sockets on 127.0.0.1: it never talks to the RM,
 * sends every request to the one replica it was pointed at, retries on a reject and on
 * a closed connection to that same replica, and moves only when pointed elsewhere.
 * The replicas are scripted fakes that speak the client protocol as text.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { EventEmitter, once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { ChaosClient } from '../../harness/chaos/client.js';
import { HistoryRecorder } from '../../harness/chaos/history.js';
import { mulberry32 } from '../../harness/chaos/rng.js';

type Action = 'reject' | 'close' | 'reply' | 'ignore';

interface Fake {
  addr: string;
  events: EventEmitter;
  /** Every request received, as `num`. */
  requests: number[];
  connections: number;
}

/** A replica that answers request `num`'s `attempt`-th copy as `script` says. */
async function fakeReplica(t: Test, name: string, script: (num: number, attempt: number) => Action): Promise<Fake> {
  const sockets = new Set<net.Socket>();
  const attempts = new Map<number, number>();
  const fake: Fake = { addr: '', events: new EventEmitter(), requests: [], connections: 0 };
  const server = net.createServer((s) => {
    fake.connections++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    let buf = '';
    s.on('data', (chunk) => {
      buf += chunk.toString();
      for (let m = /<([^>]*), request>/.exec(buf); m; m = /<([^>]*), request>/.exec(buf)) {
        buf = buf.slice(m.index + m[0].length);
        const [client, , numText] = m[1]!.split(',').map((x) => x.trim());
        const num = Number(numText);
        const attempt = (attempts.get(num) ?? 0) + 1;
        attempts.set(num, attempt);
        fake.requests.push(num);
        const action = script(num, attempt);
        if (action === 'reject') s.write(`<${client}, ${name}, ${num}, not_ready, reject>`);
        else if (action === 'reply') s.write(`<${client}, ${name}, ${num}, ${num}, reply>`);
        else if (action === 'close') s.destroy();
        fake.events.emit('request', num, attempt, action);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  fake.addr = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return fake;
}

/** Resolves when `fake` receives a request for which `pred` holds. */
function requestWhere(fake: Fake, pred: (num: number, attempt: number, action: Action) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const on = (num: number, attempt: number, action: Action) => {
      if (!pred(num, attempt, action)) return;
      fake.events.off('request', on);
      resolve();
    };
    fake.events.on('request', on);
  });
}

t.test('a stale-view client retries at its one replica, never asks the RM, and moves only when pointed', async (t) => {
  // Request 1: rejected, then the connection closes on it, then answered. Later requests: never answered by A.
  const a = await fakeReplica(t, 'SA', (num, attempt) => (num !== 1 ? 'ignore' : attempt === 1 ? 'reject' : attempt === 2 ? 'close' : 'reply'));
  // B answers request 2 and ignores the rest.
  const b = await fakeReplica(t, 'SB', (num) => (num === 2 ? 'reply' : 'ignore'));
  const rm = await fakeReplica(t, 'RM', () => 'ignore');
  const t0 = performance.now();
  const recorder = new HistoryRecorder(() => performance.now() - t0);
  const client = new ChaosClient({ name: 'CS1', rm: rm.addr, recorder, rng: mulberry32(1), route: async (_n, addr) => addr, readRatio: 0, maxPauseMs: 0, stale: true });
  t.teardown(() => client.abort());
  t.equal(client.stale, true);
  client.pointAt({ name: 'SA', addr: a.addr });
  t.same(client.target, { name: 'SA', addr: a.addr });
  client.start(() => performance.now() - t0);

  await requestWhere(a, (num) => num === 2); // request 1 was answered, request 2 went to A too
  t.same(a.requests.slice(0, 4), [1, 1, 1, 2], 'request 1 was sent to A three times: rejected, connection closed, answered');
  t.equal(a.connections, 2, 'it reconnected to A after A closed the connection');

  const atB = requestWhere(b, (num) => num === 3); // B answered 2, so the client went on to 3
  client.pointAt({ name: 'SB', addr: b.addr });
  await atB;
  client.abort();
  await client.done;

  const ops = recorder.ops();
  t.match(ops[0], { process: 'CS1', op: 'append', value: 'CS1-1', outcome: 'ok', result: '1', server: 'SA' });
  t.match(ops[1], { value: 'CS1-2', outcome: 'ok', result: '2', server: 'SB' }, 'request 2 was retried at B once pointed there');
  t.match(ops[2], { value: 'CS1-3', outcome: 'unknown' }, 'the request in flight at the end is unknown');
  t.ok(a.requests.every((n) => n <= 2) && b.requests.every((n) => n >= 2), 'nothing went to a replica it was not pointed at');
  t.equal(rm.connections, 0, 'the RM was never asked');
  t.throws(() => new ChaosClient({ name: 'C1', rm: rm.addr, recorder, rng: mulberry32(1), route: async (_n, addr) => addr }).pointAt({ name: 'SA', addr: a.addr }), /follows the RM's views/);
});
