import t, { type Test } from 'tap';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { loadIni, keyToCamel } from '../../lib/config/ini.js';
import { ConfigError, ValueError } from '../../lib/errors.js';
import {
  CLIENT_OPTIONS,
  CTL_OPTIONS,
  GFD_OPTIONS,
  LFD_OPTIONS,
  RM_OPTIONS,
  SERVER_OPTIONS,
  type OptionSpec,
} from '../../lib/config/options.js';
import * as v from '../../lib/config/values.js';

const shipped = (file: string) => fileURLToPath(new URL(`../../config/${file}`, import.meta.url));

/**
 * Run `fn`, which must throw a ConfigError (and nothing else). Returns the error, or
 * undefined after recording the failure, so callers check the message only when there is one.
 */
function configError(t: Test, fn: () => unknown, what: string): ConfigError | undefined {
  try {
    const got = fn();
    t.fail(`${what}: expected a ConfigError, got ${JSON.stringify(got)}`);
  } catch (err) {
    t.type(err, ConfigError, `${what}: throws ConfigError`);
    if (err instanceof ConfigError) return err;
  }
  return undefined;
}

/** Write `text` as an .ini file in the test's own directory (t.testdir, made once per test) and return its path. */
const dirs = new WeakMap<Test, string>();
let fileNo = 0;
function iniFile(t: Test, text: string | Buffer, fileName = `f${++fileNo}.ini`): string {
  let dir = dirs.get(t);
  if (!dir) dirs.set(t, (dir = t.testdir({})));
  const file = join(dir, fileName);
  writeFileSync(file, text);
  return file;
}

t.test('shipped client files local/c1/c2/c3.ini load with CLIENT_OPTIONS; each names itself and numbers its requests', async (t) => {
  const expected: Record<string, Record<string, unknown>> = {
    'local/c1.ini': { name: 'C1', rm: '127.0.0.1:7000', message: 'hello_from_C1_{n}', interval: 1, count: 0 },
    'local/c2.ini': { name: 'C2', rm: '127.0.0.1:7000', message: 'hello_from_C2_{n}', interval: 1.5, count: 0 },
    'local/c3.ini': { name: 'C3', rm: '127.0.0.1:7000', message: 'hello_from_C3_{n}', interval: 2, count: 0 },
  };
  for (const [file, want] of Object.entries(expected)) {
    t.strictSame(loadIni(shipped(file), CLIENT_OPTIONS), want, file);
    t.match(readFileSync(shipped(file), 'utf8'), new RegExp(`^; .*ftkit client --config config/${file}$`, 'm'), `${file}: its comment names ${file}`);
  }
});

t.test('shipped local/deployment.ini: one machine, 127.0.0.1, ports below 32768, no secret needed', async (t) => {
  const file = shipped('local/deployment.ini');
  const lfd = (n: number, first: number) => ['LFD' + n, LFD_OPTIONS, { host: '127.0.0.1', port: 7100 + n, gfd: '127.0.0.1:7001', heartbeatFreq: 1, replicaPorts: { first, last: first + 29 } }] as const;
  const server = (n: number) => ['S' + n, SERVER_OPTIONS, { host: '127.0.0.1', port: 7200 + n, lfd: `127.0.0.1:${7100 + n}`, app: 'status', checkpointFreq: 5 }] as const;
  const client = (n: number) => ['C' + n, CLIENT_OPTIONS, { rm: '127.0.0.1:7000', message: `hello_from_C${n}_{n}`, interval: 1 }] as const;
  const sections: (readonly [string, OptionSpec[], Record<string, unknown>])[] = [
    ['rm', RM_OPTIONS, { host: '127.0.0.1', port: 7000, mode: 'passive' }],
    ['gfd', GFD_OPTIONS, { host: '127.0.0.1', port: 7001, rm: '127.0.0.1:7000', heartbeatFreq: 1 }],
    lfd(1, 7210), lfd(2, 7240), lfd(3, 7270), server(1), server(2), server(3), client(1), client(2), client(3),
  ];
  for (const [section, specs, want] of sections) t.strictSame(loadIni(file, specs, section), want, `[${section}]`);
  t.strictSame(loadIni(file, CTL_OPTIONS, 'ctl', true), { rm: '127.0.0.1:7000' }, '[ctl]');
});

