/**
 * Incremental framer: feed it arbitrary chunks, get whole frames back.
 * A frame runs from `<` to the next `>`; whitespace between frames is ignored;
 * anything else between frames, or a frame over the size limit, is an error.
 * It never buffers more than the limit: an oversize frame is rejected as soon as
 * the limit is crossed, not when (if ever) its `>` arrives.
 */
import { FrameTooLargeError, UnexpectedBytesError } from './errors.js';

export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

const WHITESPACE = /^[ \t\r\n]*$/;

export class Framer {
  private partial = '';
  private inFrame = false;
  private failed: Error | undefined;

  constructor(readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Bytes of an unfinished frame held so far. */
  get buffered(): number {
    return this.partial.length;
  }

  /**
   * Feed a chunk and return the frames it completes (each `<…>`, undecoded).
   * Throws a ProtocolError on bad bytes or an oversize frame; after that the
   * framer stays failed (the connection is to be closed).
   */
  push(chunk: string): string[] {
    if (this.failed) throw this.failed;
    try {
      return this.scan(chunk);
    } catch (err) {
      this.failed = err as Error;
      this.partial = '';
      throw err;
    }
  }

  private scan(chunk: string): string[] {
    const frames: string[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (!this.inFrame) {
        const open = chunk.indexOf('<', i);
        const between = open === -1 ? chunk.slice(i) : chunk.slice(i, open);
        if (!WHITESPACE.test(between)) throw new UnexpectedBytesError(between.trim());
        if (open === -1) break;
        this.inFrame = true;
        this.partial = '<';
        i = open + 1;
        continue;
      }
      const close = chunk.indexOf('>', i);
      const end = close === -1 ? chunk.length : close + 1;
      if (this.partial.length + (end - i) > this.maxFrameBytes) {
        throw new FrameTooLargeError(this.maxFrameBytes, this.partial + chunk.slice(i, i + 60));
      }
      this.partial += chunk.slice(i, end);
      i = end;
      if (close !== -1) {
        frames.push(this.partial);
        this.partial = '';
        this.inFrame = false;
      }
    }
    return frames;
  }
}
