/**
 * The demo's fail-slow keys, typed on its terminal (script(1) gives it one): `d` adds 50 ms to
 * everything the leader sends, `c` makes it burn the CPU, `m` grow its memory; the RM flags the
 * delay fail-slow and `n` clears the fault, and the flag with it. `h` lists the keys; q still stops in
 * order.
 */
import t from 'tap';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killSurvivors, startPtyDemo, survivors } from '../helpers/demo.js';
import { claimPorts } from '../helpers/ports.js';

const stateHome = mkdtempSync(join(tmpdir(), 'ftkit-demo-state-'));
t.teardown(() => rmSync(stateHome, { recursive: true, force: true }));
t.setTimeout(150_000);

const base = await claimPorts();

t.test('fail-slow keys on the leader: flagged, then cleared', async (t) => {
  const demo = startPtyDemo(['--mode', 'passive', '--base-port', String(base), '--heartbeat-freq', '0.2', '--slow-warmup', '3', '--no-color'], stateHome);
  t.teardown(() => {
    demo.child.kill('SIGKILL');
    killSurvivors(base);
  });
  await demo.until(/demo\s+│ .*c cpu-hog · m mem-hog · d delay 50 ms: make the leader fail-slow · n clear it/);
  await demo.until(/C3\s+│ .*C3: request_num \d+ answered by S\d/);
  const leader = [...demo.output().matchAll(/RM\s+│ .*\b(S\d) is primary/g)].pop()?.[1];
  t.ok(leader, `the leader: ${leader}`);
  // The RM learns the leader's baseline first (3 s here, --slow-warmup; 10 s by default).
  await demo.until(new RegExp(`RM\\s+│ .*RM: fail-slow baselines learnt for [^\\n]*${leader}`), 40_000);

  demo.key('n');
  await demo.until(/demo\s+│ no fail-slow fault to clear/);
  // d: flagged, then cleared with n (test/system/failslow.test.ts flags each kind through ctl).
  demo.key('d');
  await demo.until(new RegExp(`demo\\s+│ delay 50 ms on the leader ${leader}: it answers, slowly`));
  const [flag] = await demo.until(new RegExp(`RM\\s+│ .*RM: ${leader} is fail-slow \\(.*\\)`), 20_000);
  t.pass(`d: ${flag.replace(/^.*│ /, '')}`);
  demo.key('n');
  await demo.until(new RegExp(`demo\\s+│ cleared the fail-slow fault on ${leader}`));
  await demo.until(new RegExp(`RM\\s+│ .*RM: ${leader} is no longer fail-slow`), 20_000);
  t.pass('d: cleared with n');
  // c and m reach the leader (the demo's line and the replica's own, in either order).
  for (const [key, what, done] of [['c', 'cpu-hog', 'cpu-hog'], ['m', 'mem-hog', 'mem-hog 100 MB/s']] as const) {
    demo.key(key);
    const said = `demo\\s+│ ${what} on the leader ${leader}`;
    const applied = `${leader}\\s+│ .*${leader}: fail-slow fault from RM: ${done}`;
    await demo.until(new RegExp(`${said}[\\s\\S]*${applied}|${applied}[\\s\\S]*${said}`));
    t.pass(`${key}: ${leader} is given the ${what}`);
    if (key === 'c') {
      demo.key('n');
      await demo.until(new RegExp(`demo\\s+│ cleared the fail-slow fault on ${leader}`));
    }
  }
  demo.key('q');
  const [code] = (await once(demo.child, 'exit')) as [number | null];
  t.equal(code, 0, 'q: exit status 0');
  t.same(survivors(`127.0.0.1:${base}`), [], 'no process of the demo survives it');
});
