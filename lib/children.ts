/**
 * The components a component watches below it, written once for the LFD (its servers) and the
 * GFD (its LFDs): a heartbeat watch per child over the child's connection, one heartbeat timing
 * for all of them that a run-time property may change, and the properties set from upstream
 * relayed down to every child and replayed to each one that (re)registers.
 */
import type { Connection } from './net/index.js';
import type { MessageOf } from './protocol/index.js';
import type { Tracer } from './trace/index.js';
import { parseProperty } from './config/properties.js';
import { HeartbeatTiming, PeerWatch } from './detect/watch.js';
import type { MetricsRecorder } from './metrics/recorder.js';

/** What a component knows of each child; the LFD and the GFD add their own fields. */
export interface Child {
  readonly name: string;
  readonly conn: Connection;
  readonly watch: PeerWatch;
  /** When it last answered a heartbeat (Date.now()). */
  lastAnswer: number;
}

export interface ChildrenOptions {
  /** The watching component's name: heartbeats and relayed properties are sent `from` it. */
  me: string;
  /** The key naming a child in heartbeat event data: `server` (LFD) or `lfd` (GFD). */
  role: 'server' | 'lfd';
  tracer: Tracer;
  /** Seconds between heartbeats (default DEFAULT_HEARTBEAT_FREQ_S). */
  heartbeatFreq?: number;
  /** Seconds to wait for an answer (default 2 × heartbeatFreq, following it when it changes). */
  timeout?: number;
  /** The property that sets this component's own heartbeat frequency (`lfd-heartbeat-freq`); it is applied, not relayed. */
  frequencyKey: string;
  /**
   * Tell each child the heartbeat frequency (as a `set` of `frequencyKey`) when it registers and
   * whenever it changes: the LFD's servers time their own watch of each other by it.
   */
  tellFrequency?: boolean;
  /** The heartbeat frequency changed: tell upstream (an `in_force` of `frequencyKey`). */
  onFrequency?: () => void;
  /** Where each child's heartbeat round trips are recorded (none: metrics are off). */
  metrics?: MetricsRecorder;
}

/** Send each property as a `set` from `from`: what a component replays to one below it that (re)registers. */
export function sendProperties(conn: Connection, from: string, properties: Iterable<[string, string]>): void {
  for (const [key, value] of properties) conn.send({ type: 'set', from, key, value });
}

/** The key a property is kept under: per group when it was set for one group. */
export function propertySlot(msg: { key: string; group?: string }): string {
  return msg.group ? `${msg.group}|${msg.key}` : msg.key;
}

export class Children<C extends Child> implements Iterable<C> {
  readonly timing: HeartbeatTiming;
  private readonly byName = new Map<string, C>();
  /** Properties set from upstream for those below, in the order they were first set. */
  private readonly relayed = new Map<string, MessageOf<'set'>>();
  /** Values in force that those below told upward (`in_force`), by teller and key: replayed to a new upstream. */
  private readonly toldUp = new Map<string, MessageOf<'inForce'>>();

  constructor(private readonly o: ChildrenOptions) {
    this.timing = new HeartbeatTiming(o.heartbeatFreq, o.timeout);
  }

  get(name: string): C | undefined {
    return this.byName.get(name);
  }

  [Symbol.iterator](): IterableIterator<C> {
    return this.byName.values();
  }

  /** The properties relayed so far (key, value), in the order they were first set. */
  get properties(): ReadonlyMap<string, string> {
    return new Map([...this.relayed].map(([slot, msg]) => [slot, msg.value]));
  }

  /** A heartbeat watch on a new child's connection; admit() starts it. */
  watch(peer: string, conn: Connection, on: { alive(): void; lost(num: number, why: string): void }): PeerWatch {
    const { me, role, tracer } = this.o;
    const metrics = this.o.metrics;
    // Looked up at each answer (once a period): a child that registers again gets a fresh link.
    const onRtt = metrics && ((ms: number) => metrics.link(peer, 'heartbeat').record(ms));
    return new PeerWatch({ me, peer, role, conn, timing: this.timing, tracer, onRtt, onAlive: () => on.alive(), onLost: (num, why) => on.lost(num, why) });
  }

