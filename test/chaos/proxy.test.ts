/**
 * The fault-injecting proxy over real sockets on 127.0.0.1: it forwards, delays (in
 * order), drops, and blackholes; and the fault schedule is a function of its seed.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { ChaosProxy, PASS } from '../../harness/chaos/proxy.js';
import { LOOPBACK_FAULT_KINDS, formatSchedule, makeSchedule } from '../../harness/chaos/schedule.js';
import { parseAddress } from '../../lib/net/index.js';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../../harness/launch/proc.js';

/** An echo server on an ephemeral port. */
async function echoServer(t: Test): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    s.pipe(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

interface Peer {
  socket: net.Socket;
  text: () => string;
  closed: Promise<string>;
}

async function dial(addr: string): Promise<Peer> {
  const socket = net.connect(parseAddress(addr));
  let text = '';
  socket.setEncoding('utf8').on('data', (d: string) => (text += d));
  const closed = new Promise<string>((resolve) => {
    let code = 'closed';
    socket.on('error', (e: NodeJS.ErrnoException) => (code = e.code ?? e.message));
    socket.on('close', () => resolve(code));
  });
  await once(socket, 'connect');
  return { socket, text: () => text, closed };
}

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

t.test('pass and delay: bytes arrive, late and in order', async (t) => {
  const proxy = new ChaosProxy(await echoServer(t), 'S1');
  const addr = await proxy.listen();
  t.teardown(() => proxy.close());
  const peer = await dial(addr);
  peer.socket.write('hello');
  await until(() => peer.text() === 'hello');
  t.pass('forwards both ways');

  proxy.setMode({ kind: 'delay', ms: 150 });
  const sent = Date.now();
  for (const c of ['a', 'b', 'c', 'd']) peer.socket.write(c);
  await until(() => peer.text() === 'helloabcd');
  const took = Date.now() - sent;
  t.ok(took >= 280, `a round trip through a 150 ms delay took ${took} ms (each way delayed)`);
  proxy.setMode(PASS);
  peer.socket.write('e');
  await until(() => peer.text() === 'helloabcde');
  t.pass('order kept when the delay ends');
  peer.socket.destroy();
});

t.test('drop: open connections are reset and new ones refused until healed', async (t) => {
  const proxy = new ChaosProxy(await echoServer(t), 'S1');
  const addr = await proxy.listen();
  t.teardown(() => proxy.close());
  const peer = await dial(addr);
  peer.socket.write('x');
  await until(() => peer.text() === 'x');
  proxy.setMode({ kind: 'drop' });
  t.equal(await peer.closed, 'ECONNRESET', 'the open connection is reset');
  const again = net.connect(parseAddress(addr));
  const outcome = await new Promise<string>((resolve) => {
    again.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    again.on('close', () => resolve('closed'));
  });
  t.match(outcome, /ECONNRESET|closed/, 'a new connection is reset at once');
  t.ok(proxy.stats.refused >= 1, 'counted as refused');
  proxy.setMode(PASS);
  const healed = await dial(addr);
  healed.socket.write('y');
  await until(() => healed.text() === 'y');
  t.pass('connections work again after healing');
  healed.socket.destroy();
});

t.test('blackhole: bytes vanish; healing resets the broken connections', async (t) => {
  const proxy = new ChaosProxy(await echoServer(t), 'S1');
  const addr = await proxy.listen();
  t.teardown(() => proxy.close());
  const peer = await dial(addr);
  proxy.setMode({ kind: 'blackhole' });
  peer.socket.write('lost');
  await new Promise((r) => setTimeout(r, 150));
  t.equal(peer.text(), '', 'nothing comes back');
  t.ok(proxy.stats.swallowedBytes >= 4, 'the bytes were swallowed');
  proxy.setMode(PASS);
  t.equal(await peer.closed, 'ECONNRESET', 'the connection that lost bytes is reset when the blackhole ends');
  const fresh = await dial(addr);
  fresh.socket.write('ok');
  await until(() => fresh.text() === 'ok');
  t.pass('a new connection works');
  fresh.socket.destroy();
});

t.test('the schedule is a function of the seed', async (t) => {
  const a = makeSchedule({ seed: 42, durationMs: 20_000 });
  const b = makeSchedule({ seed: 42, durationMs: 20_000 });
  const c = makeSchedule({ seed: 43, durationMs: 20_000 });
  t.same(a, b, 'same seed, same schedule');
  t.not(JSON.stringify(a), JSON.stringify(c), 'another seed, another schedule');
  t.ok(a.length >= 5, `${a.length} steps for 20 s`);
  t.equal(formatSchedule(a).length, a.length);
  const onlyKills = makeSchedule({ seed: 1, durationMs: 20_000, kinds: ['kill-leader'] });
  t.ok(onlyKills.every((s) => s.fault.kind === 'kill-leader' && !s.overlap), 'restricted to the given kinds');
  const many = Array.from({ length: 50 }, (_, i) => makeSchedule({ seed: i, durationMs: 30_000 })).flat();
  for (const kind of LOOPBACK_FAULT_KINDS) t.ok(many.some((s) => s.fault.kind === kind || s.overlap?.fault.kind === kind), `${kind} occurs`);
  for (const s of many) {
    if (s.fault.kind.startsWith('pause')) t.ok(s.fault.holdMs >= 500, 'pauses outlast the 0.2 s detection timeout');
  }
});

t.test('a reset after end() lets the process exit (Node 20 spins at exit after end() then resetAndDestroy())', async (t) => {
  const proxyJs = pathToFileURL(join(PACKAGE_ROOT, 'dist/harness/chaos/proxy.js')).href;
  const code = `
    import net from 'node:net';
    import { hardClose } from '${proxyJs}';
    const srv = net.createServer((s) => { s.on('error', () => {}); s.end(); hardClose(s); srv.close(); });
    srv.listen(0, '127.0.0.1', () => net.connect(srv.address().port, '127.0.0.1').on('error', () => {}));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: 'inherit' });
  const started = Date.now();
  const exitCode = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  t.equal(exitCode, 0, `the process exited by itself in ${Date.now() - started} ms`);
});
