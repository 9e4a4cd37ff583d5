/**
 * Fail-slow detection (pure; the clock is the caller's): a replica that still answers, but
 * slowly. Each replica's signals (the round trip of its links, its CPU, its memory) are sampled
 * once a second. After a warm-up, each signal has a baseline: the median of its samples so far
 * (samples taken while the replica was flagged, or beyond the threshold, do not move it). A
 * replica is flagged fail-slow when one signal that may flag alone stays above its threshold for
 * `sustainMs`, and cleared when every such signal has stayed below for as long (one that only
 * adds to why, such as the CPU of a primary busy with load, holds no flag).
 *
 * The threshold is max(baseline × factor, baseline + floor): the factor catches a slowdown of a
 * signal that is large, the floor keeps a signal that is tiny (a 0.2 ms round trip) from being
 * flagged for a jitter of a few milliseconds. A latency must also stand out from its peers' current
 * values (the other replicas of its group), by a smaller factor and the same floor: load that slows every
 * replica alike (a saturating client) is load, not a slow replica; so is memory (every replica
 * holds the same state, so a growing state grows them all).
 *
 * CPU does not flag alone: a saturating load takes a passive primary's CPU to a whole core while
 * its backups idle, so neither its own baseline nor its peers tell a busy primary from a hogged
 * one. What a CPU hog does that load does not is hold the event loop for long stretches: the
 * replica's own event-loop delay (the p90 of a 10 ms timer's lateness, lib/metrics/loop.ts) stays
 * at a few ms on a loop busy with many short requests, and reaches the hog's length with a hog.
 * Measured inside the process, it carries none of the jitter a link's round trip picks up from
 * the peer that times it and from a busy machine, so it is compared with a floor in ms (and with
 * its peers', which a busy machine raises alike). CPU beyond its threshold only adds to why.
 */

export interface SignalRule {
  factor: number;
  /** Added to the baseline: below baseline + floor nothing is flagged. */
  floor: number;
  /** Whether the value is also compared with the group's other replicas: beyond max(theirs × peerFactor, theirs + floor). */
  peers: boolean;
  /** Smaller than `factor`: on a busy machine every replica's round trips grow, and a slow one need only stand out. */
  peerFactor?: number;
  /** Whether this signal alone flags a replica (else it only adds to why). */
  alone: boolean;
}

/** Signals and their rules: latency in ms (the median round trip of the links reaching the replica), loop in ms (event-loop delay), cpu in % of one core, rss in MB. */
export const DEFAULT_RULES: Readonly<Record<string, SignalRule>> = {
  latency: { factor: 3, floor: 20, peers: true, peerFactor: 1.5, alone: true },
  loop: { factor: 3, floor: 20, peers: true, peerFactor: 1.5, alone: true },
  rss: { factor: 2, floor: 200, peers: true, peerFactor: 1.5, alone: true },
  cpu: { factor: 3, floor: 50, peers: false, alone: false },
};

export interface FailSlowOptions {
  /** How long a signal is only learnt from before it can flag (ms). */
  warmupMs: number;
  /** How long a signal must stay beyond its threshold to flag, and below it to clear (ms). */
  sustainMs: number;
  rules: Readonly<Record<string, SignalRule>>;
}

export const DEFAULT_FAIL_SLOW: FailSlowOptions = { warmupMs: 10_000, sustainMs: 3_000, rules: DEFAULT_RULES };

/** Samples a baseline keeps (the latest): at one a second, five minutes. */
const KEPT = 300;

interface Signal {
  since: number;
  baseline: number[];
  value: number;
  /** Since when the value has been beyond its threshold (undefined: it is not). */
  beyondSince: number | undefined;
  belowSince: number | undefined;
}

export interface SlowChange {
  subject: string;
  slow: boolean;
  /** What is beyond what (for traces): e.g. `latency 62.0 ms, baseline 1.1 ms, threshold 21.1 ms`. */
  why: string;
}

/** How each signal is named and measured in a reason. */
const LABELS: Readonly<Record<string, [string, string]>> = { latency: ['latency', ' ms'], loop: ['event-loop delay', ' ms'], cpu: ['cpu', ' %'], rss: ['rss', ' MB'] };

