/**
 * Active replication: a request that reaches only one replica, and not the sequencer,
 * is still applied by every replica, once, in the same place of the total order.
 */
import t from 'tap';
import type { System } from '../../harness/launch/system.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { decode } from '../../lib/protocol/index.js';
import { parseAddress } from '../../lib/net/index.js';
import { rawConnect } from '../helpers/socket.js';
import { systemsAhead } from '../helpers/systems.js';

const data = <T>(e: TraceEvent) => e.data as T;
const port = (addr: string) => parseAddress(addr).port;
const SERVERS = ['S1', 'S2', 'S3'];
type View = { view: Array<{ name: string }>; leader: string };
// One system per subtest, each started while the subtest before it runs.
const systems = systemsAhead(t, [
  { mode: 'active', app: 'log', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1 },
  { mode: 'active', app: 'log', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1 },
  { mode: 'active', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1 },
]);

/** Send `read` as client `reader` and collect the answer each replica sent. */
async function readEverywhere(sys: System, reader: string): Promise<Map<string, string[]>> {
  await sys.ask(reader, 'read');
  const out = new Map<string, string[]>();
  for (const s of SERVERS) {
    const e = await sys.proc(s).waitFor((ev) => ev.type === 'reply_sent' && data<{ client: string }>(ev).client === reader, 10_000);
    out.set(s, JSON.parse(data<{ result: string }>(e).result) as string[]);
  }
  return out;
}

t.test('a request sent to one non-sequencer replica only is applied by every replica', async (t) => {
  const sys = await systems.next();
  t.teardown(() => sys.stop());
  // all three ready and announced to clients
  const view = await sys.rm.waitFor((e) => e.type === 'view_changed' && data<View>(e).view.length === 3, 10_000);
  const sequencer = data<View>(view).leader;
  const lonely = SERVERS.filter((s) => s !== sequencer).at(-1)!;
  t.comment(`sequencer ${sequencer}; sending to ${lonely} only`);
  for (const s of SERVERS) await sys.proc(s).waitFor((e) => e.type === 'role_changed' && data<{ ready: boolean }>(e).ready, 10_000);

  // some ordinary traffic first, so the lonely request is not at position 1 by luck
  await sys.ask('C1', 'append first');

  const raw = await rawConnect(port(sys.serverAddrs.get(lonely)!));
  t.teardown(() => raw.end());
  raw.send(`<C9, ${lonely}, 1, append lonely, request>\n`);
  const answer = decode(await raw.waitFor(/<[^<>]*, (reply|reject|error)>/));
  t.same(answer, { type: 'reply', client: 'C9', server: lonely, num: 1, result: '2' }, `${lonely} answers: lonely is entry 2`);

  // every replica applied it, once, after "first"
  for (const s of SERVERS) {
    const after = await sys.proc(s).waitFor((e) => e.type === 'state_after' && data<{ client: string; num: number }>(e).client === 'C9', 5000);
    t.equal(after.text, `my_state_${s} = [2 entries, last "lonely"] after processing <C9, ${s}, 1, request>`, `${s} applied it`);
    t.equal(data<{ seq: number }>(after).seq, 2, `${s} applied it at seq 2`);
  }
  const forwarded = sys.proc(sequencer).events.filter((e) => e.type === 'request_received' && data<{ client: string; inOrder?: boolean }>(e).client === 'C9' && !data<{ inOrder?: boolean }>(e).inOrder);
  t.same(forwarded, [], `the sequencer ${sequencer} never got the request from a client`);

  const logs = await readEverywhere(sys, 'R1');
  for (const s of SERVERS) {
    const log = logs.get(s)!;
    t.same(log, ['first', 'lonely'], `${s} holds first, lonely`);
    t.equal(log.filter((x) => x === 'lonely').length, 1, `${s} holds lonely exactly once`);
  }

  // and the order goes on: the next request lands after it everywhere
  await sys.ask('C2', 'append next');
  const again = await readEverywhere(sys, 'R2');
  for (const s of SERVERS) t.same(again.get(s), ['first', 'lonely', 'next'], `${s}: next comes after lonely`);
  for (const s of SERVERS) {
    const applied = sys.proc(s).events.filter((e) => e.type === 'state_after' && data<{ client: string }>(e).client === 'C9');
    t.equal(applied.length, 1, `${s} executed the lonely request once`);
  }
});

