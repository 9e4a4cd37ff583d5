/**
 * What every component shares: a name, a tracer, and a lifecycle that changes
 * only through setState(), which traces `old -> new`; its listener, its link upstream and
 * its answer to the upstream's heartbeats.
 */
import { ProtocolError, UnexpectedMessageError, type Message, type MessageOf } from './protocol/index.js';
import { Link, Listener, NO_SECURITY, exponentialBackoff, type Connection, type Security } from './net/index.js';
import { formatAddress } from './net/address.js';
import { DEFAULT_HOST } from './config/options.js';
import { Tracer } from './trace/index.js';

export type Lifecycle = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

export abstract class Component {
  protected lifecycle: Lifecycle = 'idle';
  private systemStopping = false;

  constructor(
    readonly name: string,
    readonly tracer: Tracer,
    /** Secrets and TLS files for every link this component opens or accepts. */
    protected readonly security: Security = NO_SECURITY,
  ) {}

  get state(): Lifecycle {
    return this.lifecycle;
  }

  protected setState(next: Lifecycle): void {
    const old = this.lifecycle;
    if (old === next) return;
    this.lifecycle = next;
    this.trace('lifecycle', 'state', `${this.name}: ${old} -> ${next}`, { from: old, to: next });
  }

  /**
   * The whole system is stopping in order (its parent said so on the parent pipe): the peers that
   * go away from now on leave on purpose. The component says so once, then drops its fault,
   * membership, checkpoint and role lines (a peer's departure and its consequences); its lifecycle
   * still traces. Nothing else changes: it is stopped as usual right after.
   */
  expectSystemStop(): void {
    if (this.systemStopping) return;
    this.systemStopping = true;
    this.trace('system_stopping', 'info', `${this.name}: the system is stopping in order; peers leaving now are not faults`);
    this.tracer.hush((type, category) => type !== 'lifecycle' && (category === 'fault' || category === 'membership' || category === 'checkpoint' || category === 'state'));
  }

  protected trace(type: string, category: Parameters<Tracer['emitEvent']>[1], text: string, data?: Record<string, unknown>): void {
    this.tracer.emitEvent(type, category, text, data);
  }

  /** Trace bad input on one connection (the connection has already answered and closed). */
  protected traceProtocolError(conn: Connection, err: ProtocolError): void {
    this.trace('protocol_error', 'fault', `${this.name}: bad input from ${conn.peer}: ${err.message}; connection closed`, {
      peer: conn.peer,
      error: err.name,
      reason: err.message,
    });
  }

  /** A peer refused at the door: failed authentication, not permitted, over its limits, or not TLS. */
  protected traceRefused(who: string, reason: string): void {
    this.trace('peer_refused', 'fault', `${this.name}: refused ${who}: ${reason}`, { peer: who, reason });
  }

  /** Say once, at start, how this component's links are protected (and warn when they are not). */
  protected traceSecurity(addr: string): void {
    const { secrets, tls } = this.security;
    const over = tls?.cert || tls?.ca ? 'TLS' : 'plain TCP';
    if (!secrets.member) {
      this.trace('security', 'fault', `${this.name}: no deployment secret: anyone who reaches ${addr} may act as a member (start every component with --secret-file; README, Security)`, { secret: false, tls: over === 'TLS' });
      return;
    }
    const parts = [`members prove the deployment secret`, secrets.admin ? 'administrators the admin secret' : undefined, secrets.client ? 'clients the client secret' : 'clients need none'];
    this.trace('security', 'info', `${this.name}: ${parts.filter(Boolean).join(', ')}; links over ${over}`, { secret: true, admin: !!secrets.admin, client: !!secrets.client, tls: over === 'TLS' });
  }

