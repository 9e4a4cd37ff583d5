/**
 * Ranking replicas by what they hold (pure): when the RM must choose a leader from replicas it
 * asked, the one whose state is the most recent wins, so that nothing acknowledged is lost.
 */
import { byName } from '../lib/component.js';

/** What a replica last said it holds: the epoch of its state (not of its role) and its last sequence number. */
export interface Holding {
  epoch: number;
  seq: number;
}

/**
 * Of `among`, the one with the highest reported (epoch, seq); on ties the preferred one, then the
 * one on a machine with the fewest other groups' leaders (`leaderLoad`), then name order.
 */
export function mostRecent<T extends { name: string }>(among: readonly T[], holds: ReadonlyMap<string, Holding>, preferred: string | undefined, leaderLoad: (name: string) => number = () => 0): T {
  const rank = (name: string): number[] => {
    const h = holds.get(name);
    return [h?.epoch ?? -1, h?.seq ?? -1, name === preferred ? 1 : 0, -leaderLoad(name)];
  };
  const names = among.map((m) => m.name).sort(byName);
  let best = names[0]!;
  let bestRank = rank(best);
  for (const name of names) {
    const r = rank(name);
    const i = r.findIndex((x, k) => x !== bestRank[k]);
    if (i !== -1 && r[i]! > bestRank[i]!) [best, bestRank] = [name, r];
  }
  return among.find((m) => m.name === best)!;
}

/** Of `among` (in name order), the first on a machine with the fewest other groups' leaders (`leaderLoad`). */
export function leastLoaded<T extends { name: string }>(among: readonly T[], leaderLoad: (name: string) => number): T | undefined {
  let best: T | undefined;
  let least = Infinity;
  for (const m of among) {
    const load = leaderLoad(m.name);
    if (load < least) [best, least] = [m, load];
  }
  return best;
}
