/** Secret and TLS files: what is read, what is refused with one clear message, and what is warned about. */
import t from 'tap';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecret, ensureSecret, loadSecurity, readSecret } from '../../lib/config/secrets.js';
import { ConfigError } from '../../lib/errors.js';

t.test('createSecret writes 64 hex digits readable only by the owner, and never overwrites', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'deep', 'secret');
  createSecret(file);
  t.match(readFileSync(file, 'utf8'), /^[0-9a-f]{64}\n$/);
  t.equal(statSync(file).mode & 0o777, 0o600);
  const before = readFileSync(file, 'utf8');
  t.throws(() => createSecret(file), /already exists; not overwriting it/);
  t.equal(readFileSync(file, 'utf8'), before);
  t.same(ensureSecret(file), Buffer.from(before.trim()), 'ensureSecret reads an existing one');
});

t.test('readSecret trims trailing white space and refuses short or missing files', async (t) => {
  const dir = t.testdir({ ok: 'correct horse battery staple\r\n', short: 'abc\n', empty: '' });
  t.equal(readSecret(join(dir, 'ok')).toString(), 'correct horse battery staple');
  t.throws(() => readSecret(join(dir, 'short')), { name: 'ConfigError', message: /too short \(3 bytes; at least 16\): make one with {2}ftkit secret / });
  t.throws(() => readSecret(join(dir, 'empty')), /too short \(0 bytes/);
  t.throws(() => readSecret(join(dir, 'missing')), /secret file .*missing: cannot read: ENOENT/);
});

t.test('loadSecurity: secrets, warnings for files others may read, and TLS files as each process needs them', async (t) => {
  const dir = t.testdir({ cert: 'CERT', key: 'KEY', ca: 'CA' });
  const secret = join(dir, 's');
  writeFileSync(secret, 'x'.repeat(32));
  chmodSync(secret, 0o644);
  const { security, warnings } = loadSecurity({ secretFile: secret }, { listens: true, dials: true });
  t.equal(security.secrets.member?.toString(), 'x'.repeat(32));
  t.equal(security.tls, undefined);
  t.match(warnings, [/readable by other users.*chmod 600/]);
  chmodSync(secret, 0o600);
  t.same(loadSecurity({ secretFile: secret }, { listens: true, dials: true }).warnings, []);
  t.throws(() => loadSecurity({ adminSecretFile: secret }, { listens: false, dials: true }), /--admin-secret-file needs --secret-file too/);
  const tls = { tlsCert: join(dir, 'cert'), tlsKey: join(dir, 'key'), tlsCa: join(dir, 'ca') };
  t.same(loadSecurity(tls, { listens: true, dials: true }).security.tls, { cert: Buffer.from('CERT'), key: Buffer.from('KEY'), ca: Buffer.from('CA') });
  t.same(loadSecurity({ tlsCa: tls.tlsCa }, { listens: false, dials: true }).security.tls, { ca: Buffer.from('CA') }, 'a client needs only the CA');
  t.throws(() => loadSecurity({ tlsCa: tls.tlsCa }, { listens: true, dials: true }), /TLS needs --tls-cert and --tls-key here/);
  t.throws(() => loadSecurity({ tlsCert: tls.tlsCert, tlsKey: tls.tlsKey }, { listens: true, dials: true }), /TLS needs --tls-ca here/);
  t.throws(() => loadSecurity({ ...tls, tlsKey: join(dir, 'nope') }, { listens: true, dials: true }), ConfigError);
});
