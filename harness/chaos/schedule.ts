/**
 * A seeded fault schedule: the same seed gives the same list of faults, in the same
 * order, with the same durations. Targets are named by role ("the leader", "a
 * follower"), resolved when the fault is injected, because which replica leads at
 * that moment depends on the earlier faults; the runner prints what each resolved to.
 *
 * Faults run one step at a time. A step is one fault, sometimes with a second one
 * overlapping it: a control-plane or network fault, or a fault on another replica.
 * The runner waits for the system to be whole again after each step and never faults
 * more than two of the three replicas in a step, so the faults stay within what ftkit
 * claims to tolerate: at least one ready replica always survives untouched.
 */
import { mulberry32, pick as pickOne, randInt, substream, weighted, type Rng } from './rng.js';

/** The kinds a run on 127.0.0.1 draws from (the default schedule; adding kinds must not change it). */
export const LOOPBACK_FAULT_KINDS = [
  'kill-leader',
  'kill-follower',
  'pause-leader',
  'pause-follower',
  'stall-leader',
  'stall-follower',
  'kill-machine',
  'pause-machine',
  'restart-gfd',
  'restart-rm',
  'net-drop',
  'net-delay',
  'net-blackhole',
] as const;
/** Network faults between namespace hosts (--hosts only): in the switch, between the replicas' machines. */
export const HOST_FAULT_KINDS = ['cut-machine', 'cut-link', 'cut-one-way', 'link-loss', 'link-delay'] as const;
/** Faults on the sns workload's synchronizer (`--workload sns` only). */
export const SYNC_FAULT_KINDS = ['kill-sync'] as const;
/** Faults only durable replicas survive (`--durable` only): every replica of a group at once. */
export const DURABLE_FAULT_KINDS = ['kill-all'] as const;
/** Fail-slow faults (`--fail-slow`, or named in `--faults`): a replica that keeps running, slowly, injected through the RM as `ftkit ctl fault` does. */
export const SLOW_FAULT_KINDS = ['cpu-hog', 'mem-hog', 'delay'] as const;
export const FAULT_KINDS = [...LOOPBACK_FAULT_KINDS, ...HOST_FAULT_KINDS, ...SYNC_FAULT_KINDS, ...DURABLE_FAULT_KINDS, ...SLOW_FAULT_KINDS] as const;
/** What the sns workload draws from by default: every loopback fault, and the synchronizer's. */
export const SNS_FAULT_KINDS: readonly FaultKind[] = [...LOOPBACK_FAULT_KINDS, ...SYNC_FAULT_KINDS];
export type FaultKind = (typeof FAULT_KINDS)[number];
export type HostFaultKind = (typeof HOST_FAULT_KINDS)[number];
export type SlowFaultKind = (typeof SLOW_FAULT_KINDS)[number];

export const FAULT_HELP: Record<FaultKind, string> = {
  'kill-leader': 'kill -9 the primary (passive) or sequencer (active); restart it by hand after a while',
  'kill-follower': 'kill -9 a backup or member; restart it by hand after a while',
  'pause-leader': 'SIGSTOP the leader for longer than the detection timeout, then SIGCONT',
  'pause-follower': 'SIGSTOP a follower for longer than the detection timeout, then SIGCONT',
  'stall-leader': 'SIGSTOP the leader just past the detection timeout (a GC pause, an overloaded machine): it is suspected, and resumes at once',
  'stall-follower': 'the same short stall for a follower',
  'kill-machine': "kill -9 an LFD and its server (a lost machine); restart the LFD, then the server",
  'pause-machine': 'SIGSTOP an LFD and its server together (a machine cut off) past detection, so the RM replaces it; then SIGCONT both',
  'restart-gfd': 'kill -9 the GFD and start it again on the same port',
  'restart-rm': 'kill -9 the RM and start it again on the same port (it queries the servers)',
  'net-drop': 'reset every client connection to a replica and refuse new ones for a while',
  'net-delay': 'delay client <-> replica traffic by tens to hundreds of ms for a while',
  'net-blackhole': 'swallow client <-> replica traffic for a while, then reset those connections',
  'cut-machine': "--hosts: the leader's or a follower's machine cut off the network (nothing in or out), then back",
  'cut-link': "--hosts: a partial partition: nothing passes between the leader's machine and one follower's, either way; both still reach the rest",
  'cut-one-way': "--hosts: packets from the leader's machine to one follower's are lost (or the other way round), the other direction passes",
  'link-loss': "--hosts: 5-30 % of the packets between the leader's machine and one follower's are lost, both ways",
  'link-delay': "--hosts: every packet between the leader's machine and one follower's waits 100-600 ms more, both ways",
  'kill-sync': '--workload sns: kill -9 the synchronizer (ftkit sync) and start it again after a while',
  'kill-all': '--durable: kill -9 every replica of a group at the same instant, then start them all again (each from its data dir)',
  'cpu-hog': "--fail-slow: the leader (or a follower) burns the CPU 40-80 ms of every 100 ms on its event loop for a few seconds, then it is cleared",
  'mem-hog': '--fail-slow: the leader (or a follower) grows its memory by 20-60 MB a second for a few seconds, then it is cleared',
  'delay': '--fail-slow: the leader (or a follower) holds every message it sends 20-200 ms for a few seconds, then it is cleared',
};

