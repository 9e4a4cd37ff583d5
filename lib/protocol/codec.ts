/**
 * The wire form `<f1, f2, ..., kind>`. Pure: strings in, strings or typed errors out.
 *
 * Fields are percent-encoded for `%` `,` `<` `>` CR LF and for spaces at either end,
 * so every string round-trips. The decoder trims ASCII spaces around fields first.
 */
import { BadEscapeError, MalformedFrameError } from '../errors.js';

const ESCAPED = /[%,<>\r\n]/g;
const ESCAPES: Record<string, string> = { '%': '%25', ',': '%2C', '<': '%3C', '>': '%3E', '\r': '%0D', '\n': '%0A' };

/**
 * A field with nothing to escape (the common case, returned as it is): none of `%` `,` `<`
 * `>` CR LF, and no space at either end.
 */
function isPlain(value: string): boolean {
  const n = value.length;
  if (n === 0) return true;
  if (value.charCodeAt(0) === 32 || value.charCodeAt(n - 1) === 32) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    // % , < > CR LF
    if (c === 37 || c === 44 || c === 60 || c === 62 || c === 13 || c === 10) return false;
  }
  return true;
}

/** Percent-encode one field. */
export function encodeField(value: string): string {
  if (isPlain(value)) return value;
  let out = value.replace(ESCAPED, (c) => ESCAPES[c]!);
  // Leading/trailing spaces would be trimmed by the decoder: escape them.
  const lead = /^ +/.exec(out)?.[0].length ?? 0;
  if (lead === out.length) return '%20'.repeat(lead);
  const trail = / +$/.exec(out)?.[0].length ?? 0;
  if (lead || trail) out = '%20'.repeat(lead) + out.slice(lead, out.length - trail) + '%20'.repeat(trail);
  return out;
}

/** Decode one field (already trimmed). Throws BadEscapeError on a broken escape. */
export function decodeField(raw: string): string {
  if (!raw.includes('%')) return raw;
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) throw new BadEscapeError(raw);
  try {
    return decodeURIComponent(raw);
  } catch (cause) {
    throw new BadEscapeError(raw);
  }
}

/** Encode fields (the kind last) into one frame. */
export function encodeFrame(fields: readonly string[]): string {
  let out = '<';
  for (let i = 0; i < fields.length; i++) out += i === 0 ? encodeField(fields[i]!) : ', ' + encodeField(fields[i]!);
  return out + '>';
}

/** Decode one whole frame, `<` and `>` included, into its fields (the kind last). */
export function decodeFrame(frame: string): string[] {
  const n = frame.length;
  if (n < 2 || frame.charCodeAt(0) !== 60 || frame.charCodeAt(n - 1) !== 62) {
    throw new MalformedFrameError('not enclosed in < >', frame);
  }
  const last = n - 1;
  const lt = frame.indexOf('<', 1);
  const gt = frame.indexOf('>', 1);
  if ((lt !== -1 && lt < last) || gt < last) throw new MalformedFrameError('< or > inside a frame', frame);
  // Fields run between commas; ASCII spaces around each are trimmed (not tabs).
  const fields: string[] = [];
  let start = 1;
  for (;;) {
    let comma = frame.indexOf(',', start);
    if (comma === -1 || comma > last) comma = last;
    let a = start;
    let b = comma;
    while (a < b && frame.charCodeAt(a) === 32) a++;
    while (b > a && frame.charCodeAt(b - 1) === 32) b--;
    fields.push(decodeField(frame.slice(a, b)));
    if (comma === last) break;
    start = comma + 1;
  }
  const kind = fields[fields.length - 1]!;
  if (kind === '') throw new MalformedFrameError('no kind', frame);
  return fields;
}
