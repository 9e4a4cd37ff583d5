/**
 * `npm run chaos -- --hosts` through its real entry point (dist/scripts/chaos.js): one seeded run
 * per mode on the course's four namespace hosts, with only the network faults between machines
 * that this kernel supports (delay needs netem), about 10 s of faults each. Seed 324's schedule
 * cuts the leader's machine off, cuts the link between the leader's machine and a follower's,
 * cuts one direction of it, and loses 30 % of its packets (harness/chaos/schedule.ts).
 *
 * Asserted: the command exits 0; each run found no anomaly, its history is linearizable and the
 * replicas' final states agree; network faults were injected (the cut-off machine among them,
 * and a partial partition in at least one run), each one healed, and the system was whole again after each;
 * the RM did react to them (it took a replica out of the group); and once the command has
 * exited, none of its namespaces, processes or its run folder remain.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PACKAGE_ROOT } from '../../harness/launch/proc.js';
import { removeLeftovers } from '../../harness/launch/hosts.js';
import type { RunReport } from '../../harness/chaos/report.js';

const CHAOS = join(PACKAGE_ROOT, 'dist/scripts/chaos.js');
const KINDS = ['cut-machine', 'cut-link', 'cut-one-way', 'link-loss'];
const ip = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p))!;

/** Processes whose command line holds `text`. */
function processesWith(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text)) found.push(`${pid}: ${cmd.slice(0, 160)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

t.test('chaos --hosts: network faults between the machines, no anomaly, everything removed afterwards', async (t) => {
  const report = join(t.testdir({}), 'report.jsonl');
  const args = [CHAOS, '--hosts', '--mode', 'both', '--seed', '324', '--runs', '1', '--duration', '10', '--faults', KINDS.join(','), '--double', '0', '--report', report];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // it stops its run and removes its hosts
      await exited;
    }
    await removeLeftovers();
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  createInterface({ input: child.stderr }).on('line', (l) => lines.push(l));
  const code = await exited;
  t.equal(code, 0, `chaos exited 0; its last lines:\n${lines.slice(-12).join('\n')}`);

  const runs = readFileSync(report, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as RunReport);
  t.same(runs.map((r) => r.mode), ['passive', 'active'], 'one run per mode');
  for (const r of runs) {
    t.test(`${r.mode}, seed ${r.seed}`, async (t) => {
      t.equal(r.anomalies.length, 0, `no anomaly: ${r.anomalies.map((a) => a.message).join('; ')}`);
      t.equal(r.stats.linearizable, true, 'the history is linearizable');
      t.ok(r.stats.appends.ok > 100, `${r.stats.appends.ok} acknowledged appends`);
      t.ok(r.final.length !== undefined && r.final.replicas.length > 0, `final state read from ${r.final.source} and compared with ${r.final.replicas.map((x) => x.name).join(', ')}`);
      const injected = r.injected.filter((f) => !f.skipped);
      // Steps start only in the first 10 s: on a loaded machine recovery may leave time for only the first two.
      t.ok(injected.length >= 2, `${injected.length} network faults injected: ${injected.map((f) => `${f.description} on ${f.target}`).join('; ')}`);
      t.ok(injected.every((f) => KINDS.includes(f.kind)), 'only network faults between machines');
      t.ok(injected.some((f) => f.kind === 'cut-machine'), "the leader's machine cut off among them");
      t.ok(injected.every((f) => f.healedAt !== undefined && f.healedAt >= f.at), 'each one healed');
      t.ok(injected.every((f) => f.recoveredAt !== undefined && f.recoveredAt >= f.healedAt!), 'and the system whole again after each');
      t.ok(
        r.decisions.some((d) => /leaves the group|removed|failed|lost/.test(d)),
        `the RM reacted: ${r.decisions.filter((d) => /leaves the group|removed|failed|lost/.test(d)).slice(0, 2).join(' / ')}`,
      );
    });
  }
  const all = runs.flatMap((r) => r.injected.filter((f) => !f.skipped));
  t.ok(all.some((f) => f.kind === 'cut-link'), 'a partial partition (cut-link) in at least one run');
  const healedLines = lines.filter((l) => / healed (m\d cut off|m\d -\/-?>? m\d|m\d <-\d+% lost-> m\d)$/.test(l));
  t.equal(healedLines.length, all.length, `the runs said they healed each fault as it ended (${healedLines.length} lines)`);

  // Everything the command made is gone: its namespaces, the processes in them, its folders.
  const where = lines.filter((l) => l.startsWith('hosts: ')).map((l) => /namespaces (ftkh[0-9a-z]+-[0-9a-z]+)-m1\.\.m4, switch \S+; run folder (\S+)$/.exec(l)!);
  t.equal(where.length, 2, 'each run said where its hosts and its folder were');
  const namespaces = execFileSync(ip, ['netns', 'list'], { encoding: 'utf8' });
  for (const [, prefix, dir] of where as RegExpExecArray[]) {
    t.notOk(namespaces.includes(`${prefix!}-`), `no namespace ${prefix}-* is left`);
    t.same(processesWith(dir!), [], `no process started with ${dir} is left`);
    t.same(processesWith(prefix!), [], `no process naming ${prefix} is left`);
    t.notOk(existsSync(dir!), `${dir} is removed`);
  }
});
