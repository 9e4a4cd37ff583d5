/**
 * The active member: applies the sequencer's orders in sequence (follower.ts), passes the
 * requests it receives to the sequencer (`forward`), and answers its clients once the
 * sequencer says their request is committed.
 */
import type { MessageOf } from '../../lib/protocol/index.js';
import { Follower } from './follower.js';
import type { ConnId } from './types.js';

export class Member extends Follower {
  readonly name = 'member';

  override request(conn: ConnId, req: MessageOf<'request'>): void {
    this.r.waiters.wait(conn, req.client, req.num, req.payload);
    this.r.forwardToLeader(req.client, req.num, req.payload);
  }
}
