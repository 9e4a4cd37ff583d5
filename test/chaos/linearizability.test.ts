/**
 * The checker as a linearizability check of whole histories against the log app's
 * sequential specification (append X returns its 1-based index, read returns the
 * whole log): the two anomalies a stale-view client saw against a resumed, deposed
 * sequencer (issue 11), linearize()'s order or counter-example, and agreement with a
 * brute-force search over every order on many small random histories.
 */
import t from 'tap';
import { check, type FinalState } from '../../harness/chaos/checker.js';
import { linearize } from '../../harness/chaos/linearize.js';
import type { Op } from '../../harness/chaos/history.js';
import { mulberry32, randInt, type Rng } from '../../harness/chaos/rng.js';

let nextId = 0;
function append(process: string, value: string, invoke: number, complete: number | undefined, outcome: Op['outcome'] = 'ok', result?: string): Op {
  const op: Op = { id: nextId++, process, op: 'append', value, invokeTime: invoke, outcome, server: 'S1' };
  if (complete !== undefined && outcome !== 'unknown') op.completeTime = complete;
  if (outcome === 'ok') op.result = result ?? '?';
  return op;
}
function read(process: string, items: string[], invoke: number, complete: number | undefined, outcome: Op['outcome'] = 'ok'): Op {
  const op: Op = { id: nextId++, process, op: 'read', invokeTime: invoke, outcome, server: 'S1' };
  if (complete !== undefined && outcome !== 'unknown') op.completeTime = complete;
  if (outcome === 'ok') op.result = JSON.stringify(items);
  return op;
}
const final = (log: string[] | undefined): FinalState => ({ log, source: 'S2', replicas: [] });
const ids = (ops: Op[] | undefined) => (ops ?? []).map((o) => o.id);

t.test('issue 11 (a): an append acknowledged by a deposed sequencer at an index in no final log', async (t) => {
  // C1 and C2 follow the views; CS1 talks to the old sequencer S1, which was paused and replaced.
  const a1 = append('C1', 'C1-1', 0, 5, 'ok', '1');
  const a2 = append('C2', 'C2-1', 6, 12, 'ok', '2'); // ordered by the new sequencer S2
  const z = append('CS1', 'CS1-1', 4, 20, 'ok', '2'); // queued in S1's socket while it was stopped; S1 answered from its own order
  const r = read('C1', ['C1-1', 'C2-1'], 21, 25); // misses CS1-1: a consequence, reported once as lost
  const res = check([a1, z, a2, r], final(['C1-1', 'C2-1']));
  t.same(res.anomalies.map((x) => x.kind), ['lost'], res.anomalies.map((x) => x.message).join(' / '));
  t.same(ids(res.anomalies[0]?.ops), [z.id]);
  t.equal(res.stats.linearizable, false);
  // the same append, applied later by the new sequencer at another index: wrong-index
  const res2 = check([a1, z, a2], final(['C1-1', 'C2-1', 'CS1-1']));
  t.same(res2.anomalies.map((x) => x.kind), ['wrong-index']);
  t.same(ids(res2.anomalies[0]?.ops), [z.id]);
});

t.test('issue 11 (b): a read answered from an order that never existed', async (t) => {
  // C3's appends were acknowledged at 3 and 4 by the new sequencer; the deposed one answered
  // CS1's read with them at 2 and 3, in its own order.
  const a = append('C1', 'C1-1', 0, 2, 'ok', '1');
  const b = append('C2', 'C2-1', 3, 8, 'ok', '2');
  const c1 = append('C3', 'C3-1', 3, 9, 'ok', '3');
  const c2 = append('C3', 'C3-2', 10, 12, 'ok', '4');
  const r = read('CS1', ['C1-1', 'C3-1', 'C3-2'], 4, 13);
  const res = check([a, b, c1, c2, r], final(['C1-1', 'C2-1', 'C3-1', 'C3-2']));
  t.same(res.anomalies.map((x) => x.kind), ['read-not-prefix'], res.anomalies.map((x) => x.message).join(' / '));
  t.same(ids(res.anomalies[0]?.ops), [b.id, c1.id, r.id], 'the read and what the final log and the read hold at the first difference');
  t.match(res.anomalies[0]?.message, /has "C3-1" at position 2 where the final log has "C2-1"/);
});

