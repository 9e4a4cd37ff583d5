/**
 * Which process the demo kills (or pauses) for "S1": the copy that registered with its LFD while
 * it runs, not a later launch that has not registered (on a slow machine the RM may launch a
 * second copy before the first registers; that copy finds the port taken and exits).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { Demo } from '../../harness/demo/demo.js';
import { PlainView } from '../../harness/demo/view.js';
import type { Proc } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';

/** Live pids that are not S1's: this test's own and its parent's (never signalled: serverPid only looks). */
const first = process.pid;
const second = process.ppid;
/** A pid that has exited. */
const dead = spawnSync(process.execPath, ['-e', '']).pid!;

function demoWithLfdEvents(events: Array<Pick<TraceEvent, 'type' | 'time' | 'data'>>): Demo {
  const demo = new Demo({ mode: 'passive', app: 'log', heartbeatFreq: 0.1, checkpointFreq: 1, basePort: 7000, view: new PlainView({ write: () => {} }) });
  // Only the LFD's events matter here; no process is started.
  demo.system.group.procs.set('LFD1', { events, running: false } as unknown as Proc);
  return demo;
}

const launched = (pid: number, time: number) => ({ type: 'launched', time, data: { server: 'S1', pid } });
const registered = (pid: number, time: number) => ({ type: 'server_registered', time, data: { server: 'S1', addr: '127.0.0.1:7201', pid } });

t.test('a later launch that has not registered does not hide the registered copy', async (t) => {
  t.equal(demoWithLfdEvents([launched(first, 1), launched(second, 2), registered(first, 3)]).serverPid('S1'), first);
});

t.test('before the relaunched copy registers, it is the latest launch', async (t) => {
  t.equal(demoWithLfdEvents([launched(dead, 1), registered(dead, 2), launched(first, 3)]).serverPid('S1'), first);
});

t.test('the latest registration wins; a dead one falls back to the latest launch', async (t) => {
  t.equal(demoWithLfdEvents([registered(second, 1), launched(first, 2), registered(first, 3)]).serverPid('S1'), first);
  t.equal(demoWithLfdEvents([launched(second, 1), launched(first, 2), registered(dead, 3)]).serverPid('S1'), first);
  t.equal(demoWithLfdEvents([launched(dead, 1), registered(dead, 2)]).serverPid('S1'), undefined, 'none alive: not running');
});

t.test('a copy killed but not yet reaped (a zombie) is not running: its key starts it again, not kill -9 again', async (t) => {
  const { spawn } = await import('node:child_process');
  const { readFileSync } = await import('node:fs');
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  const pid = child.pid!;
  const demo = demoWithLfdEvents([launched(pid, 1), registered(pid, 2)]);
  t.equal(demo.serverPid('S1'), pid, 'running: it is S1');
  process.kill(pid, 'SIGKILL');
  // This test holds the event loop, so Node cannot reap the child: it stays a zombie until we let go.
  const state = () => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  };
  for (const until = Date.now() + 5000; state() !== 'Z' && Date.now() < until; );
  t.equal(state(), 'Z', 'killed, not reaped yet');
  t.equal(demo.serverPid('S1'), undefined, 'not running');
});
