/**
 * The cost of opening a connection, by security: plain TCP; plain TCP with the deployment
 * secret's challenge-response (a member dialing a listener that holds the secret); a client
 * without a secret dialing a listener that holds one (no handshake, the standing checks
 * only); TLS 1.3; TLS 1.3 with the challenge-response. In one process, sequentially:
 * lib/net `connect` against a lib/net `Listener` on 127.0.0.1, then one message there and
 * back (the listener echoes the first message), then both ends closed. Then, on one open
 * connection per variant, requests and replies in bursts: what each message costs once the
 * connection is up. The variants take turns in blocks, so that noise falls on all of them alike.
 *
 * Both ends run in this process, so the CPU per connection is the dialer's and the
 * listener's together.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Listener, connect, type Connection, type Security } from '../lib/net/index.js';
import type { Message, Standing } from '../lib/protocol/index.js';
import { makeBenchTls } from './tls-files.js';
import { percentile } from './stats.js';

export interface HandshakeOptions {
  /** Connections measured per variant (after `warmup` unmeasured ones each). */
  connections: number;
  warmup: number;
  /** Connections per turn of a variant. */
  block: number;
  /** Requests (each answered by a reply) per variant on an open connection, in turns of `messageBlock`, `inFlight` at a time. */
  messages: number;
  messageBlock: number;
  inFlight: number;
  log: (line: string) => void;
}

export interface HandshakeRow {
  variant: string;
  tls: boolean;
  handshake: boolean;
  n: number;
  /** Milliseconds from `connect` to the connection being usable (TLS and handshake done). */
  open: { p50: number; p90: number; p99: number; mean: number };
  /** Milliseconds from `connect` to the echo of the first message. */
  firstReply: { p50: number; p90: number; p99: number; mean: number };
  /** CPU (user + system) of this process per connection, both ends, µs. */
  cpuUs: number;
  /** Connections opened and closed per second, one at a time. */
  perSecond: number;
}

export interface HandshakeResult {
  tls: { measured: boolean; why?: string };
  rows: HandshakeRow[];
  /** A request and its reply on an open connection: CPU (both ends) and wall time per pair, µs. */
  messages: Array<{ variant: string; n: number; cpuUs: number; wallUs: number }>;
  inFlight: number;
}

interface Variant {
  name: string;
  tls: boolean;
  listener: Security;
  dialer: Security;
  standing?: Standing;
}

const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
};

