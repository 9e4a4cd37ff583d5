/**
 * Machines on one network, inside this one: each host is a Linux network namespace with its own
 * address, plugged into a bridge (a switch) that lives in a namespace of its own. Real ftkit
 * processes run on a host with the command lines a user would type there (`ip netns exec <ns>
 * node ftkit.js …`, followed like any Proc). Network faults between hosts are injected in the
 * switch, so no host's stack notices anything but silence, as in a real partition:
 *
 * - `cutHost(h)`: h is off the network (its own loopback still works);
 * - `cutLink(a, b)`: nothing passes between a and b, either way (a partial partition);
 * - `cutOneWay(from, to)`: packets from `from` to `to` are lost, the other way passes;
 * - `loss(a, b, pct)`: each packet between a and b is lost with that probability, both ways;
 * - `delay(a, b, ms)`: each packet between a and b waits `ms` more, both ways.
 *
 * Every fault returns a handle to heal it; `heal()` heals them all; `destroy()` stops every
 * process started on the hosts, then removes the namespaces (the bridge and the links go with
 * them). Cuts and loss are nftables rules in the switch's bridge `forward` chain (IPv4 only: ARP
 * keeps working, so no neighbour entry fails and no socket gets EHOSTUNREACH); delay diverts the
 * packets through a delay line in the switch (delay-line.ts; the kernels here have no netem
 * qdisc). The switch being a namespace rather than the root one, the hosts'
 * subnet can be anything (the course's 10.0.0.x) without touching this machine's own routes,
 * and parallel networks with the same addresses do not meet.
 *
 * Creating a network first removes the namespaces a creator that is gone left behind
 * (namespaces.ts). Needs root, `ip` (iproute2), `nft` (nftables) and, for delay, `tc` (iproute2)
 * and python3.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ProcGroup, type Proc, type ProcOptions } from './proc.js';
import { DELAY_LINE } from './delay-line.js';
import { HostsError, NAME, live, networkPrefix, removeLeftovers, removeNamespace, sh, tool } from './namespaces.js';

export { HostsError, removeLeftovers };

export interface HostsOptions {
  /** Each host by its label (letters, digits, `_`; at most 8 characters) and its IPv4 address. */
  hosts: Record<string, string>;
  /** The prefix length of the hosts' subnet (default 24). */
  prefixLength?: number;
}

/** A fault in place; `heal()` takes it away (once). */
export interface Fault {
  readonly what: string;
  heal(): Promise<void>;
}

/** One machine: a namespace with one interface (`eth0`) on the switch. */
export class Host {
  constructor(
    private readonly net: Hosts,
    readonly label: string,
    readonly addr: string,
    /** Its network namespace. */
    readonly ns: string,
    /** Its port on the switch (an interface in the switch's namespace). */
    readonly port: string,
  ) {}

  /** The command prefix that runs a command on this host. */
  get prefix(): string[] {
    return [this.net.ip, 'netns', 'exec', this.ns];
  }

  /** Start `ftkit <args>` on this host, followed like any Proc (and stopped by destroy()). */
  spawn(name: string, args: string[], options: Omit<ProcOptions, 'prefix'> = {}): Proc {
    return this.net.group.spawn(name, args, { ...options, prefix: this.prefix });
  }

  /** Start any command on this host (stdio piped); destroy() kills it if it is still running. */
  command(cmd: string[]): ChildProcess {
    const child = spawn(this.prefix[0]!, [...this.prefix.slice(1), ...cmd], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.net.commands.add(child);
    child.once('exit', () => this.net.commands.delete(child));
    return child;
  }

  /** Run a command on this host to its end; resolves with its stdout, rejects with its stderr. */
  run(cmd: string[]): Promise<string> {
    return sh([...this.prefix, ...cmd]);
  }
}

export class Hosts {
  /** Every ftkit process started on the hosts. */
  readonly group = new ProcGroup();
  /** Other commands started on the hosts. */
  readonly commands = new Set<ChildProcess>();
  readonly hosts = new Map<string, Host>();
  readonly ip = tool('ip');
  private readonly faults = new Set<Fault>();
  private nextLine = 0;
  private readonly clsactPorts = new Set<string>();
  private destroyed = false;
  /** Made by another process (attach()): destroy() leaves the namespaces to it. */
  private attached = false;

