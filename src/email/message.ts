// An e-mail as websms queues it: generic, so that anything (texts no phone
// took, copies, failure notices, later voicemail) goes through the same outbox,
// the same SMTP client and the same retries.

export interface EmailAttachment {
  /** The name the recipient sees. */
  filename: string;
  contentType: string;
  /** A file read when the e-mail is sent; one that is gone by then is left out, and the e-mail says so. */
  path: string;
}

/** Threading and reply headers, as nodemailer takes them (Message-ID etc. without their own <> handling). */
export interface EmailHeaders {
  /** <token.websms@domain>: with the angle brackets. */
  messageId?: string;
  inReplyTo?: string;
  /** Space-separated Message-IDs, oldest first. */
  references?: string;
  replyTo?: string;
}

export interface NewEmail {
  /** Why it is sent: unreached, copy, failure, refused, voicemail, ... (a label for people and metrics). */
  kind: string;
  /**
   * What it is about (in-12, out-7): with kind, at most one e-mail is ever
   * queued for it. Undefined: not tied to anything.
   */
  ref?: string;
  to: string;
  subject: string;
  /** text/plain, UTF-8. */
  text: string;
  headers?: EmailHeaders;
  attachments?: EmailAttachment[];
}

/** The kinds websms sends; metrics count these and "other". */
export const EMAIL_KINDS = ['unreached', 'copy', 'failure', 'refused'] as const;
export type EmailKind = (typeof EMAIL_KINDS)[number];
