/**
 * The users of the chaos harness's sns workload: each is one request session (clients/session.ts)
 * keyed by its id, so the RM routes it to its home group (`--route mod`: user k lives in group
 * ((k − 1) mod 3) + 1), through the run's fault-injecting proxies. A user logs in, follows whom
 * the seeded plan says, and then posts unique texts (`p-<user>-<n>`) one after another, each
 * recorded in the history with its outcome (sns-check.ts reads them). The timelines are read
 * whole through subscriptions from revision 0 (clients/watch.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Session, type Outcome } from '../../clients/session.js';
import { Watch } from '../../clients/watch.js';
import { exponentialBackoff } from '../../lib/net/index.js';
import { timelineTopic, type Post } from '../../lib/protocol/topics.js';
import { HarnessError, SessionStoppedError } from '../../lib/errors.js';
import type { HistoryRecorder, OpHandle } from './history.js';
import { randInt, type Rng } from './rng.js';
import { postProcess, type TimelineEntry } from './sns-check.js';

/** Pause between two posts of one user: uniform in [MIN_THINK_MS, MAX_THINK_MS] (the sns state keeps every post, so its checkpoints grow with them). */
const MIN_THINK_MS = 50;
const MAX_THINK_MS = 250;
const ATTEMPT_TIMEOUT_MS = 1000;
/** A post not answered within this long ends unknown (or fail, if never sent). */
const POST_GIVE_UP_MS = 8000;
/** Between two tries of a set-up request the service could not do yet (a user not known in the group yet). */
const SETUP_RETRY_MS = 100;

export interface SnsUserOptions {
  id: string;
  rm: string;
  /** Where to connect to reach replica `name` at `addr` (a proxy). */
  route(name: string, addr: string): Promise<string>;
  recorder: HistoryRecorder;
  rng: Rng;
}

export class SnsUser {
  readonly id: string;
  readonly session: Session;
  /** Posts made (their number is the next post's). */
  posts = 0;
  private stopping = false;

  constructor(private readonly o: SnsUserOptions) {
    this.id = o.id;
    this.session = new Session({
      name: postProcess(o.id),
      rm: o.rm,
      key: o.id,
      route: (name, addr) => o.route(name, addr),
      attemptTimeoutMs: ATTEMPT_TIMEOUT_MS,
      giveUpMs: POST_GIVE_UP_MS,
      retryPolicy: exponentialBackoff({ baseMs: 50, capMs: 500 }),
      rmPolicy: exponentialBackoff({ baseMs: 50, capMs: 500 }),
    });
    this.session.start();
  }

  /**
   * Send a set-up request (log in, follow) until its group answers one of `done` (a reply meaning
   * it has run), trying again after `retry` answers (it did not run: e.g. `invalid` while the
   * followed user is not yet known in the group) and after lost attempts (the same request
   * number, so it runs at most once). At `deadline` (epoch ms) it resolves with a `retry` answer
   * if that was the last; any other answer is a harness error.
   */
  async setup(payload: string, deadline: number, done: readonly string[] = ['ok'], retry: readonly string[] = []): Promise<string> {
    for (;;) {
      const outcome = await this.session.request(payload);
      if (outcome.status === 'ok' && done.includes(outcome.result)) return outcome.result;
      const answer = outcome.status === 'ok' ? outcome.result : outcome.status;
      if (Date.now() > deadline && retry.includes(answer)) return answer;
      if (this.stopping || Date.now() > deadline || (outcome.status === 'ok' && !retry.includes(outcome.result))) {
        throw new HarnessError(`user ${this.id}: ${JSON.stringify(payload)} was answered ${JSON.stringify(answer)}`);
      }
      await sleep(SETUP_RETRY_MS);
    }
  }

