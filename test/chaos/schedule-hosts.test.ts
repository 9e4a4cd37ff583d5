/**
 * The schedule with and without namespace hosts. On 127.0.0.1 a seed gives exactly the schedule
 * it gave before the network faults between hosts existed (a digest of 650 schedules, and two
 * schedules in full, taken on the code before they were added), so a seed reported earlier
 * still reruns what it ran. With `hosts` the default draw includes the five network kinds,
 * with their parameters in range.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import {
  FAULT_KINDS,
  HOST_FAULT_KINDS,
  LOOPBACK_FAULT_KINDS,
  formatSchedule,
  isHostFault,
  makeSchedule,
  type Fault,
} from '../../harness/chaos/schedule.js';

/** sha1 over seeds 0-299 at 5 s and 20 s, then seeds 0-49 with three kinds and double 0.5, before the host kinds. */
const LOOPBACK_DIGEST = '9b9636022a2ffe33d7471f753e17974207895c4e';

function loopbackDigest(extra: { kinds?: readonly (typeof FAULT_KINDS)[number][] } = {}): string {
  const h = createHash('sha1');
  for (let seed = 0; seed < 300; seed++) for (const d of [5000, 20000]) h.update(JSON.stringify(makeSchedule({ seed, durationMs: d, ...extra })));
  for (let seed = 0; seed < 50; seed++) h.update(JSON.stringify(makeSchedule({ seed, durationMs: 20000, kinds: ['kill-leader', 'net-delay', 'pause-machine'], double: 0.5 })));
  return h.digest('hex');
}

t.test('on 127.0.0.1 every seed gives the schedule it gave before the host kinds existed', async (t) => {
  t.equal(loopbackDigest(), LOOPBACK_DIGEST, 'the digest of 650 schedules is unchanged');
  t.equal(loopbackDigest({ kinds: LOOPBACK_FAULT_KINDS }), LOOPBACK_DIGEST, 'naming every loopback kind is the same as the default');
  t.same(formatSchedule(makeSchedule({ seed: 5000, durationMs: 20000 })), [
    '# 1 after 0.87s: kill-leader (down 0.62s), with pause-leader (stopped 0.89s) from +0.45s',
    '# 2 after 0.97s: pause-leader (stopped 0.96s), with kill-leader (down 0.64s) from +0.57s',
    '# 3 after 0.89s: kill-machine follower (down 1.24s)',
    '# 4 after 0.72s: stall-leader (stopped 0.29s)',
    '# 5 after 0.90s: restart-rm (down 1.10s)',
    '# 6 after 0.70s: kill-follower (down 1.35s)',
    '# 7 after 1.48s: restart-gfd (down 1.31s)',
    '# 8 after 1.20s: kill-machine leader (down 1.38s), with stall-follower (stopped 0.42s) from +0.51s',
  ]);
  t.same(formatSchedule(makeSchedule({ seed: 22, durationMs: 5000 })), [
    '# 1 after 0.58s: pause-machine leader (stopped 0.86s)',
    '# 2 after 1.11s: stall-follower (stopped 0.25s), with kill-leader (down 0.48s) from +0.05s',
    '# 3 after 0.57s: kill-machine follower (down 1.10s)',
  ]);
  const many = Array.from({ length: 100 }, (_, i) => makeSchedule({ seed: i, durationMs: 30_000 })).flat();
  t.notOk(many.some((s) => isHostFault(s.fault.kind) || (s.overlap && isHostFault(s.overlap.fault.kind))), 'no loopback schedule holds a host kind');
  t.throws(() => makeSchedule({ seed: 1, durationMs: 5000, kinds: ['cut-link'] }), /cut-link: only on namespace hosts/, 'host kinds without hosts are refused');
});

t.test('on namespace hosts the schedule draws the network faults between machines', async (t) => {
  const steps = Array.from({ length: 60 }, (_, i) => makeSchedule({ seed: i, durationMs: 30_000, hosts: true })).flat();
  const faults: Fault[] = steps.flatMap((s) => (s.overlap ? [s.fault, s.overlap.fault] : [s.fault]));
  for (const kind of [...LOOPBACK_FAULT_KINDS, ...HOST_FAULT_KINDS]) t.ok(faults.some((f) => f.kind === kind), `${kind} occurs (${faults.filter((f) => f.kind === kind).length} of ${faults.length})`);
  t.notOk(faults.some((f) => f.kind === 'kill-sync'), 'the synchronizer is faulted only in the sns workload');
  const net = faults.filter((f) => isHostFault(f.kind));
  const share = net.length / faults.length;
  t.ok(share > 0.15 && share < 0.5, `network faults between hosts are ${(share * 100).toFixed(0)} % of the faults`);
  const of = <K extends Fault['kind']>(k: K) => faults.filter((f) => f.kind === k);
  t.ok(of('link-loss').every((f) => f.lossPct! >= 5 && f.lossPct! <= 30), 'loss 5-30 %');
  t.ok(of('link-delay').every((f) => f.delayMs! >= 100 && f.delayMs! <= 600), 'delay 100-600 ms');
  t.same(new Set(of('cut-one-way').map((f) => f.direction)), new Set(['to-follower', 'to-leader']), 'one-way cuts go both directions');
  t.same(new Set(of('cut-machine').map((f) => f.target)), new Set(['leader', 'follower']), "the leader's and a follower's machine are cut off");
  t.ok(net.every((f) => f.holdMs >= 500 && f.holdMs <= 3000), 'each held 0.5-3 s');
  t.ok(
    steps.some((s) => s.overlap && isHostFault(s.fault.kind)),
    'a network fault between hosts sometimes gets a second fault overlapping it',
  );
  t.ok(formatSchedule(steps).some((l) => /cut-one-way follower->leader/.test(l)) && formatSchedule(steps).some((l) => /link-loss leader-follower \d+%/.test(l)), 'the schedule says what each does');
  t.same(makeSchedule({ seed: 9, durationMs: 20_000, hosts: true }), makeSchedule({ seed: 9, durationMs: 20_000, hosts: true }), 'same seed, same hosts schedule');
  const only = makeSchedule({ seed: 3, durationMs: 20_000, hosts: true, kinds: [...HOST_FAULT_KINDS].filter((k) => k !== 'link-delay') });
  t.ok(only.every((s) => isHostFault(s.fault.kind) && s.fault.kind !== 'link-delay'), '--faults can leave link-delay out');
});
