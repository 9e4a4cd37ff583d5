/**
 * A follower taking a large checkpoint in parts (docs/PROTOCOL.md, "Large checkpoints"):
 * `checkpoint_begin` says which point of the order it is (count, seq), each `checkpoint_part`
 * is decoded into a state being rebuilt aside (the app's Restorer) as it arrives, and
 * `checkpoint_end` brings the dedup table and installs it all at once. Nothing of the current
 * state changes before the end, so a stream cut short (the link dropped, a newer begin) leaves
 * the replica where it stood.
 *
 * The leader goes on meanwhile, and what it sends after the begin covers what follows the
 * checkpoint: a passive backup holds those log entries (and acknowledges them, as always); an
 * active member keeps those orders aside and applies them after the install.
 */
import { createHash, type Hash } from 'node:crypto';
import type { MessageOf } from '../../lib/protocol/index.js';
import type { Restorer } from './apps.js';
import type { ReplicaCore } from './replica.js';
import type { ConnId, Entry } from './types.js';

export interface Incoming {
  conn: ConnId;
  from: string;
  count: number;
  seq: number;
  restorer: Restorer;
  parts: number;
  /** The digest of the state's text so far (the same as of the whole text: traces compare them). */
  hash: Hash;
  /** Passive: the log entries held when it began (those past it, kept in case it never ends); entries after them arrived after the begin. */
  logBefore: number;
}

/** A checkpoint in parts begins: anything held past its point came from an older leader and is dropped. */
export function beginIncoming(r: ReplicaCore, conn: ConnId, msg: MessageOf<'checkpointBegin'>): void {
  if (r.incoming) abandon(r, `a newer one (${msg.count}) begins`);
  if (r.mode === 'passive') r.log = r.log.filter((e) => e.seq <= msg.seq);
  for (const seq of r.early.keys()) if (seq > msg.seq) r.early.delete(seq);
  r.incoming = { conn, from: msg.from, count: msg.count, seq: msg.seq, restorer: r.state.restorer(), parts: 0, hash: createHash('sha1'), logBefore: r.log.length };
}

/** One part: decoded into the state being rebuilt (one that does not belong to the checkpoint coming in, or is bad, is traced and dropped). */
export function partIncoming(r: ReplicaCore, conn: ConnId, msg: MessageOf<'checkpointPart'>): void {
  const inc = matching(r, conn, msg);
  if (!inc) return;
  try {
    inc.restorer.push(msg.text);
  } catch (err) {
    return abandon(r, `part ${inc.parts + 1} is bad: ${(err as Error).message}`, true);
  }
  inc.parts++;
  inc.hash.update(msg.text);
}

/** The end: the checkpoint whole, to install (undefined: none was coming, or it was bad; traced). */
export function endIncoming(r: ReplicaCore, conn: ConnId, msg: MessageOf<'checkpointEnd'>): Incoming | undefined {
  const inc = matching(r, conn, msg);
  if (!inc) return undefined;
  if (msg.parts !== inc.parts) return void abandon(r, `it announces ${msg.parts} parts, ${inc.parts} came`, true);
  r.incoming = undefined;
  return inc;
}

/** An active member, while a checkpoint comes in parts: an order past it waits for the install. */
export function holdOrder(r: ReplicaCore, entry: Entry): boolean {
  if (!r.incoming || entry.seq <= r.incoming.seq) return r.incoming !== undefined;
  r.early.set(entry.seq, entry);
  return true;
}

/**
 * Stop taking the checkpoint coming in; the state stays as it was. `bad`: it was wrong (traced
 * in red); else it was overtaken (a newer one, a new link, a new role), which is no fault.
 */
export function abandon(r: ReplicaCore, why: string, bad = false): void {
  const inc = r.incoming;
  if (!inc) return;
  r.incoming = undefined;
  const text = `${r.name}: dropping checkpoint ${inc.count} from ${inc.from} after ${inc.parts} part(s): ${why}`;
  if (bad) r.trace('checkpoint_bad', 'fault', text, { from: inc.from, count: inc.count });
  else r.trace('checkpoint_dropped', 'checkpoint', text, { from: inc.from, count: inc.count });
}

function matching(r: ReplicaCore, conn: ConnId, msg: { from: string; count: number; type: string }): Incoming | undefined {
  const inc = r.incoming;
  if (inc && inc.conn === conn && inc.count === msg.count) return inc;
  r.trace('checkpoint_bad', 'fault', `${r.name}: ${msg.type} of checkpoint ${msg.count} from ${msg.from}, which is not the one coming in (${inc ? inc.count : 'none'}): dropped`, { from: msg.from, count: msg.count });
  return undefined;
}
