/**
 * `ftkit demo --milestone N`: the course's milestone N on 127.0.0.1, launched with the command
 * lines a user types on the four machines (the demo says each one), on the demo's ports. What
 * each milestone launches is a DemoOptions set-up (no RM for 1–3, no GFD for 1, one replica for
 * 1, checkpoint-only backups for 3, manual recovery for 4); with --duration, a short script at
 * fixed fractions of it shows the milestone's rubric unattended (docs/MILESTONES.md).
 */
import { rmStatus } from './scenario.js';
import type { Demo, DemoOptions } from './demo.js';

export const MILESTONES = [1, 2, 3, 4, 5] as const;
export type Milestone = (typeof MILESTONES)[number];

/** Checkpoint frequency for the milestones when none is given: short, so a short run shows several. */
export const MILESTONE_CHECKPOINT_FREQ_S = 2;

/** What the user chose that a milestone may take: the mode (milestones 4 and 5 only), the heartbeat lines. */
export interface MilestoneChoices {
  /** `--mode`, if given. */
  mode?: DemoOptions['mode'];
  /** `--checkpoint-freq`, if given. */
  checkpointFreq?: number;
  /** `--heartbeats` given (shown anyway in milestones 1 and 2). */
  heartbeats: boolean;
  /** `--quiet-heartbeats` given (none shown, even in milestones 1 and 2). */
  quietHeartbeats: boolean;
  /** `--no-auto-restart` given (what milestone 4 is; milestone 5 is the opposite). */
  noAutoRestart?: boolean;
}

/** Why a choice does not fit milestone `n`, or undefined. */
export function milestoneConflict(n: Milestone, c: MilestoneChoices): string | undefined {
  if (c.mode !== undefined && n <= 3) {
    return `--mode does not apply to milestone ${n} (${n === 1 ? 'one replica' : n === 2 ? 'active replication' : 'passive replication'}); it chooses the mode of milestones 4 and 5`;
  }
  if (c.noAutoRestart && n === 5) return 'milestone 5 is automatic recovery: --no-auto-restart is milestone 4';
  return undefined;
}

/** The demo's options for milestone `n`, from the demo's own (`base`: ports, app, security, view). */
export function milestoneOptions(n: Milestone, base: DemoOptions, c: MilestoneChoices): DemoOptions {
  const checkpointFreq = c.checkpointFreq ?? MILESTONE_CHECKPOINT_FREQ_S;
  const o: DemoOptions = { ...base, checkpointFreq, showCommands: true, heartbeats: !c.quietHeartbeats && (c.heartbeats || n <= 2) };
  const cp = `every ${checkpointFreq} s`;
  switch (n) {
    case 1:
      return { ...o, rm: false, gfd: false, replicas: 1, autoRestart: false, intro: 'milestone 1 on 127.0.0.1: S1 alone (--static) with LFD1 (--no-gfd), clients C1–C3 given S1 (--servers); no GFD, no RM' };
    case 2:
      return {
        ...o,
        mode: 'active',
        rm: false,
        autoRestart: false,
        intro: 'milestone 2 on 127.0.0.1: active replication, S1–S3 a fixed group (--group, S1 orders the requests), LFD1–3, a GFD without an RM (--no-rm), clients C1–C3 sending every request to all three; no RM',
      };
    case 3:
      return {
        ...o,
        mode: 'passive',
        rm: false,
        autoRestart: false,
        serverArgs: ['--passive', 'checkpoint-only'],
        intro: `milestone 3 on 127.0.0.1: passive replication, S1 primary, S2 and S3 backups that change only through its checkpoints (--passive checkpoint-only, ${cp}), LFD1–3, a GFD (--no-rm), clients C1–C3 sending to the primary; no RM`,
      };
    case 4:
      return {
        ...o,
        mode: c.mode ?? 'passive',
        autoRestart: false,
        intro: `milestone 4 on 127.0.0.1: RM, GFD, LFD1–3, S1–S3 (${c.mode ?? 'passive'}, checkpoints ${cp}), C1–C3; the RM relaunches nothing (--no-auto-restart): start a dead replica again by hand`,
      };
    case 5:
      return {
        ...o,
        mode: c.mode ?? 'passive',
        autoRestart: true,
        intro: `milestone 5 on 127.0.0.1: RM, GFD, LFD1–3, S1–S3 (${c.mode ?? 'passive'}, checkpoints ${cp}), C1–C3; the RM relaunches a replica that dies (automatic recovery; --scenario m5 is the full script)`,
      };
  }
}

