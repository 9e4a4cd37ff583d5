/**
 * The RM's record of ftkit sync's reports (rm/syncs.ts) and how `ctl status` prints them: each
 * link's latest backlog and delivered revision replace the one before, a link not heard from for
 * a while is silent, a sync's connection carries nothing but reports, and the section is left
 * out when no sync has reported.
 */
import t from 'tap';
import { SYNC_SILENT_MS, SyncTable } from '../../rm/syncs.js';
import { formatStatus, formatSyncLinks } from '../../clients/ctl.js';
import type { Message, MessageOf } from '../../lib/protocol/index.js';

const report = (source: string, target: string, waiting: number, delivered: number): MessageOf<'backlog'> => ({ type: 'backlog', from: 'sync', source, target, waiting, delivered });

t.test('the latest report of each link, in name order, with its age; silent after SYNC_SILENT_MS', async (t) => {
  let now = 1_000;
  const table = new SyncTable(() => now);
  t.same(table.status(), [], 'nothing before a report');
  table.record(report('g2', 'g1', 3, 7));
  table.record(report('g1', 'g2', 5, 10));
  now += 400;
  table.record(report('g1', 'g2', 0, 15));
  t.same(table.status(), [
    { link: 'g1>g2', from: 'g1', to: 'g2', backlog: 0, delivered: 15, sync: 'sync', ageMs: 0, silent: false },
    { link: 'g2>g1', from: 'g2', to: 'g1', backlog: 3, delivered: 7, sync: 'sync', ageMs: 400, silent: false },
  ]);
  now += SYNC_SILENT_MS;
  t.same(
    table.status().map((l) => [l.link, l.silent]),
    [
      ['g1>g2', false],
      ['g2>g1', true],
    ],
    'g2>g1, unreported for more than 5 s, is silent; g1>g2 just not',
  );
});

t.test("a sync's connection: the first report is recorded, later ones too, anything else is unexpected", async (t) => {
  const table = new SyncTable(() => 0);
  const handle = table.follow(report('g1', 'g3', 2, 4), (msg) => new Error(`unexpected ${msg.type}`));
  handle(report('g1', 'g3', 1, 5));
  t.match(table.status(), [{ link: 'g1>g3', backlog: 1, delivered: 5 }]);
  const other: Message = { type: 'status', from: 'sync' };
  t.throws(() => handle(other), /unexpected status/);
  t.match(table.status(), [{ link: 'g1>g3', backlog: 1, delivered: 5 }], 'unchanged');
});

t.test('ctl status prints a sync section: each link, its backlog, delivered revision, and whether it is heard', async (t) => {
  const links = [
    { link: 'g1>g2', backlog: 0, delivered: 15, ageMs: 300, silent: false },
    { link: 'g3>g1', backlog: 27, delivered: 40, ageMs: 12_400, silent: true },
  ];
  t.same(formatSyncLinks(links), [
    'sync (each link: entries waiting, last revision delivered):',
    '  g1>g2  backlog 0     delivered 15     reported 0.3 s ago',
    '  g3>g1  backlog 27    delivered 40     silent for 12 s',
  ]);
  t.same(formatSyncLinks([]), [], 'no sync: no section');
  const status = { mode: 'passive', epoch: 1, leader: 'S1', gfd: 'connected', members: [], clients: [], properties: {}, sync: links };
  t.match(formatStatus(JSON.stringify(status)), /clients: -\nsync \(each link: entries waiting, last revision delivered\):\n  g1>g2  backlog 0 {5}delivered 15/);
  t.notMatch(formatStatus(JSON.stringify({ ...status, sync: [] })), /sync/, 'left out without reports');
});
