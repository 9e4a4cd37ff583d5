/**
 * What a chaos run saw besides its history: progress lines and warnings, stamped with the run's
 * clock; processes that died on their own; internal errors a component survived; failures
 * reported about components the harness had not faulted (false suspicions); the RM's decisions;
 * and every process's trace events, to explain anomalies afterwards.
 */
import type { Proc } from '../launch/proc.js';
import { TraceLog } from './explain.js';

/** How long after a fault heals reports of it may still arrive. */
const REPORT_LAG_MS = 2000;
/** At most this many warnings about false suspicions, and about each process's internal errors. */
const MAX_FALSE_SUSPICIONS = 5;
const MAX_INTERNAL_ERRORS = 3;

export class RunObserver {
  readonly warnings: string[] = [];
  /** The RM's decisions (elections, readiness, view changes). */
  readonly decisions: string[] = [];
  /** Every process the run spawned, with its trace events, on the run's timeline. */
  readonly traces: TraceLog;
  /** The run is ending: exits and failure reports are expected from now on. */
  stopping = false;
  /** Processes the harness killed (their exit is expected). */
  private readonly killed = new WeakSet<Proc>();
  /** Components the harness is faulting, and until when (ms) a failure report about them is expected. */
  private readonly faultedUntil = new Map<string, number>();
  private falseSuspicions = 0;
  /** When (wall clock) each false suspicion warned about was reported, and what it said. */
  readonly suspicions: Array<{ at: number; text: string }> = [];
  private readonly internalErrors = new Map<string, number>();
  /**
   * Every failure the harness did not cause, warned about or not: a component declared failed
   * though not faulted, one that exited on its own, a follower its leader reported as lagging
   * (`who`: the component; `group`: the RM's group for a lag report). `at`: ms since the run started.
   */
  readonly unforced: Array<{ at: number; who: string; group?: string }> = [];

  constructor(
    private readonly clock: () => number,
    private readonly log: (line: string) => void,
  ) {
    this.traces = new TraceLog(Date.now() - clock());
  }

  private stamp(): string {
    return `[${(this.clock() / 1000).toFixed(2).padStart(6)}s]`;
  }

  /** A progress line. */
  say(text: string): void {
    this.log(`${this.stamp()} ${text}`);
  }

  warn(text: string): void {
    this.warnings.push(`${this.stamp()} ${text}`);
    this.log(`${this.stamp()} warning: ${text}`);
  }

  /** The harness kills `proc`: its exit is no surprise. */
  killing(proc: Proc): void {
    this.killed.add(proc);
  }

  /** `name` is being faulted: failure reports about it are expected. */
  faulting(name: string): void {
    this.faultedUntil.set(name, Infinity);
  }

  /** The fault on `name` is healed; reports of it may still arrive for a moment. */
  healed(name: string): void {
    this.faultedUntil.set(name, this.clock() + REPORT_LAG_MS);
  }

  private isFaulted(name: string): boolean {
    return (this.faultedUntil.get(name) ?? -Infinity) > this.clock();
  }

  /** Follow a process the run spawned. */
  watch(p: Proc): void {
    this.traces.add(p);
    p.once('exit', (code, signal) => {
      if (!this.killed.has(p) && !this.stopping) this.unforced.push({ at: this.clock(), who: p.name });
      if (!this.killed.has(p) && !this.stopping) this.warn(`${p.name} (pid ${p.pid}) exited on its own (${signal ?? `status ${code}`}); last lines:\n${p.tail(8)}`);
    });
    p.on('event', (e) => {
      if (p.name === 'RM' && (e.type === 'decision' || e.type === 'view_changed' || e.type === 'supervision')) {
        this.decisions.push(`${this.stamp()} ${e.text}${e.type === 'view_changed' ? ` (epoch ${(e.data as { epoch?: number }).epoch})` : ''}`);
      }
      if ((e.type === 'heartbeat_failed' && p.name.startsWith('LFD')) || (e.type === 'lfd_lost' && p.name === 'GFD')) {
        const who = String((e.data as { server?: unknown; lfd?: unknown } | undefined)?.server ?? (e.data as { lfd?: unknown } | undefined)?.lfd ?? '?');
        if (!this.isFaulted(who) && !this.stopping) this.unforced.push({ at: this.clock(), who });
        if (!this.isFaulted(who) && !this.stopping && ++this.falseSuspicions <= MAX_FALSE_SUSPICIONS) {
          this.suspicions.push({ at: e.time, text: `${p.name}: ${e.text}` });
          this.warn(`false suspicion: ${p.name} declared ${who} failed though the harness had not faulted it: ${e.text}`);
        }
      }
      const group = (e.data as { group?: unknown } | undefined)?.group;
      if (p.name === 'RM' && e.type === 'decision' && / has waited its lag timeout for /.test(e.text)) this.unforced.push({ at: this.clock(), who: 'RM', group: typeof group === 'string' ? group : undefined });
      if (e.type !== 'internal_error') return;
      const n = (this.internalErrors.get(p.name) ?? 0) + 1;
      this.internalErrors.set(p.name, n);
      if (n <= MAX_INTERNAL_ERRORS) this.warn(`${p.name} reported an internal error: ${e.text.split('\n').slice(0, 4).join(' | ')}`);
    });
  }
}
