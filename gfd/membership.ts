/**
 * The GFD's membership table, as a pure structure: which servers are alive and on
 * which LFD (machine). Every operation returns the changes it made, which the
 * shell traces and reports to the RM.
 */
import { DEFAULT_GROUP, type Member } from '../lib/protocol/index.js';
import { byName } from '../lib/component.js';

export interface Change {
  action: 'add' | 'delete';
  server: string;
  addr: string;
  lfd: string;
  group: string;
}

export class Membership {
  private readonly members = new Map<string, { lfd: string; addr: string; group: string }>();
  /** The LFD each server was last seen on, kept after it dies so it can be relaunched there. */
  private readonly homes = new Map<string, string>();

  /**
   * `server` joined on `lfd`. A name is an identity: while it is live on another LFD, the add is
   * refused (and nothing changes). On its own LFD, a new address replaces the old one.
   */
  add(lfd: string, server: string, addr: string, group = DEFAULT_GROUP): Change[] | { refused: string } {
    const had = this.members.get(server);
    if (had && had.lfd === lfd && had.addr === addr && had.group === group) return [];
    if (had && had.lfd !== lfd) return { refused: `${server} is already running on ${had.lfd} at ${had.addr}` };
    const changes: Change[] = had ? [{ action: 'delete', server, ...had }] : [];
    this.members.set(server, { lfd, addr, group });
    this.homes.set(server, lfd);
    return [...changes, { action: 'add', server, addr, lfd, group }];
  }

  delete(lfd: string, server: string): Change[] {
    const had = this.members.get(server);
    if (!had || had.lfd !== lfd) return [];
    this.members.delete(server);
    return [{ action: 'delete', server, ...had }];
  }

  /** An LFD is gone, and with it its machine: every server on it is deleted. */
  dropLfd(lfd: string): Change[] {
    return this.serversOn(lfd).flatMap((server) => this.delete(lfd, server));
  }

  serversOn(lfd: string): string[] {
    return [...this.members].filter(([, m]) => m.lfd === lfd).map(([s]) => s);
  }

  lfdOf(server: string): string | undefined {
    return this.members.get(server)?.lfd ?? this.homes.get(server);
  }

  names(): string[] {
    return [...this.members.keys()].sort(byName);
  }

  list(): Member[] {
    return this.names().map((name) => ({ name, addr: this.members.get(name)!.addr }));
  }

  groupOf(server: string): string {
    return this.members.get(server)?.group ?? DEFAULT_GROUP;
  }

  /** The servers not in the default group, as the `members` message carries them (`S4=g2;S6=g2`). */
  groups(): string {
    return this.names()
      .filter((name) => this.members.get(name)!.group !== DEFAULT_GROUP)
      .map((name) => `${name}=${this.members.get(name)!.group}`)
      .join(';');
  }
}
