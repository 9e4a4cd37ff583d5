/**
 * Durable replicas next to Redis with an append-only file: the same closed-loop loads, in the
 * same run, on the real disk and on tmpfs. For each fsync policy (`always`, `everysec`, `no`)
 * and each filesystem, back to back: Redis with 2 replicas, every instance with its own AOF
 * (`appendfsync` the same policy) in a folder on that filesystem, each write `SET` + `WAIT 2 0`;
 * then ftkit passive and active, 3 replicas, `counter` app, `--data-dir` on that filesystem and
 * `--fsync` the same policy. Then, without any disk, Redis without AOF and ftkit without a data
 * dir (today's figures: the no-regression check). etcd only where an `etcd` binary is on PATH.
 * Throughput, latency, CPU per 1,000 writes and ftkit's ratio to Redis in the same block.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { System } from '../harness/launch/system.js';
import { PACKAGE_ROOT } from '../harness/launch/proc.js';
import type { Mode } from '../lib/protocol/index.js';
import { DEFAULT_CHECKPOINT_FREQ_S } from '../lib/config/options.js';
import type { FsyncPolicy } from '../lib/storage/wal.js';
import { LoadGen, leanStdout, waitAllReady } from './harness.js';
import { REDIS_INSTALL_HINT, findRedis, redisVersion, startRedisGroup } from './redis-server.js';
import { measureLoad, type RedisRow } from './redis.js';
import { fmt, sleep, table } from './stats.js';

export interface DurableOptions {
  /** Load clients per window (closed loop). */
  clients: number[];
  fsyncs: FsyncPolicy[];
  warmupMs: number;
  durationMs: number;
  quietMs: number;
  heartbeat: number;
  log: (line: string) => void;
}

/** `none`: Redis without AOF, ftkit without a data dir. */
export type Fsync = FsyncPolicy | 'none';

export interface Disk {
  /** `disk` (the real one) or `tmpfs`. */
  kind: string;
  /** The folder the data dirs were made under, its filesystem type and device. */
  dir: string;
  fstype: string;
  source: string;
}

/** One window, measured as the `redis` section measures its own. */
export interface DurableRow extends Pick<RedisRow, 'clients' | 'stats' | 'cpuPer1k' | 'clientCpuPer1k' | 'foreign' | 'errors'> {
  system: 'redis' | Mode;
  fsync: Fsync;
  /** Disk.kind, or `-` without a disk. */
  fs: string;
}

export type DurableResult = {
  redis: string;
  etcd: string;
  disks: Disk[];
  rows: DurableRow[];
  checks: Array<{ system: string; acked: number; total: number; unresolved: number }>;
  failures: string[];
};

const ETCD_HINT = 'etcd is not on PATH: skipped (to include it, install etcd, e.g. Debian/Ubuntu: apt-get install etcd-server, and rerun)';

const onPath = (name: string) =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

/** The filesystem `dir` is on, from `df`. */
export function filesystemOf(dir: string): { fstype: string; source: string } {
  const out = execFileSync('df', ['--output=fstype,source', dir], { encoding: 'utf8', timeout: 5000 }).trim().split('\n');
  const [fstype = '?', source = '?'] = (out[1] ?? '').trim().split(/\s+/);
  return { fstype, source };
}

/** The real disk (the OS's temp folder, or the repo's bench/results if that is tmpfs) and /dev/shm if it is tmpfs. */
function findDisks(log: (line: string) => void): Disk[] {
  const disks: Disk[] = [];
  for (const dir of [tmpdir(), join(PACKAGE_ROOT, 'bench', 'results')]) {
    const fs = filesystemOf(dir);
    if (fs.fstype !== 'tmpfs') {
      disks.push({ kind: 'disk', dir, ...fs });
      break;
    }
  }
  const shm = filesystemOf('/dev/shm');
  if (shm.fstype === 'tmpfs') disks.push({ kind: 'tmpfs', dir: '/dev/shm', ...shm });
  for (const d of disks) log(`${d.kind}: ${d.dir} is ${d.fstype} on ${d.source}`);
  if (!disks.some((d) => d.kind === 'disk')) log('no real disk found (every candidate folder is tmpfs): disk rows skipped');
  if (!disks.some((d) => d.kind === 'tmpfs')) log('/dev/shm is not tmpfs: tmpfs rows skipped');
  return disks;
}