t.test('lonely requests to both non-sequencers, amid ordinary traffic, keep the replicas identical', async (t) => {
  const sys = await systems.next();
  t.teardown(() => sys.stop());
  const view = await sys.rm.waitFor((e) => e.type === 'view_changed' && data<View>(e).view.length === 3, 10_000);
  const followers = SERVERS.filter((s) => s !== data<View>(view).leader);
  const writer = sys.startClient('C1', ['--message', 'append C1-{n}', '--interval', '0.01', '--timeout', '1']);
  await writer.waitFor((e) => e.type === 'request_done' && data<{ num: number }>(e).num >= 5, 10_000);

  // each raw client sends three requests to one follower, without waiting for replies
  const N = 3;
  const raws = await Promise.all(followers.map(async (s) => ({ s, raw: await rawConnect(port(sys.serverAddrs.get(s)!)) })));
  t.teardown(() => raws.forEach(({ raw }) => raw.end()));
  raws.forEach(({ s, raw }, i) => {
    for (let n = 1; n <= N; n++) raw.send(`<L${i}, ${s}, ${n}, append L${i}-${n}, request>\n`);
  });
  for (const [i, { s, raw }] of raws.entries()) {
    await raw.waitFor(new RegExp(`<L${i}, ${s}, ${N}, \\d+, reply>`), 10_000);
    const nums = [...raw.received().matchAll(/<L\d, S\d, (\d+), \d+, reply>/g)].map((m) => Number(m[1]));
    t.same(nums, [1, 2, 3], `${s} answered L${i}'s three requests, in order`);
  }
  await writer.waitFor((e) => e.type === 'request_done' && data<{ num: number }>(e).num >= 15, 10_000);
  await writer.stop();

  const logs = await readEverywhere(sys, 'R1');
  const reference = logs.get('S1')!;
  for (const s of SERVERS) t.same(logs.get(s), reference, `${s} holds the same log as S1`);
  const lonely = reference.filter((x) => x.startsWith('L'));
  t.same([...lonely].sort(), ['L0-1', 'L0-2', 'L0-3', 'L1-1', 'L1-2', 'L1-3'], 'every lonely append is there exactly once');
  for (const i of [0, 1]) {
    const mine = reference.filter((x) => x.startsWith(`L${i}-`));
    t.same(mine, [1, 2, 3].map((n) => `L${i}-${n}`), `L${i}'s appends are in its sending order`);
  }
  t.equal(new Set(reference).size, reference.length, 'no entry twice');
});

t.test('every replica prints Received <…, request> before my_state … before processing, once per request', async (t) => {
  const sys = await systems.next();
  t.teardown(() => sys.stop());
  await sys.rm.waitFor((e) => e.type === 'view_changed' && data<View>(e).view.length === 3, 10_000);
  const N = 20;
  const client = sys.startClient('C1', ['--count', String(N), '--interval', '0.01', '--timeout', '1']);
  t.equal((await client.exited).code, 0, `C1 got ${N} replies`);
  for (const s of SERVERS) {
    // every replica applies request N; its lines for the earlier ones are in by then
    await sys.proc(s).waitFor((e) => e.type === 'state_after' && data<{ client: string; num: number }>(e).client === 'C1' && data<{ num: number }>(e).num === N, 10_000);
    const lines = sys.proc(s).events.filter((e) => data<{ client?: string }>(e)?.client === 'C1').map((e) => e.text);
    const misplaced: number[] = [];
    for (let num = 1; num <= N; num++) {
      const brief = `<C1, ${s}, ${num}, request>`;
      const received = lines.filter((l) => l === `Received ${brief}`);
      const before = lines.findIndex((l) => l.endsWith(`before processing ${brief}`));
      if (received.length !== 1 || before < 0 || lines.indexOf(`Received ${brief}`) > before) misplaced.push(num);
    }
    t.same(misplaced, [], `${s}: one Received line per request, before its my_state … before processing`);
  }
});
