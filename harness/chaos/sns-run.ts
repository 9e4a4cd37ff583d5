/**
 * One chaos run of the sns workload (`npm run chaos -- --workload sns`): three replica groups
 * running the sns app behind one RM (`--route mod`), one `ftkit sync` carrying the outboxes
 * between them, and nine users (three per group, sns-users.ts) driven through the run's
 * fault-injecting proxies while the nemesis injects a seeded schedule: replica, machine and
 * control-plane faults in any group, and kill -9 of the synchronizer, which the harness starts
 * again after a while (`kill-sync`).
 *
 * The workload keeps the check exact (sns-check.ts): the users log in, make every follow of a
 * seeded plan (across groups and within them) until each is acknowledged, and wait until every
 * author's group lists its followers; only then do they post, for the run's duration, and
 * nobody unfollows. The faults run from the start to the end of the posts, so the follows and
 * their spread through the synchronizer are faulted too. Every user's whole timeline is read
 * live, through a subscription from revision 0 taken before the first post. At the end
 * everything is healed, the synchronizer runs, and the run waits until every acknowledged post
 * has reached every follower and no entry has come for a while (or a deadline).
 *
 * The set-up has a deadline (30 s by default). A follow still answered `invalid` then (the
 * followed user's acknowledged login never reached the follower's group) is an anomaly and is
 * not made. A follow its author's group does not list by then is warned about and counts as late
 * (its author's posts may reach that follower or not); if the group does not list it even at the
 * end, the acknowledged follow was lost: an anomaly.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { System } from '../launch/system.js';
import type { Proc } from '../launch/proc.js';
import { HarnessError } from '../../lib/errors.js';
import type { Mode } from '../../lib/protocol/index.js';
import { HistoryRecorder } from './history.js';
import { ProxyPool } from './proxy.js';
import { assignGroups, formatSchedule, makeSchedule, SNS_FAULT_KINDS, type FaultKind } from './schedule.js';
import { substream } from './rng.js';
import { StatusTracker } from './status.js';
import { RunObserver } from './observer.js';
import { Nemesis } from './nemesis.js';
import type { RunReport } from './report.js';
import { groupForKey } from './groups.js';
import { checkSns, type SnsSummary, type TimelineEntry } from './sns-check.js';
import type { Anomaly } from './checker.js';
import { SnsUser, TimelineReader, followersOf, listFollowers, planFollows } from './sns-users.js';
import { Session } from '../../clients/session.js';
import { DEFAULT_CHECKPOINT_FREQ_S, DEFAULT_HEARTBEAT_S, DEFAULT_RECOVER_TIMEOUT_MS, DEFAULT_REPLICAS } from './runner.js';

export const SNS_GROUPS = 3;
export const DEFAULT_SNS_USERS = 9;
const START_TIMEOUT_MS = 15_000;
/** How long the logins and follows may take, and their spread to every group, faults and all (by default). */
const DEFAULT_SETUP_TIMEOUT_MS = 30_000;
/** How long the synchronizer gets to start. */
const SYNC_START_MS = 10_000;
/** After the faults: how long every acknowledged post may take to reach its followers (by default), and how long no new entry must come before the timelines are taken as whole. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 20_000;
const QUIET_MS = 1000;
/** How long the users get to finish their current post when the fault phase ends. */
const POST_GRACE_MS = 3000;

export interface SnsChaosOptions {
  mode: Mode;
  seed: number;
  /** Seconds of posts, after the set-up; the faults run from the start of the set-up to the end of the posts. */
  durationS: number;
  /** Fault kinds to draw from (default: every loopback kind and kill-sync). */
  faults?: readonly FaultKind[];
  double?: number;
  heartbeat?: number;
  checkpointFreq?: number;
  replicas?: number;
  recoverTimeoutMs?: number;
  /** How long the timelines are read at most, waiting for every acknowledged post to reach its followers (default 20 s). */
  drainTimeoutMs?: number;
  /** How long the logins and follows may take, and their spread to every group (default 30 s). */
  setupTimeoutMs?: number;
  /** Users 1…n (default 9: three per group). */
  users?: number;
  /** Extra environment for the server processes, e.g. `{ FTKIT_FAULT: 'skip-log-replay' }` for a deliberately broken build. */
  serverEnv?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  tracesFile?: string;
}

