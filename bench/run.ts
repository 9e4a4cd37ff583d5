/**
 * `npm run bench [-- --quick] [-- --only throughput,failover,recovery] [-- --profile]`
 *
 * Benchmarks ftkit on 127.0.0.1 against a plain `node:net` baseline: throughput and
 * latency, fault detection and failover times, recovery times and checkpoint pauses
 * by state size, and memory per component. Prints tables and writes everything to
 * bench/results/bench-<time>.json. See docs/BENCHMARKS.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../lib/launch/proc.js';
import { LoadGen, killStopped } from './harness.js';
import { runThroughput, type ThroughputResult } from './throughput.js';
import { runFailover, type FailoverResult } from './failover.js';
import { runRecovery, type RecoveryResult } from './recovery.js';
import { runProfile, type ProfileResult } from './profile.js';
import { fmt, table, type Spread } from './stats.js';

const SECTIONS = ['throughput', 'failover', 'recovery'] as const;
type Section = (typeof SECTIONS)[number];

interface Args {
  quick: boolean;
  only: Set<Section>;
  profile: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: new Set(SECTIONS), profile: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') args.quick = true;
    else if (a === '--profile') args.profile = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const list = a.includes('=') ? a.slice('--only='.length) : argv[++i] ?? '';
      const picked = list.split(',').filter(Boolean);
      for (const p of picked) if (!SECTIONS.includes(p as Section) && p !== 'none') usage(`unknown section ${p}`);
      args.only = new Set(picked as Section[]);
    } else if (a === '--help' || a === '-h') usage();
    else usage(`unknown option ${a}`);
  }
  return args;
}

function usage(error?: string): never {
  const text = 'usage: npm run bench -- [--quick] [--only throughput,failover,recovery] [--profile]';
  if (error) {
    process.stderr.write(`bench: ${error}\n${text}\n`);
    process.exit(2);
  }
  process.stdout.write(text + '\n');
  process.exit(0);
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

// ---- report -------------------------------------------------------------------------

function spreadCells(s: Spread | undefined, digits = 0): string[] {
  if (!s || s.n === 0) return ['0', '-', '-', '-', '-'];
  return [String(s.n), fmt(s.min, digits), fmt(s.median, digits), fmt(s.p90, digits), fmt(s.max, digits)];
}

function printThroughput(r: ThroughputResult): void {
  // Ratios are taken against the mean of the two baseline passes (before and after ftkit).
  const base = new Map<number, number>();
  for (const c of new Set(r.rows.map((x) => x.clients))) {
    const b = r.rows.filter((x) => x.system === 'baseline' && x.clients === c).map((x) => x.stats.rps);
    base.set(c, b.reduce((a, v) => a + v, 0) / b.length);
  }
  const rows = [['system', 'stdout', 'clients', 'req/s', 'p50 ms', 'p99 ms', 'vs baseline', 'CPU µs/req', 'other %', 'kthr %', 'steal %', 'CPU % of a core (top processes)']];
  for (const x of r.rows) {
    const ratio = fmt(x.stats.rps / (base.get(x.clients) ?? NaN), 2);
    const top = Object.entries(x.cpu)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([n, v]) => `${n} ${v.toFixed(0)}`)
      .join(', ');
    const perReq = (Object.values(x.cpu).reduce((a, b) => a + b, 0) / 100 / x.stats.rps) * 1e6;
    rows.push([x.system, x.stdout, String(x.clients), fmt(x.stats.rps, 0), fmt(x.stats.p50, 3), fmt(x.stats.p99, 3), ratio, fmt(perReq, 0), fmt(x.foreign, 0), fmt(x.kernel, 0), fmt(x.steal, 0), top]);
  }
  console.log('\nThroughput and latency (closed loop, 127.0.0.1; ratio = req/s / mean baseline req/s (the two baseline passes) with the same number of connections;');
  console.log('CPU µs/req = CPU of every process of the run, bench included, per request; other = CPU used meanwhile by user processes outside the run;');
  console.log('kthr = by kernel threads (ksoftirqd, kworkers: partly our own loopback TCP); steal = taken by the hypervisor; all in percent of one core)\n');
  console.log(table(rows));
  console.log('\nCounter check after the runs (acknowledged adds vs final `get`):');
  for (const c of r.checks) console.log(`  ${c.system}${c.quiet ? ' (quiet)' : ''}: acknowledged ${c.acked}, counter ${c.total}, unresolved ${c.unresolved} -> ${c.total === c.acked ? 'OK' : 'MISMATCH'}`);
  const mem = [['system', 'component', 'idle RSS MB', 'load RSS MB (max sampled)', 'VmHWM MB (end)']];
  for (const m of r.memory) mem.push([m.system, m.component, fmt((m.idle?.rss ?? NaN) / 1024, 1), fmt((m.loadRss ?? NaN) / 1024, 1), fmt((m.loadHwm ?? NaN) / 1024, 1)]);
  console.log('\nMemory per process (RSS from /proc/<pid>/status; load = the 8-client runs)\n');
  console.log(table(mem));
}

function printFailover(r: FailoverResult): void {
  const rows = [['mode', 'hb s', 'load', 'fault', 'measure', 'n', 'min ms', 'median ms', 'p90 ms', 'max ms']];
  for (const s of r.series) {
    for (const [label, key] of [
      ['detect: LFD replica_deleted', 'lfd'],
      ['detect: RM membership_changed', 'rm'],
      ['RM view with new leader', 'view'],
      ['failover: first reply', 'failover'],
    ] as const) {
      rows.push([s.mode, String(s.heartbeat), s.load, s.fault, label, ...spreadCells(s.summary[key])]);
    }
  }
  console.log('\nDetection and failover (ms from the signal to the event; the victim is the leader every trial)\n');
  console.log(table(rows));
  console.log('\nPer series: acknowledged adds vs final counter, false suspicions of live replicas, LFD-GFD links lost:');
  const seen = new Set<unknown>();
  for (const s of r.series) {
    const c = s.check;
    const key = `${s.mode} hb ${s.heartbeat} ${s.load}`;
    const sameSystem = r.series.filter((x) => `${x.mode} hb ${x.heartbeat} ${x.load}` === key);
    if (seen.has(key)) continue;
    seen.add(key);
    const fs = sameSystem.reduce((a, x) => a + x.falseSuspicions, 0);
    const ll = sameSystem.reduce((a, x) => a + x.lfdLinksLost, 0);
    const verdict = c ? (c.lost === 0 && c.distinct === c.acked && c.extra <= c.unresolved ? 'nothing lost' : `LOST ${c.lost} acknowledged adds (${c.acked - c.distinct} duplicate results)`) : 'no check';
    console.log(`  ${key}: ${c ? `acknowledged ${c.acked} (${c.rps.toFixed(0)}/s), counter ${c.total}, unresolved ${c.unresolved}` : ''} -> ${verdict}; false suspicions ${fs}, LFD links lost ${ll}`);
  }
  for (const s of r.series) for (const f of s.failures) console.log(`  ! ${s.mode} hb ${s.heartbeat} ${s.load} ${s.fault} trial ${f.trial}: ${f.error}`);
}

function printRecovery(r: RecoveryResult): void {
  const rows = [['state', 'entries', 'on wire B', 'spawn→listening', 'spawn→checkpoint', 'spawn→ready', 'listening→ready', 'entries after', 'result']];
  for (const x of r.sizes) {
    rows.push([
      x.label,
      String(x.entries),
      String(x.frameBytes),
      fmt(x.recovery.listening, 0),
      fmt(x.recovery.checkpoint, 0),
      fmt(x.recovery.ready, 0),
      fmt(x.recovery.listeningToReady, 0),
      x.entriesAfterRecovery === undefined ? 'no answer' : String(x.entriesAfterRecovery),
      (x.recovery.ok ? 'ok' : `FAILED: ${x.recovery.error}`) + (x.entriesAfterRecovery !== x.entries ? `; ${x.entries - (x.entriesAfterRecovery ?? 0)} ACKNOWLEDGED ENTRIES LOST` : ''),
    ]);
  }
  console.log('\nRecovery of a killed backup (passive, `log` app; ms from the new process\'s spawn; on wire = checkpoint state field, frame limit 1048576)\n');
  console.log(table(rows));
  for (const x of r.sizes) {
    if (x.recovery.faults?.length) console.log(`  ${x.label} faults: ${x.recovery.faults.slice(0, 3).join(' | ')}`);
    if (x.recoveryDecisions.length > 1) console.log(`  ${x.label} RM decisions during the recovery: ${x.recoveryDecisions.join(' | ')}`);
  }
  const mem = r.sizes.map((x) => `${x.label}: ${Object.entries(x.memory).map(([n, m]) => `${n} ${fmt((m?.rss ?? NaN) / 1024, 0)}`).join(', ')}`);
  console.log(`  server RSS MB after each step: ${mem.join('; ')}`);
  const pause = [['state', 'checkpoints', 'replies', 'normal gap p50 ms', 'normal gap p99 ms', 'stall at checkpoint: median ms', 'max ms', 'result']];
  for (const x of r.sizes) {
    const p = x.pause;
    pause.push([x.label + (x.freshForPause ? ' *' : ''), String(p.checkpoints), String(p.replies), fmt(p.normalP50, 2), fmt(p.normalP99, 2), fmt(p.stallMedian, 1), fmt(p.stallMax, 1), p.ok ? 'ok' : `FAILED: ${p.error}`]);
  }
  console.log('\nCheckpoint pause at the primary (1 closed-loop client sending `size`; longest gap between replies around each periodic checkpoint;');
  console.log('* = measured on a fresh system filled to the same size, because the recovery had failed or lost the state)\n');
  console.log(table(pause));
  for (const x of r.sizes) {
    if (!x.pause.ok && x.pause.faults?.length) console.log(`  ${x.label} faults: ${x.pause.faults.slice(0, 3).join(' | ')}`);
    if (x.pauseDecisions.length) console.log(`  ${x.label} RM decisions during the checkpoints: ${x.pauseDecisions.join(' | ')}`);
  }
}

// ---- main ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // Interrupted: the components and helpers exit when our pipes to them close, except a
  // process we have SIGSTOPped for a hang trial, which cannot notice; kill that one.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killStopped();
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
    if (args.only.has('throughput')) {
      log('throughput and latency');
      const r = await runThroughput(lg, {
        warmupMs: args.quick ? 500 : 1000,
        durationMs: args.quick ? 2000 : 8000,
        clients: [1, 8],
        attempts: args.quick ? 1 : 2,
        quietMs: args.quick ? 0 : 10_000,
        log,
      });
      out.throughput = r;
      save();
      printThroughput(r);
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
    await lg.close();
    out.seconds = (Date.now() - started) / 1000;
    save();
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; results in ${file}`);
  process.exit(failed ? 1 : 0);
}

void main();
