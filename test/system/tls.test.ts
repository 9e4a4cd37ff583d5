/**
 * TLS (docs/PROTOCOL.md §5a): the milestone-5 scenario passes in active mode with every link
 * over TLS; a passive system over TLS serves clients, fails over and answers `ftkit ctl`;
 * plain-text peers and peers that do not trust the deployment's CA get nothing, and no failed
 * handshake takes a component down. Certificates come from a throwaway CA (test/helpers/tls.ts,
 * openssl).
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import type { Proc } from '../../harness/launch/proc.js';
import { System } from '../../harness/launch/system.js';
import { parseAddress } from '../../lib/net/index.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { rawConnect } from '../helpers/socket.js';
import { makeTls } from '../helpers/tls.js';
import { demoEnv, runCli, survivors } from '../helpers/cli.js';
import { claimPorts } from '../helpers/ports.js';

const files = makeTls(t);
/** A CA that signed nothing this deployment serves. */
const stranger = makeTls(t);
// The demo keeps its secret in the user's state folder: here, a folder of the test's own.
const { env } = demoEnv(t);
const run = (t: Test, args: string[], ms: number) => runCli(t, args, ms, env);

const port = (addr: string) => parseAddress(addr).port;
const data = <T>(e: TraceEvent) => e.data as T;

