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
