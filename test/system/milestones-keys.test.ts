/**
 * `ftkit demo --milestone N` on a terminal (script(1) gives it one), as a user drives it: the key
 * help names only what the milestone runs (M1: one replica, no GFD, no RM), and in M4 (the RM
 * relaunches nothing) a replica's key kills it, and the same key on the dead replica starts it
 * again by hand: it joins not ready, installs a checkpoint, and the RM makes it ready. q stops.
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


t.test('milestone 1: the help names S1, LFD1 and no GFD, RM or status; g says there is no GFD', async (t) => {
  const port = await claimPorts(); // the demo's layout, this test's alone and free now
  const demo = startPtyDemo(['--milestone', '1', '--base-port', String(port), '--no-color'], stateHome);
  t.teardown(() => {
    demo.child.kill('SIGKILL');
    killSurvivors(port);
  });
  await demo.until(/demo\s+│ keys: 1 kill S1 \(SIGKILL\), or start it again by hand once it is down · p then 1 pause or resume S1 \(SIGSTOP\/SIGCONT\)\n.*│ {7}l then 1 kill LFD1 \(the same key again starts it again\)\n.*│ {7}h or \? this help · q quit/);
  demo.key('g');
  await demo.until(/demo\s+│ there is no GFD in this set-up; h for help\n/);
  demo.key('q');
  const [code] = (await once(demo.child, 'exit')) as [number | null];
  t.equal(code, 0, 'q: exit status 0');
  t.same(survivors(`--port ${port + 101} `), [], 'nothing left');
  t.same(survivors(`--port ${port + 201} `), [], 'nothing left');
});

t.test('milestone 4: 2 kills S2; 2 again starts it by hand; not ready until its checkpoint, then ready', async (t) => {
  const port = await claimPorts(); // the demo's layout, this test's alone and free now
  const demo = startPtyDemo(['--milestone', '4', '--base-port', String(port), '--checkpoint-freq', '1', '--no-color'], stateHome);
  t.teardown(() => {
    demo.child.kill('SIGKILL');
    killSurvivors(port);
  });
  await demo.until(/demo\s+│ keys: 1\/2\/3 kill S1\/S2\/S3 \(SIGKILL\), or start it again by hand once it is down/);
  await demo.until(/RM\s+│ .*RM: ready replicas: S1, S2, S3\n/);
  demo.key('2');
  await demo.until(/demo\s+│ kill -9 S2 \(pid \d+\)/);
  await demo.until(/RM\s+│ .*RM: 2 members: S1, S3\n/);
  demo.key('2');
  await demo.until(/demo\s+│ starting S2 again by hand\n/);
  // The RM's word on its role and the primary's first checkpoint race to the newcomer: either may
  // come first. The high-watermarks name each client that has had a reply by then.
  const role = /S2\s+│ .*S2: none \(not ready\) at epoch 0 -> backup \(not ready\) at epoch \d+\n/.source;
  const marks = /S2\s+│ .*S2: high-watermark request numbers: C\d \d+(?:, C\d \d+)*\n/.source;
  await demo.until(new RegExp(`${role}[\\s\\S]*?${marks}|${marks}[\\s\\S]*?${role}`));
  await demo.until(/S2\s+│ .*S2: backup \(not ready\) at epoch \d+ -> backup at epoch \d+\n/);
  t.match(demo.output(), /RM\s+│ .*RM: S2 caught up \(checkpoint \d+\): ready\n/, 'the RM made S2 ready');
  demo.key('q');
  const [code] = (await once(demo.child, 'exit')) as [number | null];
  t.equal(code, 0, 'q: exit status 0');
  t.notMatch(demo.output(), /asking LFD\d to launch|launched S\d/, 'the RM relaunched nothing');
  t.same(survivors(`127.0.0.1:${port}`), [], 'nothing left');
  t.same(survivors(`--port ${port + 202} `), [], 'the S2 started by hand is gone too');
});
