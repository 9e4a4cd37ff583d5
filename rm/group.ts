/**
 * One replica group as the RM keeps it: its replication core (mode, leader, epoch, ready set),
 * the properties set for it alone (`ftkit ctl set KEY VALUE --group G`), and what the RM last
 * traced of it, so that each change is traced once. A fault in one group changes nothing in
 * another: each has its own core, election deadline and epoch.
 */
import type { Member, Mode } from '../lib/protocol/index.js';
import { byName } from '../lib/component.js';
import { ReplicationCore } from './core.js';

export class Group {
  readonly core: ReplicationCore;
  /** Properties set for this group alone, replayed to a GFD that (re)registers. */
  readonly properties = new Map<string, string>();
  /** The deadline for the reports this group's core waits for. */
  reportTimer: NodeJS.Timeout | undefined;
  lastMembers = '';
  lastReady = '';
  lastView = '';

  constructor(
    readonly name: string,
    mode: Mode,
    preferred: string | undefined,
    leaderLoad: (name: string) => number,
  ) {
    this.core = new ReplicationCore(mode, preferred, leaderLoad);
  }

  /** Its members as the RM reports them (`ctl status`). */
  members(): Array<{ name: string; addr: string; role: string; ready: boolean; group: string }> {
    return this.core.names().map((n) => {
      const m = this.core.members.get(n)!;
      return { name: n, addr: m.addr, role: this.core.roleOf(n), ready: m.ready, group: this.name };
    });
  }
}

/** Split the GFD's full list by group (`groups` gives those not in `fallback`, as `S4=g2;S6=g2`). */
export function splitByGroup(members: readonly Member[], groups: string | undefined, fallback: string): Map<string, Member[]> {
  const of = new Map<string, string>();
  for (const pair of (groups ?? '').split(';').filter(Boolean)) {
    const eq = pair.indexOf('=');
    of.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const out = new Map<string, Member[]>();
  for (const m of members) {
    const g = of.get(m.name) ?? fallback;
    out.set(g, [...(out.get(g) ?? []), m]);
  }
  return out;
}

/** Groups in name order. */
export function inOrder(groups: Iterable<Group>): Group[] {
  return [...groups].sort((a, b) => byName(a.name, b.name));
}
