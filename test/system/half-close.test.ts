/**
 * Issue 11, part 4: a client that half-closes its connection after sending (as `nc` does at
 * the end of its input) still gets its reply, in both modes, and the server closes its side
 * once nothing more is owed.
 */
import t from 'tap';
import { System } from '../../harness/launch/system.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import { rawConnect } from '../helpers/socket.js';

const data = <T>(e: TraceEvent) => e.data as T;
const port = (addr: string) => Number(addr.split(':').at(-1));

interface View {
  leader: string;
  view: Array<{ name: string }>;
}

for (const mode of ['passive', 'active'] as const) {
  t.test(`${mode}: a client that half-closes after sending still gets its reply`, async (t) => {
    const sys = new System({ mode, app: 'counter', heartbeat: 0.1, quietHeartbeats: true, heartbeatTimeout: 1, autoRestart: false });
    t.teardown(() => sys.stop());
    await sys.start();
    const v = data<View>(await sys.rm.waitFor((e) => e.type === 'view_changed' && data<View>(e).view.length === (mode === 'passive' ? 1 : 3), 20_000));
    // The RM decides first; the leader learns its role through GFD and LFD.
    await sys.proc(v.leader).waitFor((e) => e.type === 'role_changed' && data<{ leader: string; ready: boolean }>(e).leader === v.leader && data<{ ready: boolean }>(e).ready, 10_000);
    // Every replica in the leader's group, so that the reply waits for the others (after the half-close).
    await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.length === 3, 20_000);
    await sys.ask('W', 'add 0');
    const followers = ['S1', 'S2', 'S3'].filter((s) => s !== v.leader).map((s) => sys.proc(s));
    await Promise.all(followers.map((f) => f.waitFor((e) => ['log_held', 'state_after'].includes(e.type) && data<{ client: string }>(e).client === 'W', 10_000)));
    const peer = await rawConnect(port(sys.serverAddrs.get(v.leader)!));
    t.teardown(() => peer.end());
    // What `echo … | nc -q 2` does: the line and the end of input together, then wait for the answer.
    peer.socket.end(`<N1, ${v.leader}, 1, add 5, request>\n`);
    await peer.waitFor(/<N1, S\d, 1, 5, reply>/, 10_000);
    t.pass(`the reply arrived after the half-close`);
    await peer.closed;
    t.pass('the server closed its side once nothing more was owed');
    t.equal((await sys.ask('R', 'get')).result, '5', 'executed once');
  });
}
