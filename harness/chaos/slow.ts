/**
 * The nemesis's fail-slow faults (cpu-hog, mem-hog, delay): the replica is told through the RM,
 * as `ftkit ctl fault` tells it, to make itself slow for the fault's hold, then to stop. It keeps
 * running: what is checked is that clients still get linearizable answers from a slow replica,
 * and, with `--evict-slow`, from a group whose slow leader the RM retires. A replica the fault
 * ended (retired by the RM, or killed by its LFD when the hog stalled it past the heartbeat
 * timeout) is started again by hand, as every replica in a chaos run is.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { System } from '../launch/system.js';
import type { Fault, SlowFaultKind } from './schedule.js';
import type { ProcControl } from './procs.js';
import type { RunObserver } from './observer.js';

/** The replica ends a fault this long after its hold by itself, should the clear not reach it (the RM restarted meanwhile). */
const SAFETY_S = 3;

export async function injectSlow(sys: System, procs: ProcControl, observer: RunObserver, fault: Fault & { kind: SlowFaultKind }, name: string, said: (what: string) => void): Promise<void> {
  const proc = sys.proc(name);
  // The fault may end the process (retired, or stalled past the heartbeat timeout): that exit is the fault's doing.
  observer.killing(proc);
  const rm = sys.rm;
  const from = rm.events.length;
  const at = Date.now();
  const order = (fault: SlowFaultKind | 'clear', amount: number, seconds: number) => sys.ctl({ op: 'inject', server: name, fault, amount, seconds }, 5000);
  try {
    await order(fault.kind, fault.amount ?? 0, Math.ceil(fault.holdMs / 1000) + SAFETY_S);
  } catch (err) {
    return said(`not injected: ${(err as Error).message.split('\n')[0]}`);
  }
  said(`injected into ${name}`);
  await sleep(fault.holdMs);
  const flag = rm.events.slice(from).find((e) => e.type === 'fail_slow' && (e.data as { replica?: string }).replica === name);
  let ended = 'cleared';
  try {
    await order('clear', 0, 0);
  } catch (err) {
    // Gone from the membership (retired, or killed), or the RM is being restarted: the replica ends it by itself.
    ended = `over, not cleared (${(err as Error).message.split('\n')[0]})`;
  }
  said(`${ended}; ${flag ? `the RM flagged ${name} fail-slow after ${((flag.time - at) / 1000).toFixed(1)} s` : `the RM did not flag ${name}`}`);
  if (!sys.proc(name).running) {
    await procs.restartServer(name);
    said(`${name} had exited; restarted`);
  }
}
