/**
 * What every component shares: a name, a tracer, and a lifecycle that changes
 * only through setState(), which traces `old -> new`.
 */
import { ProtocolError, UnexpectedMessageError, type Message } from './protocol/index.js';
import type { Connection } from './net/index.js';
import { Tracer } from './trace/index.js';

export type Lifecycle = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

export abstract class Component {
  protected lifecycle: Lifecycle = 'idle';

  constructor(
    readonly name: string,
    readonly tracer: Tracer,
  ) {}

  get state(): Lifecycle {
    return this.lifecycle;
  }

  protected setState(next: Lifecycle): void {
    const old = this.lifecycle;
    if (old === next) return;
    this.lifecycle = next;
    this.trace('lifecycle', 'state', `${this.name}: ${old} -> ${next}`, { from: old, to: next });
  }

  protected trace(type: string, category: Parameters<Tracer['emitEvent']>[1], text: string, data?: Record<string, unknown>): void {
    this.tracer.emitEvent(type, category, text, data);
  }

  /** Trace bad input on one connection (the connection has already answered and closed). */
  protected traceProtocolError(conn: Connection, err: ProtocolError): void {
    this.trace('protocol_error', 'fault', `${this.name}: bad input from ${conn.peer}: ${err.message}; connection closed`, {
      peer: conn.peer,
      error: err.name,
      reason: err.message,
    });
  }

  /** The error for a message this peer may not send here. */
  protected unexpected(conn: Connection, msg: Message): UnexpectedMessageError {
    return new UnexpectedMessageError(`${this.name} does not accept ${msg.type} from ${conn.peer}`);
  }

  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;
}

/** Natural order for names: S2 before S10. */
export function byName(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** `2 members: S1, S3` / `1 member: S1` / `0 members` */
export function describeMembers(names: Iterable<string>): string {
  const sorted = [...names].sort(byName);
  const noun = sorted.length === 1 ? 'member' : 'members';
  return sorted.length ? `${sorted.length} ${noun}: ${sorted.join(', ')}` : `0 ${noun}`;
}
