/**
 * The built-in applications (servers/core/apps.ts) and what a replica holds around them
 * (servers/core/state.ts): results, bad input, snapshot/restore, the dedup table and checkpoints.
 */
import t from 'tap';
import { CounterApp, LogApp, StatusApp, createApp, type App } from '../../servers/core/apps.js';
import { ServiceState, digest, fingerprint } from '../../servers/core/state.js';

const applyAll = (app: App, payloads: string[]) => payloads.map((p) => app.apply(p));

t.test('status: the payload becomes the state and the reply is the state', async (t) => {
  const app = new StatusApp();
  t.equal(app.name, 'status');
  t.equal(app.describe(), '', 'starts empty');
  t.equal(app.apply('abc'), 'abc');
  t.equal(app.describe(), 'abc');
  t.equal(app.apply('hello, world <1> 100% ✓'), 'hello, world <1> 100% ✓', 'any text, kept verbatim');
  t.equal(app.apply('  padded  '), '  padded  ', 'spaces are not trimmed');
  t.equal(app.apply(''), '', 'the empty payload empties the state');
  t.equal(app.describe(), '');
  app.apply('xyz');
  const snap = app.snapshot();
  const other = new StatusApp();
  other.restore(snap);
  t.equal(other.describe(), 'xyz', 'restore reproduces the state');
  t.equal(other.apply('next'), 'next');
  t.equal(app.describe(), 'xyz', 'the copy is independent');
});

t.test('counter: add N returns the new total, get returns it', async (t) => {
  const app = new CounterApp();
  t.equal(app.name, 'counter');
  t.equal(app.apply('get'), '0', 'starts at 0');
  t.equal(app.apply('add 5'), '5');
  t.equal(app.apply('add 3'), '8');
  t.equal(app.apply('add -10'), '-2', 'negative N');
  t.equal(app.apply('add +4'), '2', 'explicit plus sign');
  t.equal(app.apply('get'), '2');
  t.equal(app.apply('  add   1  '), '3', 'extra spaces around and between words');
  t.equal(app.apply('get'), '3');
  t.equal(app.describe(), '3');
});

t.test('counter: totals beyond 2^53 stay exact', async (t) => {
  const app = new CounterApp();
  t.equal(app.apply('add 9007199254740993'), '9007199254740993', '2^53 + 1 is not rounded');
  t.equal(app.apply('add 1'), '9007199254740994');
  t.equal(app.apply('add 123456789012345678901234567890'), '123456789012354686100489308884', '30-digit N');
  t.equal(app.apply('add -123456789012345678901234567890'), '9007199254740994');
  const copy = new CounterApp();
  copy.restore(app.snapshot());
  t.equal(copy.apply('get'), '9007199254740994', 'snapshot keeps the exact value');
});

t.test('counter: bad payloads answer "error: …" and leave the state alone', async (t) => {
  const app = new CounterApp();
  app.apply('add 7');
  for (const bad of ['add', 'add x', 'mul 2', '', 'add 1 2', 'get 1', 'ADD 1', 'add 1.5', 'add 1e3', 'add 0x10', 'add - 1', ' ']) {
    const result = app.apply(bad);
    t.match(result, /^error: /, `${JSON.stringify(bad)} -> ${result}`);
    t.equal(app.apply('get'), '7', `${JSON.stringify(bad)} did not change the total`);
  }
});

t.test('log: append X returns its 1-based position; read and size', async (t) => {
  const app = new LogApp();
  t.equal(app.name, 'log');
  t.equal(app.apply('read'), '[]', 'starts empty');
  t.equal(app.apply('size'), '0');
  t.equal(app.describe(), '[]');
  const items = ['first', 'two words here', 'a, b, c', 'héllo wörld ✓ 日本語 😀', '<x>', '"quoted"', ''];
  t.same(
    applyAll(app, items.map((x) => `append ${x}`)),
    items.map((_, i) => String(i + 1)),
    'positions 1..n',
  );
  t.same(JSON.parse(app.apply('read')), items, 'read returns every entry, verbatim, in order');
  t.equal(app.apply('size'), String(items.length));
  t.equal(app.apply('append  leading space'), String(items.length + 1));
  t.equal((JSON.parse(app.apply('read')) as string[]).at(-1), ' leading space', 'only the one separator space is dropped');
  t.match(app.describe(), /^\[8 entries, last " leading space"\]$/);
});

