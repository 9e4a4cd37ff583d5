/** `ftkit demo --milestone N` without processes: what each milestone launches, what it refuses, and the command lines it says. */
import t from 'tap';
import { MILESTONE_CHECKPOINT_FREQ_S, milestoneConflict, milestoneOptions, type MilestoneChoices } from '../../harness/demo/milestones.js';
import { userCommand, type DemoOptions } from '../../harness/demo/demo.js';

const base: DemoOptions = { mode: 'active', app: 'status', heartbeatFreq: 1, checkpointFreq: 5, basePort: 7000 };
const none: MilestoneChoices = { heartbeats: false, quietHeartbeats: false };

t.test('each milestone: its components, its mode, who relaunches', async (t) => {
  const m1 = milestoneOptions(1, base, none);
  t.match(m1, { rm: false, gfd: false, replicas: 1, autoRestart: false, heartbeats: true, showCommands: true });
  const m2 = milestoneOptions(2, base, none);
  t.match(m2, { rm: false, mode: 'active', autoRestart: false, heartbeats: true });
  t.equal(m2.gfd, undefined, 'M2 has a GFD');
  const m3 = milestoneOptions(3, base, none);
  t.match(m3, { rm: false, mode: 'passive', serverArgs: ['--passive', 'checkpoint-only'], heartbeats: false });
  const m4 = milestoneOptions(4, base, none);
  t.match(m4, { mode: 'passive', autoRestart: false });
  t.equal(m4.rm, undefined, 'M4 has an RM');
  t.match(milestoneOptions(5, base, none), { mode: 'passive', autoRestart: true });
  t.match(milestoneOptions(5, base, { ...none, mode: 'active' }), { mode: 'active' }, '--mode chooses M5’s mode');
  for (const n of [1, 2, 3, 4, 5] as const) t.equal(milestoneOptions(n, base, none).checkpointFreq, MILESTONE_CHECKPOINT_FREQ_S);
  t.equal(milestoneOptions(3, base, { ...none, checkpointFreq: 0.5 }).checkpointFreq, 0.5, '--checkpoint-freq given wins');
});

t.test('heartbeat lines: shown in M1 and M2 unless --quiet-heartbeats; elsewhere with --heartbeats', async (t) => {
  t.equal(milestoneOptions(1, base, { ...none, quietHeartbeats: true }).heartbeats, false);
  t.equal(milestoneOptions(4, base, none).heartbeats, false);
  t.equal(milestoneOptions(4, base, { ...none, heartbeats: true }).heartbeats, true);
});

t.test('--mode is refused for milestones 1–3, taken for 4 and 5', async (t) => {
  t.match(milestoneConflict(2, { ...none, mode: 'passive' }), /^--mode does not apply to milestone 2 \(active replication\)/);
  t.match(milestoneConflict(1, { ...none, mode: 'active' }), /milestone 1 \(one replica\)/);
  t.equal(milestoneConflict(4, { ...none, mode: 'active' }), undefined);
  t.equal(milestoneConflict(3, none), undefined);
  t.match(milestoneConflict(5, { ...none, noAutoRestart: true }), /^milestone 5 is automatic recovery: --no-auto-restart is milestone 4$/);
  t.equal(milestoneConflict(4, { ...none, noAutoRestart: true }), undefined);
});

t.test('userCommand: what a user types, without the flags the demo adds for itself', async (t) => {
  t.equal(
    userCommand(['server', 'S1', '--port', '7201', '--lfd', '127.0.0.1:7101', '--static', '--json', '--quiet-heartbeats', '--secret-file', '/x/secret']),
    'ftkit server S1 --port 7201 --lfd 127.0.0.1:7101 --static',
  );
  t.equal(userCommand(['client', 'C1', '--servers', 'S1=127.0.0.1:7201', '--message', 'hello_{n}', '--interval', '1', '--give-up', '3600', '--no-color']), 'ftkit client C1 --servers S1=127.0.0.1:7201');
  t.equal(userCommand(['lfd', 'LFD1', '--no-gfd', '--state-dir', '/tmp/s']), 'ftkit lfd LFD1 --no-gfd');
});
