/**
 * `npm run chaos -- [--mode active|passive] [--seed N] [--runs N] [--duration S] [--groups N] [--hosts] [--workload log|sns] [--fail-slow] [--evict-slow]`
 *
 * Runs seeded chaos runs (seed = base seed + run index) and prints a report per run;
 * exits 1 if any run found an anomaly, 2 on a usage or harness error.
 * `--fuzz` instead throws random and mutated frames at every kind of listener.
 * See docs/CHAOS.md.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_CLIENTS, DEFAULT_CLIENTS_PER_GROUP, DEFAULT_STALE_CLIENTS, runChaos } from '../harness/chaos/runner.js';
import { Interrupted, runChaosOnHosts } from '../harness/chaos/onhosts.js';
import { compactReport, formatRun, formatTotals, totals, type RunReport } from '../harness/chaos/report.js';
import { DURABLE_FAULT_KINDS, FAULT_HELP, FAULT_KINDS, HOST_FAULT_KINDS, LOOPBACK_FAULT_KINDS, SLOW_FAULT_KINDS, SNS_FAULT_KINDS, SYNC_FAULT_KINDS, isFaultKind, isHostFault, isSlowFault, type FaultKind } from '../harness/chaos/schedule.js';
import { DEFAULT_SNS_USERS, SNS_GROUPS, runSnsChaos } from '../harness/chaos/sns-run.js';
import { DEFAULT_FRAMES, formatFuzz, runFuzz } from '../harness/chaos/fuzz.js';
import type { Mode } from '../lib/protocol/index.js';

function integer(what: string, min: number) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw) || Number(raw) < min) throw new InvalidArgumentError(`${what} must be a whole number ≥ ${min}`);
    return Number(raw);
  };
}

function seconds(raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new InvalidArgumentError('expected seconds, a number > 0 and ≤ 3600');
  return n;
}

function chance(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a chance between 0 and 1');
  return n;
}

/** `--faults`: kinds to draw from, `all`, or `-kind` to leave a kind out (of those listed, or else of every kind the run can inject). */
function faultList(raw: string): string[] {
  if (raw === 'all') return [];
  const list = raw.split(',').map((s) => s.trim()).filter((s) => s && s !== 'all');
  const bad = list.filter((k) => !isFaultKind(k.replace(/^-/, '')));
  if (bad.length > 0 || (list.length === 0 && raw.trim() !== 'all')) throw new InvalidArgumentError(`unknown fault kind ${bad.join(', ') || '(none)'}; known: ${FAULT_KINDS.join(', ')}`);
  return list;
}

/** The kinds a run draws from: `--faults` resolved against the run's default (undefined: the default). */
function resolveFaults(list: string[] | undefined, hosts: boolean, sns: boolean, durable: boolean): FaultKind[] | undefined {
  // Durable replicas: every loopback fault, and losing a whole group at once.
  if ((!list || list.length === 0) && durable) return [...LOOPBACK_FAULT_KINDS, ...DURABLE_FAULT_KINDS];
  if (!list || list.length === 0) return undefined;
  const out = list.filter((k) => k.startsWith('-')).map((k) => k.slice(1));
  const named = list.filter((k) => !k.startsWith('-')) as FaultKind[];
  const base = named.length > 0 ? named : sns ? [...SNS_FAULT_KINDS] : hosts ? FAULT_KINDS.filter((k) => !isSyncFault(k) && !isDurableFault(k) && !isSlowFault(k)) : durable ? [...LOOPBACK_FAULT_KINDS, ...DURABLE_FAULT_KINDS] : [...LOOPBACK_FAULT_KINDS];
  return base.filter((k) => !out.includes(k));
}

/** `--fail-slow`: the fail-slow kinds added to the kinds a run draws from (its default ones if none are named). */
function withSlow(kinds: FaultKind[] | undefined, hosts: boolean, sns: boolean): FaultKind[] {
  const base = kinds ?? (sns ? [...SNS_FAULT_KINDS] : hosts ? [...LOOPBACK_FAULT_KINDS, ...HOST_FAULT_KINDS] : [...LOOPBACK_FAULT_KINDS]);
  return [...base, ...SLOW_FAULT_KINDS.filter((k) => !base.includes(k))];
}

const isSyncFault = (k: FaultKind) => (SYNC_FAULT_KINDS as readonly string[]).includes(k);
const isDurableFault = (k: FaultKind) => (DURABLE_FAULT_KINDS as readonly string[]).includes(k);

interface Opts {
  mode: Mode | 'both';
  seed?: number;
  runs: number;
  duration: number;
  clients?: number;
  staleClients?: number;
  groups: number;
  faults?: string[];
  double: number;
  fuzz: boolean;
  frames: number;
  forge: boolean;
  report?: string;
  quiet: boolean;
  listFaults: boolean;
  hosts: boolean;
  traces?: string;
  workload: 'log' | 'sns';
  durable: boolean;
  failSlow: boolean;
  evictSlow: boolean;
}

