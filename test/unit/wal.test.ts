/**
 * A replica's data dir (lib/storage): records with a length and a checksum; a torn last record
 * cut off at every byte offset a crash could leave, and nothing acknowledged lost; a damaged
 * record in the middle refused with its file and offset, nothing overwritten; group commit; a
 * snapshot that replaces the log behind it; a failing disk that fails every write after it.
 */
import t from 'tap';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DamagedRecordError, StorageError } from '../../lib/errors.js';
import { encodeRecord, HEADER_BYTES, scanRecords } from '../../lib/storage/records.js';
import { Wal, syncDir, type BatchIo } from '../../lib/storage/wal.js';

const rec = (i: number) => Buffer.from(`record ${i} ${'x'.repeat(i % 7)}`);
const texts = (records: Buffer[]) => records.map((r) => r.toString());
const segments = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('wal-')).sort();

async function filled(dir: string, n: number): Promise<string> {
  const { wal } = await Wal.open(dir, 'always');
  await Promise.all(Array.from({ length: n }, (_, i) => wal.append(rec(i))));
  await wal.close();
  return join(dir, segments(dir).find((f) => readFileSync(join(dir, f)).length > 0)!);
}

t.test('records: round trip, and an empty record is refused', async (t) => {
  const data = Buffer.concat([1, 2, 3].map((i) => encodeRecord(rec(i))));
  t.same(texts(scanRecords('f', data).records), texts([1, 2, 3].map(rec)));
  t.equal(scanRecords('f', data).validBytes, data.length);
  t.throws(() => encodeRecord(Buffer.alloc(0)), RangeError);
});

t.test('a crash at every byte of the last record: it is cut off, and every earlier record is kept', async (t) => {
  const dir = t.testdir({});
  const file = await filled(dir, 5);
  const whole = readFileSync(file);
  const lastStart = whole.length - HEADER_BYTES - rec(4).length;
  for (let cut = lastStart; cut <= whole.length; cut++) {
    writeFileSync(file, whole.subarray(0, cut));
    const { wal, recovered } = await Wal.open(dir, 'always');
    const want = cut === whole.length ? 5 : 4;
    if (texts(recovered.records).join('|') !== texts([0, 1, 2, 3, 4].slice(0, want).map(rec)).join('|')) t.fail(`cut at ${cut}: records ${texts(recovered.records)}`);
    if ((recovered.warnings.length > 0) !== (cut > lastStart && cut < whole.length)) t.fail(`cut at ${cut}: warnings ${recovered.warnings}`);
    // What comes next is appended after the whole records, and read back after them.
    await wal.append(Buffer.from('after'));
    await wal.close();
    const again = await Wal.open(dir, 'always');
    if (texts(again.recovered.records).at(-1) !== 'after' || again.recovered.records.length !== want + 1) t.fail(`cut at ${cut}: after reopening ${texts(again.recovered.records)}`);
    await again.wal.close();
    for (const f of segments(dir)) if (join(dir, f) !== file) writeFileSync(join(dir, f), '');
  }
  t.pass(`every cut from byte ${lastStart} to ${whole.length} recovered the records before it`);
  writeFileSync(file, Buffer.concat([whole, Buffer.alloc(100)]));
  const zeros = await Wal.open(dir, 'always');
  t.equal(zeros.recovered.records.length, 5, 'zeros past the end (a file system after a crash) are cut off too');
  t.match(zeros.recovered.warnings[0], /cut off a torn last record/);
  await zeros.wal.close();
});

t.test('a damaged record in the middle: an error naming the file and offset, and nothing changed', async (t) => {
  const dir = t.testdir({});
  const file = await filled(dir, 5);
  const bytes = readFileSync(file);
  const second = HEADER_BYTES + rec(0).length;
  bytes[second + HEADER_BYTES + 2]! ^= 0xff;
  writeFileSync(file, bytes);
  const before = readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('hex')]);
  await t.rejects(Wal.open(dir, 'always'), new DamagedRecordError(file, second, 'checksum mismatch, with records after it'));
  t.same(
    readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('hex')]),
    before,
    'no file created, cut or removed',
  );
  const err = await Wal.open(dir, 'always').then(
    () => new Error('opened'),
    (e: Error) => e,
  );
  t.match(err.message, `${file}: damaged record at byte ${second}`);
});

