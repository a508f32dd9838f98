// Typed errors: each carries a stable code and a reason a user can act on.
// None of them ever carries a secret: callers pass names of settings, never values.

export class WebsmsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** One or more problems in the configuration; the daemon exits with EX_CONFIG (78). */
export class ConfigError extends WebsmsError {
  constructor(readonly problems: string[]) {
    super('config', problems.join('\n'));
  }
}

/** A number that cannot be turned into E.164; reason says why. */
export class NumberError extends WebsmsError {
  constructor(
    readonly input: string,
    readonly reason: string,
  ) {
    super('number', reason);
  }
}

/** A webhook that is refused: status is the HTTP status, reason the one-line explanation. */
export class RequestError extends WebsmsError {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super('request', reason);
  }
}

/** The store could not commit; the caller must not acknowledge. */
export class StoreError extends WebsmsError {
  constructor(message: string) {
    super('store', message);
  }
}

/** Anything that goes wrong talking to Asterisk over AMI. */
export class AmiError extends WebsmsError {
  constructor(
    code: 'ami_disconnected' | 'ami_timeout' | 'ami_error' | 'ami_auth' | 'ami_encoding',
    message: string,
    readonly response?: Record<string, string>,
  ) {
    super(code, message);
  }
}

export const EX_CONFIG = 78;
export const EX_USAGE = 64;

/** A request about a text that cannot be done: there is no such text, or its state does not allow it. */
export class TextError extends WebsmsError {
  constructor(
    code: 'not_found' | 'conflict',
    readonly reason: string,
  ) {
    super(code, reason);
  }
}
