/**
 * What the LFD and the GFD share, written once: watching children (lib/children.ts) and the
 * answer to the upstream's heartbeats and to its refusal (Component.answerHeartbeat,
 * stopRefused). Driven with fake
 * connections that record what is sent; no sockets, no sleeps. The heartbeat period is a
 * minute, so no heartbeat timer fires during a test; every test stops its watches.
 */
import t, { type Test } from 'tap';
import { Children, sendProperties, type Child } from '../../lib/children.js';
import { Component } from '../../lib/component.js';
import type { Connection } from '../../lib/net/index.js';
import type { Message, MessageOf } from '../../lib/protocol/index.js';
import { Tracer, type Sink, type TraceEvent } from '../../lib/trace/index.js';

interface FakeConnection {
  peer: string;
  sent: Message[];
  destroyed: boolean;
  readonly isOpen: boolean;
  send(msg: Message): boolean;
  destroy(): void;
}

function fakeConnection(peer: string): FakeConnection & Connection {
  const fake: FakeConnection = {
    peer,
    sent: [],
    destroyed: false,
    get isOpen() {
      return !this.destroyed;
    },
    send(msg) {
      if (this.destroyed) return false;
      this.sent.push(msg);
      return true;
    },
    destroy() {
      this.destroyed = true;
    },
  };
  return fake as FakeConnection & Connection;
}

interface Entry extends Child {
  alive: number;
  lost: Array<[number, string]>;
}

function setup(t: Test) {
  const tracer = new Tracer('LFD1');
  const events: TraceEvent[] = [];
  tracer.on('event', (e) => events.push(e));
  const children = new Children<Entry>({ me: 'LFD1', role: 'server', tracer, heartbeatFreq: 60, frequencyKey: 'lfd-heartbeat-freq' });
  t.teardown(() => children.stopAll());
  const child = (name: string, announce?: (conn: FakeConnection) => void) => {
    const conn = fakeConnection(name);
    const entry: Entry = {
      name,
      conn,
      lastAnswer: Date.now(),
      alive: 0,
      lost: [],
      watch: children.watch(name, conn, {
        alive: () => entry.alive++,
        lost: (num, why) => entry.lost.push([num, why]),
      }),
    };
    children.admit(entry, announce && (() => announce(conn)));
    return { entry, conn };
  };
  return { tracer, events, children, child };
}

const set = (key: string, value: string): MessageOf<'set'> => ({ type: 'set', from: 'GFD', key, value });

t.test('admit welcomes the child, replays the relayed properties, announces it, then heartbeats it', async (t) => {
  const { children, child, events } = setup(t);
  children.relay(set('checkpoint-freq', '2'));
  const order: string[] = [];
  const { conn } = child('S1', (c) => order.push(`announced after ${c.sent.length} messages`));
  t.same(conn.sent, [
    { type: 'welcome', from: 'LFD1', to: 'S1' },
    { type: 'set', from: 'LFD1', key: 'checkpoint-freq', value: '2' },
    { type: 'heartbeat', from: 'LFD1', to: 'S1', num: 1 },
  ]);
  t.same(order, ['announced after 2 messages'], 'announced before the first heartbeat goes out');
  const sent = events.find((e) => e.type === 'heartbeat_sent');
  t.equal(sent?.text, '[1] LFD1 sending heartbeat to S1');
  t.same(sent?.data, { server: 'S1', num: 1 });
  t.equal(children.get('S1')?.name, 'S1');
  t.same([...children].map((c) => c.name), ['S1']);
});

t.test('an answer marks the child alive once and records when it answered', async (t) => {
  const { children, child, events } = setup(t);
  const { entry } = child('S1');
  entry.lastAnswer = 0;
  children.answered(entry, 1);
  t.equal(entry.alive, 1);
  t.ok(entry.lastAnswer > 0, 'lastAnswer moved');
  t.ok(children.answering(entry));
  t.equal(events.filter((e) => e.type === 'heartbeat_received').length, 1);
  t.equal(events.find((e) => e.type === 'heartbeat_received')?.text, '[1] LFD1 receives heartbeat from S1');
  children.answered(entry, 1);
  t.equal(entry.alive, 1, 'a second answer to the same heartbeat changes nothing');
});

t.test('answering: within the timeout (2 × period unless fixed) a child still counts as answering', async (t) => {
  const { children, child } = setup(t);
  const { entry } = child('S1');
  t.equal(children.timing.timeoutMs, 120_000);
  entry.lastAnswer = 1_000_000;
  t.ok(children.answering(entry, 1_000_000 + 120_000));
  t.notOk(children.answering(entry, 1_000_000 + 120_001));
});

t.test('relay: another property goes to every child and to those that register later', async (t) => {
  const { children, child, events } = setup(t);
  const s1 = child('S1').conn;
  const s2 = child('S2').conn;
  children.relay(set('checkpoint-freq', '3'));
  for (const conn of [s1, s2]) t.same(conn.sent.at(-1), { type: 'set', from: 'LFD1', key: 'checkpoint-freq', value: '3' });
  children.relay(set('checkpoint-freq', '4'));
  t.same([...children.properties], [['checkpoint-freq', '4']], 'the latest value is kept');
  const s3 = child('S3').conn;
  t.same(s3.sent[1], { type: 'set', from: 'LFD1', key: 'checkpoint-freq', value: '4' });
  t.notOk(events.some((e) => e.type === 'property_set'), 'a relayed property is not this component’s own');
});

