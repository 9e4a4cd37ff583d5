/**
 * The one .ini loader. Reads a file, picks a section (or the top level), and
 * validates every key against the option specs of the component it configures.
 * Errors name the file, the key and the reason.
 */
import { readFileSync } from 'node:fs';
import ini from 'ini';
import { ConfigError, ValueError } from './errors.js';
import type { OptionSpec } from './options.js';

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
  return ini.parse(text) as Record<string, unknown>;
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
 * Load and validate option values from `file`. `section` picks one section; without
 * it the top-level keys are used. Unknown keys and bad values are errors.
 */
export function loadIni(file: string, specs: readonly OptionSpec[], section?: string): IniValues {
  const { top, sections } = splitSections(readIni(file));
  let raw: Record<string, unknown>;
  let where = file;
  if (section !== undefined) {
    const found = sections.get(section);
    if (!found) {
      const have = [...sections.keys()];
      throw new ConfigError(`${file}: no section [${section}]${have.length ? ` (sections: ${have.join(', ')})` : ''}`);
    }
    raw = found;
    where = `${file} [${section}]`;
  } else raw = top;
  const byKey = new Map(specs.filter((s) => s.ini !== false).map((s) => [s.key, s]));
  const out: IniValues = {};
  for (const [key, value] of Object.entries(raw)) {
    const spec = byKey.get(keyToCamel(key));
    if (!spec) {
      const known = [...byKey.values()].map((s) => s.flag.replace(/^--/, '')).join(', ');
      throw new ConfigError(`${where}: key "${key}": unknown key (known keys: ${known})`);
    }
    if (typeof value !== 'string') {
      throw new ConfigError(`${where}: key "${key}": expected "${key} = value"${Array.isArray(value) ? ', given more than once' : ''}`);
    }
    try {
      out[spec.key] = spec.parse(value);
    } catch (err) {
      if (err instanceof ValueError) throw new ConfigError(`${where}: key "${key}": ${err.message}`, { cause: err });
      throw err;
    }
  }
  return out;
}