export type FaultTarget = 'leader' | 'follower' | 'all';
/** cut-one-way: which way packets are lost, between the leader's machine and a follower's. */
export type Direction = 'to-follower' | 'to-leader';

export interface Fault {
  kind: FaultKind;
  /** Whose machine (kill-machine) or whose client links (net-*). kill-/pause- name their target in the kind. */
  target?: FaultTarget;
  /** In [0, 1): which follower, among those ready at injection time in name order. */
  pick: number;
  /** How long the fault lasts before it is healed: down time, pause, or network fault, in ms. */
  holdMs: number;
  /** net-delay: latency added to each chunk; link-delay: to each packet, each way; ms. */
  delayMs?: number;
  /** link-loss: the share of packets lost, %. */
  lossPct?: number;
  /** cut-one-way: the direction cut. */
  direction?: Direction;
  /** With several replica groups: the group whose replicas (or client links) the fault aims at. */
  group?: string;
  /** cpu-hog: ms burnt of every 100; mem-hog: MB a second; delay: ms each message is held. */
  amount?: number;
}

export interface Step {
  /** Quiet time before the step, ms. */
  gapMs: number;
  fault: Fault;
  /** A second fault that starts `offsetMs` after the first. */
  overlap?: { offsetMs: number; fault: Fault };
}

export interface ScheduleOptions {
  seed: number;
  /** The fault phase of the run; the schedule covers at least this long. */
  durationMs: number;
  kinds?: readonly FaultKind[];
  /** Chance that a replica fault gets a control-plane or network fault overlapping it (default 0.25). */
  overlap?: number;
  /** Chance that a replica fault gets a second replica fault, on another replica, overlapping it (default 0.15). */
  double?: number;
  /** The run is on namespace hosts: the default kinds include the network faults between hosts. */
  hosts?: boolean;
}

const WEIGHTS: Record<FaultKind, number> = {
  'kill-leader': 3,
  'kill-follower': 2,
  'pause-leader': 2,
  'pause-follower': 1,
  'stall-leader': 2,
  'stall-follower': 1,
  'kill-machine': 2,
  'pause-machine': 2,
  'restart-gfd': 1,
  'restart-rm': 1,
  'net-drop': 2,
  'net-delay': 2,
  'net-blackhole': 2,
  'cut-machine': 2,
  'cut-link': 2,
  'cut-one-way': 2,
  'link-loss': 2,
  'link-delay': 2,
  'kill-sync': 4,
  'kill-all': 3,
  'cpu-hog': 3,
  'mem-hog': 2,
  'delay': 3,
};

/**
 * Faults on replicas: each touches one or two replicas (a network fault between hosts touches
 * the replicas on the machines it names), may get a second fault overlapping it, and is
 * followed by a wait until the system is whole. The host kinds come last, so a loopback
 * schedule draws exactly as it did before they existed.
 */
const REPLICA_FAULTS: readonly FaultKind[] = ['kill-leader', 'kill-follower', 'pause-leader', 'pause-follower', 'stall-leader', 'stall-follower', 'kill-machine', 'pause-machine', ...HOST_FAULT_KINDS, 'kill-all', ...SLOW_FAULT_KINDS];
/** Faults that may overlap a replica fault. */
const OVERLAPPING: readonly FaultKind[] = ['restart-gfd', 'restart-rm', 'net-drop', 'net-delay', 'net-blackhole'];
/** A bound on the schedule's length whatever the duration. */
const MAX_STEPS = 500;
/** What the runner typically spends bringing a replica back after a replica fault, for planning only. */
const PLANNED_RECOVERY_MS = 1000;

export function isReplicaFault(kind: FaultKind): boolean {
  return REPLICA_FAULTS.includes(kind);
}

export function isFaultKind(s: string): s is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(s);
}

export function isHostFault(kind: FaultKind): kind is HostFaultKind {
  return (HOST_FAULT_KINDS as readonly string[]).includes(kind);
}

export function isSlowFault(kind: FaultKind): kind is SlowFaultKind {
  return (SLOW_FAULT_KINDS as readonly string[]).includes(kind);
}

