/**
 * A replica's data dir: a write-ahead log in segments and the last snapshot, with group commit.
 *
 *   DIR/snapshot        the last snapshot: one record (records.ts) holding the segment it
 *                       covers up to and the caller's bytes; replaced atomically (write a
 *                       temporary file, fsync it, rename it over, fsync the dir)
 *   DIR/wal-<gen>.log   log records appended since; a snapshot starts a new segment, and the
 *                       segments it covers are deleted once it is durable
 *
 * Appends made in one turn of the event loop are written together and, with `fsync always`,
 * made durable by one fdatasync (group commit): each append's promise resolves once its record
 * is as durable as the policy says (`always`: on disk; `everysec`: written, and on disk within
 * a second; `no`: written, left to the OS). A failed write or fsync fails that batch and every
 * later append: the caller must stop acknowledging and say why (StorageError), never succeed.
 *
 * `open` reads it all back: the snapshot, then the records of the segments after it. A torn
 * last record is cut off (the file truncated to its whole records) with a warning; a damaged
 * record anywhere else throws DamagedRecordError and changes nothing.
 */
import { close, closeSync, fdatasync, fsync as fsyncFd, mkdirSync, openSync, readdirSync, readFileSync, writev, writevSync } from 'node:fs';
import { open as openFile, rename, rm, truncate, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { DamagedRecordError, StorageError } from '../errors.js';
import { crc32 } from 'node:zlib';
import { HEADER_BYTES, encodeRecord, scanRecords } from './records.js';

export type FsyncPolicy = 'always' | 'everysec' | 'no';
export const FSYNC_POLICIES: readonly FsyncPolicy[] = ['always', 'everysec', 'no'];

export interface Recovered {
  /** The caller's bytes of the last snapshot, if any. */
  snapshot: Buffer | undefined;
  /** The records appended after it, in order. */
  records: Buffer[];
  /** What was cut off or cleaned up, one line each. */
  warnings: string[];
}

const fsyncP = promisify(fsyncFd);
const closeP = promisify(close);

/** The calls the log makes: replaced in tests to make a disk fail, write short or sync late. */
export interface BatchIo {
  /** One writev(2) of a batch, on the event loop: into the page cache, microseconds. It may write fewer bytes than asked (a disk filling up) and says how many. */
  writevSync(fd: number, buffers: Buffer[]): number;
  /** One writev(2) of a snapshot's piece, off the event loop. */
  writev(fd: number, buffers: Buffer[]): Promise<{ bytesWritten: number }>;
  fdatasync(fd: number): Promise<void>;
  /** Make the names in a folder durable (a file created or renamed in it). */
  syncDir(dir: string): Promise<void>;
}
const realIo: BatchIo = { writevSync, writev: promisify(writev), fdatasync: promisify(fdatasync), syncDir };

/** What is left of `buffers` once `n` bytes of them are written. */
function unwritten(buffers: Buffer[], n: number): Buffer[] {
  if (n <= 0) throw new Error('write made no progress');
  const rest = [...buffers];
  while (rest.length > 0 && n >= rest[0]!.length) n -= rest.shift()!.length;
  if (n > 0) rest[0] = rest[0]!.subarray(n);
  return rest;
}

/**
 * Write every byte of `buffers` at `fd`'s position. A write may be short without an error (the
 * disk had room for part of it): the rest is written again, so the call either writes it all or
 * fails with the error that stopped it (ENOSPC); a short write is never taken for a whole one.
 */
export async function writeAll(io: Pick<BatchIo, 'writev'>, fd: number, buffers: Buffer[]): Promise<void> {
  for (let rest = buffers.filter((b) => b.length > 0); rest.length > 0; ) rest = unwritten(rest, (await io.writev(fd, rest)).bytesWritten);
}

/** writeAll on the event loop (a batch of log records: a copy into the page cache). */
export function writeAllSync(io: Pick<BatchIo, 'writevSync'>, fd: number, buffers: Buffer[]): void {
  for (let rest = buffers.filter((b) => b.length > 0); rest.length > 0; ) rest = unwritten(rest, io.writevSync(fd, rest));
}

const SNAPSHOT = 'snapshot';
const segmentName = (gen: number) => `wal-${String(gen).padStart(12, '0')}.log`;
const SEGMENT = /^wal-(\d{12})\.log$/;

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Wal {
  private pending: Buffer[] = [];
  private waiters: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  private dirty = false;
  private error: StorageError | undefined;
  private snapshots: Promise<void> = Promise.resolve();
  /** The data dir made durable with the segment appended to now in it (a segment is created by each snapshot). */
  private named: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout | undefined;
  /** Batches written and records in them, since open. */
  readonly stats = { batches: 0, records: 0 };

  private constructor(
    readonly dir: string,
    readonly fsync: FsyncPolicy,
    private gen: number,
    private file: number,
    private readonly io: BatchIo,
  ) {
    if (fsync === 'everysec') {
      this.timer = setInterval(() => void this.syncDirty(), 1000);
      this.timer.unref();
    }
  }

  /** Open (or create) the data dir and read back what it holds. */
  static async open(dir: string, fsync: FsyncPolicy, io: BatchIo = realIo): Promise<{ wal: Wal; recovered: Recovered }> {
    const made = mkdirSync(dir, { recursive: true });
    // Folders made here are named in their parents: on disk before anything in them is called durable.
    if (made !== undefined && fsync !== 'no') {
      const first = resolve(made);
      for (let d = resolve(dir); d !== dirname(d); d = dirname(d)) {
        await io.syncDir(dirname(d));
        if (d === first) break;
      }
    }
    const warnings: string[] = [];
    let snapshot: Buffer | undefined;
    let covered = 0;
    const snapFile = join(dir, SNAPSHOT);
    const names = readdirSync(dir);
    if (names.includes(SNAPSHOT)) {
      const scanned = scanRecords(snapFile, readFileSync(snapFile));
      // A snapshot is renamed into place whole: anything but exactly one record is damage.
      if (scanned.torn || scanned.records.length !== 1 || scanned.records[0]!.length < 8) throw new DamagedRecordError(snapFile, scanned.validBytes, scanned.torn ?? 'not one whole snapshot record');
      const rec = scanned.records[0]!;
      covered = Number(rec.readBigUInt64BE(0));
      snapshot = rec.subarray(8);
    }
    const gens = names.flatMap((n) => (SEGMENT.test(n) ? [Number(SEGMENT.exec(n)![1])] : [])).sort((a, b) => a - b);
    const records: Buffer[] = [];
    // Scan every segment before cutting anything: a damaged middle record must leave the dir untouched.
    const scans = gens.filter((g) => g > covered).map((g) => ({ g, file: join(dir, segmentName(g)) }));
    const scanned = scans.map(({ g, file }) => ({ g, file, ...scanRecords(file, readFileSync(file)) }));
    for (const [i, s] of scanned.entries()) {
      if (s.torn && i !== scanned.length - 1) throw new DamagedRecordError(s.file, s.validBytes, `${s.torn}, in a segment that is not the last`);
    }
    for (const s of scanned) {
      records.push(...s.records);
      if (s.torn) {
        await truncate(s.file, s.validBytes);
        warnings.push(`${s.file}: cut off a torn last record: ${s.torn}`);
      }
    }
    for (const g of gens.filter((g) => g <= covered)) {
      await rm(join(dir, segmentName(g)), { force: true });
      warnings.push(`${join(dir, segmentName(g))}: removed, the snapshot covers it`);
    }
    await rm(join(dir, `${SNAPSHOT}.tmp`), { force: true });
    const gen = Math.max(covered + 1, gens.at(-1) ?? 0);
    const file = openSync(join(dir, segmentName(gen)), 'a');
    // A new segment's name must be on disk before anything appended to it is called durable.
    if (!gens.includes(gen) && fsync !== 'no') await io.syncDir(dir);
    return { wal: new Wal(dir, fsync, gen, file, io), recovered: { snapshot, records, warnings } };
  }

  /** Why the log stopped taking writes, if it did. */
  get failed(): StorageError | undefined {
    return this.error;
  }

  /** Append a record; resolves once it is as durable as the fsync policy makes it. */
  append(payload: Buffer): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    this.pending.push(encodeRecord(payload));
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
    return done;
  }

  /** Write what is pending as one batch (one at a time: what comes meanwhile is the next batch). */
  private async flush(): Promise<void> {
    this.scheduled = false;
    while (this.flushing) await this.flushing;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    this.flushing = this.write(this.file, this.gen, batch, waiters);
    await this.flushing;
    this.flushing = undefined;
  }

  /** Write one batch to segment `gen` (open as `fd`) and settle its waiters. */
  private async write(fd: number, gen: number, batch: Buffer[], waiters: Waiter[]): Promise<void> {
    try {
      if (this.error) throw this.error;
      // Written on the loop: a thread-pool round trip for a copy into the page cache cost more
      // than the copy (with --fsync no, half the throughput of one client). Only the fsync waits.
      writeAllSync(this.io, fd, batch);
      if (this.fsync === 'always') {
        await this.io.fdatasync(fd);
        await this.named;
      } else this.dirty = true;
      this.stats.batches++;
      this.stats.records += batch.length;
      for (const w of waiters) w.resolve();
    } catch (err) {
      this.error ??= err instanceof StorageError ? err : new StorageError(`writing ${join(this.dir, segmentName(gen))} failed: ${(err as Error).message}`, { cause: err });
      for (const w of waiters) w.reject(this.error);
    }
  }

  private async syncDirty(): Promise<void> {
    if (!this.dirty || this.error) return;
    this.dirty = false;
    try {
      await this.io.fdatasync(this.file);
      await this.named;
    } catch (err) {
      this.error ??= new StorageError(`fsync of ${join(this.dir, segmentName(this.gen))} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Replace the snapshot with `state`, which covers every record appended before this call:
   * those not written yet go to the segment before it (so a replay after the snapshot never
   * meets one of them), later appends to the next segment. The segments before go once the
   * snapshot is durable.
   *
   * A large state comes as pieces (`Iterable<Buffer>`, read only as they are written): they are
   * written one at a time, the record's checksum computed as they go and its header written
   * last, so no step holds the event loop for long and the whole state never sits in one buffer.
   */
  snapshot(state: Buffer | Iterable<Buffer>): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    const covered = this.gen;
    const old = this.file;
    const batch = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    try {
      // Opened at once (a small blocking call): appends after this call must not reach the old segment.
      this.file = openSync(join(this.dir, segmentName(covered + 1)), 'a');
      if (this.fsync !== 'no') {
        this.named = this.io.syncDir(this.dir);
        this.named.catch(() => undefined); // awaited (and its error taken) by the next batch that syncs
      }
    } catch (err) {
      this.error ??= new StorageError(`opening a new segment in ${this.dir} failed: ${(err as Error).message}`, { cause: err });
      return Promise.reject(this.error);
    }
    this.gen = covered + 1;
    // Snapshots are written in the order they were taken, so the newest is the one left.
    const mine = this.snapshots.then(() => this.writeSnapshot(state, covered, old, batch, waiters));
    this.snapshots = mine.catch(() => undefined);
    return mine;
  }

  private async writeSnapshot(state: Buffer | Iterable<Buffer>, covered: number, old: number, batch: Buffer[], waiters: Waiter[]): Promise<void> {
    const tmp = join(this.dir, `${SNAPSHOT}.tmp`);
    const head = Buffer.alloc(8);
    head.writeBigUInt64BE(BigInt(covered));
    try {
      while (this.flushing) await this.flushing; // a batch on its way to the old segment
      if (batch.length > 0) await this.write(old, covered, batch, waiters);
      if (this.error) throw this.error;
      await closeP(old);
      const f = await openFile(tmp, 'w');
      try {
        if (Buffer.isBuffer(state)) await writeAll(this.io, f.fd, [encodeRecord(Buffer.concat([head, state]))]);
        else await writePieces(this.io, f, head, state);
        await f.sync();
      } finally {
        await f.close();
      }
      await rename(tmp, join(this.dir, SNAPSHOT));
      await this.io.syncDir(this.dir);
      for (const name of readdirSync(this.dir)) {
        const m = SEGMENT.exec(name);
        if (m && Number(m[1]) <= covered) await rm(join(this.dir, name), { force: true });
      }
    } catch (err) {
      this.error ??= new StorageError(`writing the snapshot in ${this.dir} failed: ${(err as Error).message}`, { cause: err });
      throw this.error;
    }
  }

  /** Write what is pending, make it durable, and close. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.snapshots;
    await this.flush();
    if (!this.error && this.fsync !== 'no') await this.io.fdatasync(this.file).catch(() => undefined);
    closeSync(this.file);
  }
}

/**
 * One record of `head` and then the pieces, written piece by piece after room for its header;
 * the header (length, checksum computed as the pieces went) is written last, in its place.
 */
async function writePieces(io: Pick<BatchIo, 'writev'>, f: FileHandle, head: Buffer, pieces: Iterable<Buffer>): Promise<void> {
  let length = 0;
  let crc = 0;
  await writeAll(io, f.fd, [Buffer.alloc(HEADER_BYTES)]);
  for (const piece of withHead(head, pieces)) {
    crc = crc32(piece, crc);
    await writeAll(io, f.fd, [piece]);
    length += piece.length;
  }
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(length, 0);
  header.writeUInt32BE(crc, 4);
  const { bytesWritten } = await f.write(header, 0, HEADER_BYTES, 0);
  if (bytesWritten !== HEADER_BYTES) throw new Error(`wrote ${bytesWritten} of the snapshot header's ${HEADER_BYTES} bytes`);
}

function* withHead(head: Buffer, pieces: Iterable<Buffer>): Iterable<Buffer> {
  yield head;
  yield* pieces;
}

/** Make a rename in `dir` durable. */
export async function syncDir(dir: string): Promise<void> {
  const d = openSync(dir, 'r');
  try {
    await fsyncP(d);
  } finally {
    closeSync(d);
  }
}
