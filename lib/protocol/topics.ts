/**
 * What the apps' subscription topics are called, and what their events carry (docs/PROTOCOL.md
 * §6.6a): shared by the replicas that write them and the clients that watch them.
 */

/** The `sns` app's outbox: what another replica group must learn (carried by `ftkit sync`). */
export const OUTBOX_TOPIC = 'outbox';

/** The `sns` app's timeline of `user`: each post of someone the user follows. */
export const timelineTopic = (user: string): string => `timeline/${user}`;

/** A post, as a timeline event's text carries it (JSON). */
export interface Post {
  author: string;
  /** Milliseconds since the epoch, stamped by the poster's client. */
  time: number;
  text: string;
}
