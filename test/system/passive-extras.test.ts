/**
 * Passive replication, beyond failover: choosing the primary (--primary, ctl set primary),
 * changing checkpoint-freq at run time, the course's trace notation for one request, the
 * dedup table seen from a raw socket, a client that gives up, an interactive client, and
 * backups refusing clients. All but the give-up test (an RM alone) run against one system,
 * one after another, each reading the counter's total before it changes it.
 */
import t from 'tap';
import { System } from '../../harness/launch/system.js';
import type { Proc } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { decode } from '../../lib/protocol/index.js';
import { parseAddress } from '../../lib/net/index.js';
import { rawConnect } from '../helpers/socket.js';

const data = <T>(e: TraceEvent) => e.data as T;
const done = (c: Proc) => c.events.filter((e) => e.type === 'request_done');
const port = (addr: string) => parseAddress(addr).port;
type View = { view: Array<{ name: string; addr: string }>; leader: string; epoch: number };

/** Resolves with the RM's first view (from event index `from`) that shows `leader` as the primary to clients. */
function viewWith(sys: System, leader: string, ms = 10_000, from = 0): Promise<TraceEvent> {
  return sys.rm.waitFor((e) => e.type === 'view_changed' && data<View>(e).leader === leader && data<View>(e).view.some((m) => m.name === leader), ms, from);
}

