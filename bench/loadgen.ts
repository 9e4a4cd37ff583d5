/**
 * The benchmarks' load generator. It runs as a child process of bench/run.ts (fork,
 * IPC) so that the bench process, which reads every component's trace stream, is
 * not on the request path. It drives two kinds of load, both closed-loop (each
 * connection sends its next request as soon as the previous one is answered):
 *
 *  - baseline: plain `node:net` connections to bench/baseline-server, ftkit's
 *    message shape and nothing else;
 *  - ftkit: one client name per load connection, speaking the protocol directly
 *    (lib/net, lib/protocol): ask the RM for the view, then send each request to
 *    the primary (passive) or to every ready replica, first reply wins (active).
 *    Given a CA file (`ca`), every connection is TLS, checked against that CA; the
 *    clients hold no secret (a deployment without a client secret lets them in).
 *    A request keeps its number across retries (reject, closed connection, a view
 *    that drops its target, timeout), so the servers' dedup tables apply.
 *
 * IPC: the parent sends `{ id, op, ...args }`, the child answers `{ id, ok, result | error }`.
 */
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { NO_SECURITY, ReplicaConnections, connect, type Connection, type Security } from '../lib/net/index.js';
import type { Member, Message, Mode } from '../lib/protocol/index.js';
import { percentile, preciseNow } from './stats.js';

/** Epoch milliseconds with sub-millisecond precision, comparable with Date.now() of other processes. */
const now = preciseNow;

// ---- measurement -------------------------------------------------------------------

/** Counts completions and latencies inside a time window (epoch ms). */
class Recorder {
  start = Infinity;
  end = Infinity;
  count = 0;
  readonly lat: number[] = [];
  /** Reply times of every completion (only when asked: for gap analysis). */
  readonly times: number[] | undefined;
  constructor(keepTimes = false) {
    if (keepTimes) this.times = [];
  }
  record(sentAt: number, at: number): void {
    this.times?.push(at);
    if (at < this.start || at >= this.end) return;
    this.count++;
    this.lat.push(at - sentAt);
  }
  summary(): LoadStats {
    const s = [...this.lat].sort((a, b) => a - b);
    const secs = (Math.min(this.end, now()) - this.start) / 1000;
    return {
      count: this.count,
      seconds: secs,
      rps: this.count / secs,
      p50: percentile(s, 50),
      p99: percentile(s, 99),
      mean: s.reduce((a, b) => a + b, 0) / (s.length || 1),
      max: s[s.length - 1] ?? NaN,
    };
  }
}

export interface LoadStats {
  count: number;
  seconds: number;
  rps: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

/** Someone waiting for the first reply after a point in time (a kill). */
interface Watch {
  since: number;
  exclude: string;
  /** First reply received after `since` from a server other than `exclude`, whatever its request. */
  any?: { at: number; server: string };
  resolve: (r: WatchResult) => void;
}

export interface WatchResult {
  /** First reply to a request first sent at or after `since` (epoch ms). */
  at: number;
  server: string;
  client: string;
  num: number;
  anyAt?: number;
  anyServer?: string;
}

const watches = new Set<Watch>();

/** The last replies received, so a watch that arrives a moment after the kill still sees them. */
const recent: Array<{ sentAtEpoch: number; at: number; server: string; client: string; num: number }> = [];
const RECENT_MAX = 5000;

function noteReply(sentAtEpoch: number, at: number, server: string, client: string, num: number): void {
  recent.push({ sentAtEpoch, at, server, client, num });
  if (recent.length > RECENT_MAX) recent.splice(0, recent.length - RECENT_MAX / 2);
  for (const w of watches) {
    if (at < w.since || server === w.exclude) continue;
    w.any ??= { at, server };
    if (sentAtEpoch >= w.since) {
      watches.delete(w);
      w.resolve({ at, server, client, num, anyAt: w.any.at, anyServer: w.any.server });
    }
  }
}

// ---- baseline ---------------------------------------------------------------------

function baselineConnection(port: number, name: string, rec: Recorder, stopAt: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    let n = 0;
    let sentAt = 0;
    let buf = '';
    const send = () => {
      n++;
      sentAt = now();
      socket.write(`<${name}, S1, ${n}, add 1, request>`);
    };
    socket.on('connect', send);
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      buf += chunk;
      const end = buf.indexOf('>');
      if (end === -1) return;
      const frame = buf.slice(0, end + 1);
      buf = buf.slice(end + 1);
      const num = Number(frame.split(',')[2]);
      if (num !== n) return reject(new Error(`baseline: reply ${num} for request ${n}`));
      const at = now();
      rec.record(sentAt, at);
      if (at < stopAt) send();
      else {
        socket.end();
        resolve(n);
      }
    });
  });
}

