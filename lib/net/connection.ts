/**
 * A framed, typed connection over a net.Socket, used by every component.
 *
 * Bad input stays local: on a protocol error the connection answers
 * `<me, peer, reason, error>`, closes itself and emits `protocolError`; the
 * component that owns it keeps running.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { DEFAULT_MAX_FRAME_BYTES, Framer, ProtocolError, decode, encode, type Message } from '../protocol/index.js';
import { parseAddress } from './address.js';
import { ConnectTimeoutError } from './errors.js';

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
  private readonly framer: Framer;
  private readonly decoder = new StringDecoder('utf8');
  private closed = false;
  private corked = false;
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
   * the event loop handles one batch of I/O leave in one write: the socket stays corked
   * until the loop's check phase, so requests that arrived together on many connections
   * go to each peer in one write (group commit), at no cost in latency.
   */
  send(msg: Message): boolean {
    if (!this.isOpen) return false;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(encode(msg));
    return true;
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
    this.closed = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Close at once (used on shutdown and to simulate a crash in tests). */
  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private onData(text: string): void {
    if (this.closed) return;
    try {
      for (const frame of this.framer.push(text)) {
        this.emit('message', decode(frame));
        if (this.closed) return;
      }
      // Frames before bad bytes in the same chunk were delivered; now answer the bad bytes.
      if (this.framer.failure) throw this.framer.failure;
    } catch (err) {
      // A handler bug must not take the whole component down: report it on this connection only.
      this.reject(err instanceof ProtocolError ? err : new ProtocolError(`internal error: ${(err as Error).message}`, { cause: err }));
    }
  }
}

/** Open a connection to `host:port`, failing after `timeoutMs`. */
export function connect(addr: string, options: ConnectionOptions & { timeoutMs?: number }): Promise<Connection> {
  const { host, port } = parseAddress(addr);
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ConnectTimeoutError(addr, timeoutMs));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(new Connection(socket, options));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}
