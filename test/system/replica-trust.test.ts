/**
 * Epochs come only from the RM, and replica messages only from the replica the RM named.
 *
 * An insider that holds the deployment secret (so it passes the handshake, as any member
 * would) but that the RM has not named connects to the leader's port and to a follower's port of a 3-replica counter
 * system that has acknowledged three `add 1`, and sends forged checkpoint, log, order, commit
 * and sync (and forward, to the leader):
 *   (a) after `welcome`, with a higher epoch than the RM's, as a real replica and as S9;
 *   (b) after `welcome`, with the current epoch, as S9 and as a real replica the RM did not
 *       name leader;
 *   (c) without `welcome`, and after a `welcome` that gave another name.
 * Nothing changes: the counter is still 3, the RM shows the same epoch, leader and roles, no
 * replica changes role or steps down, followers take state only from the leader, and the
 * replicas' traces show the held and refused messages. Both modes.
 */
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { System } from '../../harness/launch/system.js';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { decode, encode, type Message, type Mode } from '../../lib/protocol/index.js';
import { memberConnect, rawConnect, type RawPeer } from '../helpers/socket.js';
import { systemsAhead } from '../helpers/systems.js';
import { readSecret } from '../../lib/config/secrets.js';

const run = promisify(execFile);
const data = <T>(e: TraceEvent) => e.data as T;
const port = (addr: string) => Number(addr.split(':').at(-1));
const NAMES = ['S1', 'S2', 'S3'];

interface Status {
  mode: string;
  epoch: number;
  leader: string | null;
  members: Array<{ name: string; role: string; ready: boolean }>;
}

/** `ftkit ctl --rm … --json status`, as an operator would run it. */
async function ctlStatus(sys: System): Promise<Status> {
  const { stdout } = await run(process.execPath, [FTKIT_BIN, 'ctl', '--rm', sys.rmAddr, '--secret-file', sys.secretFile!, '--json', 'status'], { timeout: 20_000 });
  return JSON.parse(stdout) as Status;
}

const roles = (s: Status) => s.members.map(({ name, role, ready }) => ({ name, role, ready }));

/** What only the named leader may send, forged: a counter of a million, an entry and an order adding a million, a commit far ahead, a sync. */
function forged(from: string, to: string, epoch: number, withForward: boolean): Message[] {
  const msgs: Message[] = [
    { type: 'checkpoint', from, to, count: 999, state: '1000000', table: '[]', epoch, seq: 999_999 },
    { type: 'log', from, to, seq: 4, client: 'X1', num: 1, payload: 'add 1000000', epoch },
    { type: 'order', from, to, seq: 4, client: 'X1', num: 1, payload: 'add 1000000', epoch },
    { type: 'commit', from, to, seq: 999_999, epoch },
    { type: 'sync', from, to, seq: 0, epoch },
  ];
  if (withForward) msgs.push({ type: 'forward', from, to, client: 'X2', num: 1, payload: 'add 1000000' });
  return msgs;
}

const frames = (msgs: Message[]) => msgs.map((m) => encode(m)).join('\n');
const welcome = (from: string, to: string) => encode({ type: 'welcome', from, to });

/** Events of `type` a replica traced since `mark`. */
function since(sys: System, name: string, mark: number, type: string): TraceEvent[] {
  return sys.proc(name).events.slice(mark).filter((e) => e.type === type);
}

// One system per mode; the active one starts while the passive trial runs.
const MODES: Mode[] = ['passive', 'active'];
const systems = systemsAhead(
  t,
  MODES.map((mode) => ({ mode, app: 'counter', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, checkpointFreq: 0.5 })),
);

