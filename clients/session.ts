/**
 * One request session: how every ftkit client talks to the service. The CLI client
 * (clients/client.ts), the chaos harness's clients and the bench's load generator all
 * run their requests through it.
 *
 * - It follows the RM's view (clients/view.ts): it asks the RM where to send, and the RM
 *   pushes the view again whenever it changes. A stale-view session never asks the RM:
 *   it talks to the one replica it was pointed at (`pointAt`); a fixed view (no RM), to those it was given.
 * - Passive mode: each request goes to the primary only. Active mode: to every ready
 *   replica; the first reply wins and later ones are counted (and traced) as duplicates.
 * - A request keeps its request_num across retries (a reject, a closed connection, a
 *   timeout, no replica ready), so the servers' dedup tables run it at most once. Retries
 *   wait as the back-off policy says, or less when the RM pushes a new view meanwhile; the
 *   back-off starts again from its shortest wait with each new view.
 * - Each request ends ok (a reply), fail (it never left the client: it certainly did not
 *   run) or unknown (sent, but no reply before giving up or stopping: it may have run).
 * - `loop()` runs requests one after another (clients/loop.ts), with a think time.
 *
 * With a tracer, the session traces in the course's notation (`Sent <C1, S1, 101, request>`,
 * `Received <C1, S1, 101, reply>`, `request_num 101: Discarded duplicate reply from S3`), and the
 * result on a line of its own (`C1: request_num 101 answered by S1: <result>`); without one it builds no trace.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { RefusedError, ReplicaConnections, exponentialBackoff, type Connection, type ReconnectPolicy, type ReplicaConnectionsOptions } from '../lib/net/index.js';
import type { Member, Message, Mode } from '../lib/protocol/index.js';
import type { Category, Tracer } from '../lib/trace/index.js';
import { DEFAULT_GIVE_UP_S, DEFAULT_REQUEST_TIMEOUT_S } from '../lib/config/options.js';
import { ViewFollower, type ViewOptions } from './view.js';
import { ClosedLoop, type LoopOptions } from './loop.js';
import { GiveUpError, SessionStoppedError } from '../lib/errors.js';
import type { Outcome } from './outcome.js';
import { Attempt, type AttemptResult } from './attempt.js';
import { ClientMetrics } from './metrics.js';

export type { Outcome } from './outcome.js';
export type { LoopOptions } from './loop.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 1000;
/** Between two attempts at one request (the shared back-off, lib/net/backoff.ts). */
export const DEFAULT_RETRY_POLICY: ReconnectPolicy = exponentialBackoff({ baseMs: 50, capMs: 1000 });

/**
 * Who the client is and where its view comes from (ViewOptions: its name, which is also the
 * first field of its requests, the RM, stale, security, rmPolicy, tracer), and how it sends.
 */
export interface SessionOptions extends ViewOptions {
  /** Where to connect to reach replica `name` at `addr` (the chaos harness routes through its proxies). */
  route?: ReplicaConnectionsOptions['route'];
  connectTimeoutMs?: number;
  /** How long one attempt waits for a reply before retrying. */
  attemptTimeoutMs?: number;
  /** How long a request is retried before it ends unknown (or fail, if never sent). */
  giveUpMs?: number;
  /** Wait between two attempts at a request; `false` gives up. */
  retryPolicy?: ReconnectPolicy;
  /** The first request number (default 1). */
  firstNum?: number;
  /** Keep every reply's result in `results` (the bench's checks). */
  keepResults?: boolean;
  /**
   * The caller numbers its requests (request(payload, num)): a `stale` reject (the service has
   * answered a higher number) ends the request as answered before, instead of renumbering it and
   * sending it again. For a sender whose numbers name what it sends (ftkit sync).
   */
  ownNumbers?: boolean;
  /** Time each request to each replica and report it, with this process's CPU and memory, to the RM (default true; needs an RM). */
  metrics?: boolean;
}

export interface ReplicaCounts {
  replies: number;
  duplicates: number;
  rejects: number;
  /** Connections to it that closed (by the replica, or because it left the view). */
  closed: number;
}

interface SessionEvents {
  view: [Mode | undefined, Member[]];
  invoke: [num: number, payload: string];
  complete: [Outcome];
  duplicate: [server: string, num: number];
  refused: [RefusedError];
  stopped: [];
}

