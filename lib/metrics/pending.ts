/**
 * Round trips answered by a cumulative acknowledgement: a leader sends log or order entries
 * numbered by `seq` to a follower, which acknowledges "everything up to seq". The send time of
 * each entry waits in a fixed ring (no allocation per entry); an ack settles every entry up to
 * its seq, each one a sample of the link's latency. Entries nobody acknowledges are overwritten
 * when the ring is full: they are never counted.
 */
import type { Histogram } from './histogram.js';

export const DEFAULT_PENDING = 4096;

export class PendingAcks {
  private readonly seqs: Float64Array;
  private readonly times: Float64Array;
  /** The oldest entry and how many there are. */
  private head = 0;
  private size = 0;

  constructor(
    private readonly histogram: Histogram,
    capacity = DEFAULT_PENDING,
  ) {
    this.seqs = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
  }

  get waiting(): number {
    return this.size;
  }

  /** Entry `seq` went out at `now` (ms, monotonic). A seq not above the last one starts afresh (a new leader, a new epoch). */
  sent(seq: number, now: number): void {
    const cap = this.seqs.length;
    if (this.size > 0 && seq <= this.seqs[(this.head + this.size - 1) % cap]!) this.size = 0;
    if (this.size === cap) {
      this.head = (this.head + 1) % cap;
      this.size--;
    }
    const i = (this.head + this.size) % cap;
    this.seqs[i] = seq;
    this.times[i] = now;
    this.size++;
  }

  /** The follower holds everything up to `seq` at `now`: each entry settled is one sample. */
  acked(seq: number, now: number): void {
    const cap = this.seqs.length;
    while (this.size > 0 && this.seqs[this.head]! <= seq) {
      this.histogram.record(now - this.times[this.head]!);
      this.head = (this.head + 1) % cap;
      this.size--;
    }
  }

  clear(): void {
    this.size = 0;
  }
}
