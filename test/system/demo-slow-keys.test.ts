/**
 * The demo's fail-slow keys, typed on its terminal (script(1) gives it one): `d` adds 50 ms to
 * everything the leader sends, `c` makes it burn the CPU, `m` grow its memory; the RM flags it
 * fail-slow and `n` clears the fault, and the flag with it. `h` lists the keys; q still stops in
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
  const demo = startPtyDemo(['--mode', 'passive', '--base-port', String(base), '--heartbeat-freq', '0.2', '--no-color'], stateHome);
  t.teardown(() => {
    demo.child.kill('SIGKILL');
    killSurvivors(base);
  });
  await demo.until(/demo\s+│ .*c cpu-hog · m mem-hog · d delay 50 ms: make the leader fail-slow · n clear it/);
  await demo.until(/C3\s+│ .*C3: request_num \d+ answered by S\d/);
  const leader = [...demo.output().matchAll(/RM\s+│ .*\b(S\d) is primary/g)].pop()?.[1];
  t.ok(leader, `the leader: ${leader}`);
  // The RM learns the leader's baseline first (10 s by default).
  await demo.until(new RegExp(`RM\\s+│ .*RM: fail-slow baselines learnt for [^\\n]*${leader}`), 40_000);

  demo.key('n');
  await demo.until(/demo\s+│ no fail-slow fault to clear/);
  for (const [key, what] of [['d', 'delay 50 ms'], ['c', 'cpu-hog']] as const) {
    demo.key(key);
    await demo.until(new RegExp(`demo\\s+│ ${what} on the leader ${leader}: it answers, slowly`));
    const [flag] = await demo.until(new RegExp(`RM\\s+│ .*RM: ${leader} is fail-slow \\(.*\\)`), 20_000);
    t.pass(`${key}: ${flag.replace(/^.*│ /, '')}`);
    demo.key('n');
    await demo.until(new RegExp(`demo\\s+│ cleared the fail-slow fault on ${leader}`));
    await demo.until(new RegExp(`RM\\s+│ .*RM: ${leader} is no longer fail-slow`), 20_000);
    t.pass(`${key}: cleared with n`);
  }
  demo.key('m');
  // The demo's line and the replica's own (through its output) in either order.
  const said = `demo\\s+│ mem-hog on the leader ${leader}`;
  const done = `${leader}\\s+│ .*${leader}: fail-slow fault from RM: mem-hog 100 MB/s`;
  await demo.until(new RegExp(`${said}[\\s\\S]*${done}|${done}[\\s\\S]*${said}`));
  t.pass(`m: ${leader} grows its memory`);

  demo.key('q');
  const [code] = (await once(demo.child, 'exit')) as [number | null];
  t.equal(code, 0, 'q: exit status 0');
  t.same(survivors(`127.0.0.1:${base}`), [], 'no process of the demo survives it');
});
