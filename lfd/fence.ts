/**
 * Fencing a hung server: an LFD that declares a server failed by heartbeat timeout kills it
 * (SIGKILL, by the pid it registered with) before it reports the server gone, so a hung process
 * never keeps holding its port and never comes back as a second leader after a relaunch.
 *
 * The decision is pure (`fenceDecision`): kill only a process on this machine, never the LFD's
 * own process, and only while the pid still belongs to the process that registered (on Linux its
 * start time in /proc/<pid>/stat is the same as at registration, so a reused pid is never hit).
 * The I/O (reading /proc, signalling, waiting for the process to go) is in `Fencer`.
 */
import { readFileSync } from 'node:fs';

/** How long the LFD waits for a killed process to be gone before it reports the server failed anyway. */
export const FENCE_DEADLINE_MS = 2000;
const FENCE_POLL_MS = 10;

/** What /proc/<pid>/stat says about a process: its state letter and its start time (clock ticks since boot). */
export interface ProcStat {
  state: string;
  startTime: string;
}

/**
 * Parse the text of /proc/<pid>/stat. The second field (the command name, in parentheses) may
 * itself contain spaces and parentheses, so fields are counted from the last `)`.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close === -1) return undefined;
  const rest = text.slice(close + 1).trim().split(/\s+/);
  // rest[0] is field 3 (state); field 22 (starttime) is rest[19].
  const state = rest[0];
  const startTime = rest[19];
  if (!state || !/^[A-Za-z]$/.test(state) || !startTime || !/^\d+$/.test(startTime)) return undefined;
  return { state, startTime };
}

export interface FenceFacts {
  pid: number;
  /** The LFD's own pid (an in-process server shares it: never kill it). */
  ownPid: number;
  /** The server's registration came from this machine. */
  local: boolean;
  /** Its start time when it registered (undefined where /proc is not available). */
  registeredStart: string | undefined;
  /** What /proc says about that pid now: undefined if it is gone (or /proc is not available). */
  now: ProcStat | undefined;
  /** /proc is readable on this machine. */
  procAvailable: boolean;
}

export type FenceDecision = { kill: true } | { kill: false; gone: boolean; reason: string };

export function fenceDecision(f: FenceFacts): FenceDecision {
  if (!Number.isSafeInteger(f.pid) || f.pid <= 1) return { kill: false, gone: false, reason: `pid ${f.pid} is not a process it can kill` };
  if (f.pid === f.ownPid) return { kill: false, gone: false, reason: `pid ${f.pid} is the LFD itself (an in-process server)` };
  if (!f.local) return { kill: false, gone: false, reason: 'it registered from another machine' };
  if (!f.procAvailable) return { kill: true };
  if (!f.now || f.now.state === 'Z' || f.now.state === 'X') return { kill: false, gone: true, reason: `pid ${f.pid} is already gone` };
  if (f.registeredStart === undefined) return { kill: false, gone: false, reason: `pid ${f.pid} could not be checked when it registered` };
  if (f.now.startTime !== f.registeredStart) return { kill: false, gone: true, reason: `pid ${f.pid} now belongs to another process` };
  return { kill: true };
}

export type FenceResult = { fenced: true; ms: number } | { fenced: false; gone: boolean; reason: string };

/** Reads /proc, sends the signal and waits for the process to be gone. */
export class Fencer {
  constructor(
    private readonly ownPid = process.pid,
    private readonly procRoot = '/proc',
  ) {}

  get procAvailable(): boolean {
    return this.stat(this.ownPid) !== undefined;
  }

  stat(pid: number): ProcStat | undefined {
    try {
      return parseProcStat(readFileSync(`${this.procRoot}/${pid}/stat`, 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** The start time of `pid` now, to compare with later (undefined without /proc). */
  startTime(pid: number): string | undefined {
    return this.stat(pid)?.startTime;
  }

  /** Kill `pid` if the facts allow it; resolves once it is gone (or after the deadline). */
  async fence(pid: number, local: boolean, registeredStart: string | undefined, deadlineMs = FENCE_DEADLINE_MS): Promise<FenceResult> {
    const procAvailable = this.procAvailable;
    const decision = fenceDecision({ pid, ownPid: this.ownPid, local, registeredStart, now: procAvailable ? this.stat(pid) : undefined, procAvailable });
    if (!decision.kill) return { fenced: false, gone: decision.gone, reason: decision.reason };
    const started = Date.now();
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') return { fenced: false, gone: true, reason: `pid ${pid} is already gone` };
      return { fenced: false, gone: false, reason: `cannot kill pid ${pid}: ${code ?? (err as Error).message}` };
    }
    while (Date.now() - started < deadlineMs) {
      if (this.gone(pid, registeredStart, procAvailable)) return { fenced: true, ms: Date.now() - started };
      await new Promise((r) => setTimeout(r, FENCE_POLL_MS));
    }
    return { fenced: false, gone: false, reason: `pid ${pid} was sent SIGKILL but had not exited after ${deadlineMs} ms` };
  }

  /** Gone: no such pid, a zombie (its sockets are closed), or the pid was reused. */
  private gone(pid: number, registeredStart: string | undefined, procAvailable: boolean): boolean {
    if (procAvailable) {
      const s = this.stat(pid);
      return !s || s.state === 'Z' || s.state === 'X' || (registeredStart !== undefined && s.startTime !== registeredStart);
    }
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }
}

/** The peer of a socket is on this machine: a loopback address, or our own address. */
export function isLocalPeer(remoteAddress: string | undefined, localAddress: string | undefined): boolean {
  if (!remoteAddress) return false;
  const strip = (a: string) => a.replace(/^::ffff:/, '');
  const remote = strip(remoteAddress);
  if (remote === '::1' || /^127\./.test(remote)) return true;
  return localAddress !== undefined && remote === strip(localAddress);
}