export async function runDurable(lg: LoadGen, o: DurableOptions): Promise<DurableResult | { skipped: string }> {
  const path = findRedis();
  if (!path) {
    o.log(REDIS_INSTALL_HINT);
    return { skipped: REDIS_INSTALL_HINT };
  }
  const redis = `Redis ${redisVersion(path)} (${path})`;
  const etcd = onPath('etcd') ? 'etcd is on PATH but not measured yet' : ETCD_HINT;
  o.log(`${redis}; ${etcd}`);
  const disks = findDisks(o.log);
  const r: DurableResult = { redis, etcd, disks, rows: [], checks: [], failures: [] };
  const say = (x: DurableRow) =>
    o.log(`${x.system} fsync ${x.fsync} on ${x.fs}, ${x.clients} client(s): ${x.stats.rps.toFixed(0)} writes/s, p50 ${x.stats.p50.toFixed(3)} ms, p99 ${x.stats.p99.toFixed(3)} ms`);

  const runRedis = async (fsync: Fsync, disk: Disk | undefined) => {
    try {
      const group = await startRedisGroup(path, 2, { parent: disk?.dir, aof: fsync === 'none' ? undefined : fsync });
      try {
        await sleep(500);
        for (const clients of o.clients) {
          const { end, ...w } = await measureLoad(lg, o, (session) => lg.call('startRedis', { session, port: group.port, clients, replicas: 2 }), group.pids);
          const row: DurableRow = { system: 'redis', fsync, fs: disk?.kind ?? '-', clients, ...w, errors: end.errors };
          r.rows.push(row);
          say(row);
        }
      } finally {
        await group.stop();
      }
    } catch (err) {
      r.failures.push(`Redis fsync ${fsync} on ${disk?.kind ?? '-'}: ${(err as Error).message}`);
      o.log(`Redis FAILED: ${(err as Error).message}`);
    }
  };

  const runFtkit = async (mode: Mode, fsync: Fsync, disk: Disk | undefined) => {
    const dataDir = disk ? mkdtempSync(join(disk.dir, 'ftkit-bench-durable-')) : undefined;
    const serverArgs = fsync === 'none' ? [] : ['--fsync', fsync];
    const sys = new System({ mode, app: 'counter', replicas: 3, heartbeat: o.heartbeat, checkpointFreq: DEFAULT_CHECKPOINT_FREQ_S, autoRestart: false, quiet: true, dataDir, serverArgs });
    const name = `${mode} fsync ${fsync} on ${disk?.kind ?? '-'}`;
    let acked = 0;
    let unresolved = 0;
    try {
      await sys.start();
      await waitAllReady(sys, 3);
      for (const p of sys.group.procs.values()) leanStdout(p);
      const pids = [...sys.group.procs.values()].map((p) => p.pid);
      await sleep(500);
      for (const clients of o.clients) {
        const { end, ...w } = await measureLoad(lg, o, (session) => lg.call('startSession', { session, rm: sys.rmAddr, clients, payload: 'add 1' }), pids);
        acked += end.clients.reduce((a, c) => a + c.replies, 0);
        unresolved += end.clients.reduce((a, c) => a + c.unresolved, 0);
        const row: DurableRow = { system: mode, fsync, fs: disk?.kind ?? '-', clients, ...w, errors: end.errors };
        r.rows.push(row);
        say(row);
      }
      const get = await lg.call<{ result: string }>('ask', { rm: sys.rmAddr, payload: 'get' });
      r.checks.push({ system: name, acked, total: Number(get.result), unresolved });
    } catch (err) {
      r.failures.push(`ftkit ${name}: ${(err as Error).message}`);
      o.log(`ftkit ${name} FAILED: ${(err as Error).message}`);
    } finally {
      await sys.stop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }
  };

  // Each block (one policy, one filesystem) back to back, so that its ratios share the machine's moment.
  for (const fsync of o.fsyncs) {
    for (const disk of disks) {
      await runRedis(fsync, disk);
      await runFtkit('passive', fsync, disk);
      await runFtkit('active', fsync, disk);
    }
  }
  await runRedis('none', undefined);
  await runFtkit('passive', 'none', undefined);
  await runFtkit('active', 'none', undefined);
  return r;
}

