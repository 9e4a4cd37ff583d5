/**
 * Active replication, shared by the sequencer, the members and active newcomers: clients
 * waiting for their request to be ordered, and applying orders strictly in sequence.
 */
import type { ReplicaCore } from './replica.js';
import { hasAnyone, isOwed, owe, unowe, type Owed } from './replies.js';
import { ORDER_LOG_LIMIT, type ConnId, type Entry } from './types.js';

/** Clients waiting for a request to be ordered. */
export interface Waiter extends Owed {
  client: string;
  num: number;
  payload: string;
}

export class Waiters {
  private readonly byKey = new Map<string, Waiter>();

  /** `conn` waits for the reply to `client`'s request `num` (NO_CONN: nobody here, but it is to be ordered). */
  wait(conn: ConnId, client: string, num: number, payload: string): void {
    const key = `${client}:${num}`;
    let w = this.byKey.get(key);
    if (!w) this.byKey.set(key, (w = { client, num, payload, conn: -1, more: undefined }));
    owe(w, conn);
  }

  take(client: string, num: number): Waiter | undefined {
    const key = `${client}:${num}`;
    const w = this.byKey.get(key);
    if (w) this.byKey.delete(key);
    return w;
  }

  /** Each waiter, in arrival order; `fn` may order or drop it. */
  forEach(fn: (w: Waiter) => void): void {
    for (const w of [...this.byKey.values()]) fn(w);
  }

  /** Take out each waiter `covered` says yes to (its request is in a checkpoint), then hand it to `fn`. */
  takeWhere(covered: (w: Waiter) => boolean, fn: (w: Waiter) => void): void {
    for (const [key, w] of this.byKey) {
      if (!covered(w)) continue;
      this.byKey.delete(key);
      fn(w);
    }
  }

  owes(conn: ConnId): boolean {
    for (const w of this.byKey.values()) if (isOwed(w, conn)) return true;
    return false;
  }

  forget(conn: ConnId): void {
    for (const w of this.byKey.values()) unowe(w, conn);
  }
}

/** Apply an order when its turn comes; orders past a gap wait for it. */
export function deliverInOrder(r: ReplicaCore, entry: Entry): void {
  if (entry.seq <= r.state.seq) return;
  r.early.set(entry.seq, entry);
  drainEarly(r);
}

/** Apply the orders held that come next in sequence. */
export function drainEarly(r: ReplicaCore): void {
  for (let next = r.early.get(r.state.seq + 1); next; next = r.early.get(r.state.seq + 1)) {
    r.early.delete(next.seq);
    deliver(r, next);
  }
}

/** Apply an order in sequence; whoever waits for it is answered once it is committed. */
export function deliver(r: ReplicaCore, e: Entry): void {
  let result: string;
  const seen = r.state.lookup(e.client, e.num);
  const w = r.waiters.take(e.client, e.num);
  if (seen.kind === 'new') {
    // No client waits here: the order (or a member's forward) brought the request before the client's own copy.
    if (!w) r.receivedInOrder(e.client, e.num);
    result = r.apply(e.client, e.num, e.payload, e.seq);
  } else {
    r.state.seq = e.seq;
    r.heldEpoch = r.epoch;
    result = seen.kind === 'duplicate' ? seen.result : '';
  }
  r.log.push(e);
  // Trim in chunks, so keeping the recent orders costs O(1) per order.
  if (r.log.length >= 2 * ORDER_LOG_LIMIT) r.log.splice(0, r.log.length - ORDER_LOG_LIMIT);
  if (w && hasAnyone(w) && r.ready && seen.kind !== 'stale') {
    r.replies.add({ seq: e.seq, client: e.client, num: e.num, payload: e.payload, result, conn: w.conn, more: w.more });
    r.replyCommitted();
  }
}
