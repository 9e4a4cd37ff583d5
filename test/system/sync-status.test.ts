/**
 * `ftkit ctl status` shows each link of ftkit sync: three sns groups, the sync between them and
 * real `ftkit sns` clients. After posts every link's backlog is 0 and the revisions delivered are
 * shown; with every replica of g3 killed (and none relaunched), the backlog towards g3 grows
 * with each post for its users while the other links stay at 0; once the sync is gone its links
 * are shown as silent.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import type { SyncLinkStatus } from '../../rm/syncs.js';
import { listUntil, startSnsSystem, type SnsUser } from '../helpers/sns.js';

const data = <T>(e: TraceEvent) => e.data as T;

t.test('ctl status: each link with its backlog and delivered revision; the backlog towards a group that is down grows', async (t) => {
  // Nothing relaunches a replica: g3 stays down once its replicas are killed.
  const { sys, user } = await startSnsSystem(t, { autoRestart: false });
  const sync = sys.proc('sync');

  /** The RM's sync links, polled every 100 ms until `ok` holds of them, for at most 20 s. */
  const linksUntil = async (ok: (links: Map<string, SyncLinkStatus>) => boolean, what: string) => {
    let links = new Map<string, SyncLinkStatus>();
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(100)) {
      const status = JSON.parse(await sys.ctl({ op: 'status' })) as { sync: SyncLinkStatus[] };
      links = new Map(status.sync.map((l) => [l.link, l]));
      if (ok(links)) return links;
    }
    throw new Error(`ctl status never showed ${what}; last: ${JSON.stringify([...links.values()])}`);
  };
  const ctlText = () => spawnSync(process.execPath, [FTKIT_BIN, 'ctl', '--rm', sys.rmAddr, '--secret-file', sys.secretFile!, 'status'], { encoding: 'utf8', timeout: 20_000 }).stdout;

  const users = ['1', '2', '3'].map((id) => user(id)) as [SnsUser, SnsUser, SnsUser];
  const [u1, u2, u3] = users;
  for (const u of users) await u.until(/Cmd> /);
  for (const u of users) await listUntil(u, 'All users: 1, 2, 3\n');
  t.equal(await u2.command('FOLLOW 1'), 'Command completed successfully\n');
  t.equal(await u3.command('FOLLOW 1'), 'Command completed successfully\n');
  for (const u of [u1, u3]) u.type('TIMELINE');
  for (const u of [u1, u3]) await u.until(/Now you are in the timeline\n/);
  for (let i = 1; i <= 3; i++) u1.type(`before ${i}`);
  await u3.until(/>> before 3\n/, 20_000);
  // The sync says what it delivered: the RM shows the last of it once reported.
  const lastTo = (to: string) => Math.max(...sync.events.filter((e) => e.type === 'delivered' && data<{ from: string; to: string }>(e).from === 'g1' && data<{ to: string }>(e).to === to).map((e) => data<{ rev: number }>(e).rev));

  const names = ['g1>g2', 'g1>g3', 'g2>g1', 'g2>g3', 'g3>g1', 'g3>g2'];
  const settled = await linksUntil((l) => l.size === 6 && names.every((n) => l.get(n)?.backlog === 0) && l.get('g1>g3')?.delivered === lastTo('g3') && l.get('g1>g2')?.delivered === lastTo('g2'), 'every link delivered');
  t.same([...settled.keys()], names, 'the six links, in name order');
  t.ok([...settled.values()].every((l) => !l.silent && l.sync === 'sync'), 'each reported by the sync, lately');
  const deliveredToG3 = settled.get('g1>g3')!.delivered;
  const text = ctlText();
  t.match(text, /\nsync \(each link: entries waiting, last revision delivered\):\n/, 'ctl status has a sync section');
  t.match(text, new RegExp(`\\n  g1>g3  backlog 0 +delivered ${deliveredToG3} +reported \\d+\\.\\d s ago\\n`), `g1>g3: backlog 0, delivered ${deliveredToG3}`);

  // g3 goes down: every replica killed, none relaunched. Posts for u3 (a follower of u1) wait.
  for (const s of sys.serversOf('g3')) sys.proc(s).kill('SIGKILL');
  await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ group?: string }>(e).group === 'g3' && data<{ ready: string[] }>(e).ready.length === 0, 20_000);
  for (let i = 1; i <= 3; i++) u1.type(`while g3 is down ${i}`);
  const grown = await linksUntil((l) => (l.get('g1>g3')?.backlog ?? 0) >= 3 && l.get('g1>g2')?.backlog === 0 && l.get('g1>g2')!.delivered > settled.get('g1>g2')!.delivered, 'the backlog towards g3 growing');
  t.equal(grown.get('g1>g3')!.delivered, deliveredToG3, 'nothing more was delivered to g3');
  t.equal(grown.get('g1>g2')!.backlog, 0, 'g2 still gets every post at once');
  t.match(ctlText(), /\n  g1>g3  backlog [3-9] +delivered \d+ +reported/, 'ctl status shows the backlog towards g3');

  // The sync is gone: its links are shown as silent.
  sync.kill('SIGKILL');
  await sync.exited;
  const silent = await linksUntil((l) => [...l.values()].every((x) => x.silent), 'the links silent');
  t.ok(silent.get('g1>g3')!.backlog >= 3, 'the last backlog heard is kept');
  t.match(ctlText(), /\n  g1>g3  backlog [3-9] +delivered \d+ +silent for \d+ s\n/, 'ctl status says the sync is silent');
});
