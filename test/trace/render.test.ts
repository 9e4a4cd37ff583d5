import t from 'tap';
import { Chalk } from 'chalk';
import { Tracer, silentTracer, type Category, type TraceEvent } from '../../lib/trace/tracer.js';
import { colorEnabled, consoleSink, formatJson, formatText, timestamp } from '../../lib/trace/render.js';

const ESC = '\x1b';
const AT = new Date(2026, 0, 2, 14, 3, 7, 412).getTime();

const event = (category: Category, text = 'LFD1 sending heartbeat to S1', extra: Partial<TraceEvent> = {}): TraceEvent => ({
  time: AT,
  component: 'LFD1',
  type: 'heartbeat_sent',
  category,
  text,
  ...extra,
});

/** A sink's output, collected line by line. */
function collector() {
  const lines: string[] = [];
  return { lines, write: (line: string) => void lines.push(line) };
}

t.test('formatText: `[HH:mm:ss.SSS] text`', async (t) => {
  const plain = new Chalk({ level: 0 });
  t.match(formatText(event('info', 'GFD: 2 members: S1, S3', { time: Date.now() }), plain), /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] GFD: 2 members: S1, S3$/);
  t.equal(formatText(event('info', 'GFD: 2 members: S1, S3'), plain), '[14:03:07.412] GFD: 2 members: S1, S3');
  t.equal(timestamp(AT), '[14:03:07.412]');
  t.equal(timestamp(new Date(2026, 5, 30, 9, 5, 0, 7).getTime()), '[09:05:00.007]', 'zero-padded');
  t.equal(timestamp(new Date(2026, 5, 30, 0, 0, 0, 0).getTime()), '[00:00:00.000]', 'midnight is 00, not 24 or 12');
  t.equal(timestamp(new Date(2026, 5, 30, 23, 59, 59, 999).getTime()), '[23:59:59.999]', '24-hour clock');
  // every category, with colour off, is the same plain line
  for (const c of ['heartbeat', 'membership', 'request', 'reply', 'duplicate', 'checkpoint', 'fault', 'state', 'info'] as const) {
    t.equal(formatText(event(c, 'x y'), plain), '[14:03:07.412] x y', `${c} without colour`);
  }
});

t.test('formatText colours the text by category', async (t) => {
  const chalk = new Chalk({ level: 1 });
  const text = 'Sent <C1, S1, 101, request>';
  const expected: [Category, (s: string) => string][] = [
    ['heartbeat', chalk.dim],
    ['membership', chalk.yellow],
    ['request', chalk.green],
    ['reply', chalk.green],
    ['duplicate', chalk.magenta],
    ['checkpoint', chalk.cyan],
    ['fault', chalk.red],
  ];
  for (const [category, style] of expected) {
    const line = formatText(event(category, text), chalk);
    t.equal(line, `[14:03:07.412] ${style(text)}`, `${category}`);
    t.ok(line.includes(ESC), `${category} is coloured`);
  }
  t.equal(formatText(event('info', text), chalk), `[14:03:07.412] ${text}`, 'info is plain');
  // the timestamp itself is never styled
  t.ok(formatText(event('fault', text), chalk).startsWith('[14:03:07.412] '), 'timestamp is plain');
});

t.test('consoleSink json:true writes one JSON object per line that parses back to the event', async (t) => {
  const out = collector();
  const sink = consoleSink({ json: true, write: out.write, env: { FORCE_COLOR: '1' }, color: true });
  const events = [
    event('heartbeat'),
    event('membership', 'GFD: 2 members: S1, S3', { component: 'GFD', type: 'membership_changed', data: { members: ['S1', 'S3'], count: 2 } }),
    event('fault', 'two\nlines and "quotes" and \x1b[31mescapes', { component: 'S1', type: 'internal_error' }),
  ];
  for (const e of events) sink(e);
  t.equal(out.lines.length, events.length, 'one write per event');
  out.lines.forEach((line, i) => {
    t.notOk(line.includes('\n'), `line ${i} is a single line`);
    t.strictSame(JSON.parse(line), events[i], `line ${i} parses back to the event`);
    t.equal(line, formatJson(events[i]!));
  });
  t.notOk(out.lines[0]!.includes(ESC), 'no colour in JSON output');
});

