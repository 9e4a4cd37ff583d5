/**
 * Start a whole ftkit system on 127.0.0.1 as real processes on ephemeral ports:
 * RM, GFD, one LFD per machine and one server per LFD. Every listener takes port 0
 * and the harness reads the real address from its `listening` event. Without an RM (the
 * course's milestones 1–3) the servers and clients are given the group instead, on fixed ports.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Mode } from '../../lib/protocol/index.js';
import type { AppName } from '../../servers/core/apps.js';
import type { Security } from '../../lib/net/index.js';
import { ensureSecret, loadSecurity, SECRET_FILE_NAME } from '../../lib/config/secrets.js';
import { ctlRequest, type CtlRequest } from '../../clients/ctl.js';
import { Proc, ProcGroup } from './proc.js';

/** TLS files for every component of a system (paths to PEM files). */
export interface SystemTls {
  cert: string;
  key: string;
  ca: string;
}

export interface SystemOptions {
  mode?: Mode;
  app?: AppName;
  /** Seconds, for both LFD and GFD heartbeats. */
  heartbeat?: number;
  /**
   * Seconds an LFD or the GFD waits for a heartbeat answer (default: the components' own,
   * 2 × heartbeat). A crash is seen at once through the closed connection whatever this is;
   * a longer timeout only makes a busy machine less likely to suspect a live process.
   */
  heartbeatTimeout?: number;
  checkpointFreq?: number;
  /** Replicas per group (default 3). */
  replicas?: number;
  /**
   * Replica groups (default 1): g1 is S1…Sn, g2 the next n, and so on, over `machines` LFDs; the
   * first replica of group gk is on LFDk (mod machines), so their leaders start on different machines.
   */
  groups?: number;
  /** LFDs (machines) when there are several groups (default: replicas per group). */
  machines?: number;
  /** Extra flags for the RM. */
  rmArgs?: string[];
  /** The RM relaunches dead replicas (default true); false for tests that restart them by hand. */
  autoRestart?: boolean;
  json?: boolean;
  /** Fixed ports instead of ephemeral ones: RM base, GFD base+1, LFDi base+100+i, Si base+200+i. */
  basePort?: number;
  /** Extra environment for the server processes (e.g. FTKIT_FAULT to inject a deliberate bug). */
  serverEnv?: NodeJS.ProcessEnv;
  /** Extra flags for every server (e.g. ['--quiet']). */
  serverArgs?: string[];
  /** Keep each replica on disk, in a folder of its own under this one (`--data-dir DIR/<name>`). */
  dataDir?: string;
  /** Every component leaves out heartbeat lines (`--quiet-heartbeats`; a failed one still prints). */
  quietHeartbeats?: boolean;
  /** Every process in a session of its own (see ProcOptions.detached): the demo. */
  detached?: boolean;
  /** Every component leaves out per-request and heartbeat lines (`--quiet --quiet-heartbeats`), as a production deployment would run. */
  quiet?: boolean;
  /** The LFDs' --state-dir (default: a fresh temp folder, removed by stop()). */
  stateDir?: string;
  /**
   * LFDs kill a server that stops answering before reporting it failed (default: as autoRestart,
   * since without automatic restart nobody would replace it; harnesses that pause replicas and
   * resume them, to test what a resumed one does, keep it off).
   */
  fence?: boolean;
  /**
   * The deployment secret every component proves: a file (made if missing), or false to run
   * open (no secret at all). Default: a fresh secret in the system's state folder.
   */
  secretFile?: string | false;
  /** Extra secrets: administration and clients (files; the harness makes them if missing). */
  adminSecretFile?: string;
  clientSecretFile?: string;
  /** Run every link over TLS with these files. */
  tls?: SystemTls;
  /**
   * An RM (default true). Without one (milestones 1–3) the servers are told their group at start
   * (`--static` for one, else `--group S1=…,… --mode`), the clients are given it (`--servers`),
   * and the GFD runs `--no-rm`; this needs `basePort`, since every address is known in advance.
   */
  rm?: boolean;
  /** A GFD (default true); without one (milestone 1) the LFDs run `--no-gfd`. */
  gfd?: boolean;
  /** Measure and report metrics (default true); false runs every component `--no-metrics`. */
  metrics?: boolean;
}

