/**
 * The clients the RM follows: each one's connection, routing key, and the view it was last sent.
 * A client's view is the view of the group that serves it (the router decides which); it is
 * pushed again whenever that changes: the group's view, or the group itself (fallback).
 */
import type { Connection } from '../lib/net/index.js';
import type { Member, Mode } from '../lib/protocol/index.js';
import type { Group } from './group.js';
import type { GroupLoad, Route, Router } from './routing.js';

interface ClientEntry {
  conn: Connection;
  key: string | undefined;
  route: Route | undefined;
  /** The view last sent, as text: a view is pushed only when it differs. */
  sent: string;
}

export interface ClientView {
  mode: Mode;
  replicas: Member[];
  /** The group serving the client; named only when there is more than one group. */
  group?: string;
}

export class ClientTable {
  private readonly clients = new Map<string, ClientEntry>();

  constructor(
    private readonly router: Router,
    /** Every group, in name order. */
    private readonly groups: () => Group[],
    private readonly defaultMode: Mode,
  ) {}

  /** A client asked where to send (first on its connection, or again): answer with its view, changed or not. */
  asked(client: string, conn: Connection, key: string | undefined): void {
    const had = this.clients.get(client);
    const entry: ClientEntry = { conn, key, route: had?.conn === conn ? had.route : undefined, sent: '' };
    this.clients.set(client, entry);
    this.send(client, entry);
  }

  /** A connection closed: the client it served, if that was its latest, is gone. */
  closed(conn: Connection): void {
    const client = conn.peer;
    if (this.clients.get(client)?.conn !== conn) return;
    this.clients.delete(client);
    this.router.forget(client);
  }

  names(): string[] {
    return [...this.clients.keys()];
  }

  /** The clients each group serves now. */
  byGroup(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [name, e] of this.clients) if (e.route) out.set(e.route.group, [...(out.get(e.route.group) ?? []), name]);
    return out;
  }

  /** Where each client is served: its group, and (least-loaded, active mode) the replica it was handed. */
  routes(): Record<string, Route> {
    const out: Record<string, Route> = {};
    for (const [name, e] of this.clients) if (e.route) out[name] = e.route;
    return out;
  }

  /** Routes may have changed (a view, a group's readiness): push every view that differs from the one sent. */
  pushAll(): void {
    const context = this.context();
    for (const [client, entry] of this.clients) {
      const view = this.viewFor(client, entry, context);
      if (JSON.stringify(view) !== entry.sent) this.send(client, entry, view);
    }
  }

  /** What routing looks at: every group, its load, and every client's route (updated as clients are routed). */
  private context(): { groups: Group[]; loads: GroupLoad[]; routes: Map<string, Route> } {
    const groups = this.groups();
    const routes = new Map<string, Route>();
    for (const [name, e] of this.clients) if (e.route) routes.set(name, e.route);
    const loads = groups.map((g) => ({ name: g.name, serving: g.core.view().length > 0, replicas: g.core.ready().map((m) => m.name) }));
    return { groups, loads, routes };
  }

  private send(client: string, entry: ClientEntry, view = this.viewFor(client, entry, this.context())): void {
    entry.sent = JSON.stringify(view);
    entry.conn.send({ type: 'view', client, mode: view.mode, replicas: view.replicas, group: view.group });
  }

  private viewFor(client: string, entry: ClientEntry, { groups, loads, routes }: ReturnType<ClientTable['context']>): ClientView {
    entry.route = this.router.route(client, entry.key, loads, routes);
    if (entry.route) routes.set(client, entry.route);
    const group = groups.find((g) => g.name === entry.route?.group);
    if (!group) return { mode: this.defaultMode, replicas: [] };
    const view = group.core.view();
    const mine = entry.route?.replica ? view.filter((m) => m.name === entry.route!.replica) : [];
    return { mode: group.core.mode, replicas: mine.length > 0 ? mine : view, ...(groups.length > 1 ? { group: group.name } : {}) };
  }
}