  /** Post until `more()` says to stop, one post at a time, each recorded with its outcome. */
  async postUntil(more: () => boolean): Promise<void> {
    while (more() && !this.stopping) {
      const text = `p-${this.id}-${++this.posts}`;
      const op = this.o.recorder.invoke(postProcess(this.id), 'append', this.posts, text);
      const outcome = await this.session.request(`post ${this.id} ${Date.now()} ${text}`);
      this.record(op, outcome);
      await sleep(randInt(this.o.rng, MIN_THINK_MS, MAX_THINK_MS));
    }
  }

  /** Make no more requests; the one in flight ends unknown (or fail, if never sent). */
  stop(): void {
    this.stopping = true;
    this.session.stop();
  }

  private record(op: OpHandle, o: Outcome): void {
    if (o.status === 'ok') return op.ok(o.result, o.server);
    const why = o.error instanceof SessionStoppedError ? 'the run ended before a reply' : o.error.message;
    if (o.status === 'unknown') op.unknown(why);
    else op.fail(why);
  }
}

/** The followers `user`'s group lists (`list`), asked through `session`; undefined if it did not answer. */
export async function listFollowers(session: Session, user: string): Promise<string[] | undefined> {
  const outcome = await session.request(`list ${user}`);
  if (outcome.status !== 'ok') return undefined;
  try {
    return (JSON.parse(outcome.result) as { followers: string[] }).followers;
  } catch {
    return undefined;
  }
}

/** The followers each author has once `follows` (follower → followed) are all made. */
export function followersOf(follows: ReadonlyArray<readonly [string, string]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [f, v] of follows) out.set(v, [...(out.get(v) ?? []), f]);
  return out;
}

/** The seeded follow plan over `users`: each user follows each other user with chance `p`, across and within groups. */
export function planFollows(rng: Rng, users: readonly string[], p = 0.5): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const u of users) for (const v of users) if (u !== v && rng() < p) out.push([u, v]);
  return out;
}

/**
 * Every user's whole timeline, read live: a subscription from revision 0 to `timeline/<user>` at
 * the user's group, each following its own session's view (after a failover it subscribes again
 * at the new leader from the last revision it saw). Started before the first post, it sees every
 * post as it comes, so a bound on the posts a timeline keeps for late subscribers does not matter.
 */
export class TimelineReader {
  readonly timelines: Map<string, TimelineEntry[]>;
  private lastEntry = Date.now();
  private readonly sessions: Session[] = [];
  private readonly watches: Watch[] = [];

  constructor(private readonly users: readonly string[]) {
    this.timelines = new Map(users.map((u) => [u, [] as TimelineEntry[]]));
  }

  /** Subscribe, through the RM at `rm`. */
  start(rm: string): void {
    for (const u of this.users) {
      const session = new Session({ name: `reader.${u}`, rm, key: u });
      const watch = new Watch({ name: `reader.${u}`, topic: timelineTopic(u), from: 0, session });
      watch.on('event', (text, rev) => this.entry(u, text, rev));
      session.start();
      watch.start();
      this.sessions.push(session);
      this.watches.push(watch);
    }
  }

  /** Resolves once `enough(timelines)` holds and no new entry came for `quietMs`, or at `deadline` (epoch ms). */
  async settle(enough: (timelines: ReadonlyMap<string, readonly TimelineEntry[]>) => boolean, quietMs: number, deadline: number): Promise<void> {
    while (Date.now() < deadline && !(enough(this.timelines) && Date.now() - this.lastEntry >= quietMs)) await sleep(50);
  }

  stop(): void {
    for (const w of this.watches) w.stop();
    for (const s of this.sessions) s.stop();
  }

  private entry(user: string, text: string, rev: number): void {
    this.lastEntry = Date.now();
    let post: Partial<Post> = {};
    try {
      post = JSON.parse(text) as Post;
    } catch {
      // An entry that is not a post: checked as a phantom.
    }
    this.timelines.get(user)!.push({ author: String(post.author ?? '?'), text: String(post.text ?? text), rev });
  }
}
