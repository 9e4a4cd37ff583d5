/**
 * `chat`: chat rooms as a deterministic state machine. Users log in, join and leave rooms, and
 * say things; what a user says goes to every room the user has joined, and each member of such
 * a room (the speaker too) gets it in their inbox: an event of topic `inbox/<user>`, so a client
 * in CHAT mode subscribes to its inbox and sees each message once, live, across failovers.
 *
 * Requests (fields separated by spaces, the text last):
 *   login U · join U ROOM · leave U ROOM · list U · history U · say U TIME TEXT
 * Replies: `ok`, `already` (joined before), `not-member` (leaving a room not joined),
 * `unknown-user` (never logged in: its client logs in again), JSON for list and history,
 * `error: …` for a request it cannot parse.
 */
import type { App, AppEvent, Frozen, Restorer, Watchable } from './apps.js';
import { EventLog, EventLogBuilder, keepLatest, type EventLogState } from './events.js';
import { field, FreezableMap, frozenRecords, recordRestorer, recordsText, stringsWeight, type StateRecord } from './freezable.js';
import { inboxTopic, type ChatMessage } from '../../lib/protocol/topics.js';

/** Messages a history read returns. */
export const HISTORY_LENGTH = 20;
/** Messages an inbox keeps for watchers that subscribe from an older revision. */
export const INBOX_KEEP = 1000;

interface ChatState {
  /** Rooms each user has joined, by user. */
  users: FreezableMap<string[]>;
  /** Members of each room, by room. */
  rooms: FreezableMap<string[]>;
}

const names = () => new FreezableMap<string[]>((list) => [...list], stringsWeight);

const ID = /^[A-Za-z0-9_.-]{1,64}$/;

export class ChatApp implements App, Watchable {
  readonly name = 'chat';
  readonly watch: Watchable = this;
  private s: ChatState = { users: names(), rooms: names() };
  private readonly log = new EventLog(keepLatest(INBOX_KEEP));

  apply(payload: string): string {
    const [op = '', u = '', b = '', ...rest] = payload.split(' ');
    if (!ID.test(u)) return bad(payload);
    if (op === 'login') {
      if (!this.s.users.has(u)) this.s.users.set(u, []);
      return 'ok';
    }
    const joined = this.s.users.get(u);
    if (!joined) return ['join', 'leave', 'list', 'history', 'say'].includes(op) ? 'unknown-user' : bad(payload);
    switch (op) {
      case 'join':
        if (!ID.test(b)) return bad(payload);
        if (joined.includes(b)) return 'already';
        this.s.users.update(u, (rooms) => rooms.push(b));
        if (!this.s.rooms.update(b, (members) => members.push(u))) this.s.rooms.set(b, [u]);
        return 'ok';
      case 'leave':
        if (!joined.includes(b)) return 'not-member';
        this.s.users.set(u, joined.filter((r) => r !== b));
        this.s.rooms.set(b, this.s.rooms.get(b)!.filter((m) => m !== u));
        return 'ok';
      case 'list':
        return JSON.stringify({ rooms: [...this.s.rooms.keys()].sort(), joined: [...joined].sort() });
      case 'history':
        return this.history(u);
      case 'say':
        return /^\d+$/.test(b) ? this.say(u, Number(b), rest.join(' ')) : bad(payload);
      default:
        return bad(payload);
    }
  }

  private say(u: string, time: number, text: string): string {
    for (const room of this.s.users.get(u)!) {
      const msg: ChatMessage = { room, user: u, time, text };
      // One text for every member's event: a message to a large room is held once.
      const event = JSON.stringify(msg);
      for (const member of this.s.rooms.get(room) ?? []) this.log.add(inboxTopic(member), event);
    }
    return 'ok';
  }

  /** The last messages of u's rooms, oldest first, and the revision to watch from. */
  private history(u: string): string {
    const messages = this.log.latest(inboxTopic(u), HISTORY_LENGTH).reverse().map((text) => JSON.parse(text) as ChatMessage);
    return JSON.stringify({ rev: this.log.rev, messages });
  }

  lastRev(): number {
    return this.log.rev;
  }

  since(topic: string, after: number, upTo: number): AppEvent[] {
    return this.log.since(topic, after, upTo);
  }

  describe(): string {
    return `[${this.s.users.size} users, ${this.s.rooms.size} rooms, rev ${this.log.rev}]`;
  }

  snapshot(): string {
    return recordsText(this.freeze());
  }

  restore(snapshot: string): void {
    const r = this.restorer();
    r.push(snapshot || recordsText(new ChatApp().freeze()));
    r.done();
  }

  /** The state as records, a line each: `["user", user, rooms]`, `["room", room, members]`, then the event log's (events.ts). */
  freeze(): Frozen {
    const users = this.s.users.freeze();
    const rooms = this.s.rooms.freeze();
    const log = this.log.freeze();
    return frozenRecords(this.s.users.chars + this.s.rooms.chars + this.log.chars, function* (): Iterable<StateRecord> {
      for (const [user, joined] of users.entries()) yield ['user', user, joined];
      for (const [room, members] of rooms.entries()) yield ['room', room, members];
      yield* log();
    });
  }

  restorer(): Restorer {
    const s: ChatState = { users: names(), rooms: names() };
    const log = new EventLogBuilder();
    return recordRestorer(
      'chat',
      (record) => {
        if (log.take(record)) return;
        const [kind, name, list] = record;
        if (kind === 'user') s.users.set(field.string(name, 'a user'), field.strings(list, 'rooms'));
        else if (kind === 'room') s.rooms.set(field.string(name, 'a room'), field.strings(list, 'members'));
        else throw new Error(`unknown kind ${JSON.stringify(kind)}`);
      },
      () => {
        // The log first: it is what may still be refused (no log record), and then nothing has changed.
        this.log.install(log.done());
        this.s = s;
      },
      (text) => this.restoreWhole(text),
    );
  }

  /** A state written whole as one JSON object (before records). */
  private restoreWhole(text: string): void {
    const parsed = JSON.parse(text) as { users?: Record<string, string[]>; rooms?: Record<string, string[]>; log?: EventLogState };
    if (typeof parsed !== 'object' || parsed === null) throw new Error('chat snapshot is not an object');
    const s: ChatState = { users: names(), rooms: names() };
    for (const [user, joined] of Object.entries(parsed.users ?? {})) s.users.set(user, joined);
    for (const [room, members] of Object.entries(parsed.rooms ?? {})) s.rooms.set(room, members);
    this.log.restoreWhole(parsed.log);
    this.s = s;
  }
}

function bad(payload: string): string {
  return `error: chat cannot parse ${JSON.stringify(payload.slice(0, 60))}`;
}
