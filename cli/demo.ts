/** `ftkit demo`: the whole system on 127.0.0.1, with keys to inject faults, a scripted scenario, or tmux panes. */
import { join } from 'node:path';
import { Demo, type DemoOptions } from '../harness/demo/demo.js';
import { formatSummary, runScenarioM5 } from '../harness/demo/scenario.js';
import { runTmux } from '../harness/demo/tmux.js';
import type { AppName } from '../servers/core/apps.js';
import type { Mode } from '../lib/protocol/index.js';
import { SECRET_FILE_NAME } from '../lib/config/secrets.js';
import { exitWith, userStateDir, type Opts, type Runner } from './process.js';

export const demo: Runner = async (o) => {
  const options: DemoOptions = {
    mode: o.mode as Mode,
    app: (o.scenario ? 'log' : o.app) as AppName,
    heartbeatFreq: o.heartbeatFreq as number,
    checkpointFreq: o.checkpointFreq as number,
    basePort: o.basePort as number,
    color: o.color === false ? false : undefined,
    // Secure by default: the demo's components prove a secret kept in the user's state folder.
    secretFile: join(userStateDir(), SECRET_FILE_NAME),
    tls: o.tlsCert || o.tlsKey || o.tlsCa ? demoTls(o) : undefined,
  };
  const demo = new Demo(options);
  if (o.tmux) process.exit(await runTmux(options, (text) => demo.say(text)));
  const quit = () => void demo.stop().then(() => process.exit(o.scenario ? 1 : 0));
  process.once('SIGINT', quit);
  process.once('SIGTERM', quit);
  process.once('SIGHUP', quit);
  if (o.scenario) {
    try {
      const summary = await runScenarioM5(demo);
      await demo.stop();
      for (const line of formatSummary(summary, options.mode).split('\n')) demo.say(line);
      process.exit(summary.ok ? 0 : 1);
    } catch (err) {
      demo.say(`scenario failed: ${(err as Error).message}`);
      await demo.stop();
      process.exit(1);
    }
  }
  try {
    await demo.start();
  } catch (err) {
    demo.say(`cannot start: ${(err as Error).message}`);
    await demo.stop();
    process.exit(1);
  }
  if (!demo.enableKeys()) demo.say('no terminal: keys are off; stop with Ctrl-C or SIGTERM');
};

/** The demo's TLS files: all three, or none. */
function demoTls(o: Opts): { cert: string; key: string; ca: string } {
  if (!o.tlsCert || !o.tlsKey || !o.tlsCa) {
    exitWith(2, 'demo', 'TLS needs --tls-cert, --tls-key and --tls-ca (one certificate for every component, signed by the CA)');
  }
  return { cert: o.tlsCert as string, key: o.tlsKey as string, ca: o.tlsCa as string };
}
