/**
 * Issue 11 part 2, in the demo: after `p` (pause a replica), `q` or SIGTERM of the demo leaves no
 * process behind, stopped ones included; a relaunched replica keeps its own prefix. The demo's keys
 * need a terminal: it runs under script(1), which gives it one, and the test types the keys.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import { killSurvivors, startPtyDemo, survivors, type PtyDemo } from '../helpers/demo.js';
import { claimPorts } from '../helpers/ports.js';

// The demo keeps its secret in the user's state folder: here, a folder of the test's own.
const stateHome = mkdtempSync(join(tmpdir(), 'ftkit-demo-state-'));
t.teardown(() => rmSync(stateHome, { recursive: true, force: true }));


/** The demo on a terminal of its own. */
function startDemo(base: number): PtyDemo {
  return startPtyDemo(['--mode', 'passive', '--base-port', String(base), '--heartbeat-freq', '0.1', '--checkpoint-freq', '0.5', '--no-color'], stateHome);
}


/** Kill S1 (its LFD relaunches it as the LFD's child), then pause the relaunched S1 until its LFD acts. */
async function pauseRelaunched(t: Test, demo: PtyDemo): Promise<void> {
  await demo.until(/C3\s+│ .*C3: request_num \d+ answered by S\d/);
  demo.key('1');
  await demo.until(/LFD1\s+│ .*LFD1: launched S1 \(pid (\d+)\)/);
  await demo.until(/LFD1\s+│ .*LFD1: S1 registered from .* \(pid \d+\)/);
  await demo.until(/RM\s+│ .*RM: ready replicas: S1, S2, S3/);
  t.match(demo.output(), /^S1\s+│ \[\d\d:\d\d:\d\d\.\d{3}\] S1 registered with LFD1$/m, "the relaunched S1's lines carry S1's prefix");
  demo.key('p');
  await demo.until(/pause or resume which replica\? 1, 2 or 3/);
  demo.key('1');
  await demo.until(/demo\s+│ SIGSTOP S1 \(pid \d+\)/);
  await demo.until(/LFD1\s+│ .*LFD1: heartbeat to S1 failed: timed out/, 10_000);
  await demo.until(/LFD1\s+│ .*LFD1: launched S1 \(pid (\d+)\)/, 10_000);
}

function checkAfter(t: Test, demo: PtyDemo, base: number): void {
  t.match(demo.output(), /LFD1\s+│ .*LFD1: killed S1 \(pid \d+, SIGKILL\)/, 'the LFD killed the paused S1');
  t.notMatch(demo.output(), /EADDRINUSE|giving up/, 'no relaunch failed');
  t.same(survivors(`127.0.0.1:${base}`), [], 'no process of the demo survives it');
  t.same(survivors(`127.0.0.1:${base + 101}`), [], 'no server of LFD1 survives it, stopped or not');
}

/** A demo on its own ports, with a relaunched replica paused; it and whatever it left are killed in teardown. */
async function demoWithPausedReplica(t: Test): Promise<{ base: number; demo: PtyDemo }> {
  const base = await claimPorts(); // the demo's layout, this test's alone and free now
  const demo = startDemo(base);
  t.teardown(() => {
    demo.child.kill('SIGKILL');
    killSurvivors(base);
  });
  await pauseRelaunched(t, demo);
  return { base, demo };
}

t.test('q after pausing a relaunched replica leaves no process; its output keeps its own prefix', async (t) => {
  const { base, demo } = await demoWithPausedReplica(t);
  demo.key('q');
  const [code] = (await once(demo.child, 'exit')) as [number | null];
  t.equal(code, 0, 'the demo exits with status 0');
  checkAfter(t, demo, base);
});

t.test('SIGTERM of the demo while a relaunched replica is paused leaves no process', async (t) => {
  const { base, demo } = await demoWithPausedReplica(t);
  const pid = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .stdout.split('\n')
    .find((l) => l.includes(FTKIT_BIN) && l.includes(`demo --mode passive --base-port ${base}`))
    ?.trim()
    .split(/\s+/)[0];
  t.ok(pid, 'found the demo process');
  process.kill(Number(pid), 'SIGTERM');
  const [code] = (await once(demo.child, 'exit')) as [number | null];
  t.equal(code, 0);
  checkAfter(t, demo, base);
});
