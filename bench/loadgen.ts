/**
 * The benchmarks' load generator. It runs as a child process of bench/run.ts (fork,
 * IPC) so that the bench process, which reads every component's trace stream, is
 * not on the request path. Its loads are closed-loop (each client sends its next
 * request as soon as the previous one is answered, after an optional think time):
 *
 *  - ftkit: one client session (clients/session.ts) per load client, each with its own
 *    client name: it follows the RM's views, sends to the primary (passive) or to every
 *    ready replica, first reply wins (active), and keeps a request's number across
 *    retries, so the servers' dedup tables apply. Given a CA file (`ca`), every
 *    connection is TLS, checked against that CA; the clients hold no secret (a
 *    deployment without a client secret lets them in);
 *  - baseline: plain `node:net` connections to bench/baseline-server (bench/raw-load.ts);
 *  - relay: the same connections to the bare Node relay's primary (bench/relay-server.ts);
 *  - redis: `SET` + `WAIT` writers speaking RESP (bench/raw-load.ts).
 *
 * IPC: the parent sends `{ id, op, ...args }`, the child answers `{ id, ok, result | error }`.
 */
import { readFileSync } from 'node:fs';
import { NO_SECURITY, exponentialBackoff, type Security } from '../lib/net/index.js';
import { SessionStoppedError } from '../lib/errors.js';
import { Session, type Outcome, type SessionOptions } from '../clients/session.js';
import type { ClosedLoop } from '../clients/loop.js';
import { Recorder, ReplyWatch, type LoadStats, type WatchResult } from './recorder.js';
import { FrameWriter, RedisWriter, baselineConnection } from './raw-load.js';
import { sleep } from './stats.js';


/** A load client's retries: soon (a failover is what the bench measures), and at once on a new view. */
const RETRY_POLICY = exponentialBackoff({ baseMs: 1, capMs: 50 });
const ATTEMPT_TIMEOUT_MS = 2000;
const GIVE_UP_MS = 30_000;
const READY_MS = 10_000;

const watch = new ReplyWatch();

let nameCounter = 0;
/** Client names are unique for the life of this process: a dedup table never sees a name reused from 1. */
const freshName = (prefix: string) => `${prefix}${++nameCounter}`;

/** What the clients dial with: TLS checked against the CA in `ca` (a file), or plain TCP. */
function securityFor(ca: string | undefined): Security {
  return ca ? { secrets: {}, tls: { ca: readFileSync(ca) } } : NO_SECURITY;
}

/** A started session with a view to send to (or an error). */
async function openSession(rm: string, prefix: string, o: Partial<SessionOptions> = {}): Promise<Session> {
  const s = new Session({ name: freshName(prefix), rm, retryPolicy: RETRY_POLICY, attemptTimeoutMs: ATTEMPT_TIMEOUT_MS, giveUpMs: GIVE_UP_MS, ...o });
  s.on('complete', (out) => {
    if (out.status === 'ok') watch.note({ sentAt: out.sentAt, at: out.at, server: out.server, client: s.name, num: out.num });
  });
  s.start();
  if (await s.ready(READY_MS)) return s;
  s.stop();
  throw new Error(`${s.name}: the RM gave no ready replica within ${READY_MS / 1000} s`);
}

/** The result of a request that had to be answered, or its error. */
function answered(out: Outcome): { server: string; result: string } {
  if (out.status !== 'ok') throw out.error;
  return { server: out.server, result: out.result };
}

// ---- load sessions ----------------------------------------------------------------

interface Load {
  rec: Recorder;
  errors: string[];
  /** ftkit load: its client sessions and their loops. */
  clients: Session[];
  /** Their closed loops, and the promises of the loops' ends. */
  closedLoops: ClosedLoop[];
  loops: Promise<void>[];
  /** Redis and relay loads. */
  writers: Array<RedisWriter | FrameWriter>;
}

const loads = new Map<string, Load>();

