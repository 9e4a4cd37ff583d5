/**
 * The chaos checker on hand-made histories: each anomaly is reported when it is there,
 * with the smallest excerpt that shows it, and not reported when it is not.
 */
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { check, logDigest, type AnomalyKind, type FinalState } from '../../harness/chaos/checker.js';
import type { Op } from '../../harness/chaos/history.js';

let nextId = 0;
/** An append: ok with its index, unknown, or fail. */
function append(process: string, value: string, invoke: number, complete: number | undefined, outcome: Op['outcome'] = 'ok', result?: string): Op {
  const op: Op = { id: nextId++, process, op: 'append', value, invokeTime: invoke, outcome, server: 'S1' };
  if (complete !== undefined && outcome !== 'unknown') op.completeTime = complete;
  if (outcome === 'ok') op.result = result ?? '?';
  return op;
}
function read(process: string, items: string[] | string, invoke: number, complete: number | undefined, outcome: Op['outcome'] = 'ok'): Op {
  const op: Op = { id: nextId++, process, op: 'read', invokeTime: invoke, outcome, server: 'S1' };
  if (complete !== undefined && outcome !== 'unknown') op.completeTime = complete;
  if (outcome === 'ok') op.result = typeof items === 'string' ? items : JSON.stringify(items);
  return op;
}
const final = (log: string[] | undefined, replicas: FinalState['replicas'] = []): FinalState => ({ log, source: 'S1', replicas });
const kinds = (h: Op[], f: FinalState) => check(h, f).anomalies.map((a) => a.kind);

function only(t: Test, h: Op[], f: FinalState, kind: AnomalyKind, excerpt: Op[]): void {
  const r = check(h, f);
  t.same(
    r.anomalies.map((a) => a.kind),
    [kind],
    `exactly one ${kind}: ${r.anomalies.map((a) => a.message).join(' / ')}`,
  );
  t.same(
    r.anomalies[0]?.ops.map((o) => o.id),
    excerpt.map((o) => o.id),
    'with the smallest excerpt',
  );
}

t.test('a clean history has no anomaly', async (t) => {
  const a = append('C1', 'C1-1', 0, 10, 'ok', '1');
  const b = append('C2', 'C2-1', 5, 15, 'ok', '2');
  const r1 = read('C3', ['C1-1'], 6, 12);
  const c = append('C1', 'C1-2', 20, 30, 'ok', '3');
  const lost = append('C2', 'C2-2', 21, undefined, 'unknown');
  const never = append('C3', 'C3-1', 22, 25, 'fail');
  const r2 = read('C3', ['C1-1', 'C2-1', 'C1-2'], 31, 40);
  const log = ['C1-1', 'C2-1', 'C1-2'];
  const r = check([a, b, r1, c, lost, never, r2], final(log, [{ name: 'S2', log }, { name: 'S3', digest: logDigest(log) }]));
  t.same(r.anomalies, []);
  t.same(r.stats.appends, { ok: 3, fail: 1, unknown: 1 });
  t.same(r.stats.reads, { ok: 2, fail: 0, unknown: 0 });
  t.equal(r.stats.finalLength, 3);
});

t.test('lost: an acknowledged append missing from the final log', async (t) => {
  const a = append('C1', 'C1-1', 0, 10, 'ok', '2');
  const b = append('C2', 'C2-1', 0, 10, 'ok', '1');
  only(t, [a, b], final(['C2-1']), 'lost', [a]);
  // a read that saw it is part of the excerpt: it was there, then it was gone
  const r = read('C3', ['C1-1'], 11, 12);
  const res = check([a, r], final([]));
  t.same(res.anomalies.find((x) => x.kind === 'lost')?.ops.map((o) => o.id), [a.id, r.id]);
  t.match(res.anomalies.find((x) => x.kind === 'lost')?.message, /C1-1 \(index 2\) is not in the final log of 0 entries; a read saw it at position 1/);
  // an unknown append may be missing
  t.same(kinds([append('C1', 'C1-1', 0, undefined, 'unknown')], final([])), []);
});

t.test('duplicate: an item in the final log twice, acknowledged or not', async (t) => {
  const a = append('C1', 'C1-1', 0, 10, 'ok', '1');
  const r = check([a], final(['C1-1', 'C1-1']));
  t.same(r.anomalies.map((x) => x.kind), ['duplicate']);
  t.match(r.anomalies[0]!.message, /C1-1 is in the final log 2 times \(positions 1, 2\)/);
  const u = append('C1', 'C1-1', 0, undefined, 'unknown');
  only(t, [u], final(['C1-1', 'C1-1']), 'duplicate', [u]);
  // once is fine for an unknown append, and counted
  const once = check([u], final(['C1-1']));
  t.same(once.anomalies, []);
  t.equal(once.stats.unknownApplied, 1);
});

