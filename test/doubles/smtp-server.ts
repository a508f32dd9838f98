// A mail server on a loopback port that speaks real SMTP (smtp-server, the
// server half of nodemailer's project): STARTTLS with a throwaway CA's
// certificate, AUTH PLAIN/LOGIN against one user, every message kept byte for
// byte and parsed with mailparser. It can go down (the port refuses
// connections) and come back on the same port, and can answer one message
// with an error.

import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerAuthenticationResponse, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export interface CapturedMail {
  raw: Buffer;
  parsed: ParsedMail;
  envelope: { from: string; to: string[] };
  /** Whether the session was upgraded to TLS before the message. */
  secure: boolean;
  user: string | undefined;
  receivedAt: number;
}

export interface SmtpDouble {
  port: number;
  mails: CapturedMail[];
  /** Answer the next n messages with this error (e.g. 550 or 451). */
  failNext(n: number, code: number, message: string): void;
  /** Stop listening: connections are refused until up(). */
  down(): Promise<void>;
  up(): Promise<void>;
  waitFor(pred: (m: CapturedMail) => boolean, timeoutMs?: number): Promise<CapturedMail>;
  /** Sessions that failed to log in. */
  authFailures: number;
  stop(): Promise<void>;
}

export async function startSmtpDouble(opts: { cert: string; key: string; user?: { username: string; password: string }; port?: number }): Promise<SmtpDouble> {
  const mails: CapturedMail[] = [];
  let fail: { n: number; code: number; message: string } | undefined;
  let authFailures = 0;
  const make = (): SMTPServer =>
    new SMTPServer({
      secure: false,
      key: fs.readFileSync(opts.key),
      cert: fs.readFileSync(opts.cert),
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: opts.user === undefined,
      // Credentials only over TLS, as a real submission server wants.
      allowInsecureAuth: false,
      logger: false,
      onAuth(auth: SMTPServerAuthentication, _s: SMTPServerSession, cb: (err: Error | null | undefined, r?: SMTPServerAuthenticationResponse) => void) {
        if (opts.user && auth.username === opts.user.username && auth.password === opts.user.password) return cb(null, { user: auth.username });
        authFailures++;
        cb(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
      },
      onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, msg?: string) => void) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          if (fail && fail.n > 0) {
            fail.n--;
            return cb(Object.assign(new Error(fail.message), { responseCode: fail.code }));
          }
          const raw = Buffer.concat(chunks);
          simpleParser(raw).then(
            (parsed) => {
              mails.push({
                raw,
                parsed,
                envelope: { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) },
                secure: session.secure,
                user: typeof session.user === 'string' ? session.user : undefined,
                receivedAt: Date.now(),
              });
              cb(null, 'queued by the test server');
            },
            (err: Error) => cb(err),
          );
        });
      },
    });
  let server = make();
  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.server.address() as AddressInfo).port));
    });
  const close = (): Promise<void> => new Promise((r) => server.close(() => r()));
  const port = await listen(opts.port ?? 0);
  let isUp = true;
  return {
    port,
    mails,
    get authFailures() {
      return authFailures;
    },
    failNext(n, code, message) {
      fail = { n, code, message };
    },
    async down() {
      if (!isUp) return;
      isUp = false;
      await close();
    },
    async up() {
      if (isUp) return;
      server = make();
      await listen(port);
      isUp = true;
    },
    async waitFor(pred, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const m = mails.find(pred);
        if (m) return m;
        if (Date.now() > end) throw new Error(`no such mail within ${timeoutMs} ms (got ${mails.length}: ${mails.map((x) => x.parsed.subject).join(' | ')})`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop() {
      if (isUp) await close();
      isUp = false;
    },
  };
}
