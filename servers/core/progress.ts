/**
 * The leader's view of each replica it feeds, in one record per peer (etcd's `Progress`):
 * what it has acknowledged, whether it is a ready follower or a newcomer, whether our link
 * to it is up, and where it stands in a new sequencer's sync.
 *
 * The list of peers to feed is cached and rebuilt only when the group or the newcomers
 * change, so a request costs no arrays or maps.
 */
import type { Member } from '../../lib/protocol/index.js';

export interface Progress {
  readonly name: string;
  addr: string;
  /** The last sequence number it acknowledged holding on the current link (0: nothing yet). */
  acked: number;
  /** A ready follower of the group the RM gave us. */
  inGroup: boolean;
  /** Fed after a checkpoint the RM ordered, until it is ready. */
  newcomer: boolean;
  /** Our link to it is connected. */
  up: boolean;
  /** The address our link goes to (undefined: no link). */
  linked: string | undefined;
  /** One of the members a new sequencer waits for before ordering anything. */
  inSync: boolean;
  /** Asked to sync on the current link; its answer has not come. */
  syncAsked: boolean;
  /** Its answer to the sync: its last sequence number (undefined: none yet). */
  synced: number | undefined;
  /** The lag watch: the sequence number it has let wait a lag timeout, and the checks in a row that found it behind. */
  lagMark: number;
  lagChecks: number;
  /** The count of a checkpoint being sent to it in parts that it has not said it installed (0: none), and periodic checkpoints skipped for it since. */
  streaming: number;
  streamSkips: number;
}

export class Tracker {
  private readonly all = new Map<string, Progress>();
  private feedNames: string[] = [];
  private feedMembers: Member[] = [];
  private group: Progress[] = [];
  private dirty = true;
  /** The lag watch: what we held at the start of the watch and at each check since, oldest first. */
  private readonly lagMarks: number[] = [];

  constructor(private readonly me: string) {}

  get(name: string): Progress | undefined {
    return this.all.get(name);
  }

  private record(name: string, addr: string): Progress {
    let p = this.all.get(name);
    if (!p) {
      p = { name, addr, acked: 0, inGroup: false, newcomer: false, up: false, linked: undefined, inSync: false, syncAsked: false, synced: undefined, lagMark: 0, lagChecks: 0, streaming: 0, streamSkips: 0 };
      this.all.set(name, p);
    }
    return p;
  }

  /** The group the RM gave us (ready replicas, ourselves included). A newcomer in it is a follower now. */
  setGroup(group: readonly Member[]): void {
    for (const p of this.all.values()) p.inGroup = false;
    for (const m of group) {
      if (m.name === this.me) continue;
      const p = this.record(m.name, m.addr);
      p.addr = m.addr;
      p.inGroup = true;
      p.newcomer = false;
    }
    // A follower that left the group and comes back starts again from a checkpoint: forget what it held.
    for (const p of this.all.values()) if (!p.inGroup && !p.newcomer && !p.inSync) this.all.delete(p.name);
    this.dirty = true;
  }

  addNewcomer(target: Member): Progress {
    const p = this.record(target.name, target.addr);
    p.addr = target.addr;
    p.newcomer = true;
    p.acked = 0;
    this.dirty = true;
    return p;
  }

  /** We stopped leading: no links, no newcomers, no sync. */
  reset(): void {
    for (const p of this.all.values()) {
      p.up = false;
      p.linked = undefined;
      p.newcomer = false;
      p.inSync = false;
      p.syncAsked = false;
      p.synced = undefined;
      if (!p.inGroup) this.all.delete(p.name);
    }
    this.dirty = true;
  }

  /** A new leader counts acknowledgements afresh. */
  forgetAcks(): void {
    for (const p of this.all.values()) p.acked = p.lagMark = p.lagChecks = 0;
    this.lagMarks.length = 0;
  }

  private rebuild(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.feedNames = [];
    this.feedMembers = [];
    this.group = [];
    for (const p of this.all.values()) {
      if (p.inGroup) this.group.push(p);
      if (!p.inGroup && !p.newcomer) continue;
      this.feedNames.push(p.name);
      this.feedMembers.push({ name: p.name, addr: p.addr });
    }
  }

  /** Everyone the leader feeds: ready followers and newcomers (cached; do not modify). */
  feeds(): readonly string[] {
    this.rebuild();
    return this.feedNames;
  }

  /** The links to keep (everyone fed); the others go down, and so does one to a new address. */
  links(): readonly Member[] {
    this.rebuild();
    for (const p of this.all.values()) {
      const addr = p.inGroup || p.newcomer ? p.addr : undefined;
      if (p.linked === addr) continue;
      p.linked = addr;
      p.up = false;
    }
    return this.feedMembers;
  }

  /** The last sequence number every ready follower holds, capped at ours. */
  heldByAll(mine: number): number {
    this.rebuild();
    let held = mine;
    for (const p of this.group) if (p.acked < held) held = p.acked;
    return held;
  }

  /** Whether some ready follower has not acknowledged everything up to `mine`: a commit waits for it. */
  waiting(mine: number): boolean {
    this.rebuild();
    for (const p of this.group) if (p.acked < mine) return true;
    return false;
  }

  /** A commit waits again: the lag watch starts afresh from what we hold now. */
  lagStart(mine: number): void {
    this.lagMarks.length = 0;
    this.lagMarks.push(mine);
    for (const p of this.all.values()) p.lagChecks = 0;
  }

  /**
   * One lag check, `checks` of which make a lag timeout. Each check remembers what we hold; a
   * ready follower that has not acknowledged what we held `checks` checks ago has let an entry
   * wait a whole lag timeout (found within one check more). Returns those followers on the first
   * check that finds them behind, and again every `checks` checks while they stay behind (an
   * answer from the RM may be lost).
   */
  laggards(mine: number, checks: number): Progress[] {
    this.rebuild();
    this.lagMarks.push(mine);
    if (this.lagMarks.length <= checks) return [];
    const due = this.lagMarks.shift()!;
    const out: Progress[] = [];
    for (const p of this.group) {
      if (p.acked >= due) p.lagChecks = 0;
      else if (p.lagChecks++ % checks === 0) {
        p.lagMark = due;
        out.push(p);
      }
    }
    return out;
  }

  /** Newcomers whose link is up. */
  newcomersUp(): Progress[] {
    return [...this.all.values()].filter((p) => p.newcomer && p.up);
  }

  /** Fed peers whose link is up. */
  upFeeds(): string[] {
    return this.feeds().filter((name) => this.all.get(name)!.up);
  }

  /** A new sequencer: every ready follower must answer before ordering resumes. */
  startSync(): string[] {
    const names: string[] = [];
    for (const p of this.all.values()) {
      if (!p.inGroup) continue;
      p.inSync = true;
      p.synced = undefined;
      names.push(p.name);
    }
    return names;
  }

  inSync(): Progress[] {
    return [...this.all.values()].filter((p) => p.inSync);
  }

  allSynced(): boolean {
    for (const p of this.all.values()) if (p.inSync && p.synced === undefined) return false;
    return true;
  }

  endSync(): void {
    for (const p of this.all.values()) {
      p.inSync = false;
      p.synced = undefined;
      if (!p.inGroup && !p.newcomer) this.all.delete(p.name);
    }
  }
}
