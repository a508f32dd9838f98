// The e-mail tables (db/012_email.sql): the outbox every e-mail waits in
// until an SMTP server took it, the threads that map a reply back to its
// conversation, the replies already seen, and the watcher's cursors.

import { unsyncedWriter, type Db } from '../store/db.js';
import { createEventLog } from '../store/events.js';
import type { EmailAttachment, EmailHeaders, NewEmail } from './message.js';

export const OUTBOX_STATES = ['queued', 'sending', 'sent', 'failed'] as const;
export type OutboxState = (typeof OUTBOX_STATES)[number];

export interface OutboxRow {
  id: number;
  kind: string;
  ref: string | null;
  recipient: string;
  subject: string;
  /** null once the retention job removed it. */
  body: string | null;
  headers: string;
  attachments: string;
  state: OutboxState;
  attempts: number;
  next_attempt_at: number;
  created_at: number;
  updated_at: number;
  sent_at: number | null;
  reason: string | null;
}

export interface ThreadRow {
  token: string;
  outbox_id: number;
  number: string;
  remote: string;
  interface: string;
  address: string;
  message_id: string;
  created_at: number;
}

export type NewThread = Omit<ThreadRow, 'outbox_id' | 'created_at'>;

export interface ReplyRecord {
  messageId: string;
  token: string | null;
  outboundId: number | null;
  outcome: 'queued' | 'refused';
  reason: string | null;
}

export interface EmailStore {
  /**
   * Queues an e-mail (and the thread a reply to it maps to) in one
   * transaction; undefined when one of this kind about this ref was queued
   * before: nothing is queued twice.
   */
  queue(email: NewEmail, thread: NewThread | undefined, now: number): number | undefined;
  /** Whether an e-mail of this kind about this ref was ever queued. */
  has(kind: string, ref: string): boolean;
  /** Due e-mails, oldest first, marked sending (no fsync: a crash puts them back in the queue). */
  claimDue(now: number, limit: number): OutboxRow[];
  sent(id: number, now: number): void;
  retry(id: number, reason: string, at: number, now: number): void;
  fail(id: number, reason: string, now: number): void;
  /** E-mails left 'sending' by a previous process go back to the queue. */
  resumeInterrupted(now: number): number;
  /** Every e-mail waiting falls due now (a start, new SMTP settings); returns how many. */
  dueNow(now: number): number;
  nextDueAt(): number | undefined;
  get(id: number): OutboxRow | undefined;
  counts(): Record<OutboxState, number>;
  /** When the oldest e-mail still queued was queued; undefined when none is. */
  oldestQueuedAt(): number | undefined;
  /** The most recent e-mails, newest first (the API's view). */
  recent(limit: number): OutboxRow[];
  thread(token: string): ThreadRow | undefined;
  /** The Message-IDs of the earlier e-mails of a conversation to one address, oldest first (for References). */
  conversation(number: string, remote: string, address: string, limit: number): string[];
  replySeen(messageId: string): boolean;
  /** Whether this outbound text was made from an e-mail reply. */
  isReplyText(outboundId: number): boolean;
  /** Records a refused reply (a queued one is recorded by the caller's transaction: recordReplyIn). */
  refuseReply(r: Omit<ReplyRecord, 'outcome' | 'outboundId'>, now: number): void;
  /** Inside a transaction: records the reply; false when it was seen before (the caller rolls back). */
  recordReplyIn(r: ReplyRecord, now: number): boolean;
  cursor(name: string): number | undefined;
  setCursor(name: string, position: number): void;
  /** Removes the bodies and attachments of e-mails done before the cut-off, and threads older than it. */
  retain(cutoff: number): { emails: number; threads: number };
}

/** The ref of a text: in-12, out-7. */
export const textRef = (direction: 'in' | 'out', id: number): string => `${direction}-${id}`;

export function parseRef(ref: string | null): { direction: 'in' | 'out'; id: number } | undefined {
  const m = ref === null ? null : /^(in|out)-(\d+)$/.exec(ref);
  return m ? { direction: m[1] as 'in' | 'out', id: Number(m[2]) } : undefined;
}

