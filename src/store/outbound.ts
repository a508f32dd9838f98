// The outbound queue: texts handed off by the dialplan, stored before the
// dialplan hears QUEUED, kept until an ITSP accepted them (and later reports
// on them) or they finally fail.
//
// A conversation (sender and recipient) goes out in hand-off order, one text
// at a time: only its first unfinished text, its head, may be sent. The
// heads live in outbound_heads, kept by triggers in the transaction of every
// change to the texts (db/013_queue_heads.sql explains how), so finding the
// due texts and the next wake-up is one read of that table's `due` index,
// however many texts wait behind a head.

import { unsyncedWriter, type Db } from './db.js';
import { createEventLog } from './events.js';
import { createGroupCommit } from './group-commit.js';

export const OUTBOUND_STATES = ['queued', 'sending', 'sent', 'delivered', 'failed', 'expired', 'cancelled'] as const;
export type OutboundState = (typeof OUTBOUND_STATES)[number];

/** States a text never leaves by itself ('sent' still moves on with a delivery report). */
export const OUTBOUND_FINISHED: readonly OutboundState[] = ['sent', 'delivered', 'failed', 'expired', 'cancelled'];

export interface NewOutbound {
  interface: string;
  sender: string;
  recipient: string;
  body: string;
  encoding: string;
  segments: number;
  /** Set by a hand-off: the text waits until Asterisk confirms QUEUED (src/store/handoffs.ts). */
  handoff?: 'unconfirmed';
}

export interface OutboundRow {
  id: number;
  interface: string;
  origin: string;
  sender: string;
  recipient: string;
  /** null once the retention job removed it. */
  body: string | null;
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
  /** When it was last queued again by hand; its maximum age counts from then. */
  retried_at: number | null;
  /** Whether Asterisk confirmed its hand-off's QUEUED; null when it came another way (db/015). */
  handoff: 'unconfirmed' | 'confirmed' | null;
}

/** The time a text's maximum age counts from. */
export const outboundAgeFrom = (r: Pick<OutboundRow, 'created_at' | 'retried_at'>): number => r.retried_at ?? r.created_at;

