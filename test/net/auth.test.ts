/**
 * The handshake and the standings, in process: a Listener with secrets, dialers with the right,
 * a wrong or no secret, a replayed handshake, and what each standing may send.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { Listener, Link, RefusedError, connect, exponentialBackoff, permits, proof, proofMatches, type Connection, type Secrets } from '../../lib/net/index.js';
import { decode, encode, type Message, type MessageType } from '../../lib/protocol/index.js';
import { rawConnect } from '../helpers/socket.js';

const MEMBER = Buffer.from('member-secret-0123456789abcdef');
const ADMIN = Buffer.from('admin-secret-0123456789abcdefgh');
const CLIENT = Buffer.from('client-secret-0123456789abcdefg');

/** A listener that records what it was asked to handle (after the door let it in) and answers `ok`. */
async function door(t: Test, secrets: Secrets, extra: { maxUnidentifiedPerAddress?: number } = {}) {
  const handled: Array<{ standing: string; msg: Message }> = [];
  const refused: Array<{ who: string; reason: string }> = [];
  const listener = new Listener({
    me: 'GFD',
    host: '127.0.0.1',
    port: 0,
    security: { secrets },
    ...extra,
    onRefused: (who, reason) => refused.push({ who, reason }),
    identify(conn: Connection, first: Message) {
      const handle = (m: Message) => {
        handled.push({ standing: conn.standing, msg: m });
        conn.send({ type: 'ok', from: 'GFD', to: 'x', text: m.type });
      };
      handle(first);
      return handle;
    },
  });
  await listener.listen();
  t.teardown(() => listener.close());
  return { listener, handled, refused };
}

/** The next message on a connection. */
function next(conn: Connection): Promise<Message> {
  return new Promise((resolve) => conn.once('message', resolve));
}

t.test('a member with the secret is let in and its messages are handled', async (t) => {
  const { listener, handled } = await door(t, { member: MEMBER });
  const conn = await connect(listener.address, { me: 'LFD1', security: { secrets: { member: MEMBER } }, standing: 'member' });
  t.equal(conn.standing, 'member', 'the dialer knows what it proved');
  conn.send({ type: 'lfdRegister', lfd: 'LFD1', host: 'h' });
  t.match(await next(conn), { type: 'ok', text: 'lfdRegister' });
  t.same(handled.map((h) => h.standing), ['member']);
  conn.destroy();
});

t.test('a wrong secret fails both ways: the dialer sees the listener cannot prove it, and nothing is handled', async (t) => {
  const { listener, handled } = await door(t, { member: MEMBER });
  const wrong = Buffer.from('some-other-secret-0123456789abc');
  await t.rejects(connect(listener.address, { me: 'LFD1', security: { secrets: { member: wrong } }, standing: 'member' }), RefusedError);
  t.same(handled, []);
});

t.test('a dialer with a wrong proof is refused and traced; nothing it sends after counts', async (t) => {
  const { listener, handled, refused } = await door(t, { member: MEMBER });
  const raw = await rawConnect(listener.port);
  raw.send(encode({ type: 'authHello', from: 'LFD9', to: '-', standing: 'member', nonce: randomBytes(16).toString('hex') }));
  const challenge = decode(await raw.waitFor(/<[^<>]*, auth_challenge>/));
  t.equal(challenge.type, 'authChallenge');
  // The proof of a secret the listener does not hold, then a register in the same write.
  const fake = proof(Buffer.from('not-the-secret-0123456789abcdef'), {
    side: 'dialer',
    standing: 'member',
    dialer: 'LFD9',
    listener: 'GFD',
    dialerNonce: '00'.repeat(16),
    listenerNonce: (challenge as { nonce: string }).nonce,
    binding: '',
  });
  raw.send(encode({ type: 'authProof', from: 'LFD9', to: 'GFD', proof: fake }) + encode({ type: 'lfdRegister', lfd: 'LFD9', host: 'h' }));
  t.match(decode(await raw.waitFor(/<[^<>]*, refused>/)), { type: 'refused', from: 'GFD', to: 'LFD9', reason: /wrong proof/ });
  await raw.closed;
  t.same(handled, [], 'the register after the bad proof was not handled');
  t.match(refused, [{ who: /^127\.0\.0\.1:\d+ \(claims LFD9\)$/, reason: /wrong proof/ }]);
});