function makeFault(rng: Rng, kind: FaultKind): Fault {
  const pick = rng();
  switch (kind) {
    case 'kill-leader':
    case 'kill-follower':
      return { kind, pick, holdMs: randInt(rng, 300, 1500) };
    case 'pause-leader':
    case 'pause-follower':
      // The detection timeout is 2 × heartbeat (0.2 s at 0.1 s): pause well past it.
      return { kind, pick, holdMs: randInt(rng, 500, 1500) };
    case 'stall-leader':
    case 'stall-follower':
      // Just past the detection timeout: suspected, and running again before the system has settled.
      return { kind, pick, holdMs: randInt(rng, 250, 450) };
    case 'kill-machine':
      return { kind, target: rng() < 0.5 ? 'leader' : 'follower', pick, holdMs: randInt(rng, 300, 1500) };
    case 'pause-machine':
      // The GFD declares a silent LFD failed after 2 × heartbeat (0.2 s): hold well past it.
      return { kind, target: rng() < 0.6 ? 'leader' : 'follower', pick, holdMs: randInt(rng, 500, 1500) };
    case 'restart-gfd':
    case 'restart-rm':
    case 'kill-sync':
      return { kind, pick, holdMs: randInt(rng, 200, 1500) };
    case 'kill-all':
      return { kind, pick, holdMs: randInt(rng, 100, 1000) };
    case 'net-drop':
      return { kind, target: netTarget(rng), pick, holdMs: randInt(rng, 200, 1000) };
    case 'net-delay':
      return { kind, target: netTarget(rng), pick, holdMs: randInt(rng, 500, 2000), delayMs: randInt(rng, 20, 400) };
    case 'net-blackhole':
      return { kind, target: netTarget(rng), pick, holdMs: randInt(rng, 300, 1500) };
    case 'cut-machine':
      // The GFD declares a silent LFD failed after 2 × heartbeat: hold well past it.
      return { kind, target: rng() < 0.6 ? 'leader' : 'follower', pick, holdMs: randInt(rng, 500, 2500) };
    case 'cut-link':
      // Past the leader's lag timeout (4 × heartbeat), so the follower leaves the group and rejoins.
      return { kind, pick, holdMs: randInt(rng, 500, 2500) };
    case 'cut-one-way':
      return { kind, pick, holdMs: randInt(rng, 500, 2500), direction: rng() < 0.5 ? 'to-follower' : 'to-leader' };
    case 'link-loss':
      return { kind, pick, holdMs: randInt(rng, 1000, 3000), lossPct: randInt(rng, 5, 30) };
    case 'link-delay':
      return { kind, pick, holdMs: randInt(rng, 1000, 3000), delayMs: randInt(rng, 100, 600) };
    case 'cpu-hog':
    case 'mem-hog':
    case 'delay': {
      // Long enough for the RM to flag it once the replica's baseline is learnt (about 6 s), and sometimes not.
      const amount = kind === 'cpu-hog' ? randInt(rng, 40, 80) : kind === 'mem-hog' ? randInt(rng, 20, 60) : randInt(rng, 20, 200);
      return { kind, target: rng() < 0.7 ? 'leader' : 'follower', pick, holdMs: randInt(rng, 2000, 9000), amount };
    }
  }
}

function netTarget(rng: Rng): FaultTarget {
  return weighted<FaultTarget>(rng, [
    ['leader', 3],
    ['follower', 1],
    ['all', 1],
  ]);
}

export function makeSchedule(options: ScheduleOptions): Step[] {
  const rng = mulberry32(options.seed);
  const kinds = options.kinds && options.kinds.length > 0 ? options.kinds : options.hosts ? [...LOOPBACK_FAULT_KINDS, ...HOST_FAULT_KINDS] : LOOPBACK_FAULT_KINDS;
  const hostOnly = kinds.filter(isHostFault);
  if (!options.hosts && hostOnly.length > 0) throw new Error(`${hostOnly.join(', ')}: only on namespace hosts (--hosts)`);
  const overlapChance = options.overlap ?? 0.25;
  const doubleChance = options.double ?? 0.15;
  const overlapping = OVERLAPPING.filter((k) => kinds.includes(k));
  // Every replica of the group down at once: no second replica fault is drawn with it, nor as one.
  const replicaKinds = REPLICA_FAULTS.filter((k) => kinds.includes(k) && k !== 'kill-all');
  const steps: Step[] = [];
  let planned = 0;
  while (planned < options.durationMs && steps.length < MAX_STEPS) {
    const kind = weighted(rng, kinds.map((k) => [k, WEIGHTS[k]] as const));
    const step: Step = { gapMs: randInt(rng, 300, 1500), fault: makeFault(rng, kind) };
    const r = rng();
    if (isReplicaFault(kind) && kind !== 'kill-all' && replicaKinds.length > 0 && r < doubleChance) {
      const other = weighted(rng, replicaKinds.map((k) => [k, WEIGHTS[k]] as const));
      step.overlap = { offsetMs: randInt(rng, 0, step.fault.holdMs), fault: makeFault(rng, other) };
    } else if (isReplicaFault(kind) && overlapping.length > 0 && r < doubleChance + overlapChance) {
      const other = weighted(rng, overlapping.map((k) => [k, WEIGHTS[k]] as const));
      step.overlap = { offsetMs: randInt(rng, 0, step.fault.holdMs), fault: makeFault(rng, other) };
    }
    steps.push(step);
    planned += step.gapMs + step.fault.holdMs + (isReplicaFault(kind) ? PLANNED_RECOVERY_MS : 0);
  }
  return steps;
}

