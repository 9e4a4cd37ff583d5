/** A bad setting: a flag, an .ini key or a value that does not parse. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A value that does not parse; the caller adds where it came from. */
export class ValueError extends ConfigError {
  override name = 'ValueError';
}
