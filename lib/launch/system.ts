/**
 * Start a whole ftkit system on 127.0.0.1 as real processes on ephemeral ports:
 * RM, GFD, one LFD per machine and one server per LFD. Every listener takes port 0
 * and the harness reads the real address from its `listening` event.
 */
import type { Mode } from '../protocol/index.js';
import { Proc, ProcGroup } from './proc.js';

export interface SystemOptions {
  mode?: Mode;
  app?: 'status' | 'counter' | 'log';
  /** Seconds, for both LFD and GFD heartbeats. */
  heartbeat?: number;
  checkpointFreq?: number;
  replicas?: number;
  /** Extra flags for the RM. */
  rmArgs?: string[];
  json?: boolean;
}

export class System {
  readonly group = new ProcGroup();
  rmAddr = '';
  gfdAddr = '';
  readonly lfdAddrs = new Map<string, string>();
  readonly serverAddrs = new Map<string, string>();

  constructor(readonly options: SystemOptions = {}) {}

  private get common(): string[] {
    return this.options.json === false ? ['--no-color'] : ['--json'];
  }

  get rm(): Proc {
    return this.group.get('RM');
  }
  get gfd(): Proc {
    return this.group.get('GFD');
  }
  proc(name: string): Proc {
    return this.group.get(name);
  }

  async startRm(): Promise<Proc> {
    const args = ['rm', '--port', '0', '--mode', this.options.mode ?? 'passive', ...(this.options.rmArgs ?? []), ...this.common];
    const rm = this.group.spawn('RM', args);
    this.rmAddr = await rm.address();
    return rm;
  }

  async startGfd(): Promise<Proc> {
    const hb = String(this.options.heartbeat ?? 0.1);
    const gfd = this.group.spawn('GFD', ['gfd', '--port', '0', '--rm', this.rmAddr, '--heartbeat-freq', hb, ...this.common]);
    this.gfdAddr = await gfd.address();
    return gfd;
  }

  async startLfd(name: string): Promise<Proc> {
    const hb = String(this.options.heartbeat ?? 0.1);
    const lfd = this.group.spawn(name, ['lfd', name, '--port', '0', '--gfd', this.gfdAddr, '--heartbeat-freq', hb, ...this.common]);
    this.lfdAddrs.set(name, await lfd.address());
    return lfd;
  }

  /** Start server `name` registering with `lfd` (the LFD with the same number by default). */
  async startServer(name: string, lfd = `LFD${name.replace(/^\D+/, '')}`): Promise<Proc> {
    const args = ['server', name, '--port', '0', '--lfd', this.lfdAddrs.get(lfd)!, '--app', this.options.app ?? 'status'];
    args.push('--checkpoint-freq', String(this.options.checkpointFreq ?? 1), ...this.common);
    const server = this.group.spawn(name, args);
    this.serverAddrs.set(name, await server.address());
    return server;
  }

  /** Start client `name` against the RM; extra flags e.g. ['--message', 'append {n}']. */
  startClient(name: string, args: string[] = []): Proc {
    return this.group.spawn(name, ['client', name, '--rm', this.rmAddr, ...args, ...this.common]);
  }

  /** Run a one-shot client that sends `payload` once and resolves with the result. */
  async ask(name: string, payload: string): Promise<{ server: string; result: string }> {
    const c = this.startClient(name, ['--message', payload, '--count', '1', '--timeout', '1']);
    const done = await c.waitFor((e) => e.type === 'request_done', 20_000);
    await c.exited;
    return done.data as { server: string; result: string };
  }

  /** RM, GFD, LFD1..n and S1..n; resolves when the RM reports all n members. */
  async start(): Promise<this> {
    const n = this.options.replicas ?? 3;
    await this.startRm();
    await this.startGfd();
    for (let i = 1; i <= n; i++) await this.startLfd(`LFD${i}`);
    for (let i = 1; i <= n; i++) await this.startServer(`S${i}`);
    await this.rm.waitFor((e) => e.type === 'membership_changed' && (e.data as { count: number }).count === n);
    return this;
  }

  stop(): Promise<void> {
    return this.group.stopAll();
  }
}
