/**
 * `ftkit rm | gfd | lfd | server`: build the component from its resolved options and serve it.
 * Each traces under its name and reads its secrets and TLS files the same way; those that dial
 * upstream exit (status 1) if the peer refuses them.
 */
import { Rm } from '../rm/rm.js';
import type { RouteRule } from '../rm/routing.js';
import { Gfd } from '../gfd/gfd.js';
import { Lfd } from '../lfd/lfd.js';
import { Server } from '../servers/server.js';
import type { AppName } from '../servers/core/apps.js';
import type { Component } from '../lib/component.js';
import type { Mode } from '../lib/protocol/index.js';
import type { Security } from '../lib/net/index.js';
import type { Tracer } from '../lib/trace/index.js';
import type { TlsUse } from '../lib/config/secrets.js';
import type { PortRange } from '../lib/config/values.js';
import { WILDCARD_HOSTS } from '../lib/config/options.js';
import { fixedGroup, type FixedGroup } from '../lib/config/fixed.js';
import { formatAddress } from '../lib/net/address.js';
import type { Member } from '../lib/protocol/index.js';
import type { PassiveStyle } from '../servers/core/index.js';
import type { FsyncPolicy } from '../lib/storage/wal.js';
import { exitWith, securityFor, serve, tracerFor, userStateDir, type Opts, type Runner } from './process.js';

/** What every component takes alike. */
interface Common {
  host: string;
  port: number;
  security: Security;
  tracer: Tracer;
}

/** A peer refused us (a wrong secret, a name taken): retrying cannot help. */
const onRefused = (): never => process.exit(1);

const LISTENS_AND_DIALS: TlsUse = { listens: true, dials: true };

/** Serve the component `build` makes, tracing as `name`; `who` names the process in error lines. */
function runMember(o: Opts, name: string, who: string, use: TlsUse, build: (common: Common) => Component): Promise<void> {
  const tracer = tracerFor(name, o);
  const security = securityFor(who, o, use, tracer);
  return serve(build({ host: o.host as string, port: o.port as number, security, tracer }));
}

/**
 * The host a server or an LFD tells its peers to reach it at: --advertise, else --host. A
 * wildcard says nothing peers could use, so it is refused (exit 2) rather than sent.
 */
function advertised(o: Opts, who: string): string {
  const advertise = o.advertise as string | undefined;
  if (advertise !== undefined) {
    if (WILDCARD_HOSTS.has(advertise)) exitWith(2, who, `--advertise ${advertise} is not an address peers can reach: give this machine's address`);
    return advertise;
  }
  const host = o.host as string;
  if (WILDCARD_HOSTS.has(host)) exitWith(2, who, `--host ${host} listens on every address, so peers need to be told one: add --advertise <this machine's address> (advertise = in the .ini)`);
  return host;
}

/** The command line that started this process, so an LFD can start it again. */
function ownCommand(): string[] {
  return [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
}

export const rm: Runner = (o) =>
  runMember(o, 'RM', 'rm', { listens: true, dials: false }, (common) =>
    new Rm({
      ...common,
      mode: o.mode as Mode,
      primary: o.primary as string | undefined,
      autoRestart: o.autoRestart !== false,
      restartBudget: o.restartBudget as number,
      restartWindow: o.restartWindow as number,
      route: o.route as RouteRule,
      groups: o.groups as string[] | undefined,
      fallback: o.fallback === true,
      http: o.http as number | undefined,
      recoveryWait: o.recoveryWait as number | undefined,
      evictSlow: o.evictSlow === true,
      slowFactor: o.slowFactor as number,
      slowFor: o.slowFor as number,
      slowWarmup: o.slowWarmup as number,
    }),
  );

export const gfd: Runner = (o) =>
  runMember(o, 'GFD', 'gfd', LISTENS_AND_DIALS, (common) =>
    new Gfd({ ...common, onRefused, metrics: o.metrics !== false, rm: (o.rm as string | false) || undefined, heartbeatFreq: o.heartbeatFreq as number, timeout: o.timeout as number | undefined }),
  );

export const lfd: Runner = (o, [name]) =>
  runMember(o, name!, name!, LISTENS_AND_DIALS, (common) =>
    new Lfd({
      ...common,
      onRefused,
      name: name!,
      advertise: advertised(o, name!),
      gfd: (o.gfd as string | false) || undefined,
      heartbeatFreq: o.heartbeatFreq as number,
      timeout: o.timeout as number | undefined,
      stateDir: (o.stateDir as string | undefined) ?? userStateDir(),
      fence: o.fence !== false,
      metrics: o.metrics !== false,
      replicaPorts: o.replicaPorts as PortRange | undefined,
    }),
  );

/** The group a server runs in without an RM (--static, --group), checked once; undefined with an RM. */
function groupOf(o: Opts, name: string, advertise: string): FixedGroup | undefined {
  try {
    return fixedGroup({
      name,
      static: o.static === true,
      group: Array.isArray(o.group) ? (o.group as Member[]) : undefined,
      mode: o.mode as Mode | undefined,
      primary: o.primary as string | undefined,
      passive: o.passive as string,
      lfd: o.lfd as string | false,
      self: formatAddress({ host: advertise, port: o.port as number }),
      port: o.port as number,
    });
  } catch (err) {
    exitWith(2, name, (err as Error).message);
  }
}

export const server: Runner = (o, [name]) => {
  const advertise = advertised(o, name!);
  const group = groupOf(o, name!, advertise);
  return runMember(o, name!, name!, LISTENS_AND_DIALS, (common) =>
    new Server({
      ...common,
      onRefused,
      name: name!,
      advertise,
      lfd: (o.lfd as string | false) || undefined,
      group,
      groupName: typeof o.group === 'string' ? o.group : undefined,
      passive: o.passive as PassiveStyle,
      app: o.app as AppName,
      checkpointFreq: o.checkpointFreq as number,
      lagTimeout: o.lagTimeout as number | undefined,
      dataDir: o.dataDir as string | undefined,
      fsync: o.fsync as FsyncPolicy,
      command: ownCommand(),
      metrics: o.metrics !== false,
      onRetire: () => process.exit(0),
    }),
  );
};
