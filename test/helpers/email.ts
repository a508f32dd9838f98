// A daemon with texts by e-mail, for the e-mail tests: a real SMTP server on
// loopback (test/doubles/smtp-server.ts), the ITSP and media doubles, and
// [email] pointing at them; replies sent to websms's loopback listener as a
// mail server would.

import type { ExecutionContext } from 'ava';
import path from 'node:path';
import Database from 'better-sqlite3';
import nodemailer from 'nodemailer';
import type { MediaRef } from '../../providers/types.js';
import { hasOpenssl, makeTestCa, startItspDouble, twilioLike, type ItspDouble, type TestCa } from '../doubles/itsp-server.js';
import { startMediaServer, type MediaServer } from '../doubles/media-server.js';
import { startSmtpDouble, type CapturedMail, type SmtpDouble } from '../doubles/smtp-server.js';
import { startStack, type Stack } from './stack.js';
import { tempDir } from './tmp.js';

export { hasOpenssl };

export const ALICE = '+46812345678';
export const ALICE_MAIL = 'alice@example.org';
export const BOB = '+46701234567';
export const SMTP_USER = 'websms@pbx.example.org';
export const SMTP_PASSWORD = 'smtp-s3cret-never-logged';
export const FROM = 'sms@pbx.example.org';
export const REPLY_TO = 'sms-reply@pbx.example.org';

let ca: TestCa | undefined;
export function testCa(): TestCa {
  ca ??= makeTestCa(tempDir());
  return ca;
}

export interface EmailStack extends Stack {
  smtp: SmtpDouble;
  itsp: ItspDouble;
  media: MediaServer;
  /** The reply listener's port. */
  replies: number;
  /** An inbound text to Alice, as the webhook would store it. */
  text(body: string, refs?: MediaRef[]): Promise<number>;
  outbox(): Array<Record<string, any>>;
}

export async function setupEmail(t: ExecutionContext, email = '', o: { outbound?: string; itsp?: string } = {}): Promise<EmailStack> {
  const c = testCa();
  const smtp = await startSmtpDouble({ cert: c.certFile, key: c.keyFile, user: { username: SMTP_USER, password: SMTP_PASSWORD } });
  const itsp = await startItspDouble({ default: twilioLike() });
  const media = await startMediaServer();
  const s = await startStack({
    general: `default_interface = itsp
[media]
public_url = https://sms.example.org/media
fetch_allow = 127.0.0.1/32
retry_min = 20ms
retry_max = 50ms

[email]
${mergeLines(`user = ${ALICE} ${ALICE_MAIL}
from = ${FROM}
reply_to = ${REPLY_TO}
smtp_host = 127.0.0.1
smtp_port = ${smtp.port}
smtp_tls = starttls
smtp_username = ${SMTP_USER}
smtp_password = ${SMTP_PASSWORD}
ca_file = ${c.caFile}
unreached_after = 1s
retry_min = 1s
retry_max = 1s
reply_listen = 127.0.0.1:0
copy = none`, email)}
`,
    outbound: o.outbound ?? 'retry_min = 50ms\nretry_max = 100ms\nmax_attempts = 2',
    interfaces: `[itsp]
send_url = ${itsp.url}/send
send_id_field = sid
number = ${ALICE}
rate = 0
rate_per_number = 0
${o.itsp ?? ''}
`,
  });
  t.teardown(async () => {
    await s.stop();
    await Promise.all([smtp.stop(), itsp.stop(), media.stop()]);
  });
  const replies = s.daemon.email.listenerPort!;
  return {
    ...s,
    smtp,
    itsp,
    media,
    replies,
    text: async (body, refs) => {
      const { id } = await s.daemon.store.enqueue({ interface: 'itsp', providerId: undefined, sender: BOB, recipient: ALICE, body, parts: 1, media: refs });
      // As the webhook does once a text is stored.
      s.daemon.deliverer.kick();
      return id;
    },
    outbox: () => {
      const db = new Database(path.join(s.dir, 'var', 'websms.db'), { readonly: true });
      try {
        return db.prepare('SELECT * FROM email_outbox ORDER BY id').all() as Array<Record<string, any>>;
      } finally {
        db.close();
      }
    },
  };
}

/** Lines of extra replace the lines of base with the same key; the rest are added. */
export function mergeLines(base: string, extra: string): string {
  const key = (l: string): string => l.split('=')[0]!.trim();
  const extras = extra.split('\n').filter((l) => l.includes('='));
  const keys = new Set(extras.map(key));
  return [...base.split('\n').filter((l) => !keys.has(key(l))), ...extras].join('\n');
}

/** Sends a reply to websms's listener as a mail server would deliver it. */
export async function reply(port: number, mail: { from: string; to?: string; inReplyTo?: string; references?: string; text: string; headers?: Record<string, string> }) {
  const client = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, logger: false });
  return client.sendMail({
    from: mail.from,
    to: mail.to ?? REPLY_TO,
    subject: 'Re: Text from you',
    text: mail.text,
    ...(mail.inReplyTo ? { inReplyTo: mail.inReplyTo } : {}),
    ...(mail.references ? { references: mail.references } : {}),
    ...(mail.headers ? { headers: mail.headers } : {}),
  });
}

export const messageIdOf = (m: CapturedMail): string => m.parsed.messageId!;
