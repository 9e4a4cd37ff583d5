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

/**
 * An app state taken at one point of the order, to be read later in parts while the app goes on
 * (a large checkpoint is sent and written in parts: docs/PROTOCOL.md, "Large checkpoints").
 * Taking one must be cheap: the app keeps its state so that what it was stays readable.
 */
export interface Frozen {
  /** About how many characters the parts hold in all. */
  readonly size: number;
  /** The state's text in parts of about `maxChars` each: joined, they are what `snapshot()` returned when it was taken. */
  parts(maxChars: number): Iterable<string>;
}

/** A state being rebuilt from the parts of a Frozen, in order; nothing changes until `done`. */
export interface Restorer {
  push(part: string): void;
  /** Every part is in: replace the app's state with the one they hold. */
  done(): void;
}

export interface App {
  readonly name: string;
  /** Present when the app can take its state cheaply at one point and read it out later in parts (else: `snapshot()`, cut up). */
  freeze?(): Frozen;
  /** Present when the app can rebuild its state part by part (else: the parts joined, then `restore`). */
  restorer?(): Restorer;
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

/**
 * `log`: `append X` returns X's 1-based position; `read` returns all entries as JSON; `size` the count.
 * Entries are only ever appended (a restore replaces the array): a frozen state is the array and its
 * length then, and its parts are pieces of the JSON array text, so a large log is sent and rebuilt
 * piece by piece.
 */
export class LogApp implements App {
  readonly name = 'log';
  private entries: string[] = [];
  /** The entries' characters in all (for the size of a frozen state). */
  private chars = 0;
  apply(payload: string): string {
    if (payload.startsWith('append ')) {
      this.chars += payload.length - 'append '.length;
      return String(this.entries.push(payload.slice('append '.length)));
    }
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
    this.setEntries(checkEntries(parsed));
  }
  freeze(): Frozen {
    const entries = this.entries;
    const n = entries.length;
    // Each entry costs its quotes and a comma besides its text (escapes aside).
    return { size: this.chars + 3 * n + 2, parts: (maxChars) => logParts(entries, n, maxChars) };
  }
  restorer(): Restorer {
    const rebuilt: string[] = [];
    // Parts are checked as they come but taken apart in runs of LARGE_TEXT_CHARS (see entriesOf).
    let held: string[] = [];
    let heldChars = 0;
    const take = () => {
      if (held.length === 0) return;
      for (const e of entriesOf(held.length === 1 ? held[0]! : held.join(''))) rebuilt.push(e);
      held = [];
      heldChars = 0;
    };
    return {
      push: (part) => {
        // Checked now (an escaped entry decoded, then dropped): a bad part is refused as it comes.
        scanEntries(part, (from, to, escaped) => escaped && JSON.parse(part.slice(from, to + 1)));
        held.push(part);
        heldChars += part.length;
        if (heldChars >= LARGE_TEXT_CHARS) take();
      },
      done: () => {
        take();
        this.setEntries(rebuilt);
      },
    };
  }
  private setEntries(entries: string[]): void {
    this.entries = entries;
    this.chars = 0;
    for (const e of entries) this.chars += e.length;
  }
}

/**
 * Characters above which V8 keeps a string out of the young generation (its largest regular
 * object is 128 KiB; a one-byte string takes a byte per character), with room to spare.
 */
const LARGE_TEXT_CHARS = 160 * 1024;

/**
 * The entries of parts joined in order: `[` or `,`, then JSON strings separated by commas, and
 * `]` after the last part's. An entry without escapes is taken as a slice of the text, which V8
 * keeps as a reference into it rather than a copy. So the text must be a large one (over
 * LARGE_TEXT_CHARS): it then lives outside the young generation, and the garbage collector does
 * not copy a large log again and again while it is rebuilt (slices of small parts held the event
 * loop for tens of milliseconds at a time, measured).
 */
function entriesOf(text: string): string[] {
  const out: string[] = [];
  scanEntries(text, (from, to, escaped) => out.push(escaped ? (JSON.parse(text.slice(from, to + 1)) as string) : text.slice(from + 1, to)));
  return out;
}

/** Check the syntax of parts' text (see entriesOf), calling `each` with each entry's quotes' positions; throws where it is not. */
function scanEntries(part: string, each: (from: number, to: number, escaped: boolean) => void): void {
  const bad = (what: string) => new Error(`log snapshot part is not a JSON array of strings: ${what}`);
  const first = part.charCodeAt(0);
  if (first !== 91 && first !== 44) throw bad('it starts with neither [ nor ,');
  const end = part.endsWith(']') ? part.length - 1 : part.length;
  let backslash = part.indexOf('\\');
  for (let i = 1; i < end; ) {
    if (part.charCodeAt(i) !== 34) throw bad(`no string at ${i}`);
    let j = i + 1;
    let escaped = false;
    for (;;) {
      const quote = part.indexOf('"', j);
      if (quote === -1 || quote >= end) throw bad(`a string at ${i} does not end`);
      if (backslash !== -1 && backslash < quote) {
        escaped = true;
        j = backslash + 2;
        backslash = part.indexOf('\\', j);
        continue;
      }
      j = quote;
      break;
    }
    each(i, j, escaped);
    i = j + 1;
    if (i === end) break;
    if (part.charCodeAt(i) !== 44 || i + 1 === end) throw bad(`no comma and string at ${i}`);
    i++;
  }
}

function checkEntries(parsed: unknown): string[] {
  if (!Array.isArray(parsed) || parsed.some((e) => typeof e !== 'string')) throw new Error('log snapshot is not a JSON array of strings');
  return parsed as string[];
}

/** The JSON text of entries[0, n) in pieces of about `maxChars`: `[` + the first entries, `,` + the next, …, `]` at the end. */
function* logParts(entries: readonly string[], n: number, maxChars: number): Iterable<string> {
  let i = 0;
  do {
    const slice: string[] = [];
    let chars = 0;
    while (i < n && (slice.length === 0 || chars < maxChars)) {
      const text = JSON.stringify(entries[i++]);
      slice.push(text);
      chars += text.length;
    }
    yield `${slice.length > 0 && i - slice.length > 0 ? ',' : '['}${slice.join(',')}${i >= n ? ']' : ''}`;
  } while (i < n);
}

/** The state of an app without `freeze`: its snapshot now, cut in pieces. */
export function frozenSnapshot(app: App): Frozen {
  const text = app.snapshot();
  return {
    size: text.length,
    *parts(maxChars) {
      let at = 0;
      do yield text.slice(at, (at += maxChars));
      while (at < text.length);
    },
  };
}

/** Rebuilding an app without `restorer`: the parts joined, then restored in one go. */
export function joinedRestorer(app: App): Restorer {
  const parts: string[] = [];
  return { push: (part) => void parts.push(part), done: () => app.restore(parts.join('')) };
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
