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
 * are kept bounded (servers/core/events.ts): each timeline at least its last 1,000 posts.
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
import type { App, AppEvent, Frozen, Restorer, Watchable } from './apps.js';
import { EventLog, EventLogBuilder, type EventLogState } from './events.js';
import { field, FreezableMap, frozenRecords, recordRestorer, recordsText, stringsWeight, type StateRecord } from './freezable.js';
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
  directory: FreezableMap<string>;
  /** The directory's users in `byId` order (what `list` answers), kept so as users are added. */
  ids: string[];
  local: FreezableMap<LocalUser>;
  /** Per group: every outbox entry for it up to this revision has been delivered there. */
  synced: Record<string, number>;
}

const emptyState = (): SnsState => ({
  directory: new FreezableMap<string>((g) => g, (g) => g.length + 10),
  ids: [],
  local: new FreezableMap<LocalUser>(
    (u) => ({ following: [...u.following], followers: [...u.followers], ...(u.session ? { session: { ...u.session } } : {}) }),
    (u) => stringsWeight(u.following) + stringsWeight(u.followers) + (u.session ? u.session.id.length + 24 : 10),
  ),
  synced: {},
});

const ID = /^[A-Za-z0-9_.-]{1,64}$/;
/** Users' ids in the order people expect (`u2` before `u10`); one collator, not one per comparison. */
const byId = new Intl.Collator('en', { numeric: true }).compare;