t.test('log: bad payloads answer "error: …" and leave the log alone', async (t) => {
  const app = new LogApp();
  app.apply('append keep');
  for (const bad of ['', 'append', 'appendx', 'Append x', 'push x', 'read more', 'size 1', 'remove 1']) {
    const result = app.apply(bad);
    t.match(result, /^error: /, `${JSON.stringify(bad)} -> ${result}`);
    t.equal(app.apply('read'), '["keep"]', `${JSON.stringify(bad)} did not change the log`);
  }
});

t.test('log: snapshot and restore round-trip; a bad snapshot throws', async (t) => {
  const app = new LogApp();
  applyAll(app, ['append a', 'append b, c', 'append ü 😀']);
  const copy = new LogApp();
  copy.restore(app.snapshot());
  t.equal(copy.apply('read'), app.apply('read'));
  t.equal(copy.apply('append d'), '4', 'the copy continues from the restored position');
  t.equal(app.apply('size'), '3', 'the original is not affected');
  const empty = new LogApp();
  empty.restore('');
  t.equal(empty.apply('size'), '0', 'an empty snapshot is the empty log');
  for (const bad of ['{', '{"a":1}', '[1,2]', '["ok", null]', '"text"', 'null', '[["nested"]]']) {
    const target = new LogApp();
    target.apply('append before');
    t.throws(() => target.restore(bad), `restore(${bad}) throws`);
    t.equal(target.apply('read'), '["before"]', `a failed restore(${bad}) leaves the log as it was`);
  }
});

t.test('createApp builds each app by name, each starting fresh', async (t) => {
  t.ok(createApp('status') instanceof StatusApp);
  t.ok(createApp('counter') instanceof CounterApp);
  t.ok(createApp('log') instanceof LogApp);
  const a = createApp('counter');
  a.apply('add 2');
  t.equal(createApp('counter').apply('get'), '0', 'no state shared between instances');
});

t.test('ServiceState.lookup: new, duplicate, stale', async (t) => {
  const s = new ServiceState(new CounterApp());
  t.same(s.lookup('C1', 1), { kind: 'new' }, 'unknown client');
  t.equal(s.execute('C1', 5, 'add 10', 1), '10');
  t.same(s.lookup('C1', 5), { kind: 'duplicate', result: '10', seq: 1 }, 'same number: answered from the table, with the sequence number it was applied at');
  t.same(s.lookup('C1', 4), { kind: 'stale', latest: 5 }, 'lower number: stale');
  t.same(s.lookup('C1', 6), { kind: 'new' }, 'higher number: new');
  t.same(s.lookup('C2', 5), { kind: 'new' }, 'clients are tracked separately');
  t.equal(s.execute('C1', 9, 'add 1', 2), '11', 'numbers may jump');
  t.same(s.lookup('C1', 5), { kind: 'stale', latest: 9 });
  t.same(s.lookup('C1', 9), { kind: 'duplicate', result: '11', seq: 2 });
});

t.test('ServiceState.execute records the reply, the sequence number and bad input', async (t) => {
  const s = new ServiceState(new CounterApp());
  s.execute('C1', 1, 'add 2', 1);
  s.execute('C2', 1, 'add 3', 2);
  s.execute('C1', 2, 'mul 2', 3);
  t.equal(s.seq, 3);
  t.same([...s.table], [
    ['C1', { num: 2, result: s.table.get('C1')!.result, seq: 3, fp: fingerprint('mul 2') }],
    ['C2', { num: 1, result: '5', seq: 2, fp: fingerprint('add 3') }],
  ]);
  t.match(s.table.get('C1')!.result, /^error: /, 'an error result is recorded like any other');
  t.equal(s.app.apply('get'), '5');

  // an app that throws: the error becomes the (recorded) result
  const throwing: App = {
    name: 'boom',
    apply: () => {
      throw new Error('kaboom');
    },
    describe: () => '',
    snapshot: () => '',
    restore: () => {},
  };
  const b = new ServiceState(throwing);
  t.equal(b.execute('C1', 1, 'x', 1), 'error: kaboom');
  t.same(b.lookup('C1', 1), { kind: 'duplicate', result: 'error: kaboom', seq: 1 });
});

