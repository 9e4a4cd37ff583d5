/**
 * What goes into the replica's core and what comes out of it. The core is pure: the shell
 * (servers/server.ts) turns socket input, link changes, the LFD's messages and timers into
 * events, and carries out the commands the core leaves in its outbox.
 */
import type { Member, Message, MessageOf, Addressed } from '../../lib/protocol/index.js';
import type { Category } from '../../lib/trace/index.js';
import type { App } from './apps.js';
import type { FrozenCheckpoint } from './state.js';

/** A connection someone opened to us (a client, or a leader feeding us), as the shell numbers it. Never reused. */
export type ConnId = number;
/** No connection (a request that came in a `forward`, not from a client of ours). */
export const NO_CONN: ConnId = -1;

export type TimerName = 'checkpoint' | 'sync' | 'lag';

/**
 * What a passive primary does with a request before it replies (`--passive`): `log` sends it to
 * every ready backup as a log entry and replies once they all hold it (nothing acknowledged is lost
 * on failover); `checkpoint-only` replies at once and backups change only through checkpoints (a
 * failover loses what was acknowledged since the last one).
 */
export type PassiveStyle = 'log' | 'checkpoint-only';

/** A deliberately broken build, for showing that the chaos checker catches what it should (FTKIT_FAULT). */
export type Fault = 'early-reply' | 'skip-log-replay';

/** What only the leader the RM named sends to a replica. */
export type LeaderMessage = MessageOf<'checkpoint' | 'checkpointBegin' | 'checkpointPart' | 'checkpointEnd' | 'log' | 'order' | 'commit' | 'sync'>;
/** What a peer replica may send on a connection it opened with `welcome`. */
export type PeerMessage = LeaderMessage | MessageOf<'forward'>;
/** The RM's orders, routed through GFD and LFD. */
export type ControlMessage = MessageOf<'role' | 'sendCheckpoint' | 'query' | 'set'>;

const PEER_TYPES: ReadonlySet<string> = new Set<PeerMessage['type']>(['checkpoint', 'checkpointBegin', 'checkpointPart', 'checkpointEnd', 'log', 'order', 'commit', 'sync', 'forward']);

export function isPeerMessage(msg: Message): msg is PeerMessage {
  return PEER_TYPES.has(msg.type);
}

/** One numbered request: a passive log entry or an active order. */
export interface Entry {
  seq: number;
  client: string;
  num: number;
  payload: string;
}

export type ReplicaEvent =
  /** A client's request on an inbound connection. */
  | { type: 'request'; conn: ConnId; msg: MessageOf<'request'> }
  /** A client's subscription (watchers.ts) on an inbound connection. */
  | { type: 'subscribe'; conn: ConnId; msg: MessageOf<'subscribe'> }
  /** A peer replica's message on a connection it opened (after `welcome` as `peer`; `msg.from` is `peer`). */
  | { type: 'peer'; conn: ConnId; peer: string; msg: PeerMessage }
  /** A message from a follower on our link to it. */
  | { type: 'follower'; peer: string; msg: Message }
  /** Our link to a peer connected (a new connection: it may reach a new process). */
  | { type: 'linkUp'; peer: string }
  | { type: 'linkDown'; peer: string }
  /** The peer refused our link, or failed to prove our secret; the link has stopped. */
  | { type: 'linkRefused'; peer: string; reason: string }
  /** An order of the RM, through the LFD. */
  | { type: 'control'; msg: ControlMessage }
  /** The link to our LFD dropped: the LFD has declared us dead, or is dead itself. */
  | { type: 'detached' }
  /** Our LFD accepted our registration: tell the RM the properties we run with. */
  | { type: 'registered' }
  | { type: 'closed'; conn: ConnId }
  /** The peer finished sending (a half-close); it is still owed its replies. */
  | { type: 'ended'; conn: ConnId }
  | { type: 'timer'; timer: TimerName }
  /** The end of the I/O batch in which the core asked for it (`flush` command). */
  | { type: 'flush' };

