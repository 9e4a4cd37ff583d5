/**
 * What authentication and TLS cost under load. For each replication mode three ftkit
 * systems run side by side (three replicas each, `counter` app, servers `--quiet`, their
 * stdout drained): authentication OFF (no deployment secret, `secretFile: false`), ON (a
 * fresh secret: every link between components opens with the challenge-response) and ON +
 * TLS (every link, the load generator's included, over TLS 1.3 with a throwaway CA). Only
 * the system being measured carries load; the other two idle. Windows are short and
 * interleaved: in each round every variant is measured once, back to back, in an order
 * that changes from round to round (orderOf), so that a slow patch of the machine, and what
 * one variant's load leaves behind for the next, fall on all of them alike. The figures per
 * round give ratios (on/off, tls/off) whose spread is reported, next to OFF over OFF of the
 * round before (the noise floor), and all rounds pooled. The load sessions are started once (one per variant and number of clients) and paused
 * between their windows, so switching costs no reconnection and no warm-up.
 *
 * The load clients hold no secret (the systems have no client secret), so their
 * connections to the RM and the replicas carry no handshake; with authentication on, the
 * listeners still check every message a client sends against what its standing permits.
 */
import { System, type SystemTls } from '../harness/launch/system.js';
import type { Mode } from '../lib/protocol/index.js';
import { LoadGen, forgetEvents, leanStdout, waitAllReady, waitQuiet } from './harness.js';
import type { LoadStats } from './recorder.js';
import { FOREIGN_LIMIT, quietWindow, type Pids } from './throughput.js';
import { makeBenchTls } from './tls-files.js';
import { sleep, spread, type Spread } from './stats.js';

