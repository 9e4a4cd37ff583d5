/** What each subcommand runs: build the component from resolved options, start it, stop it on a signal. */
import { Tracer, consoleSink } from '../lib/trace/index.js';
import { Rm } from '../rm/rm.js';
import { Gfd } from '../gfd/gfd.js';
import { Lfd } from '../lfd/lfd.js';
import { Server } from '../servers/server.js';
import { ctlRequest, formatStatus } from '../clients/ctl.js';
import { Client } from '../clients/client.js';
import { createInterface } from 'node:readline';
import { Demo, type DemoOptions } from '../harness/demo/demo.js';
import { formatSummary, runScenarioM5 } from '../harness/demo/scenario.js';
import { runTmux } from '../harness/demo/tmux.js';
import { PARENT_PIPE_ENV } from '../harness/launch/proc.js';
import type { Component } from '../lib/component.js';
import { defaultStateDir } from '../lfd/commands.js';
import { homedir, tmpdir } from 'node:os';
import type { AppName } from '../servers/apps.js';
import type { Mode } from '../lib/protocol/index.js';
import type { Security } from '../lib/net/index.js';
import { createSecret, loadSecurity, SECRET_FILE_NAME, type SecurityFiles, type TlsUse } from '../lib/config/secrets.js';
import { join } from 'node:path';

type Opts = Record<string, unknown>;
type Runner = (opts: Opts, args: string[]) => Promise<void>;

function tracerFor(name: string, opts: Opts): Tracer {
  return new Tracer(name, consoleSink({ json: opts.json === true, color: opts.color === false ? false : undefined, quiet: opts.quiet === true }));
}

/**
 * The secrets and TLS files a process was given, read now: a missing or bad file ends it with
 * one line (exit 2, like any bad option). Warnings (a secret others may read) go to its trace.
 */
function securityFor(who: string, o: Opts, use: TlsUse, tracer?: Tracer): Security {
  try {
    const { security, warnings } = loadSecurity(o as SecurityFiles, use);
    for (const w of warnings) tracer?.emitEvent('security_warning', 'fault', `${who}: ${w}`);
    return security;
  } catch (err) {
    process.stderr.write(`ftkit ${who}: ${(err as Error).message}\n`);
    process.exit(2);
  }
}

const COMPONENT: TlsUse = { listens: true, dials: true };

