/**
 * Value parsers shared by command-line flags and .ini files. Each takes the raw
 * text and returns the value or throws ValueError with a reason a person can act on.
 */
import { ValueError } from '../errors.js';
import { parseAddress } from '../net/address.js';

export type Parser<T> = (raw: string) => T;

export const port: Parser<number> = (raw) => {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) > 65535) throw new ValueError(`port must be an integer 0–65535, got ${JSON.stringify(raw)}`);
  return Number(raw);
};

/** Ports first to last, both included. */
export interface PortRange {
  first: number;
  last: number;
}

/** `7210-7299` (or one port, `7210`): ports 1–65535, the first not above the last. */
export const portRange: Parser<PortRange> = (raw) => {
  const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(raw);
  const first = Number(m?.[1]);
  const last = m?.[2] === undefined ? first : Number(m[2]);
  if (!m || first < 1 || last > 65535 || first > last) {
    throw new ValueError(`expected a port range FIRST-LAST within 1–65535, the first not above the last (e.g. 7210-7299), got ${JSON.stringify(raw)}`);
  }
  return { first, last };
};

/** A duration or frequency in seconds; fractions allowed (0.05). */
export const seconds: Parser<number> = (raw) => {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 86_400) {
    throw new ValueError(`expected seconds, a number > 0 (fractions allowed, e.g. 0.05), got ${JSON.stringify(raw)}`);
  }
  return n;
};

export const count: Parser<number> = (raw) => {
  if (!/^\d+$/.test(raw.trim())) throw new ValueError(`expected a whole number ≥ 0, got ${JSON.stringify(raw)}`);
  return Number(raw);
};

export const positiveCount: Parser<number> = (raw) => {
  const n = count(raw);
  if (n < 1) throw new ValueError(`expected a whole number ≥ 1, got ${JSON.stringify(raw)}`);
  return n;
};

/** A number parser with an upper bound. */
export function bounded(parse: Parser<number>, max: number): Parser<number> {
  return (raw) => {
    const n = parse(raw);
    if (n > max) throw new ValueError(`expected at most ${max}, got ${JSON.stringify(raw)}`);
    return n;
  };
}

export const address: Parser<string> = (raw) => {
  try {
    parseAddress(raw.trim());
  } catch (err) {
    throw new ValueError((err as Error).message);
  }
  return raw.trim();
};

export const name: Parser<string> = (raw) => {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(raw)) throw new ValueError(`expected a name of letters, digits, _ . - (at most 64), got ${JSON.stringify(raw)}`);
  return raw;
};

export const host: Parser<string> = (raw) => {
  if (!/^[A-Za-z0-9_.:-]{1,253}$/.test(raw)) throw new ValueError(`expected a host name or IP address, got ${JSON.stringify(raw)}`);
  return raw;
};

export const text: Parser<string> = (raw) => raw;

export const bool: Parser<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['true', 'yes', '1', 'on'].includes(v)) return true;
  if (['false', 'no', '0', 'off'].includes(v)) return false;
  throw new ValueError(`expected true or false, got ${JSON.stringify(raw)}`);
};

export function oneOf<T extends string>(...choices: T[]): Parser<T> {
  return (raw) => {
    if (!choices.includes(raw as T)) throw new ValueError(`expected one of ${choices.join(', ')}, got ${JSON.stringify(raw)}`);
    return raw as T;
  };
}

/** The word that says "no such peer" where an address is expected: `--gfd none` (`gfd = none` in an .ini), as `--no-gfd`. */
export const NONE = 'none';

/** An address, or `none` (false): run without that peer. */
export const addressOrNone: Parser<string | false> = (raw) => (raw.trim().toLowerCase() === NONE ? false : address(raw));

/**
 * Replicas given by hand: `S1=host:port,S2=host:port` (`;` separates too, as on the wire), in
 * the order given. Each name once.
 */
/**
 * A server's `--group`: with an RM, the name of the replica group it joins (`g2`); without one, the
 * fixed group as `S1=host:port,…` (see members). Told apart by `=`, `:`, `,` or `;`, which no group name has.
 */
export const groupOrMembers: Parser<string | Array<{ name: string; addr: string }>> = (raw) => (/[=:,;]/.test(raw) ? members(raw) : name(raw.trim()));

/** Names separated by commas: `g1,g2,g3`, each once. */
export const nameList: Parser<string[]> = (raw) => {
  const out = raw.split(',').map((p) => name(p.trim()));
  if (new Set(out).size !== out.length) throw new ValueError(`a name is listed twice in ${JSON.stringify(raw)}`);
  return out;
};

export const members: Parser<Array<{ name: string; addr: string }>> = (raw) => {
  const parts = raw.split(/[,;]/).map((p) => p.trim());
  if (parts.every((p) => p === '')) throw new ValueError(`expected NAME=host:port[,NAME=host:port…], got ${JSON.stringify(raw)}`);
  const out: Array<{ name: string; addr: string }> = [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ValueError(`expected NAME=host:port, got ${JSON.stringify(part)} in ${JSON.stringify(raw)}`);
    const member = { name: name(part.slice(0, eq).trim()), addr: address(part.slice(eq + 1)) };
    if (out.some((m) => m.name === member.name)) throw new ValueError(`${member.name} is listed twice in ${JSON.stringify(raw)}`);
    out.push(member);
  }
  return out;
};
