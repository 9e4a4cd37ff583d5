/**
 * `ftkit sync`: the synchronizer between replica groups. It watches every group's `outbox`
 * (a topic of the replicated state, docs/PROTOCOL.md §6.6a) and carries each entry to the group
 * it names (`*`: every other group) as an ordinary request, `sync <entry>`, under the client
 * name `sync.<source group>` and the entry's revision as its request number. Entries for one
 * group go one at a time, in revision order, so the receiving group's dedup table (per client,
 * the highest number executed) makes delivery exactly-once: an entry sent again (after a
 * failover, or after this process restarted and read the outbox from the start) is answered from
 * the table, or refused as stale, and not applied twice.
 *
 * Once a second it tells each source group how far each of its links is delivered
 * (`synced <group> <rev>`, on the session it watches that group with), so the group trims its
 * outbox behind the slowest reader of each entry: the outbox stays as long as what is in flight.
 *
 * It is a component of its own, not part of the leaders: it speaks only the public protocol
 * (views, requests, subscriptions), so a group's replicas stay what they are, it survives the
 * death of any leader by following the views like any client, and its own death loses nothing
 * (the outboxes are replicated; a relaunched sync starts over and the dedup tables absorb it).
 * It tells the RM each link's backlog (report.ts), which `ftkit ctl status` shows.
 */
import { Component } from '../lib/component.js';
import type { Security } from '../lib/net/index.js';
import { Tracer } from '../lib/trace/index.js';
import { Session } from '../clients/session.js';
import { Watch } from '../clients/watch.js';
import { exponentialBackoff } from '../lib/net/backoff.js';
import { OUTBOX_TOPIC } from '../lib/protocol/index.js';
import { BacklogReporter } from './report.js';

export interface SyncOptions {
  rm: string;
  /** The groups to connect, by name (their outboxes are read; entries for `*` go to all the others). */
  groups: string[];
  security?: Security;
  tracer?: Tracer;
}

/** How often each source group is told how far its links are delivered. */
const TELL_EVERY_MS = 1000;

/** What goes from one group to another, in revision order. */
class Link {
  /** Entries to deliver, in order; the first stays until the other group has answered it. */
  readonly queue: Array<{ rev: number; text: string }> = [];
  busy = false;
  /** The last revision delivered. */
  delivered = 0;
  /** The revision last told to the source group as delivered (`synced`). */
  told = 0;
  constructor(
    readonly from: string,
    readonly to: string,
    readonly session: Session,
  ) {}
}

export class Sync extends Component {
  private readonly watches: Watch[] = [];
  private readonly watchSessions = new Map<string, Session>();
  private readonly links = new Map<string, Link>();
  private readonly reporter: BacklogReporter;
  /** Per source group, the highest outbox revision read. */
  private readonly seen = new Map<string, number>();
  private telling: NodeJS.Timeout | undefined;
  /** Source groups a `synced` request is on its way to. */
  private readonly tellingTo = new Set<string>();

  constructor(readonly options: SyncOptions) {
    super('sync', options.tracer ?? new Tracer('sync'), options.security);
    this.reporter = new BacklogReporter({
      name: this.name,
      rm: options.rm,
      security: options.security,
      links: () => [...this.links.values()].map((l) => ({ source: l.from, target: l.to, waiting: l.queue.length, delivered: l.delivered })),
      onRefused: (reason) => this.trace('report_refused', 'fault', `sync: the RM refuses our backlog reports (${reason}); ctl status will not show them (give the sync --secret-file)`, { reason }),
    });
  }

