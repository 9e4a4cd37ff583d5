import { Command, Option } from 'commander';
import {
  CLIENT_OPTIONS,
  COMMON_OPTIONS,
  CTL_OPTIONS,
  DEMO_OPTIONS,
  GFD_OPTIONS,
  LFD_OPTIONS,
  RM_OPTIONS,
  SECTION_OPTION,
  SERVER_OPTIONS,
  SNS_OPTIONS,
  CHAT_OPTIONS,
  SYNC_OPTIONS,
  UP_OPTIONS,
  type OptionSpec,
} from '../lib/config/options.js';
import { name as parseName } from '../lib/config/values.js';
import { ConfigError, ValueError } from '../lib/errors.js';
import { addOptions, resolveOptions } from './options.js';
import type { Runner } from './process.js';
import { KEYS_HELP } from '../harness/demo/keys.js';

const DEMO_HELP = `
On a terminal:
${KEYS_HELP.map((l) => '  ' + l.replace(/^keys: /, '').replace(/^      /, '')).join('\n')}
q, Ctrl-C, SIGTERM and the end of --duration stop in order: every component is told the system is
stopping, then the clients stop, then the RM, then the rest; nothing of the stop is a fault.
--scenario m5 kills by role, from the RM's status: passive, the primary, the recovered replica again,
then another backup; active, replicas drawn from a seed (printed; --seed N repeats it).
--milestone N runs the course's milestone N (1-3 without an RM, 1 without a GFD, 4 relaunching by hand,
5 automatic); with --duration S a short script shows its rubric (docs/MILESTONES.md).
--app sns runs three groups, ftkit sync and users 1-4 posting; --app chat users chatting in a room;
each says how to open your own client beside them (ftkit sns -u 7 …, ftkit chat dave …).`;

/**
 * A subcommand's runner, loaded when it runs: a process loads only its own component (a server
 * does not load the demo, the chaos harness or the client), which keeps start-up short.
 */
function lazy(load: () => Promise<Runner>): Runner {
  return async (opts, args) => (await load())(opts, args);
}

const rm = lazy(async () => (await import('./components.js')).rm);
const gfd = lazy(async () => (await import('./components.js')).gfd);
const lfd = lazy(async () => (await import('./components.js')).lfd);
const server = lazy(async () => (await import('./components.js')).server);
const client = lazy(async () => (await import('./client.js')).client);
const demo = lazy(async () => (await import('./demo.js')).demo);
const ctl = lazy(async () => (await import('./ctl.js')).ctl);
const secret = lazy(async () => (await import('./secret.js')).secret);
const up = lazy(async () => (await import('./up.js')).up);
const sync = lazy(async () => (await import('./sync.js')).sync);
const sns = lazy(async () => (await import('./sns.js')).sns);
const chat = lazy(async () => (await import('./chat.js')).chat);

function usageFail(cmd: Command, err: unknown): never {
  if (err instanceof ConfigError || err instanceof ValueError) cmd.error(`error: ${err.message}`, { exitCode: 2 });
  throw err;
}

function nameArg(cmd: Command, raw: string): string {
  try {
    return parseName(raw);
  } catch (err) {
    usageFail(cmd, err);
  }
}

/**
 * A subcommand that runs something: its flags from the specs (and the common ones), its options
 * resolved from flags and the .ini `section` its arguments name, then `run`.
 */
function runCommand(program: Command, sub: string, args: string, summary: string, specs: OptionSpec[], section: (args: string[]) => string, run: Runner): Command {
  const all = [...specs, ...COMMON_OPTIONS];
  const cmd = program.command(`${sub}${args ? ' ' + args : ''}`).description(summary);
  addOptions(cmd, all);
  cmd.addOption(new Option('--no-color', 'plain text traces (NO_COLOR is honoured too)'));
  cmd.action(async (...received: unknown[]) => {
    const self = received[received.length - 1] as Command;
    const names = (self.args as string[]).map((a) => nameArg(self, a));
    let opts: Record<string, unknown>;
    try {
      opts = resolveOptions(self, all, (self.opts().section as string | undefined) ?? section(names));
    } catch (err) {
      usageFail(self, err);
    }
    await run(opts, names);
  });
  return cmd;
}

/** How to run each component without an RM (the course's milestones 1–3), after its options in --help. */
const WITHOUT_RM: Record<string, string> = {
  gfd: ['Without an RM (milestone 2):', '  ftkit gfd --no-rm            keep the membership and print it (GFD: 2 members: S1, S2)'].join('\n'),
  lfd: ['Without a GFD (milestone 1):', '  ftkit lfd LFD1 --no-gfd      heartbeat the servers and print it, and a failed heartbeat'].join('\n'),
  server: [
    'Without an RM (milestones 1-3; README, Running without an RM):',
    '  ftkit server S1 --static                      a group of one: serves alone',
    '  ftkit server S2 --port 7202 --group S1=10.0.0.1:7201,S2=10.0.0.2:7202,S3=10.0.0.3:7203 --mode passive',
    '                                                a fixed group (give every server the same --group); the first',
    '                                                listed leads (or --primary); the others get its state by checkpoint',
    "  ... --mode passive --passive checkpoint-only  the guide's milestone 3: backups change only through checkpoints",
    'No failover and no relaunch: while the leader is down nobody serves; started again, it starts empty.',
  ].join('\n'),
  client: [
    'Without an RM (milestones 1-3):',
    '  ftkit client C1 --servers S1=10.0.0.1:7201                  one server',
    '  ftkit client C1 --servers S1=…,S2=…,S3=… --mode active      every request to every server; first reply wins',
    '  ftkit client C1 --servers S1=…,S2=…,S3=… --mode passive     to the primary only (the first, or --primary)',
  ].join('\n'),
};

