/**
 * Issue 11 part 3: a name is an identity. A second server with a live server's name (on its own
 * LFD or another one), or a second LFD with a live LFD's name, is refused with one line naming
 * where the live one runs, exits with status 1, and changes nothing: no failover, no epoch
 * change, no command line learned. Command lines are kept per system: an LFD of another system on
 * the same port and in the same state folder adopts none of them.
 */
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { System } from '../../harness/launch/system.js';
import type { Proc } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { claimPorts } from '../helpers/ports.js';

const data = <T>(e: TraceEvent) => e.data as T;
interface Status {
  epoch: number;
  leader: string | null;
  members: Array<{ name: string; ready: boolean; role: string; addr: string }>;
}
const status = async (sys: System) => JSON.parse(await sys.ctl({ op: 'status' })) as Status;

/**
 * Resolves with the exit status, or rejects if the process is still running `ms` after it
 * started listening (starting a Node process on a busy CI machine is not what is measured).
 */
async function exitWithin(p: Proc, ms: number): Promise<number | null> {
  await p.waitFor((e) => e.type === 'listening', 20_000).catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${p.name} still running after ${ms} ms; last lines:\n${p.tail()}`)), ms)));
  try {
    return (await Promise.race([p.exited, late])).code;
  } finally {
    clearTimeout(timer);
  }
}

/** What the LFDs of `sys` have saved, per file: the server names in it. */
function savedNames(sys: System): string[] {
  if (!sys.stateDir || !existsSync(sys.stateDir)) return [];
  return readdirSync(sys.stateDir)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => Object.keys((JSON.parse(readFileSync(join(sys.stateDir, f), 'utf8')) as { commands: object }).commands).map((n) => `${f.split('@')[0]}:${n}`))
    .sort();
}

t.test('a second server or LFD with a live name is refused, exits 1, and nothing changes', async (t) => {
  const sys = new System({ mode: 'passive', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1 });
  t.teardown(() => sys.stop());
  await sys.start();
  await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.length === 3, 15_000);
  for (const l of ['LFD1', 'LFD2', 'LFD3']) await sys.proc(l).waitFor((e) => e.type === 'command_learned');
  const before = await status(sys);
  const leader = before.leader!;
  const n = leader.slice(1);
  const other = `LFD${(Number(n) % 3) + 1}`;
  const saved = savedNames(sys);
  const mark = sys.rm.events.length;
  const gmark = sys.gfd.events.length;

  await t.test('an impostor with the primary name on another LFD', async (t) => {
    const impostor = sys.group.spawn('impostor', ['server', leader, '--port', '0', '--lfd', sys.lfdAddrs.get(other)!, '--json', ...sys.securityArgs()]);
    t.equal(await exitWithin(impostor, 5000), 1, 'exits with status 1 within 5 s');
    const refused = impostor.events.filter((e) => e.type === 'refused');
    t.equal(refused.length, 1, 'one line says why');
    t.match(refused[0]?.text, new RegExp(`^${leader}: registration refused by GFD: ${leader} is already running on LFD${n} at 127\\.0\\.0\\.1:\\d+; exiting$`), 'naming where the live one runs');
    t.ok(sys.gfd.events.slice(gmark).some((e) => e.type === 'registration_refused'), 'the GFD traces the refusal');
  });

  await t.test('a duplicate with a live name on the same LFD', async (t) => {
    const dup = sys.group.spawn('duplicate', ['server', 'S2', '--port', '0', '--lfd', sys.lfdAddrs.get('LFD2')!, '--json', ...sys.securityArgs()]);
    t.equal(await exitWithin(dup, 5000).catch((err: Error) => err.message + '\nLFD2:\n' + sys.proc('LFD2').tail(40)), 1, 'exits with status 1 within 5 s');
    const refused = dup.events.filter((e) => e.type === 'refused');
    t.equal(refused.length, 1, 'one line says why');
    t.match(refused[0]?.text, /^S2: registration refused by LFD2: S2 is already running: registered with LFD2 from 127\.0\.0\.1:\d+ \(pid \d+\); exiting$/);
    t.notOk(dup.events.some((e) => /reconnecting|unreachable/.test(e.text)), 'no retry');
  });

  await t.test('a second LFD with a live LFD name', async (t) => {
    const dup = sys.group.spawn('duplicate-lfd', ['lfd', 'LFD1', '--port', '0', '--gfd', sys.gfdAddr, '--state-dir', sys.stateDir, '--json', ...sys.securityArgs()]);
    t.equal(await exitWithin(dup, 5000), 1, 'exits with status 1 within 5 s');
    const refused = dup.events.filter((e) => e.type === 'refused');
    t.equal(refused.length, 1, 'one line says why');
    t.match(refused[0]?.text, /^LFD1: the GFD refused this LFD: LFD1 is already running: registered with the GFD from 127\.0\.0\.1:\d+ \(host 127\.0\.0\.1\); exiting$/);
  });

  const after = await status(sys);
  t.equal(after.epoch, before.epoch, 'epoch unchanged');
  t.equal(after.leader, leader, 'primary unchanged');
  t.same(after.members, before.members, 'members, addresses and readiness unchanged');
  const changes = sys.rm.events.slice(mark).filter((e) => ['membership_changed', 'ready_changed', 'view_changed', 'decision', 'supervision', 'launch_failed'].includes(e.type));
  t.same(changes.map((e) => e.text), [], 'the RM saw nothing');
  t.notOk(sys.gfd.events.slice(gmark).some((e) => e.type === 'lfd_lost' || e.type === 'membership_changed'), 'the GFD changed nothing');
  t.same(savedNames(sys), saved, 'no command line learned');
});

t.test('an LFD of another system on the same port and state folder adopts none of its command lines', async (t) => {
  const dir = t.testdir({});
  const base = await claimPorts(1); // system A's fixed ports, this test's alone and free now
  const a = new System({ mode: 'passive', heartbeat: 0.1, quietHeartbeats: true, replicas: 1, stateDir: dir, basePort: base });
  t.teardown(() => a.stop());
  await a.start();
  await a.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.length === 1, 15_000);
  await a.proc('LFD1').waitFor((e) => e.type === 'command_learned');
  t.ok(readdirSync(dir).some((f) => f.startsWith('lfd-LFD1@')), 'system A saved S1 for LFD1');
  await a.stop();

  // System B: its own RM and GFD (elsewhere), its LFD1 on the port A's LFD1 had, the same state folder.
  const b = new System({ mode: 'passive', heartbeat: 0.1, quietHeartbeats: true, replicas: 1, stateDir: dir });
  t.teardown(() => b.stop());
  await b.startRm();
  await b.startGfd();
  const lfd = await b.startLfd('LFD1', String(base + 101));
  await lfd.waitFor((e) => e.type === 'registered');
  await b.rm.waitFor((e) => e.type === 'gfd_registered');
  t.notOk(lfd.events.some((e) => e.type === 'commands_loaded'), 'nothing loaded from system A');
  // Asked for a replica it never ran, it has no command line to start it with (A's is not used).
  await b.ctl({ op: 'set', key: 'replicas', value: '1' });
  const failed = await lfd.waitFor((e) => e.type === 'launch_failed', 10_000);
  t.match(failed.text, /no server has registered here/);
});
