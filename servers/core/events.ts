/**
 * An app's watchable events (docs/PROTOCOL.md §6.6a), kept bounded. Each event gets the next
 * revision; the log is part of the replicated state, and every decision about it is taken at
 * apply time from that state alone: replicas that applied the same requests hold the same log,
 * record for record.
 *
 * Events are kept per topic. Old ones are dropped by compaction of their topic, which runs when
 * the topic has doubled since its last one (amortized constant work per event, and never more at
 * once than one topic holds: a large state has no pause that grows with it): an event survives
 * while the app's `keep` says so, given how many newer events its topic has. What that costs a
 * watcher: one that subscribes from a revision older than what is kept misses what was dropped
 * (a timeline keeps at least its last 1,000 posts, far past the 20 a read shows), and is told nothing
 * else.
 *
 * A freeze copies nothing (servers/core/freezable.ts): a topic's events are only ever pushed to
 * (a compaction makes a new array), so a topic as frozen is its array and its length then.
 */
import type { AppEvent } from './apps.js';
import { field, FreezableMap, type StateRecord } from './freezable.js';

/** A topic below this many events is not compacted. */
const MIN_COMPACT = 16;

/** A log written whole as one JSON object (before records; an older data dir): every topic's events in one array. */
export interface EventLogState {
  rev: number;
  events: AppEvent[];
}

/** Whether event `e` stays, `newer` being how many later events of its topic there are. */
export type Keep = (e: AppEvent, newer: number) => boolean;

/** The latest `n` events of each topic stay. */
export const keepLatest =
  (n: number): Keep =>
  (_e, newer) =>
    newer < n;

/**
 * One topic's events, oldest first: `events[0, length)`. The array may be longer: a later copy
 * of this topic (after a freeze) pushes to it; this one is then no longer changed.
 */
interface Topic {
  events: AppEvent[];
  length: number;
  /** The length at which its next compaction runs. */
  compactAt: number;
  /** About how many characters its records take. */
  chars: number;
}

/** An event's characters in a record, about. */
const weigh = (e: AppEvent) => e.text.length + 24;

const newTopics = () =>
  new FreezableMap<Topic>(
    (t) => ({ ...t }),
    (t) => t.chars,
  );

export class EventLog {
  private last = 0;
  private count = 0;
  private topics = newTopics();

  constructor(private readonly keep: Keep) {}

  get rev(): number {
    return this.last;
  }

  /** How many events are kept. */
  get length(): number {
    return this.count;
  }

  get chars(): number {
    return this.topics.chars;
  }

  add(topic: string, text: string): void {
    const e = { rev: ++this.last, topic, text };
    this.count++;
    const known = this.topics.update(topic, (t) => {
      t.events.push(e);
      t.length++;
      t.chars += weigh(e);
      if (t.length >= t.compactAt) this.compact(t);
    });
    if (!known) this.topics.set(topic, { events: [e], length: 1, compactAt: MIN_COMPACT, chars: topic.length + 30 + weigh(e) });
  }

  /** Drop what `keep` lets go of one topic (a new array: one frozen before stays as it was). */
  private compact(t: Topic): void {
    const kept: AppEvent[] = [];
    for (let i = t.length - 1; i >= 0; i--) {
      const e = t.events[i]!;
      if (this.keep(e, t.length - 1 - i)) kept.push(e);
    }
    kept.reverse();
    this.count -= t.length - kept.length;
    t.chars = t.events[0]!.topic.length + 30;
    for (const e of kept) t.chars += weigh(e);
    [t.events, t.length, t.compactAt] = [kept, kept.length, Math.max(MIN_COMPACT, 2 * kept.length)];
  }

