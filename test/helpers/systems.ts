/** Subtests' systems started one ahead: while subtest i runs, the system of subtest i+1 starts. */
import type { Test } from 'tap';
import { System, type SystemOptions } from '../../harness/launch/system.js';

/**
 * One System per subtest, in the order of the subtests; the first starts now. `next()` gives the
 * next subtest its own system, started (it began starting while the subtest before ran), and
 * starts the one after it; so at most two of these run at a time. Every system is stopped in `t`'s teardown (a subtest may stop its
 * own sooner).
 */
export function systemsAhead(t: Test, options: SystemOptions[]): { next: () => Promise<System> } {
  const systems = options.map((o) => new System(o));
  const started: Array<Promise<System>> = [];
  const start = (i: number) => {
    if (i < systems.length) started[i] ??= systems[i]!.start();
    // A start that fails is reported by the subtest that awaits it.
    started[i]?.catch(() => undefined);
  };
  t.teardown(() => Promise.all(systems.map((s) => s.stop())).then(() => undefined));
  start(0);
  let i = 0;
  return {
    next: () => {
      const mine = i++;
      start(mine + 1);
      return started[mine]!;
    },
  };
}
