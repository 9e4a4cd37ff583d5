/**
 * `sns`: the social network's state in one replica group, as a deterministic state machine.
 *
 * Users live in the group their id routes to (they log in there). Each group keeps its own
 * users (whom they follow, who follows them, their timeline) and a directory of every user of
 * every group. What another group must learn (a new user, a follow of one of its users, a post
 * its users follow) goes into the **outbox**, which is part of the replicated state: events of
 * topic `outbox`, each naming the group it is for (`*`: every other group). `ftkit sync` watches
 * every group's outbox and carries each entry to its group as an ordinary request,
 * `sync <json>`, under the client name `sync.<source group>` and the entry's revision as its
 * request number: the receiving group's dedup table makes delivery exactly-once.
 *
 * The synchronizer also tells a group how far each link is delivered (`synced GROUP REV`: every
 * entry for GROUP up to REV has arrived there), so the outbox is trimmed behind it; the events
 * are kept bounded (servers/core/events.ts): each timeline its last 1,000 posts.
 *
 * Time is stamped by the client and carried in the request: no replica reads a clock. FOLLOW
 * counts only posts made after the follow reached the author's group. A timeline holds the
 * posts of followed users; each one is an event of topic `timeline/<user>`, so a client in
 * TIMELINE mode subscribes to it and sees new posts as they are made.
 *
 * Requests (fields separated by spaces, the text last):
 *   login U SESSION TIME · logout U SESSION · follow U V · unfollow U V · list U · timeline U
 *   post U TIME TEXT · sync JSON · synced GROUP REV
 * Replies: `ok`, `exists` (following oneself, or twice), `invalid` (no such user),
 * `not-follower`, `elsewhere` (logged in by another session), `unknown-user` (the user making the
 * request never logged in here: its client logs in again), JSON for list and timeline,
 * `error: …` for a request it cannot parse.
 */
import type { App, AppEvent, Watchable } from './apps.js';
import { EventLog, type EventLogState } from './events.js';
import { OUTBOX_TOPIC, timelineTopic, type Post } from '../../lib/protocol/topics.js';

export { OUTBOX_TOPIC, timelineTopic, type Post };

/** How long a session holds its user after it was last seen (ms of the clients' clocks). */
export const SESSION_HOLD_MS = 30_000;
/** Posts a timeline read returns. */
export const TIMELINE_LENGTH = 20;
/** Posts a timeline keeps for watchers that subscribe from an older revision. */
export const TIMELINE_KEEP = 1000;

interface LocalUser {
  following: string[];
  followers: string[];
  session?: { id: string; seen: number };
}

/** What goes to another group: the op, for the group named in `to` (`*`: every other). */
export type OutboxEntry =
  | { to: string; from: string; op: 'user'; user: string; home: string }
  | { to: string; from: string; op: 'follow' | 'unfollow'; user: string; follower: string }
  | { to: string; from: string; op: 'deliver'; author: string; time: number; text: string; users: string[] };

interface SnsState {
  /** Every user known, local or not: the group each lives in. */
  directory: Record<string, string>;
  local: Record<string, LocalUser>;
  /** Per group: every outbox entry for it up to this revision has been delivered there. */
  synced: Record<string, number>;
}

const ID = /^[A-Za-z0-9_.-]{1,64}$/;
const byId = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

export class SnsApp implements App, Watchable {
  readonly name = 'sns';
  readonly watch: Watchable = this;
  private s: SnsState = { directory: {}, local: {}, synced: {} };
  private readonly log = new EventLog((e, newer) => (e.topic === OUTBOX_TOPIC ? !this.delivered(e) : newer < TIMELINE_KEEP));

  constructor(readonly group: string) {}

  apply(payload: string): string {
    const [op = '', ...args] = payload.split(' ');
    const [u = '', b = '', c = ''] = args;
    switch (op) {
      case 'login':
        return ID.test(u) && /^\d+$/.test(c) ? this.login(u, b, Number(c)) : bad(payload);
      case 'logout':
        return this.logout(u, b);
      case 'follow':
      case 'unfollow':
        return ID.test(u) && ID.test(b) ? this.follow(op, u, b) : bad(payload);
      case 'list':
        return this.list(u);
      case 'timeline':
        return this.timeline(u);
      case 'post': {
        const text = args.slice(2).join(' ');
        return ID.test(u) && /^\d+$/.test(b) ? this.post(u, Number(b), text) : bad(payload);
      }
      case 'sync':
        return this.sync(payload.slice('sync '.length));
      case 'synced':
        return ID.test(u) && /^\d+$/.test(b) && args.length === 2 ? this.synced(u, Number(b)) : bad(payload);
      default:
        return bad(payload);
    }
  }

  private login(u: string, session: string, time: number): string {
    let user = this.s.local[u];
    if (!user) {
      user = this.s.local[u] = { following: [], followers: [] };
      this.s.directory[u] = this.group;
      this.outbox({ to: '*', from: this.group, op: 'user', user: u, home: this.group });
    }
    const held = user.session;
    if (held && held.id !== session && time - held.seen < SESSION_HOLD_MS) return 'elsewhere';
    user.session = { id: session, seen: time };
    return 'ok';
  }

