/**
 * A framed, typed connection over a net.Socket, used by every component.
 *
 * Bad input stays local: on a protocol error the connection answers
 * `<me, peer, reason, error>`, closes itself and emits `protocolError`; the
 * component that owns it keeps running.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { StringDecoder } from 'node:string_decoder';
import { DEFAULT_MAX_FRAME_BYTES, Framer, ProtocolError, decode, encode, type Message, type Standing } from '../protocol/index.js';
import { parseAddress } from './address.js';
import { ConnectTimeoutError, ConnectionClosedError, DeadlineError, RefusedError } from '../errors.js';
import { HANDSHAKE_TIMEOUT_MS, NO_SECURITY, channelBinding, freshNonce, keyFor, proof, proofMatches, type Proven, type Security } from './auth.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
/** How long a closing connection may take to flush its last message before it is destroyed. */
const CLOSE_GRACE_MS = 500;

export interface ConnectionOptions {
  /** Our name, used as the first field of `error` messages. */
  me: string;
  maxFrameBytes?: number;
}

interface ConnectionEvents {
  message: [Message];
  protocolError: [ProtocolError];
  /** The peer has finished sending (half-close); we may still write, if the socket allows half-open. */
  end: [];
  close: [Error | undefined];
}

export class Connection extends EventEmitter<ConnectionEvents> {
  /** The peer's name once it has said it; its address until then. */
  peer: string;
  readonly remote: string;
  /** What the peer has proven (auth.ts); `anonymous` until a handshake succeeds. */
  standing: Proven = 'anonymous';
  private readonly framer: Framer;
  private readonly decoder = new StringDecoder('utf8');
  private closed = false;
  /** Frames sent in this turn of the event loop, written together by `flush`. */
  private pending = '';
  private flushQueued = false;
  private lastError: Error | undefined;

  constructor(
    readonly socket: net.Socket,
    private readonly options: ConnectionOptions,
  ) {
    super();
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.peer = this.remote;
    this.framer = new Framer(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(this.decoder.write(chunk)));
    socket.on('error', (err) => (this.lastError = err));
    socket.on('end', () => this.emit('end'));
    socket.on('close', () => {
      this.closed = true;
      this.emit('close', this.lastError);
    });
  }

  /** Allow larger frames on this connection (a trusted peer that sends whole states). */
  allowFrames(maxFrameBytes: number): void {
    this.framer.maxFrameBytes = maxFrameBytes;
  }

  get isOpen(): boolean {
    return !this.closed && !this.socket.destroyed && this.socket.writable;
  }

  /**
   * Send one message; false if the connection is already closed. Messages sent while
   * the event loop handles one batch of I/O leave in one write: they are appended to one
   * pending string, written in the loop's check phase, so requests that arrived together
   * on many connections go to each peer in one system call (group commit), at no cost in
   * latency. Frames are whole and in send order; `close()` writes what is pending first.
   */
  send(msg: Message): boolean {
    return this.sendFrame(encode(msg));
  }

  /**
   * Send a frame encoded already (one copy of a broadcast, encoded once for all its
   * recipients), in order with `send` and in the same write. The caller vouches that
   * `frame` is one whole frame of a message this connection may carry.
   */
  sendFrame(frame: string): boolean {
    if (!this.isOpen) return false;
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(this.flush);
    }
    this.pending = this.pending === '' ? frame : this.pending + frame;
    return true;
  }

  /** Frames sent but not yet handed to the socket (for tests and diagnostics). */
  get pendingChars(): number {
    return this.pending.length;
  }

  /** Hand the pending frames to the socket in one write. */
  private readonly flush = (): void => {
    this.flushQueued = false;
    const text = this.pending;
    if (text === '') return;
    this.pending = '';
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(text);
  };

  /** Stop reading until the next turn of the event loop. */
  private yieldTurn(): void {
    if (this.socket.isPaused()) return;
    this.socket.pause();
    setImmediate(() => this.closed || this.socket.resume());
  }

  /** Answer a protocol error with an `error` message and close this connection only. */
  reject(err: ProtocolError): void {
    if (this.closed) return;
    this.send({ type: 'error', from: this.options.me, to: this.peer, reason: err.message });
    this.emit('protocolError', err);
    this.close();
  }

  /** Close gracefully (flush what was written), destroying the socket if the peer does not let go. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Close at once (used on shutdown and to simulate a crash in tests). */
  destroy(): void {
    this.closed = true;
    this.pending = '';
    this.socket.destroy();
  }

  private onData(text: string): void {
    if (this.closed) return;
    try {
      let large = false;
      for (const frame of this.framer.push(text)) {
        this.emit('message', decode(frame));
        if (this.closed) return;
        large ||= frame.length >= YIELD_AFTER_CHARS;
      }
      if (large) this.yieldTurn();
      // Frames before bad bytes in the same chunk were delivered; now answer the bad bytes.
      if (this.framer.failure) throw this.framer.failure;
    } catch (err) {
      // A handler bug must not take the whole component down: report it on this connection only.
      this.reject(err instanceof ProtocolError ? err : new ProtocolError(`internal error: ${(err as Error).message}`, { cause: err }));
    }
  }
}