t.test('group commit: the appends of one turn are one batch, made durable by one fsync', async (t) => {
  const dir = t.testdir({});
  let syncs = 0;
  const { promisify } = await import('node:util');
  const fs = await import('node:fs');
  const io: BatchIo = { writevSync: fs.writevSync, writev: promisify(fs.writev), fdatasync: (fd) => (syncs++, promisify(fs.fdatasync)(fd)), syncDir };
  const { wal } = await Wal.open(dir, 'always', io);
  await Promise.all(Array.from({ length: 1000 }, (_, i) => wal.append(rec(i))));
  t.same(wal.stats, { batches: 1, records: 1000 });
  t.equal(syncs, 1, 'one fsync for a thousand records');
  await Promise.all([wal.append(rec(1)), new Promise((r) => setImmediate(r)).then(() => wal.append(rec(2)))]);
  t.equal(wal.stats.batches, 3, 'an append in a later turn is the next batch');
  await wal.close();
  t.equal((await Wal.open(dir, 'always')).recovered.records.length, 1002);
});

t.test('a snapshot replaces the log behind it; disk use stays bounded', async (t) => {
  const dir = t.testdir({});
  const { wal } = await Wal.open(dir, 'always');
  for (let round = 1; round <= 20; round++) {
    await Promise.all(Array.from({ length: 50 }, (_, i) => wal.append(rec(i))));
    await wal.snapshot(Buffer.from(`state after round ${round}`));
  }
  await Promise.all([1, 2, 3].map((i) => wal.append(rec(i))));
  t.ok(readdirSync(dir).length <= 2, `the snapshot and the segment after it: ${readdirSync(dir).join(', ')}`);
  await wal.close();
  const { wal: again, recovered } = await Wal.open(dir, 'always');
  t.equal(recovered.snapshot?.toString(), 'state after round 20');
  t.same(texts(recovered.records), texts([1, 2, 3].map(rec)), 'the records after the snapshot, and only those');
  t.same(recovered.warnings, []);
  await again.close();
});

t.test('two snapshots taken back to back: the newer one is left, with what came after it', async (t) => {
  const dir = t.testdir({});
  const { wal } = await Wal.open(dir, 'everysec');
  await wal.append(rec(1));
  const first = wal.snapshot(Buffer.from('one'));
  const between = wal.append(rec(2));
  const second = wal.snapshot(Buffer.from('two'));
  const after = wal.append(rec(3));
  await Promise.all([first, between, second, after]);
  await wal.close();
  const { wal: again, recovered } = await Wal.open(dir, 'everysec');
  t.equal(recovered.snapshot?.toString(), 'two');
  // Record 2 was not written yet when 'two' was taken: it goes before it all the same.
  t.same(texts(recovered.records), texts([rec(3)]));
  await again.close();
});

t.test('a crash while a snapshot was written: the temporary file goes, the old snapshot and log stand', async (t) => {
  const dir = t.testdir({});
  const { wal } = await Wal.open(dir, 'always');
  await wal.snapshot(Buffer.from('old state'));
  await wal.append(rec(7));
  await wal.close();
  writeFileSync(join(dir, 'snapshot.tmp'), 'half a snap');
  const { wal: again, recovered } = await Wal.open(dir, 'always');
  t.equal(recovered.snapshot?.toString(), 'old state');
  t.same(texts(recovered.records), texts([rec(7)]));
  t.notOk(readdirSync(dir).includes('snapshot.tmp'));
  await again.close();
  writeFileSync(join(dir, 'snapshot'), 'garbage that is no snapshot record');
  await t.rejects(Wal.open(dir, 'always'), DamagedRecordError, 'a damaged snapshot is an error, never an empty state');
});

t.test('a failing disk: the batch fails, and every write after it, with a StorageError; nothing reads as durable', async (t) => {
  const dir = t.testdir({});
  const { promisify } = await import('node:util');
  const fs = await import('node:fs');
  let full = false;
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  const io: BatchIo = {
    writevSync: (fd, b) => {
      if (full) throw enospc();
      return fs.writevSync(fd, b);
    },
    writev: (fd, b) => (full ? Promise.reject(enospc()) : promisify(fs.writev)(fd, b)),
    fdatasync: promisify(fs.fdatasync),
    syncDir,
  };
  const { wal } = await Wal.open(dir, 'always', io);
  await wal.append(rec(1));
  full = true;
  const outcomes = await Promise.allSettled([wal.append(rec(2)), wal.append(rec(3))]);
  t.same(outcomes.map((o) => o.status), ['rejected', 'rejected']);
  t.type(wal.failed, StorageError);
  t.match(wal.failed!.message, /ENOSPC/);
  full = false;
  await t.rejects(wal.append(rec(4)), StorageError, 'the disk came back, but the log stays failed: the replica restarts from what is on disk');
  await t.rejects(wal.snapshot(Buffer.from('s')), StorageError);
  await wal.close();
  t.same(texts((await Wal.open(dir, 'always')).recovered.records), texts([rec(1)]));
});