async function baseline(args: { port: number; conns: number; warmupMs: number; durationMs: number }): Promise<LoadStats> {
  const rec = new Recorder();
  const t0 = now();
  rec.start = t0 + args.warmupMs;
  rec.end = rec.start + args.durationMs;
  const names = Array.from({ length: args.conns }, (_, i) => `B${i + 1}`);
  await Promise.all(names.map((n) => baselineConnection(args.port, n, rec, rec.end)));
  return rec.summary();
}

// ---- ftkit client -----------------------------------------------------------------

interface Attempt {
  num: number;
  targets: Set<string>;
  failed: Set<string>;
  done: (outcome: { server: string; result: string } | string) => void;
}

class GiveUp extends Error {}

/** One load connection: one client name, closed loop. */
class FtClient {
  private rm: Connection | undefined;
  mode: Mode | undefined;
  view: Member[] = [];
  private readonly conns: ReplicaConnections;
  private readonly events = new EventEmitter();
  private attempt: Attempt | undefined;
  private stopped = false;
  num = 0;
  /** Requests answered; results kept when `keepResults`. */
  replies = 0;
  readonly results: string[] = [];
  retries = 0;
  /** A request given up on (no reply within the give-up time): it may or may not have executed. */
  unresolved = 0;

  constructor(
    readonly name: string,
    private readonly rmAddr: string,
    private readonly keepResults = false,
    private readonly timeoutMs = 2000,
    private readonly giveUpMs = 30_000,
    private readonly security: Security = NO_SECURITY,
  ) {
    this.conns = new ReplicaConnections({
      me: name,
      connectTimeoutMs: 1000,
      security,
      onMessage: (server, msg) => this.fromReplica(server, msg),
      onClose: (server) => {
        if (this.attempt) this.failTarget(this.attempt, server, 'connection closed');
      },
    });
  }

  async start(): Promise<void> {
    this.rm = await connect(this.rmAddr, { me: this.name, timeoutMs: 2000, security: this.security });
    this.rm.on('message', (m) => this.fromRm(m));
    this.rm.send({ type: 'client', client: this.name });
    if (!(await this.viewReady(10_000))) throw new Error(`${this.name}: the RM gave no ready replica within 10 s`);
  }

  stop(): void {
    this.stopped = true;
    this.attempt?.done('stopping');
    this.rm?.destroy();
    this.conns.closeAll();
    this.events.emit('view');
  }

  private fromRm(msg: Message): void {
    if (msg.type !== 'view' || msg.client !== this.name) return;
    this.mode = msg.mode;
    this.view = msg.replicas;
    this.conns.retain(msg.replicas);
    // A target that left the view will not answer: count it as failed now.
    const a = this.attempt;
    if (a) for (const t of a.targets) if (!msg.replicas.some((m) => m.name === t)) this.failTarget(a, t, 'left the view');
    this.events.emit('view');
  }

  private viewReady(ms: number): Promise<boolean> {
    if (this.view.length > 0 || this.stopped) return Promise.resolve(this.view.length > 0);
    return this.viewChange(ms).then(() => this.view.length > 0);
  }

  /** Resolves on the next view from the RM, or after `ms`. */
  private viewChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.events.off('view', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.events.on('view', done);
    });
  }

  private async connection(m: Member): Promise<Connection | undefined> {
    return this.conns.get(m).catch(() => undefined);
  }

  private failTarget(a: Attempt, server: string, why: string): void {
    if (!a.targets.has(server)) return;
    a.failed.add(server);
    if (a.failed.size >= a.targets.size) a.done(why);
  }

  private fromReplica(server: string, msg: Message): void {
    const a = this.attempt;
    if (!a) return;
    if (msg.type === 'reply' && msg.client === this.name && msg.num === a.num) a.done({ server, result: msg.result });
    else if (msg.type === 'reject' && msg.client === this.name && msg.num === a.num) this.failTarget(a, server, msg.reason);
  }

  /** One try at request `num` on the current view: the answer, or why it failed. */
  private async tryOnce(num: number, payload: string): Promise<{ server: string; result: string } | string> {
    if (!(await this.viewReady(this.timeoutMs))) return 'no replica ready';
    const targets = this.mode === 'passive' ? this.view.slice(0, 1) : [...this.view];
    const conns = (await Promise.all(targets.map(async (m) => [m.name, await this.connection(m)] as const))).filter(
      (p): p is readonly [string, Connection] => p[1] !== undefined,
    );
    if (this.stopped) return 'stopping';
    if (conns.length === 0) return 'no replica reachable';
    return new Promise((resolve) => {
      const timer = setTimeout(() => a.done(`no reply within ${this.timeoutMs} ms`), this.timeoutMs);
      const a: Attempt = {
        num,
        targets: new Set(conns.map(([s]) => s)),
        failed: new Set(),
        done: (outcome) => {
          if (this.attempt !== a) return;
          clearTimeout(timer);
          this.attempt = undefined;
          resolve(outcome);
        },
      };
      this.attempt = a;
      for (const [server, conn] of conns) conn.send({ type: 'request', client: this.name, server, num, payload });
    });
  }

  /** Send one request until a replica answers it (or give up); the result and who answered. */
  async request(payload: string): Promise<{ server: string; result: string; sentAt: number; sentAtEpoch: number; at: number }> {
    const num = ++this.num;
    const sentAt = now();
    const sentAtEpoch = now();
    for (let tries = 0; !this.stopped; tries++) {
      if (now() - sentAt > this.giveUpMs) {
        this.unresolved++;
        throw new GiveUp(`${this.name}: request ${num} unanswered for ${this.giveUpMs} ms`);
      }
      const out = await this.tryOnce(num, payload);
      if (typeof out !== 'string') {
        this.replies++;
        if (this.keepResults) this.results.push(out.result);
        const at = now();
        noteReply(sentAtEpoch, at, out.server, this.name, num);
        return { ...out, sentAt, sentAtEpoch, at };
      }
      if (this.stopped) break;
      this.retries++;
      // Ask the RM again and go as soon as it pushes a new view (or after a short pause).
      this.rm?.send({ type: 'client', client: this.name });
      await this.viewChange(tries < 3 ? 5 : 50);
    }
    this.unresolved++;
    throw new GiveUp(`${this.name}: stopped with request ${num} unanswered`);
  }
}