function payloadFor(template: string, num: number, client: string): string {
  return template.replaceAll('{n}', String(num)).replaceAll('{c}', client);
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
  /** Routing keys (`--key`), client i taking keys[i mod length]: the RM routes each to a replica group. */
  keys?: string[];
  /** The clients time their requests and report to the RM (default true). */
  metrics?: boolean;
}): Promise<{ names: string[] }> {
  const load: Load = { rec: new Recorder(args.keepTimes), errors: [], clients: [], closedLoops: [], loops: [], writers: [] };
  loads.set(args.session, load);
  const security = securityFor(args.ca);
  const keyOf = (i: number) => (args.keys?.length ? args.keys[i % args.keys.length] : undefined);
  const opened = await Promise.allSettled(Array.from({ length: args.clients }, (_, i) => openSession(args.rm, args.prefix ?? 'L', { security, keepResults: args.keepResults, key: keyOf(i), metrics: args.metrics })));
  for (const o of opened) if (o.status === 'fulfilled') load.clients.push(o.value);
  const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) {
    for (const c of load.clients) c.stop();
    loads.delete(args.session);
    throw failed.reason;
  }
  for (const c of load.clients) {
    c.on('complete', (out) => out.status === 'ok' && load.rec.record(out.sentAt, out.at));
    const loop = c.loop({ next: (num) => payloadFor(args.payload, num, c.name), thinkMs: args.thinkMs });
    load.closedLoops.push(loop);
    load.loops.push(
      loop.run().then((failure) => {
        if (failure && failure.status !== 'ok' && !(failure.error instanceof SessionStoppedError)) load.errors.push(failure.error.message);
      }),
    );
  }
  return { names: load.clients.map((c) => c.name) };
}

/** A load of raw writers (one per client, closed loop) under `session`. */
function startWriters(session: string, clients: number, make: (i: number, rec: Recorder) => RedisWriter | FrameWriter): void {
  const load: Load = { rec: new Recorder(), errors: [], clients: [], closedLoops: [], loops: [], writers: [] };
  loads.set(session, load);
  for (let i = 0; i < clients; i++) {
    const w = make(i, load.rec);
    load.writers.push(w);
    load.loops.push(w.done.catch((err: Error) => void load.errors.push(err.message)));
  }
}

/** Redis writers: `clients` connections to the primary at `port`, each its own key, closed loop. */
async function startRedis(args: { session: string; port: number; clients: number; replicas: number }): Promise<void> {
  startWriters(args.session, args.clients, (i, rec) => new RedisWriter(args.port, `bench:${args.session}:${i + 1}`, args.replicas, rec));
}

/** Relay clients: `clients` connections to the relay's primary at `port`, each its own client name, closed loop. */
async function startRelay(args: { session: string; port: number; clients: number }): Promise<void> {
  startWriters(args.session, args.clients, (_, rec) => new FrameWriter(args.port, freshName('R'), rec));
}

/**
 * Pause a session: each client finishes the request it has in flight and sends nothing more
 * until `resumeSession`; connections stay open. Resolves when nothing is in flight (bounded).
 */
async function pauseSession(args: { session: string; drainMs?: number }): Promise<{ drained: boolean; errors: string[]; retries: number }> {
  const load = loads.get(args.session)!;
  for (const l of load.closedLoops) l.pause();
  const idle = await Promise.all(load.clients.map((c) => c.idle(args.drainMs ?? 2000)));
  return { drained: idle.every(Boolean), errors: load.errors, retries: load.clients.reduce((a, c) => a + c.stats.retries, 0) };
}

async function resumeSession(args: { session: string }): Promise<void> {
  for (const l of loads.get(args.session)!.closedLoops) l.resume();
}

/** Start measuring now (after a warm-up) for `durationMs`; resolves with the stats when the window closes. */
async function measure(args: { session: string; durationMs: number }): Promise<LoadStats> {
  const rec = loads.get(args.session)!.rec;
  rec.open(args.durationMs);
  await sleep(args.durationMs);
  return rec.summary();
}

/** Each client's replies so far (and its key): the groups bench counts requests per group from these. */
async function replies(args: { session: string }): Promise<Array<{ name: string; key: string | undefined; replies: number }>> {
  return loads.get(args.session)!.clients.map((c) => ({ name: c.name, key: c.options.key, replies: c.stats.replies }));
}

