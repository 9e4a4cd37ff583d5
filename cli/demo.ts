/** `ftkit demo`: the whole system on 127.0.0.1, with keys to inject faults, a scripted scenario, or tmux panes. */
import { join } from 'node:path';
import { Demo, lastDemoPort, type DemoOptions } from '../harness/demo/demo.js';
import { enableKeys } from '../harness/demo/keys.js';
import { milestoneConflict, milestoneOptions, runMilestoneScript, type Milestone } from '../harness/demo/milestones.js';
import { formatSummary, runScenarioM5 } from '../harness/demo/scenario.js';
import { runTmux, tmuxController, TMUX_CONTROLLER_ENV } from '../harness/demo/tmux.js';
import type { AppName } from '../servers/core/apps.js';
import type { Mode } from '../lib/protocol/index.js';
import { SECRET_FILE_NAME } from '../lib/config/secrets.js';
import { exitWith, userStateDir, type Opts, type Runner } from './process.js';
import { givenKeys } from './options.js';

export const demo: Runner = async (o) => {
  const base = o.basePort as number;
  const app = o.app as AppName;
  const given = givenKeys(o);
  // The social network lives on three groups, one group of chat rooms serves every user.
  const groups = (o.groups as number | undefined) ?? (app === 'sns' ? 3 : 1);
  if (app === 'chat' && groups > 1) exitWith(2, 'demo', '--app chat runs one group of chat rooms: leave out --groups');
  if ((app === 'sns' || app === 'chat') && (o.milestone !== undefined || o.scenario || o.tmux)) exitWith(2, 'demo', `--app ${app} runs its scripted users in one terminal: not with --milestone, --scenario or --tmux`);
  const servers = 3 * groups;
  if (base === 0 || lastDemoPort(base, servers) > 65535) {
    exitWith(2, 'demo', `--base-port ${base} does not fit: the demo takes ports base, base+1, base+2 (the dashboard), base+101–103 and base+201–${200 + servers}, so the base must be 1–${65535 - lastDemoPort(0, servers)}`);
  }
  if (groups > 1 && (o.milestone !== undefined || o.scenario)) exitWith(2, 'demo', '--groups runs the full system with several replica groups; --milestone and --scenario run one group');
  const milestone = o.milestone as Milestone | undefined;
  if (milestone !== undefined && o.scenario) exitWith(2, 'demo', `--milestone and --scenario are two different runs: --milestone ${milestone} --duration S runs its own short script, --scenario m5 the full milestone-5 one`);
  if (milestone !== undefined && o.tmux) exitWith(2, 'demo', '--milestone runs in one terminal, not with --tmux');
  if (o.groups !== undefined && (o.groups as number) > 1 && o.tmux) exitWith(2, 'demo', '--groups runs in one terminal, not with --tmux');
  let options: DemoOptions = {
    // Chat users are spread over the replicas, which only active replication serves.
    mode: (app === 'chat' && !given.has('mode') ? 'active' : o.mode) as Mode,
    app: o.scenario ? 'log' : app,
    heartbeatFreq: o.heartbeatFreq as number,
    checkpointFreq: o.checkpointFreq as number,
    basePort: base,
    color: o.color === false ? false : undefined,
    json: o.json === true,
    quiet: o.quiet === true,
    heartbeats: o.heartbeats === true && o.quietHeartbeats !== true,
    verbose: o.verbose === true,
    autoRestart: o.autoRestart !== false,
    slowWarmup: given.has('slowWarmup') ? (o.slowWarmup as number) : undefined,
    // Secure by default: the demo's components prove a secret kept in the user's state folder.
    secretFile: join(userStateDir(), SECRET_FILE_NAME),
    tls: o.tlsCert || o.tlsKey || o.tlsCa ? demoTls(o) : undefined,
    groups: groups > 1 ? groups : undefined,
    dataDir: o.dataDir as string | undefined,
  };
  if (milestone !== undefined) {
    const choices = {
      mode: given.has('mode') ? (o.mode as Mode) : undefined,
      checkpointFreq: given.has('checkpointFreq') ? (o.checkpointFreq as number) : undefined,
      heartbeats: o.heartbeats === true,
      quietHeartbeats: o.quietHeartbeats === true,
      noAutoRestart: o.autoRestart === false,
    };
    const conflict = milestoneConflict(milestone, choices);
    if (conflict) exitWith(2, 'demo', conflict);
    options = milestoneOptions(milestone, options, choices);
  }
  const controller = process.env[TMUX_CONTROLLER_ENV];
  if (o.tmux && !controller) process.exit(await runTmux(options, process.argv.slice(2)));
  if (controller) options.view = await tmuxController(controller, options);

  const demo = new Demo(options);
  let status = 0;
  const quit = (why: string) => void demo.stop(why).then(() => process.exit(status));
  process.once('SIGINT', () => quit('Ctrl-C'));
  process.once('SIGTERM', () => quit('SIGTERM'));
  process.once('SIGHUP', () => quit('SIGHUP'));
  if (o.scenario) {
    status = 1;
    try {
      const summary = await runScenarioM5(demo, { seed: o.seed as number | undefined });
      if (demo.isStopping) return;
      await demo.stop('the scenario is over');
      for (const line of formatSummary(summary, options.mode).split('\n')) demo.say(line, summary.ok ? 'info' : 'fault', line.startsWith('milestone-5') ? { summary } : undefined);
      process.exit(summary.ok ? 0 : 1);
    } catch (err) {
      if (demo.isStopping) return;
      demo.say(`scenario failed: ${(err as Error).message}`, 'fault');
      await demo.stop('the scenario failed');
      process.exit(1);
    }
  }
  try {
    await demo.start();
  } catch (err) {
    if (demo.isStopping) return;
    demo.say(`cannot start: ${(err as Error).message}`, 'fault');
    status = 1;
    await demo.stop('it could not start');
    process.exit(1);
  }
  // Keys only for the interactive demo: the scenario runs unattended (Ctrl-C still stops it).
  if (!enableKeys(demo, () => quit('q'))) demo.say('no terminal: keys are off; stop with Ctrl-C or SIGTERM');
  const duration = o.duration as number | undefined;
  if (duration !== undefined) {
    demo.say(`stopping in ${duration} s (--duration)`);
    setTimeout(() => quit('--duration ended'), duration * 1000);
    if (milestone !== undefined) {
      runMilestoneScript(demo, milestone, duration).catch((err: Error) => {
        if (demo.isStopping) return;
        status = 1;
        demo.say(`milestone ${milestone} script failed: ${err.message}`, 'fault');
      });
    }
  }
};

/** The demo's TLS files: all three, or none. */
function demoTls(o: Opts): { cert: string; key: string; ca: string } {
  if (!o.tlsCert || !o.tlsKey || !o.tlsCa) {
    exitWith(2, 'demo', 'TLS needs --tls-cert, --tls-key and --tls-ca (one certificate for every component, signed by the CA)');
  }
  return { cert: o.tlsCert as string, key: o.tlsKey as string, ca: o.tlsCa as string };
}
