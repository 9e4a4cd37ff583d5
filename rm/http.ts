/**
 * The RM's web side (`ftkit rm --http <port>`): the live dashboard, its data, and metrics in
 * Prometheus' text format. It runs on the RM's event loop, so every answer is cheap and bounded:
 * GET and HEAD only (anything else: 405), no request bodies (413), a fixed set of paths (404
 * otherwise), at most MAX_WATCHERS live pages (503 past it).
 *
 *   GET /              the dashboard (rm/dashboard/, served as files; the charts are uPlot's,
 *                      from node_modules: no CDN, works offline)
 *   GET /api/status    what `ftkit ctl status --json` gives
 *   GET /api/events    server-sent events: `status` (the same JSON) when something changes and
 *                      every second, `event` for each RM trace line worth a timeline (failures,
 *                      elections, relaunches, checkpoints), the last ones first on connect
 *   GET /metrics       Prometheus text format (docs/OBSERVABILITY.md names every metric)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { formatAddress } from '../lib/net/address.js';
import type { Category, TraceEvent, Tracer } from '../lib/trace/index.js';
import { Exposition } from './prometheus.js';

/** What the web side reads from the RM. */
export interface HttpSource {
  readonly tracer: Tracer;
  status(): Record<string, unknown>;
  /** Extra metric families (the RM's measurements), written into `/metrics`. */
  writeMetrics?(out: Exposition): void;
}

const MAX_WATCHERS = 64;
/** Timeline lines kept for a page that connects. */
const TIMELINE = 200;
/** A change is pushed this long after it (changes close together go as one). */
const PUSH_DELAY_MS = 50;
const PUSH_EVERY_MS = 1000;
const TIMELINE_CATEGORIES: ReadonlySet<Category> = new Set(['membership', 'checkpoint', 'fault', 'state', 'info']);

