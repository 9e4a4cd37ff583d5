/**
 * The command lines an LFD relaunches its servers with, kept on disk so that an LFD that
 * restarts can still relaunch them.
 *
 * A command line belongs to one system: the file is named after the GFD's address and the LFD's
 * name, and records both; entries of another system, or older than the maximum age, are never
 * loaded. A command read from disk is only used to relaunch the very server that registered it,
 * never as a template for a new one (templates come from servers registered with this LFD since
 * it started). The state folder is per user (see defaultStateDir).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const COMMANDS_FILE_VERSION = 2;
/** Saved command lines older than this are stale: not loaded, and their files are deleted. */
export const DEFAULT_COMMANDS_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/** Which system a command line was learned in: the GFD the LFD registers with, and the LFD's name. */
export interface SystemIdentity {
  gfd: string;
  lfd: string;
}

interface SavedCommand {
  command: string[];
  savedAt: number;
}

/**
 * Where LFDs keep their state by default: $XDG_STATE_HOME/ftkit, else ~/.local/state/ftkit,
 * else (no home directory) ftkit-<uid> in the temp directory. Always the user's own.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv, home: string | undefined, tmp: string, uid: number | undefined): string {
  const xdg = env.XDG_STATE_HOME;
  if (xdg && xdg.startsWith('/')) return join(xdg, 'ftkit');
  if (home && home !== '/') return join(home, '.local', 'state', 'ftkit');
  return join(tmp, `ftkit-${uid ?? 'user'}`);
}

/** `lfd-LFD1@127.0.0.1_7001.json`: one file per (GFD address, LFD name). */
export function commandsFileName(id: SystemIdentity): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');
  return `lfd-${safe(id.lfd)}@${safe(id.gfd)}.json`;
}

const isCommand = (c: unknown): c is string[] => Array.isArray(c) && c.length > 0 && c.every((a) => typeof a === 'string');

/** The saved commands in `text` that belong to `id` and are not older than `maxAgeMs`; none for anything else. */
export function parseCommandsFile(text: string, id: SystemIdentity, now: number, maxAgeMs = DEFAULT_COMMANDS_MAX_AGE_MS): Map<string, SavedCommand> {
  const out = new Map<string, SavedCommand>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return out;
  }
  if (typeof parsed !== 'object' || parsed === null) return out;
  const file = parsed as { version?: unknown; gfd?: unknown; lfd?: unknown; commands?: unknown };
  if (file.version !== COMMANDS_FILE_VERSION || file.gfd !== id.gfd || file.lfd !== id.lfd) return out;
  if (typeof file.commands !== 'object' || file.commands === null) return out;
  for (const [name, entry] of Object.entries(file.commands as Record<string, unknown>)) {
    const e = entry as { command?: unknown; savedAt?: unknown } | null;
    if (!e || !isCommand(e.command) || typeof e.savedAt !== 'number' || now - e.savedAt > maxAgeMs) continue;
    out.set(name, { command: e.command, savedAt: e.savedAt });
  }
  return out;
}

export function formatCommandsFile(id: SystemIdentity, commands: Map<string, SavedCommand>): string {
  return JSON.stringify({ version: COMMANDS_FILE_VERSION, gfd: id.gfd, lfd: id.lfd, commands: Object.fromEntries(commands) });
}

export class CommandStore {
  /** Registered with this LFD since it started, and accepted by the system. */
  private readonly learned = new Map<string, SavedCommand>();
  /** Read from disk: usable only to relaunch the same server. */
  private readonly loaded = new Map<string, SavedCommand>();

  constructor(
    /** Undefined: keep command lines in memory only. */
    readonly dir: string | undefined,
    readonly id: SystemIdentity,
    private readonly maxAgeMs = DEFAULT_COMMANDS_MAX_AGE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  get file(): string | undefined {
    return this.dir === undefined ? undefined : join(this.dir, commandsFileName(this.id));
  }

  /** Read this system's saved commands; delete stale files of any system. Returns the names loaded. */
  load(): string[] {
    if (!this.file) return [];
    this.pruneStale();
    try {
      for (const [name, saved] of parseCommandsFile(readFileSync(this.file, 'utf8'), this.id, this.now(), this.maxAgeMs)) this.loaded.set(name, saved);
    } catch {
      // No saved commands (first start) or an unreadable file: start with none.
    }
    return [...this.loaded.keys()];
  }

  /** The command line to relaunch `name` with, if it ever registered here in this system. */
  get(name: string): string[] | undefined {
    return (this.learned.get(name) ?? this.loaded.get(name))?.command;
  }

  /** Every command line kept, learned or loaded. */
  all(): string[][] {
    return [...this.loaded.values(), ...this.learned.values()].map((saved) => saved.command);
  }

  /** A command line of a server registered since this LFD started (a template for a new server). */
  template(): string[] | undefined {
    return [...this.learned.values()][0]?.command;
  }

  /** `name` registered with `command` and the system accepted it. Throws if it cannot be saved. */
  learn(name: string, command: string[]): boolean {
    if (!isCommand(command)) return false;
    const had = this.learned.get(name);
    if (had && JSON.stringify(had.command) === JSON.stringify(command)) return false;
    this.learned.set(name, { command, savedAt: this.now() });
    this.loaded.delete(name);
    this.save();
    return true;
  }

  private save(): void {
    if (!this.file) return;
    mkdirSync(this.dir!, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, formatCommandsFile(this.id, new Map([...this.loaded, ...this.learned])), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  private pruneStale(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir!);
    } catch {
      return;
    }
    for (const n of names) {
      if (!/^lfd-.*\.json(\.\d+\.tmp)?$/.test(n)) continue;
      const path = join(this.dir!, n);
      try {
        if (this.now() - statSync(path).mtimeMs > this.maxAgeMs) unlinkSync(path);
      } catch {
        // Gone already, or not ours to delete: leave it.
      }
    }
  }
}
