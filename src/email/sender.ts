// The outbox worker: sends queued e-mails one at a time, and tries again with
// backoff when the SMTP server is down or answers "later". A server that
// cannot be reached pauses the whole outbox until the next attempt, instead of
// every e-mail failing in turn. An e-mail the server refuses for good (5xx to
// its recipient or content), or one not taken within [email] max_age, fails;
// the text it is about is not affected either way.

import fs from 'node:fs';
import { retryDelay } from '../backoff.js';
import type { EmailConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { EmailSendError } from './errors.js';
import type { SmtpClient } from './smtp.js';
import { attachmentsOf, headersOf, type EmailStore, type OutboxRow } from './store.js';

export interface EmailSenderHealth {
  /** The last failure to hand an e-mail to the SMTP server, if the last attempt failed. */
  lastError: { reason: string; at: number } | null;
  lastSentAt: number | null;
  /** While the SMTP server is unreachable: when the next attempt is. */
  pausedUntil: number | null;
}

export interface EmailSender {
  start(): void;
  /** Waits, at most timeoutMs, for the e-mail being sent; one still open goes again at the next start. */
  stop(timeoutMs?: number): Promise<void>;
  kick(): void;
  health(): EmailSenderHealth;
}

export type EmailOutcome = 'sent' | 'retry' | 'failed';

/** Failures of the connection, not of one e-mail: the whole outbox waits. */
const CONNECTION = new Set(['ECONNECTION', 'ESOCKET', 'EDNS', 'ETIMEDOUT', 'ETLS', 'EAUTH', 'ENOAUTH', 'error']);

export function createEmailSender(deps: {
  store: EmailStore;
  config: () => EmailConfig;
  log: Logger;
  /** Counts each attempt's outcome by the e-mail's kind. */
  onOutcome?: (kind: string, outcome: EmailOutcome) => void;
  /** An e-mail is done with, once that is committed: sent, or given up with the reason (the owner of its attachments acts on it). */
  onDone?: (row: OutboxRow, outcome: 'sent' | 'failed', reason?: string) => void;
  /** The SMTP client for a configuration; made again when [email] changes. Default: nodemailer, loaded at the first e-mail. */
  client?: (cfg: EmailConfig) => SmtpClient | Promise<SmtpClient>;
  now?: () => number;
}): EmailSender {
  const { store, log } = deps;
  const now = deps.now ?? Date.now;
  // nodemailer is about 15 MB resident: loaded only once there is an e-mail to send.
  const makeClient = deps.client ?? (async (cfg: EmailConfig): Promise<SmtpClient> => (await import('./smtp.js')).createSmtpClient(cfg));
  let settingsKey: string | undefined;
  let client: Promise<SmtpClient> | undefined;
  let running = false;
  let busy: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let pausedUntil = 0;
  const health: EmailSenderHealth = { lastError: null, lastSentAt: null, pausedUntil: null };

  /** New SMTP settings (a reload): the old client goes, a pause ends, and what waits is tried with them at once. */
  function settings(cfg: EmailConfig): void {
    const key = JSON.stringify([cfg.smtp, cfg.from, cfg.fromName, cfg.caFile]);
    if (key === settingsKey) return;
    if (settingsKey !== undefined && store.dueNow(now()) > 0) log.info({}, 'SMTP settings changed: e-mails waiting are tried again now');
    settingsKey = key;
    client = undefined;
    pausedUntil = 0;
  }

  /** The client for the configuration in force, made at the first e-mail. */
  function smtp(cfg: EmailConfig): Promise<SmtpClient> {
    settings(cfg);
    return (client ??= Promise.resolve(makeClient(cfg)));
  }

  function arm(): void {
    clearTimeout(timer);
    if (!running) return;
    const t = now();
    const next = Math.max(store.nextDueAt() ?? t + 60_000, pausedUntil);
    timer = setTimeout(kick, Math.max(10, Math.min(60_000, next - t)));
    timer.unref();
  }

  function kick(): void {
    if (!running) return;
    if (busy) {
      again = true;
      return;
    }
    busy = drain()
      .catch((err: unknown) => log.error({ err }, 'e-mail outbox round failed'))
      .finally(() => {
        busy = undefined;
        if (again && running) {
          again = false;
          kick();
        } else arm();
      });
  }

  async function drain(): Promise<void> {
    while (running) {
      const cfg = deps.config();
      if (cfg.smtp.host === '') return;
      settings(cfg);
      const t = now();
      if (pausedUntil > t) return;
      const [row] = store.claimDue(t, 1);
      if (!row) return;
      if (row.created_at + cfg.maxAgeMs < t) {
        giveUp(row, `not taken by the SMTP server within [email] max_age${health.lastError ? ` (last: ${health.lastError.reason})` : ''}`);
        continue;
      }
      await attempt(row, cfg);
    }
  }

  async function attempt(row: OutboxRow, cfg: EmailConfig): Promise<void> {
    // Pictures are files of the media store: one removed by its retention meanwhile is left out.
    const all = attachmentsOf(row);
    const attachments = all.filter((a) => fs.existsSync(a.path));
    const gone = all.length - attachments.length;
    const text = (row.body ?? '') + (gone > 0 ? `\n\n(${gone} attachment(s) no longer kept by websms)` : '');
    try {
      const reply = await (await smtp(cfg)).send({ to: row.recipient, subject: row.subject, text, headers: headersOf(row), attachments });
      const t = now();
      store.sent(row.id, t);
      health.lastError = null;
      health.lastSentAt = t;
      health.pausedUntil = null;
      deps.onOutcome?.(row.kind, 'sent');
      done(row, 'sent');
      log.info({ email: row.id, kind: row.kind, ref: row.ref, to: row.recipient, attachments: attachments.length, reply: reply.slice(0, 80) }, 'e-mail sent');
    } catch (err) {
      // Not an answer of the server (the client could not be made: an unreadable ca_file): made again next time.
      if (!(err instanceof EmailSendError)) client = undefined;
      const e = err instanceof EmailSendError ? err : new EmailSendError(`could not send the e-mail: ${(err as Error).message}`, false, 'error');
      const t = now();
      health.lastError = { reason: e.reason, at: t };
      if (e.permanent) {
        giveUp(row, e.reason);
        return;
      }
      const at = t + retryDelay(row.attempts, cfg.retryMinMs, cfg.retryMaxMs);
      store.retry(row.id, e.reason, at, t);
      deps.onOutcome?.(row.kind, 'retry');
      if (CONNECTION.has(e.detail)) {
        pausedUntil = at;
        health.pausedUntil = at;
      }
      log.warn({ email: row.id, kind: row.kind, ref: row.ref, code: e.detail, reason: e.reason, retryAt: new Date(at).toISOString() }, 'e-mail not sent; it waits and is tried again');
    }
  }

  function giveUp(row: OutboxRow, reason: string): void {
    store.fail(row.id, reason, now());
    deps.onOutcome?.(row.kind, 'failed');
    log.error({ email: row.id, kind: row.kind, ref: row.ref, to: row.recipient, reason }, 'e-mail given up');
    done(row, 'failed', reason);
  }

  function done(row: OutboxRow, outcome: 'sent' | 'failed', reason?: string): void {
    try {
      deps.onDone?.(row, outcome, reason);
    } catch (err) {
      // The e-mail's outcome is committed: what its owner failed to do is logged, not retried here.
      log.error({ err, email: row.id, kind: row.kind }, `could not act on an e-mail ${outcome}`);
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      const n = store.resumeInterrupted(now());
      if (n > 0) log.info({ emails: n }, 'e-mails interrupted by a restart are queued again');
      // The backoff of the process before is not this one's: after a restart (the server fixed, say) what waits is tried now.
      const waiting = store.dueNow(now());
      if (waiting > 0) log.info({ emails: waiting }, 'e-mails waiting in the outbox are tried now');
      kick();
    },
    async stop(timeoutMs = 5000) {
      running = false;
      clearTimeout(timer);
      if (busy) await Promise.race([busy, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    },
    // A new e-mail does not end a pause: a server that is down is not asked again before its time.
    kick,
    health: () => ({ ...health, pausedUntil: pausedUntil > now() ? pausedUntil : null }),
  };
}