export interface OutboundStore {
  /** Resolves with the id once the text is durably committed. */
  enqueue(m: NewOutbound): Promise<number>;
  /** Due texts, oldest first, skipping conversations with an earlier text still queued or sending. */
  due(now: number, limit: number): OutboundRow[];
  /**
   * Marks texts sending, in one transaction, without an fsync: after a crash a
   * 'sending' text is queued again whether or not the mark reached the disk,
   * so an fsync here would buy nothing and would stall hand-offs. Returns
   * the ids it marked: a text no longer queued (cancelled) is left alone.
   */
  markSending(ids: number[], now: number): Set<number>;
  /**
   * Runs updates in the next hand-offs' commit, so that they share its
   * fsync; commits them by themselves after maxWaitMs when no hand-off
   * comes. Resolves once they are committed (src/store/group-commit.ts).
   */
  alongside<T>(write: () => T, maxWaitMs: number): Promise<T>;
  sent(id: number, providerId: string | null, now: number): void;
  /**
   * `reason` is the text's reason, for the person who sent it
   * (src/outbound/failure.ts); `detail`, for whoever runs websms (the ITSP's
   * words, secrets taken out), goes only into the text's history beside it.
   */
  retry(id: number, reason: string, at: number, now: number, detail?: string): void;
  /** Moves a text to another interface with a fresh attempt count. */
  failover(id: number, toInterface: string, reason: string, now: number, detail?: string): void;
  fail(id: number, state: 'failed' | 'expired', reason: string, now: number, detail?: string): void;
  /** Applies a delivery report; returns the row when it changed. */
  report(iface: string, providerId: string, state: 'sent' | 'delivered' | 'failed', reason: string | null, now: number, detail?: string): OutboundRow | undefined;
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

/**
 * The queue's two reads, both of outbound_heads' `due` index (a test checks
 * their query plans): the due heads, earliest first, joined to their rows by
 * id; and the earliest time a head falls due.
 */
export const OUTBOUND_QUEUE_SQL = {
  due: `SELECT m.* FROM outbound_heads h CROSS JOIN outbound m ON m.id = h.head_id
         WHERE h.due IS NOT NULL AND h.due <= ? ORDER BY h.due, h.head_id LIMIT ?`,
  nextDue: 'SELECT due AS t FROM outbound_heads WHERE due IS NOT NULL ORDER BY due LIMIT 1',
  // At start, the texts a stop left being sent, among the texts on their way
  // (outbound_active, whose own state term comes first, word for word), not
  // every text ever sent; and the counts by state from text_counts (db/005).
  interrupted: `FROM outbound INDEXED BY outbound_active WHERE state IN ('queued', 'sending') AND state = 'sending'`,
  counts: `SELECT state, SUM(n) AS n FROM text_counts WHERE direction = 'out' GROUP BY state`,
} as const;

/**
 * Writes one text inside the caller's transaction and returns its id: the
 * group commit below, and writers that must store something else in the same
 * commit (an e-mail reply and the record that it was taken: src/email/).
 */
export type OutboundWriter = (m: NewOutbound, now: number) => number;

export function createOutboundWriter(db: Db): OutboundWriter {
  const insert = db.prepare(
    `INSERT INTO outbound (interface, origin, sender, recipient, body, encoding, segments, next_attempt_at, created_at, updated_at, handoff)
     VALUES (@interface, @interface, @sender, @recipient, @body, @encoding, @segments, @t, @t, @t, @handoff)`,
  );
  return (m, t) =>
    Number(insert.run({ interface: m.interface, sender: m.sender, recipient: m.recipient, body: m.body, encoding: m.encoding, segments: m.segments, handoff: m.handoff ?? null, t }).lastInsertRowid);
}

export function createOutboundStore(db: Db, opts: { now?: () => number; expectedWriters?: () => number } = {}): OutboundStore {
  const now = opts.now ?? Date.now;
  const events = createEventLog(db);
  const write = createOutboundWriter(db);
  const commits = createGroupCommit(
    db,
    (items: NewOutbound[]) => {
      const t = now();
      return items.map((m) => write(m, t));
    },
    { expected: opts.expectedWriters },
  );
  const dueStmt = db.prepare<[number, number], OutboundRow>(OUTBOUND_QUEUE_SQL.due);
  const sendingStmt = db.prepare<[number, number], { attempts: number; interface: string }>(
    `UPDATE outbound SET state = 'sending', attempts = attempts + 1, updated_at = ? WHERE id = ? AND state = 'queued'
     RETURNING attempts, interface`,
  );
  const sentStmt = db.prepare<[string | null, number, number], { interface: string }>(
    `UPDATE outbound SET state = 'sent', provider_id = ?, reason = NULL, updated_at = ? WHERE id = ? AND state IN ('queued', 'sending')
     RETURNING interface`,
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
  const resumeStmt = db.prepare(
    `UPDATE outbound SET state = 'queued', next_attempt_at = ?, updated_at = ? WHERE id IN (SELECT id ${OUTBOUND_QUEUE_SQL.interrupted})`,
  );
  const resumeEvents = db.prepare(
    `INSERT INTO events (direction, text_id, at, kind, detail)
     SELECT 'out', id, ?, 'interrupted', 'websms stopped while sending it; queued again' ${OUTBOUND_QUEUE_SQL.interrupted}`,
  );
  const nextDue = db.prepare<[], { t: number }>(OUTBOUND_QUEUE_SQL.nextDue);
  const countStmt = db.prepare<[], { state: OutboundState; n: number }>(OUTBOUND_QUEUE_SQL.counts);

  const unsynced = unsyncedWriter(db);
  const markMany = db.transaction((ids: number[], t: number) => {
    const marked = new Set<number>();
    for (const id of ids) {
      const r = sendingStmt.get(t, id);
      if (!r) continue;
      marked.add(id);
      events.add('out', id, t, 'attempt', `attempt ${r.attempts} via ${r.interface}`);
    }
    return marked;
  });

  // A report may arrive before the send's own answer was recorded, or repeat:
  // states only move forward (sent -> delivered | failed), never back.
  const RANK: Record<OutboundState, number> = { queued: 0, sending: 0, sent: 1, delivered: 2, failed: 2, expired: 2, cancelled: 2 };

  return {
    enqueue: (m) => commits.submit(m),
    due: (t, limit) => (limit > 0 ? dueStmt.all(t, limit) : []),
    markSending: (ids, t) => unsynced(() => markMany(ids, t)),
    alongside: (write, maxWaitMs) => commits.alongside(write, maxWaitMs),
    sent: db.transaction((id: number, providerId: string | null, t: number) => {
      const r = sentStmt.get(providerId, t, id);
      if (r) events.add('out', id, t, 'sent', `accepted by ${r.interface}${providerId !== null ? ` as ${providerId}` : ''}`);
    }),
    retry: db.transaction((id: number, reason: string, at: number, t: number, detail?: string) => {
      if (retryStmt.run(reason, at, t, id).changes > 0) events.add('out', id, t, 'retry', `${withDetail(reason, detail)}; next attempt at ${new Date(at).toISOString()}`);
    }),
    failover: db.transaction((id: number, to: string, reason: string, t: number, detail?: string) => {
      if (failoverStmt.run(to, reason, t, t, id).changes > 0) events.add('out', id, t, 'failover', `to ${to} after ${withDetail(reason, detail)}`);
    }),
    fail: db.transaction((id: number, state: 'failed' | 'expired', reason: string, t: number, detail?: string) => {
      if (failStmt.run(state, reason, t, id).changes > 0) events.add('out', id, t, state, withDetail(reason, detail));
    }),
    report: db.transaction((iface: string, providerId: string, state: 'sent' | 'delivered' | 'failed', reason: string | null, t: number, detail?: string) => {
      const row = byProvider.get(iface, providerId);
      if (!row || RANK[state] < RANK[row.state] || row.state === state) return undefined;
      if (RANK[row.state] === 2) return undefined;
      reportStmt.run(state, reason, t, row.id);
      events.add('out', row.id, t, 'report', `${state}${reason !== null ? `: ${withDetail(reason, detail)}` : detail ? `: ${detail}` : ''}`);
      return getStmt.get(row.id);
    }),
    markNotified: (id, state) => void notifiedStmt.run(state, id),
    get: (id) => getStmt.get(id),
    resumeInterrupted: db.transaction((t: number) => {
      resumeEvents.run(t);
      return resumeStmt.run(t, t).changes;
    }),
    nextDueAt: () => nextDue.get()?.t,
    counts() {
      const out: Record<OutboundState, number> = { queued: 0, sending: 0, sent: 0, delivered: 0, failed: 0, expired: 0, cancelled: 0 };
      for (const r of countStmt.all()) out[r.state] = r.n;
      return out;
    },
    flush: () => commits.flush(),
  };
}

/** An event's text: the reason, and the detail behind it when there is one. */
function withDetail(reason: string, detail: string | undefined): string {
  return detail === undefined || detail === '' || detail === reason ? reason : `${reason} (${detail})`;
}
