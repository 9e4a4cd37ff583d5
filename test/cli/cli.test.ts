/**
 * The `ftkit` command as a user runs it: `node dist/bin/ftkit.js …` (npm test builds dist/ first).
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import {
  CLIENT_OPTIONS,
  COMMON_OPTIONS,
  DEFAULT_CLIENT_MESSAGE,
  DEMO_OPTIONS,
  GFD_OPTIONS,
  LFD_OPTIONS,
  RM_OPTIONS,
  SERVER_OPTIONS,
  type OptionSpec,
} from '../../lib/config/options.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'bin', 'ftkit.js');

t.test('npx ftkit runs the built command (the bin is executable, as npx needs)', async (t) => {
  t.ok(statSync(CLI).mode & 0o100, `${CLI} is executable`);
  const r = spawnSync('npx', ['--no-install', 'ftkit', '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr.split('\n').filter((l) => !l.startsWith('npm warn')).join('\n'));
  t.match(r.stdout, /^Usage: ftkit /);
});

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function ftkit(...args: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The options section of a help text as flag term -> description, with commander's
 * line wrapping undone (`--port <port>` -> `TCP port … (default: 7000)`).
 */
function helpOptions(help: string): Map<string, string> {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => /^Options:\s*$/.test(l));
  const entries = new Map<string, string>();
  if (start < 0) return entries;
  let current: [string, string[]] | undefined;
  for (const line of lines.slice(start + 1)) {
    if (/^\S/.test(line)) break; // next section
    const m = /^ {2}((?:-\w, )?--\S+(?: <[^>]+>| \[[^\]]+\])?)\s{2,}(.*)$/.exec(line) ?? /^ {2}((?:-\w, )?--\S+(?: <[^>]+>)?)$/.exec(line);
    if (m) {
      current = [m[1]!, m[2] ? [m[2]] : []];
      entries.set(current[0], '');
    } else if (current && line.trim()) current[1].push(line.trim());
    if (current) entries.set(current[0], current[1].join(' '));
  }
  return entries;
}

/** How commander prints a default: strings quoted, numbers bare. */
const shownDefault = (d: unknown) => `(default: ${typeof d === 'string' ? JSON.stringify(d) : String(d)})`;

/** A usage error: exit 2, nothing on stdout, exactly one non-empty line on stderr; returns that line. */
function usageError(t: Test, r: Run, what: string): string {
  t.equal(r.signal, null, `${what}: ended by itself (not killed by the timeout)`);
  t.equal(r.status, 2, `${what}: exit status 2`);
  t.equal(r.stdout, '', `${what}: nothing on stdout`);
  const lines = r.stderr.split('\n').filter((l, i, all) => !(i === all.length - 1 && l === ''));
  t.equal(lines.length, 1, `${what}: exactly one line on stderr: ${JSON.stringify(r.stderr)}`);
  t.ok(lines[0]?.trim(), `${what}: the line is not empty`);
  return lines[0] ?? '';
}

t.test('--help exits 0 and lists the subcommands', async (t) => {
  const r = ftkit('--help');
  t.equal(r.status, 0);
  t.equal(r.stderr, '');
  const commands = r.stdout.split(/^Commands:\s*$/m)[1] ?? '';
  const names = [...commands.matchAll(/^ {2}(\w+)\b/gm)].map((m) => m[1]);
  for (const sub of ['rm', 'gfd', 'lfd', 'server', 'client', 'demo', 'ctl', 'up']) {
    t.ok(names.includes(sub), `lists ${sub} (commands: ${names.join(', ')})`);
  }
});

