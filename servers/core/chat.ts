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
import { eventsSince } from './sns.js';
import { inboxTopic, type ChatMessage } from '../../lib/protocol/topics.js';

/** Messages a history read returns. */
export const HISTORY_LENGTH = 20;

interface ChatState {
  rev: number;
  /** Rooms each user has joined, by user. */
  users: Record<string, string[]>;
  /** Members of each room, by room. */
  rooms: Record<string, string[]>;
  events: AppEvent[];
}

const ID = /^[A-Za-z0-9_.-]{1,64}$/;

export class ChatApp implements App, Watchable {
  readonly name = 'chat';
  readonly watch: Watchable = this;
  private s: ChatState = { rev: 0, users: {}, rooms: {}, events: [] };

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
      for (const member of this.s.rooms[room] ?? []) this.s.events.push({ rev: ++this.s.rev, topic: inboxTopic(member), text: JSON.stringify(msg) });
    }
    return 'ok';
  }

  /** The last messages of u's rooms, oldest first, and the revision to watch from. */
  private history(u: string): string {
    const topic = inboxTopic(u);
    const messages: ChatMessage[] = [];
    for (let i = this.s.events.length - 1; i >= 0 && messages.length < HISTORY_LENGTH; i--) {
      const e = this.s.events[i]!;
      if (e.topic === topic) messages.unshift(JSON.parse(e.text) as ChatMessage);
    }
    return JSON.stringify({ rev: this.s.rev, messages });
  }

  lastRev(): number {
    return this.s.rev;
  }

  since(topic: string, after: number, upTo: number): AppEvent[] {
    return eventsSince(this.s.events, topic, after, upTo);
  }

  describe(): string {
    return `[${Object.keys(this.s.users).length} users, ${Object.keys(this.s.rooms).length} rooms, rev ${this.s.rev}]`;
  }

  snapshot(): string {
    return JSON.stringify(this.s);
  }

  restore(snapshot: string): void {
    const parsed = JSON.parse(snapshot || '{}') as Partial<ChatState>;
    if (typeof parsed !== 'object' || parsed === null) throw new Error('chat snapshot is not an object');
    this.s = { rev: parsed.rev ?? 0, users: parsed.users ?? {}, rooms: parsed.rooms ?? {}, events: parsed.events ?? [] };
  }
}

function bad(payload: string): string {
  return `error: chat cannot parse ${JSON.stringify(payload.slice(0, 60))}`;
}
