/**
 * A state in parts (servers/core/apps.ts Frozen and Restorer; state.ts freeze): the parts join to
 * the snapshot of the point it was taken at, whatever the app did after; they rebuild the same
 * state; a bad part is an error, and nothing changes before the end. A data dir keeps a large
 * state in pieces and reads it back (lib/storage/wal.ts, servers/durable.ts).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp, frozenSnapshot, joinedRestorer } from '../../servers/core/apps.js';
import { fingerprint, ReplicaCore, ServiceState, STREAM_ABOVE_CHARS } from '../../servers/core/index.js';
import { Wal } from '../../lib/storage/wal.js';
import { Durable } from '../../servers/durable.js';

function logWith(n: number, item = 'x') {
  const app = createApp('log');
  for (let i = 0; i < n; i++) app.apply(`append ${i}:${item}${i % 7 === 0 ? ', "quoted" <and> %escapes%' : ''}`);
  return app;
}

t.test('the log app: parts join to the snapshot of the point it was frozen at, whatever came after', async (t) => {
  const app = logWith(500);
  const then = app.snapshot();
  const frozen = app.freeze!();
  for (let i = 0; i < 50; i++) app.apply(`append later ${i}`);
  app.restore('["replaced"]');
  app.apply('append after the restore');
  for (const max of [1, 100, 4096, Infinity]) {
    const parts = [...frozen.parts(max)];
    t.equal(parts.join(''), then, `parts of about ${max} characters join to the snapshot then`);
    if (max === 100) t.ok(parts.length >= then.length / 200, `${parts.length} parts`);
  }
  t.ok(Math.abs(frozen.size - then.length) < then.length * 0.05, `its size (${frozen.size}) is about the snapshot's length (${then.length})`);
  t.same([...createApp('log').freeze!().parts(10)], ['[]'], 'an empty log: one part');
});

t.test('the log app: a restorer rebuilds the state part by part and changes nothing before the end', async (t) => {
  const source = logWith(300);
  const target = logWith(3, 'old');
  const before = target.snapshot();
  const r = target.restorer!();
  for (const part of source.freeze!().parts(512)) r.push(part);
  t.equal(target.snapshot(), before, 'unchanged until done');
  r.done();
  t.equal(target.snapshot(), source.snapshot(), 'the same state');
  t.equal(target.apply('append next'), '301', 'and it goes on from there');

  const bad = target.restorer!();
  t.throws(() => bad.push('[1,2]'), /not a JSON array of strings/, 'a part that is not strings');
  t.throws(() => bad.push(',"unterminated'), /does not end/, 'a string that does not end');
  t.throws(() => bad.push('["a",]'), /no comma and string/, 'a trailing comma');
  t.throws(() => bad.push('{"a"'), /starts with neither/, 'not a part of an array');
  t.throws(() => bad.push('["a\\q"]'), SyntaxError, 'a bad escape');
  const escapes = createApp('log');
  escapes.apply('append \\ "quoted" \n \u00e9 é ✓ 𝄞');
  escapes.apply('append ' + '\\'.repeat(20));
  const back = createApp('log');
  const rb = back.restorer!();
  for (const part of escapes.freeze!().parts(5)) rb.push(part);
  rb.done();
  t.equal(back.snapshot(), escapes.snapshot(), 'escapes and non-ASCII text come back as they were');
  t.equal(target.apply('size'), '301', 'the state is untouched');
});

t.test('the log app: parts taken apart in large runs come back whole, escapes across their joins included', async (t) => {
  const source = createApp('log');
  // About 1.2 MB: many runs of joined parts; some entries escaped, some parts starting or ending on one.
  for (let i = 0; i < 3000; i++) source.apply(`append ${i % 7 === 0 ? `"q${i}" \\ \n` : ''}${'x'.repeat(380)}${i}`);
  for (const size of [4096, 64 * 1024, 200 * 1024]) {
    const back = createApp('log');
    const r = back.restorer!();
    for (const part of source.freeze!().parts(size)) r.push(part);
    t.equal(back.apply('size'), '0', `parts of ${size}: nothing installed before the end`);
    r.done();
    t.equal(back.snapshot(), source.snapshot(), `parts of ${size}: the same state`);
  }
  // Each part well formed alone, but the log ended in the middle: refused once its run is taken apart.
  const parts = [...source.freeze!().parts(64 * 1024)];
  const closed = `${parts[0]}]`;
  const r = createApp('log').restorer!();
  t.throws(() => {
    r.push(closed);
    for (const part of parts.slice(1)) r.push(part);
    r.done();
  }, /no comma and string/, 'a part that closes the array before the last is refused');
});

t.test('an app without parts of its own: its snapshot cut up, joined again', async (t) => {
  const counter = createApp('counter');
  counter.apply('add 12345678901234567890');
  const frozen = frozenSnapshot(counter);
  counter.apply('add 1');
  t.same([...frozen.parts(4)].join(''), '12345678901234567890');
  const other = createApp('counter');
  const r = joinedRestorer(other);
  for (const p of frozen.parts(3)) r.push(p);
  t.equal(other.describe(), '0');
  r.done();
  t.equal(other.describe(), '12345678901234567890');
});

t.test('a frozen checkpoint keeps the dedup table and sequence number of its point', async (t) => {
  const s = new ServiceState(createApp('log'));
  s.execute('C1', 1, 'append a', 1);
  const cp = s.freeze(true);
  s.execute('C1', 2, 'append b', 2);
  s.execute('C2', 1, 'append c', 3);
  t.equal(cp.count, 1);
  t.equal(cp.seq, 1);
  t.same(JSON.parse(cp.table()), [['C1', { num: 1, result: '1', seq: 1, fp: fingerprint('append a') }]]);
  const copy = new ServiceState(createApp('log'));
  const r = copy.restorer();
  for (const p of cp.parts(2)) r.push(p);
  copy.install({ count: cp.count, seq: cp.seq, table: cp.table(), restorer: r });
  t.equal(copy.app.snapshot(), '["a"]');
  t.same(copy.lookup('C1', 1), { kind: 'duplicate', result: '1', seq: 1 });
  t.equal(copy.seq, 1);
  t.throws(() => copy.install({ count: 2, seq: 2, table: '{}', restorer: copy.restorer() }), /not a JSON array/, 'a bad table: refused');
  t.equal(copy.app.snapshot(), '["a"]', 'and nothing changed');
});

t.test('a snapshot written in pieces reads back as one record', async (t) => {
  const dir = t.testdir({});
  const { wal } = await Wal.open(dir, 'always');
  await wal.append(Buffer.from('before'));
  const pieces = ['{"a":', '"', 'x'.repeat(100_000), '"}'].map((p) => Buffer.from(p));
  await wal.snapshot(pieces);
  await wal.append(Buffer.from('after'));
  await wal.close();
  const { wal: again, recovered } = await Wal.open(dir, 'always');
  t.equal(recovered.snapshot?.toString(), Buffer.concat(pieces).toString(), 'the pieces, whole');
  t.same(recovered.records.map(String), ['after'], 'and what came after it');
  await again.close();
  // A damaged byte in the middle of the state is found: the checksum covers every piece.
  const file = join(dir, 'snapshot');
  const bytes = readFileSync(file);
  bytes[50_000] ^= 1;
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, bytes);
  await t.rejects(Wal.open(dir, 'always'), /snapshot/);
});

t.test('a replica with a large state keeps it on disk in parts and comes back with it', async (t) => {
  const dir = t.testdir({});
  const core = new ReplicaCore({ name: 'S1', app: createApp('log'), checkpointMs: 1000, durable: true });
  const item = 'y'.repeat(1000);
  const n = Math.ceil((2 * STREAM_ABOVE_CHARS) / item.length);
  for (let i = 1; i <= n; i++) core.state.execute('C1', i, `append ${i}${item}`, i);
  const { durable } = await Durable.open(dir, 'always', core, () => undefined, (err) => t.fail(err.message));
  t.equal(durable.take({ type: 'snapshot' }), true);
  core.state.execute('C1', n + 1, 'append after the snapshot was taken', n + 1);
  await durable.close();
  const text = readFileSync(join(dir, 'snapshot')).subarray(16).toString();
  t.match(text, /"parts":\["\[/, 'kept in parts');
  const back = new ReplicaCore({ name: 'S1', app: createApp('log'), checkpointMs: 1000, durable: true });
  const opened = await Durable.open(dir, 'always', back, () => undefined, (err) => t.fail(err.message));
  const { recover } = await import('../../servers/core/index.js');
  recover(back, opened.recovered.snapshot, opened.recovered.entries);
  await opened.durable.close();
  t.equal(back.state.seq, n, 'the state of the point it was taken at');
  t.equal(back.state.app.apply('size'), String(n));
  t.same(back.state.lookup('C1', n), { kind: 'duplicate', result: String(n), seq: n });
});
