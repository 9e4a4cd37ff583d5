/**
 * The course's milestones 1–3 without an RM, with the real `ftkit` processes on 127.0.0.1:
 * M1 (one server, its LFD without a GFD, three clients given the server), M2 (three static active
 * replicas, their LFDs, a GFD without an RM, a client sending to all three), M3 (static passive,
 * checkpoint-only: backups change only through checkpoints). No RM runs, and nothing says it does.
 */
import t, { type Test } from 'tap';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcGroup, type Proc } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';

/** Free ports on 127.0.0.1 (ephemeral), for replicas whose peers must know their address before they start. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

function setUp(t: Test): { group: ProcGroup; stateDir: string } {
  const group = new ProcGroup();
  const stateDir = mkdtempSync(join(tmpdir(), 'ftkit-no-rm-'));
  t.teardown(async () => {
    await group.stopAll();
    rmSync(stateDir, { recursive: true, force: true });
  });
  return { group, stateDir };
}

const done = (c: Proc) => c.events.filter((e) => e.type === 'request_done');
const data = <T>(e: TraceEvent) => e.data as T;

/** Resolves when `c` has had `n` more replies than it had at `from` replies. */
function replies(c: Proc, n: number, from = done(c).length): Promise<TraceEvent> {
  return c.waitFor(() => done(c).length >= from + n, 20_000);
}

/** No process printed a line of an RM, and none tried to reach one. */
function noRm(t: Test, procs: Iterable<Proc>): void {
  const all = [...procs];
  t.notOk(all.some((p) => p.name === 'RM'), 'no RM was started');
  const rmLines = all.flatMap((p) => p.events.filter((e) => /^RM\b/.test(e.text) || e.component === 'RM' || e.type === 'rm_unreachable' || e.type === 'rm_lost' || e.type === 'rm_ignored'));
  t.same(rmLines.map((e) => `${e.component}: ${e.text}`), [], 'no line from or about an RM anywhere');
}

t.test('M1: one server, its LFD without a GFD, three clients; kill -9 and relaunch the server', async (t) => {
  const { group, stateDir } = setUp(t);
  const [lfdPort, s1Port] = await freePorts(2);
  const lfd = group.spawn('LFD1', ['lfd', 'LFD1', '--port', String(lfdPort), '--no-gfd', '--heartbeat-freq', '0.1', '--state-dir', stateDir, '--json']);
  await lfd.address();
  const serverArgs = ['server', 'S1', '--static', '--port', String(s1Port), '--lfd', `127.0.0.1:${lfdPort}`, '--json'];
  let s1 = group.spawn('S1', serverArgs);
  await s1.address();
  const clients = ['C1', 'C2', 'C3'].map((c) => group.spawn(c, ['client', c, '--servers', `S1=127.0.0.1:${s1Port}`, '--message', `hello_from_${c}_{n}`, '--interval', '0.05', '--timeout', '1', '--json']));
  await Promise.all(clients.map((c) => replies(c, 3)));
  t.pass('every client is answered by S1');
  for (const c of clients) t.ok(done(c).every((e) => data<{ server: string }>(e).server === 'S1'), `${c.name}: every reply from S1`);

  // heartbeat lines on both sides
  const sent = await lfd.waitFor((e) => e.type === 'heartbeat_sent');
  t.match(sent.text, /^\[\d+\] LFD1 sending heartbeat to S1$/);
  t.match((await lfd.waitFor((e) => e.type === 'heartbeat_received')).text, /^\[\d+\] LFD1 receives heartbeat from S1$/);
  t.match((await s1.waitFor((e) => e.type === 'heartbeat_answered')).text, /^\[\d+\] S1 receives heartbeat from LFD1 and answers$/);
  t.match((await lfd.waitFor((e) => e.type === 'no_gfd')).text, 'LFD1: no GFD: heartbeating my servers, reporting to no one');

  // kill -9 S1: the LFD's failed-heartbeat line; the clients keep trying
  const marks = clients.map((c) => c.events.length);
  const lfdMark = lfd.events.length;
  s1.kill('SIGKILL');
  await s1.exited;
  const failed = await lfd.waitFor((e) => e.type === 'heartbeat_failed', 10_000, lfdMark);
  t.match(failed.text, /^\[\d+\] LFD1: heartbeat to S1 failed/, `LFD1 says so: ${failed.text}`);
  t.equal(failed.category, 'fault');
  await Promise.all(clients.map((c, i) => c.waitFor((e) => e.type === 'retry', 10_000, marks[i])));
  t.pass('every client retries while S1 is down');
  for (const c of clients) t.ok(c.running, `${c.name} is still running`);

  // relaunch S1: the clients resume
  const counts = clients.map((c) => done(c).length);
  s1 = group.spawn('S1', serverArgs);
  await s1.address();
  await Promise.all(clients.map((c, i) => replies(c, 3, counts[i])));
  t.pass('every client is answered again once S1 is back');
  await lfd.waitFor((e) => e.type === 'heartbeat_received' && e.time > failed.time);
  noRm(t, group.procs.values());
  t.same(lfd.events.filter((e) => e.type === 'gfd_unreachable'), [], 'the LFD never tried to reach a GFD');
});

