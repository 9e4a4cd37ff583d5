/**
 * The replicated application: a deterministic state machine. Every replica applies
 * the same requests in the same order and so reaches the same state.
 */

export interface App {
  readonly name: string;
  /** Apply one request and return its result. Must be deterministic; bad input returns `error: …`. */
  apply(payload: string): string;
  /** my_state as the course's traces show it. */
  describe(): string;
  snapshot(): string;
  restore(snapshot: string): void;
}

export type AppName = 'status' | 'counter' | 'log';

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

export function createApp(name: AppName): App {
  switch (name) {
    case 'status':
      return new StatusApp();
    case 'counter':
      return new CounterApp();
    case 'log':
      return new LogApp();
  }
}