export function printDurable(r: DurableResult | { skipped: string }): void {
  if ('skipped' in r) {
    console.log(`\nDurable replicas vs Redis: skipped. ${r.skipped}`);
    return;
  }
  const find = (system: string, fsync: Fsync, fs: string, clients: number) => r.rows.find((x) => x.system === system && x.fsync === fsync && x.fs === fs && x.clients === clients);
  console.log(`\nDurable replicas: ftkit --data-dir --fsync P next to ${r.redis} with 2 replicas, each instance with an AOF and appendfsync P,`);
  console.log('a write = SET + WAIT 2 0 (none: Redis without AOF, ftkit without a data dir); closed loop on 127.0.0.1, counter app `add 1`, 3 replicas,');
  console.log('every component --quiet --quiet-heartbeats; ratio = ftkit writes/s over Redis\'s with the same policy, filesystem and clients;');
  console.log('CPU = user + system time of the service\'s processes per 1,000 writes; other % = unrelated processes\' CPU during the window.');
  for (const d of r.disks) console.log(`  ${d.kind}: data dirs under ${d.dir}, ${d.fstype} on ${d.source}`);
  console.log(`  ${r.etcd}\n`);
  const rows = [['system', 'fsync', 'filesystem', 'clients', 'writes/s', 'p50 ms', 'p99 ms', 'ratio', 'CPU ms/1k', 'client CPU ms/1k', 'other %']];
  for (const x of r.rows) {
    const redis = find('redis', x.fsync, x.fs, x.clients);
    const ratio = x.system === 'redis' ? '1' : fmt(x.stats.rps / (redis?.stats.rps ?? NaN), 2);
    const fs = x.fs === '-' ? '-' : `${x.fs} (${r.disks.find((d) => d.kind === x.fs)?.fstype})`;
    rows.push([x.system === 'redis' ? 'Redis' : `ftkit ${x.system}`, x.fsync, fs, String(x.clients), fmt(x.stats.rps, 0), fmt(x.stats.p50, 3), fmt(x.stats.p99, 3), ratio, fmt(x.cpuPer1k, 0), fmt(x.clientCpuPer1k, 0), fmt(x.foreign, 0)]);
  }
  console.log(table(rows));
  console.log('\nAcceptance: ftkit passive --fsync always on the real disk >= Redis appendfsync always + WAIT 2 0, same run:');
  for (const c of new Set(r.rows.map((x) => x.clients))) {
    const f = find('passive', 'always', 'disk', c);
    const red = find('redis', 'always', 'disk', c);
    if (!f || !red) console.log(`  ${c} client(s): not measured`);
    else console.log(`  ${c} client(s): ftkit ${fmt(f.stats.rps, 0)} vs Redis ${fmt(red.stats.rps, 0)} writes/s (${fmt(f.stats.rps / red.stats.rps, 2)}x) -> ${f.stats.rps >= red.stats.rps ? 'OK' : 'BELOW'}`);
  }
  console.log('Without a data dir (no regression: the same code path as before data dirs; compare the ratio to Redis without AOF with the `redis` section\'s):');
  for (const mode of ['passive', 'active'] as const) {
    const parts = [...new Set(r.rows.map((x) => x.clients))].map((c) => {
      const f = find(mode, 'none', '-', c);
      const red = find('redis', 'none', '-', c);
      return `${c}: ${fmt(f?.stats.rps, 0)} writes/s (${fmt((f?.stats.rps ?? NaN) / (red?.stats.rps ?? NaN), 2)}x Redis)`;
    });
    console.log(`  ftkit ${mode}, clients ${parts.join(', ')}`);
  }
  console.log('\nCounter check (acknowledged adds vs final `get`):');
  for (const c of r.checks) console.log(`  ${c.system}: acknowledged ${c.acked}, counter ${c.total}, unresolved ${c.unresolved} -> ${c.total >= c.acked && c.total - c.acked <= c.unresolved ? 'OK' : 'MISMATCH'}`);
  for (const x of r.rows) if (x.errors.length) console.log(`  ! ${x.system} ${x.fsync} ${x.fs} ${x.clients}: ${x.errors.slice(0, 2).join(' | ')}`);
  for (const f of r.failures) console.log(`  ! ${f}`);
}
