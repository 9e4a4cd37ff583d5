/**
 * Issue 11, parts 1 and 4: every reply is consistent with one order of all operations.
 *
 * A client with a stale view talks to the sequencer's address only. The sequencer is
 * frozen (alone, or together with its LFD: a machine cut off, which no LFD can fence)
 * until the RM has elected another and the new one has ordered more; the stale client's
 * requests queue in the frozen sequencer's sockets. When it resumes, the deposed
 * sequencer must answer none of them from its own order: every reply anyone got is
 * checked against the final log (an append's index, a read's whole log).
 *
 * (A client that half-closes after sending: half-close.test.ts.)
 */
import t, { type Test } from 'tap';
import { System } from '../../harness/launch/system.js';
import type { Proc } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { encode, decode, Framer, type Message } from '../../lib/protocol/index.js';
import { rawConnect, type RawPeer } from '../helpers/socket.js';

const data = <T>(e: TraceEvent) => e.data as T;
const port = (addr: string) => Number(addr.split(':').at(-1));
const done = (c: Proc) => c.events.filter((e) => e.type === 'request_done');

interface View {
  leader: string;
  epoch: number;
  view: Array<{ name: string }>;
}

/** Every frame received on a raw connection, decoded. */
function frames(peer: RawPeer): Message[] {
  const framer = new Framer(1 << 20);
  return framer.push(peer.received()).map((f) => decode(f));
}

/** What the stale client sends while the sequencer is frozen: appends and reads, one request per client name. */
function staleRequests(target: string, count: number): Array<{ client: string; payload: string; frame: string }> {
  const out = [];
  for (let i = 1; i <= count; i++) {
    const client = `X${i}`;
    const payload = i % 4 === 0 ? 'read' : `append ${client}-1`;
    out.push({ client, payload, frame: encode({ type: 'request', client, server: target, num: 1, payload }) });
  }
  return out;
}

/**
 * Check every reply against the final log: an append answered with index i is the i-th
 * entry; a read returned exactly the first entries of the final log.
 */
function checkReplies(t: Test, final: string[], replies: Array<{ who: string; payload: string; result: string }>): void {
  const wrong: string[] = [];
  for (const r of replies) {
    if (r.payload === 'read') {
      const got = JSON.parse(r.result) as string[];
      if (JSON.stringify(got) !== JSON.stringify(final.slice(0, got.length))) wrong.push(`${r.who}: read ${got.length} entries that are not a prefix of the final log (…${JSON.stringify(got.slice(-3))})`);
    } else {
      const item = r.payload.slice('append '.length);
      const index = Number(r.result);
      if (final[index - 1] !== item) wrong.push(`${r.who}: ${item} acknowledged at index ${index}, where the final log has ${final[index - 1]}`);
    }
  }
  t.same(wrong, [], `all ${replies.length} replies agree with the final log of ${final.length} entries`);
}