export function runSnsChaos(options: SnsChaosOptions): Promise<RunReport> {
  return new SnsChaosRun(options).run();
}

class SnsChaosRun {
  private readonly t0 = performance.now();
  private readonly clock = () => performance.now() - this.t0;
  private readonly sys: System;
  private readonly pool = new ProxyPool();
  private readonly recorder = new HistoryRecorder(this.clock);
  private readonly observer: RunObserver;
  private readonly status: StatusTracker;
  private readonly nemesis: Nemesis;
  private readonly groups: string[];
  private readonly users: SnsUser[] = [];
  private readonly recoverMs: number;
  private syncStarts = 0;
  private setupMs = 0;
  /** When the posts end, and the faults with them (run clock): not known until the set-up is done. */
  private postsEnd = Infinity;
  /** Follows not yet listed by their author's group when the posts began (author → followers). */
  private readonly late = new Map<string, string[]>();
  /** Acknowledged logins and follows whose effect never reached another group. */
  private readonly lostSetup: Anomaly[] = [];
  /** The follows made (answered ok), and so each author's followers. */
  private readonly follows: Array<[string, string]> = [];
  private followers = new Map<string, string[]>();

  constructor(private readonly o: SnsChaosOptions) {
    this.recoverMs = o.recoverTimeoutMs ?? DEFAULT_RECOVER_TIMEOUT_MS;
    const replicas = o.replicas ?? DEFAULT_REPLICAS;
    const heartbeat = o.heartbeat ?? DEFAULT_HEARTBEAT_S;
    this.observer = new RunObserver(this.clock, o.log ?? (() => {}));
    this.sys = new System({ mode: o.mode, app: 'sns', heartbeat, checkpointFreq: o.checkpointFreq ?? DEFAULT_CHECKPOINT_FREQ_S, replicas, autoRestart: false, groups: SNS_GROUPS, machines: replicas, rmArgs: ['--route', 'mod'], serverEnv: o.serverEnv });
    this.groups = this.sys.groupNames;
    this.sys.group.on('spawned', (p) => this.observer.watch(p));
    this.status = new StatusTracker(this.sys, replicas, this.groups);
    this.nemesis = new Nemesis({
      sys: this.sys,
      mode: o.mode,
      heartbeat,
      pool: this.pool,
      status: this.status,
      observer: this.observer,
      clock: this.clock,
      recoverMs: this.recoverMs,
      pointStale: () => {},
      sync: { proc: () => this.sys.group.procs.get('sync'), start: () => this.startSync() },
    });
  }

