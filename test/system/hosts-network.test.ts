/**
 * The namespace hosts' network faults (harness/launch/hosts.ts), checked with plain node:net and
 * node:dgram sockets run on the hosts: a cut drops traffic silently (a connect neither succeeds
 * nor fails), between exactly the hosts it names and in the directions it names; loss drops a
 * share of the packets; delay adds measurable time, on open connections as on new ones, and
 * carries large segments whole; heal restores everything; destroy leaves no namespace.
 *
 * Absence is shown by order, not by waiting: a datagram sent while a path is cut would, if it
 * passed, arrive before a marker sent on the same path after the heal.
 */
import t from 'tap';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Hosts, removeLeftovers, type Host } from '../../harness/launch/hosts.js';

/** Every host runs this: TCP echo on 9000; each UDP datagram on 9001 printed as `<source> <payload>`. */
const PROBE_SERVER = `
const net = require('node:net'), dgram = require('node:dgram');
const [addr] = process.argv.slice(1);
let up = 0;
const ready = () => ++up === 2 && console.log('ready');
net.createServer((s) => s.on('error', () => {}).pipe(s)).listen(9000, addr, ready);
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => console.log(r.address + ' ' + m.toString()));
u.bind(9001, addr, ready);
process.stdin.on('end', () => process.exit(0)).resume();
`;

/**
 * argv: mode target. `udp <to> <tag> [n]`: send n datagrams tag-0…; `connect <to> <ms>`: ok/timeout/error code;
 * `rtt <to> <n>`: median echo round trip, ms; `held <to> <n>`: one connection kept open, the median of n round
 * trips on it printed for each line read on stdin; `bulk <to> <bytes>`: echo that many bytes, print `ok`.
 */
const PROBE = `
const net = require('node:net'), dgram = require('node:dgram');
const [mode, to, a, b] = process.argv.slice(1);
if (mode === 'udp') {
  const u = dgram.createSocket('udp4');
  const n = Number(b ?? 1);
  let left = n;
  for (let i = 0; i < n; i++) u.send(n === 1 ? a : a + '-' + i, 9001, to, () => --left === 0 && u.close());
} else if (mode === 'connect') {
  const s = net.connect(9000, to);
  const timer = setTimeout(() => { console.log('timeout'); process.exit(0); }, Number(a));
  s.on('connect', () => { console.log('ok'); process.exit(0); });
  s.on('error', (e) => { console.log(e.code); process.exit(0); });
} else if (mode === 'rtt' || mode === 'held') {
  const s = net.connect(9000, to, () => {
    let times, t0;
    const ping = () => { t0 = process.hrtime.bigint(); s.write('x'); };
    const round = () => { times = []; ping(); };
    s.on('data', () => {
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (times.length < Number(a)) return ping();
      times.sort((x, y) => x - y);
      console.log(times[Math.floor(times.length / 2)].toFixed(2));
      if (mode === 'rtt') process.exit(0);
    });
    if (mode === 'rtt') round();
    else require('node:readline').createInterface({ input: process.stdin }).on('line', round).on('close', () => process.exit(0));
  });
  s.setNoDelay(true);
} else if (mode === 'bulk') {
  const s = net.connect(9000, to, () => s.end(Buffer.alloc(Number(a), 7)));
  let got = 0;
  s.on('data', (d) => { got += d.length; if (got === Number(a)) { console.log('ok'); process.exit(0); } });
}
`;

t.test("a crashed run's namespaces are removed by the next; a live creator's are kept", async (t) => {
  // a pid that was just used and is now free: a creator that is gone
  const dead = execFileSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).trim();
  const ip = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip'].find((p) => { try { execFileSync(p, ['-V']); return true; } catch { return false; } })!;
  const stale = `ftkh${Number(dead).toString(36)}-0-m1`;
  const kept = `ftkh${process.ppid.toString(36)}-0-m1`;
  execFileSync(ip, ['netns', 'add', stale]);
  execFileSync(ip, ['netns', 'add', kept]);
  t.teardown(() => execFileSync(ip, ['netns', 'del', kept]));
  const removed = await removeLeftovers();
  t.ok(removed.includes(stale), `${stale} (creator ${dead}, gone) removed`);
  t.notOk(removed.includes(kept), `${kept} (creator ${process.ppid}, alive) kept`);
  const list = execFileSync(ip, ['netns', 'list'], { encoding: 'utf8' });
  t.notOk(list.includes(stale));
  t.ok(list.includes(kept));
});