export const VARIANTS = ['off', 'on', 'tls'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface SecurityOptions {
  modes: Mode[];
  clients: number[];
  /** Rounds: each variant is measured this many times per mode and number of clients. */
  rounds: number;
  warmupMs: number;
  durationMs: number;
  /** After a paused session resumes, before its window opens. */
  settleMs: number;
  attempts: number;
  /** Longest wait for the machine to be quiet before the rounds of each mode and number of clients. */
  quietMs: number;
  log: (line: string) => void;
}

export interface SecurityRow {
  mode: Mode;
  clients: number;
  variant: Variant;
  round: number;
  /** Place in its round (0 = measured first). */
  position: number;
  stats: LoadStats;
  cpu: Record<string, number>;
  /** CPU of the measured system, the load generator and the bench process, µs per request. */
  cpuPerReq: number;
  foreign: number;
  kernel: number;
  steal: number;
  attempts: number;
  retries: number;
  errors: string[];
}

export interface SecuritySummary {
  mode: Mode;
  clients: number;
  /** Per variant: medians over the rounds. */
  median: Partial<Record<Variant, { rps: number; p50: number; p99: number; cpuPerReq: number; foreign: number }>>;
  /**
   * All rounds pooled: requests over window time, and CPU over requests, variant / off. Less
   * swayed than a median by the rounds where other work stalled everything.
   */
  pooled: { onOff?: number; tlsOff?: number; cpuOnOff?: number; cpuTlsOff?: number };
  /** Per round, variant / off (same round). */
  onOff?: Spread;
  tlsOff?: Spread;
  /** CPU per request, variant / off per round. */
  cpuOnOff?: Spread;
  cpuTlsOff?: Spread;
  /** OFF's own round-to-round spread: each round's req/s over the median of OFF. */
  offNoise: Spread;
  /** OFF over OFF of the round before: what the ratios look like when nothing differs (the noise floor). */
  offOff: Spread;
}

export interface SecurityResult {
  /** TLS column measured, or why not. */
  tls: { measured: boolean; why?: string };
  rows: SecurityRow[];
  summary: SecuritySummary[];
  checks: Array<{ mode: Mode; variant: Variant; acked: number; total: number; unresolved: number }>;
  /** Windows that failed (their round has no ratio for that variant). */
  failures: Array<{ mode: Mode; clients: number; variant: Variant; round: number; error: string }>;
}

export async function runSecurity(lg: LoadGen, o: SecurityOptions): Promise<SecurityResult> {
  const rows: SecurityRow[] = [];
  const checks: SecurityResult['checks'] = [];
  const failures: SecurityResult['failures'] = [];
  const tls = makeBenchTls();
  if (!tls.files) o.log(`authentication and TLS: TLS column skipped: ${tls.why}`);
  const variants: Variant[] = tls.files ? [...VARIANTS] : ['off', 'on'];
  try {
    for (const mode of o.modes) {
      const systems = new Map<Variant, System>();
      const acked = new Map<Variant, { acked: number; unresolved: number }>();
      try {
        for (const v of variants) {
          const sys = new System({ ...systemOptions(mode, v, tls.files) });
          systems.set(v, sys);
          acked.set(v, { acked: 0, unresolved: 0 });
          await sys.start();
          for (const s of ['S1', 'S2', 'S3']) leanStdout(sys.proc(s));
        }
        for (const sys of systems.values()) await waitAllReady(sys, 3);
        await sleep(1000);
        const pidsOf = (v: Variant): Pids => {
          const pids: Pids = { loadgen: lg.pid };
          for (const [name, p] of systems.get(v)!.group.procs) pids[name] = p.pid;
          return pids;
        };
        const allPids = [...systems.values()].flatMap((s) => [...s.group.procs.values()].map((p) => p.pid));
        // One load session per variant and number of clients, started (and warmed up) once and
        // paused between its windows: its connections, handshakes included, are opened once.
        const sessions = new Map<string, { id: string; errors: number; retries: number }>();
        let started = 0;
        const stopSession = async (v: Variant, clients: number) => {
          const key = `${v}/${clients}`;
          const sess = sessions.get(key);
          if (!sess) return;
          sessions.delete(key);
          const end = await lg.call<{ clients: Array<{ replies: number; unresolved: number }> }>('stopSession', { session: sess.id });
          const a = acked.get(v)!;
          a.acked += end.clients.reduce((x, c) => x + c.replies, 0);
          a.unresolved += end.clients.reduce((x, c) => x + c.unresolved, 0);
        };
        const sessionFor = async (v: Variant, clients: number) => {
          const key = `${v}/${clients}`;
          let sess = sessions.get(key);
          if (sess) return sess;
          sess = { id: `sec-${mode}-${v}-${clients}-${++started}`, errors: 0, retries: 0 };
          sessions.set(key, sess);
          await lg.call('startSession', { session: sess.id, rm: systems.get(v)!.rmAddr, clients, payload: 'add 1', ca: v === 'tls' ? tls.files?.ca : undefined });
          await sleep(o.warmupMs);
          await lg.call('pauseSession', { session: sess.id });
          return sess;
        };
        try {
          for (const clients of o.clients) {
            await waitQuiet(FOREIGN_LIMIT, o.quietMs, allPids.concat(lg.pid));
            for (let round = 0; round < o.rounds; round++) {
              const order = orderOf(variants, round);
              for (const [position, v] of order.entries()) {
                const sys = systems.get(v)!;
                const pids = pidsOf(v);
                forgetEvents(sys);
                try {
                  const sess = await sessionFor(v, clients);
                  await lg.call('resumeSession', { session: sess.id });
                  await sleep(o.settleMs);
                  const others = allPids.filter((p) => !Object.values(pids).includes(p));
                  const w = await quietWindow(lg, sess.id, o.durationMs, pids, o.attempts, undefined, others);
                  const after = await lg.call<{ errors: string[]; retries: number }>('pauseSession', { session: sess.id });
                  const errors = after.errors.slice(sess.errors);
                  const retries = after.retries - sess.retries;
                  sess.errors = after.errors.length;
                  sess.retries = after.retries;
                  // A client that gave up has left its loop: start the session afresh next time.
                  if (errors.length) await stopSession(v, clients);
                  const cpuPerReq = (Object.values(w.cpu).reduce((x, y) => x + y, 0) / 100 / w.stats.rps) * 1e6;
                  rows.push({ mode, clients, variant: v, round, position, stats: w.stats, cpu: w.cpu, cpuPerReq, foreign: w.foreign, kernel: w.kernel, steal: w.steal, attempts: w.attempts, retries, errors });
                  o.log(`auth ${v.padEnd(3)} ${mode}, ${clients} client(s), round ${round + 1}/${o.rounds}: ${w.stats.rps.toFixed(0)} req/s, p50 ${w.stats.p50.toFixed(3)} ms, ${cpuPerReq.toFixed(0)} µs CPU/req, other ${w.foreign.toFixed(0)}%`);
                } catch (err) {
                  // One window that fails (a system disturbed by a busy machine) costs its round, not the run.
                  const error = (err as Error).message;
                  failures.push({ mode, clients, variant: v, round, error });
                  o.log(`auth ${v.padEnd(3)} ${mode}, ${clients} client(s), round ${round + 1}/${o.rounds}: FAILED: ${error}`);
                  await stopSession(v, clients).catch(() => undefined);
                  await waitAllReady(sys, 3, 30_000).catch(() => undefined);
                }
              }
            }
          }
        } finally {
          for (const key of [...sessions.keys()]) {
            const [v, c] = key.split('/');
            await stopSession(v as Variant, Number(c)).catch(() => undefined);
          }
        }
        for (const [v, sys] of systems) {
          const get = await lg.call<{ result: string }>('ask', { rm: sys.rmAddr, payload: 'get', ca: v === 'tls' ? tls.files?.ca : undefined });
          const a = acked.get(v)!;
          checks.push({ mode, variant: v, acked: a.acked, total: Number(get.result), unresolved: a.unresolved });
        }
      } finally {
        for (const sys of systems.values()) await sys.stop();
      }
    }
  } finally {
    tls.remove();
  }
  return { tls: { measured: !!tls.files, why: tls.files ? undefined : tls.why }, rows, summary: summarize(rows, o), checks, failures };
}

/**
 * The order of the variants in round `round`: each rotation, then the same first with the rest
 * reversed (off on tls, off tls on, on tls off, on off tls, tls off on, tls on off), so that each comes
 * first, second and last equally often and after each of the others equally often. A
 * rotation alone would always put the same variant after the same one, and what a loaded
 * system leaves behind (its garbage collection, its checkpoint) would always fall on the same
 * successor.
 */
export function orderOf<T>(variants: readonly T[], round: number): T[] {
  const n = variants.length;
  const shift = Math.floor(round / 2) % n;
  const rotated = variants.map((_, i) => variants[(i + shift) % n]!);
  return round % 2 === 0 ? rotated : [rotated[0]!, ...rotated.slice(1).reverse()];
}

function systemOptions(mode: Mode, v: Variant, tls: SystemTls | undefined) {
  return {
    mode,
    app: 'counter' as const,
    heartbeat: 0.1,
    // Three systems share the machine: a longer heartbeat timeout than the default 0.2 s keeps a
    // busy moment from deposing a live replica (a steady load does not depend on it).
    heartbeatTimeout: 1,
    checkpointFreq: 1,
    autoRestart: false,
    serverArgs: ['--quiet'],
    ...(v === 'off' ? { secretFile: false as const } : {}),
    ...(v === 'tls' ? { tls } : {}),
  };
}

/** Like stats.spread, with the median of an even count taken halfway between the middle two. */
function spreadOf(xs: number[]): Spread {
  const out = spread(xs);
  const s = [...xs].sort((a, b) => a - b);
  if (s.length && s.length % 2 === 0) out.median = (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return out;
}

const median = (xs: number[]) => spreadOf(xs).median;

/** Requests per second and CPU µs per request over all the given windows together. */
function pool(rows: SecurityRow[]): { rps: number; cpuPerReq: number } | undefined {
  if (rows.length === 0) return undefined;
  const count = rows.reduce((a, r) => a + r.stats.count, 0);
  const seconds = rows.reduce((a, r) => a + r.stats.seconds, 0);
  const cpuSeconds = rows.reduce((a, r) => a + (Object.values(r.cpu).reduce((x, y) => x + y, 0) / 100) * r.stats.seconds, 0);
  return { rps: count / seconds, cpuPerReq: (cpuSeconds / count) * 1e6 };
}

export function summarize(rows: SecurityRow[], o: Pick<SecurityOptions, 'modes' | 'clients'>): SecuritySummary[] {
  const out: SecuritySummary[] = [];
  for (const mode of o.modes) {
    for (const clients of o.clients) {
      const of = (v: Variant) => rows.filter((r) => r.mode === mode && r.clients === clients && r.variant === v).sort((a, b) => a.round - b.round);
      const off = of('off');
      if (off.length === 0) continue;
      const med: SecuritySummary['median'] = {};
      for (const v of VARIANTS) {
        const rs = of(v);
        if (rs.length) med[v] = { rps: median(rs.map((r) => r.stats.rps)), p50: median(rs.map((r) => r.stats.p50)), p99: median(rs.map((r) => r.stats.p99)), cpuPerReq: median(rs.map((r) => r.cpuPerReq)), foreign: median(rs.map((r) => r.foreign)) };
      }
      const ratio = (v: Variant, key: (r: SecurityRow) => number) => {
        const rs = of(v);
        if (rs.length === 0) return undefined;
        const pairs = rs.flatMap((r) => off.filter((x) => x.round === r.round).map((x) => key(r) / key(x))).filter(Number.isFinite);
        return spreadOf(pairs);
      };
      const offMedian = med.off!.rps;
      const p = { off: pool(off), on: pool(of('on')), tls: pool(of('tls')) };
      out.push({
        mode,
        clients,
        median: med,
        pooled: {
          onOff: p.on && p.off ? p.on.rps / p.off.rps : undefined,
          tlsOff: p.tls && p.off ? p.tls.rps / p.off.rps : undefined,
          cpuOnOff: p.on && p.off ? p.on.cpuPerReq / p.off.cpuPerReq : undefined,
          cpuTlsOff: p.tls && p.off ? p.tls.cpuPerReq / p.off.cpuPerReq : undefined,
        },
        onOff: ratio('on', (r) => r.stats.rps),
        tlsOff: ratio('tls', (r) => r.stats.rps),
        cpuOnOff: ratio('on', (r) => r.cpuPerReq),
        cpuTlsOff: ratio('tls', (r) => r.cpuPerReq),
        offNoise: spreadOf(off.map((r) => r.stats.rps / offMedian)),
        offOff: spreadOf(off.slice(1).flatMap((r, i) => (r.round === off[i]!.round + 1 ? [r.stats.rps / off[i]!.stats.rps] : [])).filter(Number.isFinite)),
      });
    }
  }
  return out;
}