  /** Events of `topic` with after < rev ≤ upTo, oldest first (binary search to the first). */
  since(topic: string, after: number, upTo: number): AppEvent[] {
    const t = this.topics.get(topic);
    if (!t) return [];
    let lo = 0;
    let hi = t.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (t.events[mid]!.rev <= after) lo = mid + 1;
      else hi = mid;
    }
    const out: AppEvent[] = [];
    for (let i = lo; i < t.length && t.events[i]!.rev <= upTo; i++) out.push(t.events[i]!);
    return out;
  }

  /** The texts of the latest `n` events of `topic`, newest first. */
  latest(topic: string, n: number): string[] {
    const t = this.topics.get(topic);
    const out: string[] = [];
    for (let i = (t?.length ?? 0) - 1; i >= 0 && out.length < n; i--) out.push(t!.events[i]!.text);
    return out;
  }

  /**
   * The log as it is now, as records to read later while it goes on: `["log", rev]`, then per
   * topic `["topic", topic, compactAt]` followed by its events, `["event", rev, text]`.
   */
  freeze(): () => Iterable<StateRecord> {
    const rev = this.last;
    const topics = this.topics.freeze();
    return function* () {
      yield ['log', rev];
      for (const [name, t] of topics.entries()) {
        yield ['topic', name, t.compactAt];
        for (let i = 0; i < t.length; i++) yield ['event', t.events[i]!.rev, t.events[i]!.text];
      }
    };
  }

  /** Take the log rebuilt by `b` (every record in: see EventLogBuilder.done). */
  install(b: ReturnType<EventLogBuilder['done']>): void {
    [this.last, this.count, this.topics] = [b.rev, b.count, b.topics];
  }

  /** Take back a log written whole (an older data dir); none, or a damaged one: an empty log. */
  restoreWhole(s: Partial<EventLogState> | undefined): void {
    const b = new EventLogBuilder();
    b.take(['log', typeof s?.rev === 'number' ? s.rev : 0]);
    const byTopic = new Map<string, AppEvent[]>();
    for (const e of Array.isArray(s?.events) ? s.events : []) {
      const list = byTopic.get(e.topic);
      if (list) list.push(e);
      else byTopic.set(e.topic, [e]);
    }
    for (const [topic, events] of byTopic) {
      b.take(['topic', topic, Math.max(MIN_COMPACT, 2 * events.length)]);
      for (const e of events) b.take(['event', e.rev, e.text]);
    }
    this.install(b.done());
  }
}

/** A log rebuilt from its records (EventLog.freeze), checked one by one. */
export class EventLogBuilder {
  private rev?: number;
  private count = 0;
  private readonly topics = newTopics();
  /** The topic whose events come now; into `topics` when the next one begins, or at the end. */
  private topic?: { name: string; t: Topic };
  /** Each text once: an app gives every event of one change (a post to each follower) the same text, and so does this. */
  private readonly texts = new Map<string, string>();

  /** Take the record if it is the log's; false if it is not. */
  take(record: readonly unknown[]): boolean {
    switch (record[0]) {
      case 'log':
        if (this.rev !== undefined) throw new Error('a second log record');
        this.rev = field.count(record[1], 'the revision');
        return true;
      case 'topic': {
        if (this.rev === undefined) throw new Error('a topic before the log record');
        this.endTopic();
        const name = field.string(record[1], 'a topic');
        if (this.topics.has(name)) throw new Error(`topic ${JSON.stringify(name)} twice`);
        this.topic = { name, t: { events: [], length: 0, compactAt: field.count(record[2], 'the compaction point'), chars: name.length + 30 } };
        return true;
      }
      case 'event': {
        if (!this.topic) throw new Error('an event before its topic');
        const { name, t } = this.topic;
        const rev = field.count(record[1], "an event's revision");
        if (rev <= (t.events.at(-1)?.rev ?? 0) || rev > this.rev!) throw new Error(`event revision ${rev} is out of order`);
        const read = field.string(record[2], "an event's text");
        let text = this.texts.get(read);
        if (text === undefined) this.texts.set(read, (text = read));
        const e = { rev, topic: name, text };
        t.events.push(e);
        t.length++;
        t.chars += weigh(e);
        this.count++;
        return true;
      }
      default:
        return false;
    }
  }

  /** Every record is in: the log's revision, events and topics. */
  done(): { rev: number; count: number; topics: FreezableMap<Topic> } {
    if (this.rev === undefined) throw new Error('no log record');
    this.endTopic();
    this.texts.clear();
    return { rev: this.rev, count: this.count, topics: this.topics };
  }

  private endTopic(): void {
    if (this.topic) this.topics.set(this.topic.name, this.topic.t);
    this.topic = undefined;
  }
}
