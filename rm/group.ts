/**
 * One replica group as the RM keeps it: its replication core (mode, leader, epoch, ready set),
 * the properties set for it alone (`ftkit ctl set KEY VALUE --group G`), and what the RM last
 * traced of it, so that each change is traced once. A fault in one group changes nothing in
 * another: each has its own core, election deadline and epoch.
 */
import { DEFAULT_GROUP, type Member, type Mode } from '../lib/protocol/index.js';
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

/**
 * Every group the RM knows, by name (the default group is always there), and the group each
 * server joined. Groups are made when first met and kept: a group whose replicas are all gone
 * is still there, with no one to serve.
 */
export class GroupTable implements Iterable<Group> {
  private readonly byName = new Map<string, Group>();
  private readonly groupOfServer = new Map<string, string>();

  constructor(
    private readonly mode: Mode,
    private readonly preferred: string | undefined,
    /** The machine (LFD) a server runs on, if known. */
    private readonly homeOf: (server: string) => string | undefined,
    /** A group was made (not called for the default group). */
    private readonly added: (g: Group) => void,
  ) {
    this.get(DEFAULT_GROUP);
  }

  [Symbol.iterator](): Iterator<Group> {
    return this.inOrder()[Symbol.iterator]();
  }

  get size(): number {
    return this.byName.size;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The group named `name`, made when first met. */
  get(name: string): Group {
    let g = this.byName.get(name);
    if (!g) {
      g = new Group(name, this.mode, this.preferred, (server) => this.leadersOnMachineOf(server, name));
      this.byName.set(name, g);
      if (name !== DEFAULT_GROUP || this.byName.size > 1) this.added(g);
    }
    return g;
  }

  /** The group `server` joined (the default group if none is known). */
  of(server: string): Group {
    return this.get(this.groupOfServer.get(server) ?? DEFAULT_GROUP);
  }

  /** `server` joined `group`; returns the group it was in before, if another. */
  join(server: string, group: string): Group | undefined {
    const was = this.groupOfServer.get(server);
    this.groupOfServer.set(server, group);
    return was !== undefined && was !== group ? this.get(was) : undefined;
  }

  /** Whether any group counts `server` as a member. */
  hasMember(server: string): boolean {
    return [...this.byName.values()].some((g) => g.core.members.has(server));
  }

  inOrder(): Group[] {
    return inOrder(this.byName.values());
  }

  /** With more than one group, traces of a group name it: `g2: `. */
  label(g: Group): string {
    return this.byName.size > 1 ? `${g.name}: ` : '';
  }

  /** The group in a trace's data, when there is more than one. */
  data(g: Group): { group?: string } {
    return this.byName.size > 1 ? { group: g.name } : {};
  }

  /** How many groups other than `group` have their leader on the machine `server` runs on. */
  private leadersOnMachineOf(server: string, group: string): number {
    const home = this.homeOf(server);
    if (home === undefined) return 0;
    let n = 0;
    for (const g of this.byName.values()) {
      const leader = g.core.leader;
      if (g.name !== group && leader && this.homeOf(leader) === home) n++;
    }
    return n;
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
