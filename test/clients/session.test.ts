/**
 * The client session in process, over real sockets on 127.0.0.1: a fake RM and fake
 * replicas built on lib/net's Listener, scripted per request. Nothing sleeps: each test
 * awaits the session's events or the fakes' events.
 */
import t, { type Test } from 'tap';
import { EventEmitter, once } from 'node:events';
import { Listener, RefusedError, type Connection, type Secrets } from '../../lib/net/index.js';
import type { Member, Message, MessageOf, Mode } from '../../lib/protocol/index.js';
import { Tracer, type TraceEvent } from '../../lib/trace/index.js';
import { GiveUpError, SessionStoppedError } from '../../lib/errors.js';
import { Session, type Outcome, type SessionOptions } from '../../clients/session.js';

type Action = 'reply' | 'reject' | 'stale' | 'close' | 'ignore';

interface FakeReplica {
  member: Member;
  /** Every request received, in order. */
  requests: Array<MessageOf<'request'>>;
  connections: number;
  events: EventEmitter<{ request: [MessageOf<'request'>, Action] }>;
  /** The reply to request `num` (held back by a `ignore` script), sent now. */
  answer(num: number): void;
}

/** A replica that answers the `attempt`-th copy of request `num` as `script` says. */
async function fakeReplica(t: Test, name: string, script: (num: number, attempt: number) => Action = () => 'reply'): Promise<FakeReplica> {
  const attempts = new Map<number, number>();
  const conns = new Set<Connection>();
  const events = new EventEmitter<{ request: [MessageOf<'request'>, Action] }>();
  const fake: FakeReplica = { member: { name, addr: '' }, requests: [], connections: 0, events, answer: () => {} };
  const listener = new Listener({
    me: name,
    host: '127.0.0.1',
    port: 0,
    onClose: (conn) => conns.delete(conn),
    identify(conn: Connection, first: Message) {
      fake.connections++;
      conns.add(conn);
      const handle = (m: Message) => {
        if (m.type !== 'request') return;
        const attempt = (attempts.get(m.num) ?? 0) + 1;
        attempts.set(m.num, attempt);
        fake.requests.push(m);
        const action = script(m.num, attempt);
        const reply = () => conn.send({ type: 'reply', client: m.client, server: name, num: m.num, result: `r${m.num}` });
        if (action === 'reply') reply();
        else if (action === 'reject') conn.send({ type: 'reject', client: m.client, server: name, num: m.num, reason: 'not_ready' });
        else if (action === 'stale') conn.send({ type: 'reject', client: m.client, server: name, num: m.num, reason: `stale: request_num ${m.num + 9} already answered` });
        else if (action === 'close') conn.destroy();
        else fake.answer = (num) => num === m.num && reply();
        events.emit('request', m, action);
      };
      handle(first);
      return handle;
    },
  });
  await listener.listen();
  t.teardown(() => listener.close());
  fake.member.addr = listener.address;
  return fake;
}

interface FakeRm {
  addr: string;
  /** `client` messages received (discoveries). */
  asks: number;
  events: EventEmitter<{ ask: [] }>;
  /** Push a view to every client now, and answer later discoveries with it. */
  push(mode: Mode, replicas: Member[]): void;
}

async function fakeRm(t: Test, mode: Mode | undefined, replicas: Member[], secrets?: Secrets): Promise<FakeRm> {
  const clients = new Map<Connection, string>();
  let view = mode ? { mode, replicas } : undefined;
  const send = (conn: Connection, client: string) => view && conn.send({ type: 'view', client, mode: view.mode, replicas: view.replicas });
  const rm: FakeRm = {
    addr: '',
    asks: 0,
    events: new EventEmitter(),
    push(m, r) {
      view = { mode: m, replicas: r };
      for (const [conn, client] of clients) send(conn, client);
    },
  };
  const listener = new Listener({
    me: 'RM',
    host: '127.0.0.1',
    port: 0,
    security: secrets ? { secrets } : undefined,
    onClose: (conn) => clients.delete(conn),
    identify(conn: Connection, first: Message) {
      const handle = (m: Message) => {
        if (m.type !== 'client') return;
        rm.asks++;
        clients.set(conn, m.client);
        send(conn, m.client);
        rm.events.emit('ask');
      };
      handle(first);
      return handle;
    },
  });
  await listener.listen();
  t.teardown(() => listener.close());
  rm.addr = listener.address;
  return rm;
}

function session(t: Test, options: Omit<SessionOptions, 'name'> & { name?: string }): Session {
  const s = new Session({ name: 'C1', retryPolicy: () => 1, ...options });
  t.teardown(() => s.stop());
  s.start();
  return s;
}

