/**
 * A chaos run on namespace hosts (`npm run chaos -- --hosts`): the course's four machines
 * (COURSE_MACHINES: m1-m3 an LFD and a replica each, m4 the RM and the GFD).
 *
 * The in-process clients, the proxies and the nemesis must reach the hosts' network, which
 * this (the root) namespace cannot: the switch is a namespace of its own and the hosts' subnet
 * is nowhere on this machine. So this process makes the network and a folder for the run, then
 * runs the run itself inside m4, the "sacred" machine where the course puts its clients:
 * `ip netns exec <m4> node hosts-inner.js <options>`. That process attaches to the network
 * (Hosts.attach) to inject faults in the switch, starts every component on its machine
 * (HostsSystem), and writes its report to the folder; its progress lines come here.
 *
 * At the end of the run, whether it succeeded, failed or was interrupted (`signal`), the run
 * process is stopped (it stops its components: each watches a pipe from it), and
 * Hosts.destroy() kills whatever is still inside the namespaces and removes them, which takes
 * every fault in the switch with it; then the folder goes. If this process itself is killed
 * with SIGKILL, the run process sees its stdin close and exits, its components follow, and the
 * next network made on this machine removes the namespaces left behind.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { HarnessError } from '../../lib/errors.js';
import { Hosts } from '../launch/hosts.js';
import { COURSE_MACHINES } from '../launch/hosts-system.js';
import { PACKAGE_ROOT } from '../launch/proc.js';
import type { ChaosOptions } from './runner.js';
import type { RunReport } from './report.js';

/** The run process's entry point (compiled). */
export const INNER_ENTRY = join(PACKAGE_ROOT, 'dist/harness/chaos/hosts-inner.js');
/** What the run process is told: the network to attach to, the folder, and the run's options. */
export interface InnerSpec {
  prefix: string;
  dir: string;
  options: Omit<ChaosOptions, 'log' | 'hosts'>;
  /** Print progress lines. */
  progress: boolean;
}
export const REPORT_FILE = 'report.json';
/** How long the run process gets to stop its components when the run is interrupted. */
const STOP_GRACE_MS = 3000;

export class Interrupted extends Error {
  override name = 'Interrupted';
}

export interface HostsRunInfo {
  /** The namespaces' prefix (`ftkh…`), known once the network is made. */
  prefix?: string;
}

/** One chaos run on the namespace hosts; every process and namespace it made is gone when it settles. */
export async function runChaosOnHosts(options: Omit<ChaosOptions, 'hosts'>, signal?: AbortSignal, info: HostsRunInfo = {}): Promise<RunReport> {
  const { log, ...rest } = options;
  if (signal?.aborted) throw new Interrupted('interrupted');
  const dir = mkdtempSync(join(tmpdir(), 'ftkit-chaos-hosts-'));
  let net: Hosts | undefined;
  try {
    net = await Hosts.create({ hosts: { ...COURSE_MACHINES } });
    info.prefix = net.prefix;
    log?.(`hosts: ${Object.entries(COURSE_MACHINES).map(([m, a]) => `${m} ${a}`).join(', ')}: namespaces ${net.prefix}-m1..m4, switch ${net.switchNs}; run folder ${dir}`);
    const spec: InnerSpec = { prefix: net.prefix, dir, options: rest, progress: !!log };
    const child = spawn(net.host('m4').prefix[0]!, [...net.host('m4').prefix.slice(1), process.execPath, INNER_ENTRY, JSON.stringify(spec)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stderr: string[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => log?.(line));
    createInterface({ input: child.stderr }).on('line', (line) => {
      stderr.push(line);
      if (stderr.length > 40) stderr.shift();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))));
    const onAbort = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', onAbort, { once: true });
    let code: number | null;
    try {
      code = await exited;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(STOP_GRACE_MS, undefined, { ref: false })]);
        child.kill('SIGKILL');
      }
      child.stdin.destroy();
    }
    if (signal?.aborted) throw new Interrupted('interrupted');
    let text: string;
    try {
      text = readFileSync(join(dir, REPORT_FILE), 'utf8');
    } catch {
      throw new HarnessError(`the run inside ${net.host('m4').ns} ended (${code}) without a report:\n${stderr.join('\n')}`);
    }
    return JSON.parse(text) as RunReport;
  } finally {
    await net?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