export class System {
  readonly group: ProcGroup;
  rmAddr = '';
  gfdAddr = '';
  readonly lfdAddrs = new Map<string, string>();
  readonly serverAddrs = new Map<string, string>();
  private ownStateDir: string | undefined;
  private ownSecurity: Security | undefined;
  /** The secret file, made once (every spawned component is given it). */
  private ownSecretFile: string | undefined;

  constructor(readonly options: SystemOptions = {}) {
    if (options.rm === false && options.basePort === undefined) throw new Error('a system without an RM needs fixed ports (basePort): its members are given their addresses');
    if (options.gfd === false && options.rm !== false) throw new Error('a system with an RM needs a GFD');
    this.group = new ProcGroup({ detached: options.detached });
  }

  get hasRm(): boolean {
    return this.options.rm !== false;
  }

  get hasGfd(): boolean {
    return this.options.gfd !== false;
  }

  /** The replicas' names: S1…Sn (every group's, in group order). */
  get servers(): string[] {
    return Array.from({ length: (this.options.replicas ?? 3) * this.groupCount }, (_, i) => `S${i + 1}`);
  }

  get groupCount(): number {
    return this.options.groups ?? 1;
  }

  /** The LFDs: LFD1…LFDm. */
  get machines(): string[] {
    const m = this.groupCount > 1 ? (this.options.machines ?? this.options.replicas ?? 3) : (this.options.replicas ?? 3);
    return Array.from({ length: m }, (_, i) => `LFD${i + 1}`);
  }

  /** The group names: g1…gk. */
  get groupNames(): string[] {
    return Array.from({ length: this.groupCount }, (_, i) => `g${i + 1}`);
  }

  /** The group of server `name` (S1…). */
  groupOf(name: string): string {
    const k = Number(name.replace(/^\D+/, ''));
    return `g${Math.floor((k - 1) / (this.options.replicas ?? 3)) + 1}`;
  }

  /** The servers of group `group`. */
  serversOf(group: string): string[] {
    return this.servers.filter((s) => this.groupOf(s) === group);
  }

  /** The LFD server `name` starts on: its own number with one group; rotated by group with several. */
  homeOf(name: string): string {
    if (this.groupCount === 1) return `LFD${name.replace(/^\D+/, '')}`;
    const k = Number(name.replace(/^\D+/, '')) - 1;
    const n = this.options.replicas ?? 3;
    const g = Math.floor(k / n);
    return this.machines[((k % n) + g) % this.machines.length]!;
  }

  /** Without an RM: the group every server and client is given, `S1=127.0.0.1:7201,…`. */
  get members(): string {
    return this.servers.map((s) => `${s}=127.0.0.1:${this.port(s)}`).join(',');
  }

  /** Without an RM: what a server is told instead (its group and mode), or a client (whom to send to). */
  private staticArgs(use: 'server' | 'client'): string[] {
    if (this.hasRm) return [];
    const mode = this.options.mode ?? 'passive';
    if (this.servers.length === 1) return use === 'server' ? ['--static'] : ['--servers', this.members];
    return [use === 'server' ? '--group' : '--servers', this.members, '--mode', mode];
  }

  /** The LFDs' state folder: the one given, or this system's own, made when the first LFD starts and removed when it stops. */
  get stateDir(): string {
    if (this.options.stateDir !== undefined) return this.options.stateDir;
    this.ownStateDir ??= mkdtempSync(join(tmpdir(), 'ftkit-system-'));
    return this.ownStateDir;
  }

  /** The deployment secret's file, made on first use; undefined when the system runs open. */
  get secretFile(): string | undefined {
    if (this.options.secretFile === false) return undefined;
    if (this.ownSecretFile === undefined) {
      this.ownSecretFile = this.options.secretFile ?? join(this.stateDir, SECRET_FILE_NAME);
      ensureSecret(this.ownSecretFile);
    }
    return this.ownSecretFile;
  }