async function stopSession(args: { session: string; drainMs?: number }) {
  const load = loads.get(args.session);
  if (!load) return undefined;
  loads.delete(args.session);
  // Closed loop: each client finishes the request it has in flight, within the drain time.
  for (const l of load.closedLoops) l.stop();
  for (const w of load.writers) w.stop();
  const drained = await Promise.race([Promise.all(load.loops).then(() => true), sleep(args.drainMs ?? 5000).then(() => false)]);
  for (const c of load.clients) c.stop();
  for (const w of load.writers) w.destroy();
  await Promise.allSettled(load.loops);
  return {
    drained,
    errors: load.errors,
    clients: load.clients.map((c) => ({ name: c.name, replies: c.stats.replies, retries: c.stats.retries, unresolved: c.stats.unknown + c.stats.failed, lastNum: c.num - 1 })),
    acked: load.writers.reduce((a, w) => a + w.acked, 0),
    results: load.clients.flatMap((c) => c.results),
    times: load.rec.times,
  };
}

/** One request from a fresh client name: e.g. the final `get` of the counter. */
async function ask(args: { rm: string; payload: string; prefix?: string; giveUpMs?: number; ca?: string; key?: string }): Promise<{ server: string; result: string }> {
  const c = await openSession(args.rm, args.prefix ?? 'Q', { giveUpMs: args.giveUpMs ?? GIVE_UP_MS, security: securityFor(args.ca), key: args.key });
  try {
    return answered(await c.request(args.payload));
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
  const t0 = Date.now();
  const clients: Session[] = [];
  try {
    for (let i = 0; i < args.clients; i++) clients.push(await openSession(args.rm, 'F', { attemptTimeoutMs: 5000 }));
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
          answered(await c.request(`append ${it}`));
        }
      }),
    );
  } finally {
    for (const c of clients) c.stop();
  }
  return { bytes, entries, seconds: (Date.now() - t0) / 1000 };
}

/**
 * Grow an `sns` app's state (one group) to about `targetBytes`: `followers` users follow the
 * author `a`, who then posts texts of `itemSize`; each post is an event in every follower's
 * timeline (its JSON and the event's record: about the text + 70 characters each), so the state
 * grows by about followers × that per post. `have` is the size before (0: nobody logged in yet).
 */
async function fillSns(args: { rm: string; followers: number; itemSize: number; have: number; entries: number; targetBytes: number }) {
  let bytes = args.have;
  let entries = args.entries;
  const t0 = Date.now();
  const c = await openSession(args.rm, 'F', { attemptTimeoutMs: 5000 });
  try {
    if (bytes === 0) {
      const now = Date.now();
      answered(await c.request(`login a sa ${now}`));
      for (let i = 1; i <= args.followers; i++) {
        answered(await c.request(`login f${i} s${i} ${now}`));
        answered(await c.request(`follow f${i} a`));
        bytes += 60;
      }
    }
    const text = 'x'.repeat(args.itemSize);
    while (bytes < args.targetBytes) {
      answered(await c.request(`post a ${Date.now()} p${entries} ${text}`));
      bytes += args.followers * (args.itemSize + 70);
      entries += args.followers;
    }
  } finally {
    c.stop();
  }
  return { bytes, entries, seconds: (Date.now() - t0) / 1000 };
}

async function baseline(args: { port: number; conns: number; warmupMs: number; durationMs: number }): Promise<LoadStats> {
  const rec = new Recorder();
  rec.open(args.durationMs);
  rec.start += args.warmupMs;
  rec.end += args.warmupMs;
  const names = Array.from({ length: args.conns }, (_, i) => `B${i + 1}`);
  await Promise.all(names.map((n) => baselineConnection(args.port, n, rec, rec.end)));
  return rec.summary();
}

// ---- IPC ----------------------------------------------------------------------------

type Request = { id: number; op: string; [k: string]: unknown };

const ops: Record<string, (args: never) => Promise<unknown>> = {
  baseline,
  startSession,
  startRedis,
  startRelay,
  measure,
  pauseSession,
  resumeSession,
  stopSession,
  replies,
  ask,
  fill,
  fillSns,
  watchFirst: async (args: { since: number; exclude: string; timeoutMs: number }): Promise<WatchResult | undefined> => watch.first(args.since, args.exclude, args.timeoutMs),
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
