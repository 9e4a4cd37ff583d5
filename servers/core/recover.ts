/**
 * A replica starting from its data dir (pure): its last snapshot installed, then every entry it
 * persisted after it applied in order, skipping those the state already holds (an entry is
 * persisted again when a promoted backup replays what it held). What it held as a passive backup
 * is applied too: the primary had executed it, and a state that includes it is one the group
 * could have reached. The replica comes back where its disk says it stood (sequence number, and
 * the epoch it last held state in), reports that to the RM like any replica, and is brought up
 * to date (or continued from, if it holds the most) like any other.
 */
import type { ReplicaCore } from './replica.js';
import type { Snapshot } from './state.js';
import type { Entry } from './types.js';

/** What a replica keeps as its snapshot: the state (whole, or a large one in parts) and the epoch it was held in. */
export interface DiskSnapshot extends Omit<Snapshot, 'state'> {
  state?: string;
  parts?: string[];
  held: number;
}

/** A persisted entry and the epoch it was applied or held in. */
export interface DiskEntry extends Entry {
  epoch: number;
}

/** Bring the core to what its disk holds; returns how many entries were applied. */
export function recover(r: ReplicaCore, snapshot: DiskSnapshot | undefined, entries: readonly DiskEntry[]): number {
  if (snapshot?.parts) {
    const restorer = r.state.restorer();
    for (const part of snapshot.parts) restorer.push(part);
    r.state.install({ ...snapshot, restorer });
    r.heldEpoch = snapshot.held;
  } else if (snapshot) {
    r.state.install({ ...snapshot, state: snapshot.state ?? '' });
    r.heldEpoch = snapshot.held;
  }
  let applied = 0;
  for (const e of entries) {
    if (e.seq <= r.state.seq) continue;
    if (r.state.lookup(e.client, e.num).kind === 'new') r.state.execute(e.client, e.num, e.payload, e.seq);
    else r.state.seq = e.seq;
    r.heldEpoch = Math.max(r.heldEpoch, e.epoch);
    applied++;
  }
  r.commitSeq = 0;
  return applied;
}