/** Resolves when `server` has been made a ready replica with `role`. */
function readyAs(sys: System, server: string, role: string, ms = 10_000): Promise<TraceEvent> {
  return sys.proc(server).waitFor((e) => e.type === 'role_changed' && data<{ role: string; ready: boolean }>(e).role === role && data<{ ready: boolean }>(e).ready, ms);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const gaps = (times: number[]) => times.slice(1).map((x, i) => x - times[i]!);

/** The counter's total, read with a one-shot client `name` (each name is used once: a client's request numbers start at 1). */
async function total(sys: System, name: string): Promise<number> {
  return Number((await sys.ask(name, 'get')).result);
}

t.test('a client with no replica to talk to retries, then gives up with status 1', async (t) => {
  const sys = new System({ mode: 'passive', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1 });
  t.teardown(() => sys.stop());
  await sys.startRm();
  const c = sys.startClient('C1', ['--give-up', '1', '--timeout', '0.2']);
  const retry = await c.waitFor((e) => e.type === 'retry', 5000);
  t.match(retry.text, /^C1: request_num 1 not answered \(no replica is ready\); retrying in \d+ ms$/);
  const gaveUp = await c.waitFor((e) => e.type === 'client_gave_up', 10_000);
  t.match(gaveUp.text, /^C1: .*giving up/, gaveUp.text);
  t.ok(c.events.indexOf(retry) < c.events.indexOf(gaveUp), 'it retried before giving up');
  t.ok(gaveUp.time - c.events[0]!.time >= 1000, 'not before the give-up time');
  const exit = await c.exited;
  t.equal(exit.code, 1, 'exit status 1');
  t.notOk(c.events.some((e) => e.type === 'request_done'), 'nothing was answered');
});

// The other subtests share one system, in an order where none disturbs the next: the traced
// request comes first (it sees the counter at 0), the ones that read totals compare with the
// total they read first, and the primary moves last. Every client name is used once.
t.test('one passive system started with --primary S2 (checkpoint-freq 1 s)', async (t) => {
  const sys = new System({ mode: 'passive', app: 'counter', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, checkpointFreq: 1, rmArgs: ['--primary', 'S2'] });
  t.teardown(() => sys.stop());
  await sys.start();
  // every replica has been made ready: the RM has decided who leads
  await Promise.all(['S1', 'S2', 'S3'].map((s) => sys.proc(s).waitFor((e) => e.type === 'role_changed' && data<{ ready: boolean }>(e).ready, 10_000)));
  const primary = 'S2';
  const backup = 'S1';

  t.test('--primary S2 makes S2 the primary', async (t) => {
    const s2view = await viewWith(sys, 'S2', 1000).catch(() => undefined);
    const decisions = sys.rm.events.filter((e) => e.type === 'view_changed' || e.type === 'decision').map((e) => e.text);
    t.ok(s2view, `the RM made S2 the primary; its decisions and views were:\n${decisions.join('\n')}`);
    await readyAs(sys, backup, 'backup');
  });

  t.test('one request, traced in the course notation by the primary and the client', async (t) => {
    const c = sys.startClient('C1', ['--message', 'add 5', '--count', '1', '--timeout', '1']);
    t.equal((await c.exited).code, 0);
    const brief = `<C1, ${primary}, 1, request>`;
    const p = sys.proc(primary);
    const wanted = [
      new RegExp(`^Received ${esc(brief)}$`),
      new RegExp(`^my_state_${primary} = 0 before processing ${esc(brief)}$`),
      new RegExp(`^my_state_${primary} = 5 after processing ${esc(brief)}$`),
      new RegExp(`^Sending ${esc(`<C1, ${primary}, 1, reply>`)}$`),
    ];
    const at = wanted.map((re) => p.events.findIndex((e) => re.test(e.text)));
    t.ok(at.every((i) => i >= 0), `the primary traced all four lines (${at.join(', ')})`);
    t.same([...at].sort((a, b) => a - b), at, 'in order: received, before, after, sending');
    for (const i of at) if (i >= 0) t.comment(p.events[i]!.text);

    const sent = c.events.findIndex((e) => e.text === `Sent ${brief}`);
    const received = c.events.findIndex((e) => e.text === `Received <C1, ${primary}, 1, reply>`);
    const result = c.events.findIndex((e) => e.text === `C1: request_num 1 answered by ${primary}: 5`);
    t.ok(sent >= 0, `client: Sent ${brief}`);
    t.ok(received > sent, `client: Received <C1, ${primary}, 1, reply>, exactly, after it was sent`);
    t.ok(result > received, 'then the result (5) on a line of its own');
  });

  t.test('a repeated request is answered from the dedup table; an older one is stale', async (t) => {
    const p = sys.proc(primary);
    const base = await total(sys, 'G1');
    const mark = p.events.length;
    const raw = await rawConnect(port(sys.serverAddrs.get(primary)!));
    t.teardown(() => raw.end());
    const request = `<C9, ${primary}, 5, add 10, request>\n`;
    const reply = new RegExp(`<C9, ${primary}, 5, [^<>]*, reply>`);
    const replies = () => [...raw.received().matchAll(new RegExp(reply.source, 'g'))].map((m) => decode(m[0]));

    raw.send(request);
    await raw.waitFor(reply);
    raw.send(request);
    const duplicate = await p.waitFor((e) => e.type === 'duplicate_request', 5000, mark);
    await raw.waitFor(new RegExp(`(${reply.source})[^]*${reply.source}`));
    t.same(replies(), [
      { type: 'reply', client: 'C9', server: primary, num: 5, result: String(base + 10) },
      { type: 'reply', client: 'C9', server: primary, num: 5, result: String(base + 10) },
    ], 'both copies answered with the same result');
    const executed = p.events.filter((e) => e.type === 'state_after' && data<{ client: string }>(e).client === 'C9');
    t.equal(executed.length, 1, 'executed once');
    t.match(duplicate.text, /^request_num 5 from C9 already executed: answering from the dedup table$/);

    t.equal(await total(sys, 'G2'), base + 10, 'add 10 counted once');

    raw.send(`<C9, ${primary}, 4, add 10, request>\n`);
    const reject = decode(await raw.waitFor(new RegExp(`<C9, ${primary}, 4, [^<>]*, reject>`)));
    t.match(reject, { type: 'reject', client: 'C9', server: primary, num: 4, reason: /^stale/ }, 'a lower number is rejected as stale');
    t.comment(`reason: ${(reject as { reason: string }).reason}`);
    t.equal(await total(sys, 'G3'), base + 10, 'the stale request changed nothing');
  });

  t.test('a backup answers clients with reject not_primary', async (t) => {
    const b = sys.proc(backup);
    const base = await total(sys, 'G4');
    const mark = b.events.length;
    const raw = await rawConnect(port(sys.serverAddrs.get(backup)!));
    t.teardown(() => raw.end());
    raw.send(`<C8, ${backup}, 1, add 1, request>\n`);
    const answer = await raw.waitFor(/<[^<>]*, (reject|reply)>/);
    t.same(decode(answer), { type: 'reject', client: 'C8', server: backup, num: 1, reason: 'not_primary' });
    const traced = await b.waitFor((e) => e.type === 'request_rejected', 5000, mark);
    t.equal(traced.text, `Rejecting <C8, ${backup}, 1, request>: not_primary`);
    t.notOk(b.events.some((e) => e.type === 'state_after'), 'the backup executed nothing');
    t.equal(await total(sys, 'G5'), base, 'nothing was added anywhere');
  });

  t.test('--interactive sends the lines typed on stdin', async (t) => {
    const base = await total(sys, 'G6');
    const c = sys.group.spawn('C2', ['client', 'C2', '--rm', sys.rmAddr, '--interactive', '--json', ...sys.securityArgs('client')], { stdin: true });
    c.child.stdin!.write('add 2\n');
    const first = await c.waitFor((e) => e.type === 'request_done', 10_000);
    t.match(first.data, { num: 1, result: String(base + 2) }, 'add 2 -> +2');
    c.child.stdin!.write('\nadd 3\n');
    const second = await c.waitFor((e) => e.type === 'request_done' && e !== first, 10_000);
    t.match(second.data, { num: 2, result: String(base + 5) }, 'add 3 -> +5 (the blank line is skipped)');
    c.child.stdin!.end();
    const exit = await c.exited;
    t.equal(exit.code, 0, 'end of input ends the client with status 0');
    t.equal(done(c).length, 2, 'exactly two requests');
    t.ok(c.events.some((e) => e.type === 'client_done'), 'client_done traced');
  });

  t.test('checkpoint-freq changes at run time', async (t) => {
    const p = sys.proc(primary);
    const toBackup = (e: TraceEvent) => e.type === 'checkpoint_sent' && data<{ to: string }>(e).to === backup;
    const sentAfter = (from: number) => p.events.slice(from).filter(toBackup).map((e) => e.time);

    // at 1 s: four periodic checkpoints to the backup, three intervals
    const mark = p.events.length;
    await p.waitFor(() => sentAfter(mark).length >= 4, 10_000);
    const slow = gaps(sentAfter(mark));

    const answer = await sys.ctl({ op: 'set', key: 'checkpoint-freq', value: '0.3' });
    t.equal(answer, 'checkpoint-freq = 0.3');
    for (const s of ['S1', 'S2', 'S3']) {
      const e = await sys.proc(s).waitFor((ev) => ev.type === 'property_set' && /checkpoint_freq/.test(ev.text), 5000);
      t.equal(e.text, `${s}: checkpoint_freq = 0.3 s`, `${s} traced the new checkpoint_freq`);
    }
    const set = p.events.findIndex((e) => e.type === 'property_set' && /checkpoint_freq/.test(e.text));
    await p.waitFor(() => sentAfter(set).length >= 6, 10_000);
    const fast = gaps(sentAfter(set));
    t.comment(`intervals at 1 s: ${slow.join(', ')} ms; at 0.3 s: ${fast.join(', ')} ms`);
    t.ok(median(slow) >= 700 && median(slow) <= 1500, `median interval at 1 s is ${median(slow)} ms`);
    t.ok(median(fast) >= 150 && median(fast) <= 550, `median interval at 0.3 s is ${median(fast)} ms`);
  });

  t.test('ctl set primary S3 moves the primary from S2, losing nothing', async (t) => {
    const base = await total(sys, 'G7');
    const TOTAL = 40;
    const client = sys.startClient('C3', ['--message', 'add 1', '--interval', '0.05', '--timeout', '1', '--count', String(TOTAL)]);
    await client.waitFor(() => done(client).length >= 8, 20_000);
    const early = done(client).slice(0, 8).map((e) => data<{ server: string }>(e).server);
    t.same(early, early.map(() => 'S2'), 'the first replies come from S2');

    // move the primary to S3 while the client runs
    const before = sys.rm.events.length;
    const epochBefore = data<View>(sys.rm.events.filter((e) => e.type === 'view_changed').at(-1)!).epoch;
    const answer = await sys.ctl({ op: 'set', key: 'primary', value: 'S3' });
    t.equal(answer, 'primary = S3', 'the RM confirms');
    const moved = await viewWith(sys, 'S3', 10_000, before);
    t.ok(data<View>(moved).epoch > epochBefore, `epoch went up: ${epochBefore} -> ${data<View>(moved).epoch}`);
    t.same(data<View>(moved).view.map((m) => m.name), ['S3'], 'clients are told to use S3 only');
    await readyAs(sys, 'S3', 'primary');

    // the client finishes its run on its own: nothing is in flight when we read
    const exit = await client.exited;
    t.equal(exit.code, 0, 'the client ran to completion');
    const replies = done(client);
    t.equal(replies.length, TOTAL, `${TOTAL} requests acknowledged`);
    t.same(
      replies.map((e) => data<{ num: number; result: string }>(e).result),
      replies.map((_, i) => String(base + i + 1)),
      'request n saw the total (before the run) + n: every add applied once, in order, across the switch',
    );
    const afterSwitch = replies.filter((e) => e.time > moved.time).map((e) => data<{ server: string }>(e).server);
    t.ok(afterSwitch.length > 0, `${afterSwitch.length} replies after the switch`);
    t.same(afterSwitch.slice(-5), ['S3', 'S3', 'S3', 'S3', 'S3'], 'replies now come from S3');

    const get = await sys.ask('G8', 'get');
    t.equal(get.server, 'S3', 'the read is answered by S3');
    t.equal(get.result, String(base + TOTAL), 'the total equals the number of acknowledged adds');
  });
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
