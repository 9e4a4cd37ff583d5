/**
 * Recovery time and checkpoint pause by state size. One passive System (`log` app,
 * periodic checkpoints off: checkpoint-freq 3600 s) is filled step by step to
 * 1 KB, 1 MB and 10 MB of application state (the length of the state as the app
 * serializes it: a JSON array of strings), and at each size:
 *
 *  1. Recovery: kill -9 a backup, wait until the RM has dropped it, start it again
 *     by hand and time, from the bench's spawn of the new process, its `listening`
 *     event, its `checkpoint_received` and its `role_changed` with ready = true.
 *  2. Checkpoint pause: one closed-loop client sends `size` (read-only, keeps the
 *     state size) while checkpoint-freq is set to 1 s through the RM; for each
 *     periodic checkpoint (the primary's `checkpoint_sent` events of one count),
 *     the longest gap between two consecutive replies at the client that overlaps
 *     [first checkpoint_sent - 0, last checkpoint_sent + 500 ms] is the stall it
 *     caused; gaps outside those windows give the normal inter-reply time.
 *
 * A checkpoint travels as one frame and frames are limited to 1 MiB by default
 * (lib/protocol/framer.ts): what happens above that is recorded, not worked around.
 */
import { System } from '../harness/launch/system.js';
import type { TraceEvent } from '../lib/trace/index.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../lib/protocol/index.js';
import { LoadGen, leanStdout, readMem, rmStatus, setProperty, waitAllReady, type Mem } from './harness.js';
import { percentile, preciseNow, sleep } from './stats.js';

export interface RecoveryOptions {
  /** Periodic checkpoints to observe per size. */
  checkpoints: number;
  log: (line: string) => void;
}

export interface SizeResult {
  label: string;
  targetBytes: number;
  /** Length of the app state (JSON) and number of log entries. */
  bytes: number;
  entries: number;
  fillSeconds: number;
  /** Length of the checkpoint's state field on the wire (percent-encoded), vs the frame limit. */
  frameBytes: number;
  frameLimit: number;
  recovery: {
    ok: boolean;
    error?: string;
    victim?: string;
    /** ms from the spawn of the new process */
    listening?: number;
    checkpoint?: number;
    ready?: number;
    listeningToReady?: number;
    faults?: string[];
  };
  pause: {
    ok: boolean;
    error?: string;
    checkpoints: number;
    replies: number;
    normalP50?: number;
    normalP99?: number;
    stalls: number[];
    stallMedian?: number;
    stallMax?: number;
    faults?: string[];
  };
  /** RSS of the servers after this step. */
  memory: Record<string, Mem | undefined>;
  /** The RM's decisions during the recovery and during the checkpoints (failovers, readiness), in order. */
  recoveryDecisions: string[];
  pauseDecisions: string[];
  /** Entries in the log after each phase, as the service answers `size` (should equal `entries`). */
  entriesAfterRecovery: number | undefined;
  entriesAfterPause: number | undefined;
  /** The recovery failed or lost the state, so the checkpoint pause was measured on a fresh system filled to the same size. */
  freshForPause: boolean;
}

export interface RecoveryResult {
  sizes: SizeResult[];
}

const SERVER_KEEP = ['listening', 'role_changed', 'checkpoint_sent', 'checkpoint_received', 'checkpoint_bad', 'protocol_error', 'internal_error', 'step_down', 'detached'];
const FAULTS = new Set(['checkpoint_bad', 'protocol_error', 'internal_error', 'step_down', 'detached']);
const NO_CHECKPOINTS = '3600';

const data = <T>(e: TraceEvent) => e.data as T;

function faultsOf(sys: System, since: number): string[] {
  const out: string[] = [];
  for (const p of sys.group.procs.values()) for (const e of p.events) if (e.time >= since && FAULTS.has(e.type)) out.push(`${e.component}: ${e.text.slice(0, 220)}`);
  return [...new Set(out)].slice(0, 8);
}

async function recover(sys: System, log: (l: string) => void): Promise<SizeResult['recovery']> {
  const st = await rmStatus(sys);
  const victim = st.members.find((m) => m.name !== st.leader)!.name;
  const mark = sys.rm.events.length;
  const t0 = Date.now();
  sys.proc(victim).kill('SIGKILL');
  await sys.rm.waitFor((e) => e.type === 'membership_changed' && !data<{ members: string[] }>(e).members.includes(victim), 10_000, mark);
  await sleep(200);
  const spawnAt = preciseNow();
  const p = await sys.startServer(victim);
  leanStdout(p, SERVER_KEEP);
  const listening = p.events.find((e) => e.type === 'listening');
  const r: SizeResult['recovery'] = { ok: false, victim, listening: listening ? listening.time - spawnAt : undefined };
  try {
    const ready = await p.waitFor((e) => e.type === 'role_changed' && data<{ ready: boolean }>(e).ready === true, 20_000);
    const cp = p.events.find((e) => e.type === 'checkpoint_received');
    r.ok = cp !== undefined;
    r.ready = ready.time - spawnAt;
    r.checkpoint = cp ? cp.time - spawnAt : undefined;
    r.listeningToReady = listening ? ready.time - listening.time : undefined;
    if (!cp) r.error = 'made ready without having installed a checkpoint';
    r.faults = faultsOf(sys, t0);
    await waitAllReady(sys, 3, 10_000);
  } catch (err) {
    r.error = `${victim} not ready within 20 s of its restart`;
    r.faults = faultsOf(sys, t0);
    log(`recovery failed: ${(err as Error).message.split('\n')[0]}`);
  }
  return r;
}

