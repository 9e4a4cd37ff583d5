/**
 * A fault-injecting TCP proxy. It listens on an ephemeral port on 127.0.0.1 and
 * forwards each connection to one target (a replica). Its mode says what the network
 * does to that traffic:
 * - pass: forward as is;
 * - delay: hold every chunk, in both directions, for `ms` before forwarding it (order kept);
 * - drop: reset every open connection now and every new one at once (a flapping link);
 * - blackhole: accept and keep connections open but swallow every byte both ways;
 *   when the blackhole ends, the connections that lost bytes are reset, as TCP would
 *   eventually give up on them.
 *
 * The chaos clients connect to replicas only through proxies (ProxyPool), so network
 * faults hit client <-> replica links; replica <-> replica and control-plane links
 * are left alone.
 */
import net from 'node:net';
import { parseAddress } from '../../lib/net/index.js';

export type ProxyMode = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'drop' } | { kind: 'blackhole' };

export const PASS: ProxyMode = { kind: 'pass' };

/** Ordered, delayed delivery of chunks (and finally of the end) to one socket. */
class DelayLine {
  private readonly queue: Array<{ at: number; chunk: Buffer | 'end' }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly out: net.Socket) {}

  push(chunk: Buffer | 'end', delayMs: number): void {
    const now = Date.now();
    if (delayMs <= 0 && this.queue.length === 0) return this.deliver(chunk);
    const last = this.queue[this.queue.length - 1]?.at ?? 0;
    this.queue.push({ at: Math.max(now + delayMs, last), chunk });
    this.arm();
  }

  clear(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }

  private arm(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      while (this.queue.length > 0 && this.queue[0]!.at <= now) this.deliver(this.queue.shift()!.chunk);
      this.arm();
    }, Math.max(0, this.queue[0]!.at - Date.now()));
  }

  private deliver(chunk: Buffer | 'end'): void {
    if (this.out.destroyed) return;
    if (chunk === 'end') this.out.end();
    else this.out.write(chunk);
  }
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  toUpstream: DelayLine;
  toClient: DelayLine;
  /** Bytes were swallowed by a blackhole: the stream is broken. */
  swallowed: boolean;
}

export interface ProxyStats {
  connections: number;
  refused: number;
  resets: number;
  swallowedBytes: number;
}

export class ChaosProxy {
  readonly stats: ProxyStats = { connections: 0, refused: 0, resets: 0, swallowedBytes: 0 };
  private modeNow: ProxyMode = PASS;
  private readonly pairs = new Set<Pair>();
  private readonly server: net.Server;
  private bound = '';

  constructor(
    readonly target: string,
    readonly label = target,
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  get address(): string {
    return this.bound;
  }

  get mode(): ProxyMode {
    return this.modeNow;
  }

  get open(): number {
    return this.pairs.size;
  }

  listen(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.removeListener('error', reject);
        this.bound = `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
        resolve(this.bound);
      });
    });
  }

  setMode(mode: ProxyMode): void {
    const was = this.modeNow;
    this.modeNow = mode;
    if (mode.kind === 'drop') this.resetAll();
    if (was.kind === 'blackhole' && mode.kind !== 'blackhole') {
      for (const pair of [...this.pairs]) if (pair.swallowed) this.reset(pair);
    }
  }

  /** Reset every open connection; returns how many. */
  resetAll(): number {
    const n = this.pairs.size;
    for (const pair of [...this.pairs]) this.reset(pair);
    return n;
  }

  close(): Promise<void> {
    for (const pair of [...this.pairs]) this.reset(pair);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    client.on('error', () => {});
    if (this.modeNow.kind === 'drop') {
      this.stats.refused++;
      hardClose(client);
      return;
    }
    this.stats.connections++;
    const { host, port } = parseAddress(this.target);
    const upstream = net.connect({ host, port });
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    const pair: Pair = { client, upstream, toUpstream: new DelayLine(upstream), toClient: new DelayLine(client), swallowed: false };
    this.pairs.add(pair);
    upstream.on('error', () => this.reset(pair));
    const forward = (line: DelayLine) => (chunk: Buffer) => {
      const mode = this.modeNow;
      if (mode.kind === 'blackhole') {
        pair.swallowed = true;
        this.stats.swallowedBytes += chunk.length;
      } else line.push(chunk, mode.kind === 'delay' ? mode.ms : 0);
    };
    client.on('data', forward(pair.toUpstream));
    upstream.on('data', forward(pair.toClient));
    client.on('end', () => pair.toUpstream.push('end', this.modeNow.kind === 'delay' ? (this.modeNow as { ms: number }).ms : 0));
    upstream.on('end', () => pair.toClient.push('end', this.modeNow.kind === 'delay' ? (this.modeNow as { ms: number }).ms : 0));
    const done = () => {
      if (!this.pairs.delete(pair)) return;
      pair.toUpstream.clear();
      pair.toClient.clear();
      client.destroy();
      upstream.destroy();
    };
    client.on('close', done);
    upstream.on('close', (hadError) => (hadError ? this.reset(pair) : done()));
  }

  private reset(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    this.stats.resets++;
    pair.toUpstream.clear();
    pair.toClient.clear();
    hardClose(pair.client);
    hardClose(pair.upstream);
  }
}

/**
 * Reset a connection (RST), or just destroy it if we already ended it: on Node 20,
 * `end()` followed by `resetAndDestroy()` leaves the process spinning at 100% CPU
 * when it exits (libuv refuses to reset a socket that is shutting down).
 */
export function hardClose(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}

/**
 * One proxy per replica address, made on demand; network faults are set per replica
 * name and apply to every proxy for that name, including ones made later (a replica
 * that restarts listens on a new port).
 */
export class ProxyPool {
  private readonly byAddr = new Map<string, Promise<ChaosProxy>>();
  private readonly byName = new Map<string, Set<ChaosProxy>>();
  private readonly modes = new Map<string, ProxyMode>();
  private closed = false;

  /** The address to connect to instead of replica `name` at `addr`. */
  async route(name: string, addr: string): Promise<string> {
    if (this.closed) throw new Error('proxy pool closed');
    const key = `${name}=${addr}`;
    let made = this.byAddr.get(key);
    if (!made) {
      const proxy = new ChaosProxy(addr, name);
      made = proxy.listen().then(() => {
        proxy.setMode(this.modes.get(name) ?? PASS);
        const set = this.byName.get(name) ?? new Set();
        set.add(proxy);
        this.byName.set(name, set);
        return proxy;
      });
      this.byAddr.set(key, made);
    }
    return (await made).address;
  }

  setMode(name: string, mode: ProxyMode): void {
    this.modes.set(name, mode);
    for (const p of this.byName.get(name) ?? []) p.setMode(mode);
  }

  healAll(): void {
    for (const name of [...this.modes.keys()]) this.setMode(name, PASS);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.byAddr.values()].map(async (p) => (await p.catch(() => undefined))?.close()));
  }
}
