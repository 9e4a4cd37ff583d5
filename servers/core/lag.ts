/**
 * The leader's lag watch: a ready follower that holds every commit up for a whole lag timeout,
 * though its LFD still vouches for it (a cut link, a one-way cut, a link too slow to use), is
 * reported to the RM, through the LFD, which decides whether to take it out of the group.
 *
 * Owns the lag timeout in force (from `--lag-timeout`, `ctl set lag-timeout` or the LFD's
 * heartbeat period), and the one `lag` timer, armed only while a commit waits for someone.
 */
import type { ReplicaCore } from './replica.js';
import { DEFAULT_LAG_MS, LAG_CHECKS } from './types.js';

export class LagWatch {
  /** How long a leader waits for a ready follower's acknowledgement before asking the RM to remove it. */
  ms: number;
  /** Set by `--lag-timeout` or `ctl set lag-timeout`: the LFD's heartbeat period no longer changes it. */
  fixed: boolean;
  /** Whether the leader's lag check is armed (it runs only while a commit waits for someone). */
  armed = false;

  constructor(
    private readonly r: ReplicaCore,
    lagMs: number | undefined,
  ) {
    this.ms = lagMs ?? DEFAULT_LAG_MS;
    this.fixed = lagMs !== undefined;
  }

  /** Arm the next lag check; a fresh watch (a commit waits where none did) starts from what we hold now. */
  arm(fresh = true): void {
    const r = this.r;
    // A checkpoint-only primary waits for no follower: there is nothing to watch.
    if (r.checkpointOnly) return;
    if (fresh) r.progress.lagStart(r.state.seq);
    this.armed = true;
    r.emit({ type: 'setTimer', timer: 'lag', ms: this.ms / LAG_CHECKS, repeat: false });
  }

  disarm(): void {
    if (!this.armed) return;
    this.armed = false;
    this.r.emit({ type: 'clearTimer', timer: 'lag' });
  }

  /**
   * The lag timer fired: ask the RM to take out each ready follower that has not acknowledged an
   * entry for a whole lag timeout. The RM decides; until its role comes, we wait. The check runs
   * only while a commit waits for someone.
   */
  check(): void {
    const r = this.r;
    this.armed = false;
    if (!r.isLeader) return;
    const mine = r.state.seq;
    for (const p of r.progress.laggards(mine, LAG_CHECKS)) {
      r.emit({ type: 'toLfd', msg: { type: 'lagging', server: r.name, follower: p.name, epoch: r.epoch, seq: p.lagMark, acked: p.acked } });
      if (p.lagChecks === 1) {
        const s = this.ms / 1000;
        const asking = r.isStatic ? 'taking it out of my group' : 'asking the RM to take it out of the group';
        r.trace('follower_lagging', 'fault', `${r.name}: ${p.name} has not acknowledged seq ${p.lagMark} for over ${s} s (it holds ${p.acked}); ${asking}`, { follower: p.name, seq: p.lagMark, acked: p.acked, lagTimeout: s });
      }
    }
    if (r.progress.waiting(mine)) this.arm(false);
  }
}
