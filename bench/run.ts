/**
 * `npm run bench [-- --quick] [-- --only throughput,security,handshake,redis,durable,idle,groups,rm-scale,metrics,failover,recovery,sns,failslow,bigstate] [-- --no-security] [-- --profile]`
 *
 * Benchmarks ftkit on 127.0.0.1 against a plain `node:net` baseline: throughput and
 * latency, the cost of authentication and TLS under load and per connection, ftkit next
 * to Redis with 2 replicas (where redis-server is installed), durable replicas (--data-dir,
 * each --fsync policy, real disk and tmpfs) next to Redis with an AOF, fault detection and
 * failover times, recovery times and checkpoint pauses by state size, memory per
 * component, aggregate throughput with 1-3 replica groups, the RM's and GFD's CPU per
 * membership event, client and heartbeat, the cost of metrics (on vs off), and how fast a post
 * reaches the social network's live timelines. Prints tables and writes everything to
 * bench/results/bench-<time>.json. See docs/BENCHMARKS.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../harness/launch/proc.js';
import { LoadGen, killStopped } from './harness.js';
import { killRedis } from './redis-server.js';
import { printRedis, runRedis } from './redis.js';
import { printDurable, runDurable } from './durable.js';
import { printIdle, runIdle } from './idle.js';
import { baselinePass, runThroughput, type ThroughputRow } from './throughput.js';
import { runFailover } from './failover.js';
import { runRecovery } from './recovery.js';
import { runProfile, type ProfileResult } from './profile.js';
import { runSecurity, type SecurityOptions, type SecurityResult } from './security.js';
import { runHandshake } from './handshake.js';
import { printGroups, runGroups, type GroupsOptions } from './groups.js';
import { RM_SCALE_FULL, RM_SCALE_QUICK, printRmScale, runRmScale } from './rm-scale.js';
import { printMetrics, runMetrics } from './metrics.js';
import { printSns, runSns, type SnsResult } from './sns.js';
import { printFailSlow, runFailSlow } from './failslow.js';
import { printBigState, runBigState } from './bigstate.js';
import { printFailover, printHandshake, printRecovery, printSecurity, printThroughput } from './report.js';

/** `throughput` includes `security` (measured between its two baseline passes) unless --no-security. */
const SECTIONS = ['throughput', 'security', 'handshake', 'redis', 'durable', 'idle', 'groups', 'rm-scale', 'metrics', 'failover', 'recovery', 'sns', 'failslow', 'bigstate', 'bigstate-sns'] as const;
type Section = (typeof SECTIONS)[number];

interface Args {
  quick: boolean;
  only: Set<Section>;
  profile: boolean;
  noSecurity: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: new Set(SECTIONS), profile: false, noSecurity: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') args.quick = true;
    else if (a === '--profile') args.profile = true;
    else if (a === '--no-security') args.noSecurity = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const list = a.includes('=') ? a.slice('--only='.length) : argv[++i] ?? '';
      const picked = list.split(',').filter(Boolean);
      for (const p of picked) if (!SECTIONS.includes(p as Section) && p !== 'none') usage(`unknown section ${p}`);
      args.only = new Set(picked as Section[]);
    } else if (a === '--help' || a === '-h') usage();
    else usage(`unknown option ${a}`);
  }
  if (args.only.has('throughput') && !args.noSecurity) args.only.add('security');
  if (args.noSecurity) args.only.delete('security');
  return args;
}

