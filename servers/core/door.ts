/**
 * The door: every message only a leader sends (checkpoint, log, order, commit, sync) passes
 * here, once, before any role sees it (etcd's raft checks the term at the top of `Step`).
 *
 * A replica takes them only from the leader the RM named for its current epoch, and a leader
 * takes them from no one. A lower epoch is refused with `stale_epoch` (that fences old
 * leaders). A message of a higher epoch is held, with everything after it on its connection,
 * until the RM's role of that epoch arrives (the new leader's first message may overtake it);
 * it never makes anyone adopt that epoch or step down.
 */
import type { ReplicaCore } from './replica.js';
import { AHEAD_LIMIT, type ConnId, type LeaderMessage } from './types.js';

export class Door {
  /** Per peer connection: messages of an epoch the RM has not given us yet, and what followed them, in arrival order. */
  private readonly ahead = new Map<ConnId, LeaderMessage[]>();

  constructor(private readonly r: ReplicaCore) {}

  /** A leader's message on connection `conn` from `peer` (the name it said in `welcome`). */
  enter(conn: ConnId, peer: string, msg: LeaderMessage): void {
    // An epoch the RM has not given us yet waits for our role, and so does everything after it.
    const queue = this.ahead.get(conn);
    if (queue || msg.epoch > this.r.epoch) return this.hold(conn, msg, queue);
    this.admit(conn, peer, msg);
  }

  /** After a role: what each connection held up to our epoch goes through, in order; what is still ahead waits. */
  release(): void {
    for (const [conn, queue] of this.ahead) {
      let i = 0;
      while (i < queue.length && queue[i]!.epoch <= this.r.epoch) {
        const msg = queue[i++]!;
        this.admit(conn, msg.from, msg);
      }
      if (i === queue.length) this.ahead.delete(conn);
      else queue.splice(0, i);
    }
  }

  forget(conn: ConnId): void {
    this.ahead.delete(conn);
  }

  private hold(conn: ConnId, msg: LeaderMessage, queue: LeaderMessage[] | undefined): void {
    const r = this.r;
    if (!queue) {
      this.ahead.set(conn, (queue = []));
      r.trace('held_ahead', 'state', `${r.name}: ${msg.from} sends ${msg.type} of epoch ${msg.epoch}; the RM has given me epoch ${r.epoch}: holding what it sends until my role of that epoch`, { from: msg.from, epoch: msg.epoch });
    }
    if (queue.length >= AHEAD_LIMIT) {
      this.ahead.delete(conn);
      r.trace('held_overflow', 'fault', `${r.name}: ${AHEAD_LIMIT} messages from ${msg.from} wait for a role of epoch ${queue[0]!.epoch} (mine is ${r.epoch}); dropping them and closing the connection`, { from: msg.from, epoch: queue[0]!.epoch });
      r.emit({ type: 'close', conn });
      return;
    }
    queue.push(msg);
  }

  /** Take a message only from the leader the RM named for our epoch; then the role handles it. */
  private admit(conn: ConnId, peer: string, msg: LeaderMessage): void {
    const r = this.r;
    const { from, epoch } = msg;
    if (epoch < r.epoch) {
      r.emit({ type: 'send', conn, msg: { type: 'staleEpoch', from: r.name, to: from, epoch: r.epoch } });
      r.trace('stale_epoch', 'fault', `${r.name}: refusing ${from} at epoch ${epoch}; current epoch is ${r.epoch}`, { from, epoch });
      return;
    }
    if (epoch > r.epoch || from !== r.leader || r.leader === r.name) {
      const named = r.leader === r.name ? 'me' : r.leader || 'no leader';
      r.trace('peer_refused', 'fault', `${r.name}: refusing ${msg.type} from ${from} at epoch ${epoch}: the RM named ${named} for epoch ${r.epoch}`, { from, epoch, type: msg.type, leader: r.leader });
      return;
    }
    if (conn !== r.leaderConn) {
      r.leaderConn = conn;
      r.leaderConnPeer = peer;
      // Requests forwarded to a leader that died unordered go to the new one.
      if (r.mode === 'active' && !r.isLeader) r.waiters.forEach((w) => r.forwardToLeader(w.client, w.num, w.payload));
    }
    r.handler.fromLeader(conn, msg);
  }
}
