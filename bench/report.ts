/** The bench's tables: one printer per section (bench/run.ts calls them as each section ends). */
import type { ThroughputResult, ThroughputRow } from './throughput.js';
import type { FailoverResult } from './failover.js';
import type { RecoveryResult } from './recovery.js';
import type { SecurityOptions, SecurityResult, Variant } from './security.js';
import type { HandshakeResult } from './handshake.js';
import { fmt, table, type Spread } from './stats.js';

function spreadCells(s: Spread | undefined, digits = 0): string[] {
  if (!s || s.n === 0) return ['0', '-', '-', '-', '-'];
  return [String(s.n), fmt(s.min, digits), fmt(s.median, digits), fmt(s.p90, digits), fmt(s.max, digits)];
}

export function printThroughput(r: ThroughputResult): void {
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

export function printSecurity(r: SecurityResult, baseline: ThroughputRow[], o: SecurityOptions): void {
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

export function printHandshake(r: HandshakeResult): void {
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

export function printFailover(r: FailoverResult): void {
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

export function printRecovery(r: RecoveryResult): void {
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