t.test('M2: three static active replicas, their LFDs, a GFD without an RM; the client sends to all three', async (t) => {
  const { group, stateDir } = setUp(t);
  const ports = await freePorts(3);
  const members = ports.map((p, i) => `S${i + 1}=127.0.0.1:${p}`).join(',');
  const gfd = group.spawn('GFD', ['gfd', '--port', '0', '--no-rm', '--heartbeat-freq', '0.1', '--json']);
  const gfdAddr = await gfd.address();
  t.match((await gfd.waitFor((e) => e.type === 'membership_changed')).text, 'GFD: 0 members');
  const lfdAddrs: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const lfd = group.spawn(`LFD${i}`, ['lfd', `LFD${i}`, '--port', '0', '--gfd', gfdAddr, '--heartbeat-freq', '0.1', '--state-dir', stateDir, '--no-fence', '--json']);
    lfdAddrs.push(await lfd.address());
  }
  const startServer = async (i: number): Promise<Proc> => {
    const s = group.spawn(`S${i}`, ['server', `S${i}`, '--port', String(ports[i - 1]), '--lfd', lfdAddrs[i - 1]!, '--group', members, '--mode', 'active', '--json']);
    await s.address();
    return s;
  };
  for (let i = 1; i <= 3; i++) await startServer(i);
  await gfd.waitForText('GFD: 1 member: S1');
  await gfd.waitForText('GFD: 3 members: S1, S2, S3');
  t.pass('the GFD prints each membership change');

  const c1 = group.spawn('C1', ['client', 'C1', '--servers', members, '--mode', 'active', '--interval', '0.05', '--timeout', '1', '--json']);
  await c1.waitFor((e) => e.type === 'duplicate_reply');
  await replies(c1, 10);
  const dup = c1.events.find((e) => e.type === 'duplicate_reply')!;
  t.match(dup.text, /^request_num \d+: Discarded duplicate reply from S[123]$/, dup.text);
  t.equal(c1.events.filter((e) => e.type === 'view')[0]?.text, 'C1: active replication; replicas: S1, S2, S3 (given: no RM)');

  // kill -9 S3: the GFD drops it, the client goes on with S1 and S2
  const gfdMark = gfd.events.length;
  group.get('S3').kill('SIGKILL');
  await gfd.waitForText('GFD: 2 members: S1, S2', 10_000, gfdMark);
  const before = done(c1).length;
  await replies(c1, 10, before);
  t.ok(done(c1).slice(before).every((e) => data<{ server: string }>(e).server !== 'S3'), 'answered without S3');

  // relaunch S3: it catches up, and its replies come back as duplicates
  const c1Mark = c1.events.length;
  const s3 = await startServer(3);
  await s3.waitFor((e) => e.type === 'checkpoint_received');
  await gfd.waitForText('GFD: 3 members: S1, S2, S3', 10_000, gfdMark);
  await c1.waitFor((e) => e.type === 'duplicate_reply' && data<{ server: string }>(e).server === 'S3', 10_000, c1Mark);
  t.pass('S3 is back: the GFD lists it, and it answers again');

  // every request was answered once, in order, and no replica's request was ever executed twice
  await c1.stop();
  const nums = done(c1).map((e) => data<{ num: number }>(e).num);
  t.same(nums, nums.map((_, i) => i + 1), `requests 1..${nums.length} each answered once`);
  t.same(c1.events.filter((e) => e.type === 'client_gave_up'), [], 'the client never gave up');
  noRm(t, group.procs.values());
});

