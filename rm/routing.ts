/**
 * Which replica group serves a client (pure): the RM routes each client by the key it names
 * (`ftkit client C1 --key 7`), by the rule chosen at start (`ftkit rm --route`):
 *
 * - `mod`: group number `((key − 1) mod N) + 1` over the groups in name order (a key that is not a
 *   positive integer is routed as `hash` routes it);
 * - `hash`: rendezvous hashing of the key over the group names: each key goes to the group with the
 *   highest hash of (key, group), so adding a group moves only the keys the new group wins (about
 *   1/N of them), and removing one moves only its own keys;
 * - `least-loaded`: the group with the fewest clients, ties at random; in active mode also the
 *   replica of that group with the fewest clients. The choice sticks while the client stays.
 *
 * With fallback, a client whose group has no ready replica is served by the first group (name
 * order) that has one, and goes back as soon as its own group has a ready replica again.
 * A client without a key is served by the default group (g1), or by the first group there is; a
 * key that is a group's name (`g2`) is served by that group, whatever the rule.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_GROUP } from '../lib/protocol/index.js';
import { byName } from '../lib/component.js';

export const ROUTE_RULES = ['mod', 'hash', 'least-loaded'] as const;
export type RouteRule = (typeof ROUTE_RULES)[number];

/** What routing needs to know of one group. */
export interface GroupLoad {
  name: string;
  /** Whether the group has a replica that can serve (a non-empty view). */
  serving: boolean;
  /** The replicas a client may be handed (active mode, least-loaded), in name order. */
  replicas: readonly string[];
}

/** Where a client is served: the group its key routes to (`home`), the group that serves it now, and (least-loaded, active) its replica. */
export interface Route {
  home: string;
  group: string;
  replica?: string;
}

/** The group a key routes to under `rule` (least-loaded excepted: see Router). */
export function groupForKey(rule: 'mod' | 'hash', key: string, groups: readonly string[]): string {
  const names = [...groups].sort(byName);
  const n = Number(key);
  if (rule === 'mod' && /^\d{1,15}$/.test(key) && n >= 1) return names[(n - 1) % names.length]!;
  let best = names[0]!;
  let bestScore = -1n;
  for (const g of names) {
    const score = createHash('sha256').update(`${key}\u0000${g}`).digest().readBigUInt64BE(0);
    if (score > bestScore) [best, bestScore] = [g, score];
  }
  return best;
}

/** Routes clients to groups; remembers least-loaded choices so a client stays where it was put. */
export class Router {
  /** least-loaded: the group (and replica) each client was given. */
  private readonly sticky = new Map<string, { group: string; replica?: string }>();

  constructor(
    readonly rule: RouteRule,
    readonly fallback: boolean,
    readonly activeReplicas: boolean,
    private readonly random: () => number = Math.random,
  ) {}

  /** A client left: it no longer counts for least-loaded. */
  forget(client: string): void {
    this.sticky.delete(client);
  }

  /**
   * Where `client` (with `key`, or none) is served, given every group. `clients` are the others'
   * current routes, for least-loaded counts.
   */
  route(client: string, key: string | undefined, groups: readonly GroupLoad[], clients: ReadonlyMap<string, Route>): Route | undefined {
    if (groups.length === 0) return undefined;
    const names = groups.map((g) => g.name).sort(byName);
    const byGroup = new Map(groups.map((g) => [g.name, g]));
    let home: string;
    let replica: string | undefined;
    if (!key) {
      home = byGroup.has(DEFAULT_GROUP) ? DEFAULT_GROUP : names[0]!;
    } else if (byGroup.has(key)) {
      // A key that names a group routes to it (what ftkit sync uses to reach each group).
      home = key;
    } else if (this.rule === 'least-loaded') {
      [home, replica] = this.leastLoaded(client, byGroup, names, clients);
    } else {
      home = groupForKey(this.rule, key, names);
    }
    let group = home;
    if (this.fallback && !byGroup.get(home)!.serving) group = names.find((g) => byGroup.get(g)!.serving) ?? home;
    if (group !== home) replica = undefined;
    return replica ? { home, group, replica } : { home, group };
  }

  private leastLoaded(client: string, byGroup: Map<string, GroupLoad>, names: string[], clients: ReadonlyMap<string, Route>): [string, string | undefined] {
    const had = this.sticky.get(client);
    const others = [...clients].filter(([c]) => c !== client).map(([, r]) => r);
    // A client stays in its group while the group exists; only a replica that left is replaced.
    const group = had && byGroup.has(had.group) ? had.group : this.pickLeast(names, (g) => others.filter((r) => r.home === g).length);
    const replicas = byGroup.get(group)!.replicas;
    let replica = had?.group === group && had.replica && replicas.includes(had.replica) ? had.replica : undefined;
    if (!replica && this.activeReplicas && replicas.length > 0) replica = this.pickLeast([...replicas], (s) => others.filter((r) => r.replica === s).length);
    this.sticky.set(client, { group, replica });
    return [group, replica];
  }

  /** Of `names`, one with the least `load`; ties at random. */
  private pickLeast(names: string[], load: (name: string) => number): string {
    const loads = names.map(load);
    const min = Math.min(...loads);
    const tied = names.filter((_, i) => loads[i] === min);
    return tied[Math.min(tied.length - 1, Math.floor(this.random() * tied.length))]!;
  }
}
