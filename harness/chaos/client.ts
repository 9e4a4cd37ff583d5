/**
 * An in-process load client for chaos runs. It speaks the client protocol itself
 * (like clients/client.ts: discover through the RM, send each request to the primary
 * or to every ready replica, retry the same request_num until some replica answers)
 * but connects to replicas through fault-injecting proxies, and records every
 * operation in a history: invoke time, completion time, outcome and result.
 *
 * Operations: `append <client>-<num>` (unique items) and, sometimes, `read`.
 * Outcome: ok on a reply; fail if the request never left the client (so it certainly
 * did not run); unknown if it was sent but no reply came before the client gave up
 * or the run ended.
 *
 * A stale-view client (`stale: true`) never talks to the RM: it sends every request to
 * the one replica the harness pointed it at (`pointAt`), whatever that replica's role
 * is now, and retries on a reject, a timeout or a closed connection to that same
 * replica — as a client that missed a view push, or one configured with a fixed server.
 */
import { EventEmitter } from 'node:events';
import { Link, ReplicaConnections, connect, exponentialBackoff, type Connection } from '../../lib/net/index.js';
import type { Member, Message, Mode } from '../../lib/protocol/index.js';
import type { HistoryRecorder, OpHandle, OpKind } from './history.js';
import type { Rng } from './rng.js';

export const DEFAULT_READ_RATIO = 0.15;
/** Stale-view clients are named CS1, CS2, … in histories and reports. */
export const STALE_CLIENT_PREFIX = 'CS';
export const DEFAULT_MAX_PAUSE_MS = 20;
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 1000;
export const DEFAULT_GIVE_UP_MS = 8000;
const CONNECT_TIMEOUT_MS = 1000;
const RETRY_BASE_MS = 50;
const RETRY_CAP_MS = 500;

export interface ChaosClientOptions {
  name: string;
  /** The RM's address (a restarted RM keeps its port). */
  rm: string;
  recorder: HistoryRecorder;
  /** Chooses operations and pauses, so a client's sequence of operations follows the seed. */
  rng: Rng;
  /** Where to connect to reach replica `name` at `addr` (a proxy). */
  route(name: string, addr: string): Promise<string>;
  readRatio?: number;
  /** Pause between two operations: uniform in [0, maxPauseMs]. */
  maxPauseMs?: number;
  attemptTimeoutMs?: number;
  /** Stop retrying an operation after this long; it ends unknown (or fail if never sent). */
  giveUpMs?: number;
  /** A stale-view client: no RM; it talks only to the replica given to pointAt(). */
  stale?: boolean;
}

type Attempt = { kind: 'reply'; result: string; server: string } | { kind: 'retry'; why: string; sent: boolean };

interface Pending {
  num: number;
  reply(server: string, result: string): void;
  fail(server: string, why: string): void;
  abort(): void;
}

export class ChaosClient {
  readonly name: string;
  private readonly rmLink: Link;
  private mode: Mode | undefined;
  private view: Member[] = [];
  private readonly conns: ReplicaConnections;
  private readonly viewEvents = new EventEmitter();
  private num = 0;
  private invoking = true;
  private aborted = false;
  private pending: Pending | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  /** Resolves when the client has stopped invoking and its last operation ended. */
  done: Promise<void> = Promise.resolve();
  readonly stats = { ops: 0, retries: 0 };
  /** When each answered operation completed (recorder clock), for progress checks. */
  private readonly okTimes: number[] = [];
  private clock: () => number = () => 0;

  constructor(private readonly options: ChaosClientOptions) {
    this.name = options.name;
    this.conns = new ReplicaConnections({
      me: this.name,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      route: (name, addr) => options.route(name, addr),
      onMessage: (server, msg) => this.fromReplica(server, msg),
      onClose: (server) => this.pending?.fail(server, `connection to ${server} closed`),
    });
    this.rmLink = new Link({ me: this.name, addr: options.rm, policy: exponentialBackoff({ baseMs: 50, capMs: 500 }) });
    this.rmLink.on('up', (conn) => {
      conn.peer = 'RM';
      conn.on('message', (msg) => this.fromRm(msg));
      conn.send({ type: 'client', client: this.name });
    });
  }

