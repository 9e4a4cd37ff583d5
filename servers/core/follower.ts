/**
 * What every replica that is not the leader does with its leader's messages (the door has
 * checked them): install checkpoints, hold log entries (passive), apply orders in sequence
 * (active), learn the commit point, answer a new sequencer's sync. The backup, the member
 * and the newcomer share it; each adds its own answer to clients.
 */
import type { MessageOf } from '../../lib/protocol/index.js';
import { Role } from './role.js';
import { deliverInOrder, drainEarly } from './active.js';
import { abandon, beginIncoming, endIncoming, holdOrder, partIncoming, type Incoming } from './incoming.js';
import { forEachOwed, type Pending } from './replies.js';
import { digest } from './state.js';
import type { ConnId, Entry, LeaderMessage } from './types.js';

export abstract class Follower extends Role {
  override fromLeader(conn: ConnId, msg: LeaderMessage): void {
    if (this.r.incoming && this.r.incoming.conn !== conn) abandon(this.r, `${msg.from} sends on another link`);
    switch (msg.type) {
      case 'checkpoint':
        abandon(this.r, 'a whole checkpoint came');
        return this.onCheckpoint(conn, msg);
      case 'checkpointBegin':
        return beginIncoming(this.r, conn, msg);
      case 'checkpointPart':
        return partIncoming(this.r, conn, msg);
      case 'checkpointEnd': {
        const inc = endIncoming(this.r, conn, msg);
        return inc && this.onParts(conn, msg, inc);
      }
      case 'log':
        return this.onLog(conn, msg);
      case 'order':
        if (holdOrder(this.r, msg)) return;
        deliverInOrder(this.r, msg);
        // A member acknowledges what it holds in sequence, so that the sequencer can commit it.
        return this.ackLater(conn, msg.from, this.r.state.seq);
      case 'commit':
        // Active member: the sequencer says what every member holds.
        return this.r.commitTo(msg.seq);
      case 'sync':
        return this.onSync(conn, msg);
    }
  }

  private onLog(conn: ConnId, msg: MessageOf<'log'>): void {
    const r = this.r;
    r.log.push(msg);
    r.heldEpoch = r.epoch;
    if (r.durable) r.emit({ type: 'persist', entry: { seq: msg.seq, client: msg.client, num: msg.num, payload: msg.payload }, epoch: r.epoch });
    if (r.wants('request')) r.trace('log_held', 'request', `${r.name} holds <${msg.client}, ${msg.from}, ${msg.num}, request> from ${msg.from} (seq ${msg.seq})`, { client: msg.client, num: msg.num, seq: msg.seq });
    this.ackLater(conn, msg.from, msg.seq);
  }

  /**
   * Acks are cumulative: entries that arrived in one batch are acknowledged by one ack
   * for the last of them, sent when the batch has been handled (the core's flush).
   */
  private ackLater(conn: ConnId, to: string, seq: number): void {
    const due = this.r.acksDue.get(conn);
    if (due) return void (due.seq = Math.max(due.seq, seq));
    this.r.acksDue.set(conn, { to, seq });
    this.r.requestFlush();
  }

  /** A new sequencer asks: send me the orders you have past `seq`, and tell me your last one. */
  private onSync(conn: ConnId, msg: MessageOf<'sync'>): void {
    const r = this.r;
    for (const e of r.log) {
      if (e.seq > msg.seq) r.emit({ type: 'send', conn, msg: { type: 'order', from: r.name, to: msg.from, seq: e.seq, client: e.client, num: e.num, payload: e.payload, epoch: r.epoch } });
    }
    r.emit({ type: 'send', conn, msg: { type: 'synced', from: r.name, to: msg.from, seq: r.state.seq, epoch: r.epoch } });
  }

  private onCheckpoint(conn: ConnId, msg: MessageOf<'checkpoint'>): void {
    const r = this.r;
    const covered = this.covered(msg.seq);
    try {
      r.state.install(msg);
    } catch (err) {
      r.trace('checkpoint_bad', 'fault', `${r.name}: cannot install checkpoint ${msg.count} from ${msg.from}: ${(err as Error).message}`);
      return;
    }
    // Everything the leader sends after it follows it on this connection; anything held from
    // before (an older leader's entries past it included) is replaced.
    r.early.clear();
    this.installed(conn, msg, r.wants('checkpoint') ? digest(msg.state) : undefined, [], covered);
  }

