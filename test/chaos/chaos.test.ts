/**
 * The short, fixed chaos set CI runs: two seeds in passive mode and two in active, a few
 * seconds each (with the stale-view client on), then a short fuzz of every kind of
 * listener. The seeds were chosen (by their schedules, harness/chaos/schedule.ts) so that their
 * first steps freeze the primary's machine (pause-machine), stall a backup while the
 * primary is killed, delay every client link, stall the primary, and freeze the next
 * primary's machine (passive); kill the sequencer while the RM restarts, and kill a member
 * while client links are blackholed (active 65); freeze the sequencer's machine while the
 * stale-view client sends to it, then stall a member while the sequencer is killed (active
 * 22: the resumed, deposed sequencer must answer nothing; zombie.test.ts shows a build that
 * does). Active seed 3 is no longer run: its first step, an RM restart, is seed 65's first
 * step too (there while the sequencer is down); its second (the sequencer's machine killed
 * while the GFD restarts) is left to `npm run chaos`, and membership.test.ts restarts the GFD
 * and loses machines. Steps start only in the first 4 s (seed 65: 5 s) after the system is
 * ready, so on a loaded machine the later ones may not run. The fuzz's 4,000 frames per
 * listener (seed 749) still carry every kind of message each listener accepts, and an
 * oversized frame to each. A failure prints the anomaly with its history excerpt and the
 * command that reruns it, `npm run chaos -- --mode M --seed S --runs 1 --duration D`
 * (docs/CHAOS.md).
 */
import t from 'tap';
import { runChaos } from '../../harness/chaos/runner.js';
import { runFuzz, formatFuzz } from '../../harness/chaos/fuzz.js';
import { formatAnomaly, formatRun } from '../../harness/chaos/report.js';
import type { Mode } from '../../lib/protocol/index.js';

/** The fewest frames (seed 749) that still send an oversized frame to every listener (harness/chaos/fuzz-frames.ts). */
const FUZZ_FRAMES = 4000;
// Four runs of 12-20 s and a fuzz: well under a minute and a half, but a loaded machine starts systems slowly.
t.setTimeout(240_000);
// Seconds of faults: the steps named above start 2-3 s after the system is ready (seed 65's
// second, about 4.7 s), so 4 s keeps them with a second to spare and leaves out third steps.
const SEEDS: Array<[Mode, number, number]> = [
  ['passive', 22, 4],
  ['passive', 44, 4],
  ['active', 65, 5],
  ['active', 22, 4],
];

for (const [mode, seed, durationS] of SEEDS) {
  t.test(`${mode} chaos, seed ${seed}: nothing acknowledged is lost, every read is linearizable`, async (t) => {
    const r = await runChaos({ mode, seed, durationS });
    t.comment(formatRun(r).join('\n'));
    t.ok(r.stats.faults > 0, `${r.stats.faults} faults injected`);
    t.ok(r.stats.appends.ok > 50, `the clients made progress: ${r.stats.appends.ok} acknowledged appends`);
    t.ok(r.final.length !== undefined, `the final state was read from ${r.final.source}`);
    t.ok(r.final.replicas.length > 0, 'and compared with other replicas');
    t.same(r.anomalies.flatMap(formatAnomaly), [], `no anomaly (reproduce: npm run chaos -- --mode ${mode} --seed ${seed} --runs 1 --duration ${durationS})`);
  });
}

t.test('4,000 fuzzed frames per listener: every component survives and serves', async (t) => {
  const r = await runFuzz({ seed: 749, frames: FUZZ_FRAMES });
  t.comment(formatFuzz(r).join('\n'));
  t.equal(r.listeners.length, 4, 'RM, GFD, an LFD and the leading server were fuzzed');
  for (const l of r.listeners) t.ok(l.frames >= FUZZ_FRAMES && l.errorAnswers > 0, `${l.listener}: ${l.frames} frames, ${l.errorAnswers} connections answered with error`);
  t.same(r.findings, [], 'no connection was answered with an internal error');
  t.same(r.problems, [], 'no component died, reported an internal error, or stopped serving');
  t.ok(Object.values(r.alive).every(Boolean), 'every process is still running');
  t.ok(r.statusAnswered, 'the RM answers <admin, status>');
  t.ok(r.reply, `a client request got a reply: ${r.reply}`);
});
