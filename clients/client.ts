/**
 * A client of the replicated service: `ftkit client C1`. It sends a request every
 * `interval` seconds (or each line typed on stdin) through one request session
 * (clients/session.ts), which follows the RM's views, fans out in active mode and keeps
 * each request's request_num until a reply arrives, so the servers' dedup tables make
 * every request execute once.
 */
import { Component } from '../lib/component.js';
import { RefusedError, type ReconnectPolicy, type Security } from '../lib/net/index.js';
import { Tracer } from '../lib/trace/index.js';
import { DEFAULT_CLIENT_INTERVAL_S, DEFAULT_GIVE_UP_S, DEFAULT_REQUEST_TIMEOUT_S } from '../lib/config/options.js';
import { SessionStoppedError } from '../lib/errors.js';
import { Session } from './session.js';
import type { Member, Mode } from '../lib/protocol/index.js';

export const REQUEST_NUM_PLACEHOLDER = '{n}';

export interface ClientOptions {
  name: string;
  /** The RM, which says where to send; or, without one, `fixed`. */
  rm?: string;
  /** The routing key: the RM serves this client from the replica group the key routes to. */
  key?: string;
  /** No RM: send to these replicas, as `mode` says (passive: the first is the primary). */
  fixed?: { mode: Mode; replicas: Member[] };
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
  /** Measure and report to the RM (default true). */
  metrics?: boolean;
  tracer?: Tracer;
}

export class Client extends Component {
  readonly session: Session;
  /** Set when the run ends: undefined on success, the error otherwise. */
  done: Promise<void> | undefined;

  constructor(readonly options: ClientOptions) {
    super(options.name, options.tracer ?? new Tracer(options.name), options.security);
    this.session = new Session({
      name: this.name,
      rm: options.rm,
      key: options.key,
      fixed: options.fixed,
      security: this.security,
      attemptTimeoutMs: (options.timeout ?? DEFAULT_REQUEST_TIMEOUT_S) * 1000,
      giveUpMs: (options.giveUp ?? DEFAULT_GIVE_UP_S) * 1000,
      retryPolicy: options.policy,
      firstNum: options.firstNum,
      metrics: options.metrics,
      tracer: this.tracer,
    });
  }

  /** The next request number. */
  get num(): number {
    return this.session.num;
  }

  get replies(): number {
    return this.session.stats.replies;
  }

  get duplicates(): number {
    return this.session.stats.duplicates;
  }

  async start(): Promise<void> {
    this.setState('starting');
    this.session.start();
    this.setState('running');
    this.done = this.run();
    this.done.catch(() => {});
  }

  async stop(): Promise<void> {
    if (this.lifecycle === 'stopping' || this.lifecycle === 'stopped') return;
    this.setState('stopping');
    this.session.stop();
    await this.done?.catch(() => {});
    this.setState('stopped');
  }

  private payloadFor(num: number): string {
    return (this.options.message ?? `hello_world_${REQUEST_NUM_PLACEHOLDER}`).split(REQUEST_NUM_PLACEHOLDER).join(String(num));
  }

  private async run(): Promise<void> {
    const input = this.options.input?.[Symbol.asyncIterator]();
    const next = async (): Promise<string | undefined> => {
      for (;;) {
        const line = await input!.next();
        if (line.done || this.lifecycle !== 'running') return undefined;
        if (line.value.trim() !== '') return line.value;
      }
    };
    const failed = await this.session.loop({
      next: input ? next : (num) => this.payloadFor(num),
      count: this.options.count ?? 0,
      thinkMs: input ? 0 : (this.options.interval ?? DEFAULT_CLIENT_INTERVAL_S) * 1000,
    }).run();
    if (failed && failed.status !== 'ok' && !(failed.error instanceof SessionStoppedError)) {
      if (!(failed.error instanceof RefusedError)) this.trace('client_gave_up', 'fault', failed.error.message, { num: failed.num });
      throw failed.error;
    }
    this.trace('client_done', 'info', `${this.name}: done after ${this.replies} replies (${this.duplicates} duplicates discarded)`, {
      replies: this.replies,
      duplicates: this.duplicates,
    });
  }
}
