/**
 * A TCP (or TLS) listener that takes every kind of peer on one port. Each accepted socket
 * becomes a Connection. Before a peer has said who it is, it is held to small frames and a
 * deadline, and each source address may hold only a few such connections; a peer that
 * authenticates (auth.ts) gets the standing it proved, and every message afterwards is
 * checked against what that standing permits.
 */
import net from 'node:net';
import tls from 'node:tls';
import { DEFAULT_MAX_FRAME_BYTES, ProtocolError, type Message, type MessageOf } from '../protocol/index.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { formatAddress, type HostPort } from './address.js';
import {
  HANDSHAKE_TIMEOUT_MS,
  NO_SECURITY,
  UNTRUSTED_MAX_FRAME_BYTES,
  channelBinding,
  freshNonce,
  keyFor,
  permits,
  proof,
  proofMatches,
  refusal,
  type Security,
} from './auth.js';

export const DEFAULT_FIRST_MESSAGE_TIMEOUT_MS = 30_000;
/** Connections one source address may hold before they have said who they are. */
export const MAX_UNIDENTIFIED_PER_ADDRESS = 32;
/** Connections one source address may hold in all. */
export const MAX_CONNECTIONS_PER_ADDRESS = 1024;

export interface ListenerOptions extends ConnectionOptions {
  host: string;
  port: number;
  firstMessageTimeoutMs?: number;
  /** Secrets (who may say what) and TLS files (serve TLS when there is a certificate). Default: open. */
  security?: Security;
  /**
   * Called with a connection's first message, which says who the peer is. Returns the
   * handler for the rest of that connection's messages, or throws a ProtocolError.
   */
  identify: (conn: Connection, first: Message) => (msg: Message) => void;
  /** Bad input on one connection (it has been answered and closed). */
  onProtocolError?: (conn: Connection, err: ProtocolError) => void;
  /** A peer was refused: failed authentication, not permitted, over its address's limit, or not TLS. */
  onRefused?: (who: string, reason: string) => void;
  /** A connection closed (after or before identifying). */
  onClose?: (conn: Connection) => void;
  /**
   * The peer finished sending but may still read (a half-close). With this handler the
   * connection stays open for writing until the handler closes it; without it, it closes at once.
   */
  onEnd?: (conn: Connection) => void;
  maxUnidentifiedPerAddress?: number;
  maxConnectionsPerAddress?: number;
}

interface PerAddress {
  total: number;
  unidentified: number;
  /** Refused since the count was last under the limit (traced once per burst). */
  refused: number;
}

export class Listener {
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  private readonly byAddress = new Map<string, PerAddress>();
  private readonly security: Security;
  private bound: HostPort | undefined;
  private closing = false;

