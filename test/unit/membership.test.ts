/**
 * The GFD's membership table (gfd/membership.ts): a pure structure whose operations
 * return the changes they made.
 */
import t from 'tap';
import { Membership } from '../../gfd/membership.js';

const A1 = '10.0.0.1:7201';
const A2 = '10.0.0.2:7201';

t.test('add returns an add change', async (t) => {
  const m = new Membership();
  t.same(m.add('LFD1', 'S1', A1), [{ action: 'add', server: 'S1', addr: A1, lfd: 'LFD1', group: 'g1' }]);
  t.same(m.names(), ['S1']);
  t.equal(m.lfdOf('S1'), 'LFD1');
  t.same(m.serversOn('LFD1'), ['S1']);
});

t.test('re-adding an identical member is a no-op', async (t) => {
  const m = new Membership();
  m.add('LFD1', 'S1', A1);
  t.same(m.add('LFD1', 'S1', A1), []);
  t.same(m.list(), [{ name: 'S1', addr: A1 }]);
});

t.test('re-adding with a new address yields delete + add', async (t) => {
  const m = new Membership();
  m.add('LFD1', 'S1', A1);
  t.same(m.add('LFD1', 'S1', '10.0.0.1:7301'), [
    { action: 'delete', server: 'S1', addr: A1, lfd: 'LFD1', group: 'g1' },
    { action: 'add', server: 'S1', addr: '10.0.0.1:7301', lfd: 'LFD1', group: 'g1' },
  ]);
  t.same(m.list(), [{ name: 'S1', addr: '10.0.0.1:7301' }]);
});

t.test('a name live on one LFD is refused on another: nothing changes', async (t) => {
  const m = new Membership();
  m.add('LFD1', 'S1', A1);
  t.same(m.add('LFD2', 'S1', A2), { refused: `S1 is already running on LFD1 at ${A1}` });
  t.equal(m.lfdOf('S1'), 'LFD1');
  t.same(m.serversOn('LFD1'), ['S1']);
  t.same(m.serversOn('LFD2'), []);
  t.same(m.list(), [{ name: 'S1', addr: A1 }]);
});

t.test('once it is gone from its LFD, the name may join on another LFD', async (t) => {
  const m = new Membership();
  m.add('LFD1', 'S1', A1);
  m.delete('LFD1', 'S1');
  t.same(m.add('LFD2', 'S1', A2), [{ action: 'add', server: 'S1', addr: A2, lfd: 'LFD2', group: 'g1' }]);
  t.equal(m.lfdOf('S1'), 'LFD2');
  m.dropLfd('LFD2');
  t.same(m.add('LFD3', 'S1', A1), [{ action: 'add', server: 'S1', addr: A1, lfd: 'LFD3', group: 'g1' }], 'also after its machine was lost');
});

t.test('delete by the owning LFD returns a delete change', async (t) => {
  const m = new Membership();
  m.add('LFD1', 'S1', A1);
  t.same(m.delete('LFD1', 'S1'), [{ action: 'delete', server: 'S1', addr: A1, lfd: 'LFD1', group: 'g1' }]);
  t.same(m.names(), []);
  t.same(m.list(), []);
  t.same(m.delete('LFD1', 'S1'), [], 'deleting twice is a no-op');
  t.same(m.delete('LFD1', 'S9'), [], 'deleting an unknown server is a no-op');
});

t.test('delete by the wrong LFD is ignored', async (t) => {
  const m = new Membership();
  m.add('LFD1', 'S1', A1);
  t.same(m.delete('LFD2', 'S1'), []);
  t.same(m.list(), [{ name: 'S1', addr: A1 }]);
  t.equal(m.lfdOf('S1'), 'LFD1');
});

t.test("dropLfd deletes exactly that LFD's servers", async (t) => {
  const m = new Membership();
  m.add('LFD1', 'S1', A1);
  m.add('LFD2', 'S2', A2);
  m.add('LFD1', 'S3', '10.0.0.1:7203');
  m.add('LFD3', 'S4', '10.0.0.3:7204');
  const changes = m.dropLfd('LFD1');
  t.same(
    [...changes].sort((a, b) => a.server.localeCompare(b.server)),
    [
      { action: 'delete', server: 'S1', addr: A1, lfd: 'LFD1', group: 'g1' },
      { action: 'delete', server: 'S3', addr: '10.0.0.1:7203', lfd: 'LFD1', group: 'g1' },
    ],
  );
  t.same(m.names(), ['S2', 'S4']);
  t.same(m.serversOn('LFD1'), []);
  t.same(m.dropLfd('LFD1'), [], 'dropping it again changes nothing');
  t.same(m.dropLfd('LFD9'), [], 'an unknown LFD owns nothing');
  t.same(m.names(), ['S2', 'S4']);
});

t.test('lfdOf remembers the home LFD after deletion', async (t) => {
  const m = new Membership();
  t.equal(m.lfdOf('S1'), undefined, 'never seen');
  m.add('LFD1', 'S1', A1);
  m.add('LFD2', 'S2', A2);
  m.delete('LFD1', 'S1');
  m.dropLfd('LFD2');
  t.same(m.names(), []);
  t.equal(m.lfdOf('S1'), 'LFD1', 'kept after delete');
  t.equal(m.lfdOf('S2'), 'LFD2', 'kept after dropLfd');
  m.add('LFD3', 'S1', '10.0.0.3:7201');
  m.delete('LFD3', 'S1');
  t.equal(m.lfdOf('S1'), 'LFD3', 'the last LFD it was seen on');
});

t.test('names() are sorted naturally (S2 before S10)', async (t) => {
  const m = new Membership();
  for (const s of ['S10', 'S2', 'S1', 'S11', 'S3']) m.add('LFD1', s, `10.0.0.1:${7200 + Number(s.slice(1))}`);
  t.same(m.names(), ['S1', 'S2', 'S3', 'S10', 'S11']);
});

t.test('list() gives name and addr, in name order', async (t) => {
  const m = new Membership();
  m.add('LFD2', 'S10', '10.0.0.2:7210');
  m.add('LFD1', 'S2', A1);
  t.same(m.list(), [
    { name: 'S2', addr: A1 },
    { name: 'S10', addr: '10.0.0.2:7210' },
  ]);
  for (const entry of m.list()) t.same(Object.keys(entry).sort(), ['addr', 'name'], 'only name and addr');
});

t.test('a member keeps its replica group; the members message lists those outside the default group', async (t) => {
  const m = new Membership();
  t.same(m.add('LFD1', 'S4', A1, 'g2'), [{ action: 'add', server: 'S4', addr: A1, lfd: 'LFD1', group: 'g2' }]);
  m.add('LFD2', 'S1', A2);
  t.equal(m.groupOf('S4'), 'g2');
  t.equal(m.groupOf('S1'), 'g1');
  t.equal(m.groups(), 'S4=g2');
  t.same(m.add('LFD1', 'S4', A1, 'g3'), [
    { action: 'delete', server: 'S4', lfd: 'LFD1', addr: A1, group: 'g2' },
    { action: 'add', server: 'S4', addr: A1, lfd: 'LFD1', group: 'g3' },
  ], 'the same server re-registering in another group leaves the old one');
});
