// The loopback SMTP listener (smtp-server) your mail server delivers replies
// to: a transport of the MTA sends reply_to's mail here. It takes only that
// address (and its +subaddresses), answers 250 only once the reply is
// committed as a text (or was before), 550 with the reason for a reply it
// refuses (the MTA bounces it to the sender, who so learns why), and 451 when
// the database cannot take it now (the MTA tries again). No AUTH, no
// STARTTLS: it listens on loopback only (the configuration refuses anything
// else) and checks that every client is local.

import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { makeAddressMatcher } from '../config/cidr.js';
import type { EmailConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { ReplyIntake, ReplyOutcome } from './replies.js';

export interface ReplyListener {
  port: number;
  close(): Promise<void>;
}

/** A reply with pictures is still a reply: room for them, though only the words are texted. */
export const REPLY_MAX_BYTES = 25 * 1024 * 1024;

const isLoopback = makeAddressMatcher(['127.0.0.0/8', '::1/128', '::ffff:127.0.0.0/104']);

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message.replace(/[\r\n]+/g, ' ').slice(0, 400)), { responseCode: code });
}

/** The SMTP answer to an outcome. */
export function smtpReply(o: ReplyOutcome): { code: number; text: string } {
  switch (o.status) {
    case 'queued':
    case 'duplicate':
    case 'ignored':
      return { code: 250, text: `2.0.0 ${o.reason}` };
    case 'retry':
      return { code: 451, text: `4.3.0 ${o.reason}` };
    case 'refused':
      return { code: 550, text: `${o.refusal === 'wrong_sender' ? '5.7.1' : o.refusal === 'not_a_reply' ? '5.1.1' : '5.6.0'} ${o.reason}` };
  }
}

/** Whether an envelope recipient is the reply address or one of its +subaddresses. */
export function isReplyAddress(rcpt: string, email: Pick<EmailConfig, 'replyTo' | 'from'>): boolean {
  const base = (email.replyTo !== '' ? email.replyTo : email.from).toLowerCase();
  const at = base.lastIndexOf('@');
  const [local, domain] = [base.slice(0, at), base.slice(at + 1)];
  const m = /^(.*?)(?:\+[^@]*)?@([^@]+)$/.exec(rcpt.toLowerCase());
  return m !== null && m[1] === local && m[2] === domain;
}

export function startReplyListener(deps: {
  host: string;
  port: number;
  intake: ReplyIntake;
  email: () => EmailConfig;
  log: Logger;
}): Promise<ReplyListener> {
  const { log } = deps;
  const server = new SMTPServer({
    banner: 'websms: replies to its e-mails',
    disabledCommands: ['AUTH', 'STARTTLS'],
    hideSTARTTLS: true,
    authOptional: true,
    size: REPLY_MAX_BYTES,
    logger: false,
    closeTimeout: 2000,
    onConnect(session: SMTPServerSession, cb: (err?: Error | null) => void) {
      if (!isLoopback(session.remoteAddress)) {
        log.warn({ ip: session.remoteAddress }, 'SMTP connection refused: replies are taken from this host\'s mail server only');
        return cb(smtpError(554, '5.7.1 only this host\'s mail server may deliver here'));
      }
      cb();
    },
    onRcptTo(address: SMTPServerAddress, _session: SMTPServerSession, cb: (err?: Error | null) => void) {
      if (isReplyAddress(address.address, deps.email())) return cb();
      log.warn({ rcpt: address.address }, 'SMTP recipient refused: not the reply address ([email] reply_to)');
      cb(smtpError(550, `5.1.1 <${address.address}>: only replies to websms's e-mails are taken here`));
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', (err: Error) => cb(smtpError(451, `4.3.0 reading the message failed: ${err.message}`)));
      stream.on('end', () => {
        if (stream.sizeExceeded) return cb(smtpError(552, `5.3.4 a reply may be at most ${REPLY_MAX_BYTES} bytes`));
        const rcpt = session.envelope.rcptTo.map((r) => r.address);
        deps.intake.take(Buffer.concat(chunks), 'smtp', rcpt).then(
          (o) => {
            const r = smtpReply(o);
            if (r.code === 250) cb(null, r.text);
            else cb(smtpError(r.code, r.text));
          },
          (err: Error) => {
            log.error({ err }, 'e-mail reply could not be handled');
            cb(smtpError(451, '4.3.0 websms could not handle the reply now; try again later'));
          },
        );
      });
    },
  });
  server.on('error', (err: Error) => log.error({ err }, 'reply listener error'));
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.server.once('error', onError);
    server.listen(deps.port, deps.host, () => {
      server.server.off('error', onError);
      const addr = server.server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : deps.port;
      log.info({ host: deps.host, port }, 'taking e-mail replies over SMTP');
      resolve({
        port,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}
