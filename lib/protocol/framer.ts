/**
 * Incremental framer: feed it arbitrary chunks, get whole frames back.
 * A frame runs from `<` to the next `>`; whitespace between frames is ignored;
 * anything else between frames, or a frame over the size limit, is an error.
 * It never buffers more than the limit: an oversize frame is rejected as soon as
 * the limit is crossed, not when (if ever) its `>` arrives.
 */
import { FrameTooLargeError, UnexpectedBytesError } from '../errors.js';

/** The default frame limit: 1 MiB, counted in characters of the decoded UTF-8 text. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

export class Framer {
  private partial = '';
  private inFrame = false;
  private failed: Error | undefined;

  constructor(public maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Bytes of an unfinished frame held so far. */
  get buffered(): number {
    return this.partial.length;
  }

  /** The error that failed this framer, if any (it then stays failed). */
  get failure(): Error | undefined {
    return this.failed;
  }

  /**
   * Feed a chunk and return the frames it completes (each `<…>`, undecoded).
   * On bad bytes or an oversize frame the framer fails (the connection is to be
   * closed): if the chunk completed frames before the bad bytes, those are returned
   * first and `failure` is set; otherwise the ProtocolError is thrown. A failed
   * framer throws on every later push.
   */
  push(chunk: string): string[] {
    if (this.failed) throw this.failed;
    const frames: string[] = [];
    try {
      this.scan(chunk, frames);
      return frames;
    } catch (err) {
      this.failed = err as Error;
      this.partial = '';
      if (frames.length > 0) return frames;
      throw err;
    }
  }

  private scan(chunk: string, frames: string[]): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (!this.inFrame) {
        const open = chunk.indexOf('<', i);
        const stop = open === -1 ? n : open;
        if (!onlyWhitespace(chunk, i, stop)) throw new UnexpectedBytesError(chunk.slice(i, stop).replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, ''));
        if (open === -1) break;
        // The common case: the whole frame is in this chunk; one slice, no buffering.
        const close = chunk.indexOf('>', open + 1);
        if (close !== -1) {
          const length = close + 1 - open;
          if (length > this.maxFrameBytes) throw new FrameTooLargeError(this.maxFrameBytes, length, chunk.slice(open, open + 40));
          frames.push(chunk.slice(open, close + 1));
          i = close + 1;
          continue;
        }
        this.inFrame = true;
        this.partial = '<';
        i = open + 1;
        continue;
      }
      const close = chunk.indexOf('>', i);
      const end = close === -1 ? n : close + 1;
      if (this.partial.length + (end - i) > this.maxFrameBytes) {
        const received = this.partial.length + (end - i);
        throw new FrameTooLargeError(this.maxFrameBytes, received, (this.partial + chunk.slice(i, i + 40)).slice(0, 40));
      }
      this.partial += chunk.slice(i, end);
      i = end;
      if (close !== -1) {
        frames.push(this.partial);
        this.partial = '';
        this.inFrame = false;
      }
    }
  }
}

/** Whether chunk[from, to) holds only spaces, tabs, CR and LF (what may come between frames). */
function onlyWhitespace(chunk: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = chunk.charCodeAt(k);
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return false;
  }
  return true;
}