const median = (xs: readonly number[]) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export class FailSlowDetector {
  private readonly signals = new Map<string, Map<string, Signal>>();
  private readonly flagged = new Map<string, string>();

  constructor(private readonly o: FailSlowOptions = DEFAULT_FAIL_SLOW) {}

  /** A sample of `signal` of `subject` at `now`. */
  observe(subject: string, signal: string, value: number, now: number): void {
    if (!Number.isFinite(value) || !this.o.rules[signal]) return;
    let of = this.signals.get(subject);
    if (!of) this.signals.set(subject, (of = new Map()));
    let s = of.get(signal);
    if (!s) of.set(signal, (s = { since: now, baseline: [], value, beyondSince: undefined, belowSince: undefined }));
    s.value = value;
    const warm = now - s.since >= this.o.warmupMs;
    if (!warm || (!this.flagged.has(subject) && value <= this.threshold(signal, median(s.baseline)))) {
      s.baseline.push(value);
      if (s.baseline.length > KEPT) s.baseline.shift();
    }
  }

  /** Forget a subject (it left, or was relaunched: a new process learns its own baseline). */
  forget(subject: string): void {
    this.signals.delete(subject);
    this.flagged.delete(subject);
  }

  /** Whether every signal of `subject` seen so far is past its warm-up (false before any). */
  isWarm(subject: string, now: number): boolean {
    const of = this.signals.get(subject);
    return !!of && of.size > 0 && [...of.values()].every((s) => now - s.since >= this.o.warmupMs);
  }

  /** The subjects flagged now, with why. */
  slow(): ReadonlyMap<string, string> {
    return this.flagged;
  }

  /**
   * Decide at `now`, each subject against its own baseline and its peers (`peersOf`: the other
   * replicas of its group); returns the subjects newly flagged or cleared.
   */
  evaluate(now: number, peersOf: (subject: string) => string[] = () => []): SlowChange[] {
    const changes: SlowChange[] = [];
    for (const [subject, of] of this.signals) {
      const reasons: string[] = [];
      let flags = false;
      for (const [name, s] of of) {
        const beyond = this.beyond(name, s, now, peersOf(subject));
        if (beyond) {
          s.beyondSince ??= now;
          s.belowSince = undefined;
          if (now - s.beyondSince >= this.o.sustainMs) {
            reasons.push(beyond);
            flags ||= this.o.rules[name]!.alone;
          }
        } else {
          s.beyondSince = undefined;
          s.belowSince ??= now;
        }
      }
      const was = this.flagged.has(subject);
      const why = `${subject}: ${reasons.join('; ')}`;
      if (flags && !was) {
        this.flagged.set(subject, why);
        changes.push({ subject, slow: true, why });
      } else if (was && [...of].every(([name, s]) => !this.o.rules[name]!.alone || (s.belowSince !== undefined && now - s.belowSince >= this.o.sustainMs))) {
        changes.push({ subject, slow: false, why: `every signal that flags (${this.flagging().join(', ')}) back below its threshold for ${this.o.sustainMs / 1000} s` });
        this.flagged.delete(subject);
      }
    }
    return changes;
  }

  /** The signals that flag a replica alone, as reasons name them. */
  private flagging(): string[] {
    return Object.entries(this.o.rules).filter(([, r]) => r.alone).map(([name]) => (LABELS[name] ?? [name])[0]);
  }

  private threshold(signal: string, base: number, factor = this.o.rules[signal]!.factor): number {
    return Number.isNaN(base) ? Infinity : Math.max(base * factor, base + this.o.rules[signal]!.floor);
  }

  /** Why the signal is beyond its thresholds now, or undefined. */
  private beyond(name: string, s: Signal, now: number, peers: string[]): string | undefined {
    if (now - s.since < this.o.warmupMs) return undefined;
    const base = median(s.baseline);
    const own = this.threshold(name, base);
    if (!(s.value > own)) return undefined;
    const [label, unit] = LABELS[name] ?? [name, ''];
    let why = `${label} ${s.value.toFixed(1)}${unit}, baseline ${base.toFixed(1)}${unit}, threshold ${own.toFixed(1)}${unit}`;
    if (this.o.rules[name]!.peers) {
      const others = peers.map((p) => this.signals.get(p)?.get(name)?.value).filter((v): v is number => v !== undefined);
      if (others.length > 0) {
        const rule = this.o.rules[name]!;
        const theirs = this.threshold(name, median(others), rule.peerFactor ?? rule.factor);
        if (!(s.value > theirs)) return undefined;
        why += ` (its peers ${median(others).toFixed(1)}${unit})`;
      }
    }
    return why;
  }
}
