/**
 * Reading the final state after a chaos run, straight from the replicas (no proxy),
 * once every client has stopped.
 * - Active: one `read` is sent to every ready replica; it is ordered like any request,
 *   so each answers with its state at the same point of the total order.
 * - Passive: the read goes to the primary; each ready backup's next checkpoint (traced
 *   as `checkpoint_received` with the state's digest) must carry the same state.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { System } from '../launch/system.js';
import { requestOnce, type Answer } from './client.js';
import type { FinalState, ReplicaFinal } from './checker.js';
import { parseReadResult } from './history.js';
import { groupView, rmStatus, type StatusMember } from './status.js';
import { exponentialBackoff } from '../../lib/net/index.js';

/** The client name the harness uses for its final reads. */
export const CHECK_CLIENT = 'CHECK';
/** How long a backup has to install a checkpoint after the final read (passive). */
const FINAL_CHECKPOINT_WAIT_MS = 3000;
/** The final read is tried 5 times, 0.3 s, 0.6 s, 1 s and 1 s apart (the primary may be changing). */
const READ_RETRY = { baseMs: 300, capMs: 1000, maxAttempts: 4 };

export type Warn = (text: string) => void;

/** `group`: with several replica groups, the group whose primary `leader` is. */
export async function readFinalPassive(sys: System, leader: StatusMember, ready: StatusMember[], warn: Warn, group?: string): Promise<FinalState> {
  let answer: Answer | Error | undefined;
  let target = leader;
  const retry = exponentialBackoff(READ_RETRY);
  for (let attempt = 1; ; attempt++) {
    answer = await requestOnce(target.addr, CHECK_CLIENT, target.name, 1, 'read', 3000).catch((err: Error) => err);
    if (!(answer instanceof Error) && answer.kind === 'reply') break;
    const delay = retry(attempt, answer instanceof Error ? answer : undefined);
    if (delay === false) break;
    await sleep(delay);
    const s = groupView(await rmStatus(sys), group);
    target = s?.members.find((m) => m.name === s.leader) ?? target;
  }
  if (!answer || answer instanceof Error || answer.kind !== 'reply') {
    warn(`the primary${group ? ` of ${group}` : ''} did not answer the final read: ${answer instanceof Error ? answer.message : answer?.kind === 'reject' ? answer.reason : 'no answer'}`);
    return { replicas: [] };
  }
  const log = parseReadResult(answer.result);
  if (!log) warn(`the final read returned ${JSON.stringify(answer.result.slice(0, 80))}`);
  const since = Date.now();
  const replicas = await Promise.all(
    ready
      .filter((m) => m.name !== target.name)
      .map(async (m): Promise<ReplicaFinal | undefined> => {
        try {
          const e = await sys.proc(m.name).waitFor((ev) => ev.type === 'checkpoint_received' && ev.time >= since, FINAL_CHECKPOINT_WAIT_MS);
          return { name: m.name, digest: String((e.data as { digest?: unknown } | undefined)?.digest) };
        } catch {
          warn(`${m.name} installed no checkpoint within ${FINAL_CHECKPOINT_WAIT_MS} ms of the final read; its state is not compared`);
          return undefined;
        }
      }),
  );
  return { log, source: target.name, replicas: replicas.filter((r): r is ReplicaFinal => r !== undefined) };
}

export async function readFinalActive(leader: StatusMember, ready: StatusMember[], warn: Warn): Promise<FinalState> {
  const answers = await Promise.all(ready.map((m) => requestOnce(m.addr, CHECK_CLIENT, m.name, 1, 'read', 5000).catch((err: Error) => err)));
  const replicas: ReplicaFinal[] = [];
  answers.forEach((a, i) => {
    const name = ready[i]!.name;
    if (a instanceof Error || a.kind !== 'reply') return warn(`${name} did not answer the final read: ${a instanceof Error ? a.message : a.reason}`);
    const log = parseReadResult(a.result);
    if (!log) return warn(`${name} answered the final read with ${JSON.stringify(a.result.slice(0, 80))}`);
    replicas.push({ name, log });
  });
  const source = replicas.find((r) => r.name === leader.name) ?? replicas[0];
  return { log: source?.log, source: source?.name, replicas: replicas.filter((r) => r !== source) };
}