export function buildProgram(): Command {
  const program = new Command('ftkit')
    .description('ftkit: fault-tolerant replicated TCP service (RM, GFD, LFDs, servers, clients)')
    .exitOverride();
  program.configureHelp({ showGlobalOptions: false });

  runCommand(program, 'rm', '', 'run the Replication Manager', [...RM_OPTIONS, SECTION_OPTION], () => 'rm', rm);
  runCommand(program, 'gfd', '', 'run the Global Fault Detector', [...GFD_OPTIONS, SECTION_OPTION], () => 'gfd', gfd).addHelpText('after', `\n${WITHOUT_RM.gfd}`);
  runCommand(program, 'lfd', '<name>', 'run a Local Fault Detector, e.g. LFD1', [...LFD_OPTIONS, SECTION_OPTION], ([n]) => n!, lfd).addHelpText('after', `\n${WITHOUT_RM.lfd}`);
  runCommand(program, 'server', '<name>', 'run a replica server, e.g. S1', [...SERVER_OPTIONS, SECTION_OPTION], ([n]) => n!, server).addHelpText('after', `\n${WITHOUT_RM.server}`);
  runCommand(program, 'client', '[name]', 'run a client, e.g. C1 (or name it in --config)', [...CLIENT_OPTIONS, SECTION_OPTION], ([n]) => n ?? 'client', client).addHelpText('after', `\n${WITHOUT_RM.client}`);
  runCommand(program, 'sync', '', 'carry the sns app\'s outboxes between replica groups, exactly once (ftkit server --app sns)', [...SYNC_OPTIONS, SECTION_OPTION], () => 'sync', sync);
  runCommand(program, 'sns', '', 'the social network\'s client: ftkit sns -u <id> (FOLLOW, UNFOLLOW, LIST, TIMELINE)', [...SNS_OPTIONS, SECTION_OPTION], () => 'sns', sns);
  runCommand(program, 'chat', '<user>', 'the chat rooms\' client: ftkit chat <user> (JOIN, LEAVE, LIST, CHAT; ftkit server --app chat)', [...CHAT_OPTIONS, SECTION_OPTION], () => 'chat', chat);
  runCommand(program, 'demo', '', 'run the whole system on 127.0.0.1 with keys to inject faults', DEMO_OPTIONS, () => 'demo', demo).addHelpText('after', DEMO_HELP);

  // `up` reads its --config whole (every section), so its options are its flags alone.
  const upCmd = program.command('up').description("start this machine's components of a deployment file (ftkit up --config deployment.ini); Ctrl-C stops them");
  addOptions(upCmd, [...UP_OPTIONS, ...COMMON_OPTIONS]);
  upCmd.addOption(new Option('--no-color', 'plain text (NO_COLOR is honoured too)'));
  upCmd.action(async (_o, self: Command) => up(self.opts(), []));

  const ctlCmd = program.command('ctl').description('ask the RM for status or change a property while the system runs');
  addOptions(ctlCmd, CTL_OPTIONS);
  // Options as the components take them: flags over the .ini file's [ctl] section (or its top level).
  const ctlOptions = (self: Command) => {
    try {
      return resolveOptions<Record<string, unknown>>(self.parent!, CTL_OPTIONS, 'ctl', true);
    } catch (err) {
      usageFail(self.parent!, err);
    }
  };
  ctlCmd
    .command('status')
    .description('print membership, roles and current properties')
    .action(async (_o, self: Command) => ctl(ctlOptions(self), ['status']));
  ctlCmd
    .command('metrics')
    .description("print each link's latency (count, min/avg/p99/max ms over the last 10 s) and each process's CPU and memory")
    .action(async (_o, self: Command) => ctl(ctlOptions(self), ['metrics']));
  ctlCmd
    .command('fault <server> <kind> [amount]')
    .description('make a replica fail-slow: cpu-hog [ms of every 100 ms, default 60], mem-hog [MB a second, default 100], delay <ms> (every message it sends), or clear')
    .option('--for <seconds>', 'how long (default: until cleared)')
    .action(async (server: string, kind: string, amount: string | undefined, opts: { for?: string }, self: Command) => ctl({ ...ctlOptions(self), for: opts.for }, ['fault', server, `${kind} ${amount ?? ''}`]));
  ctlCmd
    .command('set <key> <value>')
    .description('set a run-time property: lfd-heartbeat-freq, gfd-heartbeat-freq, checkpoint-freq, lag-timeout, primary, replicas, restart-budget (--group G: for one replica group)')
    .action(async (key: string, value: string, _o, self: Command) => ctl(ctlOptions(self), ['set', key, value]));

  program
    .command('secret <file>')
    .description('write a new random deployment secret to <file>, readable only by you (never overwrites); copy it to every machine')
    .action(async (file: string) => secret({}, [file]));

  for (const cmd of [program, ...program.commands, ...ctlCmd.commands]) cmd.exitOverride();
  return program;
}
