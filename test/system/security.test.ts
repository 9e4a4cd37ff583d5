/**
 * An intruder without the secret against a running system with one (docs/PROTOCOL.md §5a).
 *
 * A passive 3-replica counter system has acknowledged five `add 1` from a real client. Then a peer that holds
 * no secret forges what components say to each other (peer replica traffic, registrations,
 * administration), replays a handshake it recorded on the wire, and real components started
 * with a different secret try to join. Each attempt must be answered `refused` (or, for an
 * oversized first frame, `error`), closed, and traced in red at the listener with the peer's
 * address; afterwards the counter, the membership, the epoch, the leader and the replica
 * count are what they were before. A client without any secret still gets replies.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { System } from '../../harness/launch/system.js';
import { FTKIT_BIN, type Proc } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { connect } from '../../lib/net/index.js';
import { ctlRequest } from '../../clients/ctl.js';
import { createSecret, readSecret } from '../../lib/config/secrets.js';
import { decode, encode, Framer, type Message } from '../../lib/protocol/index.js';
import { rawConnect, type RawPeer } from '../helpers/socket.js';

const data = <T = Record<string, unknown>>(e: TraceEvent) => (e.data ?? {}) as T;
const port = (addr: string) => Number(addr.split(':').at(-1));

interface Status {
  epoch: number;
  leader: string | null;
  gfd: string;
  members: Array<{ name: string; addr: string; role: string; ready: boolean }>;
  properties: Record<string, string>;
  target: number | null;
}
const status = async (sys: System) => JSON.parse(await sys.ctl({ op: 'status' })) as Status;

/** Every frame received on a raw connection, decoded. */
function frames(peer: RawPeer): Message[] {
  return new Framer(1 << 20).push(peer.received()).map((f) => decode(f));
}

/** Resolve with `p`, or reject naming `what` after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The `peer_refused` trace of `proc` (from event index `from`) about the connection from local port `local`. */
function refusedTrace(proc: Proc, local: number, from: number, ms = 5000): Promise<TraceEvent> {
  const ours = new RegExp(`^127\\.0\\.0\\.1:${local}\\b`);
  return proc.waitFor((e) => e.type === 'peer_refused' && ours.test(String(data(e).peer)), ms, from);
}

/**
 * Send `input` on a fresh raw connection to `proc` (listening at `addr`), holding no secret:
 * expect one `refused` from it naming `reason`, the close, and a red `peer_refused` trace
 * there with our address.
 */