t.test('<sub> --help lists every option with its default', async (t) => {
  const subs: [string, OptionSpec[]][] = [
    ['rm', RM_OPTIONS],
    ['gfd', GFD_OPTIONS],
    ['lfd', LFD_OPTIONS],
    ['server', SERVER_OPTIONS],
    ['client', CLIENT_OPTIONS],
    ['demo', DEMO_OPTIONS],
  ];
  const helps = new Map<string, Map<string, string>>();
  for (const [sub, specs] of subs) {
    t.test(sub, async (t) => {
      const r = ftkit(sub, '--help');
      t.equal(r.status, 0, 'exit 0');
      t.equal(r.stderr, '', 'nothing on stderr');
      t.match(r.stdout, new RegExp(`^Usage: ftkit ${sub} `), 'usage line');
      const options = helpOptions(r.stdout);
      helps.set(sub, options);
      for (const s of [...specs, ...COMMON_OPTIONS]) {
        const description = options.get(s.flag);
        t.ok(description !== undefined, `${s.flag} is listed`);
        if (description === undefined) continue;
        t.ok(description.startsWith(s.description), `${s.flag}: described as "${s.description}"`);
        if (s.flag.includes('<') && s.default !== undefined) {
          t.ok(description.endsWith(shownDefault(s.default)), `${s.flag}: shows ${shownDefault(s.default)} (got "${description}")`);
        }
      }
      t.ok(options.has('--no-color'), '--no-color is listed');
      t.ok(options.has('-h, --help'), '-h, --help is listed');
    });
  }
  // the same things spelled out literally, independent of the specs
  t.test('literal checks', async (t) => {
    t.equal(helps.get('lfd')?.get('--heartbeat-freq <seconds>'), 'seconds between LFD → server heartbeats (default: 1)');
    t.equal(helps.get('gfd')?.get('--heartbeat-freq <seconds>'), 'seconds between GFD → LFD heartbeats (default: 1)');
    t.match(helps.get('server')?.get('--port <port>'), /\(default: 7201\)$/);
    t.match(helps.get('rm')?.get('--port <port>'), /\(default: 7000\)$/);
    t.match(helps.get('gfd')?.get('--port <port>'), /\(default: 7001\)$/);
    t.match(helps.get('lfd')?.get('--port <port>'), /\(default: 7101\)$/);
    t.match(helps.get('rm')?.get('--mode <mode>'), /active or passive \(default: "active"\)$/);
    t.match(helps.get('server')?.get('--app <app>'), /\(default: "status"\)$/);
    t.match(helps.get('server')?.get('--checkpoint-freq <seconds>'), /\(default: 5\)$/);
    t.ok(helps.get('client')?.get('--message <text>')?.endsWith(`(default: ${JSON.stringify(DEFAULT_CLIENT_MESSAGE)})`), 'client --message default');
    t.match(helps.get('client')?.get('--rm <host:port>'), /\(default: "127\.0\.0\.1:7000"\)$/);
    t.match(helps.get('demo')?.get('--base-port <port>'), /\(default: 7000\)$/);
    t.ok(helps.get('rm')?.has('--no-auto-restart'), 'rm --no-auto-restart');
  });
});

t.test('bad values exit 2 with one line on stderr naming the problem', async (t) => {
  const cases: [string[], RegExp[]][] = [
    [['server', 'S1', '--port', '70000'], [/--port/, /70000/, /port must be an integer 0.65535/]],
    [['lfd', 'LFD1', '--heartbeat-freq', 'abc'], [/--heartbeat-freq/, /abc/, /expected seconds/]],
    [['rm', '--bogus'], [/unknown option/, /--bogus/]],
    [['gfd', '--rm', 'nohostport'], [/--rm/, /nohostport/, /expected host:port/]],
    [['server', 'S 1'], [/"S 1"/, /expected a name/]],
    [['rm', '--mode', 'both'], [/--mode/, /both/, /expected one of active, passive/]],
    [['client', 'C1', '--count', '-1'], [/--count/, /-1/]],
    [['lfd', 'LFD1', '--replica-ports', '7300-7200'], [/--replica-ports/, /"7300-7200"/, /the first not above the last/]],
    [['lfd', 'LFD1', '--replica-ports', '7200-70000'], [/--replica-ports/, /expected a port range FIRST-LAST within 1.65535/]],
  ];
  for (const [args, patterns] of cases) {
    const what = `ftkit ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`;
    const line = usageError(t, ftkit(...args), what);
    for (const p of patterns) t.match(line, p, `${what}: ${p}`);
  }
});

