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

/** Of `among`, the one with the highest reported (epoch, seq); the preferred one, then name order, on ties. */
export function mostRecent<T extends { name: string }>(among: readonly T[], holds: ReadonlyMap<string, Holding>, preferred: string | undefined): T {
  const rank = (name: string): [number, number, number] => {
    const h = holds.get(name);
    return [h?.epoch ?? -1, h?.seq ?? -1, name === preferred ? 1 : 0];
  };
  const names = among.map((m) => m.name).sort(byName);
  let best = names[0]!;
  for (const name of names) {
    const [a, b] = [rank(name), rank(best)];
    if (a[0] > b[0] || (a[0] === b[0] && (a[1] > b[1] || (a[1] === b[1] && a[2] > b[2])))) best = name;
  }
  return among.find((m) => m.name === best)!;
}
