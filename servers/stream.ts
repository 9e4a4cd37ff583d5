/**
 * Sending a large checkpoint in parts, in the shell (the core's `stream` command; docs/PROTOCOL.md,
 * "Large checkpoints"). The core froze the state and sent `checkpoint_begin`; this encodes the
 * state's parts one at a time and sends each as a `checkpoint_part` (encoded once for all the
 * peers), then `checkpoint_end` with the dedup table.
 *
 * It never holds the event loop for long: it makes about one part per turn of the loop, then lets
 * other I/O in (heartbeats, requests, the log entries the core sends meanwhile, which so go in
 * between the parts), and a part waits while a link has more than HIGH_WATER bytes still to go,
 * so a slow peer is fed at its own pace and the entries behind a part wait for little.
 *
 * A peer whose link drops, or that a newer stream is feeding, is left out of the rest; the core
 * begins again on a new link.
 */
import { performance } from 'node:perf_hooks';
import type { Connection } from '../lib/net/index.js';
import { encodeForEach, type Addressed } from '../lib/protocol/index.js';
import { PART_CHARS, type Command } from './core/index.js';

/** Work on parts for at most this long before letting other I/O in: in effect one part (a few ms) per turn of the loop. */
export const SLICE_MS = 1;
/** Characters a link may have waiting to go before the next part waits for it. */
export const HIGH_WATER = 256 * 1024;

export type StreamCommand = Extract<Command, { type: 'stream' }>;

export interface Streamed {
  peers: string[];
  count: number;
  parts: number;
  chars: number;
  ms: number;
}

export class Streamer {
  /** Per peer, the stream feeding it now. */
  private readonly feeding = new Map<string, object>();

  /**
   * `link(peer)`: the connection to the peer now, if up; `done`: a stream was sent whole to
   * these peers (those it dropped are not named).
   */
  constructor(
    private readonly link: (peer: string) => Connection | undefined,
    private readonly done: (s: Streamed) => void,
  ) {}

  start(cmd: StreamCommand): void {
    const token = {};
    const targets = new Map<string, Connection>();
    for (const peer of cmd.peers) {
      const conn = this.link(peer);
      if (!conn) continue;
      targets.set(peer, conn);
      this.feeding.set(peer, token);
    }
    if (targets.size > 0) void this.pump(cmd, token, targets);
  }

  /** Stop every stream (the server stops). */
  stopAll(): void {
    this.feeding.clear();
  }

  private async pump(cmd: StreamCommand, token: object, targets: Map<string, Connection>): Promise<void> {
    const t0 = performance.now();
    const cp = cmd.checkpoint;
    const parts = cp.parts(PART_CHARS)[Symbol.iterator]();
    const head = { from: cmd.from, to: '', count: cp.count, epoch: cmd.epoch };
    let n = 0;
    let chars = 0;
    let slice = performance.now();
    for (;;) {
      if (!this.keep(token, targets)) return;
      if (performance.now() - slice >= SLICE_MS || backedUp(targets)) {
        await yieldTurn(backedUp(targets));
        slice = performance.now();
        continue;
      }
      const next = parts.next();
      if (next.done) break;
      n++;
      chars += next.value.length;
      send(targets, { type: 'checkpointPart', ...head, text: next.value });
    }
    send(targets, { type: 'checkpointEnd', ...head, table: cp.table(), parts: n });
    for (const peer of targets.keys()) this.feeding.delete(peer);
    this.done({ peers: [...targets.keys()], count: cp.count, parts: n, chars, ms: performance.now() - t0 });
  }

  /** Leave out the peers gone or fed by a newer stream; false when none is left. */
  private keep(token: object, targets: Map<string, Connection>): boolean {
    for (const [peer, conn] of targets) if (this.feeding.get(peer) !== token || !conn.isOpen) targets.delete(peer);
    return targets.size > 0;
  }
}

function send(targets: Map<string, Connection>, msg: Addressed): void {
  encodeForEach(msg, [...targets.keys()], (peer, frame) => targets.get(peer)!.sendFrame(frame));
}

/** Whether some link has more than HIGH_WATER characters still to go. */
function backedUp(targets: Map<string, Connection>): boolean {
  for (const conn of targets.values()) if (conn.pendingChars + conn.socket.writableLength > HIGH_WATER) return true;
  return false;
}

/** Let other I/O in: for a turn of the loop, or (a link backed up) for a millisecond. */
function yieldTurn(waitForLink: boolean): Promise<void> {
  return new Promise((resolve) => (waitForLink ? setTimeout(resolve, 1) : setImmediate(resolve)));
}