const READY = Promise.resolve(true);
const now = (): number => performance.timeOrigin + performance.now();

export class Session extends EventEmitter<SessionEvents> {
  readonly name: string;
  /** The number the next request gets. */
  num: number;
  readonly stats = { requests: 0, replies: 0, duplicates: 0, retries: 0, unknown: 0, failed: 0 };
  readonly replicas = new Map<string, ReplicaCounts>();
  readonly results: string[] = [];
  private readonly conns: ReplicaConnections;
  private readonly follower: ViewFollower;
  /** The open attempt at the current request. */
  private pending: Attempt | undefined;
  /** The request (if any) between invoke and complete. */
  private open: number | undefined;
  /** The last request answered: replies to it (or to older ones) are duplicates. */
  private answered = 0;
  private isStopped = false;
  private refusal: RefusedError | undefined;
  /** Whether the last attempt sent anything. */
  private lastSent = false;
  /** How many connection attempts in a row failed, per replica. */
  private readonly unreachable = new Map<string, number>();
  /** Waits that end early on a changed view, a stop or a refusal. */
  private readonly wakers = new Set<() => void>();
  private readonly tracer: Tracer | undefined;
  private readonly metrics: ClientMetrics | undefined;

  constructor(readonly options: SessionOptions) {
    super();
    this.name = options.name;
    this.num = options.firstNum ?? 1;
    this.tracer = options.tracer;
    this.conns = new ReplicaConnections({
      me: this.name,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      security: options.security,
      route: options.route,
      onMessage: (server, msg) => this.fromReplica(server, msg),
      onClose: (server) => this.closed(server),
    });
    this.follower = new ViewFollower(options);
    if (options.metrics !== false && options.rm && !options.stale && !options.fixed) this.metrics = new ClientMetrics(this.name, (msg) => this.follower.toRm(msg));
    this.follower.on('refused', (err) => this.refused(err));
    this.follower.on('view', (mode, replicas) => {
      this.conns.retain(replicas);
      this.emit('view', mode, replicas);
      this.wake();
    });
  }

  /** Connect to the RM (a stale-view session has nothing to start). */
  start(): void {
    this.follower.start();
    this.metrics?.start();
  }

  get mode(): Mode | undefined {
    return this.follower.mode;
  }

  /** The replicas of the current view. */
  get view(): Member[] {
    return this.follower.replicas;
  }

  get stopped(): boolean {
    return this.isStopped;
  }

  /** Resolves true once there is a replica to send to; false after `ms`, on stop or refusal. */
  ready(ms: number): Promise<boolean> {
    if (this.view.length > 0 && !this.isStopped) return READY;
    return this.until(() => this.view.length > 0, ms).then(() => this.view.length > 0 && !this.isStopped);
  }

  /** Close everything; an open request ends unknown (or fail, if never sent). */
  stop(): void {
    if (this.isStopped) return;
    this.isStopped = true;
    this.pending?.finish('the session stopped');
    this.follower.stop();
    this.metrics?.stop();
    this.conns.closeAll();
    this.wake();
    this.emit('stopped');
  }

  /** Whether a request is between invoke and complete. */
  get busy(): boolean {
    return this.open !== undefined;
  }

  /** Stale-view session: from now on send to `member` only (a request in flight is retried there). */
  pointAt(member: Member): void {
    this.follower.pointAt(member);
  }

  // ---- requests ---------------------------------------------------------------------

