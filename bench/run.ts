/**
 * `npm run bench [-- --quick] [-- --only throughput,security,handshake,failover,recovery] [-- --no-security] [-- --profile]`
 *
 * Benchmarks ftkit on 127.0.0.1 against a plain `node:net` baseline: throughput and
 * latency, the cost of authentication and TLS under load and per connection, fault
 * detection and failover times, recovery times and checkpoint pauses by state size, and
 * memory per component. Prints tables and writes everything to
 * bench/results/bench-<time>.json. See docs/BENCHMARKS.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../harness/launch/proc.js';
import { LoadGen, killStopped } from './harness.js';
import { runThroughput, type ThroughputResult } from './throughput.js';
import { runFailover, type FailoverResult } from './failover.js';
import { runRecovery, type RecoveryResult } from './recovery.js';
import { runProfile, type ProfileResult } from './profile.js';
import { runSecurity, type SecurityOptions, type SecurityResult, type Variant } from './security.js';
import { runHandshake, type HandshakeResult } from './handshake.js';
import { baselinePass, type ThroughputRow } from './throughput.js';
import { fmt, table, type Spread } from './stats.js';

/** `throughput` includes `security` (measured between its two baseline passes) unless --no-security. */
const SECTIONS = ['throughput', 'security', 'handshake', 'failover', 'recovery'] as const;
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
    'usage: npm run bench -- [--quick] [--only throughput,security,handshake,failover,recovery] [--no-security] [--profile]',
    '  throughput  bare TCP baseline, ftkit passive and active (as-is, drained, quiet); includes security',
    '  security    authentication off / on / on + TLS, interleaved rounds, ratios on/off and tls/off',
    '              (alone: between two baseline passes; --no-security leaves it out of throughput)',
    '  handshake   time and CPU to open a connection (plain, with the secret\'s handshake, TLS), and per message on an open one',
    '  failover    detection and failover times;  recovery: recovery and checkpoint pauses by state size',
    '  --profile   also CPU profiles of the servers under load',
  ].join('\n');
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

/** `median (min-max)` of a spread of ratios. */
const ratioCell = (s: Spread | undefined) => (s && s.n ? `${fmt(s.median, 3)} (${fmt(s.min, 3)}-${fmt(s.max, 3)})` : '-');

