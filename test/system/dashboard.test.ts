/**
 * `ftkit rm --http`: the dashboard in a real browser (headless Chromium, Debian's `chromium`,
 * which .ci/run installs), `/metrics` read with a Prometheus text-format parser, and what the
 * HTTP side refuses. The page shows three ready replicas; a replica killed with kill -9 shows as
 * failed, then as ready again once relaunched, each within 2 s of the RM knowing it, without a
 * reload.
 */
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { chromium, type Page } from 'playwright-core';
import { System } from '../../harness/launch/system.js';
import type { TraceEvent } from '../../lib/trace/index.js';

interface Family {
  name: string;
  type: string;
  metrics: Array<{ labels?: Record<string, string>; value?: string }>;
}
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);
const data = <T>(e: TraceEvent) => e.data as T;
t.setTimeout(90_000);

async function startSystem(t: Test): Promise<{ sys: System; base: string }> {
  const sys = new System({ mode: 'passive', replicas: 3, heartbeat: 0.1, quietHeartbeats: true, rmArgs: ['--http', '0'] });
  t.teardown(() => sys.stop());
  await sys.start();
  const http = await sys.rm.waitFor((e) => e.type === 'http', 10_000);
  await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.length === 3, 20_000);
  return { sys, base: `http://${data<{ addr: string }>(http).addr}` };
}

/** Resolves with how long after `since` the page showed `replica` in `state` (polling the page's DOM, bounded). */
async function shown(page: Page, replica: string, state: string, since: number, ms = 10_000): Promise<number> {
  await page.waitForSelector(`tr[data-replica="${replica}"][data-state="${state}"]`, { timeout: ms });
  return Date.now() - since;
}