t.test('shipped deployment.ini: every section loads with its component specs', async (t) => {
  const file = shipped('deployment.ini');
  const sections: [string, OptionSpec[], Record<string, unknown>][] = [
    ['rm', RM_OPTIONS, { host: '10.0.0.4', port: 7000, mode: 'passive' }],
    ['gfd', GFD_OPTIONS, { host: '10.0.0.4', port: 7001, rm: '10.0.0.4:7000', heartbeatFreq: 1 }],
    ['C1', CLIENT_OPTIONS, { rm: '10.0.0.4:7000', message: 'hello_from_C1_{n}', interval: 1 }],
    ['C2', CLIENT_OPTIONS, { rm: '10.0.0.4:7000', message: 'hello_from_C2_{n}', interval: 1 }],
    ['C3', CLIENT_OPTIONS, { rm: '10.0.0.4:7000', message: 'hello_from_C3_{n}', interval: 1 }],
    ['LFD1', LFD_OPTIONS, { host: '10.0.0.1', port: 7101, gfd: '10.0.0.4:7001', heartbeatFreq: 1, replicaPorts: { first: 7202, last: 7299 } }],
    ['LFD2', LFD_OPTIONS, { host: '10.0.0.2', port: 7101, gfd: '10.0.0.4:7001', heartbeatFreq: 1, replicaPorts: { first: 7202, last: 7299 } }],
    ['LFD3', LFD_OPTIONS, { host: '10.0.0.3', port: 7101, gfd: '10.0.0.4:7001', heartbeatFreq: 1, replicaPorts: { first: 7202, last: 7299 } }],
    ['S1', SERVER_OPTIONS, { host: '10.0.0.1', port: 7201, lfd: '10.0.0.1:7101', app: 'status', checkpointFreq: 5 }],
    ['S2', SERVER_OPTIONS, { host: '10.0.0.2', port: 7201, lfd: '10.0.0.2:7101', app: 'status', checkpointFreq: 5 }],
    ['S3', SERVER_OPTIONS, { host: '10.0.0.3', port: 7201, lfd: '10.0.0.3:7101', app: 'status', checkpointFreq: 5 }],
  ];
  const secretFile = shipped('ftkit.secret');
  // clients take no deployment secret: the top-level secret_file is not theirs
  for (const [section, specs, want] of sections) t.strictSame(loadIni(file, specs, section), specs === CLIENT_OPTIONS ? want : { secretFile, ...want }, `[${section}]`);
  t.strictSame(loadIni(file, CTL_OPTIONS, 'ctl', true), { secretFile, rm: '10.0.0.4:7000' }, '[ctl]');
});

t.test('key styles heartbeat_freq, heartbeat-freq and heartbeatFreq name the same option', async (t) => {
  for (const key of ['heartbeat_freq', 'heartbeat-freq', 'heartbeatFreq']) {
    const file = iniFile(t, `[LFD1]\n${key} = 0.25\n`);
    t.strictSame(loadIni(file, LFD_OPTIONS, 'LFD1'), { heartbeatFreq: 0.25 }, key);
    const top = iniFile(t, `${key} = 3\n`);
    t.strictSame(loadIni(top, GFD_OPTIONS), { heartbeatFreq: 3 }, `${key} at top level`);
  }
  t.equal(keyToCamel('checkpoint_freq'), 'checkpointFreq');
  t.equal(keyToCamel('restart-budget'), 'restartBudget');
  t.equal(keyToCamel('give_up'), 'giveUp');
  t.equal(keyToCamel('port'), 'port');
});

t.test('only the keys the file sets are returned (no defaults filled in)', async (t) => {
  const file = iniFile(t, '; only a comment\n\n[S1]\nport = 0\n');
  t.strictSame(loadIni(file, SERVER_OPTIONS, 'S1'), { port: 0 });
  t.strictSame(loadIni(file, SERVER_OPTIONS), {}, 'top level of a file with only sections is empty');
});

