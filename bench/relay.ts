/**
 * The bare Node relay for the Redis comparison (bench/redis.ts): a primary and two backups
 * (bench/relay-server.ts), each its own process, doing ftkit passive's message pattern
 * with none of ftkit: what a Node service doing only this work costs on this machine.
 */
import { forkServer } from './harness.js';
import type { RedisRow } from './redis.js';
import { fmt } from './stats.js';

export interface RelayGroup {
  /** The primary's port, for clients. */
  port: number;
  /** Primary first. */
  pids: number[];
  stop(): Promise<void>;
}

/** Start `backups` backups, then a primary connected to them. */
export async function startRelay(backups = 2): Promise<RelayGroup> {
  const started: Array<Awaited<ReturnType<typeof forkServer>>> = [];
  // The primary first: a backup losing the primary's connection is not an error, the other way round it is.
  const stop = async () => {
    for (const s of started) await s.stop();
  };
  try {
    const names = Array.from({ length: backups }, (_, i) => `S${i + 2}`);
    const bs = [];
    for (const name of names) bs.push(await forkServer('relay-server.js', ['backup', name], `relay backup ${name}`));
    started.push(...bs);
    started.unshift(await forkServer('relay-server.js', ['primary', ...bs.map((b) => String(b.port))], 'relay primary'));
    return { port: started[0]!.port, pids: started.map((s) => s.child.pid!), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One line: ftkit passive and active over the relay, throughput and CPU per write, at `clients` clients. */
export function relayComparison(rows: RedisRow[], clients: number): string {
  const at = (system: RedisRow['system']) => rows.find((x) => x.system === system && x.replicas === 3 && x.clients === clients);
  const relay = at('relay');
  if (!relay) return `ftkit / bare Node relay: no relay figure with ${clients} clients`;
  const part = (mode: 'passive' | 'active') => {
    const x = at(mode);
    return `${mode} ${fmt(x ? x.stats.rps / relay.stats.rps : NaN, 2)} of its writes/s at ${fmt(x ? x.cpuPer1k / relay.cpuPer1k : NaN, 2)}x its CPU per write`;
  };
  return `ftkit / bare Node relay 1+2, ${clients} clients: ${part('passive')}; ${part('active')}`;
}
