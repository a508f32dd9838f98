// The outbound queue: texts handed off by the dialplan, stored before the
// dialplan hears QUEUED, kept until an ITSP accepted them (and later reports
// on them) or they finally fail.

import type { Db } from './db.js';
import { createGroupCommit } from './group-commit.js';

export type OutboundState = 'queued' | 'sending' | 'sent' | 'delivered' | 'failed' | 'expired';

export interface NewOutbound {
  interface: string;
  sender: string;
  recipient: string;
  body: string;
  encoding: string;
  segments: number;
}

export interface OutboundRow {
  id: number;
  interface: string;
  origin: string;
  sender: string;
  recipient: string;
  body: string;
  encoding: string;
  segments: number;
  state: OutboundState;
  attempts: number;
  next_attempt_at: number;
  created_at: number;
  updated_at: number;
  provider_id: string | null;
  reason: string | null;
  notified: string | null;
}

export interface OutboundStore {
  /** Resolves with the id once the text is durably committed. */
  enqueue(m: NewOutbound): Promise<number>;
  /** Due texts, oldest first, skipping conversations with an earlier text still queued or sending. */
  due(now: number, limit: number): OutboundRow[];
  /**
   * Marks texts sending, in one transaction, without an fsync: after a crash a
   * 'sending' text is queued again whether or not the mark reached the disk,
   * so an fsync here would buy nothing and would stall hand-offs.
   */
  markSending(ids: number[], now: number): void;
  /** Runs several updates in one transaction: one fsync for a whole turn's outcomes. */
  together(fn: () => void): void;
  sent(id: number, providerId: string | null, now: number): void;
  retry(id: number, reason: string, at: number, now: number): void;
  /** Moves a text to another interface with a fresh attempt count. */
  failover(id: number, toInterface: string, reason: string, now: number): void;
  fail(id: number, state: 'failed' | 'expired', reason: string, now: number): void;
  /** Applies a delivery report; returns the row when it changed. */
  report(iface: string, providerId: string, state: 'sent' | 'delivered' | 'failed', reason: string | null, now: number): OutboundRow | undefined;
  markNotified(id: number, state: string): void;
  get(id: number): OutboundRow | undefined;
  /** Texts left 'sending' by a previous process go back to the queue. */
  resumeInterrupted(now: number): number;
  /**
   * When the earliest text first in its conversation falls due (possibly
   * already). One waiting behind an earlier text does not count: it is woken
   * by that text's outcome, not by a timer.
   */
  nextDueAt(): number | undefined;
  counts(): Record<OutboundState, number>;
  flush(): void;
}