t.test('colour is off with color:false or NO_COLOR, on with color:true', async (t) => {
  const categories: Category[] = ['heartbeat', 'membership', 'request', 'reply', 'duplicate', 'checkpoint', 'fault', 'state'];
  const run = (options: Parameters<typeof consoleSink>[0]) => {
    const out = collector();
    const sink = consoleSink({ ...options, write: out.write });
    for (const c of categories) sink(event(c, `a ${c} line`));
    return out.lines;
  };

  const off1 = run({ color: false, env: { FORCE_COLOR: '1' } });
  t.equal(off1.length, categories.length);
  t.notOk(off1.join('\n').includes(ESC), 'color:false: no ESC bytes, even with FORCE_COLOR');
  t.strictSame(off1, categories.map((c) => `[14:03:07.412] a ${c} line`), 'color:false: plain lines');

  const off2 = run({ env: { NO_COLOR: '1' } });
  t.notOk(off2.join('\n').includes(ESC), 'NO_COLOR=1: no ESC bytes');
  t.strictSame(off2, off1, 'NO_COLOR=1: the same plain lines');

  const off3 = run({ env: { NO_COLOR: '1', FORCE_COLOR: '1' } });
  t.notOk(off3.join('\n').includes(ESC), 'NO_COLOR wins over FORCE_COLOR');

  const on = run({ color: true, env: {} });
  t.equal(on.filter((l) => l.includes(ESC)).length, categories.length, 'color:true: every styled category has ESC bytes');
  const chalk = new Chalk({ level: 1 });
  t.equal(on[0], `[14:03:07.412] ${chalk.dim('a heartbeat line')}`);

  const forced = run({ env: { FORCE_COLOR: '1' } });
  t.strictSame(forced, on, 'FORCE_COLOR turns colour on');
});

t.test('quiet leaves out exactly the per-request lines, in text and in JSON', async (t) => {
  const categories: Category[] = ['heartbeat', 'membership', 'request', 'reply', 'duplicate', 'checkpoint', 'fault', 'state', 'info'];
  for (const json of [false, true]) {
    const out = collector();
    const sink = consoleSink({ json, quiet: true, color: false, write: out.write });
    for (const c of categories) sink(event(c, `a ${c} line`));
    const kept = out.lines.map((l) => (json ? (JSON.parse(l) as TraceEvent).text : l.slice('[14:03:07.412] '.length)));
    t.strictSame(kept, ['heartbeat', 'membership', 'checkpoint', 'fault', 'state', 'info'].map((c) => `a ${c} line`), `json=${json}`);
  }
});

t.test('quiet-heartbeats leaves out heartbeat lines only; faults about heartbeats still print', async (t) => {
  const out = collector();
  const sink = consoleSink({ quietHeartbeats: true, color: false, write: out.write });
  for (const c of ['heartbeat', 'request', 'fault', 'membership'] as Category[]) sink(event(c, `a ${c} line`));
  t.strictSame(out.lines.map((l) => l.slice('[14:03:07.412] '.length)), ['a request line', 'a fault line', 'a membership line']);
  t.strictSame([...(sink.skips ?? [])], ['heartbeat']);
  t.strictSame([...(consoleSink({ quiet: true, quietHeartbeats: true, write: out.write }).skips ?? [])].sort(), ['duplicate', 'heartbeat', 'reply', 'request']);
  t.equal(consoleSink({ write: out.write }).skips, undefined, 'a sink that prints everything skips nothing');
});

t.test('Tracer.wants: what the sink prints, or anything a listener (of the tracer or a parent) hears', async (t) => {
  const out = collector();
  const tracer = new Tracer('S1', consoleSink({ quiet: true, quietHeartbeats: true, write: out.write }), () => AT);
  const child = tracer.child('S1/peers');
  for (const tr of [tracer, child]) {
    t.equal(tr.wants('heartbeat'), false, `${tr.component}: skipped by the sink, nobody listens`);
    t.equal(tr.wants('request'), false);
    t.equal(tr.wants('fault'), true, 'printed');
  }
  const heard: TraceEvent[] = [];
  const listen = (e: TraceEvent) => heard.push(e);
  tracer.on('event', listen);
  t.equal(child.wants('heartbeat'), true, "a listener on the parent hears the child's events");
  child.emitEvent('heartbeat_sent', 'heartbeat', 'child line');
  t.strictSame(heard.map((e) => [e.component, e.text]), [['S1/peers', 'child line']], 'delivered to the parent once');
  t.strictSame(out.lines, [], 'and not printed');
  tracer.off('event', listen);
  t.equal(child.wants('heartbeat'), false, 'nobody listens any more');
  t.equal(silentTracer('X').wants('fault'), false, 'no sink, no listener: nothing is wanted');
  const json = new Tracer('S1', consoleSink({ json: true, write: out.write }));
  t.equal(json.wants('heartbeat'), true, 'a sink without skips wants everything');
});

