// How texts by e-mail are doing, for the management API (GET /api/email) and
// `websms email`: who gets e-mail, through which server, the outbox, and the
// ways replies come in. Never a password.

import type { Config } from '../config/types.js';
import type { EmailSenderHealth } from './sender.js';
import type { ImapHealth } from './imap.js';
import type { EmailStore, OutboxRow, OutboxState } from './store.js';

export interface EmailStatus {
  /** There is at least one [email] user: texts are e-mailed. */
  enabled: boolean;
  users: { number: string; address: string }[];
  unreachedAfterSeconds: number | null;
  copy: string;
  failures: boolean;
  smtp: { host: string; port: number; tls: string; login: boolean; from: string } | null;
  outbox: Record<OutboxState, number> & { oldestQueuedAt: string | null };
  lastError: { reason: string; at: string } | null;
  lastSentAt: string | null;
  /** While the SMTP server cannot be reached: when it is tried again. */
  pausedUntil: string | null;
  replies: {
    listener: string | null;
    imap: { host: string; mailbox: string; connected: boolean; lastError: { reason: string; at: string } | null; lastCheckAt: string | null } | null;
  };
  recent: { id: number; kind: string; ref: string | null; to: string; state: OutboxState; attempts: number; createdAt: string; reason: string | null }[];
}

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export function emailStatus(
  config: Config,
  store: Pick<EmailStore, 'counts' | 'oldestQueuedAt' | 'recent'>,
  sender: EmailSenderHealth,
  imap: ImapHealth | undefined,
  listenerPort: number | undefined,
  recent = 10,
): EmailStatus {
  const e = config.email;
  const enabled = e.users.length > 0;
  return {
    enabled,
    users: e.users.map((u) => ({ number: u.number, address: u.address })),
    unreachedAfterSeconds: e.unreachedAfterMs === 0 ? null : e.unreachedAfterMs / 1000,
    copy: e.copy,
    failures: e.failures,
    smtp: enabled && e.smtp.host !== '' ? { host: e.smtp.host, port: e.smtp.port, tls: e.smtp.tls, login: e.smtp.username !== '', from: e.from } : null,
    outbox: { ...store.counts(), oldestQueuedAt: iso(store.oldestQueuedAt()) },
    lastError: sender.lastError ? { reason: sender.lastError.reason, at: iso(sender.lastError.at)! } : null,
    lastSentAt: iso(sender.lastSentAt),
    pausedUntil: iso(sender.pausedUntil),
    replies: {
      listener: e.replyListen && listenerPort !== undefined ? `${e.replyListen.host}:${listenerPort}` : null,
      imap:
        e.imap.host !== '' && imap
          ? {
              host: e.imap.host,
              mailbox: e.imap.mailbox,
              connected: imap.connected,
              lastError: imap.lastError ? { reason: imap.lastError.reason, at: iso(imap.lastError.at)! } : null,
              lastCheckAt: iso(imap.lastCheckAt),
            }
          : null,
    },
    recent: store.recent(recent).map((r: OutboxRow) => ({
      id: r.id,
      kind: r.kind,
      ref: r.ref,
      to: r.recipient,
      state: r.state,
      attempts: r.attempts,
      createdAt: iso(r.created_at)!,
      reason: r.reason,
    })),
  };
}