async function zombieTrial(t: Test, freezeLfd: boolean): Promise<void> {
  const sys = new System({ mode: 'active', app: 'log', heartbeat: 0.1, quietHeartbeats: true, autoRestart: false, checkpointFreq: 0.5 });
  const frozen: Proc[] = [];
  t.teardown(async () => {
    for (const p of frozen) p.kill('SIGCONT');
    await sys.stop();
  });
  await sys.start();
  await sys.rm.waitFor((e) => e.type === 'view_changed' && data<View>(e).view.length === 3, 20_000);
  const clients = ['C1', 'C2', 'C3'].map((c) => sys.startClient(c, ['--message', `append ${c}-{n}`, '--interval', '0.005', '--timeout', '1']));
  await Promise.all(clients.map((c) => c.waitFor(() => done(c).length >= 10, 20_000)));

  // The sequencer now (on a busy machine a false suspicion may already have moved it).
  const first = data<View>([...sys.rm.events].reverse().find((e) => e.type === 'view_changed')!);
  const seqName = first.leader;
  const sequencer = sys.proc(seqName);
  const lfd = sys.proc(`LFD${seqName.slice(1)}`);
  await sequencer.waitFor((e) => e.type === 'role_changed' && data<{ role: string; epoch: number }>(e).role === 'sequencer' && data<{ epoch: number }>(e).epoch === first.epoch, 10_000);

  // The stale client: one connection to the sequencer's address, never asking the RM.
  const stale = await rawConnect(port(sys.serverAddrs.get(seqName)!));
  t.teardown(() => stale.end());
  const rmMark = sys.rm.events.length;
  const seqMark = sequencer.events.length;
  sequencer.kill('SIGSTOP');
  frozen.push(sequencer);
  if (freezeLfd) {
    lfd.kill('SIGSTOP');
    frozen.push(lfd);
  }
  const requests = staleRequests(seqName, 12);
  for (const r of requests) stale.send(r.frame);

  // The RM replaces it, and the new sequencer orders more from the other clients.
  const elected = data<View>(await sys.rm.waitFor((e) => e.type === 'view_changed' && data<View>(e).leader !== seqName && data<View>(e).leader !== undefined, 10_000, rmMark));
  t.ok(elected.epoch > first.epoch, `${elected.leader} is sequencer at epoch ${elected.epoch}`);
  const base = clients.map((c) => done(c).length);
  await Promise.all(clients.map((c, i) => c.waitFor(() => done(c).length >= base[i]! + 10, 20_000)));

  // Resume: the deposed sequencer reads every queued request before it learns anything.
  for (const p of frozen.splice(0).reverse()) p.kill('SIGCONT');
  await sequencer.waitFor(() => requests.every((r) => sequencer.events.slice(seqMark).some((e) => e.type === 'request_received' && data<{ client: string }>(e).client === r.client)), 10_000);
  const learned = await sequencer.waitFor((e) => e.type === 'step_down' || e.type === 'detached', 10_000, seqMark).catch(() => undefined);
  t.ok(learned, `${seqName} learned that it was deposed${learned ? `: ${learned.text}` : ''}`);
  if (!learned) {
    const story = sequencer.events.slice(seqMark).filter((e) => !/^(state_|heartbeat)/.test(e.type)).slice(0, 60);
    t.comment(`${seqName} after resuming:\n${story.map((e) => `${e.time} ${e.type} ${e.text}`).join('\n')}`);
  }
  // Let the other clients go on past the resumption, then stop them and read the final log.
  const again = clients.map((c) => done(c).length);
  await Promise.all(clients.map((c, i) => c.waitFor(() => done(c).length >= again[i]! + 5, 20_000)));
  for (const c of clients) c.kill('SIGKILL');
  await Promise.all(clients.map((c) => c.exited));

  const final = JSON.parse((await sys.ask('Z', 'read')).result) as string[];
  const counts = new Map<string, number>();
  for (const item of final) counts.set(item, (counts.get(item) ?? 0) + 1);
  t.same([...counts].filter(([, n]) => n > 1), [], 'no entry twice in the final log');

  const replies: Array<{ who: string; payload: string; result: string }> = [];
  for (const c of clients) for (const e of done(c)) replies.push({ who: c.name, payload: `append ${c.name}-${data<{ num: number }>(e).num}`, result: data<{ result: string }>(e).result });
  const staleReplies = frames(stale).filter((m): m is Extract<Message, { type: 'reply' }> => m.type === 'reply');
  for (const m of staleReplies) replies.push({ who: `${m.client} (stale view, answered by ${m.server})`, payload: requests.find((r) => r.client === m.client)!.payload, result: m.result });
  const fromDeposed = sequencer.events.slice(seqMark).filter((e) => e.type === 'reply_sent' && requests.some((r) => r.client === data<{ client: string }>(e).client));
  t.same(fromDeposed.map((e) => e.text), [], `the deposed sequencer ${seqName} answered none of the stale client's requests`);
  checkReplies(t, final, replies);
  const rejects = frames(stale).filter((m) => m.type === 'reject');
  t.comment(`stale client: ${staleReplies.length} replies, ${rejects.length} rejects for ${requests.length} requests`);
}

t.test('a sequencer frozen and resumed answers nothing from its own order (stale-view client)', (t) => zombieTrial(t, false));

t.test('a sequencer frozen together with its LFD (a machine cut off) answers nothing when both resume', (t) => zombieTrial(t, true));