async function pause(sys: System, lg: LoadGen, n: number, session: string): Promise<SizeResult['pause']> {
  const st = await rmStatus(sys);
  const primary = sys.proc(st.leader!);
  const t0 = Date.now();
  const mark = primary.events.length;
  await lg.call('startSession', { session, rm: sys.rmAddr, clients: 1, payload: 'size', prefix: 'P', keepTimes: true });
  const out: SizeResult['pause'] = { ok: false, checkpoints: 0, replies: 0, stalls: [] };
  let times: number[] = [];
  try {
    await sleep(1000);
    await setProperty(sys, 'checkpoint-freq', '1');
    const counts = () => new Set(primary.events.slice(mark).filter((e) => e.type === 'checkpoint_sent').map((e) => data<{ count: number }>(e).count));
    const deadline = Date.now() + n * 1000 + 5000;
    while (counts().size < n && Date.now() < deadline) await sleep(100);
    await setProperty(sys, 'checkpoint-freq', NO_CHECKPOINTS);
    await sleep(700);
  } finally {
    const end = await lg.call<{ times: number[]; errors: string[] }>('stopSession', { session, drainMs: 3000 });
    times = end.times ?? [];
    if (end.errors.length) out.error = end.errors[0];
  }
  const sent = primary.events.slice(mark).filter((e) => e.type === 'checkpoint_sent');
  const groups = new Map<number, number[]>();
  for (const e of sent) groups.set(data<{ count: number }>(e).count, [...(groups.get(data<{ count: number }>(e).count) ?? []), e.time]);
  const windows = [...groups.values()].map((ts) => [Math.min(...ts), Math.max(...ts) + 500] as const);
  out.checkpoints = windows.length;
  out.replies = times.length;
  const normal: number[] = [];
  for (const [from, to] of windows) {
    let worst = 0;
    for (let i = 1; i < times.length; i++) if (times[i]! > from && times[i - 1]! < to) worst = Math.max(worst, times[i]! - times[i - 1]!);
    // No reply at all after the checkpoint: the stall lasts at least until the end of the run.
    const after = times.filter((x) => x > from);
    if (after.length === 0) worst = Math.max(worst, (times[times.length - 1] !== undefined ? Date.now() - times[times.length - 1]! : Date.now() - from));
    out.stalls.push(worst);
  }
  for (let i = 1; i < times.length; i++) {
    const a = times[i - 1]!;
    const b = times[i]!;
    if (!windows.some(([from, to]) => b > from && a < to)) normal.push(b - a);
  }
  normal.sort((a, b) => a - b);
  const stalls = [...out.stalls].sort((a, b) => a - b);
  out.normalP50 = percentile(normal, 50);
  out.normalP99 = percentile(normal, 99);
  out.stallMedian = percentile(stalls, 50);
  out.stallMax = stalls[stalls.length - 1];
  out.faults = faultsOf(sys, t0);
  out.ok = !out.error && windows.length >= n && (out.faults?.length ?? 0) === 0;
  if (!out.ok && !out.error) out.error = windows.length < n ? `only ${windows.length} of ${n} checkpoints sent` : `faults: ${out.faults![0]}`;
  return out;
}

interface Bed {
  sys: System;
  bytes: number;
  entries: number;
}

async function newBed(): Promise<Bed> {
  const sys = new System({ mode: 'passive', app: 'log', heartbeat: 0.1, checkpointFreq: Number(NO_CHECKPOINTS), autoRestart: false });
  try {
    await sys.start();
    await waitAllReady(sys, 3);
  } catch (err) {
    await sys.stop();
    throw err;
  }
  for (const s of ['S1', 'S2', 'S3']) leanStdout(sys.proc(s), SERVER_KEEP);
  return { sys, bytes: 2 /* "[]" */, entries: 0 };
}

/** Append to the bed's log until its state reaches `target` bytes. */
async function fillTo(lg: LoadGen, bed: Bed, target: number): Promise<number> {
  const itemSize = Math.min(10_000, Math.max(100, Math.round(target / 1000)));
  const f = await lg.call<{ bytes: number; entries: number; seconds: number }>('fill', { rm: bed.sys.rmAddr, clients: 4, itemSize, have: bed.bytes, entries: bed.entries, targetBytes: target }, 600_000);
  bed.bytes = f.bytes;
  bed.entries = f.entries;
  return f.seconds;
}