export class SnsApp implements App, Watchable {
  readonly name = 'sns';
  readonly watch: Watchable = this;
  private s: SnsState = emptyState();
  /** `s.ids` as JSON, made at the first `list` after a change. */
  private idsText?: string;
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
    const user = this.s.local.get(u);
    if (!user) {
      this.learn(u, this.group);
      this.outbox({ to: '*', from: this.group, op: 'user', user: u, home: this.group });
    }
    const held = user?.session;
    if (held && held.id !== session && time - held.seen < SESSION_HOLD_MS) return 'elsewhere';
    if (user) this.s.local.update(u, (x) => (x.session = { id: session, seen: time }));
    else this.s.local.set(u, { following: [], followers: [], session: { id: session, seen: time } });
    return 'ok';
  }

  private logout(u: string, session: string): string {
    if (this.s.local.get(u)?.session?.id === session) this.s.local.update(u, (x) => delete x.session);
    return 'ok';
  }

  private follow(op: 'follow' | 'unfollow', u: string, v: string): string {
    const user = this.s.local.get(u);
    if (!user) return 'unknown-user';
    const follows = user.following.includes(v);
    if (op === 'follow') {
      if (u === v || follows) return 'exists';
      if (!this.s.directory.has(v)) return 'invalid';
      this.s.local.update(u, (x) => x.following.push(v));
    } else {
      if (!follows) return 'not-follower';
      this.s.local.update(u, (x) => (x.following = x.following.filter((f) => f !== v)));
    }
    const here = this.s.local.update(v, (x) => (x.followers = op === 'follow' ? [...x.followers, u] : x.followers.filter((f) => f !== u)));
    if (!here) this.outbox({ to: this.s.directory.get(v)!, from: this.group, op, user: v, follower: u });
    return 'ok';
  }

  private list(u: string): string {
    const user = this.s.local.get(u);
    if (!user) return 'unknown-user';
    this.idsText ??= JSON.stringify(this.s.ids);
    return `{"users":${this.idsText},"followers":${JSON.stringify([...user.followers].sort(byId))}}`;
  }

  /** A user and its group into the directory; a new one into `ids` at its place (after those equal to it: as a stable sort would). */
  private learn(user: string, group: string): void {
    if (!this.s.directory.has(user)) {
      const ids = this.s.ids;
      let [lo, hi] = [0, ids.length];
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (byId(ids[mid]!, user) <= 0) lo = mid + 1;
        else hi = mid;
      }
      ids.splice(lo, 0, user);
      this.idsText = undefined;
    }
    this.s.directory.set(user, group);
  }

  /** The last posts of u's timeline, newest first, and the revision to watch it from. */
  private timeline(u: string): string {
    if (!this.s.local.has(u)) return 'unknown-user';
    const posts = this.log.latest(timelineTopic(u), TIMELINE_LENGTH).map((text) => JSON.parse(text) as Post);
    return JSON.stringify({ rev: this.log.rev, posts });
  }

  private post(u: string, time: number, text: string): string {
    const user = this.s.local.get(u);
    if (!user) return 'unknown-user';
    const elsewhere = new Map<string, string[]>();
    // One text for every follower's event: a post to many followers is held once.
    const event = postText({ author: u, time, text });
    for (const f of user.followers) {
      if (this.s.local.has(f)) this.log.add(timelineTopic(f), event);
      else {
        const home = this.s.directory.get(f) ?? '';
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
        this.learn(e.user, e.home);
        return 'ok';
      case 'follow':
      case 'unfollow': {
        const found = this.s.local.update(e.user, (user) => {
          user.followers = user.followers.filter((x) => x !== e.follower);
          if (e.op === 'follow') user.followers.push(e.follower);
        });
        return found ? 'ok' : 'invalid';
      }
      case 'deliver':
        // Only to those who still follow the author when the post arrives.
        const event = postText({ author: e.author, time: e.time, text: e.text });
        for (const f of e.users) if (this.s.local.get(f)?.following.includes(e.author)) this.log.add(timelineTopic(f), event);
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
    return `[${this.s.local.size} users here, ${this.s.directory.size} in all, rev ${this.log.rev}, ${this.log.length} events kept]`;
  }

  snapshot(): string {
    return recordsText(this.freeze());
  }

  restore(snapshot: string): void {
    const r = this.restorer();
    r.push(snapshot || recordsText(new SnsApp(this.group).freeze()));
    r.done();
  }

  /**
   * The state as records, a line each: `["synced", group, rev]`, `["dir", user, group]` (in `list` order),
   * `["user", user, following, followers, session, seen]` (no session: nulls), then the event
   * log's (events.ts). A freeze copies only the few `synced` rows.
   */
  freeze(): Frozen {
    const synced = Object.entries(this.s.synced);
    // The ids are changed in place as users come: a copy (8 bytes a user), so that the directory goes in their order.
    const ids = this.s.ids.slice();
    const directory = this.s.directory.freeze();
    const local = this.s.local.freeze();
    const log = this.log.freeze();
    const size = 30 * synced.length + this.s.directory.chars + this.s.local.chars + this.log.chars;
    return frozenRecords(size, function* (): Iterable<StateRecord> {
      for (const [group, rev] of synced) yield ['synced', group, rev];
      for (const user of ids) yield ['dir', user, directory.get(user)];
      for (const [user, u] of local.entries()) yield ['user', user, u.following, u.followers, u.session?.id ?? null, u.session?.seen ?? null];
      yield* log();
    });
  }

  restorer(): Restorer {
    const s = emptyState();
    const log = new EventLogBuilder();
    return recordRestorer(
      'sns',
      (record) => {
        if (log.take(record)) return;
        const [kind, a, b, c, d, e] = record;
        if (kind === 'synced') s.synced[field.string(a, 'a group')] = field.count(b, 'a revision');
        else if (kind === 'dir') {
          const user = field.string(a, 'a user');
          if (s.directory.has(user)) throw new Error(`user ${JSON.stringify(user)} twice`);
          if (s.ids.length > 0 && byId(s.ids.at(-1)!, user) > 0) throw new Error(`user ${JSON.stringify(user)} out of order`);
          s.ids.push(user);
          s.directory.set(user, field.string(b, "a user's group"));
        }
        else if (kind === 'user') {
          const user: LocalUser = { following: field.strings(b, 'following'), followers: field.strings(c, 'followers') };
          if (d !== null) user.session = { id: field.string(d, 'a session'), seen: field.count(e, "a session's time") };
          s.local.set(field.string(a, 'a user'), user);
        } else throw new Error(`unknown kind ${JSON.stringify(kind)}`);
      },
      () => {
        this.log.install(log.done());
        this.s = s;
        this.idsText = undefined;
      },
      (text) => this.restoreWhole(text),
    );
  }

  /** A state written whole as one JSON object (before records). */
  private restoreWhole(text: string): void {
    const parsed = JSON.parse(text) as { directory?: Record<string, string>; local?: Record<string, LocalUser>; synced?: Record<string, number>; log?: EventLogState };
    if (typeof parsed !== 'object' || parsed === null) throw new Error('sns snapshot is not an object');
    const s = emptyState();
    for (const [user, group] of Object.entries(parsed.directory ?? {})) s.directory.set(user, group);
    s.ids = [...s.directory.keys()].sort(byId);
    for (const [user, u] of Object.entries(parsed.local ?? {})) s.local.set(user, u);
    s.synced = parsed.synced ?? {};
    this.log.restoreWhole(parsed.log);
    this.s = s;
    this.idsText = undefined;
  }
}

const postText = (post: Post) => JSON.stringify(post);

function bad(payload: string): string {
  return `error: sns cannot parse ${JSON.stringify(payload.slice(0, 60))}`;
}
