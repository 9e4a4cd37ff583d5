/**
 * How ftkit sync tells the RM its backlog (docs/PROTOCOL.md §6.18c): one `backlog` message per
 * link, about every second and soon after a backlog changes, on a connection of its own that
 * proves the deployment secret (or the client secret) when the sync holds it. The RM keeps the
 * last report of each link for `ctl status`. Reports are a view, not a duty: while the RM is
 * away they are skipped and the link reconnects; a refusal is said once and reporting stops,
 * and the carrying goes on either way.
 */
import { Link as Dial, exponentialBackoff, type Security } from '../lib/net/index.js';
import type { Message } from '../lib/protocol/index.js';

/** How often every link is reported. */
export const REPORT_EVERY_MS = 1000;
/** The least time between two reports of changes (a burst of posts is one report). */
const CHANGE_GAP_MS = 200;

export interface LinkBacklog {
  source: string;
  target: string;
  waiting: number;
  delivered: number;
}

export interface ReporterOptions {
  name: string;
  rm: string;
  security?: Security;
  /** Every link's backlog now. */
  links: () => LinkBacklog[];
  /** Said once when the RM refuses the reports. */
  onRefused: (reason: string) => void;
}

export class BacklogReporter {
  private readonly dial: Dial;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private last = 0;
  private refused = false;
  private running = false;

  constructor(private readonly o: ReporterOptions) {
    const member = o.security?.secrets.member !== undefined;
    this.dial = new Dial({ addr: o.rm, me: o.name, security: o.security, standing: member ? 'member' : 'client', policy: exponentialBackoff({ baseMs: 200, capMs: 2000 }) });
    this.dial.on('up', (conn) => {
      conn.on('message', (msg: Message) => {
        if (msg.type === 'refused' || msg.type === 'error') this.refuse(msg.reason);
      });
      this.report();
    });
    this.dial.on('refused', (err) => this.refuse(err.message));
  }

  start(): void {
    this.running = true;
    this.dial.start();
    this.timer = setInterval(() => this.report(), REPORT_EVERY_MS);
  }

  stop(): void {
    this.running = false;
    clearInterval(this.timer);
    clearTimeout(this.soon);
    this.dial.stop();
  }

  /** A backlog changed: report within CHANGE_GAP_MS. */
  changed(): void {
    if (this.soon || !this.running) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.report();
    }, Math.max(0, this.last + CHANGE_GAP_MS - Date.now()));
  }

  private report(): void {
    const conn = this.dial.connection;
    if (!conn || this.refused) return;
    this.last = Date.now();
    for (const l of this.o.links()) conn.send({ type: 'backlog', from: this.o.name, ...l });
  }

  private refuse(reason: string): void {
    if (this.refused) return;
    this.refused = true;
    this.stop();
    this.o.onRefused(reason);
  }
}
