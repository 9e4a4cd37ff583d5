/**
 * Redis for the bench: find `redis-server` on PATH, start a primary and its replicas
 * (`--replicaof`) on 127.0.0.1 in a temp folder, wait until the replicas are online, and
 * stop them all again. Nothing is persisted (`--save ""`, no AOF) unless an append-only file
 * is asked for (`aof`): then every instance keeps one of its own, fsynced as `appendfsync` says.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { encodeCommand, ReplyReader, type Reply } from './resp.js';
import { sleep } from './stats.js';

export const REDIS_INSTALL_HINT = 'redis-server is not installed; to compare with Redis, install it (Debian/Ubuntu: apt-get install redis-server; the bench starts its own instances, not the system service)';

/** Every redis-server we started and have not stopped yet (killed if the bench is interrupted). */
const running = new Set<ChildProcess>();

export function killRedis(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** The path of `redis-server` on PATH, or undefined. */
export function findRedis(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const path = join(dir, 'redis-server');
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `7.0.15` from `Redis server v=7.0.15 sha=…`. */
export function redisVersion(path: string): string {
  const text = execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 5000 });
  return /v=(\S+)/.exec(text)?.[1] ?? text.trim();
}

/** Send one command on a fresh connection and resolve with its reply. */
export function redisCommand(port: number, args: string[], timeoutMs = 2000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const reader = new ReplyReader();
    const timer = setTimeout(() => finish(new Error(`redis :${port} ${args[0]}: no answer within ${timeoutMs} ms`)), timeoutMs);
    const finish = (r: Reply | Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    socket.setEncoding('utf8');
    socket.on('error', finish);
    socket.on('connect', () => socket.write(encodeCommand(...args)));
    socket.on('data', (chunk: string) => {
      try {
        const [r] = reader.push(chunk);
        if (r) finish(r);
      } catch (err) {
        finish(err as Error);
      }
    });
  });
}

/** A port no one listens on now (the kernel's choice). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RedisGroup {
  /** The primary's port. */
  port: number;
  pids: number[];
  stop(): Promise<void>;
}

export interface RedisDisk {
  /** The folder the instances' files go under (default: the OS's temp folder). */
  parent?: string;
  /** Each instance keeps an append-only file fsynced this way (default: no AOF). */
  aof?: 'always' | 'everysec' | 'no';
}

/** Start a primary and `replicas` replicas; resolves when every replica is online. */
export async function startRedisGroup(path: string, replicas: number, disk: RedisDisk = {}): Promise<RedisGroup> {
  const dir = mkdtempSync(join(disk.parent ?? tmpdir(), 'ftkit-bench-redis-'));
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map(stopChild));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i <= replicas; i++) ports.push(await freePort());
    const primary = ports[0]!;
    for (const [i, port] of ports.entries()) {
      const aof = disk.aof ? ['--appendonly', 'yes', '--appendfsync', disk.aof, '--appenddirname', `aof-${port}`] : ['--appendonly', 'no'];
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--save', '', ...aof];
      args.push('--protected-mode', 'no', '--daemonize', 'no', '--logfile', join(dir, `redis-${port}.log`));
      if (i > 0) args.push('--replicaof', '127.0.0.1', String(primary));
      const child = spawn(path, args, { stdio: 'ignore' });
      running.add(child);
      child.once('exit', () => running.delete(child));
      child.on('error', () => {}); // seen as no answer to PING
      children.push(child);
      await until(async () => (await redisCommand(port, ['PING']).catch(() => undefined))?.kind === 'simple', 10_000, `redis :${port} did not answer PING`);
    }
    await until(
      async () => {
        const info = await redisCommand(primary, ['INFO', 'replication']).catch(() => undefined);
        const text = info?.kind === 'bulk' ? info.text ?? '' : '';
        return (text.match(/state=online/g) ?? []).length === replicas;
      },
      20_000,
      `redis replicas not online`,
    );
    return { port: primary, pids: children.map((c) => c.pid!), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms / 1000} s`);
    await sleep(25);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(t);
}
