/**
 * The namespaces of the namespace hosts (hosts.ts): their names, the system tools that make and
 * remove them, and the removal of those a creator that is gone left behind.
 *
 * Names are `ftkh<creator pid>-<n>-<host>`: unique per process and network. Creating a network
 * first removes namespaces of this prefix whose creator is gone (a test killed half way), and
 * ends the processes still inside them.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { alive } from './proc.js';

/** A network namespace name this helper made: `ftkh<pid base 36>-<n base 36>-<label>`. */
export const NAME = /^ftkh([0-9a-z]+)-([0-9a-z]+)-/;
let nextNetwork = 0;
/** Networks this process made and has not destroyed, by prefix. */
export const live = new Set<string>();

/** The prefix of a new network's namespaces: `ftkh<pid base 36>-<n base 36>`. */
export function networkPrefix(): string {
  return `ftkh${process.pid.toString(36)}-${(nextNetwork++).toString(36)}`;
}

export class HostsError extends Error {
  override name = 'HostsError';
}

/** Find a system command: root's tools live in /usr/sbin, which a test's PATH may lack. */
export function tool(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const d of dirs) if (d && existsSync(`${d}/${name}`)) return `${d}/${name}`;
  const pkg = { nft: 'nftables', python3: 'python3' }[name] ?? 'iproute2';
  throw new HostsError(`${name} not found (install it: apt-get install -y ${pkg})`);
}

/** Run a command; reject with its stderr. */
export function sh(cmd: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd[0]!, cmd.slice(1), { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new HostsError(`${cmd.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Kill (SIGKILL) every process inside namespace `ns` and remove it. Errors are ignored: it may be gone already. */
export async function removeNamespace(ip: string, ns: string): Promise<void> {
  const pids = await sh([ip, 'netns', 'pids', ns]).catch(() => '');
  for (const p of pids.split(/\s+/).filter(Boolean)) {
    const pid = Number(p);
    if (pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  await sh([ip, 'netns', 'del', ns]).catch(() => undefined);
}

/** Remove namespaces of this helper whose creator is gone (or is us, under a pid reused, but not a live network of ours). */
export async function removeLeftovers(): Promise<string[]> {
  const ip = tool('ip');
  const list = await sh([ip, 'netns', 'list']);
  const removed: string[] = [];
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0]!;
    const m = NAME.exec(ns);
    if (!m) continue;
    const pid = parseInt(m[1]!, 36);
    const prefix = `ftkh${m[1]}-${m[2]}`;
    if (pid === process.pid ? live.has(prefix) : alive(pid)) continue;
    await removeNamespace(ip, ns);
    removed.push(ns);
  }
  return removed;
}