/** `promise`, or a rejection saying `what` did not happen within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// A whole scenario and a system: more than the default two minutes on a busy machine.
t.setTimeout(600_000);

// The scenario runs in active mode only: the system below runs passive mode over TLS (serving,
// failover, ctl), and demo.test.ts runs the scenario in both modes over plain TCP.
const mode = 'active';
t.test(`milestone-5 scenario in ${mode} mode over TLS`, async (t) => {
  const base = String(await claimPorts()); // the demo's layout, this test's alone and free now
  const tls = ['--tls-cert', files.cert, '--tls-key', files.key, '--tls-ca', files.ca];
  // Heartbeats every 0.5 s (a 1 s timeout): what is tested here is TLS, and a shorter timeout
  // lets a loaded machine's scheduling hiccups pass for failures (kills are seen at once anyway).
  const { code, out } = await run(t, ['demo', '--scenario', 'm5', '--mode', mode, '--heartbeat-freq', '0.5', '--checkpoint-freq', '0.5', '--base-port', base, ...tls], 200_000);
  t.equal(code, 0, `exit status 0; output ends:\n${out.split('\n').slice(-14).join('\n')}`);
  t.match(out, `milestone-5 scenario, ${mode} mode: PASSED`);
  for (const name of ['RM', 'GFD', 'LFD1', 'S1']) t.match(out, new RegExp(`^${name}\\s+│ .*${name}: members prove the deployment secret.*; links over TLS$`, 'm'), `${name} runs over TLS`);
  t.notMatch(out, /links over plain TCP/);
  // The scenario's last client (CHECK) exits on its first reply: a connection of its still in its
  // TLS handshake then ends, which the replica traces as a peer that hung up ("refused a peer: TLS
  // handshake failed (the peer closed the connection…)", without an address: the socket is gone).
  // Seen once in CI, 17 ms after CHECK's reply. That refuses no one; any other refusal fails here.
  const refusals = out.split('\n').filter((l) => /internal error|refused /.test(l) && !/refused a peer: TLS handshake failed \(the peer/.test(l));
  t.same(refusals, [], 'no component refused another or had an internal error');
  t.equal(Number(/acknowledged requests lost\s+(\d+)/.exec(out)?.[1]), 0);
  t.equal(Number(/requests executed twice\s+(\d+)/.exec(out)?.[1]), 0);
  t.match(out, /all three replicas back and ready\s+yes/);
  t.same(survivors(`--port ${base}`), [], 'no process of the demo survives it');
});

t.test('a system over TLS with the default secret', async (t) => {
  const sys = new System({ mode: 'passive', app: 'counter', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, autoRestart: false, tls: files });
  t.teardown(() => sys.stop());
  await sys.start();
  const ca = readFileSync(files.ca);
  const names = ['RM', 'GFD', 'LFD1', 'LFD2', 'LFD3', 'S1', 'S2', 'S3'];
  for (const name of names) await sys.proc(name).waitFor((e) => e.type === 'security' && data<{ secret: boolean; tls: boolean }>(e).secret && data<{ tls: boolean }>(e).tls, 5000);
  const view = () => data<{ leader: string; view: unknown[] }>(sys.rm.events.filter((e) => e.type === 'view_changed').at(-1)!);
  // Every replica ready, so that a passive reply waits for the backups to hold the request.
  await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.length === 3, 20_000);
  const primary = view().leader;

  t.test('a client with the CA and no secret gets replies', async (t) => {
    const c = sys.startClient('C1', ['--message', 'add 2', '--count', '2', '--timeout', '1']);
    t.ok(c.args.includes('--tls-ca') && !c.args.some((a) => a.endsWith('secret-file')), 'the client holds the CA and no secret');
    const { code } = await within(c.exited, 20_000, 'C1 exits');
    t.equal(code, 0, `C1 exits 0; its lines:\n${c.tail()}`);
    t.same(c.events.filter((e) => e.type === 'request_done').map((e) => data<{ result: string }>(e).result), ['2', '4']);
    t.equal((await sys.ask('C2', 'get')).result, '4', 'sys.ask runs end to end');
  });

  t.test('ftkit ctl status over TLS', async (t) => {
    const status = JSON.parse(await sys.ctl({ op: 'status' })) as { members: Array<{ name: string }> };
    t.same(status.members.map((m) => m.name).sort(), ['S1', 'S2', 'S3']);
  });

  t.test('a client that half-closes after sending still gets its reply over TLS', async (t) => {
    const peer = await rawConnect(port(sys.serverAddrs.get(primary)!), '127.0.0.1', { ca });
    t.teardown(() => peer.end());
    // As `openssl s_client` with its input at an end: the request and the close_notify together.
    peer.socket.end(`<N1, ${primary}, 1, add 5, request>\n`);
    await peer.waitFor(/<N1, S\d, 1, 9, reply>/, 10_000);
    t.pass('the reply arrived after the half-close');
    await within(peer.closed, 5000, 'the server closes its side');
    t.pass('the server closed its side once nothing more was owed');
  });

  t.test('a plain-text peer gets no answer, and the refusal names TLS', async (t) => {
    const cases: Array<[string, string]> = [
      [primary, `<C1, ${primary}, 1, x, request>\n`],
      [primary, `<S3, ${primary}, welcome>\n`],
      ['RM', '<C9, client>\n'],
    ];
    for (const [who, input] of cases) {
      const proc = sys.proc(who);
      const mark = proc.events.length;
      const peer = await rawConnect(port(who === 'RM' ? sys.rmAddr : sys.serverAddrs.get(who)!));
      t.teardown(() => peer.end());
      peer.send(input);
      await within(peer.closed, 5000, `${who} closes a plain-text ${input.trim()}`);
      t.notMatch(peer.received(), /<[^<>]*>/, `${who} sends no protocol message in answer to ${input.trim()}`);
      const refused = await proc.waitFor((e) => e.type === 'peer_refused', 5000, mark);
      t.match(refused.text, /refused 127\.0\.0\.1:\d+: TLS handshake failed \(wrong version number\)$/, `${who} traces the refusal: ${refused.text}`);
    }
  });

  // The client that does not trust the CA starts with the plain-text one, so that their give-up
  // times overlap; each test waits for the RM's refusal that only its own client causes.
  let strangerClient: { proc: Proc; mark: number } | undefined;

  t.test('a plain-text ftkit client gets no replies', async (t) => {
    const mark = sys.rm.events.length;
    const c = sys.group.spawn('P1', ['client', 'P1', '--rm', sys.rmAddr, '--message', 'add 100', '--count', '1', '--timeout', '0.5', '--give-up', '2', '--json']);
    strangerClient = {
      mark: sys.rm.events.length,
      proc: sys.group.spawn('X1', ['client', 'X1', '--rm', sys.rmAddr, '--message', 'add 100', '--count', '1', '--timeout', '0.5', '--give-up', '2', '--json', '--tls-ca', stranger.ca]),
    };
    const { code } = await within(c.exited, 20_000, 'the plain-text client gives up');
    t.equal(code, 1, 'it gives up with status 1');
    t.same(c.events.filter((e) => e.type === 'request_done' || e.type === 'reply_received'), [], 'no reply');
    await sys.rm.waitFor((e) => e.type === 'peer_refused' && /TLS handshake failed \(wrong version number\)/.test(e.text), 5000, mark);
    t.equal((await sys.ask('C3', 'get')).result, '9', 'its request was never executed');
  });

  t.test('a client that does not trust the servers\' CA fails to connect and says why', async (t) => {
    const { proc: c, mark } = strangerClient!;
    const { code } = await within(c.exited, 20_000, 'the client gives up');
    t.equal(code, 1, 'it gives up with status 1');
    t.same(c.events.filter((e) => e.type === 'request_done' || e.type === 'reply_received'), [], 'no reply');
    const why = c.events.find((e) => /TLS with 127\.0\.0\.1:\d+: .*certificate.*--tls-ca/.test(e.text));
    t.ok(why, `the client says the certificate is not trusted; its lines:\n${c.tail()}`);
    await sys.rm.waitFor((e) => e.type === 'peer_refused' && /refused a peer: TLS handshake failed \(the peer closed the connection; a dialer that does not trust our certificate/.test(e.text), 5000, mark);

    const ctl = await run(t, ['ctl', '--rm', sys.rmAddr, '--secret-file', sys.secretFile!, '--tls-ca', stranger.ca, 'status'], 20_000);
    t.equal(ctl.code, 1, 'ftkit ctl with the wrong CA fails');
    t.match(ctl.out, /^ftkit ctl: TLS with 127\.0\.0\.1:\d+: .*certificate.*--tls-ca/m, `and says why: ${ctl.out.trim()}`);
  });

  t.test('a peer that resets mid-handshake is refused and harms nothing', async (t) => {
    const mark = sys.rm.events.length;
    const peer = await rawConnect(port(sys.rmAddr));
    // The first bytes of a TLS record (handshake, TLS 1.0 record version), then a reset.
    peer.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40, 0x01]));
    peer.socket.resetAndDestroy();
    await sys.rm.waitFor((e) => e.type === 'peer_refused' && /TLS handshake failed/.test(e.text), 5000, mark);
  });

  t.test('no failed handshake took a component down', async (t) => {
    for (const name of names) {
      const proc: Proc = sys.proc(name);
      t.ok(proc.running, `${name} is running`);
      t.same(proc.events.filter((e) => e.type === 'internal_error').map((e) => e.text), [], `${name} had no internal error`);
    }
  });

  t.test('the primary is killed; a later request is answered by the new one', async (t) => {
    sys.proc(primary).kill('SIGKILL');
    await sys.rm.waitFor((e) => e.type === 'view_changed' && data<{ leader: string }>(e).leader !== primary, 10_000);
    const { server, result } = await sys.ask('C4', 'add 1');
    t.not(server, primary, `answered by ${server}`);
    t.equal(result, '10', 'nothing acknowledged was lost');
  });
});
