/**
 * A deployment file as a list of components: which section configures which kind of component,
 * where each one runs, and its options (validated as the component itself would). `ftkit up`
 * starts those of them that run on its machine.
 */
import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';
import { loadIni, readIni, splitSections, type IniValues } from './ini.js';
import { CLIENT_OPTIONS, DEFAULT_HOST, GFD_OPTIONS, LFD_OPTIONS, RM_OPTIONS, SERVER_OPTIONS, WILDCARD_HOSTS, type OptionSpec } from './options.js';

export type ComponentKind = 'rm' | 'gfd' | 'lfd' | 'server' | 'client';

export const SPECS_OF: Record<ComponentKind, readonly OptionSpec[]> = {
  rm: RM_OPTIONS,
  gfd: GFD_OPTIONS,
  lfd: LFD_OPTIONS,
  server: SERVER_OPTIONS,
  client: CLIENT_OPTIONS,
};

/** Sections that configure no process of their own. */
const NOT_COMPONENTS: ReadonlySet<string> = new Set(['ctl']);

export interface PlannedComponent {
  kind: ComponentKind;
  /** Its section, which is also its name (`rm` and `gfd` trace as RM and GFD). */
  section: string;
  /** The machine it runs on: its advertised host, else the host it listens on. Undefined for a client (it listens nowhere) and for one listening on every address without `advertise`. */
  host: string | undefined;
  values: IniValues;
}

/**
 * What a section configures: `[rm]` and `[gfd]` by name; otherwise by the key that names its
 * upstream (`gfd =`: an LFD, `lfd =`: a server, `rm =`: a client), else by the course's names
 * (LFDn, Sn, Cn).
 */
export function kindOf(section: string, keys: readonly string[]): ComponentKind | undefined {
  if (section === 'rm' || section === 'gfd') return section;
  const has = (k: string) => keys.some((key) => key.trim().toLowerCase() === k);
  if (has('gfd')) return 'lfd';
  if (has('lfd')) return 'server';
  if (has('rm')) return 'client';
  if (/^LFD\d*$/i.test(section)) return 'lfd';
  if (/^S\d+$/.test(section)) return 'server';
  if (/^C\d+$/.test(section)) return 'client';
  return undefined;
}

/** Every component `file` configures, in start order (RM, GFD, LFDs, servers, clients); throws ConfigError on a bad section. */
export function deploymentComponents(file: string): PlannedComponent[] {
  const { sections } = splitSections(readIni(file));
  if (sections.size === 0) throw new ConfigError(`${file}: no sections: a deployment file has one section per component ([rm], [gfd], [LFD1], [S1], …)`);
  const out: PlannedComponent[] = [];
  for (const [section, keys] of sections) {
    if (NOT_COMPONENTS.has(section)) continue;
    const kind = kindOf(section, Object.keys(keys));
    if (!kind) {
      throw new ConfigError(`${file} [${section}]: cannot tell which component it configures: name it rm, gfd, LFDn, Sn or Cn, or give it gfd = (an LFD), lfd = (a server) or rm = (a client)`);
    }
    const values = loadIni(file, SPECS_OF[kind], section);
    const listens = (values.advertise as string | undefined) ?? (values.host as string | undefined) ?? DEFAULT_HOST;
    const host = kind === 'client' || WILDCARD_HOSTS.has(listens) ? undefined : listens;
    out.push({ kind, section, host, values });
  }
  const order: ComponentKind[] = ['rm', 'gfd', 'lfd', 'server', 'client'];
  return out.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
}

/** The name a component traces under. */
export function componentName(c: Pick<PlannedComponent, 'kind' | 'section'>): string {
  return c.kind === 'rm' || c.kind === 'gfd' ? c.kind.toUpperCase() : c.section;
}

/** The command line (after `ftkit`) that starts `c` from `file`, as a user types it on its machine. */
export function commandFor(c: Pick<PlannedComponent, 'kind' | 'section'>, file: string): string[] {
  return c.kind === 'rm' || c.kind === 'gfd' ? [c.kind, '--config', file] : [c.kind, c.section, '--config', file];
}

/** Whether `host` is one of `addresses` (IP addresses; a name is looked up with `lookup`). */
export async function isOneOf(host: string, addresses: ReadonlySet<string>, lookup: (name: string) => Promise<string[]>): Promise<boolean> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare)) return addresses.has(bare);
  const found = await lookup(bare).catch(() => []);
  return found.some((a) => addresses.has(a));
}