async function expectRefused(t: Test, proc: Proc, addr: string, input: Message[] | string, reason: RegExp, what: string, first: string[] = []): Promise<void> {
  const mark = proc.events.length;
  const peer = await rawConnect(port(addr));
  const local = peer.socket.localPort!;
  peer.send(typeof input === 'string' ? input : input.map((m) => encode(m)).join('\n') + '\n');
  const answer = decode(await peer.waitFor(/<[^<>]*, (refused|error)>/));
  t.match(answer, { type: 'refused', from: proc.name, reason }, `${what}: ${proc.name} answers refused`);
  await within(peer.closed, 5000, `${what}: ${proc.name} closes the connection`);
  t.same(
    frames(peer).map((m) => m.type),
    [...first, 'refused'],
    `${what}: ${first.length ? `${first.join(', ')} and the refusal are` : 'the refusal is'} all ${proc.name} said`,
  );
  const traced = await refusedTrace(proc, local, mark);
  t.equal(traced.category, 'fault', `${what}: ${proc.name} traces peer_refused in red`);
  t.match(data(traced).reason, reason, `${what}: the trace names the reason`);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI once (without blocking this process: the system's children keep writing to us). */
function ftkit(args: string[], timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [FTKIT_BIN, ...args], { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '');

/** Events of a replica that would mean something an intruder sent was taken in. */
const REPLICA_EFFECTS = [
  'checkpoint_received',
  'log_held',
  'checkpoint_bad',
  'checkpoint_order_deferred',
  'checkpoint_order_ignored',
  'log_replay',
  'role_changed',
  'stale_epoch',
  'stale_role',
  'step_down',
  'sync_started',
  'sync_done',
  'property_set',
  'internal_error',
];

t.test('an intruder without the secret is refused everywhere and changes nothing', async (t) => {
  // Crashes are not what this test is about: a generous heartbeat timeout keeps a busy machine
  // (processes started during the test) from getting a live replica suspected and fenced.
  const sys = new System({ mode: 'passive', app: 'counter', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 5 });
  const names = ['RM', 'GFD', 'LFD1', 'LFD2', 'LFD3', 'S1', 'S2', 'S3'];
  t.teardown(() => {
    // On a failure, what each component saw go wrong (a replica fenced on a busy machine, say).
    if (!t.passing()) for (const n of names) if (sys.group.procs.has(n)) console.error(`${n} faults:\n${sys.proc(n).events.filter((e) => e.category === 'fault').map((e) => `  ${e.text}`).join('\n')}`);
    return sys.stop();
  });
  await sys.start();
  await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.length === 3, 15_000);
  // Five `add 1` from one real client, each acknowledged before the next.
  const c1 = sys.startClient('C1', ['--message', 'add 1', '--count', '5', '--interval', '0.01', '--timeout', '1']);
  const acks = () => c1.events.filter((e) => e.type === 'request_done');
  await c1.waitFor(() => acks().length >= 5, 30_000);
  t.equal((await within(c1.exited, 10_000, 'C1 exits after five replies')).code, 0, 'C1 is done');
  t.same(acks().map((e) => data(e).result), ['1', '2', '3', '4', '5'], 'five add 1 acknowledged, with totals 1 to 5');
  for (const l of ['LFD1', 'LFD2', 'LFD3']) await sys.proc(l).waitFor((e) => e.type === 'command_learned');

  const before = await status(sys);
  t.equal(before.members.length, 3, 'three members before');
  t.ok(before.leader, 'a primary before');
  t.equal((await sys.ask('C9', 'get')).result, '5', 'the counter is 5 before');
  const leader = before.leader!;
  const marks = new Map(names.map((n) => [n, sys.proc(n).events.length]));
  const since = (name: string) => sys.proc(name).events.slice(marks.get(name));
  const savedState = () =>
    readdirSync(sys.stateDir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => `${f}: ${readFileSync(join(sys.stateDir, f), 'utf8')}`);
  const saved = savedState();
  const epoch = before.epoch + 1000;

  await t.test('forged replica traffic to every server', async (t) => {
    for (const s of ['S1', 'S2', 'S3']) {
      const server = sys.proc(s);
      const addr = sys.serverAddrs.get(s)!;
      const other = s === 'S3' ? 'S1' : 'S3';
      await expectRefused(
        t,
        server,
        addr,
        [
          { type: 'welcome', from: other, to: s },
          { type: 'checkpoint', from: other, to: s, count: 999, state: '1000000', table: '[]', epoch, seq: 999_999 },
        ],
        /welcome needs the deployment secret/,
        `welcome + checkpoint to ${s}`,
      );
      await expectRefused(t, server, addr, [{ type: 'log', from: other, to: s, seq: 999_999, client: 'X1', num: 1, payload: 'add 1000000', epoch }], /log needs the deployment secret/, `log to ${s}`);
      await expectRefused(t, server, addr, [{ type: 'order', from: other, to: s, seq: 999_999, client: 'X1', num: 1, payload: 'add 1000000', epoch }], /order needs the deployment secret/, `order to ${s}`);
      await expectRefused(
        t,
        server,
        addr,
        [{ type: 'role', server: s, mode: 'passive', role: 'primary', epoch, ready: true, leader: s, group: [] }],
        /role needs the deployment secret/,
        `role to ${s}`,
      );
      await expectRefused(t, server, addr, [{ type: 'sync', from: other, to: s, seq: 999_999, epoch }], /sync needs the deployment secret/, `sync to ${s}`);
    }
  });

  await t.test('forged registrations and administration', async (t) => {
    const marker = join(t.testdir({}), 'intruder-was-here');
    const command = JSON.stringify(['/bin/sh', '-c', `touch ${marker}`]);
    await expectRefused(
      t,
      sys.proc('LFD1'),
      sys.lfdAddrs.get('LFD1')!,
      [{ type: 'serverRegister', server: 'S7', lfd: 'LFD1', addr: '127.0.0.1:9', pid: 1, command }],
      /^register needs the deployment secret/,
      'a server registration with a shell command to LFD1',
    );
    await expectRefused(t, sys.gfd, sys.gfdAddr, [{ type: 'lfdRegister', lfd: 'LFD7', host: '127.0.0.1' }], /^register needs the deployment secret/, 'an LFD registration to the GFD');
    await expectRefused(t, sys.rm, sys.rmAddr, [{ type: 'gfdRegister', gfd: 'GFD' }], /^register needs the deployment secret/, 'a GFD registration to the RM');
    await expectRefused(t, sys.rm, sys.rmAddr, [{ type: 'set', from: 'intruder', key: 'replicas', value: '1' }], /set needs the deployment secret/, 'set replicas 1 to the RM');
    await expectRefused(t, sys.rm, sys.rmAddr, [{ type: 'status', from: 'intruder' }], /status needs the deployment secret/, 'status to the RM');

    const now = await status(sys);
    t.same(now.members, before.members, 'members unchanged');
    t.equal(now.target, before.target, 'replica count (target) unchanged');
    t.same(now.properties, before.properties, 'no property set');
    t.notOk(since('LFD1').some((e) => ['server_registered', 'command_learned', 'launched', 'launch_failed'].includes(e.type)), 'LFD1 registered, learned and launched nothing');
    t.notOk(since('GFD').some((e) => e.type === 'lfd_registered'), 'the GFD registered no LFD');
    t.notOk(since('RM').some((e) => ['gfd_registered', 'gfd_lost', 'property_set', 'launch_failed'].includes(e.type)), 'the RM took no GFD and no property');
    for (const l of ['LFD1', 'LFD2', 'LFD3']) t.notOk(since(l).some((e) => e.type === 'launched'), `${l} launched nothing`);
    t.same(savedState(), saved, 'no command line saved');
    t.notOk(existsSync(marker), 'the shell command never ran');
  });

  await t.test('a handshake recorded on the wire and replayed', async (t) => {
    // A relay between a real LFD and the GFD records what the LFD sends.
    const recorded: Buffer[] = [];
    const sockets = new Set<net.Socket>();
    const relay = net.createServer((inbound) => {
      const outbound = net.connect({ port: port(sys.gfdAddr), host: '127.0.0.1' });
      for (const s of [inbound, outbound]) {
        sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => sockets.delete(s));
      }
      inbound.on('data', (d: Buffer) => recorded.push(d));
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');
    t.teardown(() => {
      for (const s of sockets) s.destroy();
      relay.close();
    });
    const relayAddr = `127.0.0.1:${(relay.address() as net.AddressInfo).port}`;

    const gmark = sys.gfd.events.length;
    const lfd4 = sys.group.spawn('LFD4', ['lfd', 'LFD4', '--port', '0', '--gfd', relayAddr, '--heartbeat-freq', '0.1', '--state-dir', sys.stateDir, '--no-fence', '--json', ...sys.securityArgs()]);
    await lfd4.waitFor((e) => e.type === 'registered', 15_000);
    await sys.gfd.waitFor((e) => e.type === 'lfd_registered' && data(e).lfd === 'LFD4', 5000, gmark);
    const text = Buffer.concat(recorded).toString('utf8');
    const end = text.indexOf('register>') + 'register>'.length;
    t.ok(end > 'register>'.length, 'the relay recorded the registration');
    const captured = text.slice(0, end);
    t.match(captured, /^<LFD4, -, member, [0-9a-f]+, auth_hello>\s*<LFD4, GFD, [0-9a-f]+, auth_proof>\s*<LFD4, 127\.0\.0\.1, register>$/, 'captured: auth_hello, auth_proof, register');

    // The real LFD4 goes away, so that a replayed registration would be taken if the handshake passed.
    await lfd4.stop();
    await sys.gfd.waitFor((e) => e.type === 'lfd_lost' && data(e).lfd === 'LFD4', 10_000, gmark);
    const rmark = sys.gfd.events.length;
    await expectRefused(t, sys.gfd, sys.gfdAddr, captured, /wrong proof/, 'the replayed handshake', ['authChallenge']);
    t.notOk(sys.gfd.events.slice(rmark).some((e) => e.type === 'lfd_registered'), 'no LFD registered from the replay');
  });

  await t.test('components and ctl with a different secret', async (t) => {
    const wrong = join(t.testdir({}), 'other-secret');
    createSecret(wrong);
    const lfd1 = sys.proc('LFD1');
    const [lmark, gmark, rmark] = [lfd1.events.length, sys.gfd.events.length, sys.rm.events.length];
    // Three different listeners, so the three may try at once.
    const s4 = sys.group.spawn('S4-wrong', ['server', 'S4', '--port', '0', '--lfd', sys.lfdAddrs.get('LFD1')!, '--app', 'counter', '--json', '--secret-file', wrong]);
    const lfd5 = sys.group.spawn('LFD5-wrong', ['lfd', 'LFD5', '--port', '0', '--gfd', sys.gfdAddr, '--state-dir', sys.stateDir, '--no-fence', '--json', '--secret-file', wrong]);
    const ctlRun = ftkit(['ctl', '--rm', sys.rmAddr, '--secret-file', wrong, 'status']);
    const hungUp = /hung up during the handshake/;

    t.equal((await within(s4.exited, 20_000, 'S4 with a different secret exits')).code, 1, 'S4 exits with status 1');
    const s4Refused = s4.events.filter((e) => e.type === 'refused');
    t.equal(s4Refused.length, 1, 'S4 says once why');
    t.match(s4Refused[0], { category: 'fault', text: /^S4: LFD at 127\.0\.0\.1:\d+ refused us: LFD1 did not prove it holds our deployment secret .*; exiting$/ }, 'S4: one clear line');
    t.same(s4.events.filter((e) => e.category === 'fault').map((e) => e.type), ['refused'], 'S4 reports no other fault');
    t.same(s4.lines, [], 'S4 printed nothing outside its trace');
    const l1 = await lfd1.waitFor((e) => e.type === 'peer_refused', 5000, lmark);
    t.match(l1, { category: 'fault', data: { peer: /^127\.0\.0\.1:\d+ \(claims S4\)$/, reason: hungUp } }, 'LFD1 traces the refusal with the address');
    t.notOk(lfd1.events.slice(lmark).some((e) => e.type === 'server_registered'), 'LFD1 registered nothing');

    t.equal((await within(lfd5.exited, 20_000, 'LFD5 with a different secret exits')).code, 1, 'LFD5 exits with status 1');
    const l5Refused = lfd5.events.filter((e) => e.type === 'refused');
    t.equal(l5Refused.length, 1, 'LFD5 says once why');
    t.match(l5Refused[0], { category: 'fault', text: /^LFD5: GFD at 127\.0\.0\.1:\d+ refused us: GFD did not prove it holds our deployment secret .*; exiting$/ }, 'LFD5: one clear line');
    t.same(lfd5.events.filter((e) => e.category === 'fault').map((e) => e.type), ['refused'], 'LFD5 reports no other fault');
    t.same(lfd5.lines, [], 'LFD5 printed nothing outside its trace');
    const g = await sys.gfd.waitFor((e) => e.type === 'peer_refused', 5000, gmark);
    t.match(g, { category: 'fault', data: { peer: /^127\.0\.0\.1:\d+ \(claims LFD5\)$/, reason: hungUp } }, 'the GFD traces the refusal with the address');
    t.notOk(sys.gfd.events.slice(gmark).some((e) => e.type === 'lfd_registered'), 'the GFD registered nothing');

    const ctl = await ctlRun;
    t.equal(ctl.code, 1, 'ctl with a different secret exits with status 1');
    t.equal(ctl.stdout, '', 'ctl prints nothing on stdout');
    t.equal(lines(ctl.stderr).length, 1, `ctl: one line on stderr: ${JSON.stringify(ctl.stderr)}`);
    t.match(ctl.stderr, /^ftkit ctl: 127\.0\.0\.1:\d+: RM did not prove it holds our admin secret/, 'ctl says the RM could not prove the secret');
    const r = await sys.rm.waitFor((e) => e.type === 'peer_refused', 5000, rmark);
    t.match(r, { category: 'fault', data: { peer: /^127\.0\.0\.1:\d+ \(claims admin\)$/, reason: hungUp } }, 'the RM traces the refusal');

    const now = await status(sys);
    t.same(now.members, before.members, 'members unchanged');
    t.equal(now.epoch, before.epoch, 'epoch unchanged');
  });

  await t.test('a client without a secret is served; its status is refused', async (t) => {
    const client = await rawConnect(port(sys.serverAddrs.get(leader)!));
    client.send(`<C8, ${leader}, 1, get, request>\n`);
    t.match(decode(await client.waitFor(/<C8, [^<>]*, (reply|reject)>/)), { type: 'reply', client: 'C8', server: leader, num: 1, result: '5' }, `the primary ${leader} answers an anonymous request`);
    client.end();
    await expectRefused(t, sys.rm, sys.rmAddr, '<C8, status>\n', /status needs the deployment secret/, 'an anonymous status');
  });

  await t.test('limits before trust', async (t) => {
    const primary = sys.proc(leader);
    const pmark = primary.events.length;
    const big = await rawConnect(port(sys.serverAddrs.get(leader)!));
    big.send(encode({ type: 'authHello', from: 'S7', to: '-', standing: 'member', nonce: '00'.repeat(16) }));
    await big.waitFor(/<[^<>]*, auth_challenge>/);
    big.send(encode({ type: 'authProof', from: 'S7', to: leader, proof: 'ab'.repeat(4500) }));
    t.match(decode(await big.waitFor(/<[^<>]*, error>/)), { type: 'error', from: leader, reason: /frame exceeds 8192 characters/ }, 'a frame over 8 KiB before the proof is refused');
    await within(big.closed, 5000, 'the oversized frame closes the connection');
    await primary.waitFor((e) => e.type === 'protocol_error' && e.category === 'fault' && /frame exceeds 8192/.test(String(data(e).reason)), 5000, pmark);
    t.pass('the primary traces the oversized frame');

    // 32 connections that say nothing are held; the 33rd is cut at once, traced once.
    const rmark = sys.rm.events.length;
    const silent: RawPeer[] = [];
    t.teardown(() => silent.forEach((p) => p.end()));
    for (let i = 0; i < 32; i++) silent.push(await rawConnect(port(sys.rmAddr)));
    const extra = await rawConnect(port(sys.rmAddr));
    await within(extra.closed, 3000, 'the 33rd connection is closed at once');
    t.pass('the 33rd connection is closed at once (not after the 30 s first-message deadline)');
    t.equal(extra.received(), '', 'the 33rd is closed without a word');
    const second = await rawConnect(port(sys.rmAddr));
    await within(second.closed, 3000, 'a 34th connection is closed at once too');
    t.pass('and so is a 34th');
    t.ok(silent.every((p) => !p.socket.destroyed && p.socket.readyState === 'open'), 'the 32 silent ones are still open');
    const burst = await sys.rm.waitFor((e) => e.type === 'peer_refused' && /32 connections that have not said who they are/.test(String(data(e).reason)), 5000, rmark);
    t.match(burst, { category: 'fault', data: { peer: '127.0.0.1' } }, 'the RM traces the burst with the address');

    for (const p of silent) p.end();
    await Promise.all(silent.map((p) => p.closed));
    // The RM learns of the closes in its own time: try again (each attempt ends in an event) until one is served.
    let served = false;
    for (let attempt = 1; attempt <= 50 && !served; attempt++) {
      const peer = await rawConnect(port(sys.rmAddr));
      const outcome = Promise.race([peer.waitFor(/<C7, [^<>]*, ready>/, 5000).then(() => 'served'), peer.closed.then(() => 'closed')]);
      peer.send('<C7, client>\n');
      served = (await within(outcome, 6000, 'an answer or a close')) === 'served';
      peer.end();
    }
    t.ok(served, 'after they close, a new connection is served again');
    const bursts = sys.rm.events.slice(rmark).filter((e) => e.type === 'peer_refused');
    t.equal(bursts.length, 1, 'one peer_refused for the whole burst');
  });

  // Nothing changed.
  const after = await status(sys);
  t.equal(after.epoch, before.epoch, 'epoch unchanged');
  t.equal(after.leader, before.leader, 'primary unchanged');
  t.same(after.members, before.members, 'members, addresses, roles and readiness unchanged');
  t.equal(after.members.length, 3, 'still three replicas');
  t.equal(after.target, before.target, 'replica count unchanged');
  t.same(after.properties, before.properties, 'properties unchanged');
  t.equal(after.gfd, 'connected', 'the GFD is still connected');
  t.equal((await sys.ask('C10', 'get')).result, '5', 'the counter is still 5');
  for (const s of ['S1', 'S2', 'S3']) {
    // The backups take the primary's own checkpoints and log entries (of this epoch); nothing else.
    const fromLeader = (e: TraceEvent) =>
      (e.type === 'checkpoint_received' && data(e).from === leader && Number(data(e).seq) < 999_999) ||
      (e.type === 'log_held' && e.text.endsWith(`from ${leader} (seq ${String(data(e).seq)})`) && data(e).client !== 'X1');
    const effects = since(s).filter((e) => REPLICA_EFFECTS.includes(e.type) && !(s !== leader && fromLeader(e)));
    t.same(effects.map((e) => e.text), [], `${s} took nothing from the intruder in`);
  }
  const rmChanges = since('RM').filter((e) => ['membership_changed', 'ready_changed', 'view_changed', 'decision', 'launch_failed', 'property_set'].includes(e.type));
  t.same(rmChanges.map((e) => e.text), [], 'the RM changed nothing');
  for (const l of ['LFD1', 'LFD2', 'LFD3']) t.notOk(since(l).some((e) => e.type === 'launched' || e.type === 'fenced'), `${l} launched and fenced nothing`);
  for (const name of names) t.ok(sys.proc(name).running, `${name} still running`);
  for (const name of names) t.notOk(since(name).some((e) => e.type === 'internal_error'), `${name}: no internal error`);
});

t.test('with an admin secret, the deployment secret alone does not administer', async (t) => {
  const dir = t.testdir({});
  const sys = new System({ mode: 'passive', quietHeartbeats: true, adminSecretFile: join(dir, 'admin-secret') });
  t.teardown(() => sys.stop());
  // Administration is between ctl and the RM: the RM alone will do.
  await sys.startRm();
  const memberOnly = { secrets: { member: readSecret(sys.secretFile!) } };

  t.match(JSON.parse(await sys.ctl({ op: 'status' })), { mode: 'passive', members: [] }, 'status with the admin secret works');

  // Proven as a member, then asked for status: refused by the RM.
  let mark = sys.rm.events.length;
  const conn = await connect(sys.rmAddr, { me: 'admin', security: memberOnly, standing: 'member' });
  t.equal(conn.standing, 'member', 'the deployment secret proves membership');
  const answer = new Promise<Message>((resolve) => conn.once('message', resolve));
  const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  conn.send({ type: 'status', from: 'admin' });
  t.match(await within(answer, 5000, 'an answer to status'), { type: 'refused', from: 'RM', reason: /status needs the admin secret/ }, 'status as a member is refused');
  await within(closed, 5000, 'the RM closes the connection');
  t.match(await sys.rm.waitFor((e) => e.type === 'peer_refused', 5000, mark), { category: 'fault', data: { reason: /status needs the admin secret/ } }, 'the RM traces it');

  // ctl with the deployment secret alone: its admin handshake fails.
  mark = sys.rm.events.length;
  await t.rejects(ctlRequest(sys.rmAddr, { op: 'status' }, { security: memberOnly }), /RM did not prove it holds our admin secret/, 'ctlRequest with the deployment secret alone fails');
  t.match(await sys.rm.waitFor((e) => e.type === 'peer_refused', 5000, mark), { category: 'fault', data: { peer: /\(claims admin\)$/ } }, 'the RM traces it');
  const cli = await ftkit(['ctl', '--rm', sys.rmAddr, '--secret-file', sys.secretFile!, 'status']);
  t.equal(cli.code, 1, 'ftkit ctl with the deployment secret alone exits 1');
  t.equal(lines(cli.stderr).length, 1, `one line on stderr: ${JSON.stringify(cli.stderr)}`);
  const ok = await ftkit(['ctl', '--rm', sys.rmAddr, '--secret-file', sys.secretFile!, '--admin-secret-file', join(dir, 'admin-secret'), '--json', 'status']);
  t.equal(ok.code, 0, `ftkit ctl with the admin secret works: ${ok.stderr}`);
  t.match(JSON.parse(ok.stdout), { mode: 'passive', members: [] });
});

t.test('a secret file that is missing or too short ends a component with one line, status 2', async (t) => {
  const dir = t.testdir({ short: 'tooshort\n' });
  const good = join(dir, 'good');
  createSecret(good);
  const cases: Array<[string, string[], RegExp]> = [
    ['server, missing secret file', ['server', 'S5', '--port', '0', '--lfd', '127.0.0.1:1', '--json', '--secret-file', join(dir, 'missing')], /^ftkit S5: secret file \S*missing: cannot read: ENOENT$/],
    ['lfd, short secret file', ['lfd', 'LFD5', '--port', '0', '--gfd', '127.0.0.1:1', '--state-dir', dir, '--json', '--secret-file', join(dir, 'short')], /^ftkit LFD5: secret file \S*short: too short \(8 bytes; at least 16\)/],
    ['rm, short admin secret file', ['rm', '--port', '0', '--json', '--secret-file', good, '--admin-secret-file', join(dir, 'short')], /^ftkit rm: admin secret file \S*short: too short \(8 bytes; at least 16\)/],
  ];
  const runs = await Promise.all(cases.map(([, args]) => ftkit(args)));
  cases.forEach(([what, , line], i) => {
    const r = runs[i]!;
    t.equal(r.code, 2, `${what}: exit status 2`);
    t.equal(r.stdout, '', `${what}: nothing on stdout`);
    t.equal(lines(r.stderr).length, 1, `${what}: one line on stderr: ${JSON.stringify(r.stderr)}`);
    t.match(r.stderr.trim(), line, `${what}: says what is wrong`);
  });
});
