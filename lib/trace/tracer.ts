/**
 * Components emit typed trace events; printing is one renderer of them.
 * A Tracer is an EventEmitter of TraceEvents plus an optional sink (console text,
 * JSON lines, or nothing for in-process tests that listen for events).
 */
import { EventEmitter } from 'node:events';

/** What colour a line gets, and what tools filter on. */
export type Category =
  | 'heartbeat'
  | 'membership'
  | 'request'
  | 'reply'
  | 'duplicate'
  | 'checkpoint'
  | 'fault'
  | 'state'
  | 'info';

export interface TraceEvent {
  /** Milliseconds since the epoch. */
  time: number;
  /** Who emitted it: `RM`, `GFD`, `LFD1`, `S1`, `C1`, `ctl`, `demo`. */
  component: string;
  /** Machine-readable event type, e.g. `heartbeat_sent`, `membership_changed`. */
  type: string;
  category: Category;
  /** The human line, in the course's notation. */
  text: string;
  /** Structured fields for tools and tests. */
  data?: Record<string, unknown>;
}

/** Where events go; `skips` names the categories it drops unseen (so they need not be built). */
export type Sink = ((event: TraceEvent) => void) & { readonly skips?: ReadonlySet<Category> };

/** Which events a hushed tracer drops: emitted by nobody, printed by no sink. */
export type Hush = (type: string, category: Category) => boolean;

export class Tracer extends EventEmitter<{ event: [TraceEvent] }> {
  private hushed: Hush | undefined;

  constructor(
    readonly component: string,
    private readonly sink?: Sink,
    private readonly now: () => number = Date.now,
    private readonly parent?: Tracer,
  ) {
    super();
  }

  /**
   * Whether an event of `category` reaches anyone: the sink prints it, or something listens.
   * Frequent events (heartbeats, per-request lines) check it before building their text.
   */
  wants(category: Category): boolean {
    if (this.sink && !this.sink.skips?.has(category)) return true;
    for (let t: Tracer | undefined = this; t; t = t.parent) if (t.listenerCount('event') > 0) return true;
    return false;
  }

  /** From now on, drop the events `hush` matches (from this tracer and its children). */
  hush(hush: Hush): void {
    this.hushed = hush;
  }

  /** Whether an event of this type and category is dropped now. */
  isHushed(type: string, category: Category): boolean {
    for (let t: Tracer | undefined = this; t; t = t.parent) if (t.hushed?.(type, category)) return true;
    return false;
  }

  /** Emit an event (a hushed one is built and returned, but nobody sees it). */
  emitEvent(type: string, category: Category, text: string, data?: Record<string, unknown>): TraceEvent {
    const event: TraceEvent = { time: this.now(), component: this.component, type, category, text };
    if (data) event.data = data;
    if (this.isHushed(type, category)) return event;
    this.sink?.(event);
    for (let t: Tracer | undefined = this; t; t = t.parent) t.emit('event', event);
    return event;
  }

  /** A tracer for a sub-part that shares this one's sink and listeners. */
  child(component: string): Tracer {
    return new Tracer(component, this.sink, this.now, this);
  }
}

/** A tracer that prints nothing: for library users and tests that only listen. */
export function silentTracer(component: string): Tracer {
  return new Tracer(component);
}