export function headersOf(row: Pick<OutboxRow, 'headers'>): EmailHeaders {
  return JSON.parse(row.headers) as EmailHeaders;
}

export function attachmentsOf(row: Pick<OutboxRow, 'attachments'>): EmailAttachment[] {
  return JSON.parse(row.attachments) as EmailAttachment[];
}

export function createEmailStore(db: Db): EmailStore {
  const events = createEventLog(db);
  const insert = db.prepare(
    `INSERT INTO email_outbox (kind, ref, recipient, subject, body, headers, attachments, next_attempt_at, created_at, updated_at)
     VALUES (@kind, @ref, @to, @subject, @text, @headers, @attachments, @t, @t, @t)
     ON CONFLICT DO NOTHING`,
  );
  const insertThread = db.prepare(
    `INSERT INTO email_threads (token, outbox_id, number, remote, interface, address, message_id, created_at)
     VALUES (@token, @outboxId, @number, @remote, @interface, @address, @message_id, @t)`,
  );
  const hasStmt = db.prepare<[string, string], { n: number }>('SELECT 1 AS n FROM email_outbox WHERE kind = ? AND ref = ?');
  const dueStmt = db.prepare<[number, number], OutboxRow>(
    `SELECT * FROM email_outbox WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`,
  );
  const sendingStmt = db.prepare(`UPDATE email_outbox SET state = 'sending', attempts = attempts + 1, updated_at = ? WHERE id = ? AND state = 'queued'`);
  const claim = db.transaction((t: number, limit: number): OutboxRow[] => {
    const rows = dueStmt.all(t, limit);
    for (const r of rows) sendingStmt.run(t, r.id);
    return rows.map((r) => ({ ...r, state: 'sending' as const, attempts: r.attempts + 1 }));
  });
  const unsynced = unsyncedWriter(db);
  const getStmt = db.prepare<[number], OutboxRow>('SELECT * FROM email_outbox WHERE id = ?');
  const sentStmt = db.prepare(`UPDATE email_outbox SET state = 'sent', sent_at = ?, reason = NULL, updated_at = ? WHERE id = ? AND state = 'sending'`);
  const retryStmt = db.prepare(`UPDATE email_outbox SET state = 'queued', reason = ?, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state IN ('sending', 'queued')`);
  const failStmt = db.prepare(`UPDATE email_outbox SET state = 'failed', reason = ?, updated_at = ? WHERE id = ? AND state IN ('sending', 'queued')`);
  const resumeStmt = db.prepare(`UPDATE email_outbox SET state = 'queued', next_attempt_at = ?, updated_at = ? WHERE state = 'sending'`);
  const dueNowStmt = db.prepare(`UPDATE email_outbox SET next_attempt_at = ?, updated_at = ? WHERE state = 'queued' AND next_attempt_at > ?`);
  const nextStmt = db.prepare<[], { t: number }>(`SELECT next_attempt_at AS t FROM email_outbox WHERE state = 'queued' ORDER BY next_attempt_at LIMIT 1`);
  const countStmt = db.prepare<[], { state: OutboxState; n: number }>('SELECT state, COUNT(*) AS n FROM email_outbox GROUP BY state');
  const oldestStmt = db.prepare<[], { t: number | null }>(`SELECT MIN(created_at) AS t FROM email_outbox WHERE state IN ('queued', 'sending')`);
  const recentStmt = db.prepare<[number], OutboxRow>('SELECT * FROM email_outbox ORDER BY id DESC LIMIT ?');
  const threadStmt = db.prepare<[string], ThreadRow>('SELECT * FROM email_threads WHERE token = ?');
  const conversationStmt = db.prepare<[string, string, string, number], { message_id: string }>(
    `SELECT message_id FROM (SELECT message_id, created_at FROM email_threads WHERE number = ? AND remote = ? AND address = ?
       ORDER BY created_at DESC LIMIT ?) ORDER BY created_at`,
  );
  const replySeenStmt = db.prepare<[string], { n: number }>('SELECT 1 AS n FROM email_replies WHERE message_id = ?');
  const replyTextStmt = db.prepare<[number], { n: number }>('SELECT 1 AS n FROM email_replies WHERE outbound_id = ?');
  const replyInsert = db.prepare(
    `INSERT INTO email_replies (message_id, token, outbound_id, outcome, reason, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const cursorGet = db.prepare<[string], { position: number }>('SELECT position FROM email_cursors WHERE name = ?');
  const cursorSet = db.prepare('INSERT INTO email_cursors (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position');
  const retainBodies = db.prepare(
    `UPDATE email_outbox SET body = NULL, attachments = '[]' WHERE state IN ('sent', 'failed') AND updated_at < ? AND body IS NOT NULL`,
  );
  const retainThreads = db.prepare('DELETE FROM email_threads WHERE created_at < ?');

  /** The text an e-mail is about gets a line in its history. */
  const textEvent = (row: OutboxRow | undefined, t: number, kind: string, detail: string): void => {
    const ref = parseRef(row?.ref ?? null);
    if (ref) events.add(ref.direction, ref.id, t, kind, detail);
  };

  return {
    queue: db.transaction((email: NewEmail, thread: NewThread | undefined, t: number): number | undefined => {
      const r = insert.run({
        kind: email.kind,
        ref: email.ref ?? null,
        to: email.to,
        subject: email.subject,
        text: email.text,
        headers: JSON.stringify(email.headers ?? {}),
        attachments: JSON.stringify(email.attachments ?? []),
        t,
      });
      if (r.changes === 0) return undefined;
      const id = Number(r.lastInsertRowid);
      if (thread) insertThread.run({ ...thread, outboxId: id, t });
      const ref = parseRef(email.ref ?? null);
      if (ref) events.add(ref.direction, ref.id, t, 'email_queued', `${email.kind} e-mail to ${email.to} queued`);
      return id;
    }),
    has: (kind, ref) => hasStmt.get(kind, ref) !== undefined,
    claimDue(t, limit) {
      if (limit <= 0) return [];
      return unsynced(() => claim(t, limit));
    },
    sent: db.transaction((id: number, t: number) => {
      if (sentStmt.run(t, t, id).changes === 0) return;
      const row = getStmt.get(id);
      textEvent(row, t, 'emailed', `${row!.kind} e-mail sent to ${row!.recipient}`);
    }),
    retry: (id, reason, at, t) => void retryStmt.run(reason, at, t, id),
    fail: db.transaction((id: number, reason: string, t: number) => {
      if (failStmt.run(reason, t, id).changes === 0) return;
      const row = getStmt.get(id);
      textEvent(row, t, 'email_failed', `${row!.kind} e-mail to ${row!.recipient} not sent: ${reason}`);
    }),
    resumeInterrupted: (t) => resumeStmt.run(t, t).changes,
    dueNow: (t) => dueNowStmt.run(t, t, t).changes,
    nextDueAt: () => nextStmt.get()?.t,
    get: (id) => getStmt.get(id),
    counts() {
      const out: Record<OutboxState, number> = { queued: 0, sending: 0, sent: 0, failed: 0 };
      for (const r of countStmt.all()) out[r.state] = r.n;
      return out;
    },
    oldestQueuedAt: () => oldestStmt.get()?.t ?? undefined,
    recent: (limit) => recentStmt.all(limit),
    thread: (token) => threadStmt.get(token),
    conversation: (number, remote, address, limit) => conversationStmt.all(number, remote, address, limit).map((r) => r.message_id),
    replySeen: (messageId) => replySeenStmt.get(messageId) !== undefined,
    isReplyText: (id) => replyTextStmt.get(id) !== undefined,
    refuseReply: (r, t) => void replyInsert.run(r.messageId, r.token, null, 'refused', r.reason, t),
    recordReplyIn: (r, t) => replyInsert.run(r.messageId, r.token, r.outboundId, r.outcome, r.reason, t).changes > 0,
    cursor: (name) => cursorGet.get(name)?.position,
    setCursor: (name, position) => void cursorSet.run(name, position),
    retain: db.transaction((cutoff: number) => ({ emails: retainBodies.run(cutoff).changes, threads: retainThreads.run(cutoff).changes })),
  };
}
