/**
 * Every failure the protocol layer can report, one class each. All extend
 * ProtocolError, so a connection can answer any of them with an `error` message.
 */

const QUOTE_LIMIT = 60;

/** Quote a piece of offending input for an error message, truncated and made printable. */
export function quote(input: string): string {
  const printable = JSON.stringify(input.length > QUOTE_LIMIT ? input.slice(0, QUOTE_LIMIT) : input);
  return input.length > QUOTE_LIMIT ? `${printable}… (${input.length} chars)` : printable;
}

export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Bytes outside a frame that are not whitespace. */
export class UnexpectedBytesError extends ProtocolError {
  override name = 'UnexpectedBytesError';
  constructor(readonly input: string) {
    super(`unexpected bytes outside a frame: ${quote(input)}`);
  }
}

/** A frame (or a frame still being received) longer than the limit. */
export class FrameTooLargeError extends ProtocolError {
  override name = 'FrameTooLargeError';
  constructor(readonly limit: number, readonly received: number, readonly start: string) {
    super(`frame exceeds ${limit} characters: ${quote(start)}… (${received} chars)`);
  }
}

/** A `<` inside a frame, or a frame with no kind. */
export class MalformedFrameError extends ProtocolError {
  override name = 'MalformedFrameError';
  constructor(reason: string, readonly frame: string) {
    super(`malformed frame (${reason}): ${quote(frame)}`);
  }
}

/** A field with a bad percent-escape. */
export class BadEscapeError extends ProtocolError {
  override name = 'BadEscapeError';
  constructor(readonly field: string) {
    super(`bad percent-escape in field ${quote(field)}`);
  }
}

/** A kind that is not in the catalog. */
export class UnknownKindError extends ProtocolError {
  override name = 'UnknownKindError';
  constructor(readonly kind: string) {
    super(`unknown message kind ${quote(kind)}`);
  }
}

/** A known kind with a number of fields no variant of it takes. */
export class FieldCountError extends ProtocolError {
  override name = 'FieldCountError';
  constructor(readonly kind: string, readonly expected: number[], readonly got: number, frame: string) {
    super(`${kind} takes ${expected.join(' or ')} fields but got ${got}: ${quote(frame)}`);
  }
}

/** A field whose value does not fit its type (number, name, address, enum). */
export class FieldValueError extends ProtocolError {
  override name = 'FieldValueError';
  constructor(readonly kind: string, readonly field: string, readonly value: string, reason: string) {
    super(`${kind}.${field} ${reason}: ${quote(value)}`);
  }
}

/** A message that is well-formed but not acceptable from this peer at this point. */
export class UnexpectedMessageError extends ProtocolError {
  override name = 'UnexpectedMessageError';
  constructor(reason: string) {
    super(reason);
  }
}
