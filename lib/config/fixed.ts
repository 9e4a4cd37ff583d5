/**
 * Running without an RM (the course's milestones 1–3): the fixed group a server starts in, and
 * the replicas a client is given. Each is checked once, here; a contradiction is refused with one
 * message saying what to change (the CLI prints it and exits 2).
 */
import { ConfigError } from '../errors.js';
import { parseAddress } from '../net/address.js';
import type { Member, Mode } from '../protocol/index.js';

/** A server's group without an RM: its mode, every replica (itself too), and the one that leads. */
export interface FixedGroup {
  mode: Mode;
  members: Member[];
  leader: string;
}

/** What a client without an RM sends to: in passive mode the primary is first. */
export interface FixedView {
  mode: Mode;
  replicas: Member[];
}

export interface FixedServerOptions {
  name: string;
  static?: boolean;
  group?: Member[];
  mode?: Mode;
  primary?: string;
  passive?: string;
  /** Its LFD, or false for none. */
  lfd: string | false;
  /** The address peers reach it at (its advertised host and --port). */
  self: string;
  port: number;
}

const list = (members: readonly Member[]) => members.map((m) => m.name).join(', ');

/** The fixed group a server runs in, or undefined when it follows an RM (then nothing static may be given). */
export function fixedGroup(o: FixedServerOptions): FixedGroup | undefined {
  if (!o.static && o.group === undefined) {
    if (o.mode !== undefined || o.primary !== undefined) {
      throw new ConfigError('--mode and --primary describe a group without an RM: add --static or --group (with an RM, the RM decides them)');
    }
    if (o.lfd === false) throw new ConfigError("--no-lfd needs --static or --group: with an RM, the RM's orders reach a server through its LFD");
    return undefined;
  }
  const members = o.group ?? [{ name: o.name, addr: o.self }];
  const me = members.find((m) => m.name === o.name);
  if (!me) throw new ConfigError(`--group must list ${o.name} itself, with the address its peers reach it at (it lists ${list(members)})`);
  if (o.group !== undefined && members.length > 1 && parseAddress(me.addr).port !== o.port) {
    throw new ConfigError(`--group gives ${o.name}=${me.addr}, but ${o.name} listens on port ${o.port} (--port): its peers dial the address in --group`);
  }
  if (o.mode === undefined && members.length > 1) throw new ConfigError(`a --group of ${members.length} replicas needs --mode active or --mode passive`);
  const mode = o.mode ?? 'passive';
  const leader = o.primary ?? members[0]!.name;
  if (!members.some((m) => m.name === leader)) throw new ConfigError(`--primary ${leader} is not in the group (${list(members)})`);
  if (o.passive === 'checkpoint-only' && mode === 'active') throw new ConfigError('--passive checkpoint-only is for passive replication, not --mode active');
  return { mode, members, leader };
}

export interface FixedClientOptions {
  servers?: Member[];
  mode?: Mode;
  primary?: string;
  /** --rm (or rm =) was given, not just defaulted. */
  rmGiven: boolean;
}

/** The replicas a client sends to without an RM, or undefined when it asks the RM. */
export function fixedView(o: FixedClientOptions): FixedView | undefined {
  if (o.servers === undefined) {
    if (o.mode !== undefined || o.primary !== undefined) throw new ConfigError('--mode and --primary go with --servers (with an RM, the RM says where to send)');
    return undefined;
  }
  if (o.rmGiven) throw new ConfigError('give --rm or --servers, not both: with --servers the client asks no RM');
  if (o.mode === undefined && o.servers.length > 1) {
    throw new ConfigError(`--servers lists ${o.servers.length} replicas: add --mode active (send to all of them) or --mode passive (send to the primary)`);
  }
  const mode = o.mode ?? 'passive';
  if (o.primary === undefined) return { mode, replicas: o.servers };
  if (mode === 'active') throw new ConfigError('--primary is for --mode passive: in active mode every request goes to every replica');
  const primary = o.servers.find((m) => m.name === o.primary);
  if (!primary) throw new ConfigError(`--primary ${o.primary} is not in --servers (${list(o.servers)})`);
  return { mode, replicas: [primary, ...o.servers.filter((m) => m !== primary)] };
}
