/**
 * Replies waiting for their request to be committed, in sequence order, and the
 * connections each one is owed on. Almost every request is owed on one connection, so
 * that one is kept inline; retries of the same request add more.
 */
import { NO_CONN, type ConnId } from './types.js';

/** The connections a request is owed on: `conn` (NO_CONN: none), then `more`. */
export interface Owed {
  conn: ConnId;
  more: ConnId[] | undefined;
}

export function owe(o: Owed, conn: ConnId): void {
  if (conn === NO_CONN) return;
  if (o.conn === NO_CONN) o.conn = conn;
  else (o.more ??= []).push(conn);
}

export function isOwed(o: Owed, conn: ConnId): boolean {
  return o.conn === conn || (o.more !== undefined && o.more.includes(conn));
}

export function hasAnyone(o: Owed): boolean {
  return o.conn !== NO_CONN;
}

/** Forget a closed connection (every copy of it). */
export function unowe(o: Owed, conn: ConnId): void {
  if (o.more) o.more = o.more.filter((c) => c !== conn);
  if (o.conn === conn) o.conn = o.more?.shift() ?? NO_CONN;
  if (o.conn === conn) unowe(o, conn);
}

export function forEachOwed(o: Owed, fn: (conn: ConnId) => void): void {
  if (o.conn === NO_CONN) return;
  fn(o.conn);
  if (o.more) for (const c of o.more) fn(c);
}

/** An applied request whose reply goes out once `seq` is committed. */
export interface Pending extends Owed {
  seq: number;
  client: string;
  num: number;
  payload: string;
  result: string;
}

export class Replies {
  private pending = new Map<number, Pending>();
  private tail = 0;

  get size(): number {
    return this.pending.size;
  }

  /** Keep pending replies in sequence order (an entry is almost always the latest). */
  add(p: Pending): void {
    const inOrder = this.pending.size === 0 || p.seq > this.tail;
    this.pending.set(p.seq, p);
    if (inOrder) this.tail = p.seq;
    else this.pending = new Map([...this.pending].sort(([a], [b]) => a - b));
  }

  /** Owe the reply of `seq` on `conn` too, if it is the same request; otherwise a new pending reply. */
  join(conn: ConnId, seq: number, client: string, num: number, payload: string, result: string): void {
    const waiting = this.pending.get(seq);
    if (waiting && waiting.client === client && waiting.num === num) return owe(waiting, conn);
    this.add({ seq, client, num, payload, result, conn, more: undefined });
  }

  /** Take out, in sequence order, every pending reply up to `upTo`. */
  takeUpTo(upTo: number, fn: (p: Pending) => void): void {
    for (const p of this.pending.values()) {
      if (p.seq > upTo) return;
      this.pending.delete(p.seq);
      fn(p);
    }
  }

  takeAll(): Pending[] {
    const all = [...this.pending.values()];
    this.pending = new Map();
    return all;
  }

  owes(conn: ConnId): boolean {
    for (const p of this.pending.values()) if (isOwed(p, conn)) return true;
    return false;
  }

  forget(conn: ConnId): void {
    for (const p of this.pending.values()) unowe(p, conn);
  }
}