t.test('bool keys take true/false as well as yes/no/on/off/1/0', async (t) => {
  // `ini` turns the bare words true/false into booleans; the loader must still accept them
  for (const [text, want] of [
    ['auto_restart = false', false],
    ['auto_restart = true', true],
    ['auto_restart = off', false],
    ['auto_restart = yes', true],
  ] as const) {
    const file = iniFile(t, `[rm]\n${text}\n`);
    let got: unknown;
    try {
      got = loadIni(file, RM_OPTIONS, 'rm');
    } catch (err) {
      got = `threw ${(err as Error).message}`;
    }
    t.strictSame(got, { autoRestart: want }, text);
  }
  const client = iniFile(t, 'interactive = true\n');
  let got: unknown;
  try {
    got = loadIni(client, CLIENT_OPTIONS);
  } catch (err) {
    got = `threw ${(err as Error).message}`;
  }
  t.strictSame(got, { interactive: true }, 'interactive = true');
});

t.test('errors name the file, the section, the key and the reason', async (t) => {
  const cases: { what: string; text: string; specs: OptionSpec[]; section?: string; key: string; reason: RegExp }[] = [
    { what: 'unknown key', text: '[S1]\nport = 7201\ncolour = red\n', specs: SERVER_OPTIONS, section: 'S1', key: 'colour', reason: /unknown key/ },
    { what: 'bad port', text: '[S1]\nport = 70000\n', specs: SERVER_OPTIONS, section: 'S1', key: 'port', reason: /port must be an integer 0.65535, got "70000"/ },
    { what: 'seconds: abc', text: '[LFD1]\nheartbeat_freq = abc\n', specs: LFD_OPTIONS, section: 'LFD1', key: 'heartbeat_freq', reason: /expected seconds.*got "abc"/ },
    { what: 'seconds: 0', text: '[LFD1]\nheartbeat-freq = 0\n', specs: LFD_OPTIONS, section: 'LFD1', key: 'heartbeat-freq', reason: /expected seconds, a number > 0.*got "0"/ },
    { what: 'seconds: -1', text: '[S2]\ncheckpoint_freq = -1\n', specs: SERVER_OPTIONS, section: 'S2', key: 'checkpoint_freq', reason: /expected seconds, a number > 0.*got "-1"/ },
    { what: 'bad enum', text: '[rm]\nmode = both\n', specs: RM_OPTIONS, section: 'rm', key: 'mode', reason: /expected one of active, passive, got "both"/ },
    { what: 'duplicated key', text: '[S1]\nport = 7201\nport = 7202\n', specs: SERVER_OPTIONS, section: 'S1', key: 'port', reason: /more than once|duplicate/i },
    { what: 'duplicated key at top level', text: 'name = C1\ninterval = 1\ninterval = 2\n', specs: CLIENT_OPTIONS, key: 'interval', reason: /more than once|duplicate/i },
    { what: 'unknown key at top level', text: 'name = C1\nspeed = 3\n', specs: CLIENT_OPTIONS, key: 'speed', reason: /unknown key/ },
    { what: 'bad count at top level', text: 'count = -3\n', specs: CLIENT_OPTIONS, key: 'count', reason: /expected a whole number.*got "-3"/ },
  ];
  for (const c of cases) {
    const file = iniFile(t, c.text, `${c.what.replace(/\W+/g, '-')}.ini`);
    const err = configError(t, () => loadIni(file, c.specs, c.section), c.what);
    if (!err) continue;
    t.ok(err.message.includes(file), `${c.what}: names the file (${err.message})`);
    if (c.section) t.ok(err.message.includes(`[${c.section}]`), `${c.what}: names the section`);
    t.ok(err.message.includes(`"${c.key}"`), `${c.what}: names the key`);
    t.match(err.message, c.reason, `${c.what}: gives the reason`);
  }
});