t.test('M3: static passive, checkpoint-only: backups change only through checkpoints; the client sends only to the primary', async (t) => {
  const { group } = setUp(t);
  const ports = await freePorts(3);
  const members = ports.map((p, i) => `S${i + 1}=127.0.0.1:${p}`).join(',');
  const startServer = async (i: number): Promise<Proc> => {
    const args = ['server', `S${i}`, '--port', String(ports[i - 1]), '--no-lfd', '--group', members, '--mode', 'passive', '--passive', 'checkpoint-only'];
    const s = group.spawn(`S${i}`, [...args, '--app', 'counter', '--checkpoint-freq', '0.3', '--json']);
    await s.address();
    return s;
  };
  const [s1, s2, s3] = [await startServer(1), await startServer(2), await startServer(3)];
  t.match((await s1.waitFor((e) => e.type === 'checkpoint_only')).text, /^S1: checkpoint-only passive replication/);
  const c1 = group.spawn('C1', ['client', 'C1', '--servers', members, '--mode', 'passive', '--message', 'add 1', '--interval', '0.02', '--timeout', '1', '--count', '80', '--json']);
  await replies(c1, 20);
  for (const b of [s2, s3]) await b.waitFor((e) => e.type === 'checkpoint_received' && !/my_state=0\]/.test(e.text));

  // kill -9 a backup and start it again: it gets the primary's state from a checkpoint
  s3.kill('SIGKILL');
  await s3.exited;
  const again = await startServer(3);
  const first = await again.waitFor((e) => e.type === 'checkpoint_received');
  t.match(first.text, /^\[\d+\] \[my_state=[1-9]\d*\] S3 receives checkpoint from S1$/, `the restarted backup holds the primary's state again: ${first.text}`);

  // once the client is done, the next checkpoint brings each backup to the primary's final state
  t.equal((await c1.exited).code, 0, 'the client got its 80 replies');
  const final = s1.events.filter((e) => e.type === 'state_after').at(-1)!;
  const state = data<{ state: string }>(final).state;
  t.equal(state, '80', 'the primary executed each of the 80 requests once');
  for (const b of [s2, again]) {
    const cp = await b.waitFor((e) => e.type === 'checkpoint_received' && e.text.includes(`[my_state=${state}]`));
    t.match(cp.text, new RegExp(`^\\[\\d+\\] \\[my_state=${state}\\] ${b.name} receives checkpoint from S1$`), cp.text);
  }

  // checkpoints are numbered from 1, one more each time; the backups' follow the primary's
  const counts = (p: Proc, type: string) => p.events.filter((e) => e.type === type).map((e) => data<{ count: number }>(e).count);
  const sentCounts = [...new Set(counts(s1, 'checkpoint_sent'))];
  t.same(sentCounts, sentCounts.map((_, i) => i + 1), `the primary's checkpoints count 1, 2, … ${sentCounts.length}`);
  for (const b of [s2, s3, again]) {
    const got = counts(b, 'checkpoint_received');
    t.ok(got.length > 0 && got.every((n, i) => sentCounts.includes(n) && (i === 0 || n > got[i - 1]!)), `${b.name} received checkpoints ${got.slice(0, 5).join(', ')}…, in order`);
  }
  t.ok(counts(s2, 'checkpoint_received')[0]! <= 2, "S2's first checkpoint is one of the first two (one per backup on connect)");
  for (const b of [s2, s3, again]) {
    t.same(b.events.filter((e) => e.type === 'log_held'), [], `${b.name} got no log entry`);
    t.same(b.events.filter((e) => e.type === 'reply_sent' || e.type === 'state_after'), [], `${b.name} executed nothing and answered no one`);
  }
  t.ok(c1.events.filter((e) => e.type === 'request_sent').every((e) => data<{ server: string }>(e).server === 'S1'), 'the client sent only to the primary');
  noRm(t, group.procs.values());
});
