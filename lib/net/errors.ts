/** Failures of the connection layer, one class each. */

export class ConnectTimeoutError extends Error {
  override name = 'ConnectTimeoutError';
  constructor(readonly addr: string, readonly timeoutMs: number) {
    super(`connecting to ${addr} timed out after ${timeoutMs} ms`);
  }
}

export class ConnectionClosedError extends Error {
  override name = 'ConnectionClosedError';
  constructor(readonly peer: string, options?: { cause?: unknown }) {
    super(`connection to ${peer} closed`, options);
  }
}

export class DeadlineError extends Error {
  override name = 'DeadlineError';
  constructor(what: string, readonly timeoutMs: number) {
    super(`${what} did not happen within ${timeoutMs} ms`);
  }
}

export class AddressError extends Error {
  override name = 'AddressError';
  constructor(readonly input: string, reason: string) {
    super(`bad address ${JSON.stringify(input)}: ${reason}`);
  }
}

/**
 * A peer refused us for a reason retrying cannot change (a wrong or missing secret, a name
 * already taken), or failed to prove it holds our secret. A component's upstream link stops
 * on it, and the component exits saying why in one line.
 */
export class RefusedError extends Error {
  override name = 'RefusedError';
  constructor(readonly peer: string, readonly reason: string) {
    super(`${peer}: ${reason}`);
  }
}
