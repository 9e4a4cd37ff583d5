/**
 * An event-loop probe of replica servers, in a process of its own (forked by bench/bigstate.ts):
 * every millisecond it sends each server a request the server answers at once, on its event loop,
 * without touching the replicated state: the primary gets a stale request number (refused from
 * the dedup table), a backup any request (refused: not the primary). The time a probe waits for
 * its answer is how long that server's event loop was held (plus a loopback round trip).
 *
 * IPC: `{ op: 'start', targets: [{ name, addr }] }` → `{ started: true }`;
 * `{ op: 'stop' }` → `{ samples: { [name]: Array<[sentAt, waitedMs]> } }` (times: ms since epoch).
 */
import { connect, type Socket } from 'node:net';
import { Framer, decode, encode } from '../lib/protocol/index.js';

const PERIOD_MS = 1;
const CLIENT = 'PROBE';

interface Target {
  name: string;
  addr: string;
}

const now = () => performance.timeOrigin + performance.now();

class Probe {
  readonly samples: Array<[number, number]> = [];
  private readonly socket: Socket;
  private readonly framer = new Framer();
  private sentAt: number | undefined;
  /** Request 1 is executed once (so that 0 is stale at the primary); then 0 for ever. */
  private num = 1;
  private warm = false;

  constructor(readonly target: Target) {
    const [host, port] = [target.addr.slice(0, target.addr.lastIndexOf(':')), Number(target.addr.slice(target.addr.lastIndexOf(':') + 1))];
    this.socket = connect({ host, port, noDelay: true });
    this.socket.setEncoding('utf8');
    this.socket.on('data', (text: string) => {
      for (const frame of this.framer.push(text)) this.answered(decode(frame).type);
    });
    this.socket.on('error', () => undefined);
    this.socket.on('connect', () => this.send());
  }

  private answered(type: string): void {
    if (type !== 'reply' && type !== 'reject') return;
    if (this.sentAt !== undefined && this.warm) this.samples.push([this.sentAt, now() - this.sentAt]);
    this.sentAt = undefined;
    this.warm = true;
    this.num = 0;
  }

  /** Called every PERIOD_MS: send the next probe if the last one was answered. */
  send(): void {
    if (this.sentAt !== undefined || this.socket.connecting || this.socket.destroyed) return;
    this.sentAt = now();
    this.socket.write(encode({ type: 'request', client: `${CLIENT}-${this.target.name}`, server: this.target.name, num: this.num, payload: 'size' }));
  }

  /** A probe still waiting counts for as long as it has waited. */
  stop(): void {
    if (this.sentAt !== undefined) this.samples.push([this.sentAt, now() - this.sentAt]);
    this.socket.destroy();
  }
}

let probes: Probe[] = [];
let timer: NodeJS.Timeout | undefined;

process.on('message', (m: { op: 'start'; targets: Target[] } | { op: 'stop' }) => {
  if (m.op === 'start') {
    probes = m.targets.map((t) => new Probe(t));
    timer = setInterval(() => probes.forEach((p) => p.send()), PERIOD_MS);
    process.send!({ started: true });
    return;
  }
  clearInterval(timer);
  const samples: Record<string, Array<[number, number]>> = {};
  for (const p of probes) {
    p.stop();
    samples[p.target.name] = p.samples;
  }
  process.send!({ samples }, () => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
