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
import type { App, AppEvent, Watchable } from './apps.js';
import { EventLog, keepLatest, type EventLogState } from './events.js';
import { inboxTopic, type ChatMessage } from '../../lib/protocol/topics.js';

/** Messages a history read returns. */
export const HISTORY_LENGTH = 20;
/** Messages an inbox keeps for watchers that subscribe from an older revision. */
export const INBOX_KEEP = 1000;

interface ChatState {
  /** Rooms each user has joined, by user. */
  users: Record<string, string[]>;
  /** Members of each room, by room. */
  rooms: Record<string, string[]>;
}

const ID = /^[A-Za-z0-9_.-]{1,64}$/;

export class ChatApp implements App, Watchable {
  readonly name = 'chat';
  readonly watch: Watchable = this;
  private s: ChatState = { users: {}, rooms: {} };
  private readonly log = new EventLog(keepLatest(INBOX_KEEP));

  apply(payload: string): string {
    const [op = '', u = '', b = '', ...rest] = payload.split(' ');
    if (!ID.test(u)) return bad(payload);
    if (op === 'login') {
      this.s.users[u] ??= [];
      return 'ok';
    }
    const joined = this.s.users[u];
    if (!joined) return ['join', 'leave', 'list', 'history', 'say'].includes(op) ? 'unknown-user' : bad(payload);
    switch (op) {
      case 'join':
        if (!ID.test(b)) return bad(payload);
        if (joined.includes(b)) return 'already';
        joined.push(b);
        (this.s.rooms[b] ??= []).push(u);
        return 'ok';
      case 'leave':
        if (!joined.includes(b)) return 'not-member';
        this.s.users[u] = joined.filter((r) => r !== b);
        this.s.rooms[b] = this.s.rooms[b]!.filter((m) => m !== u);
        return 'ok';
      case 'list':
        return JSON.stringify({ rooms: Object.keys(this.s.rooms).sort(), joined: [...joined].sort() });
      case 'history':
        return this.history(u);
      case 'say':
        return /^\d+$/.test(b) ? this.say(u, Number(b), rest.join(' ')) : bad(payload);
      default:
        return bad(payload);
    }
  }

  private say(u: string, time: number, text: string): string {
    for (const room of this.s.users[u]!) {
      const msg: ChatMessage = { room, user: u, time, text };
      for (const member of this.s.rooms[room] ?? []) this.log.add(inboxTopic(member), JSON.stringify(msg));
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
    return `[${Object.keys(this.s.users).length} users, ${Object.keys(this.s.rooms).length} rooms, rev ${this.log.rev}]`;
  }

  snapshot(): string {
    return JSON.stringify({ ...this.s, log: this.log.state() });
  }

  restore(snapshot: string): void {
    const parsed = JSON.parse(snapshot || '{}') as Partial<ChatState> & { log?: EventLogState };
    if (typeof parsed !== 'object' || parsed === null) throw new Error('chat snapshot is not an object');
    this.s = { users: parsed.users ?? {}, rooms: parsed.rooms ?? {} };
    this.log.restore(parsed.log);
  }
}

function bad(payload: string): string {
  return `error: chat cannot parse ${JSON.stringify(payload.slice(0, 60))}`;
}