  start(clock: () => number): void {
    this.clock = clock;
    if (!this.options.stale) this.rmLink.start();
    this.done = this.run();
  }

  /** Whether this client has a stale view (it never asks the RM). */
  get stale(): boolean {
    return this.options.stale === true;
  }

  /** The replica a stale-view client talks to, if pointed at one. */
  get target(): Member | undefined {
    return this.options.stale ? this.view[0] : undefined;
  }

  /**
   * Stale-view client: from now on send every request to `member` only (the connection
   * to a previous target is closed, so a request in flight is retried there).
   */
  pointAt(member: Member): void {
    if (!this.options.stale) throw new Error(`${this.name} follows the RM's views; only a stale-view client is pointed at a replica`);
    if (this.view[0]?.name === member.name && this.view[0].addr === member.addr) return;
    this.view = [member];
    this.conns.retain(this.view);
    this.viewEvents.emit('view');
  }

  /** Invoke no new operation; the current one runs to its end. */
  stopInvoking(): void {
    this.invoking = false;
    this.wakeUp();
  }

  /** End now: the current operation, if any, ends unknown (or fail if never sent). */
  abort(): void {
    this.invoking = false;
    this.aborted = true;
    this.wakeUp();
    this.pending?.abort();
    this.viewEvents.emit('view');
    this.rmLink.stop();
    this.conns.closeAll();
  }

  /** How many operations were answered at or after `since` (recorder clock). */
  answeredSince(since: number): number {
    return this.okTimes.filter((t) => t >= since).length;
  }

  // ---- discovery ---------------------------------------------------------------

  private fromRm(msg: Message): void {
    if (msg.type !== 'view' || msg.client !== this.name) return;
    this.mode = msg.mode;
    this.view = msg.replicas;
    this.conns.retain(msg.replicas);
    this.viewEvents.emit('view');
  }

  private rediscover(): void {
    if (this.options.stale) return;
    this.rmLink.connection?.send({ type: 'client', client: this.name });
  }

  private viewReady(ms: number): Promise<boolean> {
    if (this.view.length > 0 || this.aborted) return Promise.resolve(this.view.length > 0 && !this.aborted);
    return new Promise((resolve) => {
      const onView = () => {
        if (this.view.length === 0 && !this.aborted) return;
        clearTimeout(timer);
        this.viewEvents.off('view', onView);
        resolve(this.view.length > 0 && !this.aborted);
      };
      const timer = setTimeout(() => {
        this.viewEvents.off('view', onView);
        resolve(false);
      }, ms);
      this.viewEvents.on('view', onView);
    });
  }

  private async connection(member: Member): Promise<Connection | undefined> {
    return this.conns.get(member).catch(() => undefined);
  }


  private fromReplica(server: string, msg: Message): void {
    if (msg.type === 'reply' && msg.client === this.name && msg.num === this.pending?.num) this.pending.reply(server, msg.result);
    else if (msg.type === 'reject' && msg.client === this.name && msg.num === this.pending?.num) this.pending.fail(server, `${server} rejected: ${msg.reason}`);
  }

  // ---- operations ----------------------------------------------------------------

  private async run(): Promise<void> {
    const readRatio = this.options.readRatio ?? DEFAULT_READ_RATIO;
    const maxPause = this.options.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS;
    while (this.invoking && !this.aborted) {
      const kind: OpKind = this.options.rng() < readRatio ? 'read' : 'append';
      const pause = Math.floor(this.options.rng() * (maxPause + 1));
      const num = ++this.num;
      const value = kind === 'append' ? `${this.name}-${num}` : undefined;
      const handle = this.options.recorder.invoke(this.name, kind, num, value);
      this.stats.ops++;
      await this.execute(handle, num, kind === 'append' ? `append ${value}` : 'read');
      if (pause > 0 && this.invoking) await this.sleep(pause);
    }
  }

