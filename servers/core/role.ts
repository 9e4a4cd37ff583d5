/**
 * What a replica does depends on its role; `ReplicaCore.setRole` swaps the handler. Each role
 * overrides what it takes part in; the rest is ignored, as a message that reaches the wrong
 * role is (the door has already refused what no role may take).
 */
import type { MessageOf, Message } from '../../lib/protocol/index.js';
import type { Progress } from './progress.js';
import type { ReplicaCore } from './replica.js';
import type { ConnId, LeaderMessage, TimerName } from './types.js';

export type RoleName = 'primary' | 'backup' | 'sequencer' | 'member' | 'newcomer';

export abstract class Role {
  abstract readonly name: RoleName;

  constructor(protected readonly r: ReplicaCore) {}

  /** We take this role (the core's fields already describe it). */
  enter(): void {}

  /** We leave this role for another. */
  leave(_why: string): void {}

  /** A request the dedup table has not seen; or, when not ready, any request. */
  abstract request(conn: ConnId, msg: MessageOf<'request'>): void;

  /** A request executed already: its reply is in the dedup table. */
  duplicate(conn: ConnId, msg: MessageOf<'request'>, seq: number, result: string): void {
    this.r.trace('already_ordered', 'request', `<${msg.client}, ${this.r.name}, ${msg.num}, request> already applied in order: replying`, { client: msg.client, num: msg.num });
    this.r.replyWhenCommitted(conn, seq, msg.client, msg.num, msg.payload, result);
  }

  /** A message from the leader the RM named for our epoch (the door let it in). */
  fromLeader(_conn: ConnId, _msg: LeaderMessage): void {}

  /** A replica passes on a client's request (active mode). */
  forward(_msg: MessageOf<'forward'>): void {}

  /** A message from a follower on our link to it. */
  fromFollower(_p: Progress, _msg: Message): void {}

  /** Our link to a follower or newcomer connected. */
  linkUp(_p: Progress): void {}

  timer(_timer: TimerName): void {}
}
