/**
 * A client of the replicated service. It asks the RM where to send (`<C1, client>`)
 * and follows the views the RM pushes: the primary in passive mode, every ready
 * replica in active mode. Each request keeps its request_num until a reply arrives:
 * on a closed connection, a timeout or a `reject` it rediscovers and resends the
 * same number, so the servers' dedup tables make every request execute once.
 */
import { EventEmitter } from 'node:events';
import { Component } from '../lib/component.js';
import { Link, RefusedError, ReplicaConnections, exponentialBackoff, type Connection, type ReconnectPolicy, type Security } from '../lib/net/index.js';
import type { Member, Message, MessageOf, Mode } from '../lib/protocol/index.js';
import { Tracer } from '../lib/trace/index.js';
import { DEFAULT_CLIENT_INTERVAL_S, DEFAULT_GIVE_UP_S, DEFAULT_REQUEST_TIMEOUT_S } from '../lib/config/options.js';

export const REQUEST_NUM_PLACEHOLDER = '{n}';

export interface ClientOptions {
  name: string;
  rm: string;
  /** Payload template; `{n}` is replaced by the request number. */
  message?: string;
  interval?: number;
  /** Stop after this many replies (0: until stopped). */
  count?: number;
  /** Payloads to send instead of the message (e.g. lines typed on stdin); the run ends when it does. */
  input?: AsyncIterable<string>;
  /** Seconds to wait for a reply before retrying. */
  timeout?: number;
  /** Seconds without any reachable replica before giving up. */
  giveUp?: number;
  firstNum?: number;
  policy?: ReconnectPolicy;
  /** The client secret (if the deployment requires one) and the TLS CA (if it runs TLS). */
  security?: Security;
  tracer?: Tracer;
}

export class GiveUpError extends Error {
  override name = 'GiveUpError';
  constructor(client: string, seconds: number, cause?: unknown) {
    super(`${client}: no replica answered for ${seconds} s; giving up`, { cause });
  }
}

interface Attempt {
  num: number;
  resolve: (reply: MessageOf<'reply'>) => void;
  fail: (why: string) => void;
}

export class Client extends Component {
  private readonly rmLink: Link;
  private mode: Mode | undefined;
  private view: Member[] = [];
  private readonly conns: ReplicaConnections;
  private readonly viewEvents = new EventEmitter();
  private attempt: Attempt | undefined;
  /** The last request_num delivered, and which replicas answered it (active: the rest are duplicates). */
  private delivered = { num: -1, from: new Set<string>() };
  private stopped = false;
  /** The RM or a replica refused us for good (the client secret): the run ends with this. */
  private refusal: RefusedError | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  num: number;
  replies = 0;
  duplicates = 0;
  /** Set when the run ends: undefined on success, the error otherwise. */
  done: Promise<void> | undefined;

  constructor(readonly options: ClientOptions) {
    super(options.name, options.tracer ?? new Tracer(options.name), options.security);
    this.num = options.firstNum ?? 1;
    this.conns = new ReplicaConnections({
      me: this.name,
      connectTimeoutMs: 1000,
      security: this.security,
      onMessage: (server, msg) => this.fromReplica(server, msg),
      onClose: (server) => {
        if (this.attempt && this.mode === 'passive') this.attempt.fail(`connection to ${server} closed`);
      },
    });
    this.rmLink = new Link({ me: this.name, addr: options.rm, security: this.security, standing: 'client', policy: exponentialBackoff({ baseMs: 50, capMs: 1000 }) });
    this.rmLink.on('refused', (err) => this.refused(err));
    this.rmLink.on('up', (conn) => {
      conn.peer = 'RM';
      conn.on('message', (msg) => this.fromRm(msg));
      conn.send({ type: 'client', client: this.name });
    });
    this.rmLink.on('down', () => this.trace('rm_lost', 'fault', `${this.name}: connection to RM lost; reconnecting`));
    // Say why the RM cannot be reached (refused, or a TLS certificate this client does not trust),
    // as components do for their upstream links; otherwise the client only ever says that no replica is ready.
    this.rmLink.on('retry', (err, attempt, delay) => {
      if (attempt === 1 || attempt % 10 === 0) this.trace('rm_unreachable', 'fault', `${this.name}: RM at ${options.rm} unreachable (${err.message}); retry ${attempt} in ${delay} ms`);
    });
  }

