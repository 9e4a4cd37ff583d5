/**
 * Closed-loop loads that do not go through ftkit's client session: the bare `node:net`
 * baseline and relay (ftkit's message shape and nothing else) and Redis (`SET` then
 * `WAIT 2 0`, RESP spoken directly). Each connection sends its next write as soon as the
 * previous one is acknowledged; every acknowledgement is recorded with its latency.
 */
import net from 'node:net';
import type { Recorder } from './recorder.js';
import { encodeCommand, ReplyReader } from './resp.js';
import { preciseNow as now } from './stats.js';

/**
 * One closed-loop connection to 127.0.0.1:`port`: sends request 1 on connect and the next
 * one when `read` reports the previous one acknowledged, until `stop()` or `stopAt` (epoch ms).
 */
abstract class RawWriter {
  protected readonly socket: net.Socket;
  /** Number of the write in flight (1-based). */
  protected n = 0;
  private sentAt = 0;
  private stopping = false;
  /** Writes acknowledged. */
  acked = 0;
  /** Resolves when the writer stops (after its write in flight is acknowledged), rejects on an error. */
  readonly done: Promise<void>;

  constructor(port: number, protected readonly label: string, private readonly rec: Recorder, private readonly stopAt = Infinity) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.setNoDelay(true);
    this.socket.setEncoding('utf8');
    this.done = new Promise((resolve, reject) => {
      this.socket.on('connect', () => this.send());
      this.socket.on('error', reject);
      this.socket.on('close', () => (this.stopping ? resolve() : reject(new Error(`${label}: connection closed`))));
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

  /** The bytes of write `n`. */
  protected abstract request(n: number): string;
  /** Take a chunk of the reply stream; call `acknowledged()` for each write it completes. */
  protected abstract read(chunk: string): void;

  protected acknowledged(): void {
    this.acked++;
    const at = now();
    this.rec.record(this.sentAt, at);
    if (this.stopping || at >= this.stopAt) {
      this.stopping = true;
      this.socket.end();
    } else this.send();
  }

  private send(): void {
    this.n++;
    this.sentAt = now();
    this.socket.write(this.request(this.n));
  }
}

/**
 * ftkit's message shape on plain TCP, frames cut at `>`: `<name, S1, n, add 1, request>`,
 * acknowledged by `<name, S1, n, total, reply>` (bench/baseline-server.ts, bench/relay-server.ts).
 */
export class FrameWriter extends RawWriter {
  private buf = '';

  protected request(n: number): string {
    return `<${this.label}, S1, ${n}, add 1, request>`;
  }

  protected read(chunk: string): void {
    this.buf += chunk;
    for (let end = this.buf.indexOf('>'); end !== -1; end = this.buf.indexOf('>')) {
      const frame = this.buf.slice(0, end + 1);
      this.buf = this.buf.slice(end + 1);
      const num = Number(frame.split(',')[2]);
      if (num !== this.n) throw new Error(`${this.label}: reply ${num} for request ${this.n}`);
      this.acknowledged();
    }
  }
}

/** One baseline connection until `stopAt` (epoch ms); resolves with the requests acknowledged. */
export async function baselineConnection(port: number, name: string, rec: Recorder, stopAt: number): Promise<number> {
  const w = new FrameWriter(port, name, rec, stopAt);
  await w.done;
  return w.acked;
}

/**
 * One Redis writer: `SET <key> <n>` and `WAIT <replicas> 0` in one write (pipelined, so one
 * round trip, as ftkit's one request), acknowledged when WAIT says `replicas` replicas hold it.
 */
export class RedisWriter extends RawWriter {
  private readonly reader = new ReplyReader();

  constructor(port: number, private readonly key: string, private readonly replicas: number, rec: Recorder) {
    super(port, `redis ${key}`, rec);
  }

  protected request(n: number): string {
    return encodeCommand('SET', this.key, String(n)) + encodeCommand('WAIT', String(this.replicas), '0');
  }

  protected read(chunk: string): void {
    for (const r of this.reader.push(chunk)) {
      if (r.kind === 'error') throw new Error(`${this.label}: ${r.text}`);
      if (r.kind === 'simple') continue; // +OK of the SET
      if (r.kind !== 'int' || r.value < this.replicas) throw new Error(`${this.label}: WAIT answered ${JSON.stringify(r)}, expected ${this.replicas}`);
      this.acknowledged();
    }
  }
}
