/**
 * The one .ini loader. Reads a file, picks a section (or the top level), and
 * validates every key against the option specs of the component it configures.
 * Errors name the file, the key and the reason.
 */
import { readFileSync } from 'node:fs';
import ini from 'ini';
import { ConfigError, ValueError, quote } from '../errors.js';
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
  checkSyntax(file, text);
  return ini.parse(text) as Record<string, unknown>;
}

/** `heartbeatFreq` -> `heartbeat-freq`: how a key is written in a file. */
export function camelToKebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A section header: `[name]`, the name as ftkit names components (letters, digits, _ . -). */
const HEADER = /^\[\s*([A-Za-z0-9_.-]+)\s*\]$/;
/** A key, on its own (a flag set to true) or before `=`; `key[]` is the parser's list syntax. */
const KEY = /^[A-Za-z0-9_.-]+(\[\])?$/;

/**
 * What the ini parser would take silently: it reads `[broken` as a key set to true and keeps the
 * last of a key written twice. Every line must be blank, a comment (`;` or `#`), a section header
 * `[name]`, or `key = value` (or a key alone); each error names the file and the line.
 */
function checkSyntax(file: string, text: string): void {
  let section = '';
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const at = `${file}:${i + 1}`;
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      const header = HEADER.exec(line);
      if (!header) throw new ConfigError(`${at}: syntax error: ${quote(line)} is not a section header; write [name] (letters, digits, _ . -)`);
      section = header[1]!;
      seen.clear();
      continue;
    }
    const eq = line.indexOf('=');
    const written = (eq === -1 ? line : line.slice(0, eq)).trim();
    if (!KEY.test(written)) {
      throw new ConfigError(`${at}: syntax error: ${quote(line)} is neither a section header [name] nor key = value`);
    }
    const key = keyToCamel(written);
    if (seen.has(key)) throw new ConfigError(`${at}${section ? ` [${section}]` : ''}: key "${written}": given more than once`);
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
