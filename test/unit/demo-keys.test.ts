/** The demo's keys and what it shows, without processes: each key's action, the pending `p`/`l`, unknown keys; shown(). */
import t from 'tap';
import { Keys } from '../../harness/demo/keys.js';
import { shown } from '../../harness/demo/view.js';
import type { Demo } from '../../harness/demo/demo.js';
import type { Category, TraceEvent } from '../../lib/trace/index.js';

function fakeDemo(): { demo: Demo; calls: string[]; quits: number[] } {
  const calls: string[] = [];
  const quits: number[] = [];
  const demo = {
    isStopping: false,
    say: (text: string) => calls.push(`say ${text}`),
    kill: (s: string) => calls.push(`kill ${s}`),
    togglePause: (s: string) => calls.push(`pause ${s}`),
    killOrStart: async (n: string) => void calls.push(`killOrStart ${n}`),
    status: async () => void calls.push('status'),
  } as unknown as Demo;
  return { demo, calls, quits };
}

t.test('each key acts once; p and l take a number next', async (t) => {
  const { demo, calls } = fakeDemo();
  let quit = 0;
  const keys = new Keys(demo, () => quit++);
  keys.typed('2p3l1grs');
  t.same(
    calls.filter((c) => !c.startsWith('say')),
    ['kill S2', 'pause S3', 'killOrStart LFD1', 'killOrStart GFD', 'killOrStart RM', 'status'],
  );
  keys.typed('q');
  t.equal(quit, 1, 'q quits');
  keys.typed('\u0003');
  t.equal(quit, 2, 'Ctrl-C quits');
});

t.test('h and ? print the help; an unknown key says so in one line; p then a wrong key says so', async (t) => {
  const { demo, calls } = fakeDemo();
  const keys = new Keys(demo, () => {});
  keys.typed('h');
  t.match(calls[0], /^say keys: 1\/2\/3 kill S1\/S2\/S3/);
  const helpLines = calls.length;
  keys.typed('?');
  t.equal(calls.length, 2 * helpLines, '? reprints the same help');
  calls.length = 0;
  keys.typed('z');
  t.same(calls, ["say unknown key 'z'; h for help"]);
  calls.length = 0;
  keys.typed('\u001b[A');
  t.same(calls, ['say unknown key "\\u001b[A"; h for help'], 'an arrow key is one unknown key');
  calls.length = 0;
  keys.typed('pz');
  t.same(calls, ['say pause or resume which replica? 1, 2 or 3', "say p takes 1, 2 or 3 next, not 'z'"]);
  calls.length = 0;
  keys.typed('1');
  t.same(calls, ['kill S1'], 'the pending key is gone');
});

t.test('keys do nothing once the demo stops', async (t) => {
  const { demo, calls } = fakeDemo();
  (demo as unknown as { isStopping: boolean }).isStopping = true;
  new Keys(demo, () => calls.push('quit')).typed('1pq');
  t.same(calls, []);
});

t.test('shown: heartbeats, --quiet, --verbose', async (t) => {
  const e = (category: Category, type = 'x'): TraceEvent => ({ time: 0, component: 'S1', type, category, text: '' });
  t.notOk(shown(e('heartbeat'), {}), 'no heartbeat line by default');
  t.ok(shown(e('heartbeat'), { heartbeats: true }));
  t.ok(shown(e('fault', 'heartbeat_failed'), {}), 'a failed heartbeat is a fault: shown');
  for (const c of ['request', 'reply', 'duplicate'] as const) {
    t.ok(shown(e(c), {}));
    t.notOk(shown(e(c), { quiet: true }), `--quiet leaves out ${c}`);
  }
  t.ok(shown(e('checkpoint'), { quiet: true }));
  t.notOk(shown(e('state', 'lifecycle'), {}));
  t.ok(shown(e('state', 'lifecycle'), { verbose: true }));
  t.notOk(shown(e('info', 'system_stopping'), {}));
  t.ok(shown(e('info', 'system_stopping'), { verbose: true }));
});