/** One step of a milestone's script: when (a fraction of --duration), what it shows, what it does. */
type Step = [at: number, what: string, act: () => Promise<void>];

/** A ready backup (a ready member that is not the leader), from the RM's status. */
async function backup(demo: Demo): Promise<string> {
  const s = await rmStatus(demo.system);
  const found = s.members.find((m) => m.ready && m.name !== s.leader)?.name;
  if (!found) throw new Error(`no ready backup (leader ${s.leader ?? '-'})`);
  return found;
}

async function leader(demo: Demo): Promise<string> {
  const s = await rmStatus(demo.system);
  if (!s.leader) throw new Error('the RM names no leader');
  return s.leader;
}

/** Milestone `n`'s script; a step that starts a replica again starts the one killed before it. */
function script(demo: Demo, n: Milestone): Step[] {
  let victim = '';
  const kill = async (server: string | Promise<string>) => {
    victim = await server;
    if (demo.kill(victim) === undefined) throw new Error(`${victim} is not running`);
  };
  const relaunch = () => demo.relaunch(victim);
  switch (n) {
    case 1:
      return [
        [0.3, 'kill -9 S1: LFD1 prints the failed heartbeat; the clients keep trying', () => kill('S1')],
        [0.55, 'start S1 again by hand (on machine 1): the clients are answered again', relaunch],
      ];
    case 2:
      return [
        [0.3, 'kill -9 S3: the GFD lists two members; S1 and S2 keep answering', () => kill('S3')],
        [0.55, "start S3 again by hand: it gets S1's checkpoint, the GFD lists three members again", relaunch],
      ];
    case 3:
      return [
        [0.3, 'kill -9 the backup S3: S1 and S2 go on', () => kill('S3')],
        [0.5, 'start S3 again by hand: it receives the next checkpoint from S1', relaunch],
      ];
    case 4:
      return [
        [0.3, 'kill -9 a backup: the RM relaunches nothing', () => kill(backup(demo))],
        [0.45, 'start it again by hand: not ready until it installed a checkpoint (then its high-watermark request numbers), then the RM makes it ready', relaunch],
      ];
    case 5:
      return [[0.35, 'kill -9 the primary: the RM elects another and relaunches the dead one', () => kill(leader(demo))]];
  }
}

/**
 * Milestone `n`'s script over `durationS` seconds from now: each step at its fraction of the
 * duration, in order (a late step runs at once), the first not before every client has had a
 * reply (so the fault interrupts a running service); nothing once the demo stops.
 */
export async function runMilestoneScript(demo: Demo, n: Milestone, durationS: number): Promise<void> {
  const from = Date.now();
  const clients = [...demo.system.group.procs.values()].filter((p) => p.args[0] === 'client');
  try {
    await Promise.all(clients.map((c) => c.waitFor((e) => e.type === 'request_done', durationS * 1000)));
  } catch {
    if (demo.isStopping) return;
    demo.say('not every client had a reply yet; the script goes on');
  }
  for (const [at, what, act] of script(demo, n)) {
    const wait = from + at * durationS * 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (demo.isStopping) return;
    demo.say(`milestone ${n} script, at ${Math.round(at * 100)}% of --duration: ${what}`);
    await act();
  }
}
