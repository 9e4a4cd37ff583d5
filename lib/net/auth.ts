/**
 * Who may say what on a link, and how a peer proves it (docs/PROTOCOL.md §5a).
 *
 * A deployment shares a secret; an optional admin secret and client secret split off the
 * powers of administrators and of clients. A dialer that holds one proves it in a
 * challenge–response before any other message: each side sends a fresh nonce and an
 * HMAC-SHA256 over both nonces, both names, which side it is and what standing is claimed
 * (and, over TLS, keying material exported from the session, so a proof cannot be relayed
 * onto another connection). Proofs are compared in constant time. A replayed handshake
 * fails: the listener's nonce is new on every connection.
 *
 * Without any proof a connection is a client: it may discover replicas and send requests.
 * A component started without a deployment secret runs open, as before: any peer may act
 * as a member.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { wireKind, type MessageType, type Standing } from '../protocol/index.js';

/** The secrets a process holds, read from files (lib/config/secrets.ts). */
export interface Secrets {
  /** The deployment secret: every component holds it. */
  member?: Buffer;
  /** Administration (`ftkit ctl`); without it the deployment secret administers. */
  admin?: Buffer;
  /** Clients; without it clients need no secret at all. */
  client?: Buffer;
}

export interface TlsFiles {
  /** PEM certificate and key this process serves with (listeners). */
  cert?: Buffer;
  key?: Buffer;
  /** PEM certificate authority that signed every component's certificate (dialers check it). */
  ca?: Buffer;
}

/** What a process needs to open and accept links: its secrets and, optionally, TLS. */
export interface Security {
  secrets: Secrets;
  tls?: TlsFiles;
}

export const NO_SECURITY: Security = { secrets: {} };

/** How long a peer that said `auth_hello` has to send its proof. */
export const HANDSHAKE_TIMEOUT_MS = 5000;
/** Frames a peer may send before it has said who it is (an `auth_hello`, a `client`, a first `request`). */
export const UNTRUSTED_MAX_FRAME_BYTES = 8 * 1024;

const NONCE_BYTES = 16;
const VERSION = 'ftkit-auth-v1';

/** What a connection has proven; `anonymous`: nothing (a client, if the deployment lets clients in without a secret). */
export type Proven = Standing | 'anonymous';

/** Messages a client may send: discover the replicas, send requests, watch the state, report its metrics to the RM (and say that an answer was bad). */
const CLIENT_TYPES: ReadonlySet<MessageType> = new Set(['client', 'request', 'subscribe', 'metrics', 'error']);
/** Messages a client that proved the client secret may send besides: ftkit sync's report of its backlog. */
const PROVEN_CLIENT_TYPES: ReadonlySet<MessageType> = new Set(['backlog']);
/** Messages only an administrator may send. */
const ADMIN_TYPES: ReadonlySet<MessageType> = new Set(['status', 'set', 'inject']);

/** Whether a listener holding `secrets` lets a connection of `standing` send a message of `type`. */
export function permits(secrets: Secrets, standing: Proven, type: MessageType): boolean {
  if (!secrets.member) return standing === 'anonymous' ? !secrets.client || CLIENT_TYPES.has(type) : true;
  switch (standing) {
    case 'anonymous':
      return !secrets.client && CLIENT_TYPES.has(type);
    case 'client':
      return CLIENT_TYPES.has(type) || PROVEN_CLIENT_TYPES.has(type);
    case 'admin':
      return CLIENT_TYPES.has(type) || ADMIN_TYPES.has(type);
    case 'member':
      return !ADMIN_TYPES.has(type) || !secrets.admin;
  }
}

/** Why a message is not permitted, in words for the peer and the trace. */
export function refusal(secrets: Secrets, standing: Proven, type: MessageType): string {
  // Named as on the wire (`register`, not the catalog's `serverRegister`).
  const kind = wireKind(type);
  if (standing === 'anonymous' && secrets.client) return `this deployment requires client authentication (--client-secret-file) before ${kind}`;
  if (ADMIN_TYPES.has(type)) return `${kind} needs the ${secrets.admin ? 'admin' : 'deployment'} secret (ftkit ctl --${secrets.admin ? 'admin-' : ''}secret-file)`;
  return `${kind} needs the deployment secret (--secret-file)${standing === 'anonymous' ? '' : `; this connection proved only ${standing}`}`;
}

/** The key that proves `standing`, if this process holds it. */
export function keyFor(secrets: Secrets, standing: Standing): Buffer | undefined {
  switch (standing) {
    case 'member':
      return secrets.member;
    case 'admin':
      return secrets.admin ?? secrets.member;
    case 'client':
      return secrets.client;
  }
}

export function freshNonce(): string {
  return randomBytes(NONCE_BYTES).toString('hex');
}

/** Keying material both ends of a TLS session share and nobody else has (empty in plain text). */
export function channelBinding(socket: Socket): string {
  return socket instanceof TLSSocket ? socket.exportKeyingMaterial(32, 'EXPORTER-ftkit-auth', Buffer.alloc(0)).toString('hex') : '';
}

export interface ProofInput {
  side: 'dialer' | 'listener';
  standing: Standing;
  dialer: string;
  listener: string;
  dialerNonce: string;
  listenerNonce: string;
  binding: string;
}

/** HMAC-SHA256 over everything the handshake settles, one field per line. */
export function proof(key: Buffer, p: ProofInput): string {
  const text = [VERSION, p.side, p.standing, p.dialer, p.listener, p.dialerNonce, p.listenerNonce, p.binding].join('\n');
  return createHmac('sha256', key).update(text).digest('hex');
}

/** Compare a received proof with the expected one in constant time. */
export function proofMatches(expected: string, received: string): boolean {
  const a = Buffer.from(expected, 'hex');
  const b = Buffer.from(received, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
