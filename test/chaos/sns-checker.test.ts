/**
 * The sns workload's check (harness/chaos/sns-check.ts) on hand-built histories: posts with their
 * outcomes and the timelines read at the end. A clean history passes; a lost post, a duplicate,
 * an out-of-order pair, a post that never ran, one delivered to a non-follower, and a post of
 * unknown outcome that reached only some followers are each flagged; a post of unknown outcome
 * present once at every follower (or nowhere) is accepted, and so is a late follow's follower
 * with or without its author's posts.
 */
import t from 'tap';
import { checkSns, postProcess, type TimelineEntry } from '../../harness/chaos/sns-check.js';
import type { Op, Outcome } from '../../harness/chaos/history.js';

let nextId = 0;
function post(author: string, n: number, outcome: Outcome = 'ok', result = 'ok'): Op {
  return { id: nextId++, process: postProcess(author), op: 'append', value: `p-${author}-${n}`, invokeTime: nextId, outcome, ...(outcome === 'ok' ? { result, server: 'S1', completeTime: nextId + 0.5 } : {}) };
}
const entry = (author: string, n: number, rev: number): TimelineEntry => ({ author, text: `p-${author}-${n}`, rev });

/** 2 and 3 follow 1 (3 in another group); 1 follows 2. */
const followers = new Map([
  ['1', ['2', '3']],
  ['2', ['1']],
]);
const posts = [post('1', 1), post('1', 2), post('2', 1)];
const clean = (): Map<string, TimelineEntry[]> =>
  new Map([
    ['1', [entry('2', 1, 4)]],
    ['2', [entry('1', 1, 1), entry('1', 2, 2)]],
    ['3', [entry('1', 1, 7), entry('1', 2, 9)]],
  ]);
const kinds = (r: ReturnType<typeof checkSns>) => r.anomalies.map((a) => a.kind);

t.test('a clean history passes, with its figures', async (t) => {
  const r = checkSns({ posts, followers, timelines: clean() });
  t.same(r.anomalies, []);
  t.same(r.stats, { posts: { ok: 3, fail: 0, unknown: 0 }, expected: 5, entries: 5, unknownDelivered: 0 });
});

t.test('an acknowledged post missing from one follower is lost', async (t) => {
  const timelines = clean();
  timelines.set('3', [entry('1', 2, 9)]);
  const r = checkSns({ posts, followers, timelines });
  t.same(kinds(r), ['lost']);
  t.match(r.anomalies[0]!.message, /"p-1-1" is not in the timeline of 3/);
  t.equal(r.anomalies[0]!.ops[0], posts[0]);
});

t.test('a post twice in one timeline is a duplicate', async (t) => {
  const timelines = clean();
  timelines.set('2', [entry('1', 1, 1), entry('1', 1, 3), entry('1', 2, 5)]);
  const r = checkSns({ posts, followers, timelines });
  t.same(kinds(r), ['duplicate']);
  t.match(r.anomalies[0]!.message, /2's timeline holds 1's post "p-1-1" more than once \(again at revision 3\)/);
});

t.test("one author's posts out of the author's order", async (t) => {
  const timelines = clean();
  timelines.set('3', [entry('1', 2, 7), entry('1', 1, 9)]);
  const r = checkSns({ posts, followers, timelines });
  t.same(kinds(r), ['client-order']);
  t.same(r.anomalies[0]!.ops.map((o) => o.value), ['p-1-1', 'p-1-2']);
});

t.test('other authors interleave freely', async (t) => {
  const more = [...posts, post('3', 1)];
  const f = new Map([...followers, ['3', ['2']]]);
  const timelines = clean();
  timelines.set('2', [entry('1', 1, 1), entry('3', 1, 2), entry('1', 2, 3)]);
  t.same(checkSns({ posts: more, followers: f, timelines }).anomalies, []);
});

t.test('a post of unknown outcome: once at every follower, or nowhere, is fine; at some only is not', async (t) => {
  const unknown = post('1', 3, 'unknown');
  const all = [...posts, unknown];
  const present = clean();
  present.get('2')!.push(entry('1', 3, 6));
  present.get('3')!.push(entry('1', 3, 11));
  const r = checkSns({ posts: all, followers, timelines: present });
  t.same(r.anomalies, [], 'present once at each follower');
  t.equal(r.stats.unknownDelivered, 1);
  t.same(checkSns({ posts: all, followers, timelines: clean() }).anomalies, [], 'absent everywhere');
  const partial = clean();
  partial.get('2')!.push(entry('1', 3, 6));
  const p = checkSns({ posts: all, followers, timelines: partial });
  t.same(kinds(p), ['partial-delivery']);
  t.match(p.anomalies[0]!.message, /reached 2 but not 3/);
  const twice = clean();
  twice.get('2')!.push(entry('1', 3, 6), entry('1', 3, 8));
  twice.get('3')!.push(entry('1', 3, 11));
  t.same(kinds(checkSns({ posts: all, followers, timelines: twice })), ['duplicate'], 'at most once');
});

t.test('what never ran, was never posted, or went to a non-follower', async (t) => {
  const failed = post('1', 3, 'fail');
  const refused = post('2', 2, 'ok', 'unknown-user');
  const timelines = clean();
  timelines.get('2')!.push(entry('1', 3, 6), entry('9', 1, 7));
  timelines.get('1')!.push(entry('2', 2, 8));
  timelines.set('4', [entry('1', 1, 2)]);
  const r = checkSns({ posts: [...posts, failed, refused], followers, timelines });
  t.same(kinds(r).sort(), ['bad-result', 'failed-applied', 'failed-applied', 'misdelivered', 'phantom']);
  t.match(r.anomalies.find((a) => a.kind === 'misdelivered')!.message, /4 does not follow 1/);
  t.match(r.anomalies.find((a) => a.kind === 'phantom')!.message, /"p-9-1" by 9 .* never posted/);
  t.equal(r.stats.expected, 5, 'refused and failed posts owe nothing');
});

t.test("a late follow: its author's posts may reach the follower or not, once each and in order", async (t) => {
  const late = new Map([['1', ['3']]]);
  const none = clean();
  none.set('3', []);
  const r = checkSns({ posts, followers, timelines: none, late });
  t.same(r.anomalies, [], 'nothing owed to a late follower');
  t.equal(r.stats.expected, 3);
  t.same(checkSns({ posts, followers, timelines: clean(), late }).anomalies, [], 'and no misdelivery if they arrive');
  const some = clean();
  some.set('3', [entry('1', 2, 9), entry('1', 1, 10), entry('1', 2, 11)]);
  t.same(kinds(checkSns({ posts, followers, timelines: some, late })).sort(), ['client-order', 'duplicate']);
});