  async start(): Promise<void> {
    this.setState('starting');
    this.rmLink.start();
    this.setState('running');
    this.done = this.run();
    this.done.catch(() => {});
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.setState('stopping');
    clearTimeout(this.sleepTimer);
    this.wake?.();
    this.attempt?.fail('client stopping');
    this.rmLink.stop();
    this.conns.closeAll();
    this.viewEvents.emit('view');
    await this.done?.catch(() => {});
    this.setState('stopped');
  }

  // ---- discovery ---------------------------------------------------------------

  /** Refused for good (a missing or wrong client secret): retrying cannot help, so the run ends. */
  private refused(err: RefusedError): void {
    if (this.refusal || this.stopped) return;
    this.refusal = err;
    this.trace('refused', 'fault', `${this.name}: refused by ${err.peer}: ${err.reason}; exiting`, { by: err.peer, reason: err.reason });
    clearTimeout(this.sleepTimer);
    this.wake?.();
    this.attempt?.fail(err.message);
    this.viewEvents.emit('view');
  }

  private fromRm(msg: Message): void {
    if (msg.type === 'refused') return this.refused(new RefusedError(`the RM at ${this.options.rm}`, msg.reason));
    if (msg.type !== 'view' || msg.client !== this.name) return;
    const names = (v: Member[]) => v.map((m) => `${m.name}=${m.addr}`).join(';');
    const changed = names(msg.replicas) !== names(this.view) || msg.mode !== this.mode;
    this.mode = msg.mode;
    this.view = msg.replicas;
    if (changed) {
      const list = msg.replicas.map((m) => m.name).join(', ') || 'none';
      this.trace('view', 'state', `${this.name}: ${msg.mode} replication; ${msg.mode === 'passive' ? 'primary' : 'replicas'}: ${list}`, {
        mode: msg.mode,
        replicas: msg.replicas,
      });
    }
    this.conns.retain(msg.replicas);
    this.viewEvents.emit('view');
  }

  /** Ask the RM again where to send. */
  private rediscover(): void {
    this.rmLink.connection?.send({ type: 'client', client: this.name });
  }

  /** Resolves when there is at least one replica to send to, or after `ms`. */
  private viewReady(ms: number): Promise<boolean> {
    if (this.view.length > 0 || this.stopped) return Promise.resolve(this.view.length > 0);
    return new Promise((resolve) => {
      const onView = () => {
        if (this.view.length === 0 && !this.stopped && !this.refusal) return;
        clearTimeout(timer);
        this.viewEvents.off('view', onView);
        resolve(this.view.length > 0);
      };
      const timer = setTimeout(() => {
        this.viewEvents.off('view', onView);
        resolve(false);
      }, ms);
      this.viewEvents.on('view', onView);
    });
  }

  private async connection(member: Member): Promise<Connection | undefined> {
    try {
      return await this.conns.get(member);
    } catch (err) {
      if (err instanceof RefusedError) return void this.refused(err);
      this.trace('connect_failed', 'fault', `${this.name}: cannot reach ${member.name} at ${member.addr}: ${(err as Error).message}`);
      return undefined;
    }
  }

  // ---- requests ----------------------------------------------------------------

  private payloadFor(num: number): string {
    return (this.options.message ?? `hello_world_${REQUEST_NUM_PLACEHOLDER}`).split(REQUEST_NUM_PLACEHOLDER).join(String(num));
  }