const ADDRS = { a: '10.77.0.1', b: '10.77.0.2', c: '10.77.0.3' };
type Label = keyof typeof ADDRS;

t.test('namespace hosts: cuts, one-way cuts, loss, delay and heal between real sockets', async (t) => {
  const net = await Hosts.create({ hosts: ADDRS });
  t.teardown(() => net.destroy());
  const prefix = net.prefix;

  // what each host's probe server received, as `<source> <payload>`
  const received = new Map<Label, string[]>();
  const waiters: Array<() => void> = [];
  const servers: ChildProcess[] = [];
  for (const label of Object.keys(ADDRS) as Label[]) {
    received.set(label, []);
    const child = net.host(label).command([process.execPath, '-e', PROBE_SERVER, ADDRS[label]]);
    servers.push(child);
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`probe server on ${label} exited (${code})`)));
      lines.once('line', (l) => (l === 'ready' ? resolve() : reject(new Error(l))));
    });
    lines.on('line', (l) => {
      received.get(label)!.push(l);
      for (const w of waiters.splice(0)) w();
    });
  }

  const host = (l: Label): Host => net.host(l);
  const probe = (from: Label, args: string[]) => host(from).run([process.execPath, '-e', PROBE, ...args]).then((s) => s.trim());
  const connect = (from: Label, to: Label, ms = 1000) => probe(from, ['connect', ADDRS[to], String(ms)]);
  const send = (from: Label, to: Label, tag: string, n = 1) => probe(from, ['udp', ADDRS[to], tag, String(n)]);
  const got = (to: Label, from: Label, tag: string) => received.get(to)!.includes(`${ADDRS[from]} ${tag}`);
  /** Resolve once `to` received `tag` from `from` (a datagram on a path that works). */
  const arrives = async (from: Label, to: Label, tag: string) => {
    await send(from, to, tag);
    const deadline = Date.now() + 5000;
    while (!got(to, from, tag)) {
      if (Date.now() > deadline) throw new Error(`${tag} from ${from} never reached ${to}`);
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  const rtt = async (from: Label, to: Label) => Number(await probe(from, ['rtt', ADDRS[to], '20']));

  await t.test('before any fault every host reaches every other', async (t) => {
    for (const [x, y] of [['a', 'b'], ['b', 'a'], ['a', 'c'], ['c', 'b']] as const) {
      t.equal(await connect(x, y), 'ok', `${x} connects to ${y}`);
      await arrives(x, y, `hello-${x}${y}`);
    }
    t.pass('datagrams arrive both ways');
  });

  await t.test('cutLink(a, b): nothing passes between a and b either way, silently; both still reach c', async (t) => {
    const cut = await net.cutLink('a', 'b');
    t.same(net.active, ['a -/- b']);
    t.equal(await connect('a', 'b'), 'timeout', 'a -> b: the connect neither succeeds nor fails (no RST, no ICMP)');
    t.equal(await connect('b', 'a'), 'timeout', 'b -> a: likewise');
    await send('a', 'b', 'cut-ab');
    await send('b', 'a', 'cut-ba');
    t.equal(await connect('a', 'c'), 'ok', 'a still reaches c');
    t.equal(await connect('c', 'b'), 'ok', 'c still reaches b');
    await arrives('a', 'c', 'side-ac');
    await arrives('b', 'c', 'side-bc');
    await cut.heal();
    t.same(net.active, []);
    await arrives('a', 'b', 'after-ab');
    await arrives('b', 'a', 'after-ba');
    t.notOk(got('b', 'a', 'cut-ab'), 'the datagram a sent to b during the cut never arrived (its marker did)');
    t.notOk(got('a', 'b', 'cut-ba'), 'the datagram b sent to a during the cut never arrived');
    t.equal(await connect('a', 'b'), 'ok', 'after heal() a connects to b again');
  });

  await t.test('cutOneWay(a, b): a to b is lost, b to a passes', async (t) => {
    const cut = await net.cutOneWay('a', 'b');
    await send('a', 'b', 'oneway-ab');
    await arrives('b', 'a', 'oneway-ba');
    t.pass('b -> a arrives');
    t.equal(await connect('b', 'a', 500), 'timeout', 'a TCP connect b -> a cannot finish: the SYN-ACK goes a -> b');
    await cut.heal();
    await arrives('a', 'b', 'oneway-after');
    t.notOk(got('b', 'a', 'oneway-ab'), 'a -> b during the cut never arrived');
  });

  await t.test('cutHost(c): c is off the network, a and b still talk', async (t) => {
    await net.cutHost('c');
    t.same(net.active, ['c cut off']);
    t.equal(await connect('a', 'c'), 'timeout', 'a -> c silent');
    t.equal(await connect('c', 'b'), 'timeout', 'c -> b silent');
    await send('c', 'a', 'off-ca');
    await send('b', 'c', 'off-bc');
    t.equal(await connect('a', 'b'), 'ok', 'a -> b still fine');
    t.equal(await host('c').run([process.execPath, '-e', `require('node:net').connect(9000, '${ADDRS.c}', () => { console.log('ok'); process.exit(0); })`]).then((s) => s.trim()), 'ok', "c's own address still works from c");
    await net.heal();
    t.same(net.active, [], 'heal() took every fault away');
    await arrives('c', 'a', 'off-after-ca');
    await arrives('b', 'c', 'off-after-bc');
    t.notOk(got('a', 'c', 'off-ca') || got('c', 'b', 'off-bc'), 'nothing sent during the cut arrived');
  });

  await t.test('loss(a, b, 50): about half of the datagrams between a and b are lost, a to c none', async (t) => {
    const lossy = await net.loss('a', 'b', 50);
    await send('a', 'b', 'lossy', 200);
    await send('a', 'c', 'clean', 50);
    await lossy.heal();
    await arrives('a', 'b', 'lossy-after');
    await arrives('a', 'c', 'clean-after');
    const n = received.get('b')!.filter((l) => l.startsWith(`${ADDRS.a} lossy-`) && l !== `${ADDRS.a} lossy-after`).length;
    t.ok(n > 50 && n < 150, `${n} of 200 arrived at b`);
    t.equal(received.get('c')!.filter((l) => l.startsWith(`${ADDRS.a} clean-`) && l !== `${ADDRS.a} clean-after`).length, 50, 'all 50 arrived at c');
  });

  await t.test('delay(a, b, 40): round trips between a and b take 80 ms more, on open and new connections; a to c nothing more', async (t) => {
    // a connection opened before the fault, asked for a median of 10 round trips per line
    const held = host('a').command([process.execPath, '-e', PROBE, 'held', ADDRS.b, '10']);
    const heldLines = createInterface({ input: held.stdout! });
    const heldRtt = () =>
      new Promise<number>((resolve, reject) => {
        held.once('exit', () => reject(new Error('held probe exited')));
        heldLines.once('line', (l) => resolve(Number(l)));
        held.stdin!.write('go\n');
      });
    t.teardown(() => held.stdin!.end());
    const before = await heldRtt();
    const fault = await net.delay('a', 'b', 40);
    t.same(net.active, ['a <-40 ms-> b']);
    const open = await heldRtt();
    const fresh = await rtt('a', 'b');
    const side = await rtt('a', 'c');
    t.ok(open >= before + 75 && open < before + 200, `round trip on the open connection ${before} ms -> ${open} ms`);
    t.ok(fresh >= 75 && fresh < 200, `round trip on a new connection ${fresh} ms`);
    t.ok(side < 40, `a <-> c stays ${side} ms`);
    t.equal(await probe('a', ['bulk', ADDRS.b, String(4 << 20)]), 'ok', '4 MiB echoed whole through the delay (large segments pass)');
    const cut = await net.cutOneWay('b', 'a');
    t.equal(await connect('a', 'b', 1000), 'timeout', 'a cut on the delayed path still applies');
    await cut.heal();
    await fault.heal();
    t.same(net.active, [], 'healed');
    const after = await heldRtt();
    t.ok(after < 40, `after heal the open connection's round trip is ${after} ms`);
    t.ok((await rtt('a', 'b')) < 40, 'and a new one is as fast as before');
  });

  await t.test('destroy() stops what runs on the hosts and removes every namespace', async (t) => {
    await net.destroy();
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) await new Promise((r) => s.once('exit', r));
    const left = execFileSync(net.ip, ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(prefix));
    t.same(left, [], `no namespace named ${prefix}-* is left`);
  });
});