t.test('a handshake recorded on one connection and replayed on another is refused', async (t) => {
  const { listener, handled, refused } = await door(t, { member: MEMBER });
  // A real handshake, made by hand so that its frames can be kept.
  const sent: string[] = [];
  const spy = await rawConnect(listener.port);
  const nonce = randomBytes(16).toString('hex');
  spy.send(encode({ type: 'authHello', from: 'LFD1', to: '-', standing: 'member', nonce }));
  const challenge = decode(await spy.waitFor(/<[^<>]*, auth_challenge>/)) as { nonce: string };
  const good = proof(MEMBER, { side: 'dialer', standing: 'member', dialer: 'LFD1', listener: 'GFD', dialerNonce: nonce, listenerNonce: challenge.nonce, binding: '' });
  sent.push(encode({ type: 'authHello', from: 'LFD1', to: '-', standing: 'member', nonce }), encode({ type: 'authProof', from: 'LFD1', to: 'GFD', proof: good }));
  spy.send(sent[1]!);
  t.match(await spy.waitFor(/<GFD, LFD1, member, auth_ok>/), /auth_ok/, 'the original handshake succeeds');
  spy.end();
  // The replay: same hello, same proof; the listener's nonce is new.
  const replay = await rawConnect(listener.port);
  replay.send(sent.join('') + encode({ type: 'lfdRegister', lfd: 'LFD1', host: 'h' }));
  t.match(decode(await replay.waitFor(/<[^<>]*, refused>/)), { type: 'refused', reason: /wrong proof/ });
  await replay.closed;
  t.same(handled, [], 'nothing from the replay was handled');
  t.equal(refused.length, 1);
});

t.test('what each standing may send', async (t) => {
  const kinds: MessageType[] = ['client', 'request', 'error', 'status', 'set', 'lfdRegister', 'welcome', 'checkpoint', 'role', 'authOk', 'backlog'];
  const allowed = (secrets: Secrets, standing: Parameters<typeof permits>[1]) => kinds.filter((k) => permits(secrets, standing, k));
  t.same(allowed({ member: MEMBER }, 'anonymous'), ['client', 'request', 'error'], 'anonymous: a client');
  t.same(allowed({ member: MEMBER, client: CLIENT }, 'anonymous'), [], 'anonymous with a client secret: nothing');
  t.same(allowed({ member: MEMBER, client: CLIENT }, 'client'), ['client', 'request', 'error', 'backlog'], "a proven client: a client, and ftkit sync's backlog report");
  t.same(allowed({ client: CLIENT }, 'anonymous'), ['client', 'request', 'error'], 'anonymous with only a client secret: a client, not a report');
  t.same(allowed({ member: MEMBER }, 'member'), kinds, 'a member administers when there is no admin secret');
  t.same(allowed({ member: MEMBER, admin: ADMIN }, 'member'), kinds.filter((k) => k !== 'status' && k !== 'set'), 'but not when there is one');
  t.same(allowed({ member: MEMBER, admin: ADMIN }, 'admin'), ['client', 'request', 'error', 'status', 'set'], 'an admin registers nothing');
  t.same(allowed({}, 'anonymous'), kinds, 'open: anyone may say anything');
});

t.test('an anonymous peer may send requests but not member messages; a refused one is told why', async (t) => {
  const { listener, handled, refused } = await door(t, { member: MEMBER });
  const client = await rawConnect(listener.port);
  client.send('<C1, S1, 1, x, request>');
  t.match(await client.waitFor(/<GFD, x, request, ok>/), /ok/);
  client.end();
  const intruder = await rawConnect(listener.port);
  intruder.send('<S3, S1, 999, 1000000, %5B%5D, 6, 999999, checkpoint>');
  t.match(decode(await intruder.waitFor(/<[^<>]*, refused>/)), { type: 'refused', to: 'S3', reason: /checkpoint needs the deployment secret/ });
  await intruder.closed;
  const admin = await rawConnect(listener.port);
  admin.send('<intruder, replicas, 1, set>');
  t.match(decode(await admin.waitFor(/<[^<>]*, refused>/)), { type: 'refused', reason: /set needs the deployment secret/ });
  await admin.closed;
  t.same(handled.map((h) => h.msg.type), ['request']);
  t.equal(refused.length, 2);
});

t.test('admin, client and member standings each use their own secret', async (t) => {
  const { listener, handled } = await door(t, { member: MEMBER, admin: ADMIN, client: CLIENT });
  const admin = await connect(listener.address, { me: 'admin', security: { secrets: { member: MEMBER, admin: ADMIN } }, standing: 'admin' });
  admin.send({ type: 'status', from: 'admin' });
  t.match(await next(admin), { text: 'status' });
  admin.destroy();
  await t.rejects(connect(listener.address, { me: 'admin', security: { secrets: { member: ADMIN } }, standing: 'member' }), RefusedError, 'the admin secret is not the deployment secret');
  const client = await connect(listener.address, { me: 'C1', security: { secrets: { client: CLIENT } }, standing: 'client' });
  client.send({ type: 'request', client: 'C1', server: 'S1', num: 1, payload: 'x' });
  t.match(await next(client), { text: 'request' });
  client.send({ type: 'status', from: 'C1' });
  t.match(await next(client), { type: 'refused', reason: /status needs the admin secret/ });
  client.destroy();
  // No client secret in hand: the deployment requires one.
  const anonymous = await connect(listener.address, { me: 'C2', standing: 'client' });
  anonymous.send({ type: 'request', client: 'C2', server: 'S1', num: 1, payload: 'x' });
  t.match(await next(anonymous), { type: 'refused', reason: /requires client authentication/ });
  t.same(handled.map((h) => `${h.standing}:${h.msg.type}`), ['admin:status', 'client:request']);
});

