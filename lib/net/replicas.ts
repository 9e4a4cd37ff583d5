/**
 * A client's connections to the replicas of its current view: one per replica, reused
 * while the replica keeps its address, closed when it leaves the view. Used by the
 * `ftkit client`, the chaos harness's clients and the bench's load generator.
 */
import type { Member, Message } from '../protocol/index.js';
import { connect, type Connection } from './connection.js';
import type { Security } from './auth.js';

export interface ReplicaConnectionsOptions {
  /** Our name, for `error` messages. */
  me: string;
  connectTimeoutMs: number;
  /** Secrets and TLS files: a client proves the client secret if it holds one. */
  security?: Security;
  /** Where to connect for a replica (default: its own address; the chaos harness routes through its proxy). */
  route?: (name: string, addr: string) => string | Promise<string>;
  onMessage: (server: string, msg: Message) => void;
  /** A connection to `server` closed, for whatever reason (retain() and closeAll() included). */
  onClose: (server: string) => void;
}

export class ReplicaConnections {
  private readonly conns = new Map<string, { addr: string; conn: Connection }>();
  /** Connections being made, per replica: a second caller waits for the same one. */
  private readonly dialing = new Map<string, { addr: string; conn: Promise<Connection | undefined> }>();
  private closed = false;

  constructor(private readonly options: ReplicaConnectionsOptions) {}

  /**
   * The open connection to `member`, connecting if needed (one connection at a time: callers
   * that ask while it is made get the same one). Throws if it cannot connect.
   */
  get(member: Member): Promise<Connection | undefined> {
    const have = this.open(member);
    if (have) return Promise.resolve(have);
    const pending = this.dialing.get(member.name);
    if (pending?.addr === member.addr) return pending.conn;
    const conn = this.dial(member).finally(() => {
      if (this.dialing.get(member.name)?.conn === conn) this.dialing.delete(member.name);
    });
    this.dialing.set(member.name, { addr: member.addr, conn });
    return conn;
  }

  private async dial(member: Member): Promise<Connection | undefined> {
    const via = this.options.route ? await this.options.route(member.name, member.addr) : member.addr;
    const conn = await connect(via, { me: this.options.me, timeoutMs: this.options.connectTimeoutMs, security: this.options.security, standing: 'client' });
    if (this.closed) return void conn.destroy();
    // Another caller may have connected meanwhile: keep one connection per replica.
    const raced = this.open(member);
    if (raced) {
      conn.destroy();
      return raced;
    }
    conn.peer = member.name;
    conn.on('message', (msg) => this.options.onMessage(member.name, msg));
    conn.on('close', () => {
      if (this.conns.get(member.name)?.conn === conn) this.conns.delete(member.name);
      this.options.onClose(member.name);
    });
    this.conns.get(member.name)?.conn.destroy();
    this.conns.set(member.name, { addr: member.addr, conn });
    return conn;
  }

  /** Close and forget the connections to replicas that are not in `view` (same name and address). */
  retain(view: readonly Member[]): void {
    for (const [name, { addr, conn }] of this.conns) {
      if (view.some((m) => m.name === name && m.addr === addr)) continue;
      this.conns.delete(name);
      conn.destroy();
    }
  }

  /** Close everything; connections that complete later are closed at once. */
  closeAll(): void {
    this.closed = true;
    for (const { conn } of this.conns.values()) conn.destroy();
    this.conns.clear();
  }

  private open(member: Member): Connection | undefined {
    const have = this.conns.get(member.name);
    return have?.addr === member.addr && have.conn.isOpen ? have.conn : undefined;
  }
}