function traced(s: Session, tracer: Tracer): TraceEvent[] {
  const events: TraceEvent[] = [];
  tracer.on('event', (e) => events.push(e));
  return events;
}

/** Resolves with the next request `fake` receives for which `pred` holds. */
function requestWhere(fake: FakeReplica, pred: (m: MessageOf<'request'>) => boolean = () => true): Promise<MessageOf<'request'>> {
  return new Promise((resolve) => {
    const on = (m: MessageOf<'request'>) => {
      if (!pred(m)) return;
      fake.events.off('request', on);
      resolve(m);
    };
    fake.events.on('request', on);
  });
}

t.test('passive: each request goes to the primary only, and the number moves on after a reply', async (t) => {
  const [s1, s2] = [await fakeReplica(t, 'S1'), await fakeReplica(t, 'S2')];
  const rm = await fakeRm(t, 'passive', [s1.member, s2.member]);
  const c = session(t, { rm: rm.addr });
  t.ok(await c.ready(5000), 'the RM gave a view');
  t.equal(c.mode, 'passive');
  const first = await c.request('add 1');
  t.match(first, { status: 'ok', num: 1, server: 'S1', result: 'r1', attempts: 1 });
  const second = await c.request('add 2');
  t.match(second, { status: 'ok', num: 2, server: 'S1' });
  t.same(s1.requests.map((m) => [m.client, m.server, m.num, m.payload]), [['C1', 'S1', 1, 'add 1'], ['C1', 'S1', 2, 'add 2']]);
  t.equal(s2.requests.length, 0, 'the backup got nothing');
  t.equal(c.stats.replies, 2);
  t.ok(second.at >= second.sentAt, 'times are in order');
});

t.test('active: fan out to every replica, the first reply wins, the rest are traced duplicates', async (t) => {
  const fakes = [await fakeReplica(t, 'S1'), await fakeReplica(t, 'S2'), await fakeReplica(t, 'S3')];
  const rm = await fakeRm(t, 'active', fakes.map((f) => f.member));
  const tracer = new Tracer('C1');
  const c = session(t, { rm: rm.addr, tracer });
  const events = traced(c, tracer);
  const dups: string[] = [];
  const twoDuplicates = new Promise<void>((resolve) =>
    c.on('duplicate', (server, num) => {
      dups.push(`${server}:${num}`);
      if (dups.length === 2) resolve();
    }),
  );
  const out = await c.request('add 1');
  t.match(out, { status: 'ok', num: 1 });
  await twoDuplicates;
  t.same(fakes.map((f) => f.requests.map((m) => m.num)), [[1], [1], [1]], 'every replica got request 1 once');
  const winner = (out as Extract<Outcome, { status: 'ok' }>).server;
  t.same(dups.sort(), ['S1', 'S2', 'S3'].filter((s) => s !== winner).map((s) => `${s}:1`).sort());
  t.equal(c.stats.duplicates, 2);
  t.equal(c.replicas.get(winner)?.replies, 1);
  const lines = events.filter((e) => e.type === 'duplicate_reply').map((e) => e.text);
  t.same(lines.sort(), dups.map((d) => `request_num 1: Discarded duplicate reply from ${d.split(':')[0]}`).sort());
  t.ok(events.some((e) => e.type === 'request_sent' && e.text === 'Sent <C1, S2, 1, request>'), 'requests traced in the course notation');
  t.ok(events.some((e) => e.type === 'reply_received' && e.text === `Received <C1, ${winner}, 1, reply>`), 'the reply in the course notation, exactly');
  const result = (out as Extract<Outcome, { status: 'ok' }>).result;
  t.ok(events.some((e) => e.type === 'request_done' && e.text === `C1: request_num 1 answered by ${winner}: ${result}`), 'the result on a line of its own');
});

t.test('a rejected request is retried with the same number, and the reject is counted', async (t) => {
  const s1 = await fakeReplica(t, 'S1', (_num, attempt) => (attempt < 3 ? 'reject' : 'reply'));
  const rm = await fakeRm(t, 'passive', [s1.member]);
  const c = session(t, { rm: rm.addr });
  const out = await c.request('add 1');
  t.match(out, { status: 'ok', num: 1, attempts: 3 });
  t.same(s1.requests.map((m) => m.num), [1, 1, 1], 'never a new number for a retry');
  t.equal(c.replicas.get('S1')?.rejects, 2);
  t.equal(c.stats.retries, 2);
  t.ok(rm.asks >= 3, 'it asked the RM again before each retry');
});