t.test('short writes: a write that takes part of a batch is continued, never taken for a whole one', async (t) => {
  const { promisify } = await import('node:util');
  const fs = await import('node:fs');
  const writev = promisify(fs.writev);
  /** A disk with `room` bytes left that takes at most `piece` bytes per call, like one filling up. */
  const disk = (room: number, piece: number): BatchIo => {
    /** What the disk takes of `buffers` now (throws when it is full). */
    const take = (buffers: Buffer[]) => {
      if (room === 0) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      const part = Buffer.concat(buffers).subarray(0, Math.min(piece, room));
      room -= part.length;
      return part;
    };
    return {
      writevSync: (fd, buffers) => fs.writevSync(fd, [take(buffers)]),
      writev: async (fd, buffers) => writev(fd, [take(buffers)]),
      fdatasync: promisify(fs.fdatasync),
      syncDir,
    };
  };

  const slow = t.testdir({});
  const a = await Wal.open(slow, 'always', disk(Infinity, 7));
  await Promise.all([a.wal.append(rec(1)), a.wal.append(rec(2)), a.wal.append(rec(3))]);
  await a.wal.snapshot(Buffer.from('state after 3'));
  await a.wal.append(rec(4));
  await a.wal.close();
  const back = (await Wal.open(slow, 'always')).recovered;
  t.equal(back.snapshot?.toString(), 'state after 3', 'a snapshot written 7 bytes at a time reads back whole');
  t.same(texts(back.records), texts([rec(4)]), 'records written 7 bytes at a time read back whole');

  const filling = t.testdir({});
  const b = await Wal.open(filling, 'always', disk(30, 1 << 20));
  await b.wal.append(rec(1));
  const size = (fs.statSync(join(filling, fs.readdirSync(filling).find((f) => f.startsWith('wal-'))!))).size;
  t.ok(size < 30, `one record fits (${size} bytes)`);
  await t.rejects(b.wal.append(Buffer.alloc(100, 'y')), /ENOSPC/, 'a record the disk has room for only part of fails; it is never acknowledged');
  await t.rejects(b.wal.snapshot(Buffer.from('s')), StorageError, 'and the log stays failed');
  await b.wal.close();
  const kept = await Wal.open(filling, 'always');
  t.same(texts(kept.recovered.records), texts([rec(1)]), 'what was durable is read back; the torn part is cut off');
  t.match(kept.recovered.warnings.join('\n'), /torn/);
});

t.test("a new segment's name is on disk before an append to it is called durable", async (t) => {
  const { promisify } = await import('node:util');
  const fs = await import('node:fs');
  const synced: string[] = [];
  const held: Array<() => void> = [];
  let late = false;
  let fsynced: () => void = () => undefined;
  const io: BatchIo = {
    writevSync: fs.writevSync,
    writev: promisify(fs.writev),
    fdatasync: async (fd) => {
      await promisify(fs.fdatasync)(fd);
      fsynced();
    },
    syncDir: async (d) => {
      if (late) await new Promise<void>((r) => held.push(r));
      await syncDir(d);
      synced.push(d);
    },
  };
  const root = t.testdir({});
  const dir = join(root, 'data', 'S1');
  const { wal } = await Wal.open(dir, 'always', io);
  t.same(synced, [join(root, 'data'), root, dir], 'a data dir made now is named in its parents on disk (each folder made, then the one it is in), then its first segment in it');
  synced.length = 0;
  await wal.append(rec(1));
  late = true;
  const snap = wal.snapshot(Buffer.from('state after 1'));
  let durable = false;
  const batchSynced = new Promise<void>((r) => (fsynced = r));
  const next = wal.append(rec(2)).then(() => (durable = true));
  await batchSynced;
  await new Promise((r) => setImmediate(r));
  t.notOk(durable, 'an append to the new segment, written and fsynced, waits for the folder to be synced');
  late = false;
  for (const release of held.splice(0)) release();
  await next;
  await snap;
  t.ok(durable, 'and is durable once it is');
  t.ok(synced.length >= 2, 'the folder was synced for the new segment (and the snapshot rename)');
  t.same(new Set(synced), new Set([dir]), 'after that, only the data dir');
  await wal.close();
  const before = synced.length;
  const again = await Wal.open(dir, 'always', io);
  await again.wal.close();
  t.equal(synced.length, before, 'reopening a data dir whose segment exists syncs nothing');
});
