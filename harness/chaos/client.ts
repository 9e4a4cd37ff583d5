/**
 * An in-process load client for chaos runs. It runs its requests through the one client
 * session (clients/session.ts: discover through the RM, send each request to the primary
 * or to every ready replica, retry the same request_num until some replica answers), with
 * connections routed through fault-injecting proxies, and records every operation in a
 * history: invoke time, completion time, outcome and result.
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
import { connect, exponentialBackoff } from '../../lib/net/index.js';
import type { Member } from '../../lib/protocol/index.js';
import { SessionStoppedError } from '../../lib/errors.js';
import { Session, type Outcome } from '../../clients/session.js';
import type { ClosedLoop } from '../../clients/loop.js';
import type { HistoryRecorder, OpHandle, OpKind } from './history.js';
import type { Rng } from './rng.js';

export const DEFAULT_READ_RATIO = 0.15;
/** Stale-view clients are named CS1, CS2, … in histories and reports. */
export const STALE_CLIENT_PREFIX = 'CS';
export const DEFAULT_MAX_PAUSE_MS = 20;
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 1000;
export const DEFAULT_GIVE_UP_MS = 8000;
const CONNECT_TIMEOUT_MS = 1000;

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
  /** The routing key the RM routes it by to a replica group (`ftkit client --key`). */
  key?: string;
}

export class ChaosClient {
  readonly name: string;
  private readonly session: Session;
  private loop: ClosedLoop | undefined;
  readonly stats = { ops: 0, retries: 0 };
  /** The operation in flight and its history entry. */
  private current: OpHandle | undefined;
  /** Resolves when the client has stopped invoking and its last operation ended. */
  done: Promise<void> = Promise.resolve();
  /** When each answered operation completed (recorder clock), for progress checks. */
  private readonly okTimes: number[] = [];
  private clock: () => number = () => 0;

  constructor(private readonly options: ChaosClientOptions) {
    this.name = options.name;
    this.session = new Session({
      name: this.name,
      rm: options.rm,
      stale: options.stale,
      key: options.key,
      route: (name, addr) => options.route(name, addr),
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      attemptTimeoutMs: options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS,
      giveUpMs: options.giveUpMs ?? DEFAULT_GIVE_UP_MS,
      retryPolicy: exponentialBackoff({ baseMs: 50, capMs: 500 }),
      rmPolicy: exponentialBackoff({ baseMs: 50, capMs: 500 }),
    });
    this.session.on('complete', (o) => this.completed(o));
  }

  start(clock: () => number): void {
    this.clock = clock;
    this.session.start();
    this.done = this.run();
  }

  /** Whether this client has a stale view (it never asks the RM). */
  get stale(): boolean {
    return this.options.stale === true;
  }

  /** The replica a stale-view client talks to, if pointed at one. */
  get target(): Member | undefined {
    return this.options.stale ? this.session.view[0] : undefined;
  }

  /**
   * Stale-view client: from now on send every request to `member` only (the connection
   * to a previous target is closed, so a request in flight is retried there).
   */
  pointAt(member: Member): void {
    this.session.pointAt(member);
  }

  /** Invoke no new operation; the current one runs to its end. */
  stopInvoking(): void {
    this.loop?.stop();
  }

  /** End now: the current operation, if any, ends unknown (or fail if never sent). */
  abort(): void {
    this.session.stop();
  }

  /** How many operations were answered at or after `since` (recorder clock). */
  answeredSince(since: number): number {
    return this.okTimes.filter((t) => t >= since).length;
  }

  private async run(): Promise<void> {
    const readRatio = this.options.readRatio ?? DEFAULT_READ_RATIO;
    const maxPause = this.options.maxPauseMs ?? DEFAULT_MAX_PAUSE_MS;
    this.loop = this.session.loop({
      next: (num) => {
        const kind: OpKind = this.options.rng() < readRatio ? 'read' : 'append';
        const value = kind === 'append' ? `${this.name}-${num}` : undefined;
        this.current = this.options.recorder.invoke(this.name, kind, num, value);
        this.stats.ops++;
        return kind === 'append' ? `append ${value}` : 'read';
      },
      thinkMs: () => Math.floor(this.options.rng() * (maxPause + 1)),
      continueOnFailure: true,
    });
    await this.loop.run();
  }

  private completed(o: Outcome): void {
    const op = this.current;
    this.current = undefined;
    this.stats.retries += o.attempts - 1;
    if (!op) return;
    if (o.status === 'ok') {
      this.okTimes.push(this.clock());
      return op.ok(o.result, o.server);
    }
    const stopped = o.error instanceof SessionStoppedError;
    const why = o.error.cause instanceof Error ? o.error.cause.message : String(o.error.cause ?? o.error.message);
    if (o.status === 'unknown') op.unknown(stopped ? `the run ended before a reply` : `gave up after ${this.options.giveUpMs ?? DEFAULT_GIVE_UP_MS} ms: ${why}`);
    else op.fail(stopped ? 'the run ended before it could be sent' : `never sent: ${why}`);
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
