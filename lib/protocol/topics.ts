/**
 * What the apps' subscription topics are called, and what their events carry (docs/PROTOCOL.md
 * §6.6a): shared by the replicas that write them and the clients that watch them.
 */

/** The `sns` app's outbox: what another replica group must learn (carried by `ftkit sync`). */
export const OUTBOX_TOPIC = 'outbox';

/** The `sns` app's timeline of `user`: each post of someone the user follows. */
export const timelineTopic = (user: string): string => `timeline/${user}`;

/** The `chat` app's inbox of `user`: each message said in a room the user has joined. */
export const inboxTopic = (user: string): string => `inbox/${user}`;

/** A chat message, as an inbox event's text carries it (JSON). */
export interface ChatMessage {
  room: string;
  user: string;
  /** Milliseconds since the epoch, stamped by the speaker's client. */
  time: number;
  text: string;
}

/** A post, as a timeline event's text carries it (JSON). */
export interface Post {
  author: string;
  /** Milliseconds since the epoch, stamped by the poster's client. */
  time: number;
  text: string;
}
