/**
 * States larger than the 1 MiB frame limit for clients still move between replicas:
 * a backup restarted by hand recovers a 4 MB state from the primary's checkpoint.
 */
import t from 'tap';
import { System } from '../../harness/launch/system.js';
import { decode } from '../../lib/protocol/index.js';
import { parseAddress } from '../../lib/net/index.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { rawConnect } from '../helpers/socket.js';

const data = <T>(e: TraceEvent) => e.data as T;

t.test('a backup recovers a 4 MB state', async (t) => {
  const sys = new System({ mode: 'passive', app: 'log', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, autoRestart: false, checkpointFreq: 5 });
  t.teardown(() => sys.stop());
  await sys.start();
  const views = sys.rm.events.filter((e) => e.type === 'view_changed');
  const primary = data<{ leader: string }>(views[views.length - 1]!).leader;
  const backup = ['S1', 'S2', 'S3'].find((s) => s !== primary)!;
  const peer = await rawConnect(parseAddress(sys.serverAddrs.get(primary)!).port);
  const item = 'x'.repeat(500_000);
  for (let n = 1; n <= 8; n++) {
    peer.send(`<C9, ${primary}, ${n}, append ${n}-${item}, request>`);
    const reply = decode(await peer.waitFor(new RegExp(`<C9, ${primary}, ${n}, [^<>]*, reply>`), 20_000));
    t.match(reply, { type: 'reply', result: String(n) });
  }
  peer.end();

  sys.proc(backup).kill('SIGKILL');
  await sys.rm.waitFor((e) => e.type === 'membership_changed' && !data<{ members: string[] }>(e).members.includes(backup));
  const back = await sys.startServer(backup);
  const installed = await back.waitFor((e) => e.type === 'checkpoint_received', 20_000);
  await back.waitFor((e) => e.type === 'role_changed' && data<{ ready: boolean }>(e).ready, 20_000);
  const size = await sys.ask('R1', 'size');
  t.equal(size.result, '8', 'the primary holds 8 entries');
  t.match(installed.text, /receives checkpoint from/);
  t.pass(`${backup} installed a ${(8 * 500_000 / 1e6).toFixed(0)} MB checkpoint and is ready`);
});
