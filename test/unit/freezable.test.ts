/**
 * Freezing the sns and chat states (servers/core/freezable.ts): a freeze copies nothing, what it
 * took stays readable however the app changes after, its parts join to the snapshot of that
 * point, and a restorer rebuilds the same state from parts cut anywhere, refusing a bad record by
 * its line and changing nothing before the end.
 */
import t from 'tap';
import { createApp, type App } from '../../servers/core/apps.js';
import { FreezableMap } from '../../servers/core/freezable.js';

/** A small deterministic generator (mulberry32), so a failing run can be repeated. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), seed | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A random request of the app, over a few users and rooms so that they meet often. */
function request(app: 'sns' | 'chat', rnd: () => number, time: number): string {
  const pick = (n: number) => Math.floor(rnd() * n);
  const u = `u${pick(12)}`;
  const v = `u${pick(12)}`;
  const text = pick(5) === 0 ? `"quoted" \\ é ✓ ${pick(1000)}` : `hello ${pick(1000)}`;
  if (app === 'chat') return [`login ${u}`, `join ${u} r${pick(4)}`, `leave ${u} r${pick(4)}`, `say ${u} ${time} ${text}`, `say ${u} ${time} ${text}`][pick(5)]!;
  const sync = () => {
    const entries = [
      { to: 'g1', from: 'g2', op: 'user', user: `w${pick(5)}`, home: 'g2' },
      { to: 'g1', from: 'g2', op: 'follow', user: u, follower: `w${pick(5)}` },
      { to: 'g1', from: 'g2', op: 'deliver', author: `w${pick(5)}`, time, text, users: [u, v] },
    ];
    return `sync ${JSON.stringify(entries[pick(entries.length)])}`;
  };
  const ops = [`login ${u} s${pick(2)} ${time}`, `logout ${u} s${pick(2)}`, `follow ${u} ${v}`, `unfollow ${u} ${v}`, `post ${u} ${time} ${text}`, `post ${u} ${time} ${text}`, sync(), `synced g2 ${pick(50)}`];
  return ops[pick(ops.length)]!;
}

function run(app: App, kind: 'sns' | 'chat', rnd: () => number, n: number, from: number): void {
  for (let i = 0; i < n; i++) app.apply(request(kind, rnd, from + i));
}

/** The text cut in pieces of random lengths (1 to max characters). */
function cut(text: string, rnd: () => number, max: number): string[] {
  const out: string[] = [];
  for (let at = 0; at < text.length; ) {
    const n = 1 + Math.floor(rnd() * max);
    out.push(text.slice(at, at + n));
    at += n;
  }
  return out;
}

t.test('a freezable map: the frozen contents stay as they were; the live map goes on', async (t) => {
  const m = new FreezableMap<string[]>((l) => [...l], (l) => l.length);
  for (let i = 0; i < 2000; i++) m.set(`k${i}`, [`v${i}`]);
  const before = [...m.freeze().entries()].map(([k, v]) => `${k}=${v.join('+')}`);
  const frozen = m.freeze();
  m.update('k1', (l) => l.push('changed'));
  m.set('k2', ['replaced']);
  m.delete('k3');
  m.set('new', ['added']);
  for (let i = 10; i < 2000; i += 3) m.update(`k${i}`, (l) => (l[0] = 'x'));
  const again = m.freeze();
  m.update('k1', (l) => l.push('twice'));
  t.same([...frozen.entries()].map(([k, v]) => `${k}=${v.join('+')}`), before, 'the first frozen contents, unchanged');
  t.equal(frozen.size, 2000);
  t.same(m.get('k1'), ['v1', 'changed', 'twice'], 'the live value');
  t.same(new Map(again.entries()).get('k1'), ['v1', 'changed'], 'the second frozen contents hold what was there then');
  t.notOk(new Map(again.entries()).has('k3'), 'and not what was deleted before it');
  t.equal(m.size, 2000, 'one deleted, one added');
  t.notOk(m.update('nothing', () => t.fail('no value to change')), 'no value: nothing to change');
  const keys = [...m.keys()];
  t.equal(new Set(keys).size, keys.length, 'each key once');
});

