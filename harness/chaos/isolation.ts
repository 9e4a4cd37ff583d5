/**
 * The cross-group check of a chaos run with several replica groups (pure): no fault in one group
 * changes another group's epoch or leader.
 *
 * The run takes a snapshot of every group's epoch and leader (from the RM's status) while the
 * system is whole before each step, and one at the end. Between two snapshots lie one step's
 * faults (more, if a snapshot could not be taken) and the quiet gap after them. In that window a
 * group may change only if a fault there was aimed at it, or was a machine fault (kill-machine,
 * pause-machine) on the machine its leader ran on when the fault struck; control-plane faults
 * (restart-rm, restart-gfd) allow no group to change. Every other group must end the window with
 * the epoch and leader it began with, and no group's epoch ever goes back.
 *
 * A group the harness did not fault can still change for a reason of its own: on a loaded machine
 * a live replica (or a whole LFD) may be suspected, or a leader may report a slow follower as
 * lagging. Such a change, in a window where that group itself had such a suspicion, is counted
 * apart (`excused`), not as a violation: it is no fault of another group's.
 */

/** One group's epoch and leader, as the RM reported them. */
export interface GroupState {
  epoch: number;
  leader: string | null;
}

export interface Snapshot {
  /** The step this snapshot was taken before (the last step + 1 for the one taken at the end). */
  beforeStep: number;
  /** ms since the run started. */
  at: number;
  groups: Record<string, GroupState>;
}

/** What the check needs of an injected fault (nemesis.ts, InjectedFault). */
export interface StepFault {
  step: number;
  kind: string;
  description: string;
  target?: string;
  skipped?: string;
  /** The group the fault aimed at (none: a control-plane fault). */
  group?: string;
  /** A machine fault: the groups whose leader was on that machine when it struck. */
  leadersThere?: string[];
}

/** A failure the harness did not inject, reported about a replica or machine of `groups` at `at` (ms since the run started). */
export interface Suspicion {
  at: number;
  groups: string[];
}

/** How long before a window a suspicion may still change a group in it (the RM reacts to it a little later). */
const SUSPICION_LAG_MS = 500;

export interface IsolationViolation {
  group: string;
  /** The window, ms since the run started. */
  from: number;
  to: number;
  message: string;
}

export interface IsolationResult {
  /** Windows between two snapshots. */
  windows: number;
  /** Group × window pairs compared. */
  compared: number;
  /** Epoch changes seen where they were allowed, by group. */
  changes: Record<string, number>;
  /** Changes no fault allowed, in a window where the group itself had a suspicion, by group. */
  excused: Record<string, number>;
  violations: IsolationViolation[];
}

/** The groups a window's faults may change: those aimed at, and those whose leader was on a machine faulted. */
export function allowedGroups(faults: readonly StepFault[]): Set<string> {
  const out = new Set<string>();
  for (const f of faults) {
    if (f.skipped) continue;
    if (f.group) out.add(f.group);
    for (const g of f.leadersThere ?? []) out.add(g);
  }
  return out;
}

const show = (s: GroupState) => `epoch ${s.epoch}, leader ${s.leader ?? '-'}`;

export function checkIsolation(snapshots: readonly Snapshot[], faults: readonly StepFault[], suspicions: readonly Suspicion[] = []): IsolationResult {
  const result: IsolationResult = { windows: 0, compared: 0, changes: {}, excused: {}, violations: [] };
  const ordered = [...snapshots].sort((a, b) => a.beforeStep - b.beforeStep || a.at - b.at);
  for (let i = 1; i < ordered.length; i++) {
    const from = ordered[i - 1]!;
    const to = ordered[i]!;
    result.windows++;
    const inWindow = faults.filter((f) => f.step >= from.beforeStep && f.step < to.beforeStep);
    const allowed = allowedGroups(inWindow);
    const suspected = new Set(suspicions.filter((s) => s.at >= from.at - SUSPICION_LAG_MS && s.at <= to.at).flatMap((s) => s.groups));
    const injected = inWindow.filter((f) => !f.skipped);
    const what = injected.length > 0 ? injected.map((f) => `#${f.step} ${f.description}${f.target ? ` on ${f.target}` : ''}`).join('; ') : 'no fault';
    for (const [group, before] of Object.entries(from.groups)) {
      const after = to.groups[group];
      if (!after) continue;
      result.compared++;
      const changed = after.epoch !== before.epoch || after.leader !== before.leader;
      if (after.epoch < before.epoch) {
        result.violations.push({ group, from: from.at, to: to.at, message: `${group}'s epoch went back: ${show(before)} → ${show(after)} (${what})` });
      } else if (changed && !allowed.has(group) && suspected.has(group)) {
        result.excused[group] = (result.excused[group] ?? 0) + 1;
      } else if (changed && !allowed.has(group)) {
        const may = allowed.size > 0 ? `only ${[...allowed].sort().join(', ')} may change` : 'no group may change';
        result.violations.push({ group, from: from.at, to: to.at, message: `${group} changed from ${show(before)} to ${show(after)} during ${what}: ${may}` });
      } else if (changed) {
        result.changes[group] = (result.changes[group] ?? 0) + 1;
      }
    }
  }
  return result;
}