t.test('failover: a closed connection is counted, and the retry goes to the new primary as soon as the RM says so', async (t) => {
  const s1 = await fakeReplica(t, 'S1', () => 'close');
  const s2 = await fakeReplica(t, 'S2');
  const rm = await fakeRm(t, 'passive', [s1.member, s2.member]);
  // A back-off far longer than the test: only the new view can start the retry.
  const c = session(t, { rm: rm.addr, retryPolicy: () => 600_000 });
  const pending = c.request('add 1');
  await requestWhere(s1);
  rm.push('passive', [s2.member]);
  const out = await pending;
  t.match(out, { status: 'ok', num: 1, server: 'S2', attempts: 2 });
  t.same(s2.requests.map((m) => m.num), [1], 'the same number at the new primary');
  t.equal(c.replicas.get('S1')?.closed, 1);
});

t.test('the back-off starts again with a new view', async (t) => {
  const s1 = await fakeReplica(t, 'S1', () => 'reject');
  const s2 = await fakeReplica(t, 'S2', (_num, attempt) => (attempt === 1 ? 'reject' : 'reply'));
  const rm = await fakeRm(t, 'passive', [s1.member]);
  // The first wait of a back-off is 1 ms, every later one far longer than the test.
  const c = session(t, { rm: rm.addr, retryPolicy: (attempt) => (attempt === 1 ? 1 : 600_000) });
  const pending = c.request('add 1');
  await requestWhere(s1, () => s1.requests.length === 2); // rejected twice: now in the long wait
  rm.push('passive', [s2.member]);
  t.match(await pending, { status: 'ok', server: 'S2', num: 1, attempts: 4 }, 'rejected once by S2, retried after the short wait');
  t.same(s2.requests.map((m) => m.num), [1, 1]);
});

t.test('active: one replica failing is fine while another answers', async (t) => {
  const s1 = await fakeReplica(t, 'S1', () => 'reject');
  const s2 = await fakeReplica(t, 'S2', () => 'ignore');
  const rm = await fakeRm(t, 'active', [s1.member, s2.member]);
  const c = session(t, { rm: rm.addr });
  const pending = c.request('add 1');
  await Promise.all([requestWhere(s1), requestWhere(s2)]);
  s2.answer(1);
  t.match(await pending, { status: 'ok', server: 'S2', attempts: 1 }, 'the reject of S1 did not end the attempt');
  t.equal(c.replicas.get('S1')?.rejects, 1);
});

t.test('a stale reject moves the open request past the numbers the service has answered', async (t) => {
  const s1 = await fakeReplica(t, 'S1', (num) => (num === 1 ? 'stale' : 'reply'));
  const rm = await fakeRm(t, 'passive', [s1.member]);
  const c = session(t, { rm: rm.addr });
  t.match(await c.request('x'), { status: 'ok', num: 11 });
  t.same(s1.requests.map((m) => m.num), [1, 11]);
  t.equal(c.num, 12);
});

t.test('no replica ever ready: the request ends fail (never sent) with a give-up', async (t) => {
  const rm = await fakeRm(t, undefined, []);
  const c = session(t, { rm: rm.addr, attemptTimeoutMs: 20, giveUpMs: 60 });
  const out = await c.request('add 1');
  t.match(out, { status: 'fail', num: 1 });
  t.type(out.status !== 'ok' && out.error, GiveUpError);
  t.match(out.status !== 'ok' && out.error.message, /^C1: no replica answered for 0.06 s; giving up$/);
  t.equal(c.stats.failed, 1);
  t.equal(c.num, 2, 'the next request gets a new number');
});

t.test('sent but never answered: the request ends unknown', async (t) => {
  const s1 = await fakeReplica(t, 'S1', () => 'ignore');
  const rm = await fakeRm(t, 'passive', [s1.member]);
  const c = session(t, { rm: rm.addr, attemptTimeoutMs: 20, giveUpMs: 400 });
  const out = await c.request('add 1');
  t.match(out, { status: 'unknown', num: 1 });
  t.ok(s1.requests.length >= 2 && s1.requests.every((m) => m.num === 1), 'every attempt carried number 1');
  t.equal(c.stats.unknown, 1);
});

t.test('stop ends the open request unknown when it was sent; invoke and complete events bracket it', async (t) => {
  const s1 = await fakeReplica(t, 'S1', () => 'ignore');
  const rm = await fakeRm(t, 'passive', [s1.member]);
  const c = session(t, { rm: rm.addr });
  const seen: string[] = [];
  c.on('invoke', (num, payload) => seen.push(`invoke ${num} ${payload}`));
  c.on('complete', (o) => seen.push(`complete ${o.num} ${o.status}`));
  const pending = c.request('read');
  await requestWhere(s1);
  t.equal(c.busy, true);
  c.stop();
  const out = await pending;
  t.match(out, { status: 'unknown' });
  t.type(out.status !== 'ok' && out.error, SessionStoppedError);
  t.same(seen, ['invoke 1 read', 'complete 1 unknown']);
  t.match(await c.request('again'), { status: 'fail' }, 'after stop nothing is sent');
});

