/**
 * Where a client sends its requests: the RM's view. A ViewFollower asks the RM
 * (`<C1, client>`) over a link that reconnects with back-off; the RM answers with the
 * mode and the ready replicas and pushes the view again whenever it changes. A stale-view
 * follower never asks the RM: its view is the one replica it was pointed at (`pointAt`),
 * as for a client that missed a view push. A fixed view (`ftkit client --servers`, no RM)
 * is the replicas and the mode the client was given, for good.
 */
import { EventEmitter } from 'node:events';
import { Link, RefusedError, exponentialBackoff, type ReconnectPolicy, type Security } from '../lib/net/index.js';
import type { Member, Message, Mode } from '../lib/protocol/index.js';
import type { Category, Tracer } from '../lib/trace/index.js';

export interface ViewOptions {
  /** The client's name, as the RM knows it. */
  name: string;
  /** The RM's address; a stale-view follower has none. */
  rm?: string;
  /** A stale-view follower: no RM; the view is the replica given to pointAt(). */
  stale?: boolean;
  /** No RM: the view is these replicas, used as `mode` says (passive: the first is the primary). */
  fixed?: { mode: Mode; replicas: Member[] };
  /** The routing key the RM routes this client by to a replica group (`--key`); none: the default group. */
  key?: string;
  /** The client secret (if the deployment requires one) and the TLS CA (if it runs TLS). */
  security?: Security;
  /** Reconnecting to the RM. */
  rmPolicy?: ReconnectPolicy;
  tracer?: Tracer;
}

interface ViewEvents {
  /** The view changed (mode, replicas, or an address). */
  view: [Mode | undefined, Member[]];
  /** The RM refused us for good (the client secret): retrying cannot help. */
  refused: [RefusedError];
}

export class ViewFollower extends EventEmitter<ViewEvents> {
  mode: Mode | undefined;
  replicas: Member[] = [];
  /** The replica group serving this client, when the RM runs more than one. */
  group: string | undefined;
  /** Bumped on every change of view. */
  version = 0;
  /** Why the RM cannot be reached, while it cannot (`RM at 10.0.0.4:7000 unreachable (…)`); undefined while connected. */
  rmProblem: string | undefined;
  private readonly rmLink: Link | undefined;

  constructor(private readonly options: ViewOptions) {
    super();
    if (options.stale) return;
    if (options.fixed) {
      this.mode = options.fixed.mode;
      this.replicas = options.fixed.replicas;
      this.version++;
      return;
    }
    const { name, rm } = options;
    if (!rm) throw new Error(`${name}: a client follows the RM's views, so it needs the RM's address (or a stale view)`);
    this.rmLink = new Link({ me: name, addr: rm, security: options.security, standing: 'client', policy: options.rmPolicy ?? exponentialBackoff({ baseMs: 50, capMs: 1000 }) });
    this.rmLink.on('refused', (err) => this.emit('refused', err));
    this.rmLink.on('up', (conn) => {
      this.rmProblem = undefined;
      conn.peer = 'RM';
      conn.on('message', (msg) => this.fromRm(msg));
      conn.send({ type: 'client', client: name, key: options.key });
    });
    this.rmLink.on('down', () => {
      this.rmProblem = `connection to the RM at ${rm} lost`;
      this.trace('rm_lost', 'fault', `${name}: connection to RM lost; reconnecting`);
    });
    // Say why the RM cannot be reached (refused, or a TLS certificate we do not trust), here and in each
    // request's retries (session.ts), rather than only that no replica is ready.
    this.rmLink.on('retry', (err, attempt, delay) => {
      this.rmProblem = `RM at ${rm} unreachable (${err.message})`;
      if (attempt === 1 || attempt % 10 === 0) this.trace('rm_unreachable', 'fault', `${name}: ${this.rmProblem}; retry ${attempt} in ${delay} ms`, { rm, attempt });
    });
  }

  start(): void {
    this.rmLink?.start();
    const fixed = this.options.fixed;
    if (fixed) this.trace('view', 'state', `${this.options.name}: ${describe(fixed.mode, fixed.replicas)} (given: no RM)`, { mode: fixed.mode, replicas: fixed.replicas, fixed: true });
  }

  stop(): void {
    this.rmLink?.stop();
  }

  /** Where a request goes: the primary (passive, or a stale view's one replica) or every ready replica (active). */
  targets(): Member[] {
    return this.options.stale || this.mode === 'passive' ? this.replicas.slice(0, 1) : this.replicas;
  }

  /** Ask the RM again where to send (it answers with the view, changed or not). */
  rediscover(): void {
    this.rmLink?.connection?.send({ type: 'client', client: this.options.name, key: this.options.key });
  }

  /** Send to the RM, if connected (the client's metrics report). */
  toRm(msg: Message): void {
    this.rmLink?.connection?.send(msg);
  }

  /** Stale view: from now on the view is `member` alone. */
  pointAt(member: Member): void {
    if (!this.options.stale) throw new Error(`${this.options.name} follows the RM's views; only a stale-view client is pointed at a replica`);
    if (this.replicas[0]?.name === member.name && this.replicas[0].addr === member.addr) return;
    this.replicas = [member];
    this.version++;
    this.emit('view', this.mode, this.replicas);
  }

  private fromRm(msg: Message): void {
    const { name } = this.options;
    if (msg.type === 'refused') return void this.emit('refused', new RefusedError(`the RM at ${this.options.rm}`, msg.reason));
    if (msg.type !== 'view' || msg.client !== name) return;
    const names = (v: Member[]) => v.map((m) => `${m.name}=${m.addr}`).join(';');
    if (msg.mode === this.mode && names(msg.replicas) === names(this.replicas) && (msg.group || undefined) === this.group) return;
    this.mode = msg.mode;
    this.replicas = msg.replicas;
    this.group = msg.group || undefined;
    this.version++;
    const served = this.group ? `served by ${this.group}: ` : '';
    this.trace('view', 'state', `${name}: ${served}${describe(msg.mode, msg.replicas)}`, { mode: msg.mode, replicas: msg.replicas, ...(this.group ? { group: this.group } : {}) });
    this.emit('view', msg.mode, msg.replicas);
  }

  private trace(type: string, category: Category, text: string, data?: Record<string, unknown>): void {
    this.options.tracer?.emitEvent(type, category, text, data);
  }
}

/** `passive replication; primary: S2` / `active replication; replicas: S1, S2, S3` */
function describe(mode: Mode, replicas: readonly Member[]): string {
  const list = (mode === 'passive' ? replicas.slice(0, 1) : replicas).map((m) => m.name).join(', ') || 'none';
  return `${mode} replication; ${mode === 'passive' ? 'primary' : 'replicas'}: ${list}`;
}
