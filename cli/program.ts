import { Command, Option } from 'commander';
import {
  CLIENT_OPTIONS,
  COMMON_OPTIONS,
  CTL_OPTIONS,
  DEMO_OPTIONS,
  GFD_OPTIONS,
  LFD_OPTIONS,
  RM_OPTIONS,
  SERVER_OPTIONS,
  type OptionSpec,
} from '../lib/config/options.js';
import { name as parseName } from '../lib/config/values.js';
import { ConfigError, ValueError } from '../lib/config/errors.js';
import { addOptions, resolveOptions } from './options.js';
import { runners } from './run.js';

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

function component(program: Command, sub: string, args: string, summary: string, specs: OptionSpec[]): Command {
  const cmd = program.command(`${sub}${args ? ' ' + args : ''}`).description(summary);
  addOptions(cmd, [...specs, ...COMMON_OPTIONS]);
  cmd.addOption(new Option('--no-color', 'plain text traces (NO_COLOR is honoured too)'));
  return cmd;
}

export function buildProgram(): Command {
  const program = new Command('ftkit')
    .description('ftkit: fault-tolerant replicated TCP service (RM, GFD, LFDs, servers, clients)')
    .exitOverride();
  program.configureHelp({ showGlobalOptions: false });

  const withSpecs = (cmd: Command, specs: OptionSpec[], section: (args: string[]) => string, run: (opts: never, args: string[]) => Promise<void>) => {
    cmd.action(async (...received: unknown[]) => {
      const self = received[received.length - 1] as Command;
      const args = (self.args as string[]).map((a) => nameArg(self, a));
      let opts: Record<string, unknown>;
      try {
        opts = resolveOptions(self, [...specs, ...COMMON_OPTIONS], section(args));
      } catch (err) {
        usageFail(self, err);
      }
      await run(opts as never, args);
    });
  };

  withSpecs(component(program, 'rm', '', 'run the Replication Manager', RM_OPTIONS), RM_OPTIONS, () => 'rm', runners.rm);
  withSpecs(component(program, 'gfd', '', 'run the Global Fault Detector', GFD_OPTIONS), GFD_OPTIONS, () => 'gfd', runners.gfd);
  withSpecs(component(program, 'lfd', '<name>', 'run a Local Fault Detector, e.g. LFD1', LFD_OPTIONS), LFD_OPTIONS, ([n]) => n!, runners.lfd);
  withSpecs(component(program, 'server', '<name>', 'run a replica server, e.g. S1', SERVER_OPTIONS), SERVER_OPTIONS, ([n]) => n!, runners.server);
  withSpecs(component(program, 'client', '[name]', 'run a client, e.g. C1 (or name it in --config)', CLIENT_OPTIONS), CLIENT_OPTIONS, ([n]) => n ?? 'client', runners.client);
  withSpecs(component(program, 'demo', '', 'run the whole system on 127.0.0.1 with keys to inject faults', DEMO_OPTIONS), DEMO_OPTIONS, () => 'demo', runners.demo);

  const ctl = program.command('ctl').description('ask the RM for status or change a property while the system runs');
  addOptions(ctl, CTL_OPTIONS);
  // Options as the components take them: flags over the .ini file's [ctl] section (or its top level).
  const ctlOptions = (self: Command) => {
    try {
      return resolveOptions(self.parent!, CTL_OPTIONS, 'ctl', true) as never;
    } catch (err) {
      usageFail(self.parent!, err);
    }
  };
  ctl
    .command('status')
    .description('print membership, roles and current properties')
    .action(async (_o, self: Command) => runners.ctl(ctlOptions(self), ['status']));
  ctl
    .command('set <key> <value>')
    .description('set a run-time property: lfd-heartbeat-freq, gfd-heartbeat-freq, checkpoint-freq, primary, replicas')
    .action(async (key: string, value: string, _o, self: Command) => runners.ctl(ctlOptions(self), ['set', key, value]));

  program
    .command('secret <file>')
    .description('write a new random deployment secret to <file>, readable only by you (never overwrites); copy it to every machine')
    .action(async (file: string) => runners.secret({}, [file]));

  for (const cmd of [program, ...program.commands, ...ctl.commands]) cmd.exitOverride();
  return program;
}