export function createOutboundStore(db: Db, opts: { now?: () => number; expectedWriters?: () => number } = {}): OutboundStore {
  const now = opts.now ?? Date.now;
  const insert = db.prepare(
    `INSERT INTO outbound (interface, origin, sender, recipient, body, encoding, segments, next_attempt_at, created_at, updated_at)
     VALUES (@interface, @interface, @sender, @recipient, @body, @encoding, @segments, @t, @t, @t)`,
  );
  const commits = createGroupCommit(
    db,
    (items: NewOutbound[]) => {
      const t = now();
      return items.map((m) => Number(insert.run({ ...m, t }).lastInsertRowid));
    },
    { expected: opts.expectedWriters },
  );
  const dueStmt = db.prepare<[number, number], OutboundRow>(
    `SELECT * FROM outbound m
      WHERE m.state = 'queued' AND m.next_attempt_at <= ?
        AND NOT EXISTS (SELECT 1 FROM outbound p
                         WHERE p.sender = m.sender AND p.recipient = m.recipient AND p.id < m.id
                           AND p.state IN ('queued', 'sending'))
      ORDER BY m.next_attempt_at, m.id LIMIT ?`,
  );
  const sendingStmt = db.prepare(`UPDATE outbound SET state = 'sending', attempts = attempts + 1, updated_at = ? WHERE id = ? AND state = 'queued'`);
  const sentStmt = db.prepare(
    `UPDATE outbound SET state = 'sent', provider_id = ?, reason = NULL, updated_at = ? WHERE id = ? AND state IN ('queued', 'sending')`,
  );
  const retryStmt = db.prepare(
    `UPDATE outbound SET state = 'queued', reason = ?, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'sending')`,
  );
  const failoverStmt = db.prepare(
    `UPDATE outbound SET state = 'queued', interface = ?, attempts = 0, reason = ?, next_attempt_at = ?, updated_at = ?
      WHERE id = ? AND state IN ('queued', 'sending')`,
  );
  const failStmt = db.prepare(
    `UPDATE outbound SET state = ?, reason = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'sending')`,
  );
  const byProvider = db.prepare<[string, string], OutboundRow>('SELECT * FROM outbound WHERE interface = ? AND provider_id = ?');
  const reportStmt = db.prepare(`UPDATE outbound SET state = ?, reason = COALESCE(?, reason), updated_at = ? WHERE id = ?`);
  const notifiedStmt = db.prepare('UPDATE outbound SET notified = ? WHERE id = ?');
  const getStmt = db.prepare<[number], OutboundRow>('SELECT * FROM outbound WHERE id = ?');
  const resumeStmt = db.prepare(`UPDATE outbound SET state = 'queued', next_attempt_at = ?, updated_at = ? WHERE state = 'sending'`);
  // Only texts first in their conversation (see the same query in inbound.ts).
  const nextDue = db.prepare<[], { t: number }>(
    `SELECT m.next_attempt_at AS t FROM outbound m
      WHERE m.state = 'queued'
        AND NOT EXISTS (SELECT 1 FROM outbound p
                         WHERE p.sender = m.sender AND p.recipient = m.recipient AND p.id < m.id
                           AND p.state IN ('queued', 'sending'))
      ORDER BY m.next_attempt_at LIMIT 1`,
  );
  const countStmt = db.prepare<[], { state: OutboundState; n: number }>('SELECT state, COUNT(*) AS n FROM outbound GROUP BY state');

  const markMany = db.transaction((ids: number[], t: number) => {
    for (const id of ids) sendingStmt.run(t, id);
  });

  // A report may arrive before the send's own answer was recorded, or repeat:
  // states only move forward (sent -> delivered | failed), never back.
  const RANK: Record<OutboundState, number> = { queued: 0, sending: 0, sent: 1, delivered: 2, failed: 2, expired: 2 };

  return {
    enqueue: (m) => commits.submit(m),
    due: (t, limit) => (limit > 0 ? dueStmt.all(t, limit) : []),
    markSending(ids, t) {
      db.pragma('synchronous = NORMAL');
      try {
        markMany(ids, t);
      } finally {
        db.pragma('synchronous = FULL');
      }
    },
    together: (fn) => db.transaction(fn)(),
    sent: (id, providerId, t) => void sentStmt.run(providerId, t, id),
    retry: (id, reason, at, t) => void retryStmt.run(reason, at, t, id),
    failover: (id, to, reason, t) => void failoverStmt.run(to, reason, t, t, id),
    fail: (id, state, reason, t) => void failStmt.run(state, reason, t, id),
    report(iface, providerId, state, reason, t) {
      const row = byProvider.get(iface, providerId);
      if (!row || RANK[state] < RANK[row.state] || row.state === state) return undefined;
      if (RANK[row.state] === 2) return undefined;
      reportStmt.run(state, reason, t, row.id);
      return getStmt.get(row.id);
    },
    markNotified: (id, state) => void notifiedStmt.run(state, id),
    get: (id) => getStmt.get(id),
    resumeInterrupted: (t) => resumeStmt.run(t, t).changes,
    nextDueAt: () => nextDue.get()?.t,
    counts() {
      const out: Record<OutboundState, number> = { queued: 0, sending: 0, sent: 0, delivered: 0, failed: 0, expired: 0 };
      for (const r of countStmt.all()) out[r.state] = r.n;
      return out;
    },
    flush: () => commits.flush(),
  };
}