  async run(): Promise<RunReport> {
    const { seed } = this.o;
    const durationMs = this.o.durationS * 1000;
    // The faults cover the set-up (a few seconds) and then `durationMs` of posts: plan for twice that.
    const planned = makeSchedule({ seed, durationMs: 2 * durationMs, kinds: this.o.faults ?? SNS_FAULT_KINDS, double: this.o.double });
    const schedule = assignGroups(planned, seed, this.groups);
    const ids = Array.from({ length: this.o.users ?? DEFAULT_SNS_USERS }, (_, i) => String(i + 1));
    const plan = planFollows(substream(seed, 'follows'), ids);
    const reader = new TimelineReader(ids);
    try {
      await this.sys.start();
      if (!(await this.status.waitWhole(START_TIMEOUT_MS))) throw new HarnessError(`the system did not become ready: ${this.status.describe()}`);
      await this.startSync();
      this.observer.say(`system ready: ${this.status.describe()}; sync runs`);
      const route = (name: string, addr: string) => this.pool.route(name, addr);
      for (const id of ids) this.users.push(new SnsUser({ id, rm: this.sys.rmAddr, route, recorder: this.recorder, rng: substream(seed, `user ${id}`) }));

      const worked = this.workload(plan, durationMs, reader).finally(() => (this.postsEnd = Math.min(this.postsEnd, this.clock())));
      const [faulted, posted] = await Promise.allSettled([this.nemesis.runUntil(schedule, () => this.postsEnd), worked]);
      for (const r of [faulted, posted]) if (r.status === 'rejected') throw r.reason;

      await this.nemesis.healAll();
      if (!(await this.status.waitWhole(this.recoverMs))) this.observer.warn(`the system was not whole ${this.recoverMs} ms after the last fault: ${this.status.describe()}`);
      if (!this.sys.group.procs.get('sync')?.running) {
        this.observer.warn('the synchronizer was not running at the end; started again');
        await this.startSync();
      }
      await this.checkLate();
      const owed = this.owed();
      this.observer.say(`waiting until every acknowledged post is in its followers' timelines`);
      await reader.settle((got) => [...owed].every(([u, texts]) => has(got.get(u), texts)), QUIET_MS, Date.now() + (this.o.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS));
    } finally {
      reader.stop();
      this.observer.stopping = true;
      for (const u of this.users) u.stop();
      this.recorder.closeAll();
      await this.nemesis.healAll().catch((err: Error) => this.observer.warn(`could not heal every fault: ${err.message}`));
      await this.pool.close();
      await this.sys.stop();
    }
    const uncovered = this.groups.filter((g) => this.observer.decisions.some((d) => d.includes(`RM: ${g}: no ready replica survived`)));
    const follows = this.follows;
    const summary = { users: ids.length, follows: follows.length, crossGroup: follows.filter(([u, v]) => this.groupOf(u) !== this.groupOf(v)).length, setupMs: Math.round(this.setupMs), syncStarts: this.syncStarts, uncovered };
    return this.report(formatSchedule(schedule), reader.timelines, summary);
  }

  /** Start the synchronizer (again, after a kill-sync); resolves when it runs. */
  private async startSync(): Promise<Proc> {
    const p = this.sys.group.spawn('sync', ['sync', '--rm', this.sys.rmAddr, '--groups', this.groups.join(','), ...this.sys.securityArgs('client'), '--json']);
    this.syncStarts++;
    await p.waitFor((e) => e.type === 'listening', SYNC_START_MS);
    return p;
  }

  private groupOf(user: string): string {
    return groupForKey(Number(user), this.groups);
  }

  /** Log in, follow, wait until the follows reached their authors' groups, then post for `durationMs`. */
  private async workload(plan: ReadonlyArray<readonly [string, string]>, durationMs: number, reader: TimelineReader): Promise<void> {
    const started = this.clock();
    const setupMs = this.o.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS;
    const deadline = Date.now() + setupMs;
    await Promise.all(this.users.map((u) => u.setup(`login ${u.id} chaos-${u.id} ${Date.now()}`, deadline)));
    // `invalid`: the followed user is not known in the follower's group yet (the synchronizer brings it); `exists`: a retried follow had run.
    await Promise.all(
      this.users.map(async (u) => {
        for (const [, v] of plan.filter(([f]) => f === u.id)) {
          if ((await u.setup(`follow ${u.id} ${v}`, deadline, ['ok', 'exists'], ['invalid'])) !== 'invalid') this.follows.push([u.id, v]);
          else this.lostSetup.push({ kind: 'lost', message: `${v} logged in at ${this.groupOf(v)}, but ${this.groupOf(u.id)} still did not know ${v} ${setupMs} ms after the set-up began (follow ${u.id} ${v}: invalid)`, ops: [] });
        }
      }),
    );
    this.followers = followersOf(this.follows);
    await Promise.all(this.users.map((u) => this.waitFollowers(u, this.followers.get(u.id) ?? [], deadline)));
    for (const [author, fs] of this.late) this.observer.warn(`${author}'s group did not list ${fs.join(', ')} among its followers ${setupMs} ms after the set-up began; their follows count from when they arrive`);
    this.setupMs = this.clock() - started;
    this.observer.say(`${this.follows.length} follows made and known in every author's group after ${(this.setupMs / 1000).toFixed(2)} s; posting`);
    reader.start(this.sys.rmAddr);
    const postsEnd = (this.postsEnd = this.clock() + durationMs);
    await Promise.race([Promise.all(this.users.map((u) => u.postUntil(() => this.clock() < postsEnd))), sleep(durationMs + POST_GRACE_MS, undefined, { ref: false })]);
    for (const u of this.users) u.stop();
  }