function printSecurity(r: SecurityResult, baseline: ThroughputRow[], o: SecurityOptions): void {
  const base = (c: number) => {
    const b = baseline.filter((x) => x.system === 'baseline' && x.clients === c).map((x) => x.stats.rps);
    return b.length ? b.reduce((a, v) => a + v, 0) / b.length : NaN;
  };
  const variants: Variant[] = r.tls.measured ? ['off', 'on', 'tls'] : ['off', 'on'];
  console.log(`\nAuthentication and TLS under load (three systems per mode side by side, servers --quiet, stdout drained; ${o.rounds} rounds of`);
  console.log(`${o.durationMs / 1000} s windows back to back, the order of off/on/tls changing per round; req/s, p50 and CPU µs/req are medians over the rounds;`);
  console.log('on/off and tls/off: ratio of req/s in the same round, median (min-max); null: OFF over OFF of the round before, the same');
  console.log('ratio when nothing differs (the noise floor);');
  console.log('cpu on/off: the same for CPU µs/req; other %: CPU of other user processes on the machine during the windows, median, % of one core)\n');
  if (!r.tls.measured) console.log(`TLS not measured: ${r.tls.why}\n`);
  const head = ['mode', 'clients', ...variants.map((v) => `${v} req/s`), 'on/off', ...(r.tls.measured ? ['tls/off'] : []), 'null: off/off', `p50 ms ${variants.join('/')}`, `CPU µs/req ${variants.join('/')}`, 'cpu on/off', ...(r.tls.measured ? ['cpu tls/off'] : []), `other % ${variants.join('/')}`, 'off vs baseline'];
  const rows = [head];
  for (const x of r.summary) {
    rows.push([
      x.mode,
      String(x.clients),
      ...variants.map((v) => fmt(x.median[v]?.rps, 0)),
      ratioCell(x.onOff),
      ...(r.tls.measured ? [ratioCell(x.tlsOff)] : []),
      ratioCell(x.offOff),
      variants.map((v) => fmt(x.median[v]?.p50, 3)).join(' / '),
      variants.map((v) => fmt(x.median[v]?.cpuPerReq, 0)).join(' / '),
      ratioCell(x.cpuOnOff),
      ...(r.tls.measured ? [ratioCell(x.cpuTlsOff)] : []),
      variants.map((v) => fmt(x.median[v]?.foreign, 0)).join(' / '),
      fmt((x.median.off?.rps ?? NaN) / base(x.clients), 2),
    ]);
  }
  console.log(table(rows));
  console.log('\nAll rounds pooled (requests over window time, CPU over requests), variant / off:');
  for (const x of r.summary) {
    const q = x.pooled;
    console.log(`  ${x.mode.padEnd(7)} ${String(x.clients).padStart(2)}: req/s on/off ${fmt(q.onOff, 3)}${r.tls.measured ? `, tls/off ${fmt(q.tlsOff, 3)}` : ''}; CPU/req on/off ${fmt(q.cpuOnOff, 3)}${r.tls.measured ? `, tls/off ${fmt(q.cpuTlsOff, 3)}` : ''}`);
  }
  const refs = [...new Set(baseline.map((x) => x.clients))].map((c) => `${fmt(base(c), 0)} req/s with ${c} connection(s)`);
  if (refs.length) console.log(`\nReference, same run: bare TCP baseline (mean of its passes) ${refs.join(', ')}.`);
  console.log('\nreq/s per round (* = measured first in its round):');
  for (const x of r.summary) {
    for (const v of variants) {
      const rs = r.rows.filter((y) => y.mode === x.mode && y.clients === x.clients && y.variant === v);
      console.log(`  ${x.mode.padEnd(7)} ${String(x.clients).padStart(2)} ${v.padEnd(3)}: ${rs.map((y) => `${fmt(y.stats.rps, 0)}${y.position === 0 ? '*' : ''}`.padStart(7)).join(' ')}`);
    }
  }
  const disturbed = r.rows.filter((y) => y.foreign > 25);
  if (disturbed.length) console.log(`  ${disturbed.length} of ${r.rows.length} windows ran while other user processes used more than 25% of a core (per window in the JSON file)`);
  for (const f of r.failures) console.log(`  ! ${f.mode} ${f.clients} ${f.variant} round ${f.round + 1} FAILED: ${f.error}`);
  const errs = r.rows.filter((y) => y.errors.length || y.retries);
  for (const y of errs) console.log(`  ! ${y.mode} ${y.clients} ${y.variant} round ${y.round + 1}: ${y.retries} retries${y.errors.length ? `, ${y.errors.slice(0, 2).join(' | ')}` : ''}`);
  console.log('\nCounter check (acknowledged adds vs final `get`):');
  for (const c of r.checks) console.log(`  ${c.mode} ${c.variant}: acknowledged ${c.acked}, counter ${c.total}, unresolved ${c.unresolved} -> ${c.total === c.acked ? 'OK' : 'MISMATCH'}`);
  for (const x of r.summary) {
    const on = x.onOff;
    // Within the noise: OFF against itself (the round before) strayed as far from 1 as this median does.
    const noise = x.offOff.n ? Math.max(1 - x.offOff.min, x.offOff.max - 1, Math.abs(1 - x.offOff.median)) : 0;
    const verdict = !on || !on.n ? 'not measured' : on.median >= 0.97 ? 'met' : 1 - on.median <= noise ? 'below in the median, within the noise (null off/off ' + ratioCell(x.offOff) + ')' : 'MISSED';
    console.log(`Target auth on >= 0.97 of off, ${x.mode} ${x.clients} client(s): median ${fmt(on?.median, 3)} -> ${verdict}`);
  }
}

function printHandshake(r: HandshakeResult): void {
  console.log('\nOpening a connection (lib/net connect to a lib/net Listener on 127.0.0.1, in one process, one at a time; ms;');
  console.log('open = connect() resolved (TCP, TLS and the handshake done); first reply = one message there and back too; CPU = both ends)\n');
  if (!r.tls.measured) console.log(`TLS not measured: ${r.tls.why}\n`);
  const rows = [['variant', 'n', 'open p50', 'open p90', 'open p99', 'first reply p50', 'first reply p90', 'CPU µs/conn', 'conn/s']];
  for (const x of r.rows) rows.push([x.variant, String(x.n), fmt(x.open.p50, 3), fmt(x.open.p90, 3), fmt(x.open.p99, 3), fmt(x.firstReply.p50, 3), fmt(x.firstReply.p90, 3), fmt(x.cpuUs, 0), fmt(x.perSecond, 0)]);
  console.log(table(rows));
  console.log(`\nA request and its reply on an open connection (${r.inFlight} in flight; µs per pair; CPU = both ends; ratio to the first row)\n`);
  const m = [['variant', 'pairs', 'CPU µs', 'wall µs', 'CPU ratio']];
  const first = r.messages[0]?.cpuUs ?? NaN;
  for (const x of r.messages) m.push([x.variant, String(x.n), fmt(x.cpuUs, 2), fmt(x.wallUs, 2), fmt(x.cpuUs / first, 3)]);
  console.log(table(m));
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