t.test('phantom: an item no client sent, in the final log or in a read', async (t) => {
  only(t, [], final(['X-1']), 'phantom', []);
  const r = read('C1', ['Y-9'], 0, 1);
  const res = check([r], final(['Y-9']));
  t.same(res.anomalies.map((x) => x.kind), ['phantom'], 'reported once per item');
  const r2 = read('C1', ['Z-1'], 0, 1);
  t.same(kinds([r2], final(undefined)), ['no-final-state', 'phantom'], 'also without a final log');
});

t.test('failed-applied: an append that was never sent is in the log', async (t) => {
  const f = append('C1', 'C1-1', 0, 5, 'fail');
  only(t, [f], final(['C1-1']), 'failed-applied', [f]);
  t.same(kinds([f], final([])), []);
});

t.test('wrong-index: an acknowledged index that is not the final position', async (t) => {
  const a = append('C1', 'C1-1', 0, 10, 'ok', '1');
  const b = append('C2', 'C2-1', 0, 10, 'ok', '1');
  const r = check([a, b], final(['C1-1', 'C2-1']));
  t.same(r.anomalies.map((x) => x.kind), ['wrong-index']);
  t.same(r.anomalies[0]!.ops.map((o) => o.id), [b.id]);
  t.match(r.anomalies[0]!.message, /C2-1 was acknowledged as index 1 but is at position 2/);
});

t.test("client-order: a client's acknowledged appends out of order", async (t) => {
  const a = append('C1', 'C1-1', 0, 10, 'ok', '2');
  const b = append('C1', 'C1-2', 11, 20, 'ok', '1');
  only(t, [a, b], final(['C1-2', 'C1-1']), 'client-order', [a, b]);
  // an append invoked after an unknown one may come before it (the unknown one ran late or never)
  const u = append('C1', 'C1-1', 0, undefined, 'unknown');
  const c = append('C1', 'C1-2', 11, 20, 'ok', '1');
  t.same(kinds([u, c], final(['C1-2', 'C1-1'])), []);
  // but not before one acknowledged earlier, even with an unknown one in between
  const x = append('C2', 'C2-1', 0, 5, 'ok', '2');
  const y = append('C2', 'C2-2', 6, undefined, 'unknown');
  const z = append('C2', 'C2-3', 7, 9, 'ok', '1');
  only(t, [x, y, z], final(['C2-3', 'C2-1']), 'client-order', [x, z]);
});

t.test('realtime-order: an append acknowledged before another was invoked comes first', async (t) => {
  const a = append('C1', 'C1-1', 0, 10, 'ok', '2');
  const b = append('C2', 'C2-1', 20, 30, 'ok', '1');
  only(t, [a, b], final(['C2-1', 'C1-1']), 'realtime-order', [a, b]);
  // overlapping appends may land in either order
  const c = append('C1', 'C1-1', 0, 10, 'ok', '2');
  const d = append('C2', 'C2-1', 5, 30, 'ok', '1');
  t.same(kinds([c, d], final(['C2-1', 'C1-1'])), []);
  // an unknown append invoked after an acknowledged one may not precede it either
  const e = append('C1', 'C1-1', 0, 10, 'ok', '2');
  const u = append('C2', 'C2-1', 20, undefined, 'unknown');
  only(t, [e, u], final(['C2-1', 'C1-1']), 'realtime-order', [e, u]);
});

t.test('read-not-prefix: a read that is not a prefix of the final log', async (t) => {
  const a = append('C1', 'C1-1', 0, 10, 'ok', '1');
  const b = append('C1', 'C1-2', 11, 20, 'ok', '2');
  const r = read('C2', ['C1-2'], 0, 25);
  const res = check([a, b, r], final(['C1-1', 'C1-2']));
  t.same(res.anomalies.map((x) => x.kind), ['read-not-prefix']);
  t.same(res.anomalies[0]!.ops.map((o) => o.id), [a.id, b.id, r.id]);
  t.match(res.anomalies[0]!.message, /has "C1-2" at position 1 where the final log has "C1-1"/);
  const long = read('C2', ['C1-1', 'C1-2'], 0, 25);
  t.same(kinds([append('C1', 'C1-1', 0, 10, 'ok', '1'), append('C1', 'C1-2', 0, undefined, 'unknown'), long], final(['C1-1'])), ['read-not-prefix']);
});