t.test('relay: the own heartbeat frequency is applied to every watch, traced, and not relayed', async (t) => {
  const { children, child, events } = setup(t);
  const { conn } = child('S1');
  const before = conn.sent.length;
  children.relay(set('lfd-heartbeat-freq', '30'));
  t.equal(conn.sent.length, before, 'nothing sent to the child');
  t.equal(children.timing.periodMs, 30_000);
  t.equal(children.timing.timeoutMs, 60_000, 'the timeout follows the period');
  t.equal(children.get('S1')?.watch.monitor.periodMs, 30_000, 'the running watch took the new period');
  const e = events.find((e) => e.type === 'property_set');
  t.equal(e?.text, 'LFD1: heartbeat_freq = 30 s');
  t.same(e?.data, { key: 'lfd-heartbeat-freq', value: 30 });
  t.equal(children.properties.size, 0);
});

t.test('relay: a value that does not parse is traced and goes nowhere', async (t) => {
  const { children, child, events } = setup(t);
  const { conn } = child('S1');
  const before = conn.sent.length;
  children.relay(set('checkpoint-freq', 'often'));
  t.equal(conn.sent.length, before);
  t.equal(children.properties.size, 0);
  const e = events.find((e) => e.type === 'property_rejected');
  t.equal(e?.category, 'fault');
  t.match(e?.text, /^LFD1: /);
});

t.test('forget stops watching and leaves the connection; drop also destroys it', async (t) => {
  const { children, child } = setup(t);
  const s1 = child('S1');
  const s2 = child('S2');
  t.equal(children.forget('S1'), s1.entry);
  t.notOk(s1.conn.destroyed);
  t.equal(children.get('S1'), undefined);
  t.equal(children.drop('S2'), s2.entry);
  t.ok(s2.conn.destroyed);
  t.equal(children.drop('S2'), undefined, 'dropping twice is harmless');
  t.equal(children.forget('S9'), undefined);
  t.same([...children], []);
});

t.test('ofConnection finds the child of this connection, not a newer one under the same name', async (t) => {
  const { children, child } = setup(t);
  const old = child('S1');
  t.equal(children.ofConnection(old.conn), old.entry);
  children.forget('S1');
  const fresh = child('S1');
  t.equal(children.ofConnection(old.conn), undefined);
  t.equal(children.ofConnection(fresh.conn), fresh.entry);
});

t.test('stopAll forgets every child and stops its heartbeats', async (t) => {
  const { children, child } = setup(t);
  const { entry, conn } = child('S1');
  children.stopAll();
  t.same([...children], []);
  children.answered(entry, 1);
  t.equal(entry.alive, 0, 'a stopped watch takes no answer');
  t.equal(conn.sent.length, 2, 'welcome and the first heartbeat, nothing more');
});

t.test('sendProperties sends each as a set from the sender, in order', async (t) => {
  const conn = fakeConnection('GFD');
  sendProperties(conn, 'RM', [
    ['checkpoint-freq', '2'],
    ['lfd-heartbeat-freq', '0.5'],
  ]);
  t.same(conn.sent, [
    { type: 'set', from: 'RM', key: 'checkpoint-freq', value: '2' },
    { type: 'set', from: 'RM', key: 'lfd-heartbeat-freq', value: '0.5' },
  ]);
});

class Answering extends Component {
  readonly steps: string[] = [];
  async start(): Promise<void> {}
  async stop(): Promise<void> {
    this.steps.push('stopped');
  }
  answer(conn: Connection, msg: MessageOf<'heartbeat'>, type?: string): void {
    this.answerHeartbeat(conn, msg, type);
  }
  refused(reason: string, onRefused?: (reason: string) => void): void {
    this.stopRefused(reason, onRefused);
  }
}

const heartbeat: MessageOf<'heartbeat'> = { type: 'heartbeat', from: 'GFD', to: 'LFD1', num: 7 };

t.test('answerHeartbeat answers on the same connection and traces the course line', async (t) => {
  const tracer = new Tracer('LFD1');
  const events: TraceEvent[] = [];
  tracer.on('event', (e) => events.push(e));
  const conn = fakeConnection('GFD');
  new Answering('LFD1', tracer).answer(conn, heartbeat, 'gfd_heartbeat');
  t.same(conn.sent, [{ type: 'heartbeat', from: 'LFD1', to: 'GFD', num: 7 }]);
  t.equal(events.length, 1);
  t.equal(events[0]!.type, 'gfd_heartbeat');
  t.equal(events[0]!.category, 'heartbeat');
  t.equal(events[0]!.text, '[7] LFD1 receives heartbeat from GFD and answers');
  t.same(events[0]!.data, { num: 7 });
  new Answering('S1', tracer).answer(conn, { ...heartbeat, from: 'LFD1', to: 'S1' });
  t.equal(events[1]!.type, 'heartbeat_answered', 'the server’s event type by default');
});

t.test('answerHeartbeat builds no trace event when nobody sees heartbeats', async (t) => {
  const printed: TraceEvent[] = [];
  const sink: Sink = Object.assign((e: TraceEvent) => void printed.push(e), { skips: new Set(['heartbeat'] as const) });
  const tracer = new Tracer('LFD1', sink);
  const conn = fakeConnection('GFD');
  new Answering('LFD1', tracer).answer(conn, heartbeat);
  t.same(conn.sent, [{ type: 'heartbeat', from: 'LFD1', to: 'GFD', num: 7 }], 'still answered');
  t.same(printed, [], 'the sink was never handed an event');
});

t.test('stopRefused stops the component, then tells the owner why', async (t) => {
  const c = new Answering('LFD1', new Tracer('LFD1'));
  const told = new Promise<string>((resolve) => c.refused('LFD1 is already running', (reason) => {
    c.steps.push(`told: ${reason}`);
    resolve(reason);
  }));
  t.equal(await told, 'LFD1 is already running');
  t.same(c.steps, ['stopped', 'told: LFD1 is already running']);
  c.refused('no owner');
  await Promise.resolve();
  t.same(c.steps.at(-1), 'stopped', 'without an owner it only stops');
});