/**
 * With several replica groups: aim each fault that targets replicas or their client links at a
 * group, drawn from a stream of its own, so that the schedule itself is the one a single group
 * gets for the same seed. The control-plane faults (restart-gfd, restart-rm) and the synchronizer's
 * (kill-sync) aim at no group.
 */
export function assignGroups(steps: readonly Step[], seed: number, groups: readonly string[]): Step[] {
  const rng = substream(seed, 'groups');
  const aim = (f: Fault): Fault => (f.kind === 'restart-gfd' || f.kind === 'restart-rm' || f.kind === 'kill-sync' ? f : { ...f, group: pickOne(rng, groups) });
  return steps.map((s) => ({ ...s, fault: aim(s.fault), ...(s.overlap ? { overlap: { ...s.overlap, fault: aim(s.overlap.fault) } } : {}) }));
}

const secs = (ms: number) => `${(ms / 1000).toFixed(2)}s`;

/** What a fault does, e.g. `kill-machine leader (down 0.50s)`; with a group, `kill-machine g2 leader (down 0.50s)`. */
export function describeFault(f: Fault): string {
  const text = describeKind(f);
  return f.group ? text.replace(/^\S+/, (kind) => `${kind} ${f.group}`) : text;
}

function describeKind(f: Fault): string {
  const on = f.target ? ` ${f.target}` : '';
  switch (f.kind) {
    case 'kill-leader':
    case 'kill-follower':
    case 'kill-machine':
      return `${f.kind}${on} (down ${secs(f.holdMs)})`;
    case 'pause-machine':
      return `${f.kind}${on} (stopped ${secs(f.holdMs)})`;
    case 'pause-leader':
    case 'pause-follower':
    case 'stall-leader':
    case 'stall-follower':
      return `${f.kind} (stopped ${secs(f.holdMs)})`;
    case 'restart-gfd':
    case 'restart-rm':
    case 'kill-sync':
    case 'kill-all':
      return `${f.kind} (down ${secs(f.holdMs)})`;
    case 'net-delay':
      return `net-delay${on} +${f.delayMs} ms (for ${secs(f.holdMs)})`;
    case 'cut-machine':
      return `cut-machine${on} (cut off ${secs(f.holdMs)})`;
    case 'cut-link':
      return `cut-link leader-follower (for ${secs(f.holdMs)})`;
    case 'cut-one-way':
      return `cut-one-way ${f.direction === 'to-leader' ? 'follower->leader' : 'leader->follower'} (for ${secs(f.holdMs)})`;
    case 'link-loss':
      return `link-loss leader-follower ${f.lossPct}% (for ${secs(f.holdMs)})`;
    case 'link-delay':
      return `link-delay leader-follower +${f.delayMs} ms (for ${secs(f.holdMs)})`;
    case 'cpu-hog':
      return `cpu-hog${on} ${f.amount} ms of every 100 ms (for ${secs(f.holdMs)})`;
    case 'mem-hog':
      return `mem-hog${on} ${f.amount} MB/s (for ${secs(f.holdMs)})`;
    case 'delay':
      return `delay${on} +${f.amount} ms on all it sends (for ${secs(f.holdMs)})`;
    default:
      return `${f.kind}${on} (for ${secs(f.holdMs)})`;
  }
}

/** One line per step. */
export function formatSchedule(steps: readonly Step[]): string[] {
  return steps.map(
    (s, i) =>
      `#${String(i + 1).padStart(2)} after ${secs(s.gapMs)}: ${describeFault(s.fault)}${s.overlap ? `, with ${describeFault(s.overlap.fault)} from +${secs(s.overlap.offsetMs)}` : ''}`,
  );
}