  /** Send one request until a replica answers it, the give-up time passes or the session stops. */
  async request(payload: string, given?: number): Promise<Outcome> {
    if (given !== undefined) this.num = given;
    let num = this.num;
    this.open = num;
    this.stats.requests++;
    this.emit('invoke', num, payload);
    const giveUpMs = this.options.giveUpMs ?? DEFAULT_GIVE_UP_S * 1000;
    const policy = this.options.retryPolicy ?? DEFAULT_RETRY_POLICY;
    const sentAt = now();
    let sent = false;
    let attempts = 0;
    const end = (status: 'unknown' | 'fail', error: GiveUpError | SessionStoppedError | RefusedError): Outcome => {
      const outcome: Outcome = { status, error, num, payload, sentAt, at: now(), attempts };
      this.stats[status === 'unknown' ? 'unknown' : 'failed']++;
      return this.complete(outcome);
    };
    // The back-off starts again with each new view: the first attempt under a new view that fails waits the shortest time.
    let failures = 0;
    let failuresSince = this.follower.version;
    for (;;) {
      if (this.refusal) return end(sent ? 'unknown' : 'fail', this.refusal);
      if (this.isStopped) return end(sent ? 'unknown' : 'fail', new SessionStoppedError(this.name));
      attempts++;
      const version = this.follower.version;
      const r = await this.attempt(num, payload);
      if (typeof r !== 'string') {
        this.stats.replies++;
        if (this.options.keepResults) this.results.push(r.result);
        if (this.tracer) this.trace('request_done', 'reply', `${this.name}: request_num ${num} answered by ${r.server}${r.result === '' ? '' : `: ${r.result}`}`, { server: r.server, num, result: r.result });
        return this.complete({ status: 'ok', server: r.server, result: r.result, num, payload, sentAt, at: now(), attempts });
      }
      sent ||= this.lastSent;
      // The service has answered this number before (we restarted): the open request moves past it.
      if (this.num > num) num = this.open = this.num;
      if (this.isStopped || this.refusal) continue;
      if (version !== failuresSince) [failures, failuresSince] = [0, version];
      failures++;
      const elapsed = now() - sentAt;
      const delay = elapsed > giveUpMs ? false : policy(failures, new Error(r));
      if (delay === false) {
        const seconds = elapsed > giveUpMs ? giveUpMs / 1000 : Math.round(elapsed) / 1000;
        return end(sent ? 'unknown' : 'fail', new GiveUpError(this.name, seconds, r === this.follower.rmProblem ? r : undefined, { cause: r }));
      }
      this.stats.retries++;
      this.trace('retry', 'fault', `${this.name}: request_num ${num} not answered (${r}); retrying in ${delay} ms`, { num, why: r, delay });
      this.follower.rediscover();
      // A view that changed during the attempt (or changes meanwhile) ends the wait.
      await this.until(() => this.follower.version !== version, delay);
    }
  }

  /** Run requests one after another (closed loop) until `next` ends, `count` replies, a failure, or the loop is stopped. */
  loop(o: LoopOptions): ClosedLoop {
    return new ClosedLoop(this, o);
  }

