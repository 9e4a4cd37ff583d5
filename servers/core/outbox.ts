/**
 * The core's outbox (etcd's `Ready`): what the core wants done, in order, until the shell
 * takes it. Reused, so that a request costs no array of its own.
 */
import type { Category } from '../../lib/trace/index.js';
import type { Command } from './types.js';

export abstract class Outbox {
  private readonly outbox: Command[] = [];
  private head = 0;
  private flushAsked = false;

  /** What the shell does next, in order; undefined once the outbox is empty. */
  next(): Command | undefined {
    if (this.head < this.outbox.length) return this.outbox[this.head++];
    this.outbox.length = this.head = 0;
    return undefined;
  }

  /** Every command waiting, for tests. */
  drain(): Command[] {
    const out: Command[] = [];
    for (let c = this.next(); c; c = this.next()) out.push(c);
    return out;
  }

  emit(cmd: Command): void {
    this.outbox.push(cmd);
  }

  trace(event: string, category: Category, text: string, data?: Record<string, unknown>): void {
    this.outbox.push(data ? { type: 'trace', event, category, text, data } : { type: 'trace', event, category, text });
  }

  /** Ask for a `flush` event at the end of this I/O batch (once however often it is asked). */
  requestFlush(): void {
    if (this.flushAsked) return;
    this.flushAsked = true;
    this.emit({ type: 'flush' });
  }

  /** The flush event came. */
  protected flushed(): void {
    this.flushAsked = false;
  }
}
