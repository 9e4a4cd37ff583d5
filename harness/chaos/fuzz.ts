/**
 * Listener fuzzing: random and mutated frames against every kind of live listener
 * (RM, GFD, an LFD, the leading server) of a real system, many frames per
 * connection, many connections, bounded concurrency. Afterwards every component must
 * still be running and serving: the RM answers `<admin, status>`, the system is whole
 * again, and a client request gets a reply. A connection answered with an "internal
 * error" (a handler threw something other than a protocol error) is a finding too,
 * reported with the frames that caused it.
 *
 * The protocol has no authentication: a well-formed message can impersonate any peer
 * (set `replicas 0`, send a checkpoint with a higher epoch...), and doing what such a
 * message says is not a robustness bug. So by default frames that decode to a
 * well-formed message are defanged before sending: impersonating names are replaced
 * by fuzz names (FZ…), epochs by 0 (refused by every replica), property values by
 * invalid ones. They still exercise every decoder and every handler's checks.
 * `forge: true` sends them as generated.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { System } from '../launch/system.js';
import type { Proc } from '../launch/proc.js';
import type { Mode } from '../../lib/protocol/index.js';
import { parseAddress } from '../../lib/net/index.js';
import { requestOnce } from './client.js';
import { rmStatus, waitWhole } from './status.js';
import { mulberry32, randInt, type Rng } from './rng.js';
import { plan, type ListenerKind, type Plan } from './fuzz-frames.js';

export const DEFAULT_FRAMES = 100_000;
export const DEFAULT_CONCURRENCY = 16;
const MAX_FRAMES_PER_CONNECTION = 40;
const CONNECT_TIMEOUT_MS = 2000;
/** How long to wait for the listener to close a connection after we half-close it. */
const LINGER_MS = 1000;
const ANSWER_KEEP = 4096;

export interface FuzzOptions {
  seed: number;
  /** Frames per listener. */
  frames?: number;
  concurrency?: number;
  forge?: boolean;
  mode?: Mode;
  log?: (line: string) => void;
}

export interface Finding {
  listener: string;
  /** What the listener answered (contains "internal error"). */
  answer: string;
  /** The bytes sent on that connection, as text. */
  sent: string;
}

export interface ListenerResult {
  listener: string;
  addr: string;
  frames: number;
  /** Frames the listener decoded as well-formed messages (the rest of a connection after its first bad frame is not read). */
  wellFormed: number;
  connections: number;
  bytes: number;
  /** Connections the listener answered with an `error` message. */
  errorAnswers: number;
  /** Connections we could not open or that timed out. */
  connectFailures: number;
  ms: number;
}

export interface FuzzReport {
  seed: number;
  framesPerListener: number;
  forge: boolean;
  listeners: ListenerResult[];
  findings: Finding[];
  /** Components that were not running afterwards, or reported internal errors. */
  problems: string[];
  alive: Record<string, boolean>;
  statusAnswered: boolean;
  whole: boolean;
  reply?: string;
  ok: boolean;
}

// ---- connections -----------------------------------------------------------------

interface Outcome {
  answer: string;
  connected: boolean;
}

async function send(port: number, p: Plan): Promise<Outcome> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  let answer = '';
  socket.on('data', (d: Buffer) => {
    if (answer.length < ANSWER_KEEP) answer += d.toString('utf8');
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const connected = await Promise.race([
    new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('close', () => resolve(false));
    }),
    sleep(CONNECT_TIMEOUT_MS, false, { ref: false }),
  ]);
  if (!connected) {
    socket.destroy();
    return { answer, connected };
  }
  let at = 0;
  for (const size of p.chunks) {
    if (socket.destroyed) break;
    socket.write(p.data.subarray(at, at + size));
    at += size;
  }
  socket.end();
  await Promise.race([closed, sleep(LINGER_MS, undefined, { ref: false })]);
  socket.destroy();
  return { answer, connected };
}