  /** The end of a checkpoint that came in parts: install it; what the leader sent after its begin follows it. */
  private onParts(conn: ConnId, msg: MessageOf<'checkpointEnd'>, inc: Incoming): void {
    const r = this.r;
    const covered = this.covered(inc.seq);
    try {
      r.state.install({ count: inc.count, seq: inc.seq, table: msg.table, restorer: inc.restorer });
    } catch (err) {
      r.trace('checkpoint_bad', 'fault', `${r.name}: cannot install checkpoint ${inc.count} from ${inc.from} (${inc.parts} parts): ${(err as Error).message}`);
      return;
    }
    const after = r.mode === 'passive' ? r.log.slice(inc.logBefore) : [];
    for (const seq of r.early.keys()) if (seq <= inc.seq) r.early.delete(seq);
    this.installed(conn, { from: inc.from, count: inc.count, seq: inc.seq }, inc.hash.digest('hex').slice(0, 12), after, covered);
    // A backup's entries past it reached the disk before the snapshot that now covers them: again, after it.
    if (r.durable) for (const e of after) r.emit({ type: 'persist', entry: { seq: e.seq, client: e.client, num: e.num, payload: e.payload }, epoch: r.epoch });
    if (r.early.size > 0) {
      drainEarly(r);
      this.ackLater(conn, inc.from, r.state.seq);
    }
  }

  /**
   * Whether a checkpoint up to `seq` holds nothing our disk does not: a ready follower of this
   * epoch that persisted every entry up to it (a passive backup's periodic checkpoint).
   */
  private covered(seq: number): boolean {
    const r = this.r;
    return r.durable && r.ready && r.heldEpoch === r.epoch && r.heldSeq() >= seq;
  }

  /** A checkpoint was installed (`fingerprint`: its state's digest, when traced); `log`: the entries held past it. */
  private installed(conn: ConnId, msg: { from: string; count: number; seq: number }, fingerprint: string | undefined, log: Entry[], covered: boolean): void {
    const r = this.r;
    // The state the leader holds contains everything committed; an older one means the RM
    // continued from a replica that was behind (no ready replica survived): count commits from it.
    if (msg.seq < r.commitSeq) r.commitSeq = msg.seq;
    // Everything held so far is covered: the leader sent it before this checkpoint.
    r.installedAtEpoch = r.heldEpoch = r.epoch;
    r.log = log;
    if (r.durable) r.emit({ type: 'snapshot', covered });
    if (r.wants('checkpoint')) {
      r.trace('checkpoint_received', 'checkpoint', `[${msg.count}] [my_state=${r.state.app.describe()}] ${r.name} receives checkpoint from ${msg.from}`, { from: msg.from, count: msg.count, seq: msg.seq, digest: fingerprint });
      if (!r.ready) {
        // A newcomer says where each client stands: the requests it will answer from the table, and those it will execute.
        const marks = r.state.highWatermarks();
        const list = Object.entries(marks).map(([c, n]) => `${c} ${n}`).join(', ') || 'none yet';
        r.trace('high_watermarks', 'checkpoint', `${r.name}: high-watermark request numbers: ${list}`, { watermarks: marks });
      }
    }
    r.emit({ type: 'send', conn, msg: { type: 'installed', from: r.name, to: msg.from, count: msg.count, seq: msg.seq, epoch: r.epoch } });
    // Replies held for entries the checkpoint replaced are looked up again; waiters it
    // already covers are answered from its dedup table once committed.
    this.reresolvePending();
    r.waiters.takeWhere(
      (w) => r.state.lookup(w.client, w.num).kind !== 'new',
      (w) => {
        const seen = r.state.lookup(w.client, w.num);
        if (seen.kind === 'duplicate' && r.ready) forEachOwed(w, (c) => r.replyWhenCommitted(c, seen.seq, w.client, w.num, w.payload, seen.result));
      },
    );
    // A replica that is not ready tells the RM it has caught up (again, after a false suspicion too).
    if (!r.ready) {
      r.caughtUp = true;
      r.report();
    }
  }

  /**
   * Our state was replaced: the replies we were holding may belong to entries that are
   * gone. Look each request up again.
   */
  private reresolvePending(): void {
    const r = this.r;
    const refused: Pending[] = [];
    for (const p of r.replies.takeAll()) {
      const seen = r.state.lookup(p.client, p.num);
      if (seen.kind === 'duplicate') r.replies.add({ ...p, seq: seen.seq, result: seen.result });
      else if (seen.kind === 'new' && r.mode === 'active') {
        forEachOwed(p, (c) => r.waiters.wait(c, p.client, p.num, p.payload));
        if (!r.isLeader) r.forwardToLeader(p.client, p.num, p.payload);
      } else refused.push(p);
    }
    // Only now: a half-closed connection is closed on its last answer, and it may still be owed others.
    for (const p of refused) forEachOwed(p, (c) => r.reject(c, p.client, p.num, r.notHere));
  }
}
