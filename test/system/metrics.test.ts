/**
 * Metrics flow up to the RM in a running system: a passive group of three under a client's load,
 * and `ctl status --json` names every link kind with samples and sane latencies, and every
 * process's CPU and memory. A replica killed for good goes stale, with its links; `ctl metrics`
 * prints the table.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { System } from '../../harness/launch/system.js';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import type { LinkSummary, MetricsSummary } from '../../lib/metrics/index.js';

/** Ask the RM for its metrics until `ok` holds of them (every 200 ms, up to `ms`); the last ones either way. */
async function metricsUntil(sys: System, ok: (m: MetricsSummary) => boolean, ms = 15_000): Promise<MetricsSummary> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = (JSON.parse(await sys.ctl({ op: 'status' })) as { metrics: MetricsSummary }).metrics;
    if (ok(m) || Date.now() > deadline) return m;
    await delay(200);
  }
}

const live = (m: MetricsSummary, from: string, to: string, kind: string): LinkSummary | undefined =>
  m.links.find((l) => l.from === from && l.to === to && l.kind === kind && !l.stale && l.count > 0);

t.test('every link kind and every process reach the RM; a dead replica goes stale', async (t) => {
  t.setTimeout(90_000);
  const sys = new System({ mode: 'passive', heartbeat: 0.2, heartbeatTimeout: 1, quiet: true, autoRestart: false });
  t.teardown(() => sys.stop());
  await sys.start();
  await sys.rm.waitFor((e) => e.type === 'view_changed' && (e.data as { view: unknown[] }).view.length === 1, 10_000);
  const client = sys.startClient('C1', ['--interval', '0.02', '--quiet']);
  const status = JSON.parse(await sys.ctl({ op: 'status' })) as { leader: string };
  const primary = status.leader;
  const backups = sys.servers.filter((s) => s !== primary);
  const lfdOf = (s: string) => `LFD${s.slice(1)}`;

  const wanted = (m: MetricsSummary) =>
    !!live(m, 'C1', primary, 'request') &&
    backups.every((b) => live(m, primary, b, 'log')) &&
    sys.servers.every((s) => live(m, lfdOf(s), s, 'heartbeat') && live(m, 'GFD', lfdOf(s), 'heartbeat')) &&
    ['RM', 'GFD', 'C1', ...sys.servers, ...sys.servers.map(lfdOf)].every((p) => m.processes.some((q) => q.process === p && !q.stale && q.cpu !== null));
  const m = await metricsUntil(sys, wanted);
  t.ok(wanted(m), 'client → primary request, primary → backup log, LFD → server and GFD → LFD heartbeats, every process with CPU');
  for (const l of m.links.filter((l) => l.count > 0)) {
    t.ok(l.min! <= l.avg! && l.avg! <= l.max! && l.min! <= l.p50! && l.p50! <= l.p99! && l.p99! <= l.max!, `${l.from} → ${l.to} ${l.kind}: min ${l.min} ≤ avg ${l.avg}, p50 ${l.p50} ≤ p99 ${l.p99} ≤ max ${l.max}`);
    t.ok(l.totalCount >= l.count, `${l.from} → ${l.to}: the running total counts at least the window`);
  }
  for (const p of m.processes) t.ok(p.rss > 1e6 && p.heap > 0 && p.cpuSeconds > 0, `${p.process}: rss ${p.rss}, heap ${p.heap}, ${p.cpuSeconds} CPU s`);
  t.ok(m.processes.find((p) => p.process === primary)!.requests! > 0, 'the primary counts the requests it received');

  const text = spawnSync(process.execPath, [FTKIT_BIN, 'ctl', 'metrics', '--rm', sys.rmAddr, '--secret-file', sys.secretFile!], { encoding: 'utf8', timeout: 20_000 });
  t.equal(text.status, 0, text.stderr);
  t.match(text.stdout, new RegExp(`^ {2}C1 → ${primary} +request +\\d+ +[\\d.]+ +[\\d.]+ +[\\d.]+ +[\\d.]+$`, 'm'), 'ctl metrics: the request link, with count and min/avg/p99/max');
  t.match(text.stdout, /^ {2}S1 +[\d.]+ +[\d.]+ +[\d.]+ +\d+$/m, 'ctl metrics: S1 with cpu %, rss and heap MB, requests');

  // A backup killed for good (no relaunch): it and the links to it go stale.
  const victim = backups[0]!;
  sys.proc(victim).kill('SIGKILL');
  const gone = (m: MetricsSummary) =>
    m.processes.some((p) => p.process === victim && p.stale) && !live(m, lfdOf(victim), victim, 'heartbeat') && !live(m, primary, victim, 'log') && !!live(m, primary, backups[1]!, 'log');
  const after = await metricsUntil(sys, gone);
  t.ok(gone(after), `${victim} is stale, no live link to it, and the primary still logs to ${backups[1]}`);
  client.kill('SIGTERM');
});

t.test('active: the sequencer times its orders to each member, the client each replica that answers', async (t) => {
  t.setTimeout(60_000);
  const sys = new System({ mode: 'active', heartbeat: 0.2, heartbeatTimeout: 1, quiet: true, autoRestart: false });
  t.teardown(() => sys.stop());
  await sys.start();
  await sys.rm.waitFor((e) => e.type === 'view_changed' && (e.data as { view: unknown[] }).view.length === 3, 10_000);
  const client = sys.startClient('C1', ['--interval', '0.02', '--quiet']);
  const { leader } = JSON.parse(await sys.ctl({ op: 'status' })) as { leader: string };
  const members = sys.servers.filter((s) => s !== leader);
  const wanted = (m: MetricsSummary) => members.every((s) => live(m, leader, s, 'order')) && sys.servers.every((s) => live(m, 'C1', s, 'request'));
  const m = await metricsUntil(sys, wanted);
  t.ok(wanted(m), `${leader} → ${members.join(', ')} order, and C1 → every replica request`);
  t.ok(sys.servers.every((s) => m.processes.find((p) => p.process === s)!.requests! > 0), 'every replica counts the requests it received');
  client.kill('SIGTERM');
});
