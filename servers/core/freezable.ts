/**
 * What an app needs to freeze a large state cheaply and have it rebuilt in parts (apps.ts Frozen
 * and Restorer; docs/PROTOCOL.md, "Large checkpoints"):
 *
 * - `FreezableMap`: a map whose contents at the moment it was frozen stay readable while it goes
 *   on changing. Its entries live in a fixed number of buckets; freezing only marks them all, and
 *   the first change of a marked bucket after that copies the bucket (a few thousand entries at
 *   100 MB), as the first change of a value copies the value. A freeze costs nothing, and what a
 *   change costs while a frozen state is read is bounded by the size of what it changes.
 * - Records: a state written as lines of JSON (one record each, no newline inside), in parts of
 *   whole lines, and rebuilt record by record as parts come, so that neither end ever handles the
 *   whole text at once.
 */
import type { Frozen, Restorer } from './apps.js';
import { fingerprint } from './hash.js';

/** Buckets of a FreezableMap: enough that copying one is small even at millions of entries. */
const BUCKETS = 256;

interface Cell<V> {
  /** The freeze generation it was made in: a value made before the latest freeze is copied before it changes. */
  gen: number;
  v: V;
}

interface Bucket<V> {
  gen: number;
  map: Map<string, Cell<V>>;
}

/** Contents of a FreezableMap as they were when frozen. */
export interface FrozenMap<V> {
  readonly size: number;
  get(key: string): V | undefined;
  entries(): Iterable<[string, V]>;
}

/**
 * A string-keyed map that can be frozen (see above). Values handed out by `get` must not be
 * changed; `update` changes one in place (copying it first when a frozen state may hold it).
 * Iteration goes bucket by bucket, each in insertion order: the same on every replica that made
 * the same changes, and the same again after a restore from its records.
 */
export class FreezableMap<V> {
  private gen = 0;
  private buckets: Bucket<V>[] = Array.from({ length: BUCKETS }, () => ({ gen: 0, map: new Map() }));
  private count = 0;
  private weight = 0;

  /**
   * `copy` makes a value that may be changed without changing the original; `weigh` tells about
   * how many characters a value takes in a record (for the size a frozen state announces).
   */
  constructor(
    private readonly copy: (v: V) => V,
    private readonly weigh: (v: V) => number,
  ) {}

  get size(): number {
    return this.count;
  }

  /** About how many characters the keys and values take. */
  get chars(): number {
    return this.weight;
  }

  has(key: string): boolean {
    return this.bucket(key).map.has(key);
  }

  /** The value under `key`, to read only. */
  get(key: string): V | undefined {
    return this.bucket(key).map.get(key)?.v;
  }

  set(key: string, value: V): void {
    const map = this.writable(key);
    const old = map.get(key);
    if (old) this.weight -= this.weigh(old.v);
    else [this.count, this.weight] = [this.count + 1, this.weight + key.length + 8];
    map.set(key, { gen: this.gen, v: value });
    this.weight += this.weigh(value);
  }

  /** Change the value under `key` in place; false if there is none. */
  update(key: string, change: (v: V) => void): boolean {
    let cell = this.bucket(key).map.get(key);
    if (!cell) return false;
    if (cell.gen !== this.gen) {
      cell = { gen: this.gen, v: this.copy(cell.v) };
      this.writable(key).set(key, cell);
    }
    this.weight -= this.weigh(cell.v);
    change(cell.v);
    this.weight += this.weigh(cell.v);
    return true;
  }

  delete(key: string): boolean {
    const old = this.bucket(key).map.get(key);
    if (!old) return false;
    this.writable(key).delete(key);
    this.count--;
    this.weight -= key.length + 8 + this.weigh(old.v);
    return true;
  }

  *keys(): IterableIterator<string> {
    for (const b of this.buckets) yield* b.map.keys();
  }

  /** The contents as they are now, readable while the map goes on changing. */
  freeze(): FrozenMap<V> {
    this.gen++;
    const maps = this.buckets.map((b) => b.map);
    return {
      size: this.count,
      get: (key) => maps[bucketOf(key)]!.get(key)?.v,
      *entries() {
        for (const map of maps) for (const [key, cell] of map) yield [key, cell.v];
      },
    };
  }