/** Start a component and keep it running until SIGINT/SIGTERM. */
async function serve(component: Component): Promise<void> {
  let reporting = false;
  process.on('uncaughtException', (err) => {
    if (reporting) return;
    reporting = true;
    try {
      component.tracer.emitEvent('internal_error', 'fault', `${component.name}: internal error (kept running): ${err.stack ?? err.message}`);
    } finally {
      reporting = false;
    }
  });
  try {
    await component.start();
  } catch (err) {
    process.stderr.write(`ftkit ${component.name}: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const shutdown = () => void component.stop().finally(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  if (process.env[PARENT_PIPE_ENV]) {
    // Started by a harness (demo, tests): its pipe closing means it is gone, so we go too.
    process.stdin.on('close', shutdown).on('end', shutdown).resume();
  }
}

function safeHomedir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}

/** The command line that started this process, so an LFD can start it again. */
function ownCommand(): string[] {
  return [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
}


export const runners: Record<'rm' | 'gfd' | 'lfd' | 'server' | 'client' | 'demo' | 'ctl' | 'secret', Runner> = {
  rm: (o) => {
    const tracer = tracerFor('RM', o);
    return serve(
      new Rm({
        host: o.host as string,
        port: o.port as number,
        mode: o.mode as Mode,
        primary: o.primary as string | undefined,
        autoRestart: o.autoRestart !== false,
        restartBudget: o.restartBudget as number,
        restartWindow: o.restartWindow as number,
        security: securityFor('rm', o, { listens: true, dials: false }, tracer),
        tracer,
      }),
    );
  },
  gfd: (o) => {
    const tracer = tracerFor('GFD', o);
    return serve(
      new Gfd({
        host: o.host as string,
        port: o.port as number,
        rm: o.rm as string,
        heartbeatFreq: o.heartbeatFreq as number,
        timeout: o.timeout as number | undefined,
        security: securityFor('gfd', o, COMPONENT, tracer),
        tracer,
        onRefused: () => process.exit(1),
      }),
    );
  },
  lfd: (o, [name]) => {
    const tracer = tracerFor(name!, o);
    return serve(
      new Lfd({
        name: name!,
        host: o.host as string,
        port: o.port as number,
        gfd: o.gfd as string,
        heartbeatFreq: o.heartbeatFreq as number,
        timeout: o.timeout as number | undefined,
        stateDir: (o.stateDir as string | undefined) ?? defaultStateDir(process.env, safeHomedir(), tmpdir(), process.getuid?.()),
        fence: o.fence !== false,
        security: securityFor(name!, o, COMPONENT, tracer),
        tracer,
        onRefused: () => process.exit(1),
      }),
    );
  },
  server: (o, [name]) => {
    const tracer = tracerFor(name!, o);
    return serve(
      new Server({
        name: name!,
        host: o.host as string,
        port: o.port as number,
        lfd: o.lfd as string,
        app: o.app as AppName,
        checkpointFreq: o.checkpointFreq as number,
        command: ownCommand(),
        security: securityFor(name!, o, COMPONENT, tracer),
        tracer,
        onRetire: () => process.exit(0),
        onRefused: () => process.exit(1),
      }),
    );
  },
  client: async (o, [arg]) => {
    const name = arg ?? (o.name as string | undefined);
    if (!name) {
      process.stderr.write('error: name the client: ftkit client C1 (or name = C1 in --config)\n');
      process.exit(2);
    }
    const tracer = tracerFor(name, o);
    const client = new Client({
      name,
      security: securityFor(name, o, { listens: false, dials: true }, tracer),
      rm: o.rm as string,
      message: o.message as string,
      interval: o.interval as number,
      count: o.count as number,
      timeout: o.timeout as number,
      giveUp: o.giveUp as number,
      input: o.interactive ? createInterface({ input: process.stdin, terminal: false }) : undefined,
      tracer,
    });
    await serve(client);
    const ok = await client.done!.then(
      () => true,
      () => false,
    );
    await client.stop();
    process.exit(ok ? 0 : 1);
  },
  demo: async (o) => {
    const options: DemoOptions = {
      mode: o.mode as Mode,
      app: (o.scenario ? 'log' : o.app) as AppName,
      heartbeatFreq: o.heartbeatFreq as number,
      checkpointFreq: o.checkpointFreq as number,
      basePort: o.basePort as number,
      color: o.color === false ? false : undefined,
      // Secure by default: the demo's components prove a secret kept in the user's state folder.
      secretFile: join(defaultStateDir(process.env, safeHomedir(), tmpdir(), process.getuid?.()), SECRET_FILE_NAME),
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
  },
  ctl: async (o, [op, key, value]) => {
    const security = securityFor('ctl', o, { listens: false, dials: true });
    try {
      const text = await ctlRequest(o.rm as string, op === 'status' ? { op: 'status' } : { op: 'set', key: key!, value: value! }, { security });
      process.stdout.write((op === 'status' && !o.json ? formatStatus(text) : text) + '\n');
    } catch (err) {
      process.stderr.write(`ftkit ctl: ${(err as Error).message}\n`);
      process.exit(1);
    }
  },
  secret: async (_o, [file]) => {
    try {
      createSecret(file!);
    } catch (err) {
      process.stderr.write(`ftkit secret: ${(err as Error).message}\n`);
      process.exit(1);
    }
    process.stdout.write(`wrote a new secret to ${file} (readable only by you); give every component  --secret-file ${file}  and copy the file to each machine\n`);
  },
};

/** The demo's TLS files: all three, or none. */
function demoTls(o: Opts): { cert: string; key: string; ca: string } {
  if (!o.tlsCert || !o.tlsKey || !o.tlsCa) {
    process.stderr.write('ftkit demo: TLS needs --tls-cert, --tls-key and --tls-ca (one certificate for every component, signed by the CA)\n');
    process.exit(2);
  }
  return { cert: o.tlsCert as string, key: o.tlsKey as string, ca: o.tlsCa as string };
}