/**
 * After a frame this large (a part of a large checkpoint), a connection reads no more until the
 * next turn of the event loop: without it, one turn could take in megabytes from one peer, part
 * after part, while a heartbeat or a request waits on another connection.
 */
export const YIELD_AFTER_CHARS = 64 * 1024;

export interface DialOptions extends ConnectionOptions {
  timeoutMs?: number;
  /** Secrets and TLS files; over TLS when it has a CA. */
  security?: Security;
  /** What to prove before anything else, if we hold its secret (a client without one proves nothing). */
  standing?: Standing;
}

/**
 * Open a connection to `host:port`, failing after `timeoutMs`: over TLS when `security` has a
 * CA, and authenticated (auth.ts) when we hold the secret of `standing`. Rejects with a
 * RefusedError when the peer refuses us or cannot prove it holds the same secret.
 */
export async function connect(addr: string, options: DialOptions): Promise<Connection> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const security = options.security ?? NO_SECURITY;
  const socket = await open(addr, security, timeoutMs);
  const conn = new Connection(socket, options);
  const key = options.standing && keyFor(security.secrets, options.standing);
  if (options.standing && key) {
    try {
      await authenticate(conn, addr, options.me, options.standing, key);
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }
  return conn;
}

function open(addr: string, security: Security, timeoutMs: number): Promise<net.Socket> {
  const { host, port } = parseAddress(addr);
  const ca = security.tls?.ca;
  return new Promise((resolve, reject) => {
    // Certificates are checked against the deployment's CA, not a host name: every component's
    // certificate is signed by it, and deployments address machines by IP.
    const socket = ca ? tls.connect({ host, port, ca, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined }) : net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ConnectTimeoutError(addr, timeoutMs));
    }, timeoutMs);
    socket.once(ca ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      // OpenSSL's words for a certificate that does not verify ("unable to verify the first
      // certificate") do not say against what: name the option, the likeliest thing to fix.
      const untrusted = (socket as tls.TLSSocket).authorizationError ? ' (its certificate does not verify against our --tls-ca)' : '';
      reject(ca && !('code' in err && String(err.code).startsWith('ECONN')) ? new Error(`TLS with ${addr}: ${err.message}${untrusted}`, { cause: err }) : err);
    });
  });
}

/** The next message on `conn`; rejects if it closes or nothing comes within `timeoutMs`. */
function nextMessage(conn: Connection, addr: string, timeoutMs: number): Promise<Message> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      conn.off('message', onMessage);
      conn.off('close', onClose);
    };
    const onMessage = (msg: Message) => {
      done();
      resolve(msg);
    };
    const onClose = (cause: Error | undefined) => {
      done();
      reject(new ConnectionClosedError(addr, 'answering the handshake', { cause }));
    };
    const timer = setTimeout(() => {
      done();
      reject(new DeadlineError(`authentication with ${addr}`, timeoutMs));
    }, timeoutMs);
    conn.on('message', onMessage);
    conn.on('close', onClose);
  });
}

/** The dialer's side of the handshake: say hello, check the listener's proof, give ours, await `auth_ok`. */
async function authenticate(conn: Connection, addr: string, me: string, standing: Standing, key: Buffer): Promise<void> {
  const nonce = freshNonce();
  const answer = nextMessage(conn, addr, HANDSHAKE_TIMEOUT_MS);
  conn.send({ type: 'authHello', from: me, to: '-', standing, nonce });
  const challenge = refusedOrError(await answer, addr);
  if (challenge.type !== 'authChallenge') throw new RefusedError(addr, `answered auth_hello with ${challenge.type}`);
  const input = { standing, dialer: me, listener: challenge.from, dialerNonce: nonce, listenerNonce: challenge.nonce, binding: channelBinding(conn.socket) };
  if (!proofMatches(proof(key, { ...input, side: 'listener' }), challenge.proof)) {
    const which = standing === 'client' ? 'client secret' : standing === 'admin' ? 'admin secret (or, without one, the deployment secret)' : 'deployment secret';
    const hint = standing === 'admin' ? 'the secret files differ, or the deployment has a separate admin secret: --admin-secret-file' : 'the secret files differ, or it is not an ftkit component';
    throw new RefusedError(addr, `${challenge.from} did not prove it holds our ${which} (${hint})`);
  }
  const ok = nextMessage(conn, addr, HANDSHAKE_TIMEOUT_MS);
  conn.send({ type: 'authProof', from: me, to: challenge.from, proof: proof(key, { ...input, side: 'dialer' }) });
  const verdict = refusedOrError(await ok, addr);
  if (verdict.type !== 'authOk') throw new RefusedError(addr, `answered auth_proof with ${verdict.type}`);
  conn.standing = verdict.standing;
}

function refusedOrError(msg: Message, addr: string): Message {
  if (msg.type === 'refused') throw new RefusedError(addr, msg.reason);
  if (msg.type === 'error') throw new Error(`${addr}: ${msg.reason}`);
  return msg;
}