  async start(): Promise<void> {
    this.setState('starting');
    const { groups, rm } = this.options;
    for (const from of groups) {
      for (const to of groups) {
        if (to === from) continue;
        // Requests to group `to` under one name per source: its dedup table counts each source's entries.
        const session = new Session({ name: `sync.${from}`, rm, key: to, security: this.security, ownNumbers: true, giveUpMs: 24 * 3600_000, retryPolicy: exponentialBackoff({ baseMs: 50, capMs: 500 }), attemptTimeoutMs: 1000 });
        session.start();
        this.links.set(`${from}>${to}`, new Link(from, to, session));
      }
      const viewer = new Session({ name: `sync.watch.${from}`, rm, key: from, security: this.security });
      viewer.start();
      this.watchSessions.set(from, viewer);
      const watch = new Watch({ name: `sync.watch.${from}`, topic: OUTBOX_TOPIC, from: 0, session: viewer, security: this.security, tracer: this.tracer });
      watch.on('event', (text, rev) => this.entry(from, rev, text));
      watch.start();
      this.watches.push(watch);
    }
    this.reporter.start();
    this.telling = setInterval(() => this.tellDelivered(), TELL_EVERY_MS);
    this.telling.unref();
    this.trace('listening', 'info', `sync: carrying the outboxes of ${groups.join(', ')} between them (RM ${rm})`, { groups });
    this.setState('running');
  }

  async stop(): Promise<void> {
    this.setState('stopping');
    this.reporter.stop();
    clearInterval(this.telling);
    for (const w of this.watches) w.stop();
    for (const s of this.watchSessions.values()) s.stop();
    for (const l of this.links.values()) l.session.stop();
    this.setState('stopped');
  }

  /** What is still to deliver, per link (`g1>g2`). */
  backlog(): Record<string, number> {
    return Object.fromEntries([...this.links].map(([k, l]) => [k, l.queue.length]));
  }

  /** Every entry of `link` up to this revision is delivered: all read so far, or all before the one waiting. */
  private deliveredUpTo(link: Link): number {
    return link.queue.length > 0 ? link.queue[0]!.rev - 1 : (this.seen.get(link.from) ?? 0);
  }

  /** Tell each source group what its links have delivered since last told, one request at a time per group. */
  private tellDelivered(): void {
    for (const [from, session] of this.watchSessions) {
      const news = [...this.links.values()].filter((l) => l.from === from && this.deliveredUpTo(l) > l.told);
      if (news.length === 0 || this.tellingTo.has(from)) continue;
      this.tellingTo.add(from);
      void (async () => {
        for (const link of news) {
          const upTo = this.deliveredUpTo(link);
          const outcome = await session.request(`synced ${link.to} ${upTo}`);
          if (outcome.status === 'ok') link.told = Math.max(link.told, upTo);
        }
        this.tellingTo.delete(from);
      })();
    }
  }

  private entry(from: string, rev: number, text: string): void {
    this.seen.set(from, Math.max(this.seen.get(from) ?? 0, rev));
    let to: string;
    try {
      to = (JSON.parse(text) as { to: string }).to;
    } catch {
      return this.trace('bad_entry', 'fault', `sync: ${from}'s outbox entry ${rev} is not JSON; skipped`, { from, rev });
    }
    for (const link of this.links.values()) {
      if (link.from !== from || (to !== '*' && to !== link.to) || rev <= link.delivered) continue;
      link.queue.push({ rev, text });
      this.reporter.changed();
      void this.drain(link);
    }
  }

  /** Deliver a link's entries one at a time, in order: each until the other group answers it. */
  private async drain(link: Link): Promise<void> {
    if (link.busy) return;
    link.busy = true;
    while (link.queue.length > 0 && this.lifecycle === 'running') {
      const { rev, text } = link.queue[0]!;
      const outcome = await link.session.request(`sync ${text}`, rev);
      if (outcome.status !== 'ok') continue;
      link.queue.shift();
      link.delivered = rev;
      this.reporter.changed();
      this.trace('delivered', 'request', `sync: ${link.from} → ${link.to}: entry ${rev} delivered (${outcome.result})`, { from: link.from, to: link.to, rev, result: outcome.result });
    }
    link.busy = false;
  }
}