async function fuzzListener(
  label: string,
  kind: ListenerKind,
  addr: string,
  total: number,
  rng: Rng,
  o: { concurrency: number; forge: boolean },
  findings: Finding[],
): Promise<ListenerResult> {
  const port = parseAddress(addr).port;
  const result: ListenerResult = { listener: label, addr, frames: 0, wellFormed: 0, connections: 0, bytes: 0, errorAnswers: 0, connectFailures: 0, ms: 0 };
  const started = Date.now();
  let left = total;
  let serial = 0;
  const worker = async () => {
    while (left > 0) {
      const frames = Math.min(left, randInt(rng, 1, MAX_FRAMES_PER_CONNECTION));
      left -= frames;
      const p = plan(rng, kind, frames, o.forge, `FZ${++serial}`);
      result.frames += p.frames;
      result.wellFormed += p.wellFormed;
      result.connections++;
      result.bytes += p.data.length;
      const out = await send(port, p);
      if (!out.connected) result.connectFailures++;
      if (/, error>/.test(out.answer)) result.errorAnswers++;
      if (/internal error/i.test(out.answer) && findings.length < 50) {
        findings.push({ listener: label, answer: out.answer.slice(0, 500), sent: p.data.toString('utf8').slice(0, 2000) });
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  result.ms = Date.now() - started;
  return result;
}

// ---- the run -----------------------------------------------------------------------

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const frames = options.frames ?? DEFAULT_FRAMES;
  const forge = options.forge ?? false;
  const log = options.log ?? (() => {});
  const rng = mulberry32(options.seed);
  const replicas = 3;
  const sys = new System({ mode: options.mode ?? 'passive', app: 'log', heartbeat: 0.1, checkpointFreq: 0.5, replicas, autoRestart: false });
  const problems: string[] = [];
  const findings: Finding[] = [];
  const listeners: ListenerResult[] = [];
  const internal = (p: Proc) =>
    p.on('event', (e) => {
      if (e.type === 'internal_error' && problems.length < 50) problems.push(`${p.name} internal error: ${e.text.split('\n').slice(0, 3).join(' | ')}`);
    });
  sys.group.on('spawned', internal);
  const report: FuzzReport = { seed: options.seed, framesPerListener: frames, forge, listeners, findings, problems, alive: {}, statusAnswered: false, whole: false, ok: false };
  try {
    await sys.start();
    const first = await waitWhole(sys, replicas, 15_000);
    if (!first?.leader) throw new Error('the system did not become ready');
    const leader = first.members.find((m) => m.name === first.leader)!;
    const targets: Array<[string, ListenerKind, string]> = [
      ['RM', 'RM', sys.rmAddr],
      ['GFD', 'GFD', sys.gfdAddr],
      ['LFD1', 'LFD', sys.lfdAddrs.get('LFD1')!],
      [`${leader.name} (leader)`, 'server', leader.addr],
    ];
    for (const [label, kind, addr] of targets) {
      log(`fuzz: ${frames} frames at ${label} (${addr})`);
      const r = await fuzzListener(label, kind, addr, frames, rng, { concurrency: options.concurrency ?? DEFAULT_CONCURRENCY, forge }, findings);
      listeners.push(r);
      log(`fuzz: ${label}: ${r.frames} frames (${r.wellFormed} well-formed reached its handlers) on ${r.connections} connections in ${r.ms} ms; ${r.errorAnswers} answered with error; ${r.connectFailures} connect failures`);
      for (const [name, p] of sys.group.procs) if (!p.running) problems.push(`${name} is not running after fuzzing ${label}`);
    }
    for (const [name, p] of sys.group.procs) report.alive[name] = p.running;
    report.statusAnswered = (await rmStatus(sys)) !== undefined;
    const s = await waitWhole(sys, replicas, 10_000);
    report.whole = s !== undefined;
    const now = s ?? (await rmStatus(sys));
    const lead = now?.members.find((m) => m.name === now.leader);
    if (lead) {
      const a = await requestOnce(lead.addr, 'PROBE', lead.name, 1, 'read', 5000).catch((err: Error) => err);
      if (!(a instanceof Error) && a.kind === 'reply') report.reply = `${lead.name} answered ${a.result.length > 60 ? a.result.slice(0, 60) + '…' : a.result}`;
      else problems.push(`a client request to ${lead.name} got no reply: ${a instanceof Error ? a.message : a.reason}`);
    } else problems.push('no leader to send a client request to');
    if (!report.statusAnswered) problems.push('the RM did not answer <admin, status>');
    if (!report.whole) problems.push('the system was not whole (all replicas ready, a leader, the GFD connected) within 10 s after the fuzz');
  } finally {
    await sys.stop();
  }
  report.ok = problems.length === 0 && findings.length === 0 && Object.values(report.alive).every(Boolean);
  return report;
}

export function formatFuzz(r: FuzzReport): string[] {
  const lines = [`== fuzz: seed ${r.seed}, ${r.framesPerListener} frames per listener${r.forge ? ', forged peers included' : ''} ==`];
  for (const l of r.listeners) {
    lines.push(`  ${l.listener.padEnd(14)} ${l.frames} frames (${l.wellFormed} well-formed handled), ${l.connections} connections, ${(l.bytes / 1024).toFixed(0)} KiB, ${l.errorAnswers} answered with error, ${l.connectFailures} connect failures, ${(l.ms / 1000).toFixed(1)} s`);
  }
  lines.push(`alive afterwards: ${Object.entries(r.alive).map(([n, up]) => `${n}${up ? '' : ' (DEAD)'}`).join(', ')}`);
  lines.push(`RM answers status: ${r.statusAnswered ? 'yes' : 'NO'}; system whole: ${r.whole ? 'yes' : 'NO'}; client request: ${r.reply ?? 'NO REPLY'}`);
  for (const f of r.findings) lines.push(`FINDING at ${f.listener}: answered ${JSON.stringify(f.answer.slice(0, 200))} to ${JSON.stringify(f.sent.slice(0, 300))}`);
  for (const p of r.problems) lines.push(`PROBLEM: ${p}`);
  lines.push(r.ok ? 'fuzz: ok' : 'fuzz: FAILED');
  return lines;
}
