/**
 * TLS at the net layer (docs/PROTOCOL.md §5a): the handshake binds the TLS session's keying
 * material, so a proof made for another channel is refused; a dialer that does not trust the
 * listener's certificate says why; failed handshakes (a silent peer's too) are refused and end
 * their connections, and the listener keeps serving.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { HANDSHAKE_TIMEOUT_MS, Listener, channelBinding, connect, freshNonce, proof, type Connection, type Security } from '../../lib/net/index.js';
import { decode, encode, type Message } from '../../lib/protocol/index.js';
import { rawConnect } from '../helpers/socket.js';
import { makeTls } from '../helpers/tls.js';

const files = makeTls(t);
const stranger = makeTls(t);
const secret = Buffer.from('0123456789abcdef0123456789abcdef');
const serving: Security = { secrets: { member: secret }, tls: { cert: readFileSync(files.cert), key: readFileSync(files.key), ca: readFileSync(files.ca) } };
const dialing = (ca: string): Security => ({ secrets: { member: secret }, tls: { ca: readFileSync(ca) } });

/** `promise`, or a rejection saying `what` did not happen within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A TLS listener with a secret that answers every `ping` with the channel binding it sees. */
async function tlsListener(t: Test) {
  const refused: string[] = [];
  const waiters: Array<() => void> = [];
  /** Resolves when `n` peers have been refused; rejects after `ms`. */
  const refusals = (n: number, ms = 5000) =>
    new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${refused.length} refusals within ${ms} ms, not ${n}: ${refused.join('; ')}`)), ms);
      const check = () => (refused.length >= n ? (clearTimeout(timer), resolve(refused)) : waiters.push(check));
      check();
    });
  const listener = new Listener({
    me: 'S1',
    host: '127.0.0.1',
    port: 0,
    security: serving,
    onRefused: (who, reason) => {
      refused.push(`${who}: ${reason}`);
      for (const w of waiters.splice(0)) w();
    },
    identify(conn: Connection, first: Message) {
      const handle = (m: Message) => {
        if (m.type === 'request') conn.send({ type: 'reply', client: m.client, server: 'S1', num: m.num, result: channelBinding(conn.socket) });
      };
      handle(first);
      return handle;
    },
  });
  await listener.listen();
  t.teardown(() => listener.close());
  return { listener, refusals };
}

t.test('a member authenticates over TLS; both ends bind the same keying material', async (t) => {
  const { listener } = await tlsListener(t);
  const conn = await connect(listener.address, { me: 'S2', security: dialing(files.ca), standing: 'member' });
  t.teardown(() => conn.destroy());
  t.equal(conn.standing, 'member');
  conn.send({ type: 'request', client: 'S2', server: 'S1', num: 1, payload: 'x' });
  const [reply] = (await once(conn, 'message')) as [Message & { result: string }];
  t.match(reply.result, /^[0-9a-f]{64}$/, 'the listener binds 32 bytes exported from the session');
  t.equal(reply.result, channelBinding(conn.socket), 'and the dialer the same');
});

t.test('a proof made without this session\'s binding (relayed from another channel) is refused', async (t) => {
  const { listener, refusals } = await tlsListener(t);
  const peer = await rawConnect(listener.port, '127.0.0.1', { ca: readFileSync(files.ca) });
  t.teardown(() => peer.end());
  const nonce = freshNonce();
  peer.send(encode({ type: 'authHello', from: 'S2', to: 'S1', standing: 'member', nonce }));
  const challenge = decode(await peer.waitFor(/<[^<>]*, auth_challenge>/));
  if (challenge.type !== 'authChallenge') throw new Error(`expected auth_challenge, got ${challenge.type}`);
  // Everything right but the binding: what a relay that terminates TLS itself would have.
  const input = { standing: 'member' as const, dialer: 'S2', listener: 'S1', dialerNonce: nonce, listenerNonce: challenge.nonce, binding: '' };
  peer.send(encode({ type: 'authProof', from: 'S2', to: 'S1', proof: proof(secret, { ...input, side: 'dialer' }) }));
  t.match(decode(await peer.waitFor(/<[^<>]*, refused>/)), { type: 'refused', reason: /wrong proof/ });
  await within(peer.closed, 5000, 'the listener closes the connection');
  t.match(await refusals(1), [/wrong proof/]);
});

t.test('a dialer that does not trust the certificate says why; the listener refuses it and keeps serving', async (t) => {
  const { listener, refusals } = await tlsListener(t);
  await t.rejects(connect(listener.address, { me: 'S2', security: dialing(stranger.ca), standing: 'member' }), {
    message: new RegExp(`^TLS with ${listener.address.replace(/\./g, '\\.')}: .*certificate.* \\(its certificate does not verify against our --tls-ca\\)$`),
  });
  const plain = await rawConnect(listener.port);
  plain.send('<C1, S1, 1, x, request>\n');
  await within(plain.closed, 5000, 'the listener closes a plain-text connection');
  t.equal(plain.received().includes('<'), false, 'a plain-text peer gets no protocol answer');
  // The untrusting dialer hangs up without an alert (its refusal may be traced after the plain-text peer's).
  t.match((await refusals(2)).sort(), [/^127\.0\.0\.1:\d+: TLS handshake failed \(wrong version number\)$/, /^a peer: TLS handshake failed \(the peer closed the connection; a dialer that does not trust our certificate does that\)$/]);
  const conn = await connect(listener.address, { me: 'S3', security: dialing(files.ca), standing: 'member' });
  t.equal(conn.standing, 'member', 'a trusted member still gets in');
  conn.destroy();
});

t.test('a peer that never starts its handshake is cut off at the handshake deadline', async (t) => {
  const { listener, refusals } = await tlsListener(t);
  const silent = await rawConnect(listener.port);
  t.teardown(() => silent.end());
  const started = Date.now();
  await within(silent.closed, HANDSHAKE_TIMEOUT_MS + 3000, 'the listener closes a silent connection');
  t.ok(Date.now() - started >= HANDSHAKE_TIMEOUT_MS - 100, `not before the deadline (${HANDSHAKE_TIMEOUT_MS} ms)`);
  t.match(await refusals(1), [/^127\.0\.0\.1:\d+: TLS handshake failed \(TLS handshake timeout\)$/]);
});
