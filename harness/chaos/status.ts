/** The RM's view of the system, as `<admin, status>` returns it, and what "whole" means for a chaos run. */
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

/** Whole: the GFD connected, a leader, `replicas` members, every one ready. */
export function isWhole(s: RmStatus, replicas: number): boolean {
  return s.gfd === 'connected' && !!s.leader && s.members.length === replicas && s.members.every((m) => m.ready);
}

/** Poll until the system is whole (resolves with the status) or `ms` pass (undefined). */
export async function waitWhole(sys: System, replicas: number, ms: number, onStatus?: (s: RmStatus) => void): Promise<RmStatus | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await rmStatus(sys);
    if (s) onStatus?.(s);
    if (s && isWhole(s, replicas)) return s;
    if (Date.now() >= deadline) return undefined;
    await sleep(100);
  }
}

export function describeStatus(s: RmStatus | undefined): string {
  if (!s) return 'RM status unknown';
  const members = s.members.map((m) => `${m.name}${m.name === s.leader ? '*' : ''}${m.ready ? '' : '(not ready)'}`).join(' ');
  return `epoch ${s.epoch}, leader ${s.leader ?? '-'}, GFD ${s.gfd}, members: ${members || 'none'}`;
}

/** The RM's status as a run last saw it: every query through it keeps the latest answer. */
export class StatusTracker {
  last: RmStatus | undefined;

  constructor(
    private readonly sys: System,
    private readonly replicas: number,
  ) {}

  async fetch(): Promise<RmStatus | undefined> {
    const s = await rmStatus(this.sys);
    if (s) this.last = s;
    return s;
  }

  /** Resolves with the status once the system is whole, or undefined after `ms`. */
  waitWhole(ms: number): Promise<RmStatus | undefined> {
    return waitWhole(this.sys, this.replicas, ms, (s) => (this.last = s));
  }

  describe(s = this.last): string {
    return describeStatus(s);
  }
}
