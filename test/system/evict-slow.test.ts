/**
 * `ftkit rm --evict-slow`: a fail-slow primary is treated like a failed one: retired, another
 * elected, the slow one relaunched; the client carries on, and nothing acknowledged is lost.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import { System } from '../../harness/launch/system.js';
import { Session } from '../../clients/session.js';
import { requestOnce } from '../../harness/chaos/client.js';
import { parseReadResult } from '../../harness/chaos/history.js';
import { mustStatus } from '../../harness/chaos/status.js';
import type { TraceEvent } from '../../lib/trace/index.js';

t.setTimeout(120_000);
const data = <T>(e: TraceEvent) => e.data as T;

t.test('a primary made slow (delay 50 ms) is evicted: a new primary, the slow one relaunched, every acknowledged append kept', async (t) => {
  // Answered within 2 s: the slow primary is to be evicted as slow, not taken for crashed on a busy machine.
  const sys = new System({ mode: 'passive', replicas: 3, app: 'log', heartbeat: 0.1, heartbeatTimeout: 2, quiet: true, rmArgs: ['--evict-slow', '--slow-warmup', '3'] });
  t.teardown(() => sys.stop());
  await sys.start();
  await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.length === 3, 20_000);
  const slow = (await mustStatus(sys)).leader!;
  const learnt = new Set<string>();
  await sys.rm.waitFor((e) => e.type === 'fail_slow_learnt' && (data<{ replicas: string[] }>(e).replicas.forEach((r) => learnt.add(r)), learnt.size === 3), 30_000);

  const session = new Session({ name: 'C1', rm: sys.rmAddr, security: sys.security, giveUpMs: 30_000 });
  session.start();
  t.teardown(() => session.stop());
  const acked: string[] = [];
  let stopping = false;
  const waiting: Array<() => void> = [];
  const loop = (async () => {
    for (let i = 1; !stopping; i++) {
      if ((await session.request(`append a${i}`)).status === 'ok') acked.push(`a${i}`);
      for (const w of waiting.splice(0)) w();
    }
  })();
  /** Resolves once `n` more appends are acknowledged. */
  const moreAcks = (n: number) => {
    const target = acked.length + n;
    return new Promise<void>((resolve) => {
      const check = () => (acked.length >= target ? resolve() : waiting.push(check));
      check();
    });
  };
  await moreAcks(20);

  const mark = sys.rm.events.length;
  const r = spawnSync(process.execPath, [FTKIT_BIN, 'ctl', '--rm', sys.rmAddr, ...sys.securityArgs(), 'fault', slow, 'delay', '50'], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r.status, 0, r.stderr);
  const evicting = await sys.rm.waitFor((e) => e.type === 'evicting', 20_000, mark);
  t.match(evicting.text, `the leader ${slow} is fail-slow (--evict-slow)`);
  const elected = await sys.rm.waitFor((e) => e.type === 'decision' && /is primary/.test(e.text) && data<{ leader?: string }>(e).leader !== slow, 20_000, mark);
  t.pass(`another primary: ${data<{ leader: string }>(elected).leader}`);
  await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.length === 3, 30_000, mark);
  t.pass(`${slow} relaunched, ready again (a fresh process, without the fault)`);
  await moreAcks(20);
  t.pass(`the client carried on: ${acked.length} appends acknowledged`);
  stopping = true;
  await loop;

  const status = await mustStatus(sys);
  const primary = status.members.find((m) => m.name === status.leader)!;
  const answer = await requestOnce(primary.addr, 'CHECK', primary.name, 1, 'read', 5000);
  const log = (answer.kind === 'reply' && parseReadResult(answer.result)) || [];
  t.same(acked.filter((a) => !log.includes(a)), [], 'every acknowledged append is in the log');
  t.equal(new Set(log).size, log.length, 'none twice');
});
