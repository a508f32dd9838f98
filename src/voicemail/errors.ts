import { WebsmsError } from '../errors.js';

/** A voicemail e-mail that cannot be taken as it is: what is wrong with it, for the log. */
export class VoicemailError extends WebsmsError {
  constructor(
    code: 'empty' | 'too_large' | 'no_headers' | 'no_recipient',
    readonly reason: string,
  ) {
    super(code, reason);
  }
}