// ---- load sessions ----------------------------------------------------------------

let nameCounter = 0;
/** Client names are unique for the life of this process: a dedup table never sees a name reused from 1. */
const freshName = (prefix: string) => `${prefix}${++nameCounter}`;

/** What the clients dial with: TLS checked against the CA in `ca` (a file), or plain TCP. */
function securityFor(ca: string | undefined): Security {
  return ca ? { secrets: {}, tls: { ca: readFileSync(ca) } } : NO_SECURITY;
}

interface Session {
  clients: FtClient[];
  loops: Promise<void>[];
  rec: Recorder;
  stop: boolean;
  errors: string[];
  /** Set while the session is paused: its clients send nothing until `resume`. */
  paused?: { promise: Promise<void>; resume: () => void };
}

const sessions = new Map<string, Session>();

function payloadFor(template: string, client: FtClient): string {
  return template.replaceAll('{n}', String(client.num + 1)).replaceAll('{c}', client.name);
}

async function startSession(args: {
  session: string;
  rm: string;
  clients: number;
  payload: string;
  prefix?: string;
  keepResults?: boolean;
  keepTimes?: boolean;
  /** Pause after each reply (ms): 0 is a pure closed loop that saturates the machine. */
  thinkMs?: number;
  /** The deployment's TLS CA (a file): connect over TLS. */
  ca?: string;
}): Promise<{ names: string[] }> {
  const rec = new Recorder(args.keepTimes);
  rec.start = 0;
  const s: Session = { clients: [], loops: [], rec, stop: false, errors: [] };
  sessions.set(args.session, s);
  const security = securityFor(args.ca);
  for (let i = 0; i < args.clients; i++) s.clients.push(new FtClient(freshName(args.prefix ?? 'L'), args.rm, args.keepResults, undefined, undefined, security));
  await Promise.all(s.clients.map((c) => c.start()));
  for (const c of s.clients) {
    s.loops.push(
      (async () => {
        while (!s.stop) {
          if (s.paused) {
            await s.paused.promise;
            continue;
          }
          try {
            const r = await c.request(payloadFor(args.payload, c));
            rec.record(r.sentAt, r.at);
            if (args.thinkMs) await new Promise((resolve) => setTimeout(resolve, args.thinkMs));
          } catch (err) {
            if (!s.stop) s.errors.push((err as Error).message);
            return;
          }
        }
      })(),
    );
  }
  return { names: s.clients.map((c) => c.name) };
}

/**
 * Pause a session: each client finishes the request it has in flight and sends nothing more
 * until `resumeSession`; connections stay open. Resolves when nothing is in flight (bounded).
 */
async function pauseSession(args: { session: string; drainMs?: number }): Promise<{ drained: boolean; errors: string[]; retries: number }> {
  const s = sessions.get(args.session)!;
  if (!s.paused) {
    let resume!: () => void;
    const promise = new Promise<void>((r) => (resume = r));
    s.paused = { promise, resume };
  }
  const deadline = now() + (args.drainMs ?? 2000);
  const inFlight = () => s.clients.some((c) => c.replies + c.unresolved < c.num);
  while (inFlight() && now() < deadline) await new Promise((r) => setTimeout(r, 1));
  return { drained: !inFlight(), errors: s.errors, retries: s.clients.reduce((a, c) => a + c.retries, 0) };
}

