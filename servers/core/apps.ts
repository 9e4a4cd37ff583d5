import { SnsApp } from './sns.js';
import { ChatApp } from './chat.js';

/**
 * The replicated application: a deterministic state machine. Every replica applies
 * the same requests in the same order and so reaches the same state.
 */

/** One change of an app's state that subscribers may watch: numbered across the app (`rev`), under a topic. */
export interface AppEvent {
  rev: number;
  topic: string;
  text: string;
}

/**
 * An app whose changes can be watched (`subscribe`, docs/PROTOCOL.md): each change that matters to
 * someone is an event with the next revision number, kept in the app's state (so every replica
 * numbers it alike, and a checkpoint carries it).
 */
export interface Watchable {
  /** The revision of the latest event (0: none yet). */
  lastRev(): number;
  /** Events of `topic` with after < rev ≤ upTo, oldest first. */
  since(topic: string, after: number, upTo: number): AppEvent[];
}

export interface App {
  readonly name: string;
  /** Present when the app's changes can be watched. */
  readonly watch?: Watchable;
  /** Apply one request and return its result. Must be deterministic; bad input returns `error: …`. */
  apply(payload: string): string;
  /** my_state as the course's traces show it. */
  describe(): string;
  snapshot(): string;
  restore(snapshot: string): void;
}

export type AppName = 'status' | 'counter' | 'log' | 'sns' | 'chat';

/** `status`: the payload becomes my_state; the reply is my_state. */
export class StatusApp implements App {
  readonly name = 'status';
  private state = '';
  apply(payload: string): string {
    this.state = payload;
    return this.state;
  }
  describe(): string {
    return this.state;
  }
  snapshot(): string {
    return this.state;
  }
  restore(snapshot: string): void {
    this.state = snapshot;
  }
}

/** `counter`: `add N` returns the new total; `get` returns it. */
export class CounterApp implements App {
  readonly name = 'counter';
  private total = 0n;
  apply(payload: string): string {
    const [op, arg, ...rest] = payload.trim().split(/\s+/);
    if (op === 'get' && arg === undefined) return String(this.total);
    if (op === 'add' && arg !== undefined && rest.length === 0 && /^[+-]?\d{1,30}$/.test(arg)) {
      this.total += BigInt(arg);
      return String(this.total);
    }
    return `error: counter takes "add N" (N an integer) or "get", got ${JSON.stringify(payload.slice(0, 60))}`;
  }
  describe(): string {
    return String(this.total);
  }
  snapshot(): string {
    return String(this.total);
  }
  restore(snapshot: string): void {
    this.total = BigInt(snapshot || '0');
  }
}

/** `log`: `append X` returns X's 1-based position; `read` returns all entries as JSON; `size` the count. */
export class LogApp implements App {
  readonly name = 'log';
  private entries: string[] = [];
  apply(payload: string): string {
    if (payload.startsWith('append ')) return String(this.entries.push(payload.slice('append '.length)));
    if (payload.trim() === 'read') return JSON.stringify(this.entries);
    if (payload.trim() === 'size') return String(this.entries.length);
    return `error: log takes "append X", "read" or "size", got ${JSON.stringify(payload.slice(0, 60))}`;
  }
  describe(): string {
    const n = this.entries.length;
    return n === 0 ? '[]' : `[${n} entries, last ${JSON.stringify(this.entries[n - 1]!.slice(0, 40))}]`;
  }
  snapshot(): string {
    return JSON.stringify(this.entries);
  }
  restore(snapshot: string): void {
    const parsed: unknown = JSON.parse(snapshot || '[]');
    if (!Array.isArray(parsed) || parsed.some((e) => typeof e !== 'string')) throw new Error('log snapshot is not a JSON array of strings');
    this.entries = parsed as string[];
  }
}

/** The app `name`; `group` is the replica group the server serves in (the sns app needs it). */
export function createApp(name: AppName, group = 'g1'): App {
  switch (name) {
    case 'sns':
      return new SnsApp(group);
    case 'chat':
      return new ChatApp();
    case 'status':
      return new StatusApp();
    case 'counter':
      return new CounterApp();
    case 'log':
      return new LogApp();
  }
}