t.test('a malformed line is a syntax error naming the file and the line', async (t) => {
  const cases: { what: string; text: string; line: number; shows: string }[] = [
    { what: 'an unclosed section header', text: '; comment\n\n[broken\nport = 7201\n', line: 3, shows: '"[broken"' },
    { what: 'a header with spaces in its name', text: '[S1]\nport = 7201\n[my server]\n', line: 3, shows: '"[my server]"' },
    { what: 'text after a header', text: '[S1] port = 7201\n', line: 1, shows: '"[S1] port = 7201"' },
    { what: 'a line without a key', text: '[S1]\n= 7201\n', line: 2, shows: '"= 7201"' },
    { what: 'a sentence', text: '[S1]\nport = 7201\nthis is not a setting\n', line: 3, shows: '"this is not a setting"' },
  ];
  for (const c of cases) {
    const file = iniFile(t, c.text);
    const err = configError(t, () => loadIni(file, SERVER_OPTIONS, 'S1'), c.what);
    t.match(err?.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${c.line}: syntax error: `), `${c.what}: file and line ${c.line}`);
    t.ok(err?.message.includes(c.shows), `${c.what}: quotes the line (${err?.message})`);
  }
  const dup = configError(t, () => loadIni(iniFile(t, '[S1]\nport = 1\n\nport = 2\n'), SERVER_OPTIONS, 'S1'), 'a key given twice');
  t.match(dup?.message, /:4 \[S1\]: key "port": given more than once$/, 'a repeated key names the line of the repeat');
  // what the syntax allows: comments, blank lines, a key alone (true), spaces around names
  t.strictSame(loadIni(iniFile(t, '# c\n; c\n[ S1 ]\n  port=7201  \n'), SERVER_OPTIONS, 'S1'), { port: 7201 });
  t.strictSame(loadIni(iniFile(t, 'interactive\n'), CLIENT_OPTIONS), { interactive: true });
});

t.test('unknown key: the message lists the known keys', async (t) => {
  const file = iniFile(t, '[LFD1]\nheartbeat = 1\n');
  const err = configError(t, () => loadIni(file, LFD_OPTIONS, 'LFD1'), 'unknown key');
  t.match(err?.message, /known keys: .*heartbeat-freq/);
  t.notMatch(err?.message, /known keys: .*\bconfig\b/, 'command-line-only options are not offered as keys');
});

t.test('unknown key: every key the message offers is one the file may use', async (t) => {
  for (const [what, specs] of [
    ['rm', RM_OPTIONS],
    ['lfd', LFD_OPTIONS],
    ['client', CLIENT_OPTIONS],
  ] as const) {
    const file = iniFile(t, 'no_such_key = 1\n');
    const err = configError(t, () => loadIni(file, specs), `${what}: unknown key`);
    if (!err) continue;
    const listed = /known keys: (.*)\)$/.exec(err?.message)?.[1]?.split(', ') ?? [];
    t.equal(listed.length, specs.length, `${what}: one entry per option`);
    // writing exactly what the message offers must be accepted as a key
    const refused = listed.filter((key) => {
      const probe = iniFile(t, `${key} = 1\n`);
      try {
        loadIni(probe, specs);
      } catch (e) {
        return /unknown key/.test((e as Error).message);
      }
      return false;
    });
    t.strictSame(refused, [], `${what}: every offered key is accepted as a key (message: ${err?.message})`);
  }
});

t.test('command-line-only options (--config) are unknown keys in a file', async (t) => {
  const file = iniFile(t, 'config = other.ini\n');
  const err = configError(t, () => loadIni(file, [...SERVER_OPTIONS, { key: 'config', flag: '--config <file>', description: '', parse: v.text, ini: false }]), 'config key');
  t.match(err?.message, /key "config": unknown key/);
});

t.test('missing section: the message lists the sections the file has', async (t) => {
  const file = shipped('deployment.ini');
  const err = configError(t, () => loadIni(file, SERVER_OPTIONS, 'S4'), 'missing section');
  t.ok(err?.message.includes(file), 'names the file');
  t.match(err?.message, /no section \[S4\]/);
  t.match(err?.message, /sections: ctl, rm, gfd, C1, C2, C3, LFD1, S1, LFD2, S2, LFD3, S3/);

  const flat = iniFile(t, 'port = 1\n');
  const err2 = configError(t, () => loadIni(flat, SERVER_OPTIONS, 'S1'), 'file without sections');
  t.match(err2?.message, /no section \[S1\]/);
  t.ok(err2?.message.includes(flat), 'names the file');
});

t.test('a missing or unreadable file is a ConfigError naming the file', async (t) => {
  const dir = t.testdir({ 'a-directory.ini': {} });
  const missing = join(dir, 'nope.ini');
  const err = configError(t, () => loadIni(missing, SERVER_OPTIONS), 'missing file');
  t.ok(err?.message.includes(missing), 'names the file');
  t.match(err?.message, /cannot read: ENOENT/);

  const asDir = join(dir, 'a-directory.ini');
  const err2 = configError(t, () => loadIni(asDir, SERVER_OPTIONS, 'S1'), 'directory');
  t.ok(err2?.message.includes(asDir), 'names the file');
  t.match(err2?.message, /cannot read: EISDIR/);
});

t.test('binary garbage never raises anything but ConfigError', async (t) => {
  // a fixed non-text file first: a PNG header and some bytes that look like ini fragments
  const fixed = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d]),
    Buffer.from('\x00\xff[\xfe]\n=\x01port\x00=\xff\n[S1\n\xc3\x28 = \xa0\xa1\n'),
  ]);
  const fixedFile = iniFile(t, fixed, 'fixed.ini');
  for (const section of [undefined, 'S1']) {
    const err = configError(t, () => loadIni(fixedFile, SERVER_OPTIONS, section), `fixed garbage, section ${section}`);
    t.ok(err?.message.startsWith(fixedFile), 'names the file');
  }

  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 200; i++) files[`r${i}.ini`] = randomBytes(1 + ((i * 37) % 512));
  let bad = 0;
  for (const name of Object.keys(files)) {
    const file = iniFile(t, files[name]!, name);
    for (const [specs, section] of [
      [SERVER_OPTIONS, undefined],
      [SERVER_OPTIONS, 'S1'],
      [CLIENT_OPTIONS, undefined],
      [RM_OPTIONS, 'rm'],
    ] as const) {
      try {
        loadIni(file, specs, section);
      } catch (err) {
        if (!(err instanceof ConfigError) || !err.message.startsWith(file)) {
          bad++;
          t.fail(`${name} (${files[name]!.toString('hex')}): ${String(err)}`);
        }
      }
    }
  }
  t.equal(bad, 0, 'every failure is a ConfigError naming the file');
});

t.test('values.ts parsers', async (t) => {
  const rejects = (t: Test, parser: v.Parser<unknown>, inputs: string[], reason: RegExp) => {
    for (const raw of inputs) {
      try {
        const got = parser(raw);
        t.fail(`${JSON.stringify(raw)} should be rejected, got ${JSON.stringify(got)}`);
      } catch (err) {
        t.type(err, ValueError, `${JSON.stringify(raw)} -> ValueError`);
        t.type(err, ConfigError, 'a ValueError is a ConfigError');
        t.match((err as Error).message, reason, `${JSON.stringify(raw)}: reason`);
      }
    }
  };

  t.test('port', async (t) => {
    t.equal(v.port('0'), 0);
    t.equal(v.port('7000'), 7000);
    t.equal(v.port('65535'), 65535);
    rejects(t, v.port, ['65536', '70000', '99999', '-1', 'abc', '', '1.5', '0x10', '80a'], /port must be an integer 0.65535/);
  });

  t.test('seconds', async (t) => {
    t.equal(v.seconds('0.05'), 0.05);
    t.equal(v.seconds('1'), 1);
    t.equal(v.seconds('2.5'), 2.5);
    t.equal(v.seconds('86400'), 86400);
    rejects(t, v.seconds, ['0', '-1', '-0.5', 'abc', '', ' ', 'Infinity', 'NaN', '86401'], /expected seconds, a number > 0/);
  });

  t.test('count and positiveCount', async (t) => {
    t.equal(v.count('0'), 0);
    t.equal(v.count('12'), 12);
    rejects(t, v.count, ['-1', '1.5', 'abc', '', 'x1'], /expected a whole number ≥ 0/);
    t.equal(v.positiveCount('1'), 1);
    rejects(t, v.positiveCount, ['0'], /expected a whole number ≥ 1/);
    rejects(t, v.positiveCount, ['-2', 'z'], /expected a whole number/);
  });

  t.test('address', async (t) => {
    t.equal(v.address('127.0.0.1:7000'), '127.0.0.1:7000');
    t.equal(v.address('localhost:0'), 'localhost:0');
    t.equal(v.address(' 10.0.0.1:7101 '), '10.0.0.1:7101', 'surrounding blanks are trimmed');
    rejects(t, v.address, ['nohostport'], /expected host:port/);
    rejects(t, v.address, [':7000'], /expected host:port/);
    rejects(t, v.address, ['host:70000', 'host:', 'host:abc'], /port must be 0.65535/);
  });

  t.test('name', async (t) => {
    for (const ok of ['S1', 'LFD1', 'C_3', 'a.b-c', 'x'.repeat(64)]) t.equal(v.name(ok), ok);
    rejects(t, v.name, ['S 1', '', 'x'.repeat(65), 'S/1', 'S1\n', 'S1:'], /expected a name of letters, digits/);
  });

  t.test('oneOf', async (t) => {
    const mode = v.oneOf('active', 'passive');
    t.equal(mode('active'), 'active');
    t.equal(mode('passive'), 'passive');
    rejects(t, mode, ['both', 'Active', '', ' active'], /expected one of active, passive, got/);
  });

  t.test('bool', async (t) => {
    for (const raw of ['true', 'yes', '1', 'on', 'TRUE', ' On ']) t.equal(v.bool(raw), true, raw);
    for (const raw of ['false', 'no', '0', 'off', 'False', 'NO']) t.equal(v.bool(raw), false, raw);
    rejects(t, v.bool, ['maybe', '', '2', 'y'], /expected true or false/);
  });

  t.test('text and host', async (t) => {
    t.equal(v.text(' anything at all '), ' anything at all ');
    t.equal(v.host('10.0.0.1'), '10.0.0.1');
    t.equal(v.host('::1'), '::1');
    t.equal(v.host('my-host.example'), 'my-host.example');
    rejects(t, v.host, ['', 'a b', 'a/b'], /expected a host name or IP address/);
  });
});

t.test('a file with sections may give deployment-wide secret and TLS files at its top level, relative to the file', async (t) => {
  const file = iniFile(t, 'secret_file = secrets/deploy.secret\ntls_ca = /etc/ftkit/ca.pem\n\n[rm]\nport = 7000\n\n[S1]\nport = 7201\ntls_ca = ca-s1.pem\n');
  const dir = file.slice(0, file.lastIndexOf('/'));
  t.same(loadIni(file, RM_OPTIONS, 'rm'), { secretFile: join(dir, 'secrets/deploy.secret'), tlsCa: '/etc/ftkit/ca.pem', port: 7000 });
  t.same(loadIni(file, SERVER_OPTIONS, 'S1'), { secretFile: join(dir, 'secrets/deploy.secret'), tlsCa: join(dir, 'ca-s1.pem'), port: 7201 }, 'a section overrides a shared key');
  // A client takes the shared keys it knows (tls_ca) and skips the others.
  const withClient = iniFile(t, 'secret_file = s\ntls_ca = ca.pem\n\n[C1]\nrm = 127.0.0.1:7000\n');
  t.same(loadIni(withClient, CLIENT_OPTIONS, 'C1'), { tlsCa: join(dir, 'ca.pem'), rm: '127.0.0.1:7000' });
  const bad = iniFile(t, 'port = 7000\n\n[rm]\nmode = active\n');
  t.match(configError(t, () => loadIni(bad, RM_OPTIONS, 'rm'), 'a non-shared top-level key')?.message, /key "port" at the top level: in a file with sections only deployment-wide keys go there \(secret-file, admin-secret-file/);
  t.same(loadIni(file, CLIENT_OPTIONS, 'ctl', true), { tlsCa: '/etc/ftkit/ca.pem' }, 'an optional section that is missing: the top level alone');
});