  private async execute(handle: OpHandle, num: number, payload: string): Promise<void> {
    const giveUpMs = this.options.giveUpMs ?? DEFAULT_GIVE_UP_MS;
    const started = Date.now();
    let sent = false;
    let why = '';
    for (let attempt = 1; ; attempt++) {
      if (this.aborted) {
        return sent ? handle.unknown(`the run ended before a reply (last: ${why || 'waiting'})`) : handle.fail('the run ended before it could be sent');
      }
      const r = await this.tryOnce(num, payload);
      if (r.kind === 'reply') {
        this.okTimes.push(this.clock());
        return handle.ok(r.result, r.server);
      }
      sent ||= r.sent;
      why = r.why;
      if (this.aborted) continue;
      if (Date.now() - started > giveUpMs) {
        return sent ? handle.unknown(`gave up after ${giveUpMs} ms: ${why}`) : handle.fail(`never sent in ${giveUpMs} ms: ${why}`);
      }
      this.stats.retries++;
      this.rediscover();
      await this.sleep(Math.min(RETRY_BASE_MS * 2 ** (attempt - 1), RETRY_CAP_MS));
    }
  }

  /** One attempt: send to the primary (passive), every ready replica (active) or the stale client's one replica, wait for the first reply. */
  private async tryOnce(num: number, payload: string): Promise<Attempt> {
    const timeoutMs = this.options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
    if (!(await this.viewReady(timeoutMs))) return { kind: 'retry', why: 'no replica is ready', sent: false };
    const targets = this.mode === 'passive' || this.options.stale ? this.view.slice(0, 1) : [...this.view];
    const conns = (await Promise.all(targets.map(async (m) => [m.name, await this.connection(m)] as const))).filter(
      (pair): pair is readonly [string, Connection] => pair[1] !== undefined && pair[1].isOpen,
    );
    if (this.aborted) return { kind: 'retry', why: 'aborted', sent: false };
    if (conns.length === 0) return { kind: 'retry', why: 'no replica reachable', sent: false };
    return new Promise<Attempt>((resolve) => {
      const waiting = new Set(conns.map(([name]) => name));
      let sent = false;
      const finish = (r: Attempt) => {
        clearTimeout(timer);
        if (this.pending === pending) this.pending = undefined;
        resolve(r);
      };
      const timer = setTimeout(() => finish({ kind: 'retry', why: `no reply within ${timeoutMs} ms`, sent }), timeoutMs);
      const pending: Pending = {
        num,
        reply: (server, result) => finish({ kind: 'reply', result, server }),
        fail: (server, why) => {
          if (!waiting.delete(server)) return;
          if (waiting.size === 0) finish({ kind: 'retry', why, sent });
        },
        abort: () => finish({ kind: 'retry', why: 'aborted', sent }),
      };
      this.pending = pending;
      for (const [server, conn] of conns) {
        if (conn.send({ type: 'request', client: this.name, server, num, payload })) sent = true;
        else pending.fail(server, `connection to ${server} closed`);
      }
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    });
  }

  private wakeUp(): void {
    clearTimeout(this.sleepTimer);
    this.wake?.();
  }
}

export type Answer = { kind: 'reply'; server: string; result: string } | { kind: 'reject'; server: string; reason: string };

/**
 * Send one request straight to a replica (no proxy) and wait for its answer; used for
 * the final reads. Rejects on a closed connection or after `timeoutMs`.
 */
export async function requestOnce(addr: string, client: string, server: string, num: number, payload: string, timeoutMs = 5000): Promise<Answer> {
  const conn = await connect(addr, { me: client, timeoutMs: Math.min(timeoutMs, CONNECT_TIMEOUT_MS * 2) });
  try {
    return await new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${server} did not answer ${client}'s request ${num} within ${timeoutMs} ms`)), timeoutMs);
      conn.on('message', (msg) => {
        if (msg.type === 'reply' && msg.client === client && msg.num === num) {
          clearTimeout(timer);
          resolve({ kind: 'reply', server, result: msg.result });
        } else if (msg.type === 'reject' && msg.client === client && msg.num === num) {
          clearTimeout(timer);
          resolve({ kind: 'reject', server, reason: msg.reason });
        }
      });
      conn.on('close', () => {
        clearTimeout(timer);
        reject(new Error(`${server} closed the connection before answering`));
      });
      conn.send({ type: 'request', client, server, num, payload });
    });
  } finally {
    conn.destroy();
  }
}
