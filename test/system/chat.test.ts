/**
 * Issue 17, chat rooms: one active group of three replicas, the RM handing each client the
 * least-loaded replica. Two users in one room on different replicas see each other's messages
 * live; the replica one of them uses is killed: it says so, is handed another, and no message is
 * lost or shown twice. Without a master it retries three times and gives up.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { System } from '../../harness/launch/system.js';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { followOutput } from '../helpers/output.js';

const data = <T>(e: TraceEvent) => e.data as T;

function chatUser(rm: string, user: string, extra: string[] = []) {
  const child = spawn(process.execPath, [FTKIT_BIN, 'chat', user, '--rm', rm, ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
  const { output, until } = followOutput(child, user, 20_000);
  const type = (line: string) => void child.stdin.write(`${line}\n`);
  const command = async (line: string) => {
    type(line);
    return (await until(/([\s\S]*?):: /))[1]!;
  };
  const count = (text: string) => output().split('\n').filter((l) => l === text).length;
  return { child, output, until, type, command, count };
}

t.test('two users in one room on different replicas; one replica killed: nothing lost or repeated', async (t) => {
  const sys = new System({ mode: 'active', app: 'chat', replicas: 3, heartbeat: 0.2, heartbeatTimeout: 1, quiet: true, rmArgs: ['--route', 'least-loaded'] });
  t.teardown(() => sys.stop());
  await sys.start();
  await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.length === 3, 20_000);
  const alice = chatUser(sys.rmAddr, 'alice', sys.securityArgs('client'));
  const bob = chatUser(sys.rmAddr, 'bob', sys.securityArgs('client'));
  t.teardown(() => {
    alice.child.kill('SIGKILL');
    bob.child.kill('SIGKILL');
  });
  for (const u of [alice, bob]) await u.until(/Login Successful\n:: /);
  t.equal(await alice.command('JOIN general'), 'Join Successful\n');
  t.equal(await alice.command('JOIN general'), 'You have already joined general\n');
  t.equal(await alice.command('LEAVE random'), 'Not subscribed to random to begin with.\n');
  t.equal(await alice.command('JOIN random'), 'Join Successful\n');
  t.equal(await alice.command('LEAVE random'), 'Channel left successfully.\n');
  t.equal(await bob.command('join general'), 'Join Successful\n', 'commands are case-insensitive');
  t.equal(await bob.command('LIST'), "All chat rooms:\ngeneral\nrandom\nChat rooms you've joined:\ngeneral\n");
  t.equal(await bob.command('DANCE'), 'Invalid Command\n');

  const status = JSON.parse(await sys.ctl({ op: 'status' })) as { routes: Record<string, { group: string; replica?: string }> };
  const [aliceAt, bobAt] = [status.routes['chat.alice']?.replica, status.routes['chat.bob']?.replica];
  t.ok(aliceAt && bobAt && aliceAt !== bobAt, `the RM handed them different replicas (alice ${aliceAt}, bob ${bobAt})`);

  alice.type('CHAT');
  bob.type('CHAT');
  await Promise.all([alice.until(/You are now in CHAT mode\.\.\.\n/), bob.until(/You are now in CHAT mode\.\.\.\n/)]);
  alice.type('hello bob');
  await bob.until(/alice: hello bob\n/);
  bob.type('hi alice');
  await alice.until(/bob: hi alice\n/);

  // kill -9 the replica bob was handed
  sys.proc(bobAt!).kill('SIGKILL');
  await bob.until(/Lost connection with server\. Reconnecting\.\.\.\n/);
  for (let i = 1; i <= 5; i++) alice.type(`message ${i}`);
  for (let i = 1; i <= 5; i++) await bob.until(new RegExp(`alice: message ${i}\\n`));
  bob.type('still here');
  await alice.until(/bob: still here\n/);
  for (let i = 1; i <= 5; i++) t.equal(bob.count(`alice: message ${i}`), 1, `message ${i} reached bob once`);
  t.equal(bob.count('alice: hello bob'), 1, 'nothing before the failover shown again');
  t.equal(alice.count('bob: still here'), 1);
  for (const u of [alice, bob]) {
    u.child.stdin.end();
    const [code] = (await once(u.child, 'exit')) as [number | null];
    t.equal(code, 0, 'Ctrl-D leaves, exit 0');
  }
});

t.test('without a master: three tries, a dot each, then it gives up', async (t) => {
  const lonely = chatUser('127.0.0.1:9', 'carol');
  t.teardown(() => void lonely.child.kill('SIGKILL'));
  await lonely.until(/^Master is unavailable\. Attempting reconnect\.\.\.\nUnable to connect to master\n/, 20_000);
  const [code] = lonely.child.exitCode !== null ? [lonely.child.exitCode] : ((await once(lonely.child, 'exit')) as [number | null]);
  t.equal(code, 1);
});
