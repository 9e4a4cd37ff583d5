/**
 * Replication logic of one server. (Membership-only version: the server is never
 * ready, so clients are rejected; replication arrives with passive mode.)
 */
import type { Connection } from '../lib/net/index.js';
import type { Message } from '../lib/protocol/index.js';
import type { Tracer } from '../lib/trace/index.js';
import type { App } from './apps.js';

export interface ReplicaIO {
  tracer: Tracer;
  /** Send a message up to the LFD (and through it to GFD and RM). */
  toLfd(msg: Message): boolean;
}

export class Replica {
  private addr = '';
  constructor(
    readonly name: string,
    readonly app: App,
    private checkpointMs: number,
    private readonly io: ReplicaIO,
  ) {}

  setAddress(addr: string): void {
    this.addr = addr;
  }

  accepts(msg: Message): boolean {
    return msg.type === 'request';
  }

  receive(conn: Connection, msg: Message): void {
    if (msg.type !== 'request') return;
    conn.peer = msg.client;
    conn.send({ type: 'reject', client: msg.client, server: this.name, num: msg.num, reason: 'not_ready' });
  }

  command(msg: Message): void {
    if (msg.type === 'set' && msg.key === 'checkpoint-freq') this.checkpointMs = Number(msg.value) * 1000;
    this.io.tracer.emitEvent('command', 'state', `${this.name} at ${this.addr} received ${msg.type} (checkpoint every ${this.checkpointMs} ms)`);
  }

  connectionClosed(_conn: Connection): void {}

  stop(): void {}
}
