/**
 * A bad machine configuration (an option value, an unreadable or malformed image): one line,
 * meant for the user. The CLI maps it to exit status 64; a library caller gets it thrown from
 * Machine.create.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
