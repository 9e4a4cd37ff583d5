/**
 * Outbound links from one replica to the others it feeds (a leader to its followers
 * and newcomers). Each link reconnects on its own; `onUp` lets the replica resync a
 * peer (send a fresh checkpoint) before anything else goes out on a new connection.
 */
import { Link, NO_SECURITY, exponentialBackoff, type Security } from '../lib/net/index.js';
import type { Member, Message } from '../lib/protocol/index.js';
import { Streamer, type StreamCommand, type Streamed } from './stream.js';

/** Frames between replicas carry whole states (checkpoints): they may be this large. */
export const PEER_MAX_FRAME_BYTES = 512 * 1024 * 1024;

export interface PeerHandlers {
  onUp(name: string): void;
  onDown(name: string): void;
  onMessage(name: string, msg: Message): void;
  /** The peer refused us or failed to prove our secret; the link has stopped. */
  onRefused(name: string, reason: string): void;
  /** A checkpoint sent in parts reached the end for these peers. */
  onStreamed?(s: Streamed): void;
}

export class Peers {
  private readonly links = new Map<string, { addr: string; link: Link }>();
  private readonly streamer = new Streamer(
    (name) => this.links.get(name)?.link.connection,
    (s) => this.handlers.onStreamed?.(s),
  );

  constructor(
    private readonly me: string,
    private readonly security: Security = NO_SECURITY,
    private readonly handlers: PeerHandlers,
  ) {}

  /** Keep links to exactly these peers (besides ourselves). */
  keep(members: readonly Member[]): void {
    const wanted = new Map(members.filter((m) => m.name !== this.me).map((m) => [m.name, m.addr]));
    for (const [name, { addr, link }] of this.links) {
      if (wanted.get(name) !== addr) {
        link.stop();
        this.links.delete(name);
      }
    }
    for (const [name, addr] of wanted) if (!this.links.has(name)) this.open(name, addr);
  }

  send(name: string, msg: Message): boolean {
    return this.links.get(name)?.link.connection?.send(msg) ?? false;
  }

  /** Send a frame encoded already. */
  sendFrame(name: string, frame: string): boolean {
    const conn = this.links.get(name)?.link.connection;
    return conn?.sendFrame(frame) ?? false;
  }

  /** Send a large checkpoint's parts (stream.ts). */
  stream(cmd: StreamCommand): void {
    this.streamer.start(cmd);
  }

  closeAll(): void {
    this.streamer.stopAll();
    for (const { link } of this.links.values()) link.stop();
    this.links.clear();
  }

  private open(name: string, addr: string): void {
    const link = new Link({ me: this.me, addr, security: this.security, standing: 'member', policy: exponentialBackoff({ baseMs: 20, capMs: 500 }) });
    // A link we stopped (and may have replaced) says nothing more.
    const current = () => this.links.get(name)?.link === link;
    link.on('refused', (err) => current() && this.handlers.onRefused(name, err.reason));
    link.on('down', () => current() && this.handlers.onDown(name));
    link.on('up', (conn) => {
      conn.peer = name;
      // Say who we are first, in a small frame: the peer then accepts state-sized frames from us.
      conn.send({ type: 'welcome', from: this.me, to: name });
      conn.allowFrames(PEER_MAX_FRAME_BYTES);
      conn.on('message', (msg) => current() && this.handlers.onMessage(name, msg));
      if (current()) this.handlers.onUp(name);
    });
    this.links.set(name, { addr, link });
    link.start();
  }
}