t.test('ServiceState.checkpoint counts up and carries state, table and seq', async (t) => {
  const s = new ServiceState(new LogApp());
  const cp0 = s.checkpoint();
  t.same(cp0, { count: 1, state: '[]', table: '[]', seq: 0 }, 'a checkpoint of the empty state');
  s.execute('C1', 1, 'append a', 1);
  s.execute('C2', 7, 'append b, c', 2);
  const cp = s.checkpoint();
  t.equal(cp.count, 2, 'count increments');
  t.equal(s.checkpointCount, 2);
  t.equal(cp.state, '["a","b, c"]');
  t.equal(cp.seq, 2);
  t.same(JSON.parse(cp.table), [
    ['C1', { num: 1, result: '1', seq: 1, fp: fingerprint('append a') }],
    ['C2', { num: 7, result: '2', seq: 2, fp: fingerprint('append b, c') }],
  ]);
  t.equal(s.checkpoint().count, 3, 'every checkpoint gets the next count');
  t.equal(digest(cp.state), digest('["a","b, c"]'), 'digest is a function of the state');
  t.match(digest(cp.state), /^[0-9a-f]{12}$/);
  t.not(digest(cp.state), digest(cp0.state));
});

t.test('ServiceState.install of another state checkpoint reproduces it exactly', async (t) => {
  for (const kind of ['status', 'counter', 'log'] as const) {
    const src = new ServiceState(createApp(kind));
    const payloads = { status: ['abc', 'hello, world'], counter: ['add 9007199254740993', 'add -1'], log: ['append x y', 'append ✓, 😀'] }[kind];
    payloads.forEach((p, i) => src.execute(`C${i + 1}`, 10 + i, p, i + 1));
    src.execute('C1', 20, payloads[0]!, 3);
    const cp = src.checkpoint();

    const dst = new ServiceState(createApp(kind));
    dst.execute('C9', 1, payloads[1]!, 1); // state that the checkpoint must replace
    dst.checkpointCount = 99;
    dst.install(cp);
    t.equal(dst.app.snapshot(), src.app.snapshot(), `${kind}: app state`);
    t.equal(dst.app.describe(), src.app.describe(), `${kind}: my_state`);
    t.same([...dst.table], [...src.table], `${kind}: dedup table (C9 forgotten)`);
    t.equal(dst.seq, src.seq, `${kind}: seq`);
    t.equal(dst.checkpointCount, src.checkpointCount, `${kind}: checkpoint count`);
    t.same(dst.checkpoint(), src.checkpoint(), `${kind}: the next checkpoints are identical`);
    t.same(dst.lookup('C1', 20), { kind: 'duplicate', result: src.table.get('C1')!.result, seq: 3 }, `${kind}: a retry is answered from the installed table`);
    t.same(dst.lookup('C1', 10), { kind: 'stale', latest: 20 });
    // and they continue identically
    t.equal(dst.execute('C3', 1, payloads[0]!, 5), src.execute('C3', 1, payloads[0]!, 5), `${kind}: same result after install`);
  }
});

t.test('ServiceState.install refuses bad tables and leaves the state alone', async (t) => {
  const good = { count: 4, state: '12', seq: 3 };
  const bad = [
    'not json',
    '{}',
    '"text"',
    'null',
    '[1]',
    '[null]',
    '[["C1"]]',
    '[[1,{"num":1,"result":"x"}]]',
    '[["C1",{"num":"1","result":"x"}]]',
    '[["C1",{"num":1}]]',
    '[["C1",{"num":1,"result":5}]]',
    '[["C1",null]]',
    '[["C1",{"num":1,"result":"x","seq":"2"}]]',
    '[["C1",{"num":1,"result":"x","seq":2,"fp":"7"}]]',
  ];
  for (const table of bad) {
    const s = new ServiceState(new CounterApp());
    s.execute('C1', 1, 'add 1', 1);
    t.throws(() => s.install({ ...good, table }), `table ${table} throws`);
    t.equal(s.app.apply('get'), '1', `table ${table}: app state unchanged`);
    t.same([...s.table], [['C1', { num: 1, result: '1', seq: 1, fp: fingerprint('add 1') }]], `table ${table}: dedup table unchanged`);
    t.equal(s.seq, 1, `table ${table}: seq unchanged`);
    t.equal(s.checkpointCount, 0, `table ${table}: count unchanged`);
  }
  // a row from an older checkpoint, without a sequence number, counts as applied at the checkpoint
  const old = new ServiceState(new CounterApp());
  old.install({ ...good, table: '[["C1",{"num":1,"result":"12"}]]' });
  t.same(old.lookup('C1', 1), { kind: 'duplicate', result: '12', seq: 3 });
  // a good table with a state the app cannot restore throws too
  const l = new ServiceState(new LogApp());
  t.throws(() => l.install({ count: 1, state: '{"not":"a list"}', table: '[]', seq: 0 }));
});