t.test('a bad --config file: exit 2, one line naming file, key and reason', async (t) => {
  const dir = t.testdir({
    'bad-port.ini': 'port = 99999\n',
    'bad-section.ini': '[S1]\nport = 7201\napp = spreadsheet\n',
    'unknown.ini': '[S1]\ncolour = red\n',
  });

  const badPort = join(dir, 'bad-port.ini');
  let line = usageError(t, ftkit('server', 'S1', '--config', badPort), 'port = 99999');
  t.ok(line.includes(badPort), `names the file: ${line}`);
  t.match(line, /key "port"/, 'names the key');
  t.match(line, /port must be an integer 0.65535, got "99999"/, 'gives the reason');

  const badSection = join(dir, 'bad-section.ini');
  line = usageError(t, ftkit('server', 'S1', '--config', badSection), 'app = spreadsheet in [S1]');
  t.ok(line.includes(badSection), 'names the file');
  t.match(line, /\[S1\]/, 'names the section');
  t.match(line, /key "app"/, 'names the key');
  t.match(line, /expected one of status, counter, log, got "spreadsheet"/, 'gives the reason');

  const unknown = join(dir, 'unknown.ini');
  line = usageError(t, ftkit('server', 'S1', '--config', unknown), 'unknown key');
  t.ok(line.includes(unknown), 'names the file');
  t.match(line, /key "colour": unknown key/);

  line = usageError(t, ftkit('server', 'S4', '--config', join(ROOT, 'config', 'deployment.ini')), 'no section [S4]');
  t.match(line, /no section \[S4\]/);
  t.match(line, /sections: ctl, rm, gfd, C1, C2, C3, LFD1, S1, LFD2, S2, LFD3, S3/);
});

t.test('a malformed .ini line: exit 2, one line with the file and the line number', async (t) => {
  const file = join(t.testdir({ 'broken.ini': '[S1]\nport = 7201\n\n[broken\napp = log\n' }), 'broken.ini');
  for (const args of [['server', 'S1', '--config', file], ['client', '--config', file], ['ctl', '--config', file, 'status']]) {
    const line = usageError(t, ftkit(...args), `ftkit ${args[0]} with [broken`);
    t.ok(line.includes(`${file}:4: syntax error: "[broken" is not a section header`), `ftkit ${args[0]}: ${line}`);
  }
});

t.test('a server or LFD listening on a wildcard address must be told what to advertise: exit 2, one line', async (t) => {
  for (const [cmd, name, host] of [['server', 'S1', '0.0.0.0'], ['lfd', 'LFD1', '::']] as const) {
    const line = usageError(t, ftkit(cmd, name, '--host', host, '--port', '0'), `${cmd} --host ${host}`);
    t.match(line, new RegExp(`^ftkit ${name}: --host ${host.replace(/\./g, '\\.')} listens on every address, so peers need to be told one: add --advertise`), line);
  }
  const line = usageError(t, ftkit('server', 'S1', '--host', '0.0.0.0', '--advertise', '0.0.0.0'), '--advertise 0.0.0.0');
  t.match(line, /--advertise 0\.0\.0\.0 is not an address peers can reach/);
  const ini = join(t.testdir({ 'a.ini': '[S1]\nhost = 0.0.0.0\n' }), 'a.ini');
  t.match(usageError(t, ftkit('server', 'S1', '--config', ini), 'host = 0.0.0.0 in the .ini'), /advertise = in the \.ini/);
});

t.test('a missing --config file: exit 2, one line naming the file', async (t) => {
  const line = usageError(t, ftkit('server', 'S1', '--config', '/nonexistent.ini'), '--config /nonexistent.ini');
  t.match(line, /\/nonexistent\.ini/, 'names the file');
  t.match(line, /cannot read: ENOENT/, 'says why');
});

t.test('ftkit secret FILE makes a secret a component accepts; bad secret files end a component with one line', async (t) => {
  const dir = t.testdir({ short: 'abc\n' });
  const file = join(dir, 'deploy.secret');
  const made = ftkit('secret', file);
  t.equal(made.status, 0, made.stderr);
  t.match(made.stdout, /wrote a new secret to .*deploy\.secret \(readable only by you\)/);
  const again = ftkit('secret', file);
  t.equal(again.status, 1);
  t.match(again.stderr, /^ftkit secret: .*already exists; not overwriting it\n$/);
  for (const [args, reason] of [
    [['gfd', '--port', '0', '--secret-file', join(dir, 'missing')], /^ftkit gfd: secret file .*missing: cannot read: ENOENT\n$/],
    [['rm', '--port', '0', '--secret-file', join(dir, 'short')], /^ftkit rm: secret file .*short: too short \(3 bytes; at least 16\)/],
    [['server', 'S1', '--port', '0', '--tls-ca', file], /^ftkit S1: TLS needs --tls-cert and --tls-key here/],
    [['ctl', '--secret-file', join(dir, 'missing'), 'status'], /^ftkit ctl: secret file .*missing: cannot read/],
  ] as const) {
    const r = ftkit(...args);
    t.equal(r.status, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, reason, `${args.join(' ')}: one clear line`);
    t.equal(r.stderr.trim().split('\n').length, 1);
  }
});