t.test('stale-read: a read missing an append acknowledged before it was invoked', async (t) => {
  const a = append('C1', 'C1-1', 0, 10, 'ok', '1');
  const r = read('C2', [], 20, 25);
  only(t, [a, r], final(['C1-1']), 'stale-read', [a, r]);
  // a read concurrent with the append may miss it
  const c = read('C2', [], 5, 25);
  t.same(kinds([append('C1', 'C1-1', 0, 10, 'ok', '1'), c], final(['C1-1'])), []);
});

t.test('future-read: a read returning an append invoked after the read completed', async (t) => {
  const r = read('C2', ['C1-1'], 0, 10);
  const a = append('C1', 'C1-1', 20, 30, 'ok', '1');
  only(t, [r, a], final(['C1-1']), 'future-read', [r, a]);
});

t.test('nonmonotonic-read: a read returning less than an earlier completed read', async (t) => {
  const a = append('C1', 'C1-1', 0, 10, 'ok', '1');
  const b = append('C1', 'C1-2', 0, 50, 'ok', '2');
  const r1 = read('C2', ['C1-1', 'C1-2'], 11, 20);
  const r2 = read('C3', ['C1-1'], 21, 30);
  only(t, [a, b, r1, r2], final(['C1-1', 'C1-2']), 'nonmonotonic-read', [r1, r2]);
  // concurrent reads may return different prefixes
  const r3 = read('C2', ['C1-1', 'C1-2'], 11, 25);
  const r4 = read('C3', ['C1-1'], 21, 30);
  t.same(kinds([a, b, r3, r4], final(['C1-1', 'C1-2'])), []);
});

t.test('bad-result: results that are not an index or a JSON list', async (t) => {
  const a = append('C1', 'C1-1', 0, 10, 'ok', 'error: log takes "append X"');
  const r = read('C2', 'not json', 0, 10);
  t.same(kinds([a, r], final(['C1-1'])), ['bad-result', 'bad-result']);
});

t.test('divergence: ready replicas with different final states', async (t) => {
  const a = append('C1', 'C1-1', 0, 10, 'ok', '1');
  const b = append('C1', 'C1-2', 11, 20, 'ok', '2');
  const log = ['C1-1', 'C1-2'];
  const res = check([a, b], final(log, [{ name: 'S2', log: ['C1-1'] }]));
  t.same(res.anomalies.map((x) => x.kind), ['divergence']);
  t.match(res.anomalies[0]!.message, /S2 holds 1 entries, S1 2; they first differ at position 2: null vs "C1-2"/);
  t.same(res.anomalies[0]!.ops.map((o) => o.id), [b.id]);
  t.same(kinds([a, b], final(log, [{ name: 'S3', digest: 'abcdefabcdef' }])), ['divergence']);
  t.same(kinds([a, b], final(log, [{ name: 'S2', log: [...log] }, { name: 'S3', digest: logDigest(log) }])), []);
});

t.test('no-final-state: nothing to check the history against', async (t) => {
  t.same(kinds([append('C1', 'C1-1', 0, 10, 'ok', '1')], final(undefined)), ['no-final-state']);
});

t.test('many anomalies of one kind are capped, the rest counted', async (t) => {
  const h = Array.from({ length: 15 }, (_, i) => append('C1', `C1-${i + 1}`, i * 10, i * 10 + 5, 'ok', String(i + 1)));
  const r = check(h, final([]), { maxPerKind: 4 });
  t.equal(r.anomalies.length, 4);
  t.same(r.suppressed, { lost: 11 });
});

t.test('logDigest is the digest servers trace for a log state', async (t) => {
  const entries = ['C1-1', 'C2-1'];
  t.equal(logDigest(entries), createHash('sha1').update(JSON.stringify(entries)).digest('hex').slice(0, 12));
});

// No time limit here: a timed test fails on a loaded machine whatever the code does (speed is for benchmarks).
t.test('a large history with many anomalies is checked, and its reports are capped', async (t) => {
  const h: Op[] = [];
  const items: string[] = [];
  for (let i = 0; i < 5000; i++) {
    const value = `C${i % 4}-${i}`;
    h.push(append(`C${i % 4}`, value, i, i + 0.5, 'ok', String(i + 1)));
    items.push(value);
    if (i % 5 === 0) h.push(read('R', items.slice(0, i + 1), i + 0.6, i + 0.7));
  }
  const r = check(h, final([]));
  t.equal(r.anomalies.filter((a) => a.kind === 'lost').length, 10);
  t.equal(r.suppressed.lost, 4990);
});