t.test('a stale-view session talks to the replica it is pointed at and never to the RM', async (t) => {
  const a = await fakeReplica(t, 'SA', (num) => (num === 1 ? 'reply' : 'ignore'));
  const b = await fakeReplica(t, 'SB');
  const c = session(t, { stale: true, attemptTimeoutMs: 600_000 });
  t.throws(() => new Session({ name: 'C2', rm: '127.0.0.1:1' }).pointAt(a.member), /follows the RM's views/);
  c.pointAt(a.member);
  t.match(await c.request('x'), { status: 'ok', server: 'SA', num: 1 });
  const pending = c.request('y');
  await requestWhere(a, (m) => m.num === 2);
  c.pointAt(b.member); // closes the connection to SA: the open request is retried at SB
  t.match(await pending, { status: 'ok', server: 'SB', num: 2 });
  t.same(b.requests.map((m) => m.num), [2]);
});

t.test('the client secret: with it the RM answers, without it the session is refused', async (t) => {
  const member = Buffer.from('member-secret-0123456789abcdef');
  const client = Buffer.from('client-secret-0123456789abcdefg');
  const s1 = await fakeReplica(t, 'S1');
  const rm = await fakeRm(t, 'passive', [s1.member], { member, client });
  const ok = session(t, { rm: rm.addr, security: { secrets: { client } } });
  t.ok(await ok.ready(5000), 'a session with the client secret gets a view');
  const refusedOne = session(t, { name: 'C2', rm: rm.addr });
  const [err] = (await once(refusedOne, 'refused')) as [RefusedError];
  t.type(err, RefusedError);
  const out = await refusedOne.request('x');
  t.match(out, { status: 'fail' });
  t.type(out.status !== 'ok' && out.error, RefusedError);
});

t.test('loop: closed loop with a count, think time and kept results; pause and resume', async (t) => {
  const s1 = await fakeReplica(t, 'S1');
  const rm = await fakeRm(t, 'passive', [s1.member]);
  const c = session(t, { rm: rm.addr, keepResults: true });
  t.equal(await c.loop({ next: (num) => `add ${num}`, count: 3, thinkMs: 1 }).run(), undefined);
  t.same(c.results, ['r1', 'r2', 'r3']);
  t.same(s1.requests.map((m) => m.payload), ['add 1', 'add 2', 'add 3']);

  // A loop that runs until stopped; paused, it sends nothing more once idle.
  let sent = 0;
  const loop = c.loop({ next: (num) => (++sent, `add ${num}`) });
  const running = loop.run();
  await requestWhere(s1, (m) => m.num === 6);
  loop.pause();
  t.ok(await c.idle(5000), 'idle once the open request is answered');
  t.equal(c.busy, false);
  const lastBefore = s1.requests.at(-1)!.num;
  t.equal(sent, s1.requests.length - 3, 'every payload the paused loop built was sent');
  const resumed = requestWhere(s1);
  loop.resume();
  t.equal((await resumed).num, lastBefore + 1, 'after resume it goes on with the next number');
  loop.stop();
  t.equal(await running, undefined, 'stopLoop ends the loop after the open request');
  t.equal(c.stats.replies, 3 + sent);
});

t.test('loop: a request without a reply ends the loop unless told to continue', async (t) => {
  const s1 = await fakeReplica(t, 'S1', (num) => (num === 2 ? 'ignore' : 'reply'));
  const rm = await fakeRm(t, 'passive', [s1.member]);
  const c = session(t, { rm: rm.addr, attemptTimeoutMs: 20, giveUpMs: 40 });
  const ended = await c.loop({ next: (num) => `add ${num}` }).run();
  t.match(ended, { status: 'unknown', num: 2 });
  const outcomes: string[] = [];
  c.on('complete', (o) => outcomes.push(`${o.num} ${o.status}`));
  await c.loop({ next: (num) => (num <= 4 ? `add ${num}` : undefined), continueOnFailure: true }).run();
  t.same(outcomes, ['3 ok', '4 ok']);
  c.stop();
  t.equal(await c.loop({ next: (num) => `add ${num}`, continueOnFailure: true }).run(), undefined, 'a loop on a stopped session ends at once');
});
