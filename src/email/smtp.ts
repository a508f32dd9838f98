// Sending one e-mail over SMTP with nodemailer (a well-kept client: STARTTLS,
// implicit TLS, AUTH, MIME with attachments). Certificates are always
// verified; plain SMTP only to loopback (the configuration refuses anything
// else). Each send opens its own connection: e-mails are few, and a server
// that was down is simply tried again by the outbox.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import nodemailer from 'nodemailer';
import type { EmailConfig } from '../config/types.js';
import { EmailSendError } from './errors.js';
import type { EmailAttachment, EmailHeaders } from './message.js';

export { EmailSendError };

export interface OutgoingEmail {
  to: string;
  subject: string;
  text: string;
  headers: EmailHeaders;
  attachments: EmailAttachment[];
}

export interface SmtpClient {
  /** Resolves with the server's reply once it took the e-mail. */
  send(email: OutgoingEmail): Promise<string>;
  /** Connects, upgrades to TLS and logs in, without sending (websms doctor). */
  verify(): Promise<void>;
}

type SmtpSettings = Pick<EmailConfig, 'smtp' | 'from' | 'fromName' | 'caFile'>;

function readCa(file: string): string[] | undefined {
  // The configuration checked the file; it is read again here so a renewed CA applies at a reload.
  return file === '' ? undefined : [...tls.rootCertificates, fs.readFileSync(file, 'utf8')];
}

export function createSmtpClient(cfg: SmtpSettings): SmtpClient {
  const { smtp } = cfg;
  const ca = readCa(cfg.caFile);
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.tls === 'tls',
    requireTLS: smtp.tls === 'starttls',
    ignoreTLS: smtp.tls === 'none',
    ...(smtp.username === '' ? {} : { auth: { user: smtp.username, pass: smtp.password } }),
    tls: { rejectUnauthorized: true, minVersion: 'TLSv1.2', ...(net.isIP(smtp.host) === 0 ? { servername: smtp.host } : {}), ...(ca ? { ca } : {}) },
    name: os.hostname(),
    connectionTimeout: smtp.timeoutMs,
    greetingTimeout: smtp.timeoutMs,
    socketTimeout: smtp.timeoutMs,
    dnsTimeout: smtp.timeoutMs,
    // Attachments are files websms wrote itself; no URL is ever fetched.
    disableUrlAccess: true,
    logger: false,
  });
  const from = { name: cfg.fromName, address: cfg.from };

  const classify = (err: unknown): EmailSendError => {
    const e = err as { code?: string; responseCode?: number; response?: string; message?: string };
    const code = e.responseCode;
    const raw = (e.response ?? e.message ?? String(err)).replace(/\s+/g, ' ').trim();
    // A server may echo what it was sent; the password is never part of a reason.
    const said = smtp.password === '' ? raw : raw.split(smtp.password).join('(hidden)');
    const where = `${smtp.host}:${smtp.port}`;
    const permanent = code !== undefined && code >= 500 && (e.code === 'EENVELOPE' || e.code === 'EMESSAGE');
    const reasons: Record<string, string> = {
      ECONNECTION: `cannot connect to the SMTP server ${where}: ${said}`,
      ESOCKET: `cannot connect to the SMTP server ${where}: ${said}`,
      EDNS: `cannot find the SMTP server ${smtp.host}: ${said}`,
      ETIMEDOUT: `the SMTP server ${where} did not answer in time`,
      ETLS: `TLS with the SMTP server ${where} failed: ${said}`,
      EAUTH: `the SMTP server ${where} refused the login of ${smtp.username}: ${said}; check [email] smtp_username and WEBSMS_EMAIL_SMTP_PASSWORD`,
      ENOAUTH: `the SMTP server ${where} wants a login: set [email] smtp_username and WEBSMS_EMAIL_SMTP_PASSWORD`,
    };
    const reason = reasons[e.code ?? ''] ?? `the SMTP server ${where} refused the e-mail: ${said}`;
    return new EmailSendError(reason.slice(0, 500), permanent, code !== undefined ? String(code) : e.code ?? 'error');
  };

  return {
    async send(email) {
      try {
        const info = await transport.sendMail({
          from,
          to: email.to,
          subject: email.subject,
          text: email.text,
          ...(email.headers.messageId ? { messageId: email.headers.messageId } : {}),
          ...(email.headers.inReplyTo ? { inReplyTo: email.headers.inReplyTo } : {}),
          ...(email.headers.references ? { references: email.headers.references } : {}),
          ...(email.headers.replyTo ? { replyTo: email.headers.replyTo } : {}),
          // Not an auto-reply: the user answers these by hand.
          headers: { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' },
          attachments: email.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, path: a.path })),
        });
        return info.response;
      } catch (err) {
        throw classify(err);
      }
    },
    async verify() {
      try {
        await transport.verify();
      } catch (err) {
        throw classify(err);
      }
    },
  };
}