for (const kind of ['sns', 'chat'] as const) {
  t.test(`${kind}: parts join to the snapshot of the point it was frozen at, whatever came after`, async (t) => {
    const rnd = random(kind === 'sns' ? 11 : 12);
    const app = createApp(kind, 'g1');
    run(app, kind, rnd, 3000, 1);
    const then = app.snapshot();
    const frozen = app.freeze!();
    run(app, kind, rnd, 3000, 5000);
    t.not(app.snapshot(), then, 'the app went on');
    for (const max of [1, 500, 64 * 1024, Infinity]) {
      const parts = [...frozen.parts(max)];
      t.equal(parts.join(''), then, `parts of about ${max} characters join to the snapshot then`);
      t.ok(parts.every((p) => p.endsWith('\n')), 'each part holds whole records');
    }
    t.ok(frozen.size > then.length * 0.5 && frozen.size < then.length * 2, `its size (${frozen.size}) is about the snapshot's length (${then.length})`);
  });

  t.test(`${kind}: frozen at many points while it changes, each freeze holds its own point`, async (t) => {
    const rnd = random(kind === 'sns' ? 21 : 22);
    const app = createApp(kind, 'g1');
    const taken: Array<[string, ReturnType<NonNullable<App['freeze']>>]> = [];
    for (let round = 0; round < 40; round++) {
      run(app, kind, rnd, 1 + Math.floor(rnd() * 60), round * 100);
      taken.push([app.snapshot(), app.freeze!()]);
    }
    const wrong = taken.filter(([text, frozen]) => [...frozen.parts(300)].join('') !== text).length;
    t.equal(wrong, 0, `all ${taken.length} frozen states read back as they were taken`);
  });

  t.test(`${kind}: a restorer rebuilds the same state from parts cut anywhere, and nothing changes before the end`, async (t) => {
    const rnd = random(kind === 'sns' ? 31 : 32);
    const source = createApp(kind, 'g1');
    run(source, kind, rnd, 2000, 1);
    const target = createApp(kind, 'g1');
    run(target, kind, rnd, 50, 1);
    const before = target.snapshot();
    const r = target.restorer!();
    for (const piece of cut(source.snapshot(), rnd, 700)) r.push(piece);
    t.equal(target.snapshot(), before, 'unchanged until done');
    r.done();
    t.equal(target.snapshot(), source.snapshot(), 'the same state');
    // The same requests after: the same replies and the same state (revisions, compaction, sessions).
    const rest = Array.from({ length: 2000 }, (_, i) => request(kind, rnd, 9000 + i));
    const replies = (app: App) => rest.map((p) => app.apply(p));
    t.same(replies(target), replies(source), 'the same replies to the same requests after');
    t.equal(target.snapshot(), source.snapshot(), 'and the same state');
    const copy = createApp(kind, 'g1');
    copy.restore(source.snapshot());
    t.equal(copy.snapshot(), source.snapshot(), 'restore of the whole text: the same state');
    const empty = createApp(kind, 'g1');
    empty.restore('');
    t.equal(empty.snapshot(), createApp(kind, 'g1').snapshot(), 'an empty text: an empty state');
  });

  t.test(`${kind}: a bad record is refused by its line, and the state is untouched`, async (t) => {
    const app = createApp(kind, 'g1');
    run(app, kind, random(41), 200, 1);
    const before = app.snapshot();
    const lines = before.split('\n');
    const bad = (i: number, line: string) => [...lines.slice(0, i), line, ...lines.slice(i + 1)].join('\n');
    const cases: Array<[string, string, RegExp]> = [
      ['not JSON', bad(1, '["dir", "x"'), /record 2: not JSON/],
      ['not a record', bad(1, '{"a":1}'), /record 2: not a record/],
      ['an unknown kind', bad(2, '["what", 1]'), /record 3: unknown kind "what"/],
      ['a field of the wrong type', bad(1, kind === 'sns' ? '["user", "x", "y", [], null, null]' : '["user", "x", [1]]'), /record 2: .*not a list of strings/],
      ['events out of order', before.replace(/\["event",(\d+)/, '["event",0'), /event revision 0 is out of order/],
      ['cut inside a record', before.slice(0, -5), /ends inside a record/],
      ['no log record', lines.filter((l) => !/^\["(log|topic|event)"/.test(l)).join('\n'), /no log record/],
      ['no log record, and other users', lines.filter((l) => !/^\["(log|topic|event)"/.test(l)).map((l) => l.replace(/^\["(user|dir)","/, '["$1","other-')).join('\n'), /no log record/],
    ];
    for (const [what, text, error] of cases) {
      t.throws(() => app.restore(text), error, what);
      t.equal(app.snapshot(), before, `${what}: the state is as it was`);
    }
  });

  t.test(`${kind}: a state written whole as one JSON object (an older data dir) is still read`, async (t) => {
    const app = createApp(kind, 'g1');
    const legacy =
      kind === 'sns'
        ? { directory: { a: 'g1', b: 'g2' }, local: { a: { following: ['b'], followers: [], session: { id: 's', seen: 5 } } }, synced: { g2: 1 }, log: { rev: 2, events: [{ rev: 2, topic: 'outbox', text: '{"to":"*"}' }], compactAt: 1024 } }
        : { users: { a: ['r'] }, rooms: { r: ['a'] }, log: { rev: 1, events: [{ rev: 1, topic: 'inbox/a', text: '{"room":"r","user":"a","time":1,"text":"hi"}' }], compactAt: 1024 } };
    const text = JSON.stringify(legacy);
    const r = app.restorer!();
    for (const piece of cut(text, random(51), 20)) r.push(piece);
    r.done();
    if (kind === 'sns') {
      t.equal(app.apply('follow a b'), 'exists', 'whom a follows came back');
      t.equal(app.watch!.lastRev(), 2);
      t.match(app.apply('list a'), /"users":\["a","b"\]/);
    } else {
      t.match(app.apply('history a'), /"rev":1,"messages":\[\{"room":"r","user":"a","time":1,"text":"hi"\}\]/);
      t.equal(app.apply('join a r'), 'already');
    }
    const copy = createApp(kind, 'g1');
    copy.restore(text);
    t.equal(copy.snapshot(), app.snapshot(), 'whole or in pieces: the same');
  });
}
