/**
 * Fixed ports for tests that need them (the demo's layout, a system with `basePort`): a block of
 * 400 ports below the ephemeral range, claimed for this test process by a lock file, so two test
 * files running at once never pick the same block, and whose ports are all free when claimed (a
 * program outside the suite holding one is stepped around). The lock goes with the process.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoPorts } from '../../harness/demo/demo.js';
import { alive } from '../../harness/launch/proc.js';

const BLOCK = 400;
/** Five-digit bases only: `127.0.0.1:4400` would also be the start of an ephemeral port's address (44003), which tests grep for survivors. */
const FIRST = 10_000;
/** Blocks from FIRST on that end below the ephemeral range (32768+). */
const BLOCKS = Math.floor((32_768 - FIRST) / BLOCK);
const LOCKS = join(tmpdir(), 'ftkit-test-ports');

/** Whether `port` on 127.0.0.1 can be listened on now. */
export function portFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Take the lock of the block at `base`, or take over one whose process has ended; false if another live process holds it. */
function lock(base: number): boolean {
  const file = join(LOCKS, String(base));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(file, 'utf8').trim());
      // An empty file is one being written this instant: another live claimant.
      if (!(holder > 0) || alive(holder)) return false;
      try {
        unlinkSync(file);
      } catch {
        // another process took it over first; try once more
      }
    }
  }
  return false;
}

function unlock(base: number): void {
  try {
    if (Number(readFileSync(join(LOCKS, String(base)), 'utf8')) === process.pid) unlinkSync(join(LOCKS, String(base)));
  } catch {
    // gone already
  }
}

/**
 * A base port whose block (base … base+399) is this process's alone among test processes and
 * whose `ports(base)` (by default the demo's layout with `servers` replicas) are free now.
 */
export async function claimPorts(servers = 3, ports: (base: number) => number[] = (b) => Object.values(demoPorts(b, servers))): Promise<number> {
  mkdirSync(LOCKS, { recursive: true });
  const start = process.pid % BLOCKS;
  for (let i = 0; i < BLOCKS; i++) {
    const base = FIRST + ((start + i) % BLOCKS) * BLOCK;
    if (!lock(base)) continue;
    if ((await Promise.all(ports(base).map(portFree))).every(Boolean)) {
      process.once('exit', () => unlock(base));
      return base;
    }
    unlock(base);
  }
  throw new Error(`no free block of ${BLOCK} ports between ${FIRST} and ${FIRST + BLOCKS * BLOCK}`);
}