/** Entries the service says its log holds (undefined if it does not answer). */
async function entriesNow(lg: LoadGen, bed: Bed): Promise<number | undefined> {
  try {
    return Number((await lg.call<{ result: string }>('ask', { rm: bed.sys.rmAddr, payload: 'size', giveUpMs: 10_000 }, 30_000)).result);
  } catch {
    return undefined;
  }
}

function decisionsSince(sys: System, mark: number, t0: number): string[] {
  return sys.rm.events
    .slice(mark)
    .filter((e) => e.type === 'decision')
    .map((e) => `+${e.time - t0} ms ${e.text}`);
}

export async function runRecovery(lg: LoadGen, o: RecoveryOptions): Promise<RecoveryResult> {
  const sizes: SizeResult[] = [];
  let bed: Bed | undefined;
  try {
    let k = 0;
    for (const [label, target] of [
      ['1 KB', 1_000],
      ['1 MB', 1_000_000],
      ['10 MB', 10_000_000],
    ] as const) {
      k++;
      bed ??= await newBed();
      const fillSeconds = await fillTo(lg, bed, target);
      const { bytes, entries } = bed;
      const size = await entriesNow(lg, bed);
      if (size !== entries) o.log(`warning: the log holds ${size} entries, the bench counted ${entries}`);
      // On the wire every `,` of the JSON state is escaped as %2C.
      const frameBytes = bytes + 2 * Math.max(0, entries - 1);
      o.log(`state ${label}: ${bytes} B in ${entries} entries (filled in ${fillSeconds.toFixed(1)} s); checkpoint state field ${frameBytes} B, frame limit ${DEFAULT_MAX_FRAME_BYTES} B`);

      // 1. recovery
      let t0 = Date.now();
      let mark = bed.sys.rm.events.length;
      const recovery = await recover(bed.sys, o.log);
      const entriesAfterRecovery = await entriesNow(lg, bed);
      const recoveryDecisions = decisionsSince(bed.sys, mark, t0);
      o.log(`state ${label}: recovery ${recovery.ok ? `ready ${recovery.ready?.toFixed(0)} ms after spawn (listening at ${recovery.listening?.toFixed(0)} ms)` : `FAILED: ${recovery.error}; ${recovery.faults?.slice(0, 2).join(' | ')}`}`);
      if (entriesAfterRecovery !== entries) o.log(`state ${label}: after the recovery the log holds ${entriesAfterRecovery} entries; ${entries} were acknowledged`);
      if (recoveryDecisions.length > 1) o.log(`state ${label}: RM decisions: ${recoveryDecisions.join(' | ')}`);
      const memory: Record<string, Mem | undefined> = {};
      for (const s of ['S1', 'S2', 'S3']) memory[s] = readMem(bed.sys.proc(s).pid);

      // 2. checkpoint pause, on an intact system: a fresh one if the recovery failed or lost the state
      let freshForPause = false;
      if (!recovery.ok || entriesAfterRecovery !== entries) {
        await bed.sys.stop();
        bed = undefined;
        bed = await newBed();
        await fillTo(lg, bed, target);
        freshForPause = true;
      }
      t0 = Date.now();
      mark = bed.sys.rm.events.length;
      const p = await pause(bed.sys, lg, o.checkpoints, `pause-${k}`);
      const entriesAfterPause = await entriesNow(lg, bed);
      const pauseDecisions = decisionsSince(bed.sys, mark, t0);
      if (entriesAfterPause !== bed.entries) {
        p.ok = false;
        p.error = `${bed.entries - (entriesAfterPause ?? 0)} acknowledged entries lost (log holds ${entriesAfterPause})`;
      }
      o.log(`state ${label}: ${p.checkpoints} checkpoints, stalls ${p.stalls.map((x) => x.toFixed(1)).join(', ')} ms; normal gap p50 ${p.normalP50?.toFixed(2)} ms${p.ok ? '' : `; FAILED: ${p.error}`}`);
      if (pauseDecisions.length) o.log(`state ${label}: RM decisions during the checkpoints: ${pauseDecisions.join(' | ')}`);
      sizes.push({
        label,
        targetBytes: target,
        bytes,
        entries,
        fillSeconds,
        frameBytes,
        frameLimit: DEFAULT_MAX_FRAME_BYTES,
        recovery,
        pause: p,
        memory,
        recoveryDecisions,
        pauseDecisions,
        entriesAfterRecovery,
        entriesAfterPause,
        freshForPause,
      });
      if (entriesAfterPause !== bed.entries) {
        await bed.sys.stop();
        bed = undefined;
      }
    }
  } finally {
    await bed?.sys.stop();
  }
  return { sizes };
}
