/**
 * `ftkit up` and the shipped deployment files, as a user runs them on a machine of their own:
 * config/local/ as it is (fixed ports on 127.0.0.1) starts a whole system that answers clients,
 * grows with `ctl set replicas 4` on a port of the configured range, and stops entirely on
 * Ctrl-C; config/deployment.ini on machine 2 starts machine 2's components, and on a machine
 * of none of its addresses says so. Each runs on a namespace host (harness/launch/hosts.ts), so
 * its loopback and fixed ports are its own.
 */
import t from 'tap';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { FTKIT_BIN, PACKAGE_ROOT, type Proc } from '../../harness/launch/proc.js';
import { Hosts } from '../../harness/launch/hosts.js';

const LOCAL = join(PACKAGE_ROOT, 'config', 'local');

/** Resolve with the first line of `p` (seen or to come) that matches; reject after `ms`. */
function line(p: Proc, re: RegExp, ms = 20_000): Promise<string> {
  const seen = p.lines.find((l) => re.test(l));
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      p.off('line', on);
      reject(new Error(`no line like ${re} within ${ms} ms; last lines:\n${p.lines.slice(-15).join('\n')}`));
    }, ms);
    const on = (l: string) => {
      if (!re.test(l)) return;
      clearTimeout(timer);
      p.off('line', on);
      resolve(l);
    };
    p.on('line', on);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('config/local as it is: ftkit up starts the system, clients get replies, replicas grow on the range, Ctrl-C stops all', async (t) => {
  const net = await Hosts.create({ hosts: { m: '10.0.0.1' } });
  t.teardown(() => net.destroy());
  const host = net.host('m');
  // the LFDs keep their servers' command lines in a state folder of this test's own
  const state = mkdtempSync(join(tmpdir(), 'ftkit-up-state-'));
  t.teardown(() => rmSync(state, { recursive: true, force: true }));
  const env = { XDG_STATE_HOME: state, NO_COLOR: '1' };
  const up = host.spawn('up', ['up', '--config', join(LOCAL, 'deployment.ini')], { env, stdin: true });
  await line(up, /^RM {4}│ .*RM: 3 members: S1, S2, S3$/);
  await line(up, /^RM {4}│ .*RM: ready replicas: S1, S2, S3$/);
  const started = new Map<string, { pid: number; cmd: string }>();
  for (const l of up.lines) {
    const m = /^up {4}│ (\S+) \(pid (\d+)\): ftkit (.*)$/.exec(l);
    if (m) started.set(m[1]!, { pid: Number(m[2]), cmd: m[3]! });
  }
  t.same([...started.keys()], ['RM', 'GFD', 'LFD1', 'LFD2', 'LFD3', 'S1', 'S2', 'S3'], 'up started every component of the file, clients aside');
  t.equal(started.get('LFD2')?.cmd, `lfd LFD2 --config ${join(LOCAL, 'deployment.ini')}`, 'with the command line a user types');
  t.match(up.lines.join('\n'), /clients are started by hand .*ftkit client C1 --config /, 'and says how to start the clients');

  const client = host.spawn('C1', ['client', '--config', join(LOCAL, 'c1.ini'), '--count', '3', '--interval', '0.1', '--no-color'], { env });
  t.equal((await client.exited).code, 0, 'the client of config/local/c1.ini got three replies');
  t.match(client.lines.join('\n'), /Received <C1, S\d, 1, reply>\n.*C1: request_num 1 answered by S\d: hello_from_C1_1\n/, 'request 1, numbered by {n}');

  const ctl = (...args: string[]) => host.run([process.execPath, FTKIT_BIN, 'ctl', '--config', join(LOCAL, 'deployment.ini'), ...args]);
  t.equal(await ctl('set', 'replicas', '4'), 'replicas = 4\n');
  await line(up, /RM: 4 members: S1, S2, S3, S4$/);
  const status = JSON.parse(await ctl('--json', 'status')) as { members: Array<{ name: string; addr: string }>; supervision: Record<string, { home: string }> };
  const s4 = status.members.find((m) => m.name === 'S4');
  t.equal(status.supervision.S4?.home, 'LFD1', 'S4 started on the least loaded machine');
  t.equal(s4?.addr, '127.0.0.1:7210', "S4 listens on the first port of LFD1's replica_ports (7210-7239)");
  const s4pid = Number(/LFD1: launched S4 \(pid (\d+)\)/.exec(up.lines.join('\n'))?.[1]);
  t.ok(alive(s4pid), `S4 runs (pid ${s4pid})`);

  up.child.kill('SIGINT');
  const exit = await up.exited;
  t.equal(exit.code, 0, 'up exits 0 on Ctrl-C');
  t.match(up.lines.join('\n'), /^up {4}│ stopping RM, GFD, LFD1, LFD2, LFD3, S1, S2, S3$/m);
  const left = [...started].filter(([, { pid }]) => alive(pid)).map(([name]) => name);
  t.same(left, [], 'nothing it started is left running');
  t.notOk(alive(s4pid), 'nor the replica an LFD started');
});

t.test('config/deployment.ini on machine 2 starts LFD2 and S2; on a machine of none of its addresses: exit 2, one line', async (t) => {
  const dir = t.testdir({});
  const ini = join(dir, 'deployment.ini');
  copyFileSync(join(PACKAGE_ROOT, 'config', 'deployment.ini'), ini);
  execFileSync(process.execPath, [FTKIT_BIN, 'secret', join(dir, 'ftkit.secret')]);
  const net = await Hosts.create({ hosts: { m2: '10.0.0.2', other: '10.0.0.9' } });
  t.teardown(() => net.destroy());
  const ftkit = (h: string, ...args: string[]) => {
    const child = net.host(h).command([process.execPath, FTKIT_BIN, ...args]);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    return new Promise<{ code: number | null; out: string; err: string }>((resolve) => child.once('close', (code) => resolve({ code, out, err })));
  };
  const m2 = await ftkit('m2', 'up', '--config', ini, '--dry-run');
  t.equal(m2.code, 0, m2.err);
  t.equal(m2.out, `ftkit lfd LFD2 --config ${ini}\nftkit server S2 --config ${ini}\n`, "machine 2's components, as a user starts them");
  const elsewhere = await ftkit('other', 'up', '--config', ini);
  t.equal(elsewhere.code, 2, 'exit 2');
  t.equal(elsewhere.out, '');
  t.match(elsewhere.err, /^ftkit up: none of the hosts in .*deployment\.ini \(10\.0\.0\.4, 10\.0\.0\.1, 10\.0\.0\.2, 10\.0\.0\.3\) is an address of this machine \(127\.0\.0\.1, .*10\.0\.0\.9.*\): run it on one of those machines, or name one with --machine ADDR\n$/);
});
