/**
 * The demo's keys, typed on its terminal (script(1) gives it one): help, an unknown key, pausing
 * and resuming a chosen replica, killing and starting again an LFD, the GFD and the RM; with
 * --no-auto-restart nothing relaunches the killed replica; q stops in order, without a fault.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killSurvivors, startPtyDemo, survivors } from '../helpers/demo.js';
import { claimPorts } from '../helpers/ports.js';

const stateHome = mkdtempSync(join(tmpdir(), 'ftkit-demo-state-'));
t.teardown(() => rmSync(stateHome, { recursive: true, force: true }));
t.setTimeout(180_000);

const base = await claimPorts(); // the demo's layout, this test's alone and free now
const state = (pid: string) => spawnSync('ps', ['-o', 'stat=', '-p', pid], { encoding: 'utf8' }).stdout.trim();

t.test('keys on a terminal', async (t) => {
  const demo = startPtyDemo(['--mode', 'passive', '--base-port', String(base), '--heartbeat-freq', '0.2', '--no-auto-restart', '--no-color'], stateHome);
  t.teardown(() => {
    demo.child.kill('SIGKILL');
    killSurvivors(base);
  });
  await demo.until(/demo\s+│ keys: 1\/2\/3 kill S1\/S2\/S3/);
  await demo.until(/C3\s+│ .*C3: request_num \d+ answered by S\d/);

  demo.key('h');
  // --no-auto-restart: a replica's key also starts it again by hand (milestones-keys.test.ts).
  await demo.until(/demo\s+│ keys: 1\/2\/3 kill S1\/S2\/S3 \(SIGKILL\), or start it again by hand once it is down · p then 1\/2\/3 pause or resume S1\/S2\/S3 \(SIGSTOP\/SIGCONT\)\n.*l then 1\/2\/3 kill LFD1\/LFD2\/LFD3 · g kill the GFD · r kill the RM/);
  demo.key('x');
  await demo.until(/demo\s+│ unknown key 'x'; h for help\n/);
  t.equal(demo.output().match(/unknown key/g)?.length, 1, 'one line for an unknown key');

  demo.key('p');
  await demo.until(/pause or resume which replica\? 1, 2 or 3/);
  demo.key('2');
  const [, stopped] = await demo.until(/demo\s+│ SIGSTOP S2 \(pid (\d+)\)/);
  t.match(state(stopped!), /^T/, 'S2 is stopped');
  demo.key('p');
  demo.key('2');
  await demo.until(new RegExp(`demo\\s+│ SIGCONT S2 \\(pid ${stopped}\\)`));
  t.notMatch(state(stopped!), /^T/, 'S2 runs again');

  demo.key('1');
  await demo.until(/demo\s+│ kill -9 S1 \(pid \d+\)/);
  await demo.until(/RM\s+│ .*RM: 2 members: S2, S3/);

  demo.key('l');
  demo.key('2');
  await demo.until(/demo\s+│ kill -9 LFD2 \(pid \d+\)/);
  // The GFD sees the machine go down, and the demo sees LFD2 exit (in either order); the key
  // starts it again only once the demo has seen it exit.
  await demo.until(/GFD: lost LFD2 \(.*\): machine down[\s\S]*LFD2\s+│ .*exited \(SIGKILL\)|LFD2\s+│ .*exited \(SIGKILL\)[\s\S]*GFD: lost LFD2 \(.*\): machine down/);
  demo.key('l');
  demo.key('2');
  await demo.until(/demo\s+│ starting LFD2 again/);
  await demo.until(/GFD\s+│ .*GFD: LFD2 registered/);

  demo.key('g');
  await demo.until(/demo\s+│ kill -9 GFD \(pid \d+\)/);
  await demo.until(/GFD\s+│ .*exited \(SIGKILL\)/);
  demo.key('g');
  await demo.until(/demo\s+│ starting GFD again/);
  await demo.until(/RM\s+│ .*RM: GFD registered/);

  demo.key('r');
  await demo.until(/demo\s+│ kill -9 RM \(pid \d+\)/);
  await demo.until(/RM\s+│ .*exited \(SIGKILL\)/);
  demo.key('r');
  await demo.until(/demo\s+│ starting RM again/);
  await demo.until(/RM\s+│ .*RM: GFD registered/);
  await demo.until(/RM\s+│ .*RM: 2 members: S2, S3/);
  demo.key('s');
  await demo.until(/demo\s+│ members \(2\):/);

  demo.key('q');
  const [code] = (await once(demo.child, 'exit')) as [number | null];
  t.equal(code, 0, 'q: exit status 0');
  const out = demo.output();
  t.notMatch(out, /launched S1|relaunching S1/, '--no-auto-restart: the RM relaunched nothing');
  const stop = out.slice(out.indexOf('stopping in order (q)'));
  t.ok(stop.length > 0, 'q stops in order');
  t.notMatch(stop, /machine down|stepping down|connection to \S+ lost|heartbeat to \S+ failed|delete replica|exited \(/, `no fault in the stop:\n${stop}`);
  t.same(survivors(`127.0.0.1:${base}`), [], 'no process of the demo survives it');
  t.same(survivors(`127.0.0.1:${base + 102}`), [], 'no server of the restarted LFD2 survives it');
});