t.test('an open listener refuses a dialer that wants to authenticate, so the mismatch is loud', async (t) => {
  const { listener } = await door(t, {});
  const err = await connect(listener.address, { me: 'LFD1', security: { secrets: { member: MEMBER } }, standing: 'member' }).catch((e: unknown) => e);
  t.type(err, RefusedError);
  t.match((err as Error).message, /runs without a deployment secret/);
});

t.test('a Link stops and says so when it is refused, instead of retrying for ever', async (t) => {
  const { listener } = await door(t, { member: MEMBER });
  const link = new Link({ me: 'LFD1', addr: listener.address, security: { secrets: { member: Buffer.from('a-different-secret-0123456789ab') } }, standing: 'member', policy: exponentialBackoff({ baseMs: 5, capMs: 10 }) });
  const refusedOnce = new Promise<RefusedError>((resolve) => link.once('refused', resolve));
  let ups = 0;
  link.on('up', () => ups++);
  link.start();
  t.match((await refusedOnce).reason, /did not prove/);
  t.equal(ups, 0);
  link.stop();
});

t.test('before it says who it is, a peer gets small frames, a deadline for its proof, and few connections per address', async (t) => {
  const { listener, refused } = await door(t, { member: MEMBER }, { maxUnidentifiedPerAddress: 3 });
  // Anonymous clients are let in here: a first request may be as large as any request.
  const large = await rawConnect(listener.port);
  large.send(`<C1, S1, 1, ${'x'.repeat(9000)}, request>`);
  t.match(await large.waitFor(/<GFD, x, request, ok>/), /ok/, 'a large first request from a client is served');
  large.end();
  // A peer that asked to authenticate is held to small frames until its proof.
  const big = await rawConnect(listener.port);
  big.send(encode({ type: 'authHello', from: 'LFD9', to: '-', standing: 'member', nonce: '00'.repeat(16) }));
  await big.waitFor(/auth_challenge>/);
  big.send(`<LFD9, GFD, ${'ab'.repeat(4500)}, auth_proof>`);
  t.match(decode(await big.waitFor(/<[^<>]*, error>/)), { type: 'error', reason: /frame exceeds 8192/ });
  await big.closed;

  const silent = await Promise.all([1, 2, 3].map(() => rawConnect(listener.port)));
  const fourth = await rawConnect(listener.port);
  await fourth.closed;
  t.equal(fourth.received(), '', 'the fourth silent connection from one address is closed at once');
  t.equal(refused.filter((r) => /connections that have not said who they are/.test(r.reason)).length, 1, 'traced once for the burst');
  for (const s of silent) s.end();
  await Promise.all(silent.map((s) => s.closed));
  // Room again once they are gone (the listener sees the closes shortly after the peers do).
  for (let i = 0; ; i++) {
    const again = await rawConnect(listener.port);
    again.send('<C1, S1, 1, x, request>');
    const ok = await again.waitFor(/ok>/, 500).then(
      () => true,
      () => false,
    );
    again.end();
    if (ok || i === 20) {
      t.ok(ok, 'a connection is accepted again after the silent ones closed');
      break;
    }
  }
});

t.test('where every peer must prove a secret, even the first frame is small', async (t) => {
  const { listener } = await door(t, { member: MEMBER, client: CLIENT });
  const big = await rawConnect(listener.port);
  big.send(`<C1, S1, 1, ${'x'.repeat(9000)}, request>`);
  t.match(decode(await big.waitFor(/<[^<>]*, error>/)), { type: 'error', reason: /frame exceeds 8192/ });
  await big.closed;
});

t.test('proofs compare in constant time and only when the lengths match', async (t) => {
  const p = proof(MEMBER, { side: 'dialer', standing: 'member', dialer: 'a', listener: 'b', dialerNonce: '00', listenerNonce: '11', binding: '' });
  t.ok(proofMatches(p, p));
  t.notOk(proofMatches(p, p.slice(0, -2)));
  t.notOk(proofMatches(p, p.replace(/^./, (c) => (c === '0' ? '1' : '0'))));
  const other = proof(MEMBER, { side: 'listener', standing: 'member', dialer: 'a', listener: 'b', dialerNonce: '00', listenerNonce: '11', binding: '' });
  t.not(p, other, "the listener's proof is never a dialer's proof");
});
