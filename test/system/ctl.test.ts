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
  const sys = new System({ mode: 'passive', heartbeat: 0.2, quietHeartbeats: true, heartbeatTimeout: 1, replicas: 2 });
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
  // Each replica applies it and tells the RM (through its LFD and the GFD): ask until both have.
  type Status = { leader: string; inForce: Record<string, string | null>; reported: Record<string, Record<string, string>> };
  let json: Status | undefined;
  for (let i = 0; i < 50; i++) {
    json = JSON.parse(ctl('--json', 'status').stdout) as Status;
    if (json.inForce['checkpoint-freq'] === '2 (S1, S2)') break;
  }
  t.same(
    json!.inForce,
    { 'lfd-heartbeat-freq': '0.2 (LFD1, LFD2)', 'gfd-heartbeat-freq': '0.2 (GFD)', 'checkpoint-freq': '2 (S1, S2)', 'lag-timeout': '0.8 (S1, S2)', primary: json!.leader, replicas: '2' },
    'the values each component told it runs with',
  );
  t.same(json!.reported['lag-timeout'], { S1: '0.8', S2: '0.8' }, 'and in --json, by component');
  const status = ctl('status');
  t.equal(status.status, 0, status.stderr);
  t.match(status.stdout, /^properties in force:$\n^ {2}lfd-heartbeat-freq +0\.2 \(LFD1, LFD2\)$/m);
  t.match(status.stdout, /^ {2}checkpoint-freq +2 \(S1, S2\)$/m);
  // A change of the LFDs' heartbeat period changes it there, and the lag timeout that follows it.
  t.equal(ctl('set', 'lfd-heartbeat-freq', '0.25').status, 0);
  for (let i = 0; i < 50; i++) {
    json = JSON.parse(ctl('--json', 'status').stdout) as Status;
    if (json.inForce['lag-timeout'] === '1 (S1, S2)' && json.inForce['lfd-heartbeat-freq'] === '0.25 (LFD1, LFD2)') break;
  }
  t.equal(json!.inForce['lfd-heartbeat-freq'], '0.25 (LFD1, LFD2)', 'the LFDs run with the new period');
  t.equal(json!.inForce['lag-timeout'], '1 (S1, S2)', 'and the replicas with the lag timeout that follows it');
  t.match(status.stdout, new RegExp(`^  primary +${json!.leader}$`, 'm'));
  t.match(status.stdout, /^ {2}replicas +2$/m);
  t.notMatch(status.stdout, /as each component was started/);
});
