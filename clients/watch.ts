/**
 * A client's subscription (docs/PROTOCOL.md §6.6a): watch one topic of the replicated state and
 * get each committed event once, in order, whatever fails. It follows its session's view: it
 * subscribes at the replica that serves (the primary in passive mode; in active mode the first
 * ready replica that accepts) from the last revision it has seen, and when that replica says to
 * look elsewhere, closes, or leaves the view, it subscribes again at the next one, from the same
 * revision. Revisions only grow, so an event seen before is dropped, never shown twice.
 */
import { EventEmitter } from 'node:events';
import { connect, type Connection, type Security } from '../lib/net/index.js';
import type { Member } from '../lib/protocol/index.js';
import type { Tracer } from '../lib/trace/index.js';
import type { Session } from './session.js';

/** How long to wait before trying again when no replica accepted (unless the view changes first). */
const RETRY_MS = 200;
const CONNECT_TIMEOUT_MS = 1000;

export interface WatchOptions {
  /** The name the subscription goes under (its own, so its connection is not the session's). */
  name: string;
  topic: string;
  /** The last revision already seen (e.g. what a timeline read returned). */
  from: number;
  session: Session;
  security?: Security;
  tracer?: Tracer;
}

interface WatchEvents {
  event: [text: string, rev: number, server: string];
}

export class Watch extends EventEmitter<WatchEvents> {
  /** The last revision seen. */
  rev: number;
  private conn: Connection | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly onView = () => this.wake?.();

  constructor(private readonly options: WatchOptions) {
    super();
    this.rev = options.from;
  }

  start(): void {
    this.options.session.on('view', this.onView);
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.options.session.off('view', this.onView);
    this.conn?.destroy();
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      for (const target of this.candidates()) {
        if (this.stopped) return;
        await this.watchAt(target);
      }
      if (this.stopped) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, RETRY_MS);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Where to subscribe: the primary (passive), or every replica of the view in turn (active). */
  private candidates(): Member[] {
    const { session } = this.options;
    return session.mode === 'passive' ? session.view.slice(0, 1) : [...session.view];
  }

  /** Subscribe at `target`; resolves when it will not (or no longer) serve us. */
  private async watchAt(target: Member): Promise<void> {
    const { name, topic, security } = this.options;
    let conn: Connection;
    try {
      conn = await connect(target.addr, { me: name, security, standing: 'client', timeoutMs: CONNECT_TIMEOUT_MS });
    } catch {
      return;
    }
    if (this.stopped) return conn.destroy();
    this.conn = conn;
    conn.peer = target.name;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.options.session.off('view', leftView);
        conn.destroy();
        resolve();
      };
      // The replica left the view (a failover it has not noticed yet): look where the view says.
      const leftView = () => {
        if (!this.candidates().some((m) => m.name === target.name && m.addr === target.addr)) done();
      };
      this.options.session.on('view', leftView);
      conn.on('close', done);
      conn.on('message', (msg) => {
        if (msg.type === 'event' && msg.topic === topic) {
          if (msg.rev <= this.rev) return;
          this.rev = msg.rev;
          this.emit('event', msg.text, msg.rev, msg.server);
        } else if (msg.type === 'reject' || msg.type === 'error' || msg.type === 'refused') {
          this.options.tracer?.emitEvent('watch_moved', 'state', `${name}: ${target.name} does not serve ${JSON.stringify(topic)} (${msg.reason}); looking elsewhere from revision ${this.rev}`, { server: target.name, rev: this.rev });
          done();
        }
      });
      conn.send({ type: 'subscribe', client: name, server: target.name, topic, since: this.rev });
    });
    this.conn = undefined;
  }
}
