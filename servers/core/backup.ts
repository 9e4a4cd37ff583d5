/**
 * The passive backup: holds the primary's log entries and installs its checkpoints
 * (follower.ts); clients are told to go to the primary.
 */
import type { MessageOf } from '../../lib/protocol/index.js';
import { Follower } from './follower.js';
import type { ConnId } from './types.js';

export class Backup extends Follower {
  readonly name = 'backup';

  override request(conn: ConnId, req: MessageOf<'request'>): void {
    this.r.reject(conn, req.client, req.num, 'not_primary');
  }

  override duplicate(conn: ConnId, req: MessageOf<'request'>): void {
    this.r.reject(conn, req.client, req.num, 'not_primary');
  }
}