export type Command =
  /** A message on an inbound connection (reply, reject, ack, …); dropped if it has closed. */
  | { type: 'send'; conn: ConnId; msg: Message }
  | { type: 'close'; conn: ConnId }
  /** A message on our link to a peer; dropped if the link is not up. */
  | { type: 'peerSend'; peer: string; msg: Message }
  /** One message to several peers, encoded once; each copy names its recipient in `to`. */
  | { type: 'broadcast'; peers: readonly string[]; msg: Addressed }
  /**
   * Send a large checkpoint's parts and its end (`checkpoint_part` …, `checkpoint_end`) to these
   * peers, after the `checkpoint_begin` the core sent: a few parts at a time, between other I/O,
   * as fast as each link takes them. What the core sends meanwhile goes in between.
   */
  | { type: 'stream'; peers: readonly string[]; from: string; epoch: number; checkpoint: FrozenCheckpoint }
  /** Keep links to exactly these peers. */
  | { type: 'keepPeers'; members: readonly Member[] }
  | { type: 'closePeers' }
  | { type: 'toLfd'; msg: Message }
  /** Start (or restart) a timer; a repeating one fires every `ms` until cleared. */
  | { type: 'setTimer'; timer: TimerName; ms: number; repeat: boolean }
  | { type: 'clearTimer'; timer: TimerName }
  /** Deliver a `flush` event once the current I/O batch has been handled. */
  | { type: 'flush' }
  /**
   * With a data dir (CoreConfig.durable): make this entry durable, applied or held at `epoch`.
   * The shell sends nothing the core asks after it (replies, acks, reports) until it is.
   */
  | { type: 'persist'; entry: Entry; epoch: number }
  /**
   * With a data dir: the state was replaced (a checkpoint installed): write it as the snapshot now.
   * `covered`: the disk already holds all it holds (the entries up to it were persisted): it only
   * shortens the log, and nothing the core sends after it need wait for it.
   */
  | { type: 'snapshot'; covered?: boolean }
  | { type: 'trace'; event: string; category: Category; text: string; data?: Record<string, unknown> };

export interface CoreConfig {
  name: string;
  app: App;
  checkpointMs: number;
  /**
   * How long a leader waits for a ready follower to acknowledge an entry before it asks the RM to
   * remove that follower from the group (`--lag-timeout`). Not given: LAG_PER_HEARTBEAT times the
   * LFD's heartbeat period, once the LFD has said it (DEFAULT_LAG_MS until then).
   */
  lagMs?: number;
  /** What a passive primary does before it replies (default `log`). */
  passive?: PassiveStyle;
  /** No RM: the shell stands in for it (servers/static.ts); only the wording of some traces changes. */
  static?: boolean;
  fault?: Fault;
  /** Whether the shell keeps the replica on disk (`--data-dir`): the core then asks for each entry to be persisted. */
  durable?: boolean;
  /** Whether anyone sees a trace of this category (Tracer.wants); per-request traces are not built otherwise. */
  wants?: (category: Category) => boolean;
}

/** How many applied orders an active replica keeps at least (up to twice as many) to bring a peer up to date after a failover. */
export const ORDER_LOG_LIMIT = 10_000;
/** How long a new sequencer waits for the others' sync answers before it goes on without them. */
export const SYNC_DEADLINE_MS = 1000;
/** How many messages of an epoch the RM has not given us yet one connection may have waiting for the role. */
export const AHEAD_LIMIT = 4096;
/** The lag timeout when neither an option nor the LFD's heartbeat period gives one: four default heartbeat periods. */
export const DEFAULT_LAG_MS = 4000;
/** The lag timeout follows the LFD's heartbeat period: this many periods (twice its default heartbeat timeout). */
export const LAG_PER_HEARTBEAT = 4;
/** A leader checks its followers this many times per lag timeout (so a laggard is found within 1⅛ of it). */
export const LAG_CHECKS = 8;
/** How many checkpoint orders for a role still on its way are kept. */
export const EARLY_ORDERS_LIMIT = 64;
/** A checkpoint whose app state is larger than this (in characters) is sent in parts (`stream`) rather than in one frame. */
export const STREAM_ABOVE_CHARS = 256 * 1024;
/**
 * The characters of app state in one `checkpoint_part`: small enough that making, sending and
 * taking one holds a loop for a millisecond or two, and that a link's queue holds several
 * (160 Ki parts streamed 100 MB at half the speed, one part of work per turn twice as long).
 */
export const PART_CHARS = 64 * 1024;