  private bucket(key: string): Bucket<V> {
    return this.buckets[bucketOf(key)]!;
  }

  /** The live map of `key`'s bucket, copied first if it was frozen since it was last copied. */
  private writable(key: string): Map<string, Cell<V>> {
    const i = bucketOf(key);
    let b = this.buckets[i]!;
    if (b.gen !== this.gen) b = this.buckets[i] = { gen: this.gen, map: new Map(b.map) };
    return b.map;
  }
}

/** The key's fingerprint, folded to a bucket. */
function bucketOf(key: string): number {
  const h = fingerprint(key);
  return (h ^ (h >>> 8) ^ (h >>> 16) ^ (h >>> 24)) & (BUCKETS - 1);
}

/** One record of a state: a JSON array, its first element the kind. */
export type StateRecord = readonly unknown[];

/**
 * A frozen state whose text is its records, a line each. Parts hold whole lines, at least one,
 * and about `maxChars` unless a single record is longer. `records` is called once per reading.
 */
export function frozenRecords(size: number, records: () => Iterable<StateRecord>): Frozen {
  return {
    size,
    *parts(maxChars) {
      let lines: string[] = [];
      let chars = 0;
      for (const record of records()) {
        const line = JSON.stringify(record);
        lines.push(line);
        chars += line.length + 1;
        if (chars >= maxChars) {
          yield lines.join('\n') + '\n';
          [lines, chars] = [[], 0];
        }
      }
      if (lines.length > 0) yield lines.join('\n') + '\n';
    },
  };
}

/** The whole text of a state in records (what its parts join to). */
export function recordsText(frozen: Frozen): string {
  return [...frozen.parts(Infinity)].join('');
}

/**
 * Rebuilding a state from the parts of `frozenRecords`, cut anywhere: each record goes to
 * `take` as it is complete (it throws on one it cannot take: the error names the record's line),
 * `finish` runs at the end. A text that starts with `{` is a state written whole as one JSON
 * object (by an earlier version, kept in a data dir): it goes to `whole` at the end.
 */
export function recordRestorer(app: string, take: (record: unknown[]) => void, finish: () => void, whole: (text: string) => void): Restorer {
  let rest = '';
  let line = 0;
  let legacy: string[] | undefined;
  const bad = (what: string) => new Error(`${app} state, record ${line + 1}: ${what}`);
  return {
    push(part) {
      if (line === 0 && rest === '' && legacy === undefined && part.startsWith('{')) legacy = [];
      if (legacy) return void legacy.push(part);
      const text = rest + part;
      let at = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', at)) {
        let record: unknown;
        try {
          record = JSON.parse(text.slice(at, nl));
        } catch (err) {
          throw bad(`not JSON (${(err as Error).message})`);
        }
        if (!Array.isArray(record) || typeof record[0] !== 'string') throw bad('not a record');
        try {
          take(record);
        } catch (err) {
          throw bad((err as Error).message);
        }
        line++;
        at = nl + 1;
      }
      rest = text.slice(at);
    },
    done() {
      if (legacy) return whole(legacy.join(''));
      if (rest !== '') throw bad('the state ends inside a record');
      finish();
    },
  };
}

/** Checks for records' fields: each returns the field or throws saying what it should be. */
export const field = {
  string(v: unknown, what: string): string {
    if (typeof v !== 'string') throw new Error(`${what} is not a string`);
    return v;
  },
  count(v: unknown, what: string): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`${what} is not a count`);
    return v;
  },
  strings(v: unknown, what: string): string[] {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`${what} is not a list of strings`);
    return v as string[];
  },
};

/**
 * The characters of a list of strings in JSON, about: its length times its first string's (and
 * quotes and a comma). Constant time: it is taken at each change of a list, which may be long.
 */
export function stringsWeight(list: readonly string[]): number {
  return 2 + list.length * ((list[0]?.length ?? 0) + 3);
}