t.test('the dashboard in headless Chromium: three ready replicas; one killed shows failed, then relaunched, live', async (t) => {
  t.ok(CHROMIUM, 'Chromium is installed (Debian: apt-get install chromium; .ci/run installs it)');
  const { sys, base } = await startSystem(t);
  const browser = await chromium.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${base}/`);
  await page.waitForSelector('#live[data-live="yes"]');
  for (const s of ['S1', 'S2', 'S3']) await page.waitForSelector(`tr[data-replica="${s}"][data-state="ready"]`);
  t.pass('the page shows S1, S2 and S3 ready');
  t.match(await page.locator('[data-group="g1"] h2').textContent(), /passive · epoch \d+ · leader S\d · 3 ready/, 'the group card: mode, epoch, leader, readiness');
  await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));

  const status = JSON.parse(await sys.ctl({ op: 'status' })) as { leader: string };
  const victim = ['S1', 'S2', 'S3'].find((s) => s !== status.leader)!;
  const mark = sys.rm.events.length;
  sys.proc(victim).kill('SIGKILL');
  const lost = await sys.rm.waitFor((e) => e.type === 'membership_changed' && !(data<{ members?: string[] }>(e).members ?? []).includes(victim), 10_000, mark);
  const failedAfter = await shown(page, victim, 'failed', lost.time);
  t.ok(failedAfter <= 2000, `the page shows ${victim} failed ${failedAfter} ms after the RM learnt it (≤ 2 s)`);
  const back = await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.includes(victim), 20_000, mark);
  const readyAfter = await shown(page, victim, 'ready', back.time);
  t.ok(readyAfter <= 2000, `and ready again, relaunched, ${readyAfter} ms after the RM saw it ready (≤ 2 s)`);
  t.ok(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), 'without a reload');
  t.match(await page.locator('#events').textContent(), new RegExp(victim), "the event timeline names the replica's failure and relaunch");
  t.ok((await page.locator('[data-chart="Ready replicas"] canvas').count()) > 0, 'the ready-replicas chart is drawn');
  for (const chart of ['Link latency p99', 'Process CPU', 'Process memory (RSS)']) {
    await page.waitForSelector(`[data-chart="${chart}"] canvas`, { timeout: 10_000 });
    t.pass(`the ${chart} chart is drawn, from the measured links and processes`);
  }
  for (const s of ['S1', 'S2', 'S3']) t.equal(await page.locator(`tr[data-replica="${s}"]`).getAttribute('data-state'), 'ready', `${s} ready at the end`);
  t.same(errors, [], 'no script error on the page');
});

t.test('/metrics parses as Prometheus text and follows faults; /api/status is ctl status; refusals', async (t) => {
  const { sys, base } = await startSystem(t);
  let raw = '';
  const read = async () => {
    const res = await fetch(`${base}/metrics`);
    t.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    raw = await res.text();
    return new Map(parsePrometheus(raw).map((f) => [f.name, f]));
  };
  const value = (fams: Map<string, Family>, name: string, labels: Record<string, string>) =>
    Number(fams.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value);
  for (let i = 1; i <= 3; i++) await sys.ask(`C${i}`, 'hello');
  const NAMES = ['ftkit_replica_ready', 'ftkit_epoch', 'ftkit_failovers_total', 'ftkit_link_latency_seconds', 'ftkit_link_latency_max_seconds', 'ftkit_process_cpu_seconds_total', 'ftkit_process_resident_memory_bytes', 'ftkit_requests_total', 'ftkit_replica_fail_slow'];
  // Every process reports once a second and nothing announces a report: read until the primary's request count is in (bounded).
  let before = await read();
  for (let i = 0; i < 50 && !(value(before, 'ftkit_requests_total', { replica: 'S1' }) >= 3); i++) {
    await new Promise((r) => setTimeout(r, 200));
    before = await read();
  }
  for (const name of NAMES) t.ok((before.get(name)?.metrics.length ?? 0) > 0, `${name} is there, with samples`);
  t.equal(before.get('ftkit_link_latency_seconds')!.type, 'SUMMARY');
  // The parser keeps one labelled summary per family; each link's lines are checked as text.
  const link = 'from="LFD1",to="S1",kind="heartbeat"';
  for (const line of [`ftkit_link_latency_seconds{${link},quantile="0.5"}`, `ftkit_link_latency_seconds{${link},quantile="0.99"}`, `ftkit_link_latency_seconds_sum{${link}}`, `ftkit_link_latency_seconds_count{${link}}`]) {
    t.match(raw, new RegExp(`^${line.replace(/[{}.]/g, (c) => `\\${c}`)} \\d`, 'm'), `${line} is there`);
  }
  t.ok(value(before, 'ftkit_requests_total', { replica: 'S1' }) >= 3, 'the requests counted at the primary');
  t.equal(before.get('ftkit_failovers_total')!.type, 'COUNTER');
  t.same(['S1', 'S2', 'S3'].map((r) => value(before, 'ftkit_replica_ready', { group: 'g1', replica: r })), [1, 1, 1]);
  t.equal(value(before, 'ftkit_failovers_total', { group: 'g1' }), 0);

  const leader = (JSON.parse(await sys.ctl({ op: 'status' })) as { leader: string }).leader;
  const mark = sys.rm.events.length;
  sys.proc(leader).kill('SIGKILL');
  await sys.rm.waitFor((e) => e.type === 'decision' && /is primary/.test(e.text) && data<{ leader?: string }>(e).leader !== leader, 10_000, mark);
  const after = await read();
  t.equal(value(after, 'ftkit_failovers_total', { group: 'g1' }), 1, 'a failover counted');
  const cpu = (f: Map<string, Family>) => value(f, 'ftkit_process_cpu_seconds_total', { process: 'GFD' });
  let later = after;
  for (let i = 0; i < 50 && !(cpu(later) > cpu(before)); i++) {
    await new Promise((r) => setTimeout(r, 200));
    later = await read();
  }
  t.ok(cpu(later) > cpu(before), `the GFD's CPU seconds went up (${cpu(before)} → ${cpu(later)}), with its next report`);
  t.ok(value(after, 'ftkit_epoch', { group: 'g1' }) > value(before, 'ftkit_epoch', { group: 'g1' }), 'the epoch went up');
  t.notOk(value(after, 'ftkit_replica_ready', { group: 'g1', replica: leader }) === 1, `${leader} is no longer ready`);

  const api = (await (await fetch(`${base}/api/status`)).json()) as { mode: string; groups: unknown[] };
  const ctl = JSON.parse(await sys.ctl({ op: 'status' })) as { mode: string; groups: unknown[] };
  t.equal(api.mode, ctl.mode);
  t.equal(api.groups.length, ctl.groups.length);

  const post = await fetch(`${base}/api/status`, { method: 'POST', body: 'x' });
  t.equal(post.status, 405);
  t.equal(post.headers.get('allow'), 'GET, HEAD');
  t.equal((await fetch(`${base}/nothing-here`)).status, 404);
  // A body, sent by hand (fetch sends none with a GET).
  const [host, port] = base.slice('http://'.length).split(':') as [string, string];
  const sock = connect(Number(port), host);
  let answer = '';
  sock.on('data', (d) => (answer += d));
  sock.end('GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
  await once(sock, 'close');
  t.match(answer, /^HTTP\/1\.1 413 /, 'a request with a body: 413');
  t.ok((await sys.ctl({ op: 'status' })).length > 0, 'the RM still answers its protocol after all that');
});
