/** Raw-socket helpers for tests: talk to a listener as `nc` (or `openssl s_client`) would. */
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { decode, encode, type MessageOf } from '../../lib/protocol/index.js';
import { proof } from '../../lib/net/auth.js';

export interface RawPeer {
  socket: net.Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves when the received text matches, rejects after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  send(text: string): void;
  end(): void;
}

/** Connect in plain text, or over TLS when `options.ca` (the PEM of the CA to check the listener's certificate with) is given. */
export async function rawConnect(port: number, host = '127.0.0.1', options: { ca?: Buffer } = {}): Promise<RawPeer> {
  const socket = options.ca ? tls.connect({ port, host, ca: options.ca }) : net.connect({ port, host });
  await once(socket, options.ca ? 'secureConnect' : 'connect');
  let text = '';
  const waiters: Array<() => void> = [];
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    text += d;
    for (const w of waiters.splice(0)) w();
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return {
    socket,
    received: () => text,
    closed,
    send: (s) => void socket.write(s),
    end: () => socket.destroy(),
    waitFor(pattern, ms = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in ${JSON.stringify(text)}`)), ms);
        const check = () => {
          const m = pattern.exec(text);
          if (m) {
            clearTimeout(timer);
            resolve(m[0]);
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

/**
 * A raw connection that has proved the deployment secret as `name` (a member, as far as the
 * listener can tell): what an insider holding the secret, but not named by the RM, can do.
 */
export async function memberConnect(port: number, secret: Buffer, name: string): Promise<RawPeer> {
  const peer = await rawConnect(port);
  const nonce = randomBytes(16).toString('hex');
  peer.send(encode({ type: 'authHello', from: name, to: '-', standing: 'member', nonce }));
  const challenge = decode(await peer.waitFor(/<[^<>]*, auth_challenge>/)) as MessageOf<'authChallenge'>;
  const input = { standing: 'member' as const, dialer: name, listener: challenge.from, dialerNonce: nonce, listenerNonce: challenge.nonce, binding: '' };
  peer.send(encode({ type: 'authProof', from: name, to: challenge.from, proof: proof(secret, { ...input, side: 'dialer' }) }));
  await peer.waitFor(/<[^<>]*, member, auth_ok>/);
  return peer;
}
