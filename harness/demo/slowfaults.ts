/**
 * The demo's fail-slow keys: make the leader slow (a CPU hog, a memory hog, 50 ms added to
 * everything it sends) through the RM, as `ftkit ctl fault` does, and clear it again. The RM
 * watches and flags it fail-slow (docs/OBSERVABILITY.md); the dashboard shows it.
 */
import type { SlowKind } from '../../lib/faults.js';
import type { System } from '../launch/system.js';
import type { Category } from '../../lib/trace/index.js';

/** What each key injects: the replica's defaults for the hogs (60 ms of every 100, 100 MB a second), 50 ms for delay. */
const AMOUNT: Record<SlowKind, number> = { 'cpu-hog': 0, 'mem-hog': 0, delay: 50 };

interface Status {
  leader?: string | null;
  groups?: Array<{ leader: string | null }>;
}

export class DemoSlowFaults {
  /** The replicas a key made slow, which the clear key clears (a leader may have changed since). */
  private readonly faulted = new Set<string>();

  constructor(
    private readonly system: System,
    private readonly say: (text: string, category?: Category, data?: Record<string, unknown>) => void,
  ) {}

  /** Inject `kind` into the leader of each group, or clear what the keys injected. */
  async press(kind: SlowKind | 'clear'): Promise<void> {
    try {
      const targets = kind === 'clear' ? [...this.faulted] : await this.leaders();
      if (targets.length === 0) return this.say(kind === 'clear' ? 'no fail-slow fault to clear' : 'no leader to make slow now');
      for (const server of targets) {
        await this.system.ctl({ op: 'inject', server, fault: kind, amount: kind === 'clear' ? 0 : AMOUNT[kind], seconds: 0 });
        if (kind === 'clear') this.faulted.delete(server);
        else this.faulted.add(server);
        const what = kind === 'clear' ? `cleared the fail-slow fault on ${server}` : `${kind}${kind === 'delay' ? ' 50 ms' : ''} on the leader ${server}: it answers, slowly; the RM flags it fail-slow within seconds (n clears it)`;
        this.say(what, 'fault', { fault: kind, target: server });
      }
    } catch (err) {
      this.say(`fail-slow ${kind}: ${(err as Error).message}`, 'fault');
    }
  }

  private async leaders(): Promise<string[]> {
    const s = JSON.parse(await this.system.ctl({ op: 'status' })) as Status;
    const all = s.groups?.map((g) => g.leader) ?? [s.leader];
    return all.filter((l): l is string => typeof l === 'string');
  }
}