  /**
   * Whether `child` answered a heartbeat within the timeout. While it does, a second registration
   * under its name is refused for good; once it does not, it is about to be declared lost.
   */
  answering(child: C, now = Date.now()): boolean {
    return now - child.lastAnswer <= this.timing.timeoutMs;
  }

  /**
   * Take a child in: welcome it, replay the properties relayed so far, `announce` it (traces,
   * messages upstream), then start heartbeating it.
   */
  admit(child: C, announce?: () => void): void {
    this.byName.set(child.name, child);
    child.conn.send({ type: 'welcome', from: this.o.me, to: child.name });
    if (this.o.tellFrequency) this.tellFrequency(child);
    for (const msg of this.relayed.values()) child.conn.send({ ...msg, from: this.o.me });
    announce?.();
    child.watch.start();
  }

  /** The child answered heartbeat `num`. */
  answered(child: C, num: number): void {
    child.lastAnswer = Date.now();
    child.watch.answer(num);
  }

  /** Stop watching `name` and forget it (its connection is left to the caller). */
  forget(name: string): C | undefined {
    const child = this.byName.get(name);
    if (!child) return undefined;
    this.byName.delete(name);
    child.watch.stop();
    this.o.metrics?.drop(name);
    return child;
  }

  /** Forget `name` and destroy its connection. */
  drop(name: string): C | undefined {
    const child = this.forget(name);
    child?.conn.destroy();
    return child;
  }

  /** The child this connection belongs to (not one registered since under the same name). */
  ofConnection(conn: Connection): C | undefined {
    const child = this.byName.get(conn.peer);
    return child?.conn === conn ? child : undefined;
  }

  /** Stop watching every child and forget them all (the component is stopping). */
  stopAll(): void {
    for (const child of this.byName.values()) child.watch.stop();
    this.byName.clear();
  }

  /** Change the heartbeat frequency of every child's watch, at once. */
  setFrequency(seconds: number): void {
    this.timing.setFrequency(seconds);
    for (const child of this.byName.values()) {
      child.watch.retime();
      if (this.o.tellFrequency) this.tellFrequency(child);
    }
    this.o.tracer.emitEvent('property_set', 'state', `${this.o.me}: heartbeat_freq = ${seconds} s`, { key: this.o.frequencyKey, value: seconds });
    this.o.onFrequency?.();
  }

  /** Our own heartbeat frequency as we tell it upward. */
  ownInForce(): MessageOf<'inForce'> {
    return { type: 'inForce', from: this.o.me, key: this.o.frequencyKey, value: String(this.timing.periodMs / 1000) };
  }

  /** A value in force told from below: kept, to be told again to an upstream that (re)registers. */
  keepInForce(msg: MessageOf<'inForce'>): void {
    this.toldUp.set(`${msg.from}\0${msg.key}`, msg);
  }

  /** What `teller` told that is kept. */
  inForceToldBy(teller: string): Array<MessageOf<'inForce'>> {
    return [...this.toldUp.values()].filter((m) => m.from === teller);
  }

  /** What to tell an upstream that (re)registers: our own frequency, then what those below told, while `stillThere(teller)`. */
  inForceToTell(stillThere: (teller: string) => boolean): Array<MessageOf<'inForce'>> {
    const out = [this.ownInForce()];
    for (const [k, msg] of this.toldUp) {
      if (stillThere(msg.from)) out.push(msg);
      else this.toldUp.delete(k);
    }
    return out;
  }

  private tellFrequency(child: C): void {
    child.conn.send({ type: 'set', from: this.o.me, key: this.o.frequencyKey, value: String(this.timing.periodMs / 1000) });
  }

  /**
   * A `set` from upstream. This component's own heartbeat frequency is applied here; any other
   * property goes to every child and is kept for those that register later. A value that does
   * not parse is traced and goes nowhere.
   */
  relay(msg: MessageOf<'set'>): void {
    let value: string | number;
    try {
      value = parseProperty(msg.key, msg.value);
    } catch (err) {
      this.o.tracer.emitEvent('property_rejected', 'fault', `${this.o.me}: ${(err as Error).message}`);
      return;
    }
    if (msg.key === this.o.frequencyKey) return this.setFrequency(value as number);
    this.relayed.set(propertySlot(msg), msg);
    for (const child of this.byName.values()) child.conn.send({ ...msg, from: this.o.me });
  }
}