  constructor(private readonly options: ListenerOptions) {
    this.security = options.security ?? NO_SECURITY;
    const { cert, key } = this.security.tls ?? {};
    const allowHalfOpen = !!options.onEnd;
    if (cert && key) {
      const server = tls.createServer({ cert, key, minVersion: 'TLSv1.3', allowHalfOpen, handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, (socket) => this.accept(socket));
      // Handled here, a failed handshake never reaches the socket's 'error' (nor crashes us).
      server.on('tlsClientError', (err: Error & { code?: string; reason?: string }, socket) => {
        // A dialer that does not trust our certificate just hangs up (Node sends no alert); by
        // then the socket no longer knows the peer's address.
        const who = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'a peer';
        const why = err.code === 'ECONNRESET' ? 'the peer closed the connection; a dialer that does not trust our certificate does that' : (err.reason ?? err.message);
        // Node leaves the socket open after a handshake timeout: a silent peer would hold it for
        // ever (and keep close() from finishing). Every failed handshake ends its connection.
        socket.destroy();
        this.options.onRefused?.(who, `TLS handshake failed (${why})`);
      });
      this.server = server;
    } else this.server = net.createServer({ allowHalfOpen }, (socket) => this.accept(socket));
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
    this.closing = true;
    for (const conn of this.connections) conn.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Count a new socket against its address's limits; false (and destroyed) if over them. */
  private admit(socket: net.Socket): PerAddress | undefined {
    const addr = socket.remoteAddress ?? '?';
    const count = this.byAddress.get(addr) ?? { total: 0, unidentified: 0, refused: 0 };
    const maxUnidentified = this.options.maxUnidentifiedPerAddress ?? MAX_UNIDENTIFIED_PER_ADDRESS;
    const maxTotal = this.options.maxConnectionsPerAddress ?? MAX_CONNECTIONS_PER_ADDRESS;
    if (count.unidentified >= maxUnidentified || count.total >= maxTotal) {
      if (count.refused++ === 0) {
        const limit = count.total >= maxTotal ? `${maxTotal} connections` : `${maxUnidentified} connections that have not said who they are`;
        this.options.onRefused?.(addr, `it already holds ${limit}; refusing more until some close`);
      }
      socket.destroy();
      return undefined;
    }
    count.total++;
    count.unidentified++;
    this.byAddress.set(addr, count);
    return count;
  }

  private accept(socket: net.Socket): void {
    const count = this.admit(socket);
    if (!count) return;
    // Where anonymous clients are let in, a first request may be as large as any request (they are
    // entitled to it anyway); where every peer must prove a secret, the first frame is held small.
    const trusted = this.options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const untrusted = Math.min(UNTRUSTED_MAX_FRAME_BYTES, trusted);
    const conn = new Connection(socket, { ...this.options, maxFrameBytes: this.security.secrets.client ? untrusted : trusted });
    this.connections.add(conn);
    let identified = false;
    const identifiedNow = () => {
      if (identified) return;
      identified = true;
      count.unidentified--;
      count.refused = 0;
    };
    const deadline = this.options.firstMessageTimeoutMs ?? DEFAULT_FIRST_MESSAGE_TIMEOUT_MS;
    let timer = setTimeout(() => conn.reject(new ProtocolError(`no message within ${deadline} ms`)), deadline);
    let handler: ((msg: Message) => void) | undefined;
    let hello: { msg: MessageOf<'authHello'>; nonce: string; key: Buffer } | undefined;

    const refuse = (to: string, reason: string) => {
      clearTimeout(timer);
      hello = undefined;
      conn.send({ type: 'refused', from: this.options.me, to, reason });
      this.options.onRefused?.(`${conn.remote}${to !== '-' ? ` (claims ${to})` : ''}`, reason);
      conn.close();
    };

    conn.on('message', (msg) => {
      if (hello) {
        // Mid-handshake: only the proof may come.
        const h = hello;
        hello = undefined;
        clearTimeout(timer);
        if (msg.type !== 'authProof' || msg.from !== h.msg.from) return refuse(h.msg.from, `expected auth_proof from ${h.msg.from}, got ${msg.type}`);
        const expected = proof(h.key, this.proofInput(conn, h.msg, h.nonce, 'dialer'));
        if (!proofMatches(expected, msg.proof)) return refuse(h.msg.from, `wrong proof for the ${h.msg.standing} secret (a different secret file, or a replayed handshake)`);
        conn.standing = h.msg.standing;
        conn.allowFrames(trusted);
        conn.send({ type: 'authOk', from: this.options.me, to: h.msg.from, standing: h.msg.standing });
        timer = setTimeout(() => conn.reject(new ProtocolError(`no message within ${deadline} ms`)), deadline);
        return;
      }
      if (msg.type === 'authHello') {
        if (handler || conn.standing !== 'anonymous') return refuse(msg.from, 'auth_hello comes first on a connection, and once');
        if (msg.to !== '-' && msg.to !== this.options.me) return refuse(msg.from, `this is ${this.options.me}, not ${msg.to}`);
        const key = this.security.secrets.member || msg.standing === 'client' ? keyFor(this.security.secrets, msg.standing) : undefined;
        if (!key) {
          const reason = this.security.secrets.member ? `this deployment has no ${msg.standing} secret` : `${this.options.me} runs without a deployment secret (start it with --secret-file)`;
          return refuse(msg.from, reason);
        }
        clearTimeout(timer);
        // Until its proof, a peer that asked to authenticate sends small frames only.
        conn.allowFrames(untrusted);
        const nonce = freshNonce();
        hello = { msg, nonce, key };
        conn.send({ type: 'authChallenge', from: this.options.me, to: msg.from, nonce, proof: proof(key, this.proofInput(conn, msg, nonce, 'listener')) });
        timer = setTimeout(() => refuse(msg.from, `no auth_proof within ${HANDSHAKE_TIMEOUT_MS} ms`), HANDSHAKE_TIMEOUT_MS);
        return;
      }
      if (!permits(this.security.secrets, conn.standing, msg.type)) return refuse(claimedName(msg), refusal(this.security.secrets, conn.standing, msg.type));
      if (handler) return handler(msg);
      clearTimeout(timer);
      identifiedNow();
      if (conn.standing === 'anonymous') conn.allowFrames(trusted);
      handler = this.options.identify(conn, msg);
    });
    conn.on('protocolError', (err) => this.options.onProtocolError?.(conn, err));
    if (this.options.onEnd) conn.on('end', () => this.options.onEnd!(conn));
    conn.on('close', () => {
      clearTimeout(timer);
      // A dialer that holds another secret cannot check our challenge: it hangs up without a proof.
      if (hello && !this.closing) this.options.onRefused?.(`${conn.remote} (claims ${hello.msg.from})`, 'hung up during the handshake without sending auth_proof (it holds a different secret, or it gave up)');
      hello = undefined;
      this.connections.delete(conn);
      identifiedNow();
      count.total--;
      if (count.total === 0) this.byAddress.delete(socket.remoteAddress ?? '?');
      this.options.onClose?.(conn);
    });
  }

  private proofInput(conn: Connection, hello: MessageOf<'authHello'>, nonce: string, side: 'dialer' | 'listener') {
    return { side, standing: hello.standing, dialer: hello.from, listener: this.options.me, dialerNonce: hello.nonce, listenerNonce: nonce, binding: channelBinding(conn.socket) };
  }
}

/** The name a message's sender gives itself, for the `to` of a refusal ('-' if none). */
function claimedName(msg: Message): string {
  const m = msg as Partial<Record<'from' | 'lfd' | 'server' | 'gfd' | 'client', unknown>>;
  const name = [m.from, m.lfd, m.server, m.gfd, m.client].find((v) => typeof v === 'string');
  return (name as string | undefined) ?? '-';
}
