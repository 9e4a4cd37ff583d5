/**
 * The one .ini loader. Reads a file, picks a section (or the top level), and
 * validates every key against the option specs of the component it configures.
 * Errors name the file, the key and the reason.
 */
import { readFileSync } from 'node:fs';
import ini from 'ini';
import { ConfigError, ValueError } from '../errors.js';
import { SHARED_KEYS, type OptionSpec } from './options.js';
import { dirname, resolve } from 'node:path';

export type IniValues = Record<string, unknown>;

/** `heartbeat_freq`, `heartbeat-freq` and `heartbeatFreq` all name the same option. */
export function keyToCamel(key: string): string {
  return key.trim().replace(/[-_]+([a-z0-9])/gi, (_, c: string) => c.toUpperCase());
}

export function readIni(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  rejectDuplicateKeys(file, text);
  return ini.parse(text) as Record<string, unknown>;
}

/** `heartbeatFreq` -> `heartbeat-freq`: how a key is written in a file. */
export function camelToKebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A key written twice in one section is a mistake the ini parser would hide (the last one wins). */
function rejectDuplicateKeys(file: string, text: string): void {
  let section = '';
  const seen = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const header = /^\[(.*)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      seen.clear();
      continue;
    }
    const eq = line.indexOf('=');
    const key = keyToCamel(eq === -1 ? line : line.slice(0, eq));
    if (seen.has(key)) {
      throw new ConfigError(`${file}${section ? ` [${section}]` : ''}: key "${(eq === -1 ? line : line.slice(0, eq)).trim()}": given more than once`);
    }
    seen.add(key);
  }
}

/** The sections of a file (nested objects) and its top-level keys. */
export function splitSections(parsed: Record<string, unknown>): { top: Record<string, unknown>; sections: Map<string, Record<string, unknown>> } {
  const top: Record<string, unknown> = {};
  const sections = new Map<string, Record<string, unknown>>();
  for (const [k, v] of Object.entries(parsed)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) sections.set(k, v as Record<string, unknown>);
    else top[k] = v;
  }
  return { top, sections };
}

/**
 * Load and validate option values from `file`. `section` picks one section; without it the
 * top-level keys are used. In a file with sections, the top level may hold deployment-wide
 * keys (SHARED_KEYS: the secret and TLS files), which every section takes unless it says
 * otherwise. Unknown keys and bad values are errors; file paths are relative to the file.
 * With `optionalSection`, a missing section means the top level alone (`ftkit ctl`).
 */
export function loadIni(file: string, specs: readonly OptionSpec[], section?: string, optionalSection = false): IniValues {
  const { top, sections } = splitSections(readIni(file));
  const byKey = new Map(specs.filter((s) => s.ini !== false).map((s) => [s.key, s]));
  if (section === undefined) return validate(file, file, top, byKey);
  const found = sections.get(section);
  if (!found && !optionalSection) {
    const have = [...sections.keys()];
    throw new ConfigError(`${file}: no section [${section}]${have.length ? ` (sections: ${have.join(', ')})` : ''}`);
  }
  for (const key of Object.keys(top)) {
    if (!SHARED_KEYS.has(keyToCamel(key))) {
      throw new ConfigError(`${file}: key "${key}" at the top level: in a file with sections only deployment-wide keys go there (${[...SHARED_KEYS].map(camelToKebab).join(', ')})`);
    }
  }
  const shared = Object.fromEntries(Object.entries(top).filter(([k]) => byKey.has(keyToCamel(k))));
  return { ...validate(file, file, shared, byKey), ...(found ? validate(file, `${file} [${section}]`, found, byKey) : {}) };
}

function validate(file: string, where: string, raw: Record<string, unknown>, byKey: Map<string, OptionSpec>): IniValues {
  const out: IniValues = {};
  for (const [key, value] of Object.entries(raw)) {
    const spec = byKey.get(keyToCamel(key));
    if (!spec) {
      const known = [...byKey.keys()].map(camelToKebab).join(', ');
      throw new ConfigError(`${where}: key "${key}": unknown key (known keys: ${known})`);
    }
    // The ini parser turns true/false/null into values of their own, and `key[]` into a list.
    if (typeof value !== 'string' && typeof value !== 'boolean' && value !== null) {
      throw new ConfigError(`${where}: key "${key}": expected "${key} = value"`);
    }
    try {
      const parsed = spec.parse(String(value));
      out[spec.key] = spec.path && typeof parsed === 'string' ? resolve(dirname(file), parsed) : parsed;
    } catch (err) {
      if (err instanceof ValueError) throw new ConfigError(`${where}: key "${key}": ${err.message}`, { cause: err });
      throw err;
    }
  }
  return out;
}