  /** Ask `list` until the user's group lists every one of `want` among its followers; by `deadline`, else those missing are late. */
  private async waitFollowers(u: SnsUser, want: readonly string[], deadline: number): Promise<void> {
    for (;;) {
      const got = await listFollowers(u.session, u.id);
      if (got && want.every((f) => got.includes(f))) return;
      if (Date.now() > deadline) {
        this.late.set(u.id, want.filter((f) => !got?.includes(f)));
        return;
      }
      await sleep(100);
    }
  }

  /** At the end: a late follow still not listed by its author's group was lost, though acknowledged. */
  private async checkLate(): Promise<void> {
    for (const [author, fs] of this.late) {
      const session = new Session({ name: `checker.${author}`, rm: this.sys.rmAddr, key: author });
      session.start();
      const got = await listFollowers(session, author).finally(() => session.stop());
      for (const f of fs.filter((x) => !got?.includes(x))) {
        this.lostSetup.push({ kind: 'lost', message: `${f}'s acknowledged follow of ${author} never reached ${this.groupOf(author)}: at the end it lists ${author}'s followers as ${JSON.stringify(got ?? 'nothing (no answer)')}`, ops: [] });
      }
    }
  }

  /** The posts each user's timeline must hold: every acknowledged post of each author the user follows. */
  private owed(): Map<string, Set<string>> {
    const owed = new Map<string, Set<string>>();
    for (const op of this.recorder.ops()) {
      if (op.outcome !== 'ok' || op.result !== 'ok') continue;
      const author = op.process.slice(1);
      for (const f of (this.followers.get(author) ?? []).filter((x) => !this.late.get(author)?.includes(x))) owed.set(f, (owed.get(f) ?? new Set()).add(op.value!));
    }
    return owed;
  }

  private report(schedule: string[], timelines: ReadonlyMap<string, readonly TimelineEntry[]>, summary: Omit<SnsSummary, keyof ReturnType<typeof checkSns>['stats']>): RunReport {
    const posts = this.recorder.ops();
    const result = checkSns({ posts, followers: this.followers, timelines, late: this.late });
    result.anomalies.unshift(...this.lostSetup);
    const log = this.observer.traces;
    const traces = result.anomalies.slice(0, 3).map((a) => ({ title: `traces around: ${a.kind}: ${a.message}`, lines: log.around(a.ops) }));
    if (this.o.tracesFile) writeFileSync(this.o.tracesFile, log.all().join('\n') + '\n');
    const s = result.stats;
    return {
      seed: this.o.seed,
      mode: this.o.mode,
      durationS: this.o.durationS,
      schedule,
      injected: this.nemesis.injected,
      stats: {
        appends: s.posts,
        reads: { ok: summary.follows, fail: 0, unknown: 0 },
        finalLength: s.entries,
        unknownApplied: s.unknownDelivered,
        linearizable: result.anomalies.length === 0,
        retries: this.users.reduce((n, u) => n + u.session.stats.retries, 0),
        elapsedMs: Math.round(this.clock()),
        faults: this.nemesis.count,
      },
      anomalies: result.anomalies,
      suppressed: result.suppressed,
      warnings: this.observer.warnings,
      decisions: this.observer.decisions,
      traces,
      final: { replicas: [] },
      history: posts,
      sns: { ...summary, ...s },
    };
  }
}

/** Whether `timeline` holds every text of `texts`. */
function has(timeline: readonly TimelineEntry[] | undefined, texts: ReadonlySet<string>): boolean {
  const present = new Set((timeline ?? []).map((e) => e.text));
  for (const t of texts) if (!present.has(t)) return false;
  return true;
}