t.test('a legal history with concurrent and unknown operations is linearizable, and linearize() gives the order', async (t) => {
  const a = append('C1', 'C1-1', 0, 10, 'ok', '1');
  const b = append('C2', 'C2-1', 1, 30, 'ok', '3');
  const u = append('C3', 'C3-1', 2, undefined, 'unknown'); // took effect, at 2
  const never = append('C4', 'C4-1', 3, undefined, 'unknown'); // never took effect
  const r1 = read('C1', ['C1-1'], 11, 12);
  const r2 = read('C5', ['C1-1', 'C3-1'], 5, 40); // concurrent with b
  const r3 = read('C1', ['C1-1', 'C3-1', 'C2-1'], 31, 32);
  const h = [a, b, u, never, r2, r1, r3];
  const log = ['C1-1', 'C3-1', 'C2-1'];
  const res = check(h, final(log));
  t.same(res.anomalies, []);
  t.equal(res.stats.linearizable, true);
  const lin = linearize(h, log);
  t.ok(lin.ok);
  if (lin.ok) t.same(ids(lin.order), [a.id, r1.id, u.id, r2.id, b.id, r3.id]);
});

t.test('linearize() names the pair that rules out every order', async (t) => {
  const log = ['C1-1', 'C2-1'];
  // a read invoked after C2-1 was acknowledged returns only C1-1 (stale)
  const a = append('C1', 'C1-1', 0, 1, 'ok', '1');
  const b = append('C2', 'C2-1', 2, 3, 'ok', '2');
  const r = read('C3', ['C1-1'], 4, 5);
  const v1 = linearize([a, b, r], log);
  t.same(v1.ok ? undefined : [v1.violation.before.id, v1.violation.after.id], [r.id, b.id]);
  t.same(check([a, b, r], final(log)).anomalies.map((x) => x.kind), ['stale-read']);
  // reads going backwards in real time
  const r1 = read('C3', ['C1-1', 'C2-1'], 4, 5);
  const r2 = read('C4', ['C1-1'], 6, 7);
  const b2 = append('C2', 'C2-1', 0.5, 10, 'ok', '2');
  const v2 = linearize([a, b2, r1, r2], log);
  t.same(v2.ok ? undefined : [v2.violation.before.id, v2.violation.after.id], [r2.id, r1.id]);
  t.same(check([a, b2, r1, r2], final(log)).anomalies.map((x) => x.kind), ['nonmonotonic-read']);
  // operations with illegal results take no part (they are reported as such)
  const wrong = append('C5', 'C5-1', 0, 1, 'ok', '7');
  t.ok(linearize([wrong], ['C5-1']).ok);
});

// ---- agreement with a brute-force search ------------------------------------------

/** Is `history` linearizable, with the log ending as `log`? Tries every order (tiny histories only). */
function bruteForce(history: readonly Op[], log: readonly string[]): boolean {
  const ops = history.filter((o) => o.outcome !== 'fail' && !(o.op === 'read' && o.outcome === 'unknown'));
  if (history.some((o) => o.outcome === 'fail' && o.op === 'append' && log.includes(o.value!))) return false;
  const done = (o: Op) => (o.outcome === 'ok' ? o.completeTime! : Infinity);
  const memo = new Set<string>();
  const search = (used: number, state: string[]): boolean => {
    const key = `${used}|${state.join(',')}`;
    if (memo.has(key)) return false;
    memo.add(key);
    const pendingOk = ops.some((o, i) => !(used & (1 << i)) && o.outcome === 'ok');
    if (!pendingOk && state.length === log.length && state.every((x, i) => x === log[i])) return true;
    for (const [i, o] of ops.entries()) {
      if (used & (1 << i)) continue;
      // every operation that completed before o was invoked must be placed already (or, if unknown, never)
      if (ops.some((p, j) => j !== i && !(used & (1 << j)) && done(p) < o.invokeTime)) continue;
      if (o.op === 'append') {
        const next = [...state, o.value!];
        if (o.outcome === 'ok' && o.result !== String(next.length)) continue;
        if (search(used | (1 << i), next)) return true;
      } else {
        if (o.result !== JSON.stringify(state)) continue;
        if (search(used | (1 << i), state)) return true;
      }
    }
    return false;
  };
  // An unknown operation never blocks another (it has no completion) and may be left unplaced: it never took effect.
  return search(0, []);
}

