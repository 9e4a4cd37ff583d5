/**
 * The wire form `<f1, f2, ..., kind>`. Pure: strings in, strings or typed errors out.
 *
 * Fields are percent-encoded for `%` `,` `<` `>` CR LF and for spaces at either end,
 * so every string round-trips. The decoder trims ASCII spaces around fields first.
 */
import { BadEscapeError, MalformedFrameError } from '../errors.js';

const ESCAPED = /[%,<>\r\n]/g;
const ESCAPES: Record<string, string> = { '%': '%25', ',': '%2C', '<': '%3C', '>': '%3E', '\r': '%0D', '\n': '%0A' };

/** A field with nothing to escape: the common case, returned as it is. */
const PLAIN = /^(?! )[^%,<>\r\n]*(?<! )$/;

/** Percent-encode one field. */
export function encodeField(value: string): string {
  if (PLAIN.test(value)) return value;
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
  return `<${fields.map(encodeField).join(', ')}>`;
}

/** Decode one whole frame, `<` and `>` included, into its fields (the kind last). */
export function decodeFrame(frame: string): string[] {
  if (frame.length < 2 || frame[0] !== '<' || frame[frame.length - 1] !== '>') {
    throw new MalformedFrameError('not enclosed in < >', frame);
  }
  const body = frame.slice(1, -1);
  if (body.includes('<') || body.includes('>')) throw new MalformedFrameError('< or > inside a frame', frame);
  const fields = body.split(',').map((f) => decodeField(f.replace(/^ +| +$/g, '')));
  const kind = fields[fields.length - 1]!;
  if (kind === '') throw new MalformedFrameError('no kind', frame);
  return fields;
}
