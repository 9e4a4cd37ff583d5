/**
 * Closed-loop loads that do not go through ftkit's client session: the bare `node:net`
 * baseline (ftkit's message shape and nothing else) and Redis (`SET` then `WAIT 2 0`,
 * RESP spoken directly). Each connection sends its next write as soon as the previous
 * one is acknowledged; every acknowledgement is recorded with its latency.
 */
import net from 'node:net';
import type { Recorder } from './recorder.js';
import { encodeCommand, ReplyReader } from './resp.js';
import { preciseNow as now } from './stats.js';

/** One baseline connection until `stopAt` (epoch ms); resolves with the requests sent. */
export function baselineConnection(port: number, name: string, rec: Recorder, stopAt: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    let n = 0;
    let sentAt = 0;
    let buf = '';
    const send = () => {
      n++;
      sentAt = now();
      socket.write(`<${name}, S1, ${n}, add 1, request>`);
    };
    socket.on('connect', send);
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      buf += chunk;
      const end = buf.indexOf('>');
      if (end === -1) return;
      const frame = buf.slice(0, end + 1);
      buf = buf.slice(end + 1);
      const num = Number(frame.split(',')[2]);
      if (num !== n) return reject(new Error(`baseline: reply ${num} for request ${n}`));
      const at = now();
      rec.record(sentAt, at);
      if (at < stopAt) send();
      else {
        socket.end();
        resolve(n);
      }
    });
  });
}

/**
 * One Redis writer: `SET <key> <n>` and `WAIT <replicas> 0` in one write (pipelined, so one
 * round trip, as ftkit's one request), acknowledged when WAIT says `replicas` replicas hold it.
 */
export class RedisWriter {
  private readonly socket: net.Socket;
  private readonly reader = new ReplyReader();
  private n = 0;
  private sentAt = 0;
  private stopping = false;
  /** Writes acknowledged by every replica. */
  acked = 0;
  /** Resolves when the writer stops (after its write in flight is acknowledged), rejects on an error. */
  readonly done: Promise<void>;

  constructor(port: number, private readonly key: string, private readonly replicas: number, private readonly rec: Recorder) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.setNoDelay(true);
    this.socket.setEncoding('utf8');
    this.done = new Promise((resolve, reject) => {
      this.socket.on('connect', () => this.send());
      this.socket.on('error', reject);
      this.socket.on('close', () => (this.stopping ? resolve() : reject(new Error(`redis ${key}: connection closed`))));
      this.socket.on('data', (chunk: string) => {
        try {
          this.read(chunk);
        } catch (err) {
          this.socket.destroy();
          reject(err);
        }
      });
    });
  }

  /** Send nothing new; the write in flight finishes first. */
  stop(): void {
    this.stopping = true;
  }

  destroy(): void {
    this.stopping = true;
    this.socket.destroy();
  }

  private send(): void {
    this.n++;
    this.sentAt = now();
    this.socket.write(encodeCommand('SET', this.key, String(this.n)) + encodeCommand('WAIT', String(this.replicas), '0'));
  }

  private read(chunk: string): void {
    for (const r of this.reader.push(chunk)) {
      if (r.kind === 'error') throw new Error(`redis ${this.key}: ${r.text}`);
      if (r.kind === 'simple') continue; // +OK of the SET
      if (r.kind !== 'int' || r.value < this.replicas) throw new Error(`redis ${this.key}: WAIT answered ${JSON.stringify(r)}, expected ${this.replicas}`);
      this.acked++;
      this.rec.record(this.sentAt, now());
      if (this.stopping) this.socket.end();
      else this.send();
    }
  }
}
