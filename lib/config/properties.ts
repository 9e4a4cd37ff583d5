/**
 * Run-time properties: what `ftkit ctl set KEY VALUE` may change while the system
 * runs. The RM validates them here and forwards them down; every component that
 * applies one validates it again with the same parser.
 */
import { ValueError } from '../errors.js';
import * as v from './values.js';

/** The most replicas `ctl set replicas` may ask for: each one is a process on some machine. */
export const MAX_REPLICAS = 64;

/** Each property: its parser, its help, and (`until`) what is in force until ctl sets it, when the RM cannot know the value itself. */
export const PROPERTIES = {
  'lfd-heartbeat-freq': { parse: v.seconds, help: 'seconds between LFD → server heartbeats', until: "each LFD's --heartbeat-freq" },
  'gfd-heartbeat-freq': { parse: v.seconds, help: 'seconds between GFD → LFD heartbeats', until: "the GFD's --heartbeat-freq" },
  'checkpoint-freq': { parse: v.seconds, help: 'seconds between checkpoints', until: "each server's --checkpoint-freq" },
  'lag-timeout': { parse: v.seconds, help: 'seconds a leader waits for a ready follower to acknowledge before the RM takes it out of the group', until: "each server's --lag-timeout" },
  primary: { parse: v.name, help: 'passive mode: make this replica the primary', until: 'none yet' },
  replicas: { parse: v.bounded(v.positiveCount, MAX_REPLICAS), help: `target number of replicas (1 to ${MAX_REPLICAS})`, until: 'as many as run' },
  'restart-budget': { parse: v.count, help: 'relaunches the RM allows each replica within its restart window', until: "the RM's --restart-budget" },
} as const;

export type PropertyKey = keyof typeof PROPERTIES;

export function isPropertyKey(key: string): key is PropertyKey {
  return Object.hasOwn(PROPERTIES, key);
}

/** Validate a property; throws ValueError naming the key and the reason. */
export function parseProperty(key: string, value: string): number | string {
  if (!isPropertyKey(key)) throw new ValueError(`unknown property "${key}" (known: ${Object.keys(PROPERTIES).join(', ')})`);
  try {
    return PROPERTIES[key].parse(value);
  } catch (err) {
    throw new ValueError(`${key}: ${(err as Error).message}`);
  }
}
