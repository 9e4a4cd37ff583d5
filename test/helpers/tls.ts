/**
 * Throwaway TLS files for tests: a CA and one component certificate signed by it, made with
 * the `openssl` command line in a fresh temp folder that the test's teardown removes.
 * EC P-256 keys, valid for two days: quick to make, and no test runs longer.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsFixture {
  /** The folder that holds the files (removed in teardown). */
  dir: string;
  /** PEM files: the CA's certificate, and the component certificate it signed with its key. */
  ca: string;
  cert: string;
  key: string;
}

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the TLS tests need the openssl command line, which is not installed here: apt-get install openssl', { cause: err });
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString().trim() ?? e.message}`, { cause: err });
  }
}

/** A CA and a certificate for 127.0.0.1 and localhost signed by it; the folder goes in `t`'s teardown. */
export function makeTls(t: { teardown(fn: () => void): void }): TlsFixture {
  const dir = mkdtempSync(join(tmpdir(), 'ftkit-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const p256 = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl(dir, ['genpkey', ...p256, '-out', 'ca.key']);
  openssl(dir, ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=ftkit test CA', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', '-out', 'ca.pem']);
  openssl(dir, ['genpkey', ...p256, '-out', 'component.key']);
  openssl(dir, ['req', '-new', '-key', 'component.key', '-subj', '/CN=ftkit component', '-out', 'component.csr']);
  writeFileSync(join(dir, 'component.ext'), 'subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n');
  openssl(dir, ['x509', '-req', '-in', 'component.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'component.ext', '-out', 'component.pem']);
  return { dir, ca: join(dir, 'ca.pem'), cert: join(dir, 'component.pem'), key: join(dir, 'component.key') };
}