  /**
   * Answer the upstream's heartbeat `num` on the link it came over (server → LFD, LFD → GFD).
   * The per-heartbeat trace is built only when someone sees it (`--quiet-heartbeats` or no
   * listener: an idle component does no work for it).
   */
  protected answerHeartbeat(conn: Connection, msg: MessageOf<'heartbeat'>, type = 'heartbeat_answered'): void {
    conn.send({ type: 'heartbeat', from: this.name, to: msg.from, num: msg.num });
    if (this.tracer.wants('heartbeat')) this.trace(type, 'heartbeat', `[${msg.num}] ${this.name} receives heartbeat from ${msg.from} and answers`, { num: msg.num });
  }

  /**
   * Refused for good upstream (a wrong secret, a name that is taken): retrying cannot help, so
   * stop, then tell the owner why (the CLI exits with that line).
   */
  protected stopRefused(reason: string, onRefused?: (reason: string) => void): void {
    void this.stop().then(() => onRefused?.(reason));
  }

  /** The error for a message this peer may not send here. */
  protected unexpected(conn: Connection, msg: Message): UnexpectedMessageError {
    return new UnexpectedMessageError(`${this.name} does not accept ${msg.type} from ${conn.peer}`);
  }

  /** The one listener of a component: every kind of peer on one port. */
  protected createListener(o: {
    host?: string;
    port?: number;
    identify: (conn: Connection, first: Message) => (msg: Message) => void;
    onClose?: (conn: Connection) => void;
    onEnd?: (conn: Connection) => void;
  }): Listener {
    return new Listener({
      me: this.name,
      host: o.host ?? DEFAULT_HOST,
      port: o.port ?? 0,
      security: this.security,
      identify: o.identify,
      onProtocolError: (conn, err) => this.traceProtocolError(conn, err),
      onRefused: (who, reason) => this.traceRefused(who, reason),
      onClose: o.onClose,
      onEnd: o.onEnd,
    });
  }

  /**
   * The link to the component upstream (server → LFD, LFD → GFD, GFD → RM): it authenticates
   * as a member, reconnects with back-off, and its losses and failed attempts are traced. If
   * the peer refuses us (a wrong secret), retrying cannot help: `onRefused` ends the component.
   */
  protected createUpstream(peer: string, addr: string, onUp: (conn: Connection) => void, onRefused?: (reason: string) => void): Link {
    const link = new Link({ me: this.name, addr, security: this.security, standing: 'member', policy: exponentialBackoff({ baseMs: 50, capMs: 1000 }) });
    const kind = peer.replace(/\d+$/, '').toLowerCase();
    link.on('up', (conn) => {
      conn.peer = peer;
      conn.on('protocolError', (err) => this.traceProtocolError(conn, err));
      onUp(conn);
    });
    link.on('down', () => this.trace(`${kind}_lost`, 'fault', `${this.name}: connection to ${peer} lost; reconnecting`));
    link.on('refused', (err) => {
      this.trace('refused', 'fault', `${this.name}: ${peer} at ${addr} refused us: ${err.reason}; exiting`, { by: peer, reason: err.reason });
      onRefused?.(err.reason);
    });
    link.on('retry', (err, attempt, delay) => {
      if (attempt === 1 || attempt % 10 === 0) {
        this.trace(`${kind}_unreachable`, 'fault', `${this.name}: ${peer} at ${addr} unreachable (${err.message}); retry ${attempt} in ${delay} ms`);
      }
    });
    return link;
  }

  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;
}

/** Natural order for names: S2 before S10. */
export function byName(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** `2 members: S1, S3` / `1 member: S1` / `0 members` */
export function describeMembers(names: Iterable<string>): string {
  const sorted = [...names].sort(byName);
  const noun = sorted.length === 1 ? 'member' : 'members';
  return sorted.length ? `${sorted.length} ${noun}: ${sorted.join(', ')}` : `0 ${noun}`;
}

/** `host:port` as peers must dial it: the advertised host (else the listening one) and the port listened on. */
export function advertisedAddress(o: { host?: string; advertise?: string }, port: number): string {
  return formatAddress({ host: o.advertise ?? o.host ?? DEFAULT_HOST, port });
}
