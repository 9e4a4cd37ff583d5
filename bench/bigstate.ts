/**
 * Large states: how long a checkpoint holds each replica's event loop, by state size. One passive
 * System (`log` app, heartbeat 0.1 s, periodic checkpoints off) is filled to 1 MB, 10 MB and
 * 100 MB of application state (the app's JSON), and at each size:
 *
 *  - a probe process (bench/probe.ts) asks every server, every millisecond, something it answers
 *    at once on its event loop; the longest wait of a probe during a checkpoint is that checkpoint's
 *    stall at that server (primary and backups apart);
 *  - a closed-loop client sends `size` through the primary, as a user would see it (its reply waits
 *    for the backups' acknowledgements too);
 *  - checkpoint-freq is set so that `checkpoints` periodic checkpoints go to both backups; a
 *    checkpoint's window runs from the primary's `checkpoint_sent` to the last backup's
 *    `checkpoint_received` of that count (+200 ms);
 *  - false suspicions (every replica is alive throughout): any heartbeat that failed, replica
 *    deleted, server detached or stepped down; and any checkpoint refused or disk failure.
 *
 * With `dataDir`, every replica also writes each checkpoint it installs (and its own) to disk.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { System } from '../harness/launch/system.js';
import type { TraceEvent } from '../lib/trace/index.js';
import { LoadGen, leanStdout, rmStatus, setProperty, waitAllReady } from './harness.js';
import { fmt, percentile, sleep, table } from './stats.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface BigStateOptions {
  /** `log` (default): a list of appended items; `sns`: timelines, one author posting to 1,000 followers. */
  app?: 'log' | 'sns';
  sizes: Array<{ label: string; bytes: number }>;
  checkpoints: number;
  /** Keep the replicas on disk under this folder (fsync always), or not. */
  dataDir?: string;
  log: (line: string) => void;
}

export interface BigStateRow {
  label: string;
  bytes: number;
  entries: number;
  checkpoints: number;
  /** Per checkpoint: ms from the primary's checkpoint_sent to the last backup's checkpoint_received. */
  installMs: number[];
  /** Longest probe wait during a checkpoint, per server role: the primary and the worse backup, per checkpoint. */
  primaryStall: number[];
  backupStall: number[];
  /** The same probe's waits outside checkpoints (p99, max): the machine's own noise. */
  quietP99: number;
  quietMax: number;
  /** The longest gap between two replies of the closed-loop client during a checkpoint. */
  clientGap: number[];
  falseSuspicions: string[];
  error?: string;
}

const KEEP = ['listening', 'role_changed', 'checkpoint_sent', 'checkpoint_received', 'checkpoint_streamed', 'checkpoint_bad', 'heartbeat_failed', 'replica_deleted', 'detached', 'step_down', 'disk_failed'];
const SUSPICIONS = new Set(['heartbeat_failed', 'replica_deleted', 'detached', 'step_down', 'checkpoint_bad', 'disk_failed']);
const OFF = '3600';
const data = <T>(e: TraceEvent) => e.data as T;

export async function runBigState(lg: LoadGen, o: BigStateOptions): Promise<BigStateRow[]> {
  const app = o.app ?? 'log';
  const sys = new System({ mode: 'passive', app, heartbeat: 0.1, checkpointFreq: Number(OFF), autoRestart: false, quiet: true, dataDir: o.dataDir });
  const rows: BigStateRow[] = [];
  try {
    await sys.start();
    await waitAllReady(sys, 3);
    for (const p of sys.group.procs.values()) leanStdout(p, KEEP);
    let have = { bytes: app === 'log' ? 2 : 0, entries: 0 };
    for (const size of o.sizes) {
      const itemSize = Math.min(10_000, Math.max(100, Math.round(size.bytes / 1000)));
      const f =
        app === 'log'
          ? await lg.call<{ bytes: number; entries: number; seconds: number }>('fill', { rm: sys.rmAddr, clients: 4, itemSize, have: have.bytes, entries: have.entries, targetBytes: size.bytes }, 600_000)
          : await lg.call<{ bytes: number; entries: number; seconds: number }>('fillSns', { rm: sys.rmAddr, followers: 1000, itemSize: 400, have: have.bytes, entries: have.entries, targetBytes: size.bytes }, 600_000);
      have = { bytes: f.bytes, entries: f.entries };
      o.log(`bigstate ${size.label}: ${f.bytes} B in ${f.entries} entries (filled in ${f.seconds.toFixed(1)} s)`);
      const row = await measure(sys, lg, o, size.label, have);
      rows.push(row);
      o.log(`bigstate ${size.label}: stalls primary ${row.primaryStall.map((x) => x.toFixed(1)).join(', ')} ms; backups ${row.backupStall.map((x) => x.toFixed(1)).join(', ')} ms; install ${row.installMs.map((x) => x.toFixed(0)).join(', ')} ms; false suspicions ${row.falseSuspicions.length}${row.error ? `; ${row.error}` : ''}`);
      for (const s of row.falseSuspicions.slice(0, 5)) o.log(`  ${s}`);
    }
  } finally {
    await sys.stop();
  }
  return rows;
}

