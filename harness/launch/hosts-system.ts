/**
 * A whole ftkit system on the course's four machines as namespace hosts (hosts.ts), each
 * component started on its machine with the command line a user types there, against
 * config/deployment.ini as shipped (a copy beside its own secret, in the system's folder):
 *
 *   m1 10.0.0.1: ftkit lfd LFD1 --config deployment.ini …   ftkit server S1 --config deployment.ini …
 *   m2 10.0.0.2, m3 10.0.0.3: LFD2 and S2, LFD3 and S3 alike
 *   m4 10.0.0.4: ftkit rm --config deployment.ini …          ftkit gfd --config deployment.ini …
 *
 * The flags after `--config` are what the harness sets on top of the file (mode, heartbeats,
 * app, checkpoints, no automatic restart), as a user overrides the file on the command line.
 * It is a System: the chaos runner, the nemesis and the final reads use it the same way. The
 * process that uses it must run inside m4 (its RM and GFD addresses are m4's, and the replicas'
 * are reachable only from a host); `harness/chaos/onhosts.ts` arranges that.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { HarnessError } from '../../lib/errors.js';
import type { Fault as NetFault, Hosts } from './hosts.js';
import { PACKAGE_ROOT, type Proc } from './proc.js';
import { System, type SystemOptions } from './system.js';

/** The machines of config/deployment.ini: m1-m3 run an LFD and a replica, m4 the RM and the GFD. */
export const COURSE_MACHINES = { m1: '10.0.0.1', m2: '10.0.0.2', m3: '10.0.0.3', m4: '10.0.0.4' } as const;

/** The machine a component runs on: RM and GFD on m4, LFDn and Sn on mn. */
export function machineOf(name: string): string {
  if (name === 'RM' || name === 'GFD') return 'm4';
  const n = name.replace(/^\D+/, '');
  if (!['1', '2', '3'].includes(n)) throw new HarnessError(`${name}: the course's machines hold LFD1-3 and S1-3 only`);
  return `m${n}`;
}

export class HostsSystem extends System {
  /** The deployment file every component is started with. */
  readonly ini: string;

  constructor(
    readonly net: Hosts,
    /** The system's folder: deployment.ini, its secret, the LFDs' state folders (its creator removes it). */
    readonly dir: string,
    options: Omit<SystemOptions, 'stateDir' | 'secretFile' | 'basePort' | 'tls' | 'adminSecretFile' | 'clientSecretFile'> = {},
  ) {
    super({ ...options, stateDir: dir, secretFile: join(dir, 'ftkit.secret') });
    if ((options.replicas ?? 3) !== 3) throw new HarnessError('the course deployment has exactly three replicas');
    this.ini = join(dir, 'deployment.ini');
    copyFileSync(join(PACKAGE_ROOT, 'config', 'deployment.ini'), this.ini);
    void this.secretFile; // made now: deployment.ini names it (secret_file = ftkit.secret)
  }

  private spawnOn(name: string, args: string[], env?: NodeJS.ProcessEnv): Proc {
    return this.group.spawn(name, [...args, '--json'], { prefix: this.net.host(machineOf(name)).prefix, env });
  }

  private get hb(): string {
    return String(this.options.heartbeat ?? 0.1);
  }

  /** The port is the file's (7000): a restart comes back there. */
  override async startRm(): Promise<Proc> {
    const o = this.options;
    const rm = this.spawnOn('RM', ['rm', '--config', this.ini, '--mode', o.mode ?? 'passive', ...(o.autoRestart === false ? ['--no-auto-restart'] : []), ...(o.rmArgs ?? [])]);
    this.rmAddr = await rm.address();
    return rm;
  }

  override async startGfd(): Promise<Proc> {
    const gfd = this.spawnOn('GFD', ['gfd', '--config', this.ini, '--heartbeat-freq', this.hb]);
    this.gfdAddr = await gfd.address();
    return gfd;
  }

  override async startLfd(name: string): Promise<Proc> {
    const o = this.options;
    const stateDir = join(this.dir, `state-${name}`);
    mkdirSync(stateDir, { recursive: true });
    const fence = o.fence ?? o.autoRestart !== false;
    const lfd = this.spawnOn(name, ['lfd', name, '--config', this.ini, '--heartbeat-freq', this.hb, '--state-dir', stateDir, ...(fence ? [] : ['--no-fence'])]);
    this.lfdAddrs.set(name, await lfd.address());
    return lfd;
  }

  /** Server `name` registers with the LFD its section names (its machine's). */
  override async startServer(name: string): Promise<Proc> {
    const o = this.options;
    const args = ['server', name, '--config', this.ini, '--app', o.app ?? 'status', '--checkpoint-freq', String(o.checkpointFreq ?? 1), ...(o.serverArgs ?? [])];
    const server = this.spawnOn(name, args, o.serverEnv);
    this.serverAddrs.set(name, await server.address());
    return server;
  }
}

export type HostFaultKind = 'cut-machine' | 'cut-link' | 'cut-one-way' | 'link-loss' | 'link-delay';

/**
 * A network fault between the replicas' machines, in the switch: `replicas` is the machine's
 * replica (cut-machine) or the leader then a follower (the others; cut-one-way `to-leader`
 * loses the follower's packets to the leader, `to-follower` the other way).
 */
export function injectHostFault(
  net: Hosts,
  f: { kind: HostFaultKind; lossPct?: number; delayMs?: number; direction?: 'to-leader' | 'to-follower' },
  replicas: readonly string[],
): Promise<NetFault> {
  const [a, b] = replicas.map(machineOf) as [string, string | undefined];
  const two = (): string => {
    if (b === undefined) throw new HarnessError(`${f.kind} needs two replicas' machines`);
    return b;
  };
  switch (f.kind) {
    case 'cut-machine':
      return net.cutHost(a);
    case 'cut-link':
      return net.cutLink(a, two());
    case 'cut-one-way':
      return f.direction === 'to-leader' ? net.cutOneWay(two(), a) : net.cutOneWay(a, two());
    case 'link-loss':
      return net.loss(a, two(), f.lossPct ?? 10);
    case 'link-delay':
      return net.delay(a, two(), f.delayMs ?? 200);
  }
}
