/**
 * Secret and TLS files: read, checked, and turned into the Security a component runs with.
 * Secrets live in files (never in a command line, where `ps` shows them); a file holds one
 * line of at least 16 bytes, e.g. 64 hex digits from `ftkit secret FILE`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Secrets, Security, TlsFiles } from '../net/auth.js';
import { ConfigError } from '../errors.js';

export const MIN_SECRET_BYTES = 16;
/** Where `npm start` and the demo keep the secret they make: in the user's ftkit state folder. */
export const SECRET_FILE_NAME = 'secret';

/** The files a component is started with (options of the same names). */
export interface SecurityFiles {
  secretFile?: string;
  adminSecretFile?: string;
  clientSecretFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

/** What a process does with TLS: serve it (listeners need a certificate), dial it (dialers need the CA). */
export interface TlsUse {
  listens: boolean;
  dials: boolean;
}

function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${what} ${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** One secret: the file's bytes without trailing white space; at least MIN_SECRET_BYTES. */
export function readSecret(file: string, what = 'secret file'): Buffer {
  const bytes = Buffer.from(read(file, what).toString('utf8').replace(/\s+$/, ''), 'utf8');
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new ConfigError(`${what} ${file}: too short (${bytes.length} bytes; at least ${MIN_SECRET_BYTES}): make one with  ftkit secret ${file}`);
  }
  return bytes;
}

/** Files other users may read: worth a warning, since whoever reads the secret is a member. */
export function readableByOthers(file: string): boolean {
  try {
    return (statSync(file).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}

/** Write a new random secret (32 bytes as 64 hex digits) readable only by its owner; never overwrites. */
export function createSecret(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'EEXIST' ? `${file} already exists; not overwriting it` : `${file}: cannot write: ${code ?? (err as Error).message}`, { cause: err });
  }
}

/** The secret in `file`, made first if there is none (npm start, the demo, test systems). */
export function ensureSecret(file: string): Buffer {
  try {
    createSecret(file);
  } catch (err) {
    if (!/already exists/.test((err as Error).message)) throw err;
  }
  return readSecret(file);
}

/**
 * The Security a process runs with, from its option values. TLS is on when any TLS file is
 * given; then a process that listens needs a certificate and key, and one that dials needs the CA.
 */
export function loadSecurity(files: SecurityFiles, use: TlsUse): { security: Security; warnings: string[] } {
  const secrets: Secrets = {};
  const warnings: string[] = [];
  const secret = (file: string | undefined, what: string): Buffer | undefined => {
    if (!file) return undefined;
    const bytes = readSecret(file, what);
    if (readableByOthers(file)) warnings.push(`${what} ${file} is readable by other users: whoever reads it can act as a member (chmod 600 ${file})`);
    return bytes;
  };
  secrets.member = secret(files.secretFile, 'secret file');
  secrets.admin = secret(files.adminSecretFile, 'admin secret file');
  secrets.client = secret(files.clientSecretFile, 'client secret file');
  if (secrets.admin && !secrets.member) throw new ConfigError('--admin-secret-file needs --secret-file too: the admin secret only splits administration off the deployment secret');
  let tls: TlsFiles | undefined;
  if (files.tlsCert || files.tlsKey || files.tlsCa) {
    tls = {};
    if (use.listens) {
      if (!files.tlsCert || !files.tlsKey) throw new ConfigError('TLS needs --tls-cert and --tls-key here (this component listens), and --tls-ca');
      tls.cert = read(files.tlsCert, 'TLS certificate');
      tls.key = read(files.tlsKey, 'TLS key');
    }
    if (use.dials) {
      if (!files.tlsCa) throw new ConfigError('TLS needs --tls-ca here (this component connects to others and checks their certificates)');
      tls.ca = read(files.tlsCa, 'TLS CA certificate');
    }
  }
  return { security: { secrets, tls }, warnings };
}