  private async run(): Promise<void> {
    const count = this.options.count ?? 0;
    const interval = (this.options.interval ?? DEFAULT_CLIENT_INTERVAL_S) * 1000;
    const input = this.options.input?.[Symbol.asyncIterator]();
    try {
      while (!this.stopped && (count === 0 || this.replies < count)) {
        let payload: string;
        if (input) {
          const next = await input.next();
          if (next.done || this.stopped) break;
          payload = next.value;
          if (payload.trim() === '') continue;
        } else payload = this.payloadFor(this.num);
        await this.invoke(payload);
        if (!input && (count === 0 || this.replies < count)) await this.sleep(interval);
      }
      this.trace('client_done', 'info', `${this.name}: done after ${this.replies} replies (${this.duplicates} duplicates discarded)`, {
        replies: this.replies,
        duplicates: this.duplicates,
      });
    } catch (err) {
      if (this.stopped) return;
      if (!(err instanceof RefusedError)) this.trace('client_gave_up', 'fault', (err as Error).message, { num: this.num });
      throw err;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    });
  }

  /** Send request `this.num` until some replica answers it; then move to the next number. */
  private async invoke(payload: string): Promise<void> {
    const giveUpMs = (this.options.giveUp ?? DEFAULT_GIVE_UP_S) * 1000;
    const policy = this.options.policy ?? exponentialBackoff({ baseMs: 50, capMs: 1000 });
    const since = Date.now();
    for (let failures = 0; !this.stopped; ) {
      const why = await this.tryOnce(payload);
      if (this.refusal) throw this.refusal;
      if (why === undefined) return;
      if (this.stopped) return;
      failures++;
      if (Date.now() - since > giveUpMs) throw new GiveUpError(this.name, giveUpMs / 1000, why);
      const delay = policy(failures, new Error(why));
      if (delay === false) throw new GiveUpError(this.name, (Date.now() - since) / 1000, why);
      this.trace('retry', 'fault', `${this.name}: request_num ${this.num} not answered (${why}); retrying in ${delay} ms`, { num: this.num, why, delay });
      this.rediscover();
      await this.sleep(delay);
      if (this.refusal) throw this.refusal;
    }
  }

  /** One attempt at the current request: undefined on a reply, else why it failed. */
  private async tryOnce(payload: string): Promise<string | undefined> {
    const timeoutMs = (this.options.timeout ?? DEFAULT_REQUEST_TIMEOUT_S) * 1000;
    if (!(await this.viewReady(timeoutMs))) return 'no replica is ready';
    const targets = this.mode === 'passive' ? this.view.slice(0, 1) : this.view;
    const conns = (await Promise.all(targets.map(async (m) => [m.name, await this.connection(m)] as const))).filter(
      (pair): pair is readonly [string, Connection] => pair[1] !== undefined,
    );
    if (conns.length === 0) return 'no replica reachable';
    const num = this.num;
    const outcome = new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => finish(`no reply within ${timeoutMs} ms`), timeoutMs);
      let rejects = 0;
      const finish = (why: string | undefined) => {
        clearTimeout(timer);
        this.attempt = undefined;
        resolve(why);
      };
      this.attempt = {
        num,
        resolve: () => finish(undefined),
        fail: (why) => {
          // In active mode one replica failing is fine while another may still answer.
          if (this.mode === 'active' && ++rejects < conns.length) return;
          finish(why);
        },
      };
    });
    for (const [server, conn] of conns) {
      conn.send({ type: 'request', client: this.name, server, num, payload });
      this.trace('request_sent', 'request', `Sent <${this.name}, ${server}, ${num}, request>`, { server, num, payload });
    }
    return outcome;
  }

  private fromReplica(server: string, msg: Message): void {
    if (msg.type === 'refused') return this.refused(new RefusedError(server, msg.reason));
    if (msg.type === 'reply' && msg.client === this.name) {
      this.trace('reply_received', 'reply', `Received <${this.name}, ${server}, ${msg.num}, reply>: ${msg.result}`, {
        server,
        num: msg.num,
        result: msg.result,
      });
      if (this.attempt?.num === msg.num) {
        this.delivered = { num: msg.num, from: new Set([server]) };
        this.replies++;
        this.num = msg.num + 1;
        this.trace('request_done', 'reply', `${this.name}: request_num ${msg.num} answered by ${server}`, { server, num: msg.num, result: msg.result });
        this.attempt.resolve(msg);
      } else if (msg.num === this.delivered.num || msg.num < this.num) {
        this.duplicates++;
        this.trace('duplicate_reply', 'duplicate', `request_num ${msg.num}: Discarded duplicate reply from ${server}`, { server, num: msg.num });
      }
      return;
    }
    if (msg.type === 'reject' && msg.client === this.name && msg.num === this.attempt?.num) {
      const stale = /^stale: request_num (\d+) already answered/.exec(msg.reason);
      if (stale) {
        // We restarted with a number the service has already answered: move past it.
        this.num = Number(stale[1]) + 1;
        this.trace('renumber', 'fault', `${this.name}: ${server} has answered up to request_num ${stale[1]}; continuing at ${this.num}`);
      }
      this.trace('rejected', 'fault', `${this.name}: ${server} rejected request_num ${msg.num}: ${msg.reason}`, { server, num: msg.num, reason: msg.reason });
      this.attempt.fail(`${server}: ${msg.reason}`);
    }
  }
}