async function trial(t: Test, mode: Mode): Promise<void> {
  const sys = await systems.next();
  t.equal(sys.options.mode, mode, `a ${mode} system`);
  const intruders: RawPeer[] = [];
  t.teardown(async () => {
    for (const p of intruders) p.end();
    await sys.stop();
  });
  await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: unknown[] }>(e).ready.length === 3, 20_000);
  for (const [i, c] of ['C1', 'C2', 'C3'].entries()) t.equal((await sys.ask(c, 'add 1')).result, String(i + 1), `${c}: add 1 acknowledged`);

  const before = await ctlStatus(sys);
  const leader = before.leader!;
  t.ok(NAMES.includes(leader), `${leader} leads epoch ${before.epoch}`);
  t.same(roles(before).map((m) => m.ready), [true, true, true], 'three ready replicas');
  const [follower, other] = NAMES.filter((n) => n !== leader) as [string, string];
  const marks = new Map(NAMES.map((n) => [n, sys.proc(n).events.length]));
  const mark = (n: string) => marks.get(n)!;

  for (const target of [leader, follower]) {
    const proc = sys.proc(target);
    const addr = sys.serverAddrs.get(target)!;
    const secret = readSecret(sys.secretFile!);
    const open = async (text: string) => {
      const peer = await memberConnect(port(addr), secret, 'insider');
      intruders.push(peer);
      peer.send(text);
      return peer;
    };
    const isLeader = target === leader;
    // (a) a higher epoch, as the other real replica the intruder can name, and as S9: held, once per connection.
    const real = isLeader ? follower : leader;
    await open(welcome(real, target) + frames(forged(real, target, before.epoch + 1, false)));
    await open(welcome('S9', target) + frames(forged('S9', target, 999, false)));
    await proc.waitFor(() => since(sys, target, mark(target), 'held_ahead').length === 2, 10_000);
    // (b) the current epoch, as S9 and as a real replica that is not the leader: refused, each one.
    const notLeader = isLeader ? follower : other;
    await open(welcome('S9', target) + frames(forged('S9', target, before.epoch, isLeader)));
    await open(welcome(notLeader, target) + frames(forged(notLeader, target, before.epoch, false)));
    const refusals = 5 + (isLeader ? 1 : 0) + 5;
    await proc.waitFor(() => since(sys, target, mark(target), 'peer_refused').length >= refusals, 10_000);
    const refused = since(sys, target, mark(target), 'peer_refused');
    t.equal(refused.length, refusals, `${target} refused every forged message of the current epoch`);
    t.ok(refused.every((e) => e.category === 'fault'), 'in red');
    t.ok(refused.some((e) => /refusing checkpoint from S9 at epoch \d+: the RM named/.test(e.text)), `${target} names the sender and who the RM named: ${refused[0]?.text}`);
    if (!isLeader) t.ok(refused.some((e) => e.text.includes(`from ${notLeader} at epoch ${before.epoch}: the RM named ${leader} for epoch ${before.epoch}`)), `${target} refuses ${notLeader}: the RM named ${leader}`);
    else t.ok(refused.some((e) => e.text.includes('refusing forward from S9')), `${target} refuses a forward from S9, not in its group`);
    t.equal(since(sys, target, mark(target), 'held_ahead').length, 2, `${target} traced holding once per connection`);

    // (c) no welcome: a client's connection, which may send only requests.
    const bare = await open(frames(forged(real, target, before.epoch + 1, false)));
    t.match(decode(await bare.waitFor(/<[^<>]*, error>/)), { type: 'error', from: target, reason: /does not accept checkpoint .*only requests/ }, `${target}: no checkpoint without welcome`);
    await bare.closed;
    for (const m of forged(leader, target, before.epoch, false)) {
      const one = await open(encode(m));
      t.match(decode(await one.waitFor(/<[^<>]*, error>/)), { type: 'error', reason: new RegExp(`does not accept ${m.type} `) }, `${target}: no ${m.type} without welcome`);
      await one.closed;
    }
    // A welcome as one name, then messages as another.
    const liar = await open(welcome('S9', target) + frames(forged(leader, target, before.epoch, false)));
    t.match(decode(await liar.waitFor(/<[^<>]*, error>/)), { type: 'error', reason: `S9 sends checkpoint as ${leader}` }, `${target}: S9 cannot speak as ${leader}`);
    await liar.closed;
    t.ok(proc.running, `${target} still running`);
  }

  // Nothing changed: the acknowledged value, the RM's epoch, leader and roles, every replica's role.
  t.equal((await sys.ask('C4', 'get')).result, '3', 'a client still reads 3');
  t.equal((await sys.ask('C5', 'add 1')).result, '4', 'and the leader still commits');
  const after = await ctlStatus(sys);
  t.equal(after.epoch, before.epoch, `the RM's epoch is still ${before.epoch}`);
  t.equal(after.leader, leader, `${leader} still leads`);
  t.same(roles(after), roles(before), 'same roles, all ready');
  for (const n of NAMES) {
    const changed = sys.proc(n).events.slice(mark(n)).filter((e) => ['role_changed', 'step_down', 'ack_ahead', 'detached'].includes(e.type));
    t.same(changed.map((e) => e.text), [], `${n} kept its role and epoch`);
    const foreign = sys.proc(n).events.slice(mark(n)).filter((e) => ['checkpoint_received', 'log_held'].includes(e.type) && !new RegExp(`from ${leader}\\b`).test(e.text));
    t.same(foreign.map((e) => e.text), [], `${n} took state and entries only from ${leader}`);
  }
  if (mode === 'active') {
    // Every member answers from its own state: none applied the forged order or checkpoint.
    for (const n of NAMES) {
      const c = await rawConnect(port(sys.serverAddrs.get(n)!));
      intruders.push(c);
      c.send(encode({ type: 'request', client: 'R1', server: n, num: 1, payload: 'get' }));
      t.match(decode(await c.waitFor(/<R1, [^<>]*, (reply|reject)>/, 10_000)), { type: 'reply', server: n, result: '4' }, `${n} holds 4`);
    }
  } else {
    // Each backup installs the primary's next checkpoint, of the true state.
    for (const b of [follower, other]) {
      const at = sys.proc(b).events.length;
      const got = await sys.proc(b).waitFor((e) => e.type === 'checkpoint_received', 10_000, at);
      t.match(got.text, new RegExp(`\\[my_state=4\\] ${b} receives checkpoint from ${leader}$`), `${b} holds 4, from ${leader}`);
    }
  }
}

for (const mode of MODES) t.test(`${mode}: forged replica messages change nothing`, (t) => trial(t, mode));
