/**
 * What each component told the RM it runs with (`in_force`), by property and component, and how
 * `ftkit ctl status` sums it up: `1 (LFD1, LFD2, LFD3)`, or `1 (LFD1, LFD2); 0.5 (LFD3)` when
 * they differ. Only components that are still there count (`there`).
 */
import type { MessageOf } from '../lib/protocol/index.js';

export class ToldTable {
  private readonly told = new Map<string, Map<string, string>>();

  constructor(private readonly there: (who: string) => boolean) {}

  record(msg: MessageOf<'inForce'>): void {
    let byComponent = this.told.get(msg.key);
    if (!byComponent) this.told.set(msg.key, (byComponent = new Map()));
    byComponent.set(msg.from, msg.value);
  }

  /** The values of `key` by value, with who told each; undefined when no one there told it. */
  summary(key: string): string | undefined {
    const byValue = new Map<string, string[]>();
    for (const [who, value] of this.now(key)) byValue.set(value, [...(byValue.get(value) ?? []), who]);
    if (byValue.size === 0) return undefined;
    return [...byValue].map(([value, who]) => `${value} (${who.sort().join(', ')})`).join('; ');
  }

  /** What is reported, by key and component (`ctl status --json`'s `reported`). */
  reported(): Record<string, Record<string, string>> {
    return Object.fromEntries([...this.told.keys()].map((k) => [k, Object.fromEntries(this.now(k))]));
  }

  private now(key: string): Array<[string, string]> {
    return [...(this.told.get(key) ?? new Map<string, string>())].filter(([who]) => this.there(who));
  }
}
