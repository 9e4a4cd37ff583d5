/**
 * The groups and views of running without an RM (lib/config/fixed.ts), from flags' values and
 * from the milestone .ini files in config/ as they are.
 */
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadIni } from '../../lib/config/ini.js';
import { CLIENT_OPTIONS, GFD_OPTIONS, LFD_OPTIONS, SERVER_OPTIONS } from '../../lib/config/options.js';
import { fixedGroup, fixedView } from '../../lib/config/fixed.js';
import type { Member, Mode } from '../../lib/protocol/index.js';

const CONFIG = fileURLToPath(new URL('../../config/', import.meta.url));
const GROUP = [
  { name: 'S1', addr: '10.0.0.1:7201' },
  { name: 'S2', addr: '10.0.0.2:7201' },
  { name: 'S3', addr: '10.0.0.3:7201' },
];

t.test('a server follows the RM unless told otherwise; alone, it is a passive primary of one', async (t) => {
  t.equal(fixedGroup({ name: 'S1', lfd: '127.0.0.1:7101', self: '127.0.0.1:7201', port: 7201 }), undefined);
  t.same(fixedGroup({ name: 'S1', static: true, lfd: false, self: '127.0.0.1:0', port: 0 }), { mode: 'passive', leader: 'S1', members: [{ name: 'S1', addr: '127.0.0.1:0' }] });
  t.same(fixedGroup({ name: 'S2', group: GROUP, mode: 'active', primary: 'S3', lfd: false, self: 'x:7201', port: 7201 }), { mode: 'active', leader: 'S3', members: GROUP });
});

t.test('a client given replicas: the primary first in passive mode, every one in active mode', async (t) => {
  t.equal(fixedView({ rmGiven: true }), undefined);
  t.same(fixedView({ servers: GROUP, mode: 'passive', primary: 'S2', rmGiven: false })?.replicas.map((m) => m.name), ['S2', 'S1', 'S3']);
  t.same(fixedView({ servers: GROUP, mode: 'active', rmGiven: false }), { mode: 'active', replicas: GROUP });
  t.same(fixedView({ servers: GROUP.slice(0, 1), rmGiven: false }), { mode: 'passive', replicas: GROUP.slice(0, 1) });
});

t.test('config/m1.ini, m2.ini and m3.ini describe the milestones as they are', async (t) => {
  const m1 = join(CONFIG, 'm1.ini');
  t.equal(loadIni(m1, LFD_OPTIONS, 'LFD1').gfd, false, 'm1: LFD1 has no GFD');
  const s1 = loadIni(m1, SERVER_OPTIONS, 'S1');
  t.same(fixedGroup({ name: 'S1', static: s1.static as boolean, lfd: s1.lfd as string, self: '10.0.0.1:7201', port: s1.port as number }), { mode: 'passive', leader: 'S1', members: [{ name: 'S1', addr: '10.0.0.1:7201' }] });
  t.same(fixedView({ servers: loadIni(m1, CLIENT_OPTIONS, 'C2').servers as Member[], rmGiven: false })?.replicas, [{ name: 'S1', addr: '10.0.0.1:7201' }]);
  for (const [file, mode, passive] of [['m2.ini', 'active', undefined], ['m3.ini', 'passive', 'checkpoint-only']] as const) {
    const path = join(CONFIG, file);
    t.equal(loadIni(path, GFD_OPTIONS, 'gfd').rm, false, `${file}: the GFD has no RM`);
    for (const name of ['S1', 'S2', 'S3']) {
      const o = loadIni(path, SERVER_OPTIONS, name);
      t.equal(o.passive, passive, `${file} [${name}] passive`);
      const group = fixedGroup({ name, group: o.group as Member[], mode: o.mode as Mode, passive: o.passive as string, lfd: o.lfd as string, self: '', port: o.port as number });
      t.same(group, { mode, leader: 'S1', members: GROUP }, `${file} [${name}]`);
    }
    for (const name of ['C1', 'C2', 'C3']) {
      const o = loadIni(path, CLIENT_OPTIONS, name);
      t.same(fixedView({ servers: o.servers as Member[], mode: o.mode as Mode, rmGiven: false }), { mode, replicas: GROUP }, `${file} [${name}]`);
    }
  }
});