  private logout(u: string, session: string): string {
    const user = this.s.local[u];
    if (user?.session?.id === session) delete user.session;
    return 'ok';
  }

  private follow(op: 'follow' | 'unfollow', u: string, v: string): string {
    const user = this.s.local[u];
    if (!user) return 'unknown-user';
    const follows = user.following.includes(v);
    if (op === 'follow') {
      if (u === v || follows) return 'exists';
      if (!this.s.directory[v]) return 'invalid';
      user.following.push(v);
    } else {
      if (!follows) return 'not-follower';
      user.following = user.following.filter((x) => x !== v);
    }
    const other = this.s.local[v];
    if (other) other.followers = op === 'follow' ? [...other.followers, u] : other.followers.filter((x) => x !== u);
    else this.outbox({ to: this.s.directory[v]!, from: this.group, op, user: v, follower: u });
    return 'ok';
  }

  private list(u: string): string {
    const user = this.s.local[u];
    if (!user) return 'unknown-user';
    return JSON.stringify({ users: Object.keys(this.s.directory).sort(byId), followers: [...user.followers].sort(byId) });
  }

  /** The last posts of u's timeline, newest first, and the revision to watch it from. */
  private timeline(u: string): string {
    if (!this.s.local[u]) return 'unknown-user';
    const posts = this.log.latest(timelineTopic(u), TIMELINE_LENGTH).map((text) => JSON.parse(text) as Post);
    return JSON.stringify({ rev: this.log.rev, posts });
  }

  private post(u: string, time: number, text: string): string {
    const user = this.s.local[u];
    if (!user) return 'unknown-user';
    const elsewhere = new Map<string, string[]>();
    for (const f of user.followers) {
      if (this.s.local[f]) this.deliver(f, { author: u, time, text });
      else {
        const home = this.s.directory[f] ?? '';
        elsewhere.set(home, [...(elsewhere.get(home) ?? []), f]);
      }
    }
    for (const [to, users] of [...elsewhere].sort(([a], [b]) => byId(a, b))) this.outbox({ to, from: this.group, op: 'deliver', author: u, time, text, users });
    return 'ok';
  }

  /** An entry of another group's outbox, carried here by the synchronizer. */
  private sync(json: string): string {
    let e: OutboxEntry;
    try {
      e = JSON.parse(json) as OutboxEntry;
    } catch {
      return bad(`sync ${json}`);
    }
    switch (e.op) {
      case 'user':
        this.s.directory[e.user] = e.home;
        return 'ok';
      case 'follow':
      case 'unfollow': {
        const user = this.s.local[e.user];
        if (!user) return 'invalid';
        user.followers = user.followers.filter((x) => x !== e.follower);
        if (e.op === 'follow') user.followers.push(e.follower);
        return 'ok';
      }
      case 'deliver':
        // Only to those who still follow the author when the post arrives.
        for (const f of e.users) if (this.s.local[f]?.following.includes(e.author)) this.deliver(f, { author: e.author, time: e.time, text: e.text });
        return 'ok';
      default:
        return bad(`sync ${json}`);
    }
  }

  /** Every entry for `group` up to `rev` has been delivered: they may go at the next compaction. */
  private synced(group: string, rev: number): string {
    this.s.synced[group] = Math.max(this.s.synced[group] ?? 0, Math.min(rev, this.log.rev));
    return 'ok';
  }

  /** Whether an outbox entry has reached its group (a new user's entry, for every group, stays: one per user). */
  private delivered(e: AppEvent): boolean {
    const to = (JSON.parse(e.text) as OutboxEntry).to;
    return to !== '*' && e.rev <= (this.s.synced[to] ?? 0);
  }

  private deliver(user: string, post: Post): void {
    this.event(timelineTopic(user), JSON.stringify(post));
  }

  private outbox(entry: OutboxEntry): void {
    this.event(OUTBOX_TOPIC, JSON.stringify(entry));
  }

  private event(topic: string, text: string): void {
    this.log.add(topic, text);
  }

  // ---- Watchable ----------------------------------------------------------------------

  lastRev(): number {
    return this.log.rev;
  }

  since(topic: string, after: number, upTo: number): AppEvent[] {
    return this.log.since(topic, after, upTo);
  }

  // ---- App ----------------------------------------------------------------------------

  describe(): string {
    return `[${Object.keys(this.s.local).length} users here, ${Object.keys(this.s.directory).length} in all, rev ${this.log.rev}, ${this.log.length} events kept]`;
  }

  snapshot(): string {
    return JSON.stringify({ ...this.s, log: this.log.state() });
  }

  restore(snapshot: string): void {
    const parsed = JSON.parse(snapshot || '{}') as Partial<SnsState> & { log?: EventLogState };
    if (typeof parsed !== 'object' || parsed === null) throw new Error('sns snapshot is not an object');
    this.s = { directory: parsed.directory ?? {}, local: parsed.local ?? {}, synced: parsed.synced ?? {} };
    this.log.restore(parsed.log);
  }
}

function bad(payload: string): string {
  return `error: sns cannot parse ${JSON.stringify(payload.slice(0, 60))}`;
}