  /** Flags that give a component the system's secrets and TLS files. */
  securityArgs(use: 'component' | 'client' = 'component'): string[] {
    const o = this.options;
    const args: string[] = [];
    if (use === 'component') {
      const secret = this.secretFile;
      if (secret) args.push('--secret-file', secret);
      if (o.adminSecretFile) args.push('--admin-secret-file', (ensureSecret(o.adminSecretFile), o.adminSecretFile));
      if (o.tls) args.push('--tls-cert', o.tls.cert, '--tls-key', o.tls.key);
    }
    if (o.clientSecretFile) args.push('--client-secret-file', (ensureSecret(o.clientSecretFile), o.clientSecretFile));
    if (o.tls) args.push('--tls-ca', o.tls.ca);
    return args;
  }

  /** What an administrator of this system holds: its secrets and TLS CA (for ctl and tests). */
  get security(): Security {
    this.ownSecurity ??= loadSecurity(
      { secretFile: this.secretFile, adminSecretFile: this.options.adminSecretFile, clientSecretFile: this.options.clientSecretFile, tlsCa: this.options.tls?.ca },
      { listens: false, dials: true },
    ).security;
    return this.ownSecurity;
  }

  /** `ftkit ctl` against this system's RM, as its administrator. */
  ctl(req: CtlRequest, timeoutMs?: number): Promise<string> {
    return ctlRequest(this.rmAddr, req, { security: this.security, timeoutMs });
  }

  /** The port for a component: fixed when basePort is set, else 0 (any free port). */
  port(name: string): string {
    const base = this.options.basePort;
    if (base === undefined) return '0';
    if (name === 'RM') return String(base);
    if (name === 'GFD') return String(base + 1);
    const n = Number(name.replace(/^\D+/, ''));
    return String(base + (name.startsWith('LFD') ? 100 : 200) + n);
  }

  private get fencing(): boolean {
    return this.options.fence ?? (this.hasRm && this.options.autoRestart !== false);
  }

  private get timeoutArgs(): string[] {
    return this.options.heartbeatTimeout === undefined ? [] : ['--timeout', String(this.options.heartbeatTimeout)];
  }

