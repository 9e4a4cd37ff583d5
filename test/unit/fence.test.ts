/** The LFD's fencing decision: kill a hung server only when the pid is surely that server's process. */
import t from 'tap';
import { Fencer, fenceDecision, isLocalPeer, parseProcStat, type FenceFacts } from '../../lfd/fence.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';

const STAT = '4242 (node) S 1 4242 4242 0 -1 4194560 1234 0 0 0 10 5 0 0 20 0 11 0 987654 1000000 5000 18446744073709551615';

t.test('parseProcStat reads the state and the start time', async (t) => {
  t.same(parseProcStat(STAT), { state: 'S', startTime: '987654' });
  t.same(parseProcStat(STAT.replace('(node)', '(we) ird (name) )')), { state: 'S', startTime: '987654' }, 'a command name with spaces and parentheses');
  t.same(parseProcStat(STAT.replace(' S ', ' T ')), { state: 'T', startTime: '987654' });
  for (const bad of ['', 'garbage', '1 (x)', '1 (x) S 1 2', STAT.replace('987654', 'abc')]) t.equal(parseProcStat(bad), undefined, JSON.stringify(bad));
});

const facts = (o: Partial<FenceFacts> = {}): FenceFacts => ({
  pid: 4242,
  ownPid: 100,
  local: true,
  registeredStart: '987654',
  now: { state: 'T', startTime: '987654' },
  procAvailable: true,
  ...o,
});

t.test('fenceDecision kills the same local process, stopped or not', async (t) => {
  t.same(fenceDecision(facts()), { kill: true });
  t.same(fenceDecision(facts({ now: { state: 'R', startTime: '987654' } })), { kill: true });
  t.same(fenceDecision(facts({ procAvailable: false, now: undefined, registeredStart: undefined })), { kill: true }, 'without /proc: a local pid');
});

t.test('fenceDecision never kills the LFD itself, a remote process, or a reused pid', async (t) => {
  t.match(fenceDecision(facts({ pid: 100 })), { kill: false, gone: false, reason: /LFD itself/ });
  t.match(fenceDecision(facts({ pid: 1 })), { kill: false, gone: false });
  t.match(fenceDecision(facts({ pid: 0 })), { kill: false, gone: false });
  t.match(fenceDecision(facts({ local: false })), { kill: false, gone: false, reason: /another machine/ });
  t.match(fenceDecision(facts({ now: { state: 'S', startTime: '111' } })), { kill: false, gone: true, reason: /another process/ });
  t.match(fenceDecision(facts({ now: undefined })), { kill: false, gone: true, reason: /already gone/ });
  t.match(fenceDecision(facts({ now: { state: 'Z', startTime: '987654' } })), { kill: false, gone: true });
  t.match(fenceDecision(facts({ registeredStart: undefined })), { kill: false, gone: false, reason: /could not be checked/ });
});

t.test('isLocalPeer: loopback or our own address', async (t) => {
  t.ok(isLocalPeer('127.0.0.1', '127.0.0.1'));
  t.ok(isLocalPeer('::ffff:127.0.0.1', '::ffff:127.0.0.1'));
  t.ok(isLocalPeer('::1', '::1'));
  t.ok(isLocalPeer('10.0.0.2', '10.0.0.2'));
  t.notOk(isLocalPeer('10.0.0.3', '10.0.0.2'));
  t.notOk(isLocalPeer(undefined, '10.0.0.2'));
});

t.test('Fencer kills a stopped child by its pid and waits until it is gone', async (t) => {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const fencer = new Fencer();
  const start = fencer.startTime(child.pid!);
  t.ok(start, 'start time read from /proc');
  child.kill('SIGSTOP');
  const exited = once(child, 'exit');
  const result = await fencer.fence(child.pid!, true, start);
  t.match(result, { fenced: true });
  t.same((await exited).slice(1), ['SIGKILL']);
  t.match(await fencer.fence(child.pid!, true, start), { fenced: false, gone: true }, 'a second fence finds it gone');
  t.match(await new Fencer().fence(process.pid, true, fencer.startTime(process.pid)), { fenced: false, gone: false }, 'never itself');
});
