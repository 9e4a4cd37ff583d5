/**
 * The nemesis's hands on the processes of a chaos run: SIGSTOP and SIGCONT, kill -9 (and wait
 * for the exit), and starting a component again where it was, retrying while its old port is
 * still taken. Whatever cannot be started again is warned about and reported through `broken`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { System } from '../launch/system.js';
import type { Proc } from '../launch/proc.js';
import { exponentialBackoff } from '../../lib/net/index.js';
import type { RunObserver } from './observer.js';

/** Starting a component again on its old port is tried 5 times, 0.2 s to 1 s apart (the port may take a moment to be free). */
const RESPAWN_RETRY = { baseMs: 200, capMs: 1000, maxAttempts: 4 };
/** How long a killed process gets to be reaped. */
const EXIT_WAIT_MS = 5000;
/** How long the GFD or RM, started again, gets to listen. */
const START_WAIT_MS = 5000;

export class ProcControl {
  /** Processes stopped now. */
  readonly paused = new Set<Proc>();

  constructor(
    private readonly sys: System,
    private readonly observer: RunObserver,
    /** Something could not be started again: the run injects no more replica or control-plane faults. */
    private readonly broken: () => void,
  ) {}

  /** Every paused process runs again. */
  resumeAll(): void {
    for (const p of this.paused) p.kill('SIGCONT');
    this.paused.clear();
  }

  /** SIGSTOP `procs` for `holdMs`, then SIGCONT them all in the same turn. */
  async pause(procs: Proc[], holdMs: number): Promise<void> {
    for (const p of procs) {
      this.paused.add(p);
      p.kill('SIGSTOP');
    }
    await sleep(holdMs);
    for (const p of procs) {
      p.kill('SIGCONT');
      this.paused.delete(p);
    }
  }

  async kill(proc: Proc): Promise<void> {
    this.observer.killing(proc);
    this.paused.delete(proc);
    proc.kill('SIGKILL');
    await Promise.race([proc.exited, sleep(EXIT_WAIT_MS, undefined, { ref: false })]);
  }

  async restartServer(name: string): Promise<void> {
    try {
      await this.sys.startServer(name);
    } catch (err) {
      this.observer.warn(`could not restart ${name}: ${(err as Error).message}`);
      this.broken();
    }
  }

  /** Start the GFD or RM again on its old port (`start` spawns it and resolves when it listens). */
  async respawn(name: 'GFD' | 'RM', start: () => Promise<Proc>): Promise<void> {
    await this.retry(name, async () => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${name} did not listen within ${START_WAIT_MS} ms`)), START_WAIT_MS)));
      try {
        await Promise.race([start(), late]);
      } finally {
        clearTimeout(timer);
      }
    });
  }

  /** Start a component again on its old port, which may take a moment to be free; false (and a warning) if it never starts. */
  async retry(name: string, start: () => Promise<unknown>): Promise<boolean> {
    const retry = exponentialBackoff(RESPAWN_RETRY);
    for (let attempt = 1; ; attempt++) {
      const before = this.sys.group.procs.get(name);
      try {
        await start();
        return true;
      } catch (err) {
        const failed = this.sys.group.procs.get(name);
        if (failed && failed !== before) {
          this.observer.killing(failed);
          failed.kill('SIGKILL');
        }
        const delay = retry(attempt, err as Error);
        if (delay === false) {
          this.observer.warn(`could not restart ${name} on its port after ${attempt} attempts: ${(err as Error).message.split('\n')[0]}`);
          this.broken();
          return false;
        }
        await sleep(delay);
      }
    }
  }
}