  private get common(): string[] {
    return [...(this.options.json === false ? ['--no-color'] : ['--json']), ...(this.options.metrics === false ? ['--no-metrics'] : []), ...(this.options.quiet ? ['--quiet', '--quiet-heartbeats'] : this.options.quietHeartbeats ? ['--quiet-heartbeats'] : []), ...this.securityArgs()];
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

  /** Start the RM (on `port`, e.g. to restart it where it was; else the system's choice). */
  async startRm(port = this.port('RM')): Promise<Proc> {
    const groups = this.groupCount > 1 ? ['--groups', this.groupNames.join(',')] : [];
    const args = ['rm', '--port', port, '--mode', this.options.mode ?? 'passive', ...groups, ...(this.options.autoRestart === false ? ['--no-auto-restart'] : []), ...(this.options.rmArgs ?? []), ...this.common];
    const rm = this.group.spawn('RM', args);
    this.rmAddr = await rm.address();
    return rm;
  }

  /** Start the GFD (on `port`, e.g. to restart it where it was; else the system's choice). */
  async startGfd(port = this.port('GFD')): Promise<Proc> {
    const hb = String(this.options.heartbeat ?? 0.1);
    const rm = this.hasRm ? ['--rm', this.rmAddr] : ['--no-rm'];
    const gfd = this.group.spawn('GFD', ['gfd', '--port', port, ...rm, '--heartbeat-freq', hb, ...this.timeoutArgs, ...this.common]);
    this.gfdAddr = await gfd.address();
    return gfd;
  }

  /** Start LFD `name` (on `port`, e.g. to restart it where it was; else the system's choice). */
  async startLfd(name: string, port = this.port(name)): Promise<Proc> {
    const hb = String(this.options.heartbeat ?? 0.1);
    const gfd = this.hasGfd ? ['--gfd', this.gfdAddr] : ['--no-gfd'];
    const lfd = this.group.spawn(name, ['lfd', name, '--port', port, ...gfd, '--heartbeat-freq', hb, '--state-dir', this.stateDir, ...(this.fencing ? [] : ['--no-fence']), ...this.timeoutArgs, ...this.common]);
    this.lfdAddrs.set(name, await lfd.address());
    return lfd;
  }

  /** Start server `name` registering with `lfd` (the LFD with the same number by default). */
  async startServer(name: string, lfd = this.homeOf(name), extra: string[] = []): Promise<Proc> {
    const group = this.groupCount > 1 ? ['--group', this.groupOf(name)] : [];
    const disk = this.options.dataDir === undefined ? [] : ['--data-dir', join(this.options.dataDir, name)];
    const args = ['server', name, '--port', this.port(name), '--lfd', this.lfdAddrs.get(lfd)!, '--app', this.options.app ?? 'status', ...this.staticArgs('server'), ...group, ...disk, ...extra];
    args.push('--checkpoint-freq', String(this.options.checkpointFreq ?? 1), ...(this.options.serverArgs ?? []), ...this.common);
    const server = this.group.spawn(name, args, { env: this.options.serverEnv });
    this.serverAddrs.set(name, await server.address());
    return server;
  }

  /** Start client `name` against the RM (or given the replicas, without one); extra flags e.g. ['--message', 'append {n}']. */
  startClient(name: string, args: string[] = []): Proc {
    const to = this.hasRm ? ['--rm', this.rmAddr] : this.staticArgs('client');
    const metrics = this.options.metrics === false ? ['--no-metrics'] : [];
    return this.group.spawn(name, ['client', name, ...to, ...args, ...metrics, ...(this.options.json === false ? ['--no-color'] : ['--json']), ...this.securityArgs('client')]);
  }

  /**
   * `ftkit sync` between every group (the sns app). It holds the deployment secret, as a
   * component of the system, so that it can report its backlog to the RM.
   */
  startSync(): Proc {
    const secret = this.secretFile;
    const args = ['sync', '--rm', this.rmAddr, '--groups', this.groupNames.join(','), ...(secret ? ['--secret-file', secret] : []), ...this.securityArgs('client')];
    return this.group.spawn('sync', [...args, ...(this.options.json === false ? ['--no-color'] : ['--json'])]);
  }

  /** Run a one-shot client that sends `payload` once and resolves with the result. */
  async ask(name: string, payload: string): Promise<{ server: string; result: string }> {
    const c = this.startClient(name, ['--message', payload, '--count', '1', '--timeout', '1']);
    const done = await c.waitFor((e) => e.type === 'request_done', 20_000);
    await c.exited;
    return done.data as { server: string; result: string };
  }

  /**
   * RM, GFD, LFD1..n and S1..n; resolves when the RM reports all n members (without an RM, the
   * GFD; without a GFD either, when every server listens).
   */
  async start(): Promise<this> {
    const n = this.options.replicas ?? 3;
    if (this.hasRm) await this.startRm();
    if (this.hasGfd) await this.startGfd();
    for (const lfd of this.machines) await this.startLfd(lfd);
    for (const s of this.servers) await this.startServer(s);
    // The RM's report counts its members (per group, with several); the GFD's lists them. The RM
    // names the group only once it has more than one: until then every report is about g1.
    const counts = (group?: string) => (e: { type: string; data?: unknown }) => {
      const d = e.data as { count?: number; members?: string[]; group?: string } | undefined;
      return e.type === 'membership_changed' && (d?.count ?? d?.members?.length) === n && (group === undefined ? d?.group === undefined : (d?.group ?? 'g1') === group);
    };
    if (this.hasRm && this.groupCount > 1) for (const g of this.groupNames) await this.rm.waitFor(counts(g), 20_000);
    else if (this.hasRm) await this.rm.waitFor(counts());
    else if (this.hasGfd) await this.gfd.waitFor(counts());
    return this;
  }

  async stop(): Promise<void> {
    await this.group.stopAll();
    if (this.ownStateDir !== undefined) rmSync(this.ownStateDir, { recursive: true, force: true });
  }
}