function usage(error?: string): never {
  const text = [
    'usage: npm run bench -- [--quick] [--only throughput,security,handshake,redis,durable,idle,groups,rm-scale,metrics,failover,recovery,sns,failslow,bigstate,bigstate-sns] [--no-security] [--profile]',
    '  throughput  bare TCP baseline, ftkit passive and active (as-is, drained, quiet); includes security',
    '  security    authentication off / on / on + TLS, interleaved rounds, ratios on/off and tls/off',
    '              (alone: between two baseline passes; --no-security leaves it out of throughput)',
    '  handshake   time and CPU to open a connection (plain, with the secret\'s handshake, TLS), and per message on an open one',
    '  redis       Redis with 2 replicas (SET + WAIT 2 0) next to ftkit passive and active, 3 replicas, 1/8/32 clients;',
    '              ftkit with 7 replicas; idle CPU of both (needs redis-server on PATH: apt-get install redis-server)',
    '  durable     ftkit passive and active with --data-dir and --fsync always/everysec/no, and without one, next to Redis',
    '              with 2 replicas and an AOF (appendfsync the same; SET + WAIT 2 0), 1/8/32 clients, on the real disk and tmpfs',
    '  idle        idle CPU per component of a quiet 3-replica system at heartbeat 0.1 s (and of Redis with 2 replicas)',
    '  groups      aggregate throughput and latency with 1, 2 and 3 replica groups of 3 (same 6 clients, keys 1-6; and 1 group with 2), CPU per request',
    '  rm-scale    CPU of one RM per membership event, per client discovery and per view push, and of one GFD per heartbeat per LFD',
    '  metrics     the same saturating load on two systems, metrics on and off (--no-metrics), alternating windows: throughput ratio, server CPU per request',
    '  failover    detection and failover times;  recovery: recovery and checkpoint pauses by state size',
    '  sns         social network: post delivery latency to a live timeline, across groups (through ftkit sync) and within one',
    '  failslow    fail-slow flags during 5 minutes of saturating load (30 s with --quick), and how long each injected fault takes to be flagged',
    '  bigstate    1, 10 and 100 MB of state (the log app): the longest event-loop stall per checkpoint at the primary and',
    '              the backups (a probe every ms), in memory and with data dirs, and false suspicions at heartbeat 0.1 s',
    '  bigstate-sns  the same with the sns app (timelines: one author posting to 1,000 followers)',
    '  --profile   also CPU profiles of the servers under load',
  ].join('\n');
  if (error) {
    process.stderr.write(`bench: ${error}\n${text}\n`);
    process.exit(2);
  }
  process.stdout.write(text + '\n');
  process.exit(0);
}

