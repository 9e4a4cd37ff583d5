/**
 * An LFD's relaunches on the RM's order: the command line each accepted server is kept with
 * (commands.ts), the launch itself (launcher.ts), and the port a server this LFD never ran
 * gets from --replica-ports, held until it registers.
 */
import type { Message } from '../lib/protocol/index.js';
import type { Tracer } from '../lib/trace/index.js';
import type { PortRange } from '../lib/config/values.js';
import { parseAddress } from '../lib/net/address.js';
import { CommandStore } from './commands.js';
import { Launcher, choosePort, portOf, templateCommand } from './launcher.js';

/** What the relauncher asks of its LFD. */
export interface RelaunchHost {
  readonly name: string;
  readonly tracer: Tracer;
  /** The LFD is running (not starting or stopping). */
  running(): boolean;
  /** A server of that name is connected here. */
  connected(server: string): boolean;
  /** The addresses of the servers registered here. */
  addresses(): Iterable<string>;
  /** Send to the GFD (dropped when it is not connected). */
  toGfd(msg: Message): void;
}

export class Relauncher {
  /** The command line each server registered with, kept after it dies so it can be relaunched. */
  private readonly commands: CommandStore;
  private readonly launcher: Launcher;
  /** New servers being started on a port of --replica-ports, until they register (0: the port is being chosen). */
  private readonly newPorts = new Map<string, number>();

  constructor(
    private readonly lfd: RelaunchHost,
    stateDir: string | undefined,
    private readonly replicaPorts: PortRange | undefined,
    owner: { gfd: string; lfd: string },
  ) {
    this.launcher = new Launcher(lfd.tracer);
    this.commands = new CommandStore(stateDir, owner);
  }

  private trace(type: string, category: Parameters<Tracer['emitEvent']>[1], text: string, data?: Record<string, unknown>): void {
    this.lfd.tracer.emitEvent(type, category, text, data);
  }

  /** Command lines kept by an earlier run of this LFD. */
  load(): void {
    const names = this.commands.load();
    if (names.length) this.trace('commands_loaded', 'info', `${this.lfd.name}: can relaunch ${names.join(', ')} (from ${this.commands.file})`);
  }

  /** `server` registered: it is launching no more, and its port is its own. */
  registered(server: string): void {
    this.launcher.registered(server);
    this.newPorts.delete(server);
  }

  /** The system accepted `server`: `command` is the one to relaunch it with. */
  learn(server: string, command: string[]): void {
    try {
      if (this.commands.learn(server, command)) {
        this.trace('command_learned', 'info', `${this.lfd.name}: keeps ${server}'s command line to relaunch it${this.commands.file ? ` (in ${this.commands.file})` : ''}`, { server });
      }
    } catch (err) {
      this.trace('commands_unsaved', 'fault', `${this.lfd.name}: cannot save command lines to ${this.commands.file}: ${(err as Error).message}`);
    }
  }

  /** A line for every server launched here (they hear only us). */
  tell(line: string): void {
    this.launcher.tell(line);
  }

  stopAll(): Promise<void> {
    return this.launcher.stopAll();
  }

  /**
   * Start server `name` with the command it registered with; a server this LFD never ran
   * starts with a sibling's command, under its own name and in `group`, on a port of --replica-ports (else any free port).
   */
  async launch(name: string, group: string): Promise<void> {
    const lfd = this.lfd;
    const fail = (reason: string) => {
      this.trace('launch_failed', 'fault', `${lfd.name}: cannot launch ${name}: ${reason}`, { server: name, reason });
      lfd.toGfd({ type: 'launchFailed', lfd: lfd.name, server: name, reason });
    };
    if (!lfd.running()) return;
    if (lfd.connected(name) || this.newPorts.has(name)) return fail(`${name} is already running here`);
    let command = this.commands.get(name);
    if (!command) {
      const template = this.commands.template();
      if (!template) return fail('no server has registered here, so there is no command line to start it with');
      const range = this.replicaPorts;
      const taken = this.portsInUse();
      this.newPorts.set(name, 0);
      const port = range ? await choosePort(range, taken) : 0;
      this.newPorts.delete(name);
      if (port === undefined) return fail(`no free port left in --replica-ports ${range!.first}-${range!.last}`);
      if (!lfd.running()) return;
      command = templateCommand(template, name, port, group)!;
      if (port) this.newPorts.set(name, port);
    }
    this.launcher.launch(name, command, {
      launched: (pid) => this.trace('launched', 'membership', `${lfd.name}: launched ${name} (pid ${pid})`, { server: name, pid, port: portOf(command) }),
      failed: (reason) => {
        this.newPorts.delete(name);
        fail(reason);
      },
    });
  }

  /** Ports this LFD's servers hold or will hold: registered, being started, or in a kept command line. */
  private portsInUse(): Set<number> {
    const ports = new Set<number>(this.newPorts.values());
    for (const addr of this.lfd.addresses()) ports.add(parseAddress(addr).port);
    for (const cmd of this.commands.all()) {
      const port = portOf(cmd);
      if (port !== undefined) ports.add(port);
    }
    return ports;
  }
}