async function measure(sys: System, lg: LoadGen, o: BigStateOptions, label: string, have: { bytes: number; entries: number }): Promise<BigStateRow> {
  const payload = o.app === 'sns' ? 'timeline a' : 'size';
  const st = await rmStatus(sys);
  const primary = st.leader!;
  const backups = st.members.map((m) => m.name).filter((n) => n !== primary);
  const marks = new Map([...sys.group.procs.values()].map((p) => [p, p.events.length]));
  const probe = await startProbe(st.members.map((m) => ({ name: m.name, addr: m.addr })));
  const session = `big-${label}`;
  await lg.call('startSession', { session, rm: sys.rmAddr, clients: 1, payload, prefix: 'B', keepTimes: true });
  const row: BigStateRow = { label, bytes: have.bytes, entries: have.entries, checkpoints: 0, installMs: [], primaryStall: [], backupStall: [], quietP99: 0, quietMax: 0, clientGap: [], falseSuspicions: [] };
  let samples: Record<string, Array<[number, number]>> = {};
  let times: number[] = [];
  const sent = () => sys.proc(primary).events.slice(marks.get(sys.proc(primary))).filter((e) => e.type === 'checkpoint_sent');
  const received = (b: string) => sys.proc(b).events.slice(marks.get(sys.proc(b))).filter((e) => e.type === 'checkpoint_received');
  const installedBy = (count: number) => backups.map((b) => received(b).find((e) => data<{ count: number }>(e).count === count));
  try {
    await sleep(500);
    // Often enough for several checkpoints, not so often that one overtakes the last.
    await setProperty(sys, 'checkpoint-freq', String(Math.max(1, Math.ceil(have.bytes / 25e6))));
    const deadline = Date.now() + o.checkpoints * 30_000;
    const done = () => new Set(sent().map((e) => data<{ count: number }>(e).count).filter((c) => installedBy(c).every(Boolean))).size;
    while (done() < o.checkpoints && Date.now() < deadline) await sleep(100);
    await setProperty(sys, 'checkpoint-freq', OFF);
    await sleep(500);
  } catch (err) {
    row.error = (err as Error).message;
  } finally {
    samples = await stopProbe(probe);
    const end = await lg.call<{ times: number[]; errors: string[] }>('stopSession', { session, drainMs: 3000 });
    times = end.times ?? [];
    if (end.errors.length) row.error ??= end.errors[0];
  }
  const windows: Array<[number, number]> = [];
  for (const count of new Set(sent().map((e) => data<{ count: number }>(e).count))) {
    const from = Math.min(...sent().filter((e) => data<{ count: number }>(e).count === count).map((e) => e.time));
    const ins = installedBy(count);
    if (!ins.every(Boolean)) continue;
    const to = Math.max(...ins.map((e) => e!.time));
    windows.push([from, to + 200]);
    row.installMs.push(to - from);
  }
  row.checkpoints = windows.length;
  const inWindow = (at: number, waited: number, [from, to]: [number, number]) => at < to && at + waited > from;
  const worst = (name: string, w: [number, number]) => Math.max(0, ...(samples[name] ?? []).filter(([at, waited]) => inWindow(at, waited, w)).map(([, waited]) => waited));
  for (const w of windows) {
    row.primaryStall.push(worst(primary, w));
    row.backupStall.push(Math.max(...backups.map((b) => worst(b, w))));
    let gap = 0;
    for (let i = 1; i < times.length; i++) if (times[i]! > w[0] && times[i - 1]! < w[1]) gap = Math.max(gap, times[i]! - times[i - 1]!);
    row.clientGap.push(gap);
  }
  const quiet = Object.values(samples)
    .flat()
    .filter(([at, waited]) => !windows.some((w) => inWindow(at, waited, w)))
    .map(([, waited]) => waited)
    .sort((a, b) => a - b);
  row.quietP99 = percentile(quiet, 99);
  row.quietMax = quiet.at(-1) ?? 0;
  for (const [p, mark] of marks) {
    for (const e of p.events.slice(mark)) {
      if (SUSPICIONS.has(e.type)) row.falseSuspicions.push(`${e.component}: ${e.text.slice(0, 200)}`);
    }
  }
  if (windows.length < o.checkpoints) row.error ??= `only ${windows.length} of ${o.checkpoints} checkpoints installed by every backup`;
  return row;
}

function startProbe(targets: Array<{ name: string; addr: string }>): Promise<ChildProcess> {
  const child = fork(join(here, 'probe.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`probe exited (${code})`)));
    child.send({ op: 'start', targets });
  });
}

function stopProbe(child: ChildProcess): Promise<Record<string, Array<[number, number]>>> {
  return new Promise((resolve) => {
    child.once('message', (m: { samples: Record<string, Array<[number, number]>> }) => resolve(m.samples));
    child.once('exit', () => resolve({}));
    child.send({ op: 'stop' });
  });
}

export function printBigState(rows: BigStateRow[], title: string): void {
  const max = (xs: number[]) => (xs.length ? Math.max(...xs) : undefined);
  const med = (xs: number[]) => (xs.length ? percentile([...xs].sort((a, b) => a - b), 50) : undefined);
  const out = [['state', 'entries', 'checkpoints', 'install ms (median)', 'primary stall ms (max)', 'backup stall ms (max)', 'client gap ms (max)', 'quiet p99 / max ms', 'false suspicions']];
  for (const r of rows) {
    out.push([r.label, String(r.entries), String(r.checkpoints), fmt(med(r.installMs), 0), fmt(max(r.primaryStall)), fmt(max(r.backupStall)), fmt(max(r.clientGap)), `${fmt(r.quietP99)} / ${fmt(r.quietMax)}`, String(r.falseSuspicions.length) + (r.error ? ` (${r.error})` : '')]);
  }
  process.stdout.write(`\n${title}\n${table(out)}\n`);
}
