// The error of an e-mail the SMTP server did not take, apart from the SMTP
// client itself: the outbox worker tells a permanent refusal from a passing
// failure without loading nodemailer until there is something to send.

import { WebsmsError } from '../errors.js';

/**
 * Why an e-mail was not taken. `permanent`: the server refused this e-mail
 * (5xx to its sender, recipient or content): sending it again would not help.
 * Anything else (no connection, TLS, login, 4xx, a timeout) is tried again.
 */
export class EmailSendError extends WebsmsError {
  constructor(
    readonly reason: string,
    readonly permanent: boolean,
    /** nodemailer's code (ECONNECTION, EAUTH, ETLS, ...) or the SMTP reply code. */
    readonly detail: string,
  ) {
    super('email_send', reason);
  }
}
