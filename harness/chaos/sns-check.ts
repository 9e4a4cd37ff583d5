/**
 * The check of the chaos harness's sns workload (pure; the run is sns-run.ts): the posts the
 * users made, each with its outcome, against every user's whole timeline read at the end.
 *
 * The follow relation is fixed while the posts are made (every follow is acknowledged and has
 * reached its author's group before the first post, and nobody unfollows), so who must get a
 * post is exact: every follower of its author. Then:
 * - an acknowledged post is in each of its author's followers' timelines (`lost` if not);
 * - no post is in a timeline twice (`duplicate`), nor in the timeline of a user who does not
 *   follow its author (`misdelivered`);
 * - nothing that was never posted is in a timeline (`phantom`), nor a post that certainly did not
 *   run, because it never left its client or its group refused it (`failed-applied`);
 * - one author's posts are in each timeline in the order the author made them (`client-order`);
 * - a post of unknown outcome either ran or not: it is in every follower's timeline or in none
 *   (`partial-delivery`), at most once in each;
 * - a logged-in user's post is answered `ok` (`bad-result` for any other answer).
 *
 * A follow that had not reached its author's group when the posts began (the run reports it
 * apart) may count from any moment on: the author's posts may be in that follower's timeline or
 * not (`late`), once each and in order all the same.
 */
import { Findings, type Anomaly, type AnomalyKind, type OutcomeCounts } from './checker.js';
import type { Op } from './history.js';

/** The process name of user `u`'s posts in the history. */
export const postProcess = (u: string): string => `U${u}`;
const authorOf = (op: Op): string => op.process.slice(1);

/** A post as a timeline holds it. */
export interface TimelineEntry {
  author: string;
  text: string;
  rev: number;
}

export interface SnsHistory {
  /** Every post: an `append` of process `U<author>` whose value is the post's text (unique), in invocation order. */
  posts: readonly Op[];
  /** Each author's followers, fixed while the posts were made. */
  followers: ReadonlyMap<string, readonly string[]>;
  /** Followers of each author whose follow had not reached the author's group when the posts began: they may get its posts or not. */
  late?: ReadonlyMap<string, readonly string[]>;
  /** Each user's whole timeline (every event of topic `timeline/<user>`), in revision order. */
  timelines: ReadonlyMap<string, readonly TimelineEntry[]>;
}

export interface SnsStats {
  posts: OutcomeCounts;
  /** Deliveries the acknowledged posts owe (a post times its author's followers). */
  expected: number;
  /** Timeline entries read, in all. */
  entries: number;
  /** Posts of unknown outcome found in their followers' timelines (they ran). */
  unknownDelivered: number;
}

/** What a run of the sns workload did, for its report. */
export interface SnsSummary extends SnsStats {
  users: number;
  follows: number;
  /** Follows of a user of another group. */
  crossGroup: number;
  /** How long the logins, follows and their spread to every group took, ms. */
  setupMs: number;
  /** Times the synchronizer was started (1 + its restarts). */
  syncStarts: number;
  /**
   * Groups whose every ready replica was declared failed at some point, so that the RM continued
   * from one that was not ready ("no ready replica survived"): what they acknowledged before may
   * be lost (docs/PROTOCOL.md, "What it does not cover").
   */
  uncovered: string[];
}

export interface SnsCheck {
  anomalies: Anomaly[];
  suppressed: Partial<Record<AnomalyKind, number>>;
  stats: SnsStats;
}

export function checkSns(h: SnsHistory, maxPerKind = 10): SnsCheck {
  const found = new Findings(maxPerKind);
  const byText = new Map(h.posts.map((op) => [op.value ?? '', op]));
  const acknowledged = (op: Op) => op.outcome === 'ok' && op.result === 'ok';
  const refused = (op: Op) => op.outcome === 'fail' || (op.outcome === 'ok' && op.result !== 'ok');
  const followers = (author: string) => (h.followers.get(author) ?? []).filter((f) => !(h.late?.get(author) ?? []).includes(f));
  /** Each post's position among its author's posts. */
  const rank = new Map<Op, number>();
  const made = new Map<string, number>();
  for (const op of h.posts) {
    const a = authorOf(op);
    rank.set(op, made.get(a) ?? 0);
    made.set(a, (made.get(a) ?? 0) + 1);
    if (op.outcome === 'ok' && op.result !== 'ok') found.add('bad-result', `${a}'s post ${JSON.stringify(op.value)} was answered ${JSON.stringify(op.result)}, not ok`, [op]);
  }

  /** Which users' timelines hold each post (once counted per user). */
  const holders = new Map<Op, Set<string>>();
  let entries = 0;
  for (const [user, timeline] of [...h.timelines].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))) {
    entries += timeline.length;
    const seen = new Set<string>();
    /** The last post of each author in this timeline so far. */
    const lastOf = new Map<string, Op>();
    for (const e of timeline) {
      const op = byText.get(e.text);
      if (!op || authorOf(op) !== e.author) {
        found.add('phantom', `${user}'s timeline holds ${JSON.stringify(e.text)} by ${e.author} (revision ${e.rev}), which ${e.author} never posted`, []);
        continue;
      }
      if (seen.has(e.text)) {
        found.add('duplicate', `${user}'s timeline holds ${e.author}'s post ${JSON.stringify(e.text)} more than once (again at revision ${e.rev})`, [op]);
        continue;
      }
      seen.add(e.text);
      if (refused(op)) found.add('failed-applied', `${user}'s timeline holds ${JSON.stringify(e.text)}, a post that did not run (${op.outcome === 'fail' ? 'never sent' : `answered ${JSON.stringify(op.result)}`})`, [op]);
      if (!followers(e.author).includes(user) && !(h.late?.get(e.author) ?? []).includes(user)) found.add('misdelivered', `${user}'s timeline holds ${e.author}'s post ${JSON.stringify(e.text)}, but ${user} does not follow ${e.author}`, [op]);
      const last = lastOf.get(e.author);
      if (last && rank.get(last)! > rank.get(op)!) {
        found.add('client-order', `${user}'s timeline holds ${e.author}'s post ${JSON.stringify(e.text)} after ${JSON.stringify(last.value)}, which ${e.author} posted later`, [last, op]);
      }
      if (!last || rank.get(last)! < rank.get(op)!) lastOf.set(e.author, op);
      const set = holders.get(op) ?? new Set<string>();
      set.add(user);
      holders.set(op, set);
    }
  }

  const stats: SnsStats = { posts: { ok: 0, fail: 0, unknown: 0 }, expected: 0, entries, unknownDelivered: 0 };
  for (const op of h.posts) {
    stats.posts[op.outcome]++;
    const author = authorOf(op);
    const got = holders.get(op) ?? new Set<string>();
    const missing = followers(author).filter((f) => !got.has(f));
    if (acknowledged(op)) {
      stats.expected += followers(author).length;
      for (const f of missing) found.add('lost', `${author}'s acknowledged post ${JSON.stringify(op.value)} is not in the timeline of ${f}, who follows ${author}`, [op]);
    } else if (op.outcome === 'unknown' && got.size > 0) {
      stats.unknownDelivered++;
      if (missing.length > 0) found.add('partial-delivery', `${author}'s post ${JSON.stringify(op.value)} (outcome unknown) reached ${[...got].join(', ')} but not ${missing.join(', ')}`, [op]);
    }
  }
  return { anomalies: found.anomalies, suppressed: found.suppressed, stats };
}
