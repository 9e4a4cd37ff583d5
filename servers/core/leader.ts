/**
 * What both leaders (passive primary, active sequencer) share: taking over, stepping down,
 * counting their followers' acknowledgements, and feeding a follower a checkpoint first on
 * every new link, so that it always holds a state and then what follows it.
 */
import type { Message, MessageOf } from '../../lib/protocol/index.js';
import { Role } from './role.js';
import type { Progress } from './progress.js';
import { digest } from './state.js';
import { STREAM_ABOVE_CHARS } from './types.js';
import { abandon } from './incoming.js';

export abstract class Leader extends Role {
  /** Take over: count acknowledgements afresh. */
  override enter(): void {
    const r = this.r;
    abandon(r, 'I lead now');
    r.progress.forgetAcks();
    r.announcedCommit = 0;
    // What we were told is committed and do not hold yet is not ours to answer from: count afresh.
    r.commitSeq = Math.min(r.commitSeq, r.state.seq);
  }

  /**
   * The RM gave us a newer epoch and we still lead: it took a follower out of the group. Our
   * followers refuse what we sent at the old epoch once they have the new one, so each starts
   * again from a checkpoint of this epoch, and acknowledgements are counted afresh.
   */
  renew(): void {
    const r = this.r;
    r.progress.forgetAcks();
    for (const name of r.progress.upFeeds()) this.sendCheckpointTo(r.progress.get(name)!);
    if (r.progress.waiting(r.state.seq) && !r.lag.armed) r.lag.arm();
  }

  /** Stop acting as leader (we were one): nothing pending may be answered from here any more. */
  override leave(why: string): void {
    const r = this.r;
    r.trace('step_down', 'fault', `${r.name}: stepping down as leader: ${why}`);
    if (r.checkpointTimer) r.emit({ type: 'clearTimer', timer: 'checkpoint' });
    r.checkpointTimer = false;
    r.lag.disarm();
    r.rejectPending(r.notHere);
    for (const h of r.held.splice(0)) if (h.conn >= 0) r.reject(h.conn, h.client, h.num, 'not_ready');
    r.progress.reset();
    r.emit({ type: 'closePeers' });
  }

  override fromFollower(p: Progress, msg: Message): void {
    const r = this.r;
    switch (msg.type) {
      case 'ack':
      case 'installed':
      case 'synced':
        // Only acks of our own epoch count. A higher one says we may be deposed, but only the RM's role says so.
        if (msg.epoch !== r.epoch) return this.ahead(p, msg.epoch, `acknowledges at epoch ${msg.epoch}, the RM has given me ${r.epoch}: not counted`);
        if (msg.type === 'synced') return this.synced(p, msg.seq);
        if (msg.type === 'installed' && msg.count >= p.streaming) p.streaming = 0;
        if (msg.seq > p.acked) p.acked = msg.seq;
        return r.leaderCommit();
      case 'staleEpoch':
        return this.ahead(p, msg.epoch, `refuses my epoch ${r.epoch}: it is at epoch ${msg.epoch}`);
      default:
        return;
    }
  }

  /** A forward is taken only from a member of the group the RM gave us. */
  override forward(msg: MessageOf<'forward'>): void {
    const r = this.r;
    if (r.progress.get(msg.from)?.inGroup) return this.forwarded(msg);
    r.trace('peer_refused', 'fault', `${r.name}: refusing forward from ${msg.from}: not in the group the RM gave me (${r.group.map((m) => m.name).join(', ')})`, { from: msg.from, type: msg.type });
  }

  /** A forward from a member of our group (only active members forward). */
  protected forwarded(_msg: MessageOf<'forward'>): void {}

  /** A member's answer to our sync (only a new sequencer asks). */
  protected synced(_p: Progress, _seq: number): void {}

  /** A follower is at an epoch above ours: traced once per epoch; the RM's role decides. */
  private ahead(p: Progress, epoch: number, what: string): void {
    const r = this.r;
    if (epoch <= Math.max(r.epoch, r.aheadTraced)) return;
    r.aheadTraced = epoch;
    r.trace('ack_ahead', 'fault', `${r.name}: ${p.name} ${what}; waiting for the RM`, { from: p.name, epoch });
  }

  /** A new link may reach a new process under the same name: it holds only what it acknowledges from now on. */
  override linkUp(p: Progress): void {
    p.acked = 0;
    this.sendCheckpointTo(p);
  }

  sendCheckpointTo(p: Progress): void {
    const r = this.r;
    if (!p.up) return;
    this.checkpointTo([p.name]);
    // A member fed a fresh state also learns what of it is committed, for the retries it holds.
    if (r.mode === 'active' && r.commitSeq > 0) r.emit({ type: 'peerSend', peer: p.name, msg: { type: 'commit', from: r.name, to: p.name, seq: r.commitSeq, epoch: r.epoch } });
  }

  /**
   * Send `peers` a checkpoint of the state as it is now. A small one goes in one frame. A large
   * one is frozen here (the next count, the sequence number it covers) and begun with
   * `checkpoint_begin`; the shell sends its parts and its end while we go on, and every entry
   * we send after it follows the begin on each link (docs/PROTOCOL.md, "Large checkpoints").
   */
  protected checkpointTo(peers: readonly string[]): void {
    const r = this.r;
    const cp = r.state.freeze(true);
    const head = { from: r.name, to: peers.length === 1 ? peers[0]! : '', count: cp.count, epoch: r.epoch, seq: cp.seq };
    let fingerprint: string | undefined;
    if (cp.size <= STREAM_ABOVE_CHARS) {
      const state = [...cp.parts(Infinity)].join('');
      this.sendTo(peers, { type: 'checkpoint', ...head, state, table: cp.table() });
      if (r.wants('checkpoint')) fingerprint = digest(state);
    } else {
      this.sendTo(peers, { type: 'checkpointBegin', ...head });
      r.emit({ type: 'stream', peers, from: r.name, epoch: r.epoch, checkpoint: cp });
      for (const name of peers) {
        const p = r.progress.get(name);
        if (p) [p.streaming, p.streamSkips] = [cp.count, 0];
      }
    }
    if (!r.wants('checkpoint')) return;
    const myState = r.state.app.describe();
    const how = fingerprint === undefined ? ` (in parts: ${cp.size} characters)` : '';
    for (const to of peers) {
      r.trace('checkpoint_sent', 'checkpoint', `[${cp.count}] [my_state=${myState}] ${r.name} sending checkpoint to ${to}${how}`, { to, count: cp.count, seq: cp.seq, digest: fingerprint, size: cp.size });
    }
  }

  /** One message to one peer, or to several encoded once. */
  private sendTo(peers: readonly string[], msg: MessageOf<'checkpoint' | 'checkpointBegin'>): void {
    if (peers.length === 1) this.r.emit({ type: 'peerSend', peer: peers[0]!, msg });
    else this.r.emit({ type: 'broadcast', peers, msg });
  }

  /** Carry out the RM's order to feed a newcomer (the role checked it is ours to carry out). */
  feedNewcomer(p: Progress): void {
    if (p.up) this.sendCheckpointTo(p);
    else this.r.emit({ type: 'keepPeers', members: this.r.progress.links() });
  }
}
