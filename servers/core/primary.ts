/**
 * The passive primary: executes each new request, sends it to every backup and newcomer as a
 * `log` entry (one encoding for all), and replies once every ready backup holds it. Every
 * checkpoint-freq it sends its state to the backups, which then drop the entries it covers.
 * A backup promoted to primary first replays its log past the last checkpoint.
 *
 * Checkpoint-only (`--passive checkpoint-only`): no log entries; the primary replies once it has
 * executed, and the backups change only through the checkpoints.
 */
import type { MessageOf } from '../../lib/protocol/index.js';
import { Leader } from './leader.js';
import type { ConnId, TimerName } from './types.js';

/** Periodic checkpoints skipped for a backup that has not installed the last one sent in parts, before it is sent another. */
const STREAM_SKIPS_LIMIT = 10;

export class Primary extends Leader {
  readonly name = 'primary';

  override enter(): void {
    super.enter();
    this.replayLog();
    const r = this.r;
    r.checkpointTimer = true;
    r.emit({ type: 'setTimer', timer: 'checkpoint', ms: r.checkpointMs, repeat: true });
    if (r.checkpointOnly) {
      r.trace('checkpoint_only', 'state', `${r.name}: checkpoint-only passive replication: replying without logging; backups change only through checkpoints (every ${r.checkpointMs / 1000} s)`, { checkpointMs: r.checkpointMs });
    }
  }

  override request(conn: ConnId, req: MessageOf<'request'>): void {
    const r = this.r;
    const seq = r.state.seq + 1;
    const result = r.apply(req.client, req.num, req.payload, seq);
    const feeds = r.progress.feeds();
    // Checkpoint-only: the backups learn of it at the next checkpoint.
    if (feeds.length > 0 && !r.checkpointOnly) {
      r.emit({ type: 'broadcast', peers: feeds, msg: { type: 'log', from: r.name, to: '', seq, client: req.client, num: req.num, payload: req.payload, epoch: r.epoch } });
    }
    r.replies.add({ seq, client: req.client, num: req.num, payload: req.payload, result, conn, more: undefined });
    r.leaderCommit();
  }

  override duplicate(conn: ConnId, req: MessageOf<'request'>, seq: number, result: string): void {
    const r = this.r;
    r.trace('duplicate_request', 'duplicate', `request_num ${req.num} from ${req.client} already executed: answering from the dedup table`, { client: req.client, num: req.num });
    r.replyWhenCommitted(conn, seq, req.client, req.num, req.payload, result);
  }

  override timer(timer: TimerName): void {
    if (timer === 'checkpoint') this.checkpointAll();
  }

  /**
   * The periodic checkpoint, to every backup and newcomer whose link is up (encoded once for all).
   * One still on its way in parts is not overtaken, unless it has been for a while (it may have
   * been refused: the backup says only what it installed).
   */
  private checkpointAll(): void {
    const r = this.r;
    if (!r.isLeader) return;
    const targets = r.progress.upFeeds().filter((name) => {
      const p = r.progress.get(name)!;
      return p.streaming === 0 || ++p.streamSkips > STREAM_SKIPS_LIMIT;
    });
    if (targets.length > 0) this.checkpointTo(targets);
  }

  /** Execute the held log past the last checkpoint before serving. */
  private replayLog(): void {
    const r = this.r;
    const entries = r.log.filter((e) => e.seq > r.state.seq).sort((a, b) => a.seq - b.seq);
    r.log = [];
    if (r.fault === 'skip-log-replay') {
      // A deliberately broken build, for showing that the chaos checker catches lost requests.
      r.trace('fault_injected', 'fault', `${r.name}: FTKIT_FAULT=skip-log-replay: dropping ${entries.length} logged request(s) instead of replaying them`);
      return;
    }
    if (entries.length === 0) return;
    r.trace('log_replay', 'checkpoint', `${r.name} replays ${entries.length} logged request(s) past checkpoint ${r.state.checkpointCount}`, { count: entries.length });
    for (const e of entries) {
      if (r.state.lookup(e.client, e.num).kind === 'new') r.apply(e.client, e.num, e.payload, e.seq);
      else {
        r.state.seq = e.seq;
        r.heldEpoch = r.epoch;
      }
    }
  }
}
