/**
 * The `ftkit` command as a user runs it: `node dist/bin/ftkit.js …` (npm test builds dist/ first).
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
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

/**
 * Run `ftkit …` to completion. Runs go at most a few at a time, so a subtest can start all its
 * cases at once (each is its own process, as a user runs it) and check them in order.
 */
let running = 0;
const queue: Array<() => void> = [];
const MAX_RUNNING = Math.max(2, availableParallelism() * 2);

async function ftkit(...args: string[]): Promise<Run> {
  if (running >= MAX_RUNNING) await new Promise<void>((r) => queue.push(r));
  running++;
  try {
    return await new Promise<Run>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 20_000,
        env: { ...process.env, NO_COLOR: '1' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
    });
  } finally {
    running--;
    queue.shift()?.();
  }
}

/** `ftkit <sub> --help`, run once per subcommand for every test that reads it. */
const helpRuns = new Map<string, Promise<Run>>();
function help(sub: string): Promise<Run> {
  if (!helpRuns.has(sub)) helpRuns.set(sub, ftkit(sub, '--help'));
  return helpRuns.get(sub)!;
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
  const r = await ftkit('--help');
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
  const runs = new Map(subs.map(([sub]) => [sub, help(sub)]));
  for (const [sub, specs] of subs) {
    t.test(sub, async (t) => {
      const r = await runs.get(sub)!;
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
  const runs = cases.map(([args]) => ftkit(...args));
  for (const [i, [args, patterns]] of cases.entries()) {
    const what = `ftkit ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`;
    const line = usageError(t, await runs[i]!, what);
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
  const badSection = join(dir, 'bad-section.ini');
  const unknown = join(dir, 'unknown.ini');
  const [rPort, rSection, rUnknown, rS4] = [
    ftkit('server', 'S1', '--config', badPort),
    ftkit('server', 'S1', '--config', badSection),
    ftkit('server', 'S1', '--config', unknown),
    ftkit('server', 'S4', '--config', join(ROOT, 'config', 'deployment.ini')),
  ];
  let line = usageError(t, await rPort, 'port = 99999');
  t.ok(line.includes(badPort), `names the file: ${line}`);
  t.match(line, /key "port"/, 'names the key');
  t.match(line, /port must be an integer 0.65535, got "99999"/, 'gives the reason');

  line = usageError(t, await rSection, 'app = spreadsheet in [S1]');
  t.ok(line.includes(badSection), 'names the file');
  t.match(line, /\[S1\]/, 'names the section');
  t.match(line, /key "app"/, 'names the key');
  t.match(line, /expected one of status, counter, log, sns, chat, got "spreadsheet"/, 'gives the reason');

  line = usageError(t, await rUnknown, 'unknown key');
  t.ok(line.includes(unknown), 'names the file');
  t.match(line, /key "colour": unknown key/);

  line = usageError(t, await rS4, 'no section [S4]');
  t.match(line, /no section \[S4\]/);
  t.match(line, /sections: ctl, rm, gfd, C1, C2, C3, LFD1, S1, LFD2, S2, LFD3, S3/);
});

t.test('a malformed .ini line: exit 2, one line with the file and the line number', async (t) => {
  const file = join(t.testdir({ 'broken.ini': '[S1]\nport = 7201\n\n[broken\napp = log\n' }), 'broken.ini');
  const cases = [['server', 'S1', '--config', file], ['client', '--config', file], ['ctl', '--config', file, 'status']];
  const runs = cases.map((args) => ftkit(...args));
  for (const [i, args] of cases.entries()) {
    const line = usageError(t, await runs[i]!, `ftkit ${args[0]} with [broken`);
    t.ok(line.includes(`${file}:4: syntax error: "[broken" is not a section header`), `ftkit ${args[0]}: ${line}`);
  }
});

t.test('a server or LFD listening on a wildcard address must be told what to advertise: exit 2, one line', async (t) => {
  const wildcards = [['server', 'S1', '0.0.0.0'], ['lfd', 'LFD1', '::']] as const;
  const ini = join(t.testdir({ 'a.ini': '[S1]\nhost = 0.0.0.0\n' }), 'a.ini');
  const runs = wildcards.map(([cmd, name, host]) => ftkit(cmd, name, '--host', host, '--port', '0'));
  const advertise = ftkit('server', 'S1', '--host', '0.0.0.0', '--advertise', '0.0.0.0');
  const fromIni = ftkit('server', 'S1', '--config', ini);
  for (const [i, [cmd, name, host]] of wildcards.entries()) {
    const line = usageError(t, await runs[i]!, `${cmd} --host ${host}`);
    t.match(line, new RegExp(`^ftkit ${name}: --host ${host.replace(/\./g, '\\.')} listens on every address, so peers need to be told one: add --advertise`), line);
  }
  const line = usageError(t, await advertise, '--advertise 0.0.0.0');
  t.match(line, /--advertise 0\.0\.0\.0 is not an address peers can reach/);
  t.match(usageError(t, await fromIni, 'host = 0.0.0.0 in the .ini'), /advertise = in the \.ini/);
});

t.test('a missing --config file: exit 2, one line naming the file', async (t) => {
  const line = usageError(t, await ftkit('server', 'S1', '--config', '/nonexistent.ini'), '--config /nonexistent.ini');
  t.match(line, /\/nonexistent\.ini/, 'names the file');
  t.match(line, /cannot read: ENOENT/, 'says why');
});

t.test('ftkit secret FILE makes a secret a component accepts; bad secret files end a component with one line', async (t) => {
  const dir = t.testdir({ short: 'abc\n' });
  const file = join(dir, 'deploy.secret');
  const made = await ftkit('secret', file);
  t.equal(made.status, 0, made.stderr);
  t.match(made.stdout, /wrote a new secret to .*deploy\.secret \(readable only by you\)/);
  const again = await ftkit('secret', file);
  t.equal(again.status, 1);
  t.match(again.stderr, /^ftkit secret: .*already exists; not overwriting it\n$/);
  const refusals = [
    [['gfd', '--port', '0', '--secret-file', join(dir, 'missing')], /^ftkit gfd: secret file .*missing: cannot read: ENOENT\n$/],
    [['rm', '--port', '0', '--secret-file', join(dir, 'short')], /^ftkit rm: secret file .*short: too short \(3 bytes; at least 16\)/],
    [['server', 'S1', '--port', '0', '--tls-ca', file], /^ftkit S1: TLS needs --tls-cert and --tls-key here/],
    [['ctl', '--secret-file', join(dir, 'missing'), 'status'], /^ftkit ctl: secret file .*missing: cannot read/],
  ] as const;
  const runs = refusals.map(([args]) => ftkit(...args));
  for (const [i, [args, reason]] of refusals.entries()) {
    const r = await runs[i]!;
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
  const runs = cases.map(([args]) => ftkit(...args));
  for (const [i, [args, pattern]] of cases.entries()) {
    const what = `ftkit ${args.join(' ')}`;
    t.match(usageError(t, await runs[i]!, what), pattern, what);
  }
  const dir = t.testdir({
    'client.ini': '[C1]\nrm = 127.0.0.1:7000\nservers = S1=127.0.0.1:7201\n',
    'server.ini': '[S2]\nport = 7202\nlfd = none\ngroup = S1=127.0.0.1:7201,S2=127.0.0.1:7202\n',
  });
  const [client, server] = [ftkit('client', 'C1', '--config', join(dir, 'client.ini')), ftkit('server', 'S2', '--config', join(dir, 'server.ini'))];
  t.match(usageError(t, await client, 'rm = and servers = in one section'), /give --rm or --servers, not both/);
  t.match(usageError(t, await server, 'group = without mode ='), /a --group of 2 replicas needs --mode/);
});

t.test('help explains the options for running without an RM', async (t) => {
  const [server, lfd, gfd, client] = (await Promise.all(['server', 'lfd', 'gfd', 'client'].map(help))).map((r) => helpOptions(r.stdout));
  t.match(server.get('--static'), /without an RM/);
  t.match(server.get('--no-lfd'), /run without an LFD/);
  t.match(server.get('--passive <style>'), /checkpoint-only.*\(default: "log"\)$/);
  t.match(lfd.get('--no-gfd'), /run without a GFD/);
  t.match(gfd.get('--no-rm'), /run without an RM/);
  t.match(client.get('--servers <members>'), /instead of asking the RM/);
});
