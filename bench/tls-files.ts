/**
 * A throwaway certificate authority and one component certificate for the benchmarks' TLS
 * runs, made with the `openssl` command line (EC P-256, subjectAltName IP:127.0.0.1, valid
 * for one day) in a fresh temp folder. `remove()` deletes the folder. Without `openssl` (or
 * when it fails) the result says why, and the caller skips what needs TLS.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SystemTls } from '../harness/launch/system.js';

export type BenchTls = { files: SystemTls; dir: string; remove: () => void } | { files?: undefined; why: string; remove: () => void };

export function makeBenchTls(): BenchTls {
  const dir = mkdtempSync(join(tmpdir(), 'ftkit-bench-tls-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    openssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=ftkit bench CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    openssl('req', ...ec, '-keyout', f('key.pem'), '-out', f('req.csr'), '-subj', '/CN=127.0.0.1');
    writeFileSync(f('ext.cnf'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1\n');
    openssl('x509', '-req', '-in', f('req.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-set_serial', '1', '-days', '1', '-out', f('cert.pem'), '-extfile', f('ext.cnf'));
    return { files: { cert: f('cert.pem'), key: f('key.pem'), ca: f('ca.pem') }, dir, remove };
  } catch (err) {
    remove();
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    const why = e.code === 'ENOENT' ? 'openssl is not installed (no `openssl` on PATH)' : `openssl failed: ${(e.stderr?.toString().trim().split('\n').pop() ?? e.message).slice(0, 200)}`;
    return { why, remove: () => undefined };
  }
}