async function main(): Promise<number> {
  const program = new Command('chaos')
    .description('chaos testing for ftkit: seeded faults under load, and a linearizability checker (docs/CHAOS.md)')
    .addOption(new Option('--mode <mode>', 'replication style').choices(['active', 'passive', 'both']).default('passive'))
    .option('--seed <n>', 'base seed; run i uses seed + i (default: from the clock, printed)', integer('--seed', 0))
    .option('--runs <n>', 'number of runs', integer('--runs', 1), 1)
    .option('--duration <seconds>', 'seconds of load and faults per run', seconds, 10)
    .option('--clients <n>', 'concurrent load clients (default 4; with --groups, 2 per group, keys 1…n)', integer('--clients', 1))
    .option('--stale-clients <n>', 'stale-view clients: each talks to one replica (the leader when pointed), never asks the RM; 0 turns them off (default 1; with --groups, 1 per group)', integer('--stale-clients', 0))
    .option('--groups <n>', 'replica groups of 3 replicas behind one RM, over 3 machines, clients routed by key; each group checked on its own, and no fault may change a group it did not aim at', integer('--groups', 1), 1)
    .option('--faults <list>', `comma-separated fault kinds, or all (default all; -kind leaves one out, e.g. -link-delay): ${FAULT_KINDS.join(', ')}`, faultList)
    .option('--double <chance>', 'chance that a replica fault gets a second replica fault overlapping it', chance, 0.15)
    .option('--hosts', 'run on four network-namespace hosts (the course deployment; needs root, iproute2, nftables), with network faults between them', false)
    .addOption(new Option('--workload <name>', `what the clients do: log (appends and reads, checked for linearizability) or sns (${DEFAULT_SNS_USERS} users over ${SNS_GROUPS} groups of the sns app with ftkit sync: follows, then posts, each acknowledged post checked at every follower once)`).choices(['log', 'sns']).default('log'))
    .option('--durable', 'durable replicas (each with a data dir, docs/DURABILITY.md), and the kill-all fault: every replica of a group killed at once', false)
    .option('--fail-slow', 'add the fail-slow faults (cpu-hog, mem-hog, delay: a replica that keeps running, slowly) to the kinds drawn', false)
    .option('--evict-slow', 'the RM evicts a leader it flags fail-slow (rm --evict-slow); implies --fail-slow', false)
    .option('--fuzz', 'fuzz every kind of listener with random and mutated frames instead', false)
    .option('--frames <n>', 'fuzz: frames per listener', integer('--frames', 1), DEFAULT_FRAMES)
    .option('--forge', 'fuzz: also send well-formed frames that impersonate peers (see docs/CHAOS.md)', false)
    .option('--traces <dir>', 'write each run\'s component trace events (steady traffic left out) to <dir>/<mode>-<seed>.log')
    .option('--report <file>', 'also write each run\'s report, history included, as one JSON line')
    .option('--quiet', 'print only the reports, not progress', false)
    .option('--list-faults', 'describe the fault kinds and exit', false)
    .exitOverride();
  try {
    program.parse(process.argv);
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode ?? 2;
    return code === 0 ? 0 : 2;
  }
  const o = program.opts<Opts>();
  if (o.listFaults) {
    for (const k of FAULT_KINDS) process.stdout.write(`${k.padEnd(15)} ${FAULT_HELP[k]}\n`);
    return 0;
  }
  const sns = o.workload === 'sns';
  const resolved = resolveFaults(o.faults, o.hosts, sns, o.durable);
  const faults = o.failSlow || o.evictSlow ? withSlow(resolved, o.hosts, sns) : resolved;
  if (faults && faults.length === 0) {
    process.stderr.write('chaos: --faults leaves no fault kind\n');
    return 2;
  }
  const hostOnly = (faults ?? []).filter(isHostFault);
  if (!o.hosts && hostOnly.length > 0) {
    process.stderr.write(`chaos: ${hostOnly.join(', ')} need namespace hosts: add --hosts\n`);
    return 2;
  }
  if (sns && (o.hosts || o.fuzz || (o.groups !== 1 && o.groups !== SNS_GROUPS) || o.clients !== undefined || o.staleClients !== undefined)) {
    process.stderr.write(`chaos: --workload sns runs ${DEFAULT_SNS_USERS} users over ${SNS_GROUPS} groups on 127.0.0.1 (not with --hosts, --fuzz, --clients, --stale-clients, or another --groups)\n`);
    return 2;
  }
  const syncOnly = (faults ?? []).filter(isSyncFault);
  if (!sns && syncOnly.length > 0) {
    process.stderr.write(`chaos: ${syncOnly.join(', ')} needs the synchronizer: add --workload sns\n`);
    return 2;
  }
  const durableOnly = (faults ?? []).filter(isDurableFault);
  if (!o.durable && durableOnly.length > 0) {
    process.stderr.write(`chaos: ${durableOnly.join(', ')} loses every replica of a group: only durable replicas survive it; add --durable\n`);
    return 2;
  }
  if (o.durable && (sns || o.hosts || o.fuzz)) {
    process.stderr.write('chaos: --durable runs the log workload on 127.0.0.1 (not with --workload sns, --hosts or --fuzz)\n');
    return 2;
  }
  if (o.groups > 1 && (o.hosts || o.fuzz)) {
    process.stderr.write(`chaos: --groups runs the chaos harness on 127.0.0.1 only (not with ${o.hosts ? '--hosts' : '--fuzz'})\n`);
    return 2;
  }
  if (o.hosts && o.fuzz) {
    process.stderr.write('chaos: --fuzz runs on 127.0.0.1 only\n');
    return 2;
  }
  const base = o.seed ?? Date.now() % 1_000_000;
  const say = (line: string) => process.stdout.write(line + '\n');
  const progress = o.quiet ? undefined : say;

  if (o.fuzz) {
    say(`fuzz: seed ${base}, ${o.frames} frames per listener${o.forge ? ', forged peers included' : ''}`);
    const report = await runFuzz({ seed: base, frames: o.frames, forge: o.forge, mode: o.mode === 'active' ? 'active' : 'passive', log: progress });
    for (const line of formatFuzz(report)) say(line);
    if (o.report) writeFileSync(o.report, JSON.stringify(report, null, 2));
    return report.ok ? 0 : 1;
  }

  const modes: Mode[] = o.mode === 'both' ? ['passive', 'active'] : [o.mode];
  const reports: RunReport[] = [];
  const of = o.runs * modes.length;
  const where = o.hosts ? ' --hosts' : '';
  const groups = o.groups > 1 ? o.groups : undefined;
  const clients = o.clients ?? (groups ? DEFAULT_CLIENTS_PER_GROUP * groups : DEFAULT_CLIENTS);
  const staleClients = o.staleClients ?? (groups ?? DEFAULT_STALE_CLIENTS);
  const grouped = groups ? `, ${groups} replica groups` : '';
  const again = `${groups ? ` --groups ${groups}` : ''}${where}${o.durable ? ' --durable' : ''}${o.evictSlow ? ' --evict-slow' : o.failSlow ? ' --fail-slow' : ''}`;
  if (sns) say(`chaos: ${of} run(s) of the sns workload, ${SNS_GROUPS} replica groups and ftkit sync, base seed ${base}, ${o.duration} s each, ${DEFAULT_SNS_USERS} users; reproduce one with --workload sns --mode M --seed S --runs 1 --duration ${o.duration}`);
  else say(`chaos: ${of} run(s)${o.hosts ? ' on namespace hosts' : ''}${grouped}, base seed ${base}, ${o.duration} s each, ${clients} clients + ${staleClients} stale-view; reproduce one with --mode M --seed S --runs 1 --duration ${o.duration}${again}`);
  if (o.report) writeFileSync(o.report, '');
  if (o.traces) mkdirSync(o.traces, { recursive: true });
  // On hosts, an interrupt stops the run and removes its processes and namespaces before exiting.
  const interrupt = new AbortController();
  if (o.hosts) {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.on(sig, () => {
        if (!interrupt.signal.aborted) say(`chaos: ${sig}: stopping the run and removing its hosts`);
        interrupt.abort();
      });
    }
  }
  const started = Date.now();
  for (let i = 0; i < o.runs; i++) {
    for (const mode of modes) {
      const seed = base + i;
      let report: RunReport;
      try {
        const tracesFile = o.traces ? join(resolve(o.traces), `${mode}-${seed}.log`) : undefined;
        const options = { tracesFile, mode, seed, durationS: o.duration, clients, staleClients, faults, double: o.double, log: progress, ...(groups ? { groups } : {}), ...(o.durable ? { durable: true } : {}), ...(o.evictSlow ? { evictSlow: true } : {}) };
        report = sns ? await runSnsChaos(options) : o.hosts ? await runChaosOnHosts(options, interrupt.signal) : await runChaos(options);
      } catch (err) {
        if (err instanceof Interrupted) {
          say('chaos: interrupted; every process and namespace of the run is gone');
          return 130;
        }
        say(`chaos: run with mode ${mode}, seed ${seed} could not run: ${(err as Error).stack ?? String(err)}`);
        return 2;
      }
      // Keep only the compact form: every read holds the whole log, so full histories are large.
      report = compactReport(report);
      reports.push(report);
      if (o.report) appendFileSync(o.report, JSON.stringify(report) + '\n');
      say('');
      for (const line of formatRun(report, { run: reports.length, of })) say(line);
      say('');
    }
  }
  const t = totals(reports);
  say(formatTotals(t));
  if (sns) {
    const beyond = reports.filter((r) => (r.sns?.uncovered.length ?? 0) > 0);
    const count = (rs: RunReport[]) => totals(rs).anomalies;
    say(`sns: ${beyond.length} run(s) went beyond the fault model (every ready replica of a group declared failed${beyond.length ? `: ${beyond.map((r) => `${r.mode} ${r.seed} (${r.sns!.uncovered.join(', ')})`).join(', ')}` : ''}), with ${count(beyond)} anomalies; the other runs, ${count(reports.filter((r) => !beyond.includes(r)))} anomalies`);
  }
  say(`time: ${((Date.now() - started) / 1000).toFixed(0)} s in all, ${((Date.now() - started) / 1000 / Math.max(1, reports.length)).toFixed(1)} s per run`);
  return t.anomalies > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
