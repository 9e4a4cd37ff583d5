/**
 * Issue 11 part 2: a replica that hangs (SIGSTOP) is declared failed by its LFD's heartbeat
 * timeout, killed by that LFD before anyone replaces it, and relaunched: pausing the leader or a
 * follower for 5 s ends with three ready replicas, no `giving up`, exactly one process per replica
 * name, and no process left behind once the system stops.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { System } from '../../harness/launch/system.js';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';

const data = <T>(e: TraceEvent) => e.data as T;
interface Status {
  epoch: number;
  leader: string | null;
  members: Array<{ name: string; ready: boolean; role: string }>;
}
const status = async (sys: System) => JSON.parse(await sys.ctl({ op: 'status' })) as Status;

/** Command lines of the running ftkit processes (from /proc), with their pids. */
export function ftkitProcesses(): Array<{ pid: number; args: string[] }> {
  const out: Array<{ pid: number; args: string[] }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (args.includes(FTKIT_BIN)) out.push({ pid: Number(entry), args });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** The processes of this system: any ftkit process whose command line names one of its addresses. */
function processesOf(sys: System): Array<{ pid: number; args: string[] }> {
  const addrs = [sys.rmAddr, sys.gfdAddr, ...sys.lfdAddrs.values()];
  return ftkitProcesses().filter((p) => p.args.some((a) => addrs.includes(a)));
}

/** Processes running `server <name>` for this system. */
function serverProcesses(sys: System, name: string): number[] {
  return processesOf(sys)
    .filter((p) => p.args[p.args.indexOf('server') + 1] === name && p.args.includes('server'))
    .map((p) => p.pid);
}

for (const which of ['leader', 'follower'] as const) {
  t.test(`pausing the ${which} for 5 s: it is fenced and replaced; three ready replicas, one process each`, async (t) => {
    const sys = new System({ mode: 'passive', app: 'counter', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, checkpointFreq: 0.5 });
    t.teardown(() => sys.stop());
    await sys.start();
    await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.length === 3, 15_000);
    const before = await status(sys);
    const victim = which === 'leader' ? before.leader! : before.members.find((m) => m.name !== before.leader)!.name;
    const proc = sys.proc(victim);
    const lfd = sys.proc(`LFD${victim.slice(1)}`);
    const mark = sys.rm.events.length;
    const lmark = lfd.events.length;

    proc.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 5000)); // the fault itself: a 5 s pause
    proc.kill('SIGCONT');
    const resumedAt = Date.now();

    // The LFD killed the hung process (by its pid) before it reported it failed.
    const fenced = await lfd.waitFor((e) => e.type === 'fenced', 1000, lmark);
    t.equal(fenced.category, 'fault', 'the kill is traced in red');
    t.equal(data<{ pid: number }>(fenced).pid, proc.pid, 'by the pid it registered with');
    const exit = await proc.exited;
    t.equal(exit.signal, 'SIGKILL', `${victim} was killed`);
    const deleted = lfd.events.findIndex((e, i) => i >= lmark && e.type === 'replica_deleted');
    t.ok(deleted > lfd.events.indexOf(fenced), 'fenced before it was reported deleted');

    await sys.rm.waitFor(() => {
      const ready = sys.rm.events.slice(mark).filter((e) => e.type === 'ready_changed');
      return ready.length > 0 && data<{ ready: string[] }>(ready[ready.length - 1]!).ready.length === 3;
    }, 10_000 - (Date.now() - resumedAt));
    const after = await status(sys);
    t.same(after.members.map((m) => [m.name, m.ready]), [['S1', true], ['S2', true], ['S3', true]], 'three ready replicas within 10 s of the resume');
    t.notOk([...sys.group.procs.values()].some((p) => p.events.some((e) => /giving up/.test(e.text))), 'no giving up');
    t.notOk(sys.rm.events.slice(mark).some((e) => e.type === 'launch_failed'), 'no failed launch');
    for (const name of ['S1', 'S2', 'S3']) t.equal(serverProcesses(sys, name).length, 1, `exactly one process runs ${name}`);
    if (which === 'leader') t.ok(after.epoch > before.epoch, `a new leader was elected (epoch ${before.epoch} -> ${after.epoch})`);

    await sys.stop();
    t.same(processesOf(sys), [], 'no process of the system is left after stop');
  });
}

t.test('stopping the system leaves no process behind, a stopped relaunched replica included', async (t) => {
  const sys = new System({ mode: 'active', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1 });
  t.teardown(() => sys.stop());
  await sys.start();
  sys.proc('S2').kill('SIGKILL');
  const launched = await sys.proc('LFD2').waitFor((e) => e.type === 'launched', 10_000);
  await sys.proc('LFD2').waitFor((e) => e.type === 'server_registered' && data<{ pid: number }>(e).pid === data<{ pid: number }>(launched).pid, 10_000);
  process.kill(data<{ pid: number }>(launched).pid, 'SIGSTOP');
  await sys.stop();
  t.same(processesOf(sys), [], 'no process of the system is left, stopped ones included');
});
