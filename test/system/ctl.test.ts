/**
 * `ftkit ctl` as an operator runs it: every bad value of `ctl set` exits 2 with one line, a
 * primary that is no replica is refused by the RM (exit 2), and `ctl status` shows the
 * properties in force.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { System } from '../../harness/launch/system.js';
import { FTKIT_BIN } from '../../harness/launch/proc.js';

t.test('ctl set: bad values exit 2, a primary that is no replica is refused; status shows what is in force', async (t) => {
  const sys = new System({ mode: 'passive', heartbeat: 0.2, heartbeatTimeout: 1, replicas: 2 });
  t.teardown(() => sys.stop());
  await sys.start();
  await sys.rm.waitFor((e) => e.type === 'view_changed' && (e.data as { view: unknown[] }).view.length === 1, 10_000);
  const ctl = (...args: string[]) => spawnSync(process.execPath, [FTKIT_BIN, 'ctl', '--rm', sys.rmAddr, '--secret-file', sys.secretFile!, ...args], { encoding: 'utf8', timeout: 20_000 });
  const refused = (args: string[], reason: RegExp) => {
    const r = ctl('set', ...args);
    t.equal(r.status, 2, `ctl set ${args.join(' ')}: exit 2`);
    t.equal(r.stdout, '', `ctl set ${args.join(' ')}: nothing on stdout`);
    t.equal(r.stderr.trim().split('\n').length, 1, `ctl set ${args.join(' ')}: one line`);
    t.match(r.stderr.trim(), reason, `ctl set ${args.join(' ')}: ${r.stderr.trim()}`);
  };
  refused(['lfd-heartbeat-freq', 'abc'], /^ftkit ctl: lfd-heartbeat-freq: expected seconds/);
  refused(['gfd-heartbeat-freq', '0'], /^ftkit ctl: gfd-heartbeat-freq: expected seconds, a number > 0/);
  refused(['checkpoint-freq', '-1'], /^ftkit ctl: checkpoint-freq: expected seconds/);
  refused(['lag-timeout', 'soon'], /^ftkit ctl: lag-timeout: expected seconds/);
  refused(['primary', 'S 9'], /^ftkit ctl: primary: expected a name/);
  refused(['replicas', '0'], /^ftkit ctl: replicas: expected a whole number ≥ 1/);
  refused(['replicas', '65'], /^ftkit ctl: replicas: expected at most 64/);
  refused(['colour', 'red'], /^ftkit ctl: unknown property "colour"/);
  // only the RM knows which replicas exist
  refused(['primary', 'S9'], /^ftkit ctl: primary: no replica S9 \(replicas: S1, S2\)$/);
  const said = await sys.rm.waitFor((e) => e.type === 'property_refused', 5000);
  t.equal(said.text, 'RM: refused primary = S9 (from admin): primary: no replica S9 (replicas: S1, S2)', 'the RM says what it refused');

  const set = ctl('set', 'checkpoint-freq', '2');
  t.equal(set.status, 0, set.stderr);
  t.equal(set.stdout, 'checkpoint-freq = 2\n');
  const status = ctl('status');
  t.equal(status.status, 0, status.stderr);
  const json = JSON.parse(ctl('--json', 'status').stdout) as { leader: string; inForce: Record<string, string | null> };
  t.same(json.inForce, { 'lfd-heartbeat-freq': null, 'gfd-heartbeat-freq': null, 'checkpoint-freq': '2', 'lag-timeout': null, primary: json.leader, replicas: '2' });
  t.match(status.stdout, new RegExp(`^properties in force:$\\n^  lfd-heartbeat-freq +each LFD's --heartbeat-freq$`, 'm'));
  t.match(status.stdout, /^ {2}checkpoint-freq +2$/m);
  t.match(status.stdout, new RegExp(`^  primary +${json.leader}$`, 'm'));
  t.match(status.stdout, /^ {2}replicas +2$/m);
  t.notMatch(status.stdout, /as each component was started/);
});