/** The file system a folder is on (tmpfs or a real disk), as df says. */
function diskKind(dir: string): string {
  try {
    const mounts = execFileSync('df', ['--output=fstype', dir], { encoding: 'utf8', timeout: 5000 }).trim().split('\n');
    return mounts.at(-1) ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The commit measured, and whether the working tree had changes (other engineers work in it). */
function gitInfo(): { commit: string; dirtyFiles: number } | undefined {
  try {
    const git = (...a: string[]) => execFileSync('git', a, { cwd: PACKAGE_ROOT, encoding: 'utf8', timeout: 5000 });
    return { commit: git('rev-parse', '--short', 'HEAD').trim(), dirtyFiles: git('status', '--porcelain').split('\n').filter(Boolean).length };
  } catch {
    return undefined;
  }
}

const log = (line: string) => process.stdout.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${line}\n`);

// ---- main ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // Interrupted: the components and helpers exit when our pipes to them close, except a
  // process we have SIGSTOPped for a hang trial, which cannot notice; kill that one.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killStopped();
      killRedis();
      process.stderr.write(`bench: interrupted (${sig}); stopping\n`);
      process.exit(130);
    });
  }
  const started = Date.now();
  const out: Record<string, unknown> = {
    started: new Date(started).toISOString(),
    quick: args.quick,
    git: gitInfo(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memMB: Math.round(totalmem() / 2 ** 20), node: process.version, platform: process.platform },
  };
  const dir = join(PACKAGE_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${new Date(started).toISOString().replace(/[:.]/g, '-')}${args.quick ? '-quick' : ''}.json`);
  const save = () => writeFileSync(file, JSON.stringify(out, null, 2) + '\n');

  const lg = new LoadGen();
  let failed = false;
  try {
    await lg.ready;
    const securityOptions: SecurityOptions = {
      modes: ['passive', 'active'],
      clients: [1, 8],
      rounds: args.quick ? 4 : 12,
      warmupMs: args.quick ? 500 : 1000,
      durationMs: args.quick ? 500 : 1000,
      settleMs: 250,
      // Interleaving, not re-measuring, is what protects the ratios from other work.
      attempts: 1,
      quietMs: args.quick ? 0 : 1500,
      log,
    };
    let security: SecurityResult | undefined;
    const measureSecurity = async () => {
      log('authentication and TLS under load');
      security = await runSecurity(lg, securityOptions);
      out.security = security;
      save();
    };
    const throughputOptions = {
      warmupMs: args.quick ? 500 : 1000,
      durationMs: args.quick ? 2000 : 8000,
      clients: [1, 8],
      attempts: args.quick ? 1 : 2,
      quietMs: args.quick ? 0 : 10_000,
      log,
    };
    if (args.only.has('throughput')) {
      log('throughput and latency');
      const r = await runThroughput(lg, { ...throughputOptions, beforeSecondBaseline: args.only.has('security') ? measureSecurity : undefined });
      out.throughput = r;
      save();
      printThroughput(r);
      if (security) printSecurity(security, r.rows, securityOptions);
    } else if (args.only.has('security')) {
      log('baseline, then authentication and TLS under load, then the baseline again');
      const rows: ThroughputRow[] = [];
      await baselinePass(lg, throughputOptions, rows, '-');
      await measureSecurity();
      await baselinePass(lg, throughputOptions, rows, 'again');
      out.securityBaseline = rows;
      save();
      printSecurity(security!, rows, securityOptions);
    }
    if (args.only.has('handshake')) {
      log('cost of opening a connection');
      const r = await runHandshake({
        connections: args.quick ? 200 : 1000,
        warmup: args.quick ? 20 : 50,
        block: args.quick ? 50 : 100,
        messages: args.quick ? 40_000 : 200_000,
        messageBlock: 1000,
        inFlight: 8,
        log,
      });
      out.handshake = r;
      save();
      printHandshake(r);
    }
    if (args.only.has('redis')) {
      log('ftkit next to Redis');
      const r = await runRedis(lg, {
        clients: [1, 8, 32],
        bigClients: 8,
        warmupMs: args.quick ? 500 : 1000,
        durationMs: args.quick ? 2000 : 5000,
        idleMs: args.quick ? 3000 : 10_000,
        heartbeat: 0.1,
        quietMs: args.quick ? 0 : 5000,
        log,
      });
      out.redis = r;
      save();
      printRedis(r);
    }
    if (args.only.has('durable')) {
      log('durable replicas next to Redis with an AOF');
      const r = await runDurable(lg, {
        clients: args.quick ? [1, 8] : [1, 8, 32],
        fsyncs: ['always', 'everysec', 'no'],
        warmupMs: args.quick ? 300 : 1000,
        durationMs: args.quick ? 1000 : 3000,
        quietMs: args.quick ? 0 : 3000,
        heartbeat: 0.1,
        log,
      });
      out.durable = r;
      save();
      printDurable(r);
    }
    if (args.only.has('idle')) {
      log('idle CPU');
      const r = await runIdle({ replicas: 3, heartbeat: 0.1, settleMs: args.quick ? 1000 : 3000, windowMs: args.quick ? 3000 : 10_000, windows: args.quick ? 2 : 3, log });
      out.idle = r;
      save();
      printIdle(r);
    }
    if (args.only.has('groups')) {
      log('replica groups');
      const o: GroupsOptions = {
        modes: ['passive', 'active'],
        groups: [1, 2, 3],
        replicas: 3,
        clients: 6,
        control: true,
        warmupMs: args.quick ? 500 : 1000,
        windowMs: args.quick ? 1500 : 3000,
        windows: args.quick ? 2 : 5,
        quietMs: args.quick ? 0 : 5000,
        log,
      };
      const r = await runGroups(lg, o);
      out.groups = r;
      save();
      printGroups(r, o);
    }
    if (args.only.has('rm-scale')) {
      log('RM and GFD scale');
      const r = await runRmScale(args.quick ? RM_SCALE_QUICK : RM_SCALE_FULL, log);
      out.rmScale = r;
      save();
      printRmScale(r);
    }
    if (args.only.has('metrics')) {
      log('metrics on vs off');
      const o = { windows: args.quick ? 4 : 20, clients: 8, warmupMs: 300, windowMs: args.quick ? 1000 : 2000, log };
      const r = await runMetrics(lg, o);
      out.metrics = r;
      save();
      printMetrics(r, o);
    }
    if (args.only.has('failover')) {
      log('detection and failover');
      const r = await runFailover(lg, {
        killTrials: args.quick ? 3 : 10,
        hangTrials: args.quick ? 1 : 5,
        heartbeats: [0.05, 1],
        saturating: args.quick ? [] : [0.05],
        saturatingTrials: { kill: 5, hang: 5 },
        log,
      });
      out.failover = r;
      save();
      printFailover(r);
    }
    if (args.only.has('recovery')) {
      log('recovery and checkpoint pauses');
      const r = await runRecovery(lg, { checkpoints: args.quick ? 2 : 3, log });
      out.recovery = r;
      save();
      printRecovery(r);
    }
    if (args.only.has('sns')) {
      log('social network post delivery');
      const runs: SnsResult[] = [];
      for (const mode of ['passive', 'active'] as const) {
        runs.push(await runSns({ mode, replicas: 3, posts: args.quick ? 50 : 200, concurrency: 4, paceMs: args.quick ? 20 : 50, log }));
        out.sns = runs;
        save();
      }
      for (const r of runs) printSns(r);
    }
    if (args.only.has('failslow')) {
      log('fail-slow detection');
      const r = await runFailSlow({ loadMs: args.quick ? 30_000 : 300_000, clients: 32, log });
      out.failslow = r;
      save();
      printFailSlow(r, log);
    }
    for (const app of ['log', 'sns'] as const) {
      const section = app === 'log' ? 'bigstate' : 'bigstate-sns';
      if (!args.only.has(section)) continue;
      const sizes = [
        { label: '1 MB', bytes: 1e6 },
        { label: '10 MB', bytes: 1e7 },
        { label: '100 MB', bytes: 1e8 },
      ];
      const checkpoints = args.quick ? 3 : 8;
      log(`large states (${app} app): checkpoint stalls, in memory`);
      const memory = await runBigState(lg, { app, sizes, checkpoints, log });
      log(`large states (${app} app): checkpoint stalls, with data dirs (fsync always)`);
      const disk = mkdtempSync(join(tmpdir(), 'ftkit-bigstate-'));
      const durable = await runBigState(lg, { app, sizes, checkpoints, dataDir: disk, log }).finally(() => rmSync(disk, { recursive: true, force: true }));
      out[section] = { memory, durable, disk: `${tmpdir()} (${diskKind(tmpdir())})` };
      save();
      printBigState(memory, `Large states (${app} app), in memory: longest event-loop stall per checkpoint (probe every 1 ms), heartbeat 0.1 s`);
      printBigState(durable, `Large states (${app} app), with data dirs in ${tmpdir()} (fsync always): the same`);
    }
    if (args.profile) {
      log('CPU profiles of the servers under load');
      const r: ProfileResult = await runProfile(lg, { durationMs: args.quick ? 3000 : 8000, dir: join(dir, 'profiles'), log });
      out.profile = r;
      save();
      console.log('\n' + r.text);
    }
  } catch (err) {
    failed = true;
    out.error = (err as Error).stack ?? String(err);
    process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
  } finally {
    killStopped();
    killRedis();
    await lg.close();
    out.seconds = (Date.now() - started) / 1000;
    save();
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; results in ${file}`);
  process.exit(failed ? 1 : 0);
}

void main();