/** A small random history: a true execution of a few clients, then sometimes a corrupted result, timing or final log. */
function randomHistory(rng: Rng): { history: Op[]; log: string[] } {
  const truth: string[] = [];
  const clients = randInt(rng, 2, 3);
  const history: Op[] = [];
  const ops: Array<{ op: Op; effectAt: number }> = [];
  for (let c = 1; c <= clients; c++) {
    let now = randInt(rng, 0, 3);
    const n = randInt(rng, 1, 3);
    for (let k = 1; k <= n; k++) {
      const invoke = now;
      const effect = invoke + randInt(rng, 0, 4);
      const complete = effect + randInt(rng, 0, 4);
      const op: Op = { id: 0, process: `C${c}`, op: rng() < 0.6 ? 'append' : 'read', invokeTime: invoke, outcome: 'ok', completeTime: complete, server: 'S1' };
      if (op.op === 'append') op.value = `C${c}-${k}`;
      ops.push({ op, effectAt: effect + rng() * 0.5 });
      now = complete + randInt(rng, 1, 3);
    }
  }
  // Execute at the effect points, in order.
  for (const { op } of [...ops].sort((a, b) => a.effectAt - b.effectAt)) {
    if (op.op === 'append') {
      truth.push(op.value!);
      op.result = String(truth.length);
    } else op.result = JSON.stringify(truth);
  }
  for (const { op } of ops) history.push(op);
  history.sort((a, b) => a.invokeTime - b.invokeTime);
  history.forEach((o, i) => (o.id = i));
  let log = [...truth];
  // Corruptions.
  const victim = history[randInt(rng, 0, history.length - 1)]!;
  const r = rng();
  if (r < 0.15) {
    // the outcome was not seen
    victim.outcome = 'unknown';
    delete victim.completeTime;
    delete victim.result;
  } else if (r < 0.3 && victim.op === 'append') victim.result = String(Number(victim.result) + (rng() < 0.5 ? 1 : -1));
  else if (r < 0.45 && victim.op === 'read') {
    const items = JSON.parse(victim.result!) as string[];
    if (rng() < 0.5) items.pop();
    else items.push(...log.filter((x) => !items.includes(x)).slice(0, 1));
    victim.result = JSON.stringify(items);
  } else if (r < 0.55) victim.invokeTime = victim.completeTime! + 1 - randInt(rng, 0, 12); // a clock that lies
  else if (r < 0.65 && log.length >= 2) {
    const i = randInt(rng, 0, log.length - 2);
    [log[i], log[i + 1]] = [log[i + 1]!, log[i]!];
  } else if (r < 0.7 && log.length > 0) log = log.slice(0, -1);
  if (victim.invokeTime > (victim.completeTime ?? Infinity)) victim.invokeTime = victim.completeTime!;
  return { history, log };
}

t.test('on 2,000 random small histories the checker and a brute-force search agree', async (t) => {
  const rng = mulberry32(11);
  let legal = 0;
  let disagreements = 0;
  let flagWrong = 0;
  let checked = 0;
  for (let i = 0; i < 2000; i++) {
    const { history, log } = randomHistory(rng);
    // one operation at a time per client: the checker's per-client order check relies on it
    const sequential = [...new Set(history.map((o) => o.process))].every((p) => {
      const mine = history.filter((o) => o.process === p).sort((a, b) => a.invokeTime - b.invokeTime);
      return mine.every((o, k) => k === 0 || (mine[k - 1]!.completeTime ?? Infinity) < o.invokeTime || mine[k - 1]!.outcome !== 'ok');
    });
    if (!sequential) continue;
    const expected = bruteForce(history, log);
    const res = check(history, final(log));
    const got = res.anomalies.length === 0;
    checked++;
    if (expected) legal++;
    if (res.stats.linearizable !== got) flagWrong++;
    if (got !== expected && ++disagreements <= 5) {
      t.fail(`history ${i}: brute force says ${expected ? '' : 'not '}linearizable, the checker found ${res.anomalies.map((a) => `${a.kind}: ${a.message}`).join(' / ') || 'nothing'}`, {
        history: history.map((o) => `${o.process} ${o.op} ${o.value ?? ''} [${o.invokeTime}, ${o.completeTime ?? '-'}] ${o.outcome} ${o.result ?? ''}`),
        log,
      });
    }
  }
  t.equal(disagreements, 0, `no disagreement on ${checked} histories`);
  t.equal(flagWrong, 0, 'stats.linearizable is exactly "no anomaly"');
  t.ok(legal > 300 && legal < 1900, `both kinds of history were generated: ${legal} linearizable`);
  t.ok(checked > 1000, `${checked} histories checked`);
});
