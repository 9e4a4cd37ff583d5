/**
 * The record format of a replica's files (pure): each record is its length (4 bytes), its
 * CRC-32 (4 bytes, of the payload) and the payload. Reading a file back tells three things
 * apart: whole records; a torn last record (a crash mid-write: its header or payload runs past
 * the end of the file, or it is the last thing in the file and fails its checksum), which is cut
 * off with a warning (so is a tail of zeros, which a file system may leave past a crashed write:
 * no record is empty); and a damaged record with more after it, which is an error naming the
 * file and offset, never skipped.
 */
import { crc32 } from 'node:zlib';
import { DamagedRecordError } from '../errors.js';

export const HEADER_BYTES = 8;
/** No record is larger: a length past this is damage (or a torn header), not a record. */
export const MAX_RECORD_BYTES = 1 << 30;

/** One record, ready to write (never empty: zeros are what a crash can leave). */
export function encodeRecord(payload: Buffer): Buffer {
  if (payload.length === 0) throw new RangeError('a record is never empty');
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32(payload), 4);
  payload.copy(out, HEADER_BYTES);
  return out;
}

export interface Scanned {
  records: Buffer[];
  /** The length of the file's whole records: where a torn tail starts, or the file's length. */
  validBytes: number;
  /** Set when a torn last record was found: what it was. */
  torn?: string;
}

/** The records of a file's contents; throws DamagedRecordError for a damaged record that is not the last. */
export function scanRecords(file: string, data: Buffer): Scanned {
  const records: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    if (data.length - at < HEADER_BYTES) return { records, validBytes: at, torn: `${data.length - at} bytes of a record header at byte ${at}` };
    const length = data.readUInt32BE(at);
    const end = at + HEADER_BYTES + length;
    if (length > MAX_RECORD_BYTES || end > data.length) {
      // A length running past the end: a record cut short, or a header whose length was being written.
      return { records, validBytes: at, torn: `a record at byte ${at} runs past the end of the file (${length} bytes announced, ${data.length - at - HEADER_BYTES} there)` };
    }
    const payload = data.subarray(at + HEADER_BYTES, end);
    if (length === 0 || crc32(payload) !== data.readUInt32BE(at + 4)) {
      if (zeros(data, end)) return { records, validBytes: at, torn: `the last record, at byte ${at}, fails its checksum` };
      throw new DamagedRecordError(file, at, length === 0 ? 'an empty record, with data after it' : 'checksum mismatch, with records after it');
    }
    records.push(payload);
    at = end;
  }
  return { records, validBytes: at };
}

/** Whether every byte of `data` from `from` on is zero (true when there are none). */
function zeros(data: Buffer, from: number): boolean {
  for (let i = from; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}
