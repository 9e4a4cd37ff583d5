/**
 * A TCP listener that takes every kind of peer on one port. Each accepted socket
 * becomes a Connection; the first message must arrive within a deadline.
 */
import net from 'node:net';
import { ProtocolError, type Message } from '../protocol/index.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { formatAddress, type HostPort } from './address.js';

export const DEFAULT_FIRST_MESSAGE_TIMEOUT_MS = 30_000;

export interface ListenerOptions extends ConnectionOptions {
  host: string;
  port: number;
  firstMessageTimeoutMs?: number;
  /**
   * Called with a connection's first message, which says who the peer is. Returns the
   * handler for the rest of that connection's messages, or throws a ProtocolError.
   */
  identify: (conn: Connection, first: Message) => (msg: Message) => void;
  /** Bad input on one connection (it has been answered and closed). */
  onProtocolError?: (conn: Connection, err: ProtocolError) => void;
  /** A connection closed (after or before identifying). */
  onClose?: (conn: Connection) => void;
  /**
   * The peer finished sending but may still read (a half-close). With this handler the
   * connection stays open for writing until the handler closes it; without it, it closes at once.
   */
  onEnd?: (conn: Connection) => void;
}

export class Listener {
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  private bound: HostPort | undefined;

  constructor(private readonly options: ListenerOptions) {
    this.server = net.createServer({ allowHalfOpen: !!options.onEnd }, (socket) => this.accept(socket));
  }

  /** Start listening; resolves with the bound address (the real port when port 0 was asked). */
  listen(): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.removeListener('error', reject);
        const a = this.server.address() as net.AddressInfo;
        this.bound = { host: this.options.host, port: a.port };
        resolve(this.bound);
      });
    });
  }

  get address(): string {
    if (!this.bound) throw new Error('listener is not bound');
    return formatAddress(this.bound);
  }

  get port(): number {
    return this.bound?.port ?? this.options.port;
  }

  /** Stop accepting and close every connection. */
  close(): Promise<void> {
    for (const conn of this.connections) conn.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const conn = new Connection(socket, this.options);
    this.connections.add(conn);
    const deadline = this.options.firstMessageTimeoutMs ?? DEFAULT_FIRST_MESSAGE_TIMEOUT_MS;
    const timer = setTimeout(() => conn.reject(new ProtocolError(`no message within ${deadline} ms`)), deadline);
    let handler: ((msg: Message) => void) | undefined;
    conn.on('message', (msg) => {
      if (handler) return handler(msg);
      clearTimeout(timer);
      handler = this.options.identify(conn, msg);
    });
    conn.on('protocolError', (err) => this.options.onProtocolError?.(conn, err));
    if (this.options.onEnd) conn.on('end', () => this.options.onEnd!(conn));
    conn.on('close', () => {
      clearTimeout(timer);
      this.connections.delete(conn);
      this.options.onClose?.(conn);
    });
  }
}
