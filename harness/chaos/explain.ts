/**
 * Component traces that explain what the checker found: every process a run spawned
 * keeps its JSON trace events (harness/launch/proc.ts), and these pick out the events about
 * the requests in an anomaly's excerpt, and the role, epoch, sync and membership events
 * around them, on one timeline with the history (seconds since the run started).
 */
import type { Proc } from '../launch/proc.js';
import type { TraceEvent } from '../../lib/trace/index.js';
import type { Op } from './history.js';

/** Trace events that give the context of an anomaly: roles, epochs, syncs, checkpoints, suspicions. */
const CONTEXT_EVENTS = new Set([
  'role_changed',
  'sync_started',
  'sync_done',
  'step_down',
  'stale_epoch',
  'held_ahead',
  'held_overflow',
  'peer_refused',
  'ack_ahead',
  'stale_role',
  'detached',
  'heartbeat_failed',
  'replica_deleted',
  'checkpoint_received',
  'log_replay',
  'fault_injected',
  'decision',
  'view_changed',
  'lfd_lost',
  'internal_error',
]);
/** What else matters when a replica never became ready again. */
const READINESS_EVENTS = new Set([...CONTEXT_EVENTS, 'checkpoint_sent', 'checkpoint_order_ignored', 'server_registered', 'replica_added', 'membership_changed']);
/** Left out of a replica's last events: the steady traffic. */
const QUIET_EVENTS = new Set(['heartbeat_answered', 'request_received', 'reply_sent', 'state_before', 'state_after', 'log_held', 'already_ordered', 'duplicate_request', 'request_rejected']);
export const MAX_TRACE_LINES = 80;

export class TraceLog {
  private readonly procs: Proc[] = [];

  /** `wall0`: the wall-clock time (ms) the run's clock counts from; component events carry wall-clock times. */
  constructor(private readonly wall0: number) {}

  add(p: Proc): void {
    this.procs.push(p);
  }

  private line(p: Proc, e: TraceEvent): string {
    return `[${((e.time - this.wall0) / 1000).toFixed(3).padStart(8)}s] ${p.name.padEnd(4)} ${e.text.split('\n')[0]}`;
  }

  private collect(keep: (e: TraceEvent) => boolean, max = MAX_TRACE_LINES): string[] {
    const lines: Array<[number, string]> = [];
    for (const p of this.procs) for (const e of p.events) if (keep(e)) lines.push([e.time, this.line(p, e)]);
    lines.sort((a, b) => a[0] - b[0]);
    const out = lines.map(([, l]) => l);
    return out.length > max ? [...out.slice(0, max), `… ${out.length - max} more lines`] : out;
  }

  /** Every component's events but the steady traffic, on one timeline (for `--traces`). */
  all(): string[] {
    return this.collect((e) => !QUIET_EVENTS.has(e.type), Infinity);
  }

  /** Context events (checkpoints left out) from half a second before wall-clock time `at` to a second after (a surprise such as a false suspicion); at most 40 lines. */
  aroundTime(at: number): string[] {
    return this.collect((e) => CONTEXT_EVENTS.has(e.type) && e.type !== 'checkpoint_received' && e.time >= at - 500 && e.time <= at + 1000, 40);
  }

  /** Events about these operations' requests, and context events from a second before the first to a second after the last. */
  around(ops: readonly Op[]): string[] {
    const requests = new Set(ops.filter((o) => o.num !== undefined).map((o) => `${o.process}:${o.num}`));
    const times = ops.flatMap((o) => [o.invokeTime, o.completeTime ?? o.invokeTime]);
    if (times.length === 0) return [];
    const from = this.wall0 + Math.min(...times) - 1000;
    const to = this.wall0 + Math.max(...times) + 1000;
    return this.collect((e) => {
      const d = e.data as { client?: unknown; num?: unknown } | undefined;
      if (d !== undefined && requests.has(`${String(d.client)}:${String(d.num)}`)) return true;
      return CONTEXT_EVENTS.has(e.type) && e.time >= from && e.time <= to;
    });
  }

  /** The RM's decisions and view changes about replica group `group` from half a second before `from` to half a second after `to` (ms since the run started). */
  rmGroup(group: string, from: number, to: number): string[] {
    return this.collect((e) => {
      const d = e.data as { group?: unknown } | undefined;
      return (e.type === 'decision' || e.type === 'view_changed') && d?.group === group && e.time >= this.wall0 + from - 500 && e.time <= this.wall0 + to + 500;
    }, 40);
  }

  /** Every component's readiness-related events from a second before `replica` last lost readiness to three seconds after. */
  lostReadiness(replica: Proc | undefined): string[] {
    const lost = replica?.events.filter((e) => e.type === 'detached' || (e.type === 'role_changed' && (e.data as { ready?: boolean } | undefined)?.ready === false)).pop();
    if (!lost) return [];
    return this.collect((e) => READINESS_EVENTS.has(e.type) && e.time >= lost.time - 1000 && e.time <= lost.time + 3000);
  }

  /** A process's last 40 events, steady traffic left out. */
  last(p: Proc | undefined): string[] {
    if (!p) return [];
    return p.events
      .filter((e) => !QUIET_EVENTS.has(e.type))
      .slice(-40)
      .map((e) => this.line(p, e));
  }
}
