/**
 * Glue between option specs and commander: flags are built from the specs, and
 * resolveOptions() merges defaults < .ini file < flags given on the command line.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadIni, readIni, splitSections } from '../lib/config/ini.js';
import { ValueError } from '../lib/errors.js';
import type { OptionSpec } from '../lib/config/options.js';

export function addOptions(cmd: Command, specs: readonly OptionSpec[]): Command {
  for (const s of specs) {
    const takesValue = s.flag.includes('<');
    const opt = new Option(s.flag, s.description);
    if (takesValue) {
      opt.argParser((raw: string) => {
        try {
          return s.parse(raw);
        } catch (err) {
          if (err instanceof ValueError) throw new InvalidArgumentError(err.message);
          throw err;
        }
      });
      if (s.default !== undefined) opt.default(s.default);
    }
    cmd.addOption(opt);
    if (s.negation) cmd.addOption(new Option(`--no-${opt.attributeName().replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, s.negation));
  }
  return cmd;
}

/** The keys an options object got from a flag or an .ini file, not from a default: `givenKeys(opts)`. */
const GIVEN = Symbol('given');

export function givenKeys(opts: Record<string, unknown>): ReadonlySet<string> {
  return (opts as { [GIVEN]?: Set<string> })[GIVEN] ?? new Set();
}

/**
 * The options a component runs with. `section` is the .ini section to read
 * (the component's name); a file without sections is read at its top level.
 */
export function resolveOptions<T>(cmd: Command, specs: readonly OptionSpec[], section: string, optionalSection = false): T {
  const given = cmd.opts() as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const explicit = new Set<string>();
  Object.defineProperty(out, GIVEN, { value: explicit, enumerable: false });
  for (const s of specs) if (s.default !== undefined) out[s.key] = s.default;
  const file = given.config as string | undefined;
  if (file) {
    const { sections } = splitSections(readIni(file));
    const fromFile = loadIni(file, specs, sections.size > 0 || section === undefined ? section : undefined, optionalSection);
    Object.assign(out, fromFile);
    for (const key of Object.keys(fromFile)) explicit.add(key);
  }
  for (const s of specs) {
    const source = cmd.getOptionValueSource(s.key);
    if (source === 'cli') explicit.add(s.key);
    if (source === 'cli' || (source === 'default' && out[s.key] === undefined)) out[s.key] = given[s.key];
  }
  if (given.color === false) out.color = false;
  return out as T;
}
