/**
 * `ftkit demo --groups 3` on a terminal of its own: three replica groups over LFD1–3 with their
 * leaders on three machines, keys 1–9 for S1–S9, the status key showing every group, and a
 * kill of one group's leader failing over that group alone.
 */
import t from 'tap';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killSurvivors, startPtyDemo } from '../helpers/demo.js';
import { claimPorts } from '../helpers/ports.js';

const stateHome = mkdtempSync(join(tmpdir(), 'ftkit-demo-state-'));
t.teardown(() => rmSync(stateHome, { recursive: true, force: true }));
t.setTimeout(120_000);

const base = await claimPorts(9); // the demo's layout with nine replicas, this test's alone and free now

t.test('three groups in the demo: keys 1-9, status per group, one group fails over alone', async (t) => {
  const demo = startPtyDemo(['--groups', '3', '--mode', 'passive', '--base-port', String(base), '--heartbeat-freq', '0.2', '--quiet', '--no-color'], stateHome);
  t.teardown(() => {
    demo.child.kill('SIGKILL');
    killSurvivors(base);
  });
  // Nine replicas start one after another: on a busy machine that takes a while.
  await demo.until(/demo\s+│ 3 replica groups: g1 S1, S2, S3 · g2 S4, S5, S6 · g3 S7, S8, S9/, 60_000);
  await demo.until(/demo\s+│ keys: 1…9 kill S1…S9 \(SIGKILL\) · p then 1…9 pause or resume S1…S9 \(SIGSTOP\/SIGCONT\)\n.*l then 1\/2\/3 kill LFD1\/LFD2\/LFD3/);
  // The three clients' first views come in any order.
  await demo.until(/(?:C\d\s+│ .*C\d: served by g\d: passive replication; primary: S\d\n[\s\S]*?){2}C\d\s+│ .*C\d: served by g\d: passive replication; primary: S\d\n/);
  for (const [c, g] of [['C1', 'g1'], ['C2', 'g2'], ['C3', 'g3']]) t.match(demo.output(), new RegExp(`${c}\\s+│ .*${c}: served by ${g}: passive replication; primary: S\\d`), `${c} is served by ${g}`);

  /** Press s and read each group's epoch and leader from the status lines. */
  const status = async () => {
    demo.key('s');
    const [lines] = await demo.until(/demo\s+│ group g1:[^\n]*\n(?:.*\n)*?demo\s+│ group g3:[^\n]*\n/);
    return [...lines.matchAll(/group (g\d): passive\s+epoch: (\d+)\s+leader: (S\d)/g)].map((m) => [m[1], m[2], m[3]]);
  };
  t.same(await status(), [
    ['g1', '1', 'S1'],
    ['g2', '1', 'S4'],
    ['g3', '1', 'S7'],
  ], 'each group has its first primary: S1 on LFD1, S4 on LFD2, S7 on LFD3');

  demo.key('4');
  await demo.until(/demo\s+│ kill -9 S4 \(pid \d+\)/);
  await demo.until(/RM\s+│ .*RM: g2: primary S4 failed; S5 is primary \(epoch 2\)/);
  await demo.until(/C2\s+│ .*C2: served by g2: passive replication; primary: S5/);
  t.same(await status(), [
    ['g1', '1', 'S1'],
    ['g2', '2', 'S5'],
    ['g3', '1', 'S7'],
  ], 'g2 failed over to S5 at epoch 2; g1 and g3 unchanged');

  demo.key('q');
  const [code] = (await once(demo.child, 'exit')) as [number | null];
  t.equal(code, 0, 'q stops in order and exits 0');
  await demo.until(/demo\s+│ stopped: every process the demo started has exited/, 1000);
});
