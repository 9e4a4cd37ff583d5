/**
 * An outbound link that stays up: connects, runs `onConnect` (say who we are),
 * and when the connection drops, reconnects as the policy says.
 */
import { EventEmitter } from 'node:events';
import { connect, type Connection, type DialOptions } from './connection.js';
import { exponentialBackoff, type ReconnectPolicy } from './backoff.js';
import { RefusedError } from '../errors.js';

export interface LinkOptions extends Omit<DialOptions, 'timeoutMs'> {
  /** Where to connect; a function so the target can change between attempts. */
  addr: string | (() => string);
  connectTimeoutMs?: number;
  policy?: ReconnectPolicy;
}

interface LinkEvents {
  up: [Connection];
  down: [Error | undefined];
  /** A connect attempt failed; `delayMs` is the wait before the next one, false if giving up. */
  retry: [Error, number, number | false];
  giveUp: [Error | undefined];
  /** The peer refused us (or failed to prove our secret): retrying cannot help, so the link has stopped. */
  refused: [RefusedError];
}

export class Link extends EventEmitter<LinkEvents> {
  private conn: Connection | undefined;
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private stopped = true;

  constructor(private readonly options: LinkOptions) {
    super();
  }

  get connection(): Connection | undefined {
    return this.conn?.isOpen ? this.conn : undefined;
  }

  get target(): string {
    return typeof this.options.addr === 'function' ? this.options.addr() : this.options.addr;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.tryConnect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.conn?.destroy();
    this.conn = undefined;
  }

  private async tryConnect(): Promise<void> {
    this.attempt++;
    try {
      const conn = await connect(this.target, { ...this.options, timeoutMs: this.options.connectTimeoutMs });
      if (this.stopped) return conn.destroy();
      this.attempt = 0;
      this.conn = conn;
      conn.on('close', (cause) => {
        if (this.conn !== conn) return;
        this.conn = undefined;
        this.emit('down', cause);
        this.schedule(cause);
      });
      this.emit('up', conn);
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof RefusedError) {
        this.stopped = true;
        this.emit('refused', err);
        return;
      }
      this.schedule(err as Error, true);
    }
  }

  private schedule(cause: Error | undefined, failedAttempt = false): void {
    if (this.stopped) return;
    const policy = this.options.policy ?? exponentialBackoff();
    const delay = policy(Math.max(this.attempt, 1), cause);
    if (failedAttempt) this.emit('retry', cause!, this.attempt, delay);
    if (delay === false) {
      this.stopped = true;
      this.emit('giveUp', cause);
      return;
    }
    this.timer = setTimeout(() => void this.tryConnect(), delay);
  }
}
