/**
 * Subscriptions (pure): clients watching the replicated state. A client sends
 * `<C1, S1, topic, since, subscribe>`; a replica that serves it pushes every event of that topic
 * with a revision above `since`, oldest first, as `<C1, S1, rev, topic, text, event>`, and then
 * each new one, but only once it is committed: what no failover can lose. Revisions are part of
 * the replicated state, so after a failover the client subscribes again, at the new leader, from
 * the last revision it saw, and sees nothing twice and misses nothing.
 *
 * Who serves: the primary in passive mode (backups only hold the log), any ready replica in
 * active mode (each learns the commit point from the sequencer). A replica that stops serving
 * (demoted, not ready, a new epoch) ends its subscriptions with a `reject`, so their clients
 * look elsewhere at once.
 */
import type { MessageOf } from '../../lib/protocol/index.js';
import type { ConnId } from './types.js';
import type { ReplicaCore } from './replica.js';

interface Watcher {
  conn: ConnId;
  client: string;
  topic: string;
  /** The last revision sent. */
  rev: number;
}

export class Watchers {
  private readonly byConn = new Map<ConnId, Watcher[]>();
  /** The epoch the subscriptions were taken at: a new epoch (a failover) ends them. */
  private epoch = -1;

  constructor(private readonly r: ReplicaCore) {}

  get size(): number {
    return this.byConn.size;
  }

  /** Whether this replica serves subscriptions now. */
  private get serves(): boolean {
    const r = this.r;
    return r.ready && r.state.app.watch !== undefined && (r.mode === 'active' || r.isLeader);
  }

  subscribe(conn: ConnId, msg: MessageOf<'subscribe'>): void {
    const r = this.r;
    if (!r.state.app.watch) return r.reject(conn, msg.client, msg.since, `app ${r.state.app.name} has nothing to subscribe to`);
    if (!this.serves) return r.reject(conn, msg.client, msg.since, r.notHere);
    if (this.byConn.size === 0) this.epoch = r.epoch;
    const w: Watcher = { conn, client: msg.client, topic: msg.topic, rev: msg.since };
    this.byConn.set(conn, [...(this.byConn.get(conn) ?? []).filter((x) => x.topic !== msg.topic), w]);
    r.trace('subscribed', 'request', `${r.name}: ${msg.client} watches ${JSON.stringify(msg.topic)} from revision ${msg.since}`, { client: msg.client, topic: msg.topic, since: msg.since });
    this.push(w, r.state.revAt(r.commitSeq));
  }

  forget(conn: ConnId): void {
    this.byConn.delete(conn);
  }

  /** The commit point moved (or the role changed): push what is newly committed, or end every subscription if we no longer serve. */
  update(): void {
    if (this.byConn.size === 0) return;
    const r = this.r;
    if (!this.serves || r.epoch !== this.epoch) return this.endAll();
    const upTo = r.state.revAt(r.commitSeq);
    for (const list of this.byConn.values()) for (const w of list) this.push(w, upTo);
  }

  private push(w: Watcher, upTo: number): void {
    if (upTo <= w.rev) return;
    const r = this.r;
    for (const e of r.state.app.watch!.since(w.topic, w.rev, upTo)) {
      r.emit({ type: 'send', conn: w.conn, msg: { type: 'event', client: w.client, server: r.name, rev: e.rev, topic: e.topic, text: e.text } });
    }
    w.rev = upTo;
  }

  /** Tell every watcher to subscribe elsewhere (the reason names why) and forget them. */
  private endAll(): void {
    const r = this.r;
    const why = r.ready ? `${r.notHere} (epoch ${r.epoch})` : 'not_ready';
    for (const [conn, list] of this.byConn) for (const w of list) r.reject(conn, w.client, w.rev, why);
    this.byConn.clear();
  }
}
