/**
 * The active sequencer: numbers each new request the first time it sees it (from a client or
 * in a `forward`), sends the `order` to every member and newcomer (one encoding for all),
 * applies it, and replies once every ready member has acknowledged it; it tells the members
 * the commit point once per I/O batch (`commit`).
 *
 * A new sequencer first brings every ready member to the same last sequence number: it asks
 * each one (`sync`), takes the orders a member holds past its own, and waits for every answer
 * (or SYNC_DEADLINE_MS) before ordering anything new.
 */
import type { Message, MessageOf } from '../../lib/protocol/index.js';
import { Leader } from './leader.js';
import { deliver, deliverInOrder } from './active.js';
import type { Progress } from './progress.js';
import { NO_CONN, SYNC_DEADLINE_MS, type ConnId, type TimerName } from './types.js';

export class Sequencer extends Leader {
  readonly name = 'sequencer';
  /** Waiting for the members' sync answers: requests are held meanwhile. */
  private syncing = false;

  override enter(): void {
    super.enter();
    this.startSync();
  }

  override leave(why: string): void {
    if (this.syncing) this.r.emit({ type: 'clearTimer', timer: 'sync' });
    this.syncing = false;
    super.leave(why);
  }

  /** A newer epoch while we sync: nothing past our state was committed (we were in the group), so finish now; then renew. */
  override renew(): void {
    this.finishSync();
    super.renew();
  }

  override request(conn: ConnId, req: MessageOf<'request'>): void {
    if (this.syncing) return void this.r.held.push({ conn, more: undefined, client: req.client, num: req.num, payload: req.payload });
    this.r.waiters.wait(conn, req.client, req.num, req.payload);
    this.order(req.client, req.num, req.payload);
  }

  protected override forwarded(msg: MessageOf<'forward'>): void {
    if (this.syncing) return void this.r.held.push({ conn: NO_CONN, more: undefined, client: msg.client, num: msg.num, payload: msg.payload });
    this.order(msg.client, msg.num, msg.payload);
  }

  override fromFollower(p: Progress, msg: Message): void {
    const r = this.r;
    // A member that is ahead of us sends what we missed, in sequence.
    if (msg.type === 'order' && this.syncing && p.inSync && msg.epoch === r.epoch) return deliverInOrder(r, msg);
    super.fromFollower(p, msg);
  }

  override linkUp(p: Progress): void {
    if (!this.syncing) return super.linkUp(p);
    p.acked = 0;
    // A sequencer that is syncing asks established members where they are; a newcomer met
    // meanwhile gets its checkpoint when the sync is done.
    if (!p.inSync) return;
    this.r.emit({ type: 'peerSend', peer: p.name, msg: { type: 'sync', from: this.r.name, to: p.name, seq: this.r.state.seq, epoch: this.r.epoch } });
    p.syncAsked = true;
  }

  override feedNewcomer(p: Progress): void {
    // While syncing, our state may still be behind: the newcomer's checkpoint waits for the sync to finish.
    if (this.syncing) this.r.emit({ type: 'keepPeers', members: this.r.progress.links() });
    else super.feedNewcomer(p);
  }

  override timer(timer: TimerName): void {
    if (timer === 'sync') this.finishSync();
  }

  /** Number a new request, send the order to everyone, and apply it. */
  private order(client: string, num: number, payload: string): void {
    const r = this.r;
    if (r.state.lookup(client, num).kind !== 'new') return;
    const order: MessageOf<'order'> = { type: 'order', from: r.name, to: '', seq: r.state.seq + 1, client, num, payload, epoch: r.epoch };
    const feeds = r.progress.feeds();
    if (feeds.length > 0) r.emit({ type: 'broadcast', peers: feeds, msg: order });
    deliver(r, order);
    r.leaderCommit();
  }

  private startSync(): void {
    const r = this.r;
    const members = r.progress.startSync();
    if (members.length === 0) {
      // Nobody to agree with: order what clients forwarded to the leader we replaced.
      r.waiters.forEach((w) => this.order(w.client, w.num, w.payload));
      return;
    }
    this.syncing = true;
    r.trace('sync_started', 'checkpoint', `${r.name}: new sequencer at seq ${r.state.seq}; bringing ${members.join(', ')} to the same last order`, { seq: r.state.seq });
    r.emit({ type: 'setTimer', timer: 'sync', ms: SYNC_DEADLINE_MS, repeat: false });
  }

  /** The first answer to our sync on a link. One that comes after the deadline describes a tail we did not take. */
  protected override synced(p: Progress, seq: number): void {
    if (!p.syncAsked) return;
    p.syncAsked = false;
    if (!this.syncing || !p.inSync || p.synced !== undefined) return;
    // Its orders past ours came before this answer, on the same link: it holds no more than we do now.
    p.synced = seq;
    p.acked = Math.min(seq, this.r.state.seq);
    if (this.r.progress.allSynced()) this.finishSync();
  }

  private finishSync(): void {
    const r = this.r;
    if (!this.syncing) return;
    this.syncing = false;
    r.emit({ type: 'clearTimer', timer: 'sync' });
    // Orders a member sent past a gap we could not fill were never committed (we were in the group): drop them.
    r.early.clear();
    const oldest = r.log[0]?.seq ?? r.state.seq + 1;
    for (const p of r.progress.inSync()) {
      if (p.newcomer) continue;
      const seq = p.synced;
      // No answer, too far behind, or still ahead of us (its tail past a gap): it starts again from our state.
      if (seq === undefined || seq < oldest - 1 || seq > r.state.seq) {
        p.acked = 0;
        this.sendCheckpointTo(p);
      } else {
        for (const e of r.log) {
          if (e.seq > seq) r.emit({ type: 'peerSend', peer: p.name, msg: { type: 'order', from: r.name, to: p.name, seq: e.seq, client: e.client, num: e.num, payload: e.payload, epoch: r.epoch } });
        }
      }
    }
    r.progress.endSync();
    r.leaderCommit();
    r.announce();
    // A newcomer becomes ready only by installing a checkpoint, even if it answered the sync
    // (a member that was relaunched while we synced is a newcomer now).
    for (const p of r.progress.newcomersUp()) this.sendCheckpointTo(p);
    r.trace('sync_done', 'checkpoint', `${r.name}: every replica at seq ${r.state.seq}; ordering resumes`, { seq: r.state.seq });
    r.waiters.forEach((w) => this.order(w.client, w.num, w.payload));
    for (const h of r.held.splice(0)) {
      if (h.conn === NO_CONN) this.order(h.client, h.num, h.payload);
      else this.request(h.conn, { type: 'request', client: h.client, server: r.name, num: h.num, payload: h.payload });
    }
  }
}
