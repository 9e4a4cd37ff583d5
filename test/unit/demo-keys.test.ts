/**
 * The demo's keys and what it shows, without processes: each key's action, the pending `p`/`l`,
 * unknown keys; a replica's key starting it again by hand where nothing relaunches it; the help
 * of each set-up; shown().
 */
import t from 'tap';
import { FULL_SET_UP, Keys, KEYS_HELP, keysHelp, type KeySetUp } from '../../harness/demo/keys.js';
import { shown } from '../../harness/demo/view.js';
import type { Demo } from '../../harness/demo/demo.js';
import type { Category, TraceEvent } from '../../lib/trace/index.js';

/** A demo that records what the keys ask of it; `down`: the replicas not running. */
function fakeDemo(setUp: KeySetUp = FULL_SET_UP, down: string[] = []): { demo: Demo; calls: string[]; quits: number[] } {
  const calls: string[] = [];
  const quits: number[] = [];
  const demo = {
    isStopping: false,
    setUp,
    serverPid: (s: string) => (down.includes(s) ? undefined : 1000 + Number(s.slice(1))),
    relaunch: async (s: string) => void calls.push(`relaunch ${s}`),
    say: (text: string) => calls.push(`say ${text}`),
    kill: (s: string) => calls.push(`kill ${s}`),
    togglePause: (s: string) => calls.push(`pause ${s}`),
    killOrStart: async (n: string) => void calls.push(`killOrStart ${n}`),
    status: async () => void calls.push('status'),
    slowFaults: { press: async (kind: string) => void calls.push(`slow ${kind}`) },
  } as unknown as Demo;
  return { demo, calls, quits };
}

t.test('each key acts once; p and l take a number next', async (t) => {
  const { demo, calls } = fakeDemo();
  let quit = 0;
  const keys = new Keys(demo, () => quit++);
  keys.typed('2p3l1grscmdn');
  t.same(
    calls.filter((c) => !c.startsWith('say')),
    ['kill S2', 'pause S3', 'killOrStart LFD1', 'killOrStart GFD', 'killOrStart RM', 'status', 'slow cpu-hog', 'slow mem-hog', 'slow delay', 'slow clear'],
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

t.test('where replicas are relaunched by hand, a replica\'s key starts it again once it is down, and kills it while it runs', async (t) => {
  const byHand: KeySetUp = { replicas: 3, gfd: true, rm: true, byHand: true };
  const { demo, calls } = fakeDemo(byHand, ['S2']);
  new Keys(demo, () => {}).typed('213');
  t.same(calls, ['relaunch S2', 'kill S1', 'kill S3']);

  const auto = fakeDemo(FULL_SET_UP, ['S2']);
  new Keys(auto.demo, () => {}).typed('2');
  t.same(auto.calls, ['kill S2'], 'where the RM relaunches replicas, the key only kills (the demo says the replica is not running)');
});

t.test('milestone 1 (one replica, no GFD, no RM): the keys and the help name only what runs', async (t) => {
  const m1: KeySetUp = { replicas: 1, gfd: false, rm: false, byHand: true };
  const { demo, calls } = fakeDemo(m1, ['S1']);
  const keys = new Keys(demo, () => {});
  keys.typed('1');
  t.same(calls, ['relaunch S1']);
  calls.length = 0;
  keys.typed('2grsc');
  t.same(calls, [
    'say there is no S2 in this set-up; h for help',
    'say there is no GFD in this set-up; h for help',
    'say there is no RM in this set-up; h for help',
    'say s asks the RM for its status, and there is no RM in this set-up; h for help',
    'say c asks the RM to make the leader fail-slow, and there is no RM in this set-up; h for help',
  ]);
  calls.length = 0;
  keys.typed('p2l1');
  t.same(calls, ['say pause or resume which replica? 1', 'say p takes 1: there is no machine 2 in this set-up', 'say kill (or start again) which LFD? 1', 'killOrStart LFD1']);
  t.same(keysHelp(m1), [
    'keys: 1 kill S1 (SIGKILL), or start it again by hand once it is down · p then 1 pause or resume S1 (SIGSTOP/SIGCONT)',
    '      l then 1 kill LFD1 (the same key again starts it again)',
    '      h or ? this help · q quit (stops everything in order; Ctrl-C too)',
  ]);
});

t.test('the help: the full demo as before; milestone 4 (RM, relaunch by hand) says the number key starts a replica again', async (t) => {
  t.same(KEYS_HELP, [
    'keys: 1/2/3 kill S1/S2/S3 (SIGKILL) · p then 1/2/3 pause or resume S1/S2/S3 (SIGSTOP/SIGCONT)',
    '      l then 1/2/3 kill LFD1/LFD2/LFD3 · g kill the GFD · r kill the RM (the same key again starts it again)',
    '      s status · h or ? this help · q quit (stops everything in order; Ctrl-C too)',
    '      c cpu-hog · m mem-hog · d delay 50 ms: make the leader fail-slow · n clear it',
  ]);
  const m4 = keysHelp({ replicas: 3, gfd: true, rm: true, byHand: true });
  t.match(m4[0], /^keys: 1\/2\/3 kill S1\/S2\/S3 \(SIGKILL\), or start it again by hand once it is down · /);
  t.match(m4[2], /^      s status · /);
  const m2 = keysHelp({ replicas: 3, gfd: true, rm: false, byHand: true });
  t.notMatch(m2.join('\n'), /RM|s status/, 'no RM key without an RM');
  t.match(m2[1], /g kill the GFD \(the same key/);
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