async function resumeSession(args: { session: string }): Promise<void> {
  const s = sessions.get(args.session)!;
  const p = s.paused;
  s.paused = undefined;
  p?.resume();
}

/** Start measuring now (after a warm-up) for `durationMs`; resolves with the stats when the window closes. */
async function measure(args: { session: string; durationMs: number }): Promise<LoadStats> {
  const s = sessions.get(args.session)!;
  s.rec.count = 0;
  s.rec.lat.length = 0;
  s.rec.start = now();
  s.rec.end = s.rec.start + args.durationMs;
  await new Promise((r) => setTimeout(r, args.durationMs));
  return s.rec.summary();
}

async function stopSession(args: { session: string; drainMs?: number }) {
  const s = sessions.get(args.session);
  if (!s) return undefined;
  sessions.delete(args.session);
  s.stop = true;
  s.paused?.resume();
  // Closed loop: each client finishes the request it has in flight, within the drain time.
  const drained = await Promise.race([Promise.all(s.loops).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), args.drainMs ?? 5000))]);
  for (const c of s.clients) c.stop();
  await Promise.allSettled(s.loops);
  return {
    drained,
    errors: s.errors,
    clients: s.clients.map((c) => ({ name: c.name, replies: c.replies, retries: c.retries, unresolved: c.unresolved, lastNum: c.num })),
    results: s.clients.flatMap((c) => c.results),
    times: s.rec.times,
  };
}

/** One request from a fresh client name: e.g. the final `get` of the counter. */
async function ask(args: { rm: string; payload: string; prefix?: string; giveUpMs?: number; ca?: string }): Promise<{ server: string; result: string }> {
  const c = new FtClient(freshName(args.prefix ?? 'Q'), args.rm, false, 2000, args.giveUpMs, securityFor(args.ca));
  try {
    await c.start();
    const r = await c.request(args.payload);
    return { server: r.server, result: r.result };
  } finally {
    c.stop();
  }
}

/**
 * Append items to a `log` app until its snapshot (JSON array of strings) reaches
 * `targetBytes`; `have` is the snapshot length before. Items are [a-z0-9-], so each
 * adds exactly its length + 2 quotes + 1 comma.
 */
async function fill(args: { rm: string; clients: number; itemSize: number; have: number; entries: number; targetBytes: number }) {
  let bytes = args.have;
  let entries = args.entries;
  const clients = Array.from({ length: args.clients }, () => new FtClient(freshName('F'), args.rm, false, 5000));
  const t0 = now();
  try {
    await Promise.all(clients.map((c) => c.start()));
    let k = 0;
    const item = () => {
      const head = `i${++k}-`;
      return head + 'x'.repeat(Math.max(0, args.itemSize - head.length));
    };
    await Promise.all(
      clients.map(async (c) => {
        while (bytes < args.targetBytes) {
          const it = item();
          // Count before sending, so concurrent clients do not overshoot by much.
          bytes += it.length + 2 + (entries > 0 ? 1 : 0);
          entries++;
          await c.request(`append ${it}`);
        }
      }),
    );
  } finally {
    for (const c of clients) c.stop();
  }
  return { bytes, entries, seconds: (now() - t0) / 1000 };
}

function watchFirst(args: { since: number; exclude: string; timeoutMs: number }): Promise<WatchResult | undefined> {
  return new Promise((resolve) => {
    const w: Watch = {
      since: args.since,
      exclude: args.exclude,
      resolve: (r) => {
        clearTimeout(timer);
        resolve(r);
      },
    };
    const timer = setTimeout(() => {
      watches.delete(w);
      resolve(undefined);
    }, args.timeoutMs);
    // Replies that came between the kill and this request.
    for (const r of recent) {
      if (r.at < w.since || r.server === w.exclude) continue;
      w.any ??= { at: r.at, server: r.server };
      if (r.sentAtEpoch >= w.since) return w.resolve({ at: r.at, server: r.server, client: r.client, num: r.num, anyAt: w.any.at, anyServer: w.any.server });
    }
    watches.add(w);
  });
}

// ---- IPC ----------------------------------------------------------------------------

type Request = { id: number; op: string; [k: string]: unknown };

const ops: Record<string, (args: never) => Promise<unknown>> = {
  baseline,
  startSession,
  measure,
  pauseSession,
  resumeSession,
  stopSession,
  ask,
  fill,
  watchFirst,
  memory: async () => process.memoryUsage(),
};

process.on('message', (req: Request) => {
  const op = ops[req.op];
  if (!op) return process.send?.({ id: req.id, ok: false, error: `unknown op ${req.op}` });
  op(req as never).then(
    (result) => process.send?.({ id: req.id, ok: true, result }),
    (err: Error) => process.send?.({ id: req.id, ok: false, error: err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, ok: true, result: 'ready' });