t.test('colorEnabled truth table', async (t) => {
  const rows: [boolean | undefined, NodeJS.ProcessEnv, boolean, boolean][] = [
    // option, env, isTTY, expected
    [false, {}, true, false],
    [false, { FORCE_COLOR: '1' }, true, false],
    [false, {}, false, false],
    [true, {}, false, true],
    [true, {}, true, true],
    [undefined, {}, true, true],
    [undefined, {}, false, false],
    [undefined, { NO_COLOR: '1' }, true, false],
    [undefined, { NO_COLOR: 'yes' }, true, false],
    [undefined, { NO_COLOR: '' }, true, true],
    [undefined, { NO_COLOR: '' }, false, false],
    [undefined, { FORCE_COLOR: '1' }, false, true],
    [undefined, { NO_COLOR: '1', FORCE_COLOR: '1' }, true, false],
  ];
  for (const [option, env, tty, expected] of rows) {
    t.equal(colorEnabled(option, env, tty), expected, `option=${option} env=${JSON.stringify(env)} tty=${tty} -> ${expected}`);
  }
});

t.test('Tracer.emitEvent delivers to the sink and to listeners', async (t) => {
  const sunk: TraceEvent[] = [];
  const heard: TraceEvent[] = [];
  const tracer = new Tracer('S1', (e) => sunk.push(e), () => AT);
  tracer.on('event', (e) => heard.push(e));

  const withData = tracer.emitEvent('request_received', 'request', 'Received <C1, S1, 101, request>', { client: 'C1', num: 101 });
  t.strictSame(withData, {
    time: AT,
    component: 'S1',
    type: 'request_received',
    category: 'request',
    text: 'Received <C1, S1, 101, request>',
    data: { client: 'C1', num: 101 },
  });
  const noData = tracer.emitEvent('state_changed', 'state', 'S1: starting -> ready');
  t.notOk('data' in noData, 'no data key without data');
  t.strictSame(noData, { time: AT, component: 'S1', type: 'state_changed', category: 'state', text: 'S1: starting -> ready' });

  t.equal(sunk.length, 2, 'sink got both');
  t.equal(heard.length, 2, 'listener got both');
  t.equal(sunk[0], withData, 'sink got the returned event');
  t.equal(heard[1], noData, 'listener got the returned event');
});

t.test('Tracer without a sink still notifies listeners; default clock is Date.now', async (t) => {
  const tracer = silentTracer('C1');
  const heard: TraceEvent[] = [];
  tracer.on('event', (e) => heard.push(e));
  const before = Date.now();
  const e = tracer.emitEvent('request_sent', 'request', 'Sent <C1, S1, 1, hi>');
  const after = Date.now();
  t.equal(heard.length, 1);
  t.equal(heard[0], e);
  t.equal(e.component, 'C1');
  t.ok(e.time >= before && e.time <= after, 'time from Date.now');
});

t.test('child() tracer events reach the parent listeners and the shared sink', async (t) => {
  const sunk: TraceEvent[] = [];
  const parent = new Tracer('demo', (e) => sunk.push(e), () => AT);
  const parentHeard: TraceEvent[] = [];
  parent.on('event', (e) => parentHeard.push(e));

  const child = parent.child('LFD2');
  const childHeard: TraceEvent[] = [];
  child.on('event', (e) => childHeard.push(e));
  t.equal(child.component, 'LFD2');

  const e = child.emitEvent('heartbeat_sent', 'heartbeat', '[3] LFD2 sending heartbeat to S2', { seq: 3 });
  t.strictSame(e, { time: AT, component: 'LFD2', type: 'heartbeat_sent', category: 'heartbeat', text: '[3] LFD2 sending heartbeat to S2', data: { seq: 3 } });
  t.strictSame(childHeard, [e], "child's own listeners hear it");
  t.strictSame(parentHeard, [e], "parent's listeners hear it once");
  t.strictSame(sunk, [e], 'the shared sink prints it once');

  const grandchild = child.child('LFD2.timer');
  const g = grandchild.emitEvent('tick', 'info', 'tick');
  t.equal(parentHeard.at(-1), g, 'a grandchild reaches the root');
  t.equal(parentHeard.length, 2);
  t.equal(sunk.length, 2, 'and is printed once');

  parent.emitEvent('started', 'info', 'demo started');
  t.equal(childHeard.length, 2, 'parent events do not flow down to the child (it heard its own and the grandchild)');
});
