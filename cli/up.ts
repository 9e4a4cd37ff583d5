/**
 * `ftkit up --config deployment.ini`: start, on this machine, every component the file places
 * here (its host is one of this machine's addresses, or --machine), each as a child process with
 * the command line a user would type (`ftkit lfd LFD2 --config deployment.ini`), its output
 * prefixed with its name; Ctrl-C (SIGINT), SIGTERM or SIGHUP stops them all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Chalk, type ChalkInstance } from 'chalk';
import { ConfigError } from '../lib/errors.js';
import { PARENT_PIPE_ENV } from '../lib/detect/parent.js';
import { colorEnabled } from '../lib/trace/index.js';
import { loadSecurity, type SecurityFiles } from '../lib/config/secrets.js';
import { commandFor, componentName, deploymentComponents, isOneOf, type PlannedComponent } from '../lib/config/deployment.js';
import { exitWith, type Opts, type Runner } from './process.js';

/** How long stopping children get before SIGKILL. */
const STOP_GRACE_MS = 3000;
const PREFIX_COLORS = ['cyan', 'magenta', 'yellow', 'green', 'blue', 'red', 'white', 'gray'] as const;
/** Options `up` hands on to every component it starts. */
const HANDED_ON: Array<[key: string, flag: string]> = [
  ['json', '--json'],
  ['quiet', '--quiet'],
  ['quietHeartbeats', '--quiet-heartbeats'],
];

/** This machine's addresses (every interface's), or the one --machine names. */
export function machineAddresses(machine: string | undefined): Set<string> {
  if (machine !== undefined) return new Set([machine.replace(/^\[(.*)\]$/, '$1')]);
  return new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)));
}

const lookupAll = async (name: string) => (await lookup(name, { all: true })).map((a) => a.address);

export const up: Runner = async (o) => {
  if (!o.config) exitWith(2, 'up', 'name the deployment file: ftkit up --config deployment.ini');
  const file = resolve(o.config as string);
  let plan: PlannedComponent[];
  try {
    plan = deploymentComponents(file);
  } catch (err) {
    exitWith(2, 'up', (err as Error).message);
  }
  const here = machineAddresses(o.machine as string | undefined);
  const mine: PlannedComponent[] = [];
  for (const c of plan) {
    if (c.kind === 'client' ? o.clients === true : c.host !== undefined && (await isOneOf(c.host, here, lookupAll))) mine.push(c);
  }
  if (mine.length === 0) {
    const hosts = [...new Set(plan.flatMap((c) => (c.host ? [c.host] : [])))];
    exitWith(2, 'up', `none of the hosts in ${file} (${hosts.join(', ') || 'none'}) is ${o.machine ? `--machine ${o.machine as string}` : `an address of this machine (${[...here].join(', ')})`}: run it on one of those machines, or name one with --machine ADDR`);
  }
  // A missing or bad secret or TLS file ends here, before anything starts.
  for (const c of mine) {
    try {
      loadSecurity(c.values as SecurityFiles, { listens: c.kind !== 'client', dials: c.kind !== 'rm' });
    } catch (err) {
      if (err instanceof ConfigError) exitWith(2, 'up', `${componentName(c)}: ${err.message}`);
      throw err;
    }
  }
  const extra = HANDED_ON.filter(([key]) => o[key] === true).map(([, flag]) => flag).concat(o.color === false ? ['--no-color'] : [], o.metrics === false ? ['--no-metrics'] : []);
  const commands = mine.map((c) => ({ name: componentName(c), args: [...commandFor(c, file), ...extra] }));
  if (o.dryRun) {
    for (const c of commands) process.stdout.write(`ftkit ${c.args.join(' ')}\n`);
    return;
  }
  new Up(o, file, plan).start(commands);
};

class Up {
  private readonly chalk: ChalkInstance;
  private readonly color: boolean;
  private readonly children = new Map<string, ChildProcess>();
  private readonly prefixes = new Map<string, string>();
  private stopping = false;

  constructor(
    private readonly o: Opts,
    private readonly file: string,
    private readonly plan: PlannedComponent[],
  ) {
    this.color = colorEnabled(o.color === false ? false : undefined);
    this.chalk = new Chalk({ level: this.color ? 1 : 0 });
  }

  start(commands: Array<{ name: string; args: string[] }>): void {
    this.say(`starting ${commands.map((c) => c.name).join(', ')} from ${this.file}`);
    for (const c of commands) this.spawn(c.name, c.args);
    const clients = this.plan.filter((c) => c.kind === 'client' && !this.children.has(c.section));
    if (clients.length) this.say(`clients are started by hand (or with --clients): ${clients.map((c) => `ftkit ${commandFor(c, this.file).join(' ')}`).join(' · ')}`);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => void this.stop().then(() => process.exit(0)));
  }

  private say(text: string): void {
    process.stdout.write(`${this.chalk.bold('up'.padEnd(5))} │ ${text}\n`);
  }

  /** A fixed-width, coloured name per process. */
  private prefix(name: string): string {
    let p = this.prefixes.get(name);
    if (!p) this.prefixes.set(name, (p = this.chalk[PREFIX_COLORS[this.prefixes.size % PREFIX_COLORS.length]!](name.padEnd(5)) + ' │ '));
    return p;
  }

  private spawn(name: string, args: string[]): void {
    // Colour survives the pipe when this terminal shows it; a child without a terminal of its own goes with us (its stdin is our pipe).
    const env = { ...process.env, [PARENT_PIPE_ENV]: '1', ...(this.color ? { FORCE_COLOR: '1' } : {}) };
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.children.set(name, child);
    const json = this.o.json === true;
    const relay = (line: string) => process.stdout.write(json && line.startsWith('{') ? `${line}\n` : `${this.prefix(name)}${line}\n`);
    createInterface({ input: child.stdout! }).on('line', relay);
    createInterface({ input: child.stderr! }).on('line', relay);
    child.on('spawn', () => this.say(`${name} (pid ${child.pid}): ftkit ${args.join(' ')}`));
    child.on('error', (err) => this.say(this.chalk.red(`${name}: cannot start: ${err.message}`)));
    child.on('exit', (code, signal) => {
      this.children.delete(name);
      if (this.stopping) return;
      this.say(this.chalk.red(`${name} exited (${signal ?? `status ${code}`})`));
      if (this.children.size === 0) {
        this.say('nothing left running');
        process.exit(1);
      }
    });
  }

  /** SIGTERM (and SIGCONT, for a stopped one) to every child, SIGKILL to any still there after a grace period. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const running = [...this.children];
    if (running.length) this.say(`stopping ${running.map(([name]) => name).join(', ')}`);
    await Promise.all(
      running.map(
        ([, child]) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
            child.once('exit', () => {
              clearTimeout(timer);
              done();
            });
            child.kill('SIGTERM');
            child.kill('SIGCONT');
          }),
      ),
    );
    this.say('stopped');
  }
}
