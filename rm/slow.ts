/**
 * The RM's fail-slow watch: once a second it reads, for each replica, what the metrics store
 * has of the last few seconds (the median round trip of the links that reach it: its LFD's
 * heartbeats and its leader's log entries or orders; its event-loop delay, CPU and memory) and hands them to the
 * detector (failslow.ts), each replica compared with its own baseline and with the other
 * replicas of its group. A replica flagged is traced in red and named in the status; with
 * `rm --evict-slow`, a flagged leader is retired like a failed one: another is elected and the
 * RM has it relaunched.
 *
 * The median, not the p99: a replica that delays what it sends shifts every round trip, while a
 * busy machine's jitter (the test suite, a build beside it) moves the tail of every link alike,
 * and a hog, which holds up only the answers that arrive while it burns, is seen by the replica's
 * own event-loop delay. Client request latency is left out: under a saturating load a passive primary's requests wait
 * behind each other while its backups see none, which is load, not slowness.
 */
import type { MetricsStore } from './metrics.js';
import { DEFAULT_FAIL_SLOW, FailSlowDetector, type FailSlowOptions, type SlowChange } from './failslow.js';

/** The window each sample of a signal is read over. */
const SAMPLE_WINDOW_MS = 3000;
const EVERY_MS = 1000;
const LATENCY_KINDS: ReadonlySet<string> = new Set(['heartbeat', 'log', 'order']);

export interface WatchedGroup {
  name: string;
  leader: string | null;
  members: string[];
}

export interface SlowWatchOptions {
  metrics: MetricsStore;
  groups: () => WatchedGroup[];
  onChange: (change: SlowChange & { group: string; leader: boolean }) => void;
  /** Replicas whose baselines were just learnt (each once per process): they can be flagged from now on. */
  onWarm?: (replicas: string[]) => void;
  detector?: FailSlowOptions;
  now?: () => number;
}

export class SlowWatch {
  private readonly detector: FailSlowDetector;
  private timer: NodeJS.Timeout | undefined;
  /** The members seen last time, by group: one that left is forgotten (a relaunch learns anew). */
  private seen = new Map<string, string>();
  private readonly warm = new Set<string>();

  constructor(private readonly o: SlowWatchOptions) {
    this.detector = new FailSlowDetector(o.detector ?? DEFAULT_FAIL_SLOW);
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The replicas flagged now, by group. */
  flagged(group: string): string[] {
    return [...this.detector.slow().keys()].filter((r) => this.seen.get(r) === group).sort();
  }

  /** Why each replica is flagged. */
  reasons(): ReadonlyMap<string, string> {
    return this.detector.slow();
  }

  tick(now = (this.o.now ?? Date.now)()): void {
    const groups = this.o.groups();
    const members = new Map<string, string>();
    for (const g of groups) for (const m of g.members) members.set(m, g.name);
    for (const [r] of this.seen) {
      if (members.has(r)) continue;
      this.detector.forget(r);
      this.warm.delete(r);
    }
    this.seen = members;
    const summary = this.o.metrics.summary(now, SAMPLE_WINDOW_MS);
    const latency = new Map<string, number>();
    for (const l of summary.links) {
      if (l.stale || l.p50 === null || !LATENCY_KINDS.has(l.kind) || !members.has(l.to)) continue;
      latency.set(l.to, Math.max(latency.get(l.to) ?? 0, l.p50));
    }
    for (const [r, ms] of latency) this.detector.observe(r, 'latency', ms, now);
    for (const p of summary.processes) {
      if (p.stale || !members.has(p.process)) continue;
      if (p.cpu !== null) this.detector.observe(p.process, 'cpu', p.cpu, now);
      if (p.loop) this.detector.observe(p.process, 'loop', p.loop.delay, now);
      this.detector.observe(p.process, 'rss', p.rss / 1048576, now);
    }
    const peersOf = (r: string) => groups.find((g) => g.name === members.get(r))?.members.filter((m) => m !== r) ?? [];
    const warmed = [...members.keys()].filter((r) => !this.warm.has(r) && this.detector.isWarm(r, now));
    for (const r of warmed) this.warm.add(r);
    if (warmed.length > 0) this.o.onWarm?.(warmed.sort());
    for (const change of this.detector.evaluate(now, peersOf)) {
      const g = groups.find((x) => x.name === members.get(change.subject));
      this.o.onChange({ ...change, group: g?.name ?? '', leader: g?.leader === change.subject });
    }
  }
}
