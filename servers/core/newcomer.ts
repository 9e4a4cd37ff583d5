/**
 * A replica that is not ready: new, relaunched, made not ready by the RM, or cut off from its
 * LFD. It takes its leader's checkpoint and what follows it (follower.ts) but answers no
 * client: a passive one tells them to look elsewhere, an active one stays silent (the client
 * has asked every replica). Once it has installed a checkpoint it reports that it has caught up,
 * and the RM makes it ready.
 */
import type { MessageOf } from '../../lib/protocol/index.js';
import { Follower } from './follower.js';
import type { ConnId } from './types.js';

export class Newcomer extends Follower {
  readonly name = 'newcomer';

  override request(conn: ConnId, req: MessageOf<'request'>): void {
    if (this.r.mode !== 'active') this.r.reject(conn, req.client, req.num, 'not_ready');
  }
}