t.test('running without an RM: contradictions exit 2 with one line saying what to change', async (t) => {
  const g = 'S1=127.0.0.1:7201,S2=127.0.0.1:7202';
  const cases: [string[], RegExp][] = [
    [['server', 'S1', '--mode', 'active'], /^ftkit S1: --mode and --primary describe a group without an RM: add --static or --group/],
    [['server', 'S1', '--no-lfd'], /^ftkit S1: --no-lfd needs --static or --group/],
    [['server', 'S1', '--group', g], /^ftkit S1: a --group of 2 replicas needs --mode active or --mode passive$/],
    [['server', 'S3', '--group', g, '--mode', 'passive'], /^ftkit S3: --group must list S3 itself/],
    [['server', 'S2', '--group', g, '--mode', 'passive'], /^ftkit S2: --group gives S2=127\.0\.0\.1:7202, but S2 listens on port 7201 \(--port\)/],
    [['server', 'S1', '--group', g, '--mode', 'passive', '--primary', 'S9'], /^ftkit S1: --primary S9 is not in the group \(S1, S2\)$/],
    [['server', 'S1', '--group', g, '--mode', 'active', '--passive', 'checkpoint-only'], /^ftkit S1: --passive checkpoint-only is for passive replication, not --mode active$/],
    [['server', 'S1', '--static', '--passive', 'sometimes'], /--passive.*expected one of log, checkpoint-only, got "sometimes"/],
    [['server', 'S1', '--group', 'S1=127.0.0.1:7201,S1=127.0.0.1:7202', '--mode', 'active'], /S1 is listed twice/],
    [['server', 'S1', '--group', 'S1:7201'], /expected NAME=host:port, got "S1:7201"/],
    [['client', 'C1', '--servers', g], /^ftkit C1: --servers lists 2 replicas: add --mode active \(send to all of them\) or --mode passive/],
    [['client', 'C1', '--servers', g, '--rm', '127.0.0.1:7000', '--mode', 'active'], /^ftkit C1: give --rm or --servers, not both/],
    [['client', 'C1', '--mode', 'active'], /^ftkit C1: --mode and --primary go with --servers/],
    [['client', 'C1', '--servers', g, '--mode', 'active', '--primary', 'S2'], /^ftkit C1: --primary is for --mode passive/],
    [['client', 'C1', '--servers', g, '--mode', 'passive', '--primary', 'S3'], /^ftkit C1: --primary S3 is not in --servers \(S1, S2\)$/],
    [['lfd', 'LFD1', '--gfd', 'nowhere'], /--gfd.*expected host:port/],
  ];
  for (const [args, pattern] of cases) {
    const what = `ftkit ${args.join(' ')}`;
    t.match(usageError(t, ftkit(...args), what), pattern, what);
  }
  const dir = t.testdir({
    'client.ini': '[C1]\nrm = 127.0.0.1:7000\nservers = S1=127.0.0.1:7201\n',
    'server.ini': '[S2]\nport = 7202\nlfd = none\ngroup = S1=127.0.0.1:7201,S2=127.0.0.1:7202\n',
  });
  t.match(usageError(t, ftkit('client', 'C1', '--config', join(dir, 'client.ini')), 'rm = and servers = in one section'), /give --rm or --servers, not both/);
  t.match(usageError(t, ftkit('server', 'S2', '--config', join(dir, 'server.ini')), 'group = without mode ='), /a --group of 2 replicas needs --mode/);
});

t.test('help explains the options for running without an RM', async (t) => {
  const server = helpOptions(ftkit('server', '--help').stdout);
  t.match(server.get('--static'), /without an RM/);
  t.match(server.get('--no-lfd'), /run without an LFD/);
  t.match(server.get('--passive <style>'), /checkpoint-only.*\(default: "log"\)$/);
  t.match(helpOptions(ftkit('lfd', '--help').stdout).get('--no-gfd'), /run without a GFD/);
  t.match(helpOptions(ftkit('gfd', '--help').stdout).get('--no-rm'), /run without an RM/);
  t.match(helpOptions(ftkit('client', '--help').stdout).get('--servers <members>'), /instead of asking the RM/);
});
