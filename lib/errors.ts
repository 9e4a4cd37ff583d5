/**
 * Every failure ftkit reports, one class each. Each has a `name` (what it is, for traces and
 * logs) and takes the ES2022 `{ cause }` option for the error underneath it (the classes that
 * take only a message inherit Error's `(message, { cause })`).
 */

type ErrorOptions = { cause?: unknown };

const QUOTE_LIMIT = 60;

/** Quote a piece of offending input for an error message, truncated and made printable. */
export function quote(input: string): string {
  const printable = JSON.stringify(input.length > QUOTE_LIMIT ? input.slice(0, QUOTE_LIMIT) : input);
  return input.length > QUOTE_LIMIT ? `${printable}… (${input.length} chars)` : printable;
}

// Configuration: flags, .ini files, secrets.

/** A bad setting: a flag, an .ini key or a value that does not parse. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A value that does not parse; the caller adds where it came from. */
export class ValueError extends ConfigError {
  override name = 'ValueError';
}

// The connection layer.

export class ConnectTimeoutError extends Error {
  override name = 'ConnectTimeoutError';
  constructor(readonly addr: string, readonly timeoutMs: number, options?: ErrorOptions) {
    super(`connecting to ${addr} timed out after ${timeoutMs} ms`, options);
  }
}

/** The peer closed the connection before the answer we were waiting for. */
export class ConnectionClosedError extends Error {
  override name = 'ConnectionClosedError';
  constructor(readonly peer: string, waitingFor: string, options?: ErrorOptions) {
    super(`${peer} closed the connection before ${waitingFor}`, options);
  }
}

export class DeadlineError extends Error {
  override name = 'DeadlineError';
  constructor(what: string, readonly timeoutMs: number, options?: ErrorOptions) {
    super(`${what} did not happen within ${timeoutMs} ms`, options);
  }
}

export class AddressError extends Error {
  override name = 'AddressError';
  constructor(readonly input: string, reason: string, options?: ErrorOptions) {
    super(`bad address ${JSON.stringify(input)}: ${reason}`, options);
  }
}

/**
 * A peer refused us for a reason retrying cannot change (a wrong or missing secret, a name
 * already taken), or failed to prove it holds our secret. A component's upstream link stops
 * on it, and the component exits saying why in one line.
 */
export class RefusedError extends Error {
  override name = 'RefusedError';
  constructor(readonly peer: string, readonly reason: string, options?: ErrorOptions) {
    super(`${peer}: ${reason}`, options);
  }
}

// The protocol. All extend ProtocolError, so a connection can answer any of them with an `error` message.

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** Bytes outside a frame that are not whitespace. */
export class UnexpectedBytesError extends ProtocolError {
  override name = 'UnexpectedBytesError';
  constructor(readonly input: string, options?: ErrorOptions) {
    super(`unexpected bytes outside a frame: ${quote(input)}`, options);
  }
}

/** A frame (or a frame still being received) longer than the limit. */
export class FrameTooLargeError extends ProtocolError {
  override name = 'FrameTooLargeError';
  constructor(readonly limit: number, readonly received: number, readonly start: string, options?: ErrorOptions) {
    super(`frame exceeds ${limit} characters: ${quote(start)}… (${received} chars)`, options);
  }
}

/** A `<` inside a frame, or a frame with no kind. */
export class MalformedFrameError extends ProtocolError {
  override name = 'MalformedFrameError';
  constructor(reason: string, readonly frame: string, options?: ErrorOptions) {
    super(`malformed frame (${reason}): ${quote(frame)}`, options);
  }
}

/** A field with a bad percent-escape. */
export class BadEscapeError extends ProtocolError {
  override name = 'BadEscapeError';
  constructor(readonly field: string, options?: ErrorOptions) {
    super(`bad percent-escape in field ${quote(field)}`, options);
  }
}

/** A kind that is not in the catalog. */
export class UnknownKindError extends ProtocolError {
  override name = 'UnknownKindError';
  constructor(readonly kind: string, options?: ErrorOptions) {
    super(`unknown message kind ${quote(kind)}`, options);
  }
}

/** A known kind with a number of fields no variant of it takes. */
export class FieldCountError extends ProtocolError {
  override name = 'FieldCountError';
  constructor(readonly kind: string, readonly expected: number[], readonly got: number, frame: string, options?: ErrorOptions) {
    super(`${kind} takes ${expected.join(' or ')} fields but got ${got}: ${quote(frame)}`, options);
  }
}

/** A field whose value does not fit its type (number, name, address, enum). */
export class FieldValueError extends ProtocolError {
  override name = 'FieldValueError';
  constructor(readonly kind: string, readonly field: string, readonly value: string, reason: string, options?: ErrorOptions) {
    super(`${kind}.${field} ${reason}: ${quote(value)}`, options);
  }
}

/** A message that is well-formed but not acceptable from this peer at this point. */
export class UnexpectedMessageError extends ProtocolError {
  override name = 'UnexpectedMessageError';
}

// Administration.

/** The RM refused an administrative request (`ftkit ctl set primary S9` with no replica S9); retrying cannot help. */
export class AdminRefusedError extends Error {
  override name = 'AdminRefusedError';
  constructor(readonly rm: string, readonly reason: string, options?: ErrorOptions) {
    super(reason, options);
  }
}

// Metrics.

/** A metrics report that is too large or malformed: refused (traced), never acted on. */
export class MetricsReportError extends Error {
  override name = 'MetricsReportError';
  constructor(reason: string, options?: ErrorOptions) {
    super(`bad metrics report: ${reason}`, options);
  }
}

// The client session.

/** No replica answered a request within the give-up time (or the retry policy gave up). */
export class GiveUpError extends Error {
  override name = 'GiveUpError';
  /** `rmProblem`: the RM could not be reached meanwhile (`RM at host:port unreachable (…)`), which is then what the message blames. */
  constructor(readonly client: string, readonly seconds: number, readonly rmProblem?: string, options?: ErrorOptions) {
    super(rmProblem ? `${client}: ${rmProblem}, so no replica to send to for ${seconds} s; giving up` : `${client}: no replica answered for ${seconds} s; giving up`, options);
  }
}

/** The session was stopped while a request was open. */
export class SessionStoppedError extends Error {
  override name = 'SessionStoppedError';
  constructor(readonly client: string, options?: ErrorOptions) {
    super(`${client}: stopped before a reply`, options);
  }
}

// The chaos harness.

/** The harness could not set a run up (the system never became ready): no finding about ftkit. */
export class HarnessError extends Error {
  override name = 'HarnessError';
}

// Storage: a replica's data dir.

/** A record in the middle of a log, or a snapshot, that fails its checksum: never skipped silently. */
export class DamagedRecordError extends Error {
  override name = 'DamagedRecordError';
  constructor(readonly file: string, readonly offset: number, reason: string, options?: ErrorOptions) {
    super(`${file}: damaged record at byte ${offset} (${reason}); nothing was changed: restore the file or remove the data dir to start this replica empty`, options);
  }
}

/** A write or fsync that failed: what was waiting on it is not durable. */
export class StorageError extends Error {
  override name = 'StorageError';
}