/** The dashboard's files: ours from rm/dashboard/ (beside this file's source), uPlot's from node_modules. */
function assets(): Map<string, { body: Buffer; type: string }> {
  const here = (name: string) => fileURLToPath(new URL(`../../rm/dashboard/${name}`, import.meta.url));
  const uplot = (name: string) => createRequire(import.meta.url).resolve(`uplot/dist/${name}`);
  const files: Array<[string, string, string]> = [
    ['/', here('index.html'), 'text/html; charset=utf-8'],
    ['/dashboard.js', here('dashboard.js'), 'text/javascript; charset=utf-8'],
    ['/dashboard.css', here('dashboard.css'), 'text/css; charset=utf-8'],
    ['/uplot.js', uplot('uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    ['/uplot.css', uplot('uPlot.min.css'), 'text/css; charset=utf-8'],
  ];
  return new Map(files.map(([path, file, type]) => [path, { body: readFileSync(file), type }]));
}

export class RmHttp {
  private readonly server: Server;
  private readonly files = assets();
  private readonly watchers = new Set<ServerResponse>();
  private readonly timeline: TraceEvent[] = [];
  /** Per group, the last leader it had and how often it got another. */
  private readonly leaders = new Map<string, { leader: string | null; failovers: number }>();
  private pushTimer: NodeJS.Timeout | undefined;
  private readonly ticker: NodeJS.Timeout;
  private readonly onEvent = (e: TraceEvent) => this.event(e);

  constructor(
    private readonly source: HttpSource,
    private readonly host: string,
    private readonly port: number,
  ) {
    this.server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => this.handle(req, res));
    this.server.maxHeadersCount = 50;
    this.ticker = setInterval(() => this.push(), PUSH_EVERY_MS);
    this.ticker.unref();
  }

  get address(): string {
    const a = this.server.address();
    return a && typeof a === 'object' ? formatAddress({ host: this.host, port: a.port }) : formatAddress({ host: this.host, port: this.port });
  }

  async start(): Promise<void> {
    this.source.tracer.on('event', this.onEvent);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    this.source.tracer.off('event', this.onEvent);
    clearInterval(this.ticker);
    clearTimeout(this.pushTimer);
    for (const w of this.watchers) w.end();
    this.watchers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.refuse(res, 405, `${req.method} is not served here: GET only`, { Allow: 'GET, HEAD' });
    if (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined) return this.refuse(res, 413, 'a GET takes no body');
    const file = this.files.get(path);
    if (file) return this.send(res, req, file.type, file.body);
    switch (path) {
      case '/api/status':
        return this.send(res, req, 'application/json', Buffer.from(JSON.stringify(this.statusNow())));
      case '/metrics':
        return this.send(res, req, 'text/plain; version=0.0.4; charset=utf-8', Buffer.from(this.metrics()));
      case '/api/events':
        return this.watch(req, res);
      default:
        return this.refuse(res, 404, `no ${path} here: see / for the dashboard, /api/status, /api/events, /metrics`);
    }
  }

  private send(res: ServerResponse, req: IncomingMessage, type: string, body: Buffer): void {
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private refuse(res: ServerResponse, code: number, why: string, headers: Record<string, string> = {}): void {
    res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close', ...headers });
    res.end(`${why}\n`);
  }

  private watch(req: IncomingMessage, res: ServerResponse): void {
    if (this.watchers.size >= MAX_WATCHERS) return this.refuse(res, 503, `already ${MAX_WATCHERS} live pages: close one`);
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    if (req.method === 'HEAD') return void res.end();
    this.watchers.add(res);
    res.on('close', () => this.watchers.delete(res));
    res.write(`event: status\ndata: ${JSON.stringify(this.statusNow())}\n\n`);
    for (const e of this.timeline) res.write(`event: event\ndata: ${JSON.stringify(e)}\n\n`);
  }

  /** The status, with what the web side counts itself. */
  private statusNow(): Record<string, unknown> {
    const status = this.source.status();
    this.countFailovers(status);
    return { ...status, failovers: Object.fromEntries([...this.leaders].map(([g, l]) => [g, l.failovers])) };
  }

  /** Count a failover each time a group's leader is another than the last one it had. */
  private countFailovers(status: Record<string, unknown>): void {
    for (const g of (status.groups as Array<{ name: string; leader: string | null }> | undefined) ?? []) {
      let seen = this.leaders.get(g.name);
      if (!seen) this.leaders.set(g.name, (seen = { leader: null, failovers: 0 }));
      if (g.leader === null) continue;
      if (seen.leader !== null && seen.leader !== g.leader) seen.failovers++;
      seen.leader = g.leader;
    }
  }

  private event(e: TraceEvent): void {
    if (!TIMELINE_CATEGORIES.has(e.category)) return;
    this.timeline.push(e);
    if (this.timeline.length > TIMELINE) this.timeline.shift();
    // Leaders change only in these events: count failovers even when no page is open.
    if (e.type === 'decision' || e.type === 'view_changed') this.countFailovers(this.source.status());
    for (const w of this.watchers) w.write(`event: event\ndata: ${JSON.stringify(e)}\n\n`);
    if (this.watchers.size > 0 && !this.pushTimer) {
      this.pushTimer = setTimeout(() => this.push(), PUSH_DELAY_MS);
      this.pushTimer.unref();
    }
  }

  private push(): void {
    clearTimeout(this.pushTimer);
    this.pushTimer = undefined;
    if (this.watchers.size === 0) return;
    const line = `event: status\ndata: ${JSON.stringify(this.statusNow())}\n\n`;
    for (const w of this.watchers) w.write(line);
  }

  private metrics(): string {
    const status = this.statusNow();
    const out = new Exposition();
    const groups = (status.groups as Array<{ name: string; epoch: number; members: Array<{ name: string; ready: boolean }> }> | undefined) ?? [];
    out.family('ftkit_replica_ready', 'gauge', 'Whether the replica is ready (1) or not (0), by group.');
    for (const g of groups) for (const m of g.members) out.sample('ftkit_replica_ready', { group: g.name, replica: m.name }, m.ready ? 1 : 0);
    out.family('ftkit_epoch', 'gauge', "The group's epoch: it goes up at every membership or leader change.");
    for (const g of groups) out.sample('ftkit_epoch', { group: g.name }, g.epoch);
    out.family('ftkit_failovers_total', 'counter', 'Times the group got a new leader after having one, since this RM started.');
    for (const g of groups) out.sample('ftkit_failovers_total', { group: g.name }, this.leaders.get(g.name)?.failovers ?? 0);
    this.source.writeMetrics?.(out);
    return out.text();
  }
}
