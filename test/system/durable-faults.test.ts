/**
 * A replica's disk when it goes wrong: a damaged record in the middle of its log stops it from
 * starting, with one line naming the file and offset, and nothing in the data dir changed; a full
 * disk (the primary's data dir on a 256 KB tmpfs, which this test mounts, as root) stops the
 * primary without a success reply for what it could not make durable, and the group fails over
 * with every acknowledged append kept.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FTKIT_BIN } from '../../harness/launch/proc.js';
import { System } from '../../harness/launch/system.js';
import { Session } from '../../clients/session.js';
import { requestOnce } from '../../harness/chaos/client.js';
import { parseReadResult } from '../../harness/chaos/history.js';
import { mustStatus } from '../../harness/chaos/status.js';
import { Wal } from '../../lib/storage/wal.js';
import { HEADER_BYTES } from '../../lib/storage/records.js';
import type { TraceEvent } from '../../lib/trace/index.js';

t.setTimeout(120_000);
const data = <T>(e: TraceEvent) => e.data as T;

t.test('a damaged record in the middle of the log: the server refuses to start, naming file and offset, and changes nothing', async (t) => {
  const dir = t.testdir({});
  const { wal } = await Wal.open(dir, 'always');
  const entries = [1, 2, 3].map((seq) => Buffer.from(JSON.stringify([1, seq, seq, 'C1', `append e${seq}`])));
  await Promise.all(entries.map((e) => wal.append(e)));
  await wal.close();
  const segment = readdirSync(dir).map((f) => join(dir, f)).find((f) => readFileSync(f).length > 0)!;
  const bytes = readFileSync(segment);
  const second = HEADER_BYTES + entries[0]!.length;
  bytes[second + HEADER_BYTES + 3]! ^= 0x20;
  writeFileSync(segment, bytes);
  const before = readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('hex')]);

  const r = spawnSync(process.execPath, [FTKIT_BIN, 'server', 'S1', '--static', '--port', '0', '--app', 'log', '--data-dir', dir, '--no-lfd'], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r.status, 1, 'exit status 1');
  t.match(r.stderr + r.stdout, `${segment}: damaged record at byte ${second}`, 'one line naming the file and the offset');
  t.same(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('hex')]), before, 'nothing in the data dir was changed');
});

t.test('a full disk: the primary stops without acknowledging what it could not make durable; the group fails over; nothing acknowledged is lost', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ftkit-disk-full-'));
  const full = join(root, 'S1');
  mkdirSync(full);
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', full], { encoding: 'utf8' });
  t.equal(mount.status, 0, `a 256 KB tmpfs for S1's data dir (needs root): ${mount.stderr}`);
  const sys = new System({ mode: 'passive', replicas: 3, app: 'log', heartbeat: 0.2, quiet: true, dataDir: root, autoRestart: false });
  t.teardown(async () => {
    await sys.stop();
    spawnSync('umount', [full]);
    rmSync(root, { recursive: true, force: true });
  });
  await sys.start();
  await sys.rm.waitFor((e) => e.type === 'ready_changed' && data<{ ready: string[] }>(e).ready.length === 3, 20_000);
  const leader = (await mustStatus(sys)).leader;
  t.equal(leader, 'S1', 'S1, on the small disk, is the primary');

  // Appends of 10 KB until well past 256 KB: the primary's disk fills on the way.
  const session = new Session({ name: 'C1', rm: sys.rmAddr, security: sys.security, giveUpMs: 30_000 });
  session.start();
  t.teardown(() => session.stop());
  const acked: string[] = [];
  const filler = 'x'.repeat(10_000);
  for (let i = 1; i <= 40; i++) {
    const o = await session.request(`append ${i}:${filler}`);
    if (o.status === 'ok') acked.push(String(i));
  }
  const failed = await sys.proc('S1').waitFor((e) => e.type === 'disk_failed', 1000);
  t.match(failed.text, /ENOSPC|no space/i, 'S1 says why, in red');
  t.equal(failed.category, 'fault');
  await sys.proc('S1').exited;
  t.pass('S1 stopped');
  const status = await mustStatus(sys);
  t.not(status.leader, 'S1', `the group failed over to ${status.leader}`);
  t.equal(acked.length, 40, 'every append was acknowledged in the end (by the new primary)');

  const primary = status.members.find((m) => m.name === status.leader)!;
  const answer = await requestOnce(primary.addr, 'CHECK', primary.name, 1, 'read', 5000);
  const log = ((answer.kind === 'reply' && parseReadResult(answer.result)) || []).map((e) => e.split(':')[0]);
  t.same(log, acked, 'the log holds every acknowledged append, once, in order');
});
