/**
 * Durable replicas (`--data-dir`), for durable-passive.test.ts and durable-active.test.ts: three replicas on disk, clients appending under
 * load, and kill -9 of all three at the same instant, ten rounds; the LFDs relaunch them, each
 * starts from its disk, the RM continues from one that was ready. Every acknowledged append is
 * in the final log exactly once, no append twice, and the replicas agree.
 */
import type { Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { System } from '../../harness/launch/system.js';
import { Session } from '../../clients/session.js';
import { readFinalActive } from '../../harness/chaos/final.js';
import { requestOnce } from '../../harness/chaos/client.js';
import { parseReadResult } from '../../harness/chaos/history.js';
import { digest } from '../../servers/core/state.js';
import { mustStatus } from '../../harness/chaos/status.js';
import type { TraceEvent } from '../../lib/trace/index.js';

const data = <T>(e: TraceEvent) => e.data as T;
const ROUNDS = 10;

export const KILL_ALL_TITLE = `kill -9 of all three replicas at once, ${ROUNDS} rounds: nothing acknowledged lost, nothing twice`;

export async function killAllRounds(t: Test, mode: 'passive' | 'active'): Promise<void> {
  {
    const dataDir = mkdtempSync(join(tmpdir(), 'ftkit-durable-'));
    const sys = new System({ mode, replicas: 3, app: 'log', heartbeat: 0.2, quiet: true, dataDir, checkpointFreq: 0.5, rmArgs: ['--restart-budget', '1000', '--restart-window', '1', '--recovery-wait', '10'] });
    // The data dirs go once every replica (the relaunched ones are the LFDs' children) has stopped.
    t.teardown(async () => {
      await sys.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });
    await sys.start();
    const allReady = (from: number) => sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.length === 3, 60_000, from);
    await allReady(0);

    // Clients appending as fast as they are answered; each acknowledged append is recorded.
    const acked = new Set<string>();
    let sent = 0;
    let stopping = false;
    const waiters: Array<() => void> = [];
    const sessions = ['C1', 'C2', 'C3'].map((name) => new Session({ name, rm: sys.rmAddr, security: sys.security, giveUpMs: 60_000, attemptTimeoutMs: 1000 }));
    const loops = sessions.map(async (s) => {
      s.start();
      for (let i = 1; !stopping; i++) {
        sent++;
        const o = await s.request(`append ${s.name}-${i}`);
        if (o.status === 'ok') acked.add(`${s.name}-${i}`);
        for (const w of waiters.splice(0)) w();
      }
    });
    t.teardown(() => {
      stopping = true;
      for (const s of sessions) s.stop();
    });
    /** Resolves once `n` more appends are acknowledged. */
    const moreAcks = (n: number) => {
      const target = acked.size + n;
      return new Promise<void>((resolve) => {
        const check = () => (acked.size >= target ? resolve() : waiters.push(check));
        check();
      });
    };

    // Each replica's pid: the harness started the first ones, their LFDs relaunch the next (with the same command line, data dir included).
    const pids = new Map(sys.servers.map((s) => [s, sys.proc(s).pid]));
    for (const lfd of sys.machines) {
      sys.proc(lfd).on('event', (e: TraceEvent) => {
        if (e.type === 'launched') pids.set(data<{ server: string }>(e).server, data<{ pid: number }>(e).pid);
      });
    }
    for (let round = 1; round <= ROUNDS; round++) {
      await moreAcks(20);
      const mark = sys.rm.events.length;
      // The same instant: one loop, no await between the signals.
      for (const pid of pids.values()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already: its LFD fenced it, or it exited
        }
      }
      await allReady(mark);
    }
    await moreAcks(20);
    stopping = true;
    await Promise.all(loops);
    for (const s of sessions) s.stop();

    const status = await mustStatus(sys);
    const leader = status.members.find((m) => m.name === status.leader)!;
    const ready = status.members.filter((m) => m.ready);
    // A relaunched replica's lines come through the LFD that launched it.
    const lfdOf = (name: string) => sys.proc(sys.homeOf(name));
    let log: string[];
    if (mode === 'active') {
      const warnings: string[] = [];
      const final = await readFinalActive(leader, ready, (w) => warnings.push(w));
      t.same(warnings, [], 'the final state was read from every ready replica');
      log = final.log ?? [];
      t.equal(final.replicas.length, 2, 'the two other replicas are compared with the one read');
      for (const r of final.replicas) t.same(r.log, log, `${r.name} holds the same log`);
    } else {
      const since = Date.now();
      const answer = await requestOnce(leader.addr, 'CHECK', leader.name, 1, 'read', 5000);
      log = (answer.kind === 'reply' && parseReadResult(answer.result)) || [];
      // Each backup's next checkpoint from the primary carries the state read: the same digest.
      for (const m of ready.filter((r) => r.name !== leader.name)) {
        const cp = await lfdOf(m.name).waitFor((e) => e.component === m.name && e.type === 'checkpoint_received' && e.time >= since, 10_000);
        t.equal(data<{ digest: string }>(cp).digest, digest(JSON.stringify(log)), `${m.name} installs the state read from ${leader.name}`);
      }
    }
    const counts = new Map<string, number>();
    for (const e of log) counts.set(e, (counts.get(e) ?? 0) + 1);
    const lost = [...acked].filter((a) => !counts.has(a));
    const twice = [...counts].filter(([, n]) => n > 1).map(([e]) => e);
    t.ok(acked.size >= (ROUNDS + 1) * 20, `${acked.size} appends acknowledged of ${sent} sent, across ${ROUNDS} rounds of killing all three`);
    t.same(lost, [], 'every acknowledged append is in the final log');
    t.same(twice, [], 'no append is in it twice');
    const recovered = sys.machines.flatMap((lfd) => sys.proc(lfd).events.filter((e) => e.type === 'recovered' && data<{ seq: number }>(e).seq > 0));
    t.ok(recovered.length >= ROUNDS, `relaunched replicas started from what their disks held (${recovered.length} times)`);
  }
}