  private constructor(
    /** The names of this network's namespaces start with it. */
    readonly prefix: string,
    private readonly nft: string,
  ) {}

  /** The switch's namespace. */
  get switchNs(): string {
    return `${this.prefix}-sw`;
  }

  /**
   * Make the network: the switch, then each host with its address. Fails with a HostsError
   * saying why if namespaces cannot be made (not root, no iproute2, no nftables).
   */
  static async create(options: HostsOptions): Promise<Hosts> {
    if (process.platform !== 'linux') throw new HostsError(`namespace hosts need Linux (this is ${process.platform})`);
    if (process.getuid?.() !== 0) throw new HostsError('namespace hosts need root (ip netns add): run the tests as root');
    const entries = Object.entries(options.hosts);
    for (const [label, addr] of entries) {
      if (!/^[A-Za-z0-9_]{1,8}$/.test(label)) throw new HostsError(`host label ${JSON.stringify(label)}: letters, digits and _ only, at most 8`);
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(addr)) throw new HostsError(`host ${label}: ${JSON.stringify(addr)} is not an IPv4 address`);
    }
    if (new Set(entries.map(([, a]) => a)).size !== entries.length) throw new HostsError('two hosts have the same address');
    await removeLeftovers();
    const net = new Hosts(networkPrefix(), tool('nft'));
    live.add(net.prefix);
    try {
      const ip = net.ip;
      const sw = net.switchNs;
      await sh([ip, 'netns', 'add', sw]).catch((err: Error) => {
        throw new HostsError(`cannot create a network namespace (${err.message}): the namespace hosts need root and a kernel with network namespaces`);
      });
      await sh([ip, '-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
      await sh([ip, '-n', sw, 'link', 'set', 'br0', 'up']);
      await sh([ip, 'netns', 'exec', sw, net.nft, '-f', '-'], 'table bridge ftkit {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n  }\n}\n');
      const prefixLength = options.prefixLength ?? 24;
      await Promise.all(
        entries.map(async ([label, addr], i) => {
          const host = new Host(net, label, addr, `${net.prefix}-${label}`, `p${i}`);
          net.hosts.set(label, host);
          await sh([ip, 'netns', 'add', host.ns]);
          await sh([ip, 'link', 'add', 'eth0', 'netns', host.ns, 'type', 'veth', 'peer', 'name', host.port, 'netns', sw]);
          await sh([ip, '-n', sw, 'link', 'set', host.port, 'master', 'br0', 'up']);
          await sh([ip, '-n', host.ns, 'addr', 'add', `${addr}/${prefixLength}`, 'dev', 'eth0']);
          await sh([ip, '-n', host.ns, 'link', 'set', 'eth0', 'up']);
          await sh([ip, '-n', host.ns, 'link', 'set', 'lo', 'up']);
        }),
      );
    } catch (err) {
      await net.destroy();
      throw err;
    }
    return net;
  }

  /**
   * A network another process made with create() (its `prefix` and the same options), e.g. from
   * a process that runs inside one of its hosts: faults and spawns work as on the creator's;
   * destroy() heals this process's faults and stops its processes, and leaves the namespaces
   * to their creator.
   */
  static attach(prefix: string, options: HostsOptions): Hosts {
    if (!NAME.test(`${prefix}-`)) throw new HostsError(`${JSON.stringify(prefix)} is not the prefix of a namespace hosts network`);
    const net = new Hosts(prefix, tool('nft'));
    net.attached = true;
    Object.entries(options.hosts).forEach(([label, addr], i) => net.hosts.set(label, new Host(net, label, addr, `${prefix}-${label}`, `p${i}`)));
    return net;
  }

  host(label: string): Host {
    const h = this.hosts.get(label);
    if (!h) throw new HostsError(`no host ${label} (hosts: ${[...this.hosts.keys()].join(', ')})`);
    return h;
  }

  /** A host by label or the host itself. */
  private the(h: Host | string): Host {
    return typeof h === 'string' ? this.host(h) : h;
  }

  // ---- faults ------------------------------------------------------------------------

  /** Add nftables rules to the switch; the fault deletes them by handle. */
  private async rules(what: string, rules: string[]): Promise<Fault> {
    const handles: number[] = [];
    const remove = async () => {
      for (const h of handles.splice(0)) await this.nftIn(['delete', 'rule', 'bridge', 'ftkit', 'forward', 'handle', String(h)]).catch(() => undefined);
    };
    try {
      for (const rule of rules) {
        const out = await this.nftIn(['--echo', '--handle', 'add', 'rule', 'bridge', 'ftkit', 'forward', ...rule.split(' ')]);
        const m = /# handle (\d+)/.exec(out);
        if (!m) throw new HostsError(`nft did not say the handle of the rule it added (${out.trim()})`);
        handles.push(Number(m[1]));
      }
    } catch (err) {
      await remove();
      throw err;
    }
    return this.track(what, remove);
  }

  private track(what: string, remove: () => Promise<void>): Fault {
    let healed: Promise<void> | undefined;
    const fault: Fault = {
      what,
      heal: () => {
        this.faults.delete(fault);
        healed ??= remove();
        return healed;
      },
    };
    this.faults.add(fault);
    return fault;
  }

  private nftIn(args: string[]): Promise<string> {
    return sh([this.ip, 'netns', 'exec', this.switchNs, this.nft, ...args]);
  }

  private tcIn(args: string[]): Promise<string> {
    return sh([this.ip, 'netns', 'exec', this.switchNs, tool('tc'), ...args]);
  }

  /** `h` is off the network: nothing it sends arrives, nothing sent to it arrives. */
  cutHost(h: Host | string): Promise<Fault> {
    const { addr, label } = this.the(h);
    return this.rules(`${label} cut off`, [`ip saddr ${addr} drop`, `ip daddr ${addr} drop`]);
  }

  /** Nothing passes between `a` and `b`, either way; both still reach every other host. */
  cutLink(a: Host | string, b: Host | string): Promise<Fault> {
    const [x, y] = [this.the(a), this.the(b)];
    return this.rules(`${x.label} -/- ${y.label}`, [`ip saddr ${x.addr} ip daddr ${y.addr} drop`, `ip saddr ${y.addr} ip daddr ${x.addr} drop`]);
  }

  /** Packets from `from` to `to` are lost; the other way passes. */
  cutOneWay(from: Host | string, to: Host | string): Promise<Fault> {
    const [x, y] = [this.the(from), this.the(to)];
    return this.rules(`${x.label} -/-> ${y.label}`, [`ip saddr ${x.addr} ip daddr ${y.addr} drop`]);
  }

  /** Each packet between `a` and `b` (either way) is lost with probability `pct` %. */
  loss(a: Host | string, b: Host | string, pct: number): Promise<Fault> {
    if (!(Number.isInteger(pct) && pct >= 0 && pct <= 100)) throw new HostsError(`loss: ${pct} is not a whole percentage`);
    const [x, y] = [this.the(a), this.the(b)];
    const lose = `numgen random mod 100 < ${pct} drop`;
    return this.rules(`${x.label} <-${pct}% lost-> ${y.label}`, [`ip saddr ${x.addr} ip daddr ${y.addr} ${lose}`, `ip saddr ${y.addr} ip daddr ${x.addr} ${lose}`]);
  }

  /**
   * Each IPv4 packet between `a` and `b` waits `ms` more, each way (a round trip takes 2 × ms
   * more), on the connections already open as on new ones. A delay line (delay-line.ts) in the
   * switch holds the packets; the fault's heal stops diverting them, lets the line send what it
   * holds, and unplugs it.
   */
  async delay(a: Host | string, b: Host | string, ms: number): Promise<Fault> {
    if (!(ms >= 0 && ms <= 60_000)) throw new HostsError(`delay: ${ms} ms is out of range`);
    const [x, y] = [this.the(a), this.the(b)];
    const n = this.nextLine++;
    const [plug, line] = [`dl${n}a`, `dl${n}b`];
    const undo: Array<() => Promise<unknown>> = [];
    const remove = async () => {
      for (const u of undo.splice(0).reverse()) await u().catch(() => undefined);
    };
    try {
      const sw = this.switchNs;
      await sh([this.ip, '-n', sw, 'link', 'add', plug, 'type', 'veth', 'peer', 'name', line]);
      undo.push(() => sh([this.ip, '-n', sw, 'link', 'del', plug]));
      await sh([this.ip, '-n', sw, 'link', 'set', plug, 'master', 'br0']);
      await sh([this.ip, '-n', sw, 'link', 'set', plug, 'type', 'bridge_slave', 'learning', 'off', 'flood', 'off', 'mcast_flood', 'off', 'bcast_flood', 'off']);
      await sh([this.ip, '-n', sw, 'link', 'set', plug, 'up']);
      await sh([this.ip, '-n', sw, 'link', 'set', line, 'up']);
      const stopLine = await this.startDelayLine(line, ms);
      undo.push(stopLine);
      for (const [from, to] of [[x, y], [y, x]] as const) {
        await this.ensureClsact(from.port);
        const prio = String(10 + n);
        await this.tcIn(['filter', 'add', 'dev', from.port, 'ingress', 'protocol', 'ip', 'prio', prio, 'u32', 'match', 'ip', 'src', `${from.addr}/32`, 'match', 'ip', 'dst', `${to.addr}/32`, 'action', 'mirred', 'egress', 'redirect', 'dev', plug]);
        undo.push(() => this.tcIn(['filter', 'del', 'dev', from.port, 'ingress', 'protocol', 'ip', 'prio', prio]));
      }
    } catch (err) {
      await remove();
      throw err;
    }
    return this.track(`${x.label} <-${ms} ms-> ${y.label}`, remove);
  }

  /** Start a delay line on `dev` in the switch; resolves once it listens, with a function that drains and stops it. */
  private startDelayLine(dev: string, ms: number): Promise<() => Promise<void>> {
    const child = spawn(this.ip, ['netns', 'exec', this.switchNs, tool('python3'), '-c', DELAY_LINE, dev, String(ms)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.commands.add(child);
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    void exited.then(() => this.commands.delete(child));
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve, reject) => {
      child.once('error', (err) => reject(new HostsError(`delay line: ${err.message}`)));
      child.stdout!.once('data', () =>
        resolve(async () => {
          child.stdin!.end();
          await exited;
        }),
      );
      void exited.then(() => reject(new HostsError(`delay line on ${dev} ended before it was ready: ${stderr.trim() || `exit ${child.exitCode}`}`)));
    });
  }

  /** The clsact qdisc on a switch port, where a delay's filters pick packets out as they arrive. */
  private async ensureClsact(port: string): Promise<void> {
    if (this.clsactPorts.has(port)) return;
    await this.tcIn(['qdisc', 'add', 'dev', port, 'clsact']);
    this.clsactPorts.add(port);
  }

  /** The faults in place. */
  get active(): string[] {
    return [...this.faults].map((f) => f.what);
  }

  /** Heal every fault. */
  async heal(): Promise<void> {
    for (const f of [...this.faults]) await f.heal();
  }

  /** Stop every process started on the hosts, then remove the hosts and the switch. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.attached) await this.heal();
    await this.group.stopAll();
    for (const child of this.commands) child.kill('SIGKILL');
    if (this.attached) return;
    // anything still inside (a server an LFD launched and did not stop) is ours: removeNamespace ends it
    for (const h of this.hosts.values()) await removeNamespace(this.ip, h.ns);
    await removeNamespace(this.ip, this.switchNs);
    live.delete(this.prefix);
  }
}