  /** Resolves true when no request is open (false after `ms`). */
  idle(ms: number): Promise<boolean> {
    if (!this.busy) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('complete', done);
        resolve(!this.busy);
      };
      const timer = setTimeout(done, ms);
      this.once('complete', done);
    });
  }

  private complete(outcome: Outcome): Outcome {
    this.num = Math.max(this.num, outcome.num + 1);
    this.open = undefined;
    this.emit('complete', outcome);
    return outcome;
  }

  /** One attempt at request `num`: the reply, or why there was none. Each copy goes out once its connection is open (a down replica delays no one). */
  private async attempt(num: number, payload: string): Promise<AttemptResult> {
    this.lastSent = false;
    const timeoutMs = this.options.attemptTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_S * 1000;
    if (!(await this.ready(timeoutMs))) return this.isStopped ? 'the session stopped' : (this.follower.rmProblem ?? 'no replica is ready');
    const targets = this.follower.targets();
    if (targets.length === 0) return 'no replica is ready';
    return new Promise((resolve) => {
      const p = new Attempt(num, targets, timeoutMs, (r) => {
        this.pending = undefined;
        resolve(r);
      });
      this.pending = p;
      for (const m of targets) void this.sendTo(p, m, payload);
    });
  }

  /** Send the open attempt's request to `member` once connected, if the attempt is still open. */
  private async sendTo(p: Attempt, member: Member, payload: string): Promise<void> {
    const conn = await this.connection(member);
    if (this.pending !== p) return;
    if (this.isStopped || this.refusal) return p.finish('the session stopped');
    const server = member.name;
    if (!conn?.isOpen) return p.fail(server, 'no replica reachable');
    if (!conn.send({ type: 'request', client: this.name, server, num: p.num, payload })) return p.fail(server, `connection to ${server} closed`);
    this.lastSent = true;
    this.metrics?.sent(server, p.num);
    p.sent();
    if (this.tracer) this.trace('request_sent', 'request', `Sent <${this.name}, ${server}, ${p.num}, request>`, { server, num: p.num, payload });
  }

  private fromReplica(server: string, msg: Message): void {
    if (msg.type === 'refused') return this.refused(new RefusedError(server, msg.reason));
    if (msg.type === 'reply' && msg.client === this.name) {
      this.metrics?.replied(server, msg.num);
      if (this.tracer) this.trace('reply_received', 'reply', `Received <${this.name}, ${server}, ${msg.num}, reply>`, { server, num: msg.num, result: msg.result });
      const counts = this.countsOf(server);
      const p = this.pending;
      if (p?.num === msg.num) {
        counts.replies++;
        this.answered = msg.num;
        p.finish({ server, result: msg.result });
      } else if (msg.num <= this.answered || msg.num < this.num) {
        counts.duplicates++;
        this.stats.duplicates++;
        if (this.tracer) this.trace('duplicate_reply', 'duplicate', `request_num ${msg.num}: Discarded duplicate reply from ${server}`, { server, num: msg.num });
        this.emit('duplicate', server, msg.num);
      }
      return;
    }
    if (msg.type === 'reject' && msg.client === this.name) {
      this.countsOf(server).rejects++;
      if (msg.num !== this.pending?.num) return;
      const stale = /^stale: request_num (\d+) already answered/.exec(msg.reason);
      // A sender that numbers its own requests: a higher number answered means this one was too.
      if (stale && this.options.ownNumbers) return this.pending?.finish({ server, result: msg.reason });
      if (stale && Number(stale[1]) + 1 > this.num) {
        this.num = Number(stale[1]) + 1;
        this.trace('renumber', 'fault', `${this.name}: ${server} has answered up to request_num ${stale[1]}; continuing at ${this.num}`);
      }
      this.trace('rejected', 'fault', `${this.name}: ${server} rejected request_num ${msg.num}: ${msg.reason}`, { server, num: msg.num, reason: msg.reason });
      this.pending?.fail(server, `${server}: ${msg.reason}`);
    }
  }

  private closed(server: string): void {
    if (this.isStopped) return;
    this.countsOf(server).closed++;
    this.pending?.fail(server, `connection to ${server} closed`);
  }

  private countsOf(server: string): ReplicaCounts {
    let c = this.replicas.get(server);
    if (!c) this.replicas.set(server, (c = { replies: 0, duplicates: 0, rejects: 0, closed: 0 }));
    return c;
  }

  /** Refused for good (a missing or wrong client secret): retrying cannot help. */
  private refused(err: RefusedError): void {
    if (this.refusal || this.isStopped) return;
    this.refusal = err;
    this.trace('refused', 'fault', `${this.name}: refused by ${err.peer}: ${err.reason}; exiting`, { by: err.peer, reason: err.reason });
    this.pending?.finish(err.message);
    this.emit('refused', err);
    this.wake();
  }

  private async connection(member: Member): Promise<Connection | undefined> {
    try {
      const conn = await this.conns.get(member);
      this.unreachable.delete(member.name);
      return conn;
    } catch (err) {
      if (err instanceof RefusedError) return void this.refused(err);
      // A replica that stays down (one given by hand, without an RM to drop it) is said once, then every tenth try.
      const failures = (this.unreachable.get(member.name) ?? 0) + 1;
      this.unreachable.set(member.name, failures);
      const again = failures === 1 ? '' : ` (${failures} tries in a row)`;
      if (failures === 1 || failures % 10 === 0) this.trace('connect_failed', 'fault', `${this.name}: cannot reach ${member.name} at ${member.addr}: ${(err as Error).message}${again}`, { server: member.name, failures });
      return undefined;
    }
  }

  /** Resolves when `cond` holds after a wake-up (a changed view, stop, refusal), or after `ms`. */
  private until(cond: () => boolean, ms: number): Promise<void> {
    if (cond() || this.isStopped || this.refusal) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!cond() && !this.isStopped && !this.refusal) return;
        done();
      };
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(check);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(check);
    });
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  /** On the per-request path, callers check `this.tracer` first, so that nothing is built when nothing traces. */
  private trace(type: string, category: Category, text: string, data?: Record<string, unknown>): void {
    this.tracer?.emitEvent(type, category, text, data);
  }
}
