/**
 * The RM's view of the system, as `<admin, status>` returns it, and what "whole" means for a chaos
 * run. With several replica groups, each group is looked at on its own (`groupView`): whole means
 * every group is whole.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Mode } from '../../lib/protocol/index.js';
import type { System } from '../launch/system.js';

export interface StatusMember {
  name: string;
  addr: string;
  role: string;
  ready: boolean;
}

export interface RmStatus {
  mode: Mode;
  epoch: number;
  leader: string | null;
  gfd: string;
  members: StatusMember[];
  /** Each replica group (the RM reports them whether there is one or more). */
  groups?: GroupStatus[];
}

export interface GroupStatus {
  name: string;
  mode: Mode;
  epoch: number;
  leader: string | null;
  members: StatusMember[];
}

/**
 * One group's part of the status, shaped as a whole status of its own (the GFD's state is
 * the system's); the status itself when `group` is undefined (one group).
 */
export function groupView(s: RmStatus | undefined, group: string | undefined): RmStatus | undefined {
  if (!s || group === undefined) return s;
  const g = s.groups?.find((x) => x.name === group);
  return g ? { mode: g.mode, epoch: g.epoch, leader: g.leader, gfd: s.gfd, members: g.members } : { mode: s.mode, epoch: 0, leader: null, gfd: s.gfd, members: [] };
}

const STATUS_TIMEOUT_MS = 1000;

/** The RM's status, or undefined if it does not answer within a second. */
export async function rmStatus(sys: System): Promise<RmStatus | undefined> {
  try {
    return JSON.parse(await sys.ctl({ op: 'status' }, STATUS_TIMEOUT_MS)) as RmStatus;
  } catch {
    return undefined;
  }
}

/** The RM's status, or an error saying it did not answer (for a caller that cannot go on without it). */
export async function mustStatus(sys: System): Promise<RmStatus> {
  const status = await rmStatus(sys);
  if (!status) throw new Error(`the RM did not answer ctl status within ${STATUS_TIMEOUT_MS} ms`);
  return status;
}

/** Whole: the GFD connected, a leader, `replicas` members, every one ready; with `groups`, each of them so. */
export function isWhole(s: RmStatus, replicas: number, groups?: readonly string[]): boolean {
  if (groups) return groups.every((g) => isWhole(groupView(s, g)!, replicas));
  return s.gfd === 'connected' && !!s.leader && s.members.length === replicas && s.members.every((m) => m.ready);
}

/** Poll until the system is whole (resolves with the status) or `ms` pass (undefined). */
export async function waitWhole(sys: System, replicas: number, ms: number, onStatus?: (s: RmStatus) => void, groups?: readonly string[]): Promise<RmStatus | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await rmStatus(sys);
    if (s) onStatus?.(s);
    if (s && isWhole(s, replicas, groups)) return s;
    if (Date.now() >= deadline) return undefined;
    await sleep(100);
  }
}

export function describeStatus(s: RmStatus | undefined, groups?: readonly string[]): string {
  if (!s) return 'RM status unknown';
  if (groups) return `GFD ${s.gfd}; ${groups.map((g) => { const v = groupView(s, g)!; return `${g} epoch ${v.epoch}: ${describeMembers(v)}`; }).join('; ')}`;
  return `epoch ${s.epoch}, leader ${s.leader ?? '-'}, GFD ${s.gfd}, members: ${describeMembers(s)}`;
}

/** `S1* S2 S3(not ready)`: the leader starred. */
function describeMembers(s: RmStatus): string {
  return s.members.map((m) => `${m.name}${m.name === s.leader ? '*' : ''}${m.ready ? '' : '(not ready)'}`).join(' ') || 'none';
}

/** The RM's status as a run last saw it: every query through it keeps the latest answer. */
export class StatusTracker {
  last: RmStatus | undefined;

  /** `groups`: the replica groups when there are several (each must be whole). */
  constructor(
    private readonly sys: System,
    private readonly replicas: number,
    readonly groups?: readonly string[],
  ) {}

  async fetch(): Promise<RmStatus | undefined> {
    const s = await rmStatus(this.sys);
    if (s) this.last = s;
    return s;
  }

  /** Resolves with the status once the system is whole, or undefined after `ms`. */
  waitWhole(ms: number): Promise<RmStatus | undefined> {
    return waitWhole(this.sys, this.replicas, ms, (s) => (this.last = s), this.groups);
  }

  describe(s = this.last): string {
    return describeStatus(s, this.groups);
  }
}