export async function runHandshake(o: HandshakeOptions): Promise<HandshakeResult> {
  const member = randomBytes(32);
  const files = makeBenchTls();
  if (!files.files) o.log(`handshake: TLS variants skipped: ${files.why}`);
  const variants: Variant[] = [
    { name: 'plain TCP, no secret', tls: false, listener: { secrets: {} }, dialer: { secrets: {} } },
    { name: 'plain TCP, member proves the secret', tls: false, listener: { secrets: { member } }, dialer: { secrets: { member } }, standing: 'member' },
    { name: 'plain TCP, client without secret (listener holds one)', tls: false, listener: { secrets: { member } }, dialer: { secrets: {} }, standing: 'client' },
  ];
  if (files.files) {
    const cert = readFileSync(files.files.cert);
    const key = readFileSync(files.files.key);
    const ca = readFileSync(files.files.ca);
    variants.push(
      { name: 'TLS 1.3, no secret', tls: true, listener: { secrets: {}, tls: { cert, key, ca } }, dialer: { secrets: {}, tls: { ca } } },
      { name: 'TLS 1.3, member proves the secret', tls: true, listener: { secrets: { member }, tls: { cert, key, ca } }, dialer: { secrets: { member }, tls: { ca } }, standing: 'member' },
    );
  }
  files.remove();
  const listeners: Listener[] = [];
  try {
    const addrs: string[] = [];
    for (const v of variants) {
      const l = new Listener({
        me: 'L',
        host: '127.0.0.1',
        port: 0,
        security: v.listener,
        // Echo the first message; answer each later request with a reply (the per-message test).
        identify: (conn: Connection, first: Message) => {
          conn.send(first);
          return (msg: Message) => {
            if (msg.type === 'request') conn.send({ type: 'reply', client: msg.client, server: 'L', num: msg.num, result: String(msg.num) });
          };
        },
      });
      await l.listen();
      listeners.push(l);
      addrs.push(l.address);
    }
    const samples = variants.map(() => ({ open: [] as number[], reply: [] as number[], cpu: 0, wall: 0, n: 0 }));
    const one = async (i: number, measure: boolean) => {
      const v = variants[i]!;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const conn = await connect(addrs[i]!, { me: 'D', security: v.dialer, standing: v.standing, timeoutMs: 5000 });
      const t1 = performance.now();
      const echoed = new Promise<void>((resolve, reject) => {
        conn.once('message', () => resolve());
        conn.once('close', () => reject(new Error(`${v.name}: closed before the echo`)));
      });
      conn.send({ type: 'client', client: 'D' });
      await echoed;
      const t2 = performance.now();
      const closed = new Promise((r) => conn.socket.once('close', r));
      conn.destroy();
      await closed;
      if (!measure) return;
      const c = process.cpuUsage(cpu0);
      const s = samples[i]!;
      s.open.push(t1 - t0);
      s.reply.push(t2 - t0);
      s.cpu += c.user + c.system;
      s.wall += performance.now() - t0;
      s.n++;
    };
    for (let i = 0; i < variants.length; i++) for (let k = 0; k < o.warmup; k++) await one(i, false);
    for (let done = 0; done < o.connections; done += o.block) {
      for (let i = 0; i < variants.length; i++) {
        for (let k = 0; k < Math.min(o.block, o.connections - done); k++) await one(i, true);
      }
    }
    const rows = variants.map((v, i) => {
      const s = samples[i]!;
      return { variant: v.name, tls: v.tls, handshake: !!v.standing && !!v.dialer.secrets.member, n: s.n, open: summary(s.open), firstReply: summary(s.reply), cpuUs: s.cpu / s.n, perSecond: (s.n / s.wall) * 1000 };
    });

    // Per message, on a connection that is open (and authenticated) already: what the listener's
    // checks and TLS's encryption add to each request and reply. Bursts of `inFlight` requests.
    const open = await Promise.all(variants.map((v, i) => connect(addrs[i]!, { me: 'D', security: v.dialer, standing: v.standing, timeoutMs: 5000 })));
    const per = variants.map(() => ({ cpu: 0, wall: 0, n: 0 }));
    try {
      for (const c of open) {
        const echoed = new Promise((r) => c.once('message', r));
        c.send({ type: 'client', client: 'D' });
        await echoed;
      }
      let num = 0;
      const burst = (c: Connection) =>
        new Promise<void>((resolve) => {
          let left = o.inFlight;
          const onReply = () => {
            if (--left > 0) return;
            c.off('message', onReply);
            resolve();
          };
          c.on('message', onReply);
          for (let k = 0; k < o.inFlight; k++) c.send({ type: 'request', client: 'D', server: 'L', num: ++num, payload: 'add 1' });
        });
      const block = async (i: number, measure: boolean) => {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        for (let b = 0; b < o.messageBlock / o.inFlight; b++) await burst(open[i]!);
        if (!measure) return;
        const c = process.cpuUsage(cpu0);
        per[i]!.cpu += c.user + c.system;
        per[i]!.wall += performance.now() - t0;
        per[i]!.n += o.messageBlock;
      };
      for (let i = 0; i < variants.length; i++) await block(i, false);
      for (let done = 0; done < o.messages; done += o.messageBlock) for (let i = 0; i < variants.length; i++) await block(i, true);
    } finally {
      for (const c of open) c.destroy();
    }
    const messages = variants.map((v, i) => ({ variant: v.name, n: per[i]!.n, cpuUs: per[i]!.cpu / per[i]!.n, wallUs: (per[i]!.wall * 1000) / per[i]!.n }));
    return { tls: { measured: !!files.files, why: files.files ? undefined : files.why }, rows, messages, inFlight: o.inFlight };
  } finally {
    for (const l of listeners) await l.close();
  }
}
