// The inbound queue: texts from ITSPs, stored before the ITSP gets its 2xx and
// kept until the dialplan reports them delivered (or they fail or expire).
//
// Writes from webhooks go through group commit (group-commit.ts).
//
// A conversation (recipient and sender) gets its texts in order, one at a
// time: only its first unfinished text, its head, may be taken. The heads
// live in their own table, inbound_heads, kept in the same transaction as
// every change to the texts: by triggers (db/013_queue_heads.sql explains
// how), and for new texts by the writer below, once per batch
// (db/017_inbound_books.sql). Taking the due texts and finding when the next
// one falls due read that table's `due` index and nothing else: their cost
// does not grow with the texts waiting behind a head (a phone offline for a
// week), and a scan per stored text stays cheap.

import crypto from 'node:crypto';
import type { MediaRef } from '../../providers/types.js';
import { unsyncedWriter, type Db } from './db.js';
import { createEventLog } from './events.js';
import { createGroupCommit } from './group-commit.js';
import { recentTexts } from './recent-texts.js';
import { inboundBooks } from './inbound-books.js';

export const INBOUND_STATES = ['queued', 'sending', 'waiting', 'delivered', 'undeliverable', 'expired', 'cancelled'] as const;
export type InboundState = (typeof INBOUND_STATES)[number];

/** States a text never leaves by itself (only a retry by hand queues it again). */
export const INBOUND_FINISHED: readonly InboundState[] = ['delivered', 'undeliverable', 'expired', 'cancelled'];

export interface NewInbound {
  interface: string;
  providerId: string | undefined;
  sender: string;
  recipient: string;
  body: string;
  parts: number;
  /**
   * Pictures and other media that came with the text (MMS), as the provider
   * announced them: stored with it in one commit, fetched afterwards
   * (src/media/). The text waits for them at most the writer's hold time.
   */
  media?: MediaRef[];
}

export interface InboundRow {
  id: number;
  interface: string;
  provider_id: string | null;
  sender: string;
  recipient: string;
  /** null once the retention job removed it. */
  body: string | null;
  parts: number;
  parts_done: number;
  state: InboundState;
  attempts: number;
  next_attempt_at: number;
  received_at: number;
  updated_at: number;
  endpoint: string | null;
  reason: string | null;
  /** When it was last queued again by hand; its maximum age counts from then. */
  retried_at: number | null;
  /** While its media are being fetched: when delivery goes ahead without those still missing. */
  media_due: number | null;
  /** Once its media are settled: appended to the body on delivery (links, or notes). */
  media_note: string | null;
}

/** The time a text's maximum age counts from. */
export const inboundAgeFrom = (r: Pick<InboundRow, 'received_at' | 'retried_at'>): number => r.retried_at ?? r.received_at;

export interface EnqueueResult {
  id: number;
  duplicate: boolean;
}

export interface InboundStore {
  /** Resolves once the text is durably committed (or found to be a duplicate). */
  enqueue(msg: NewInbound): Promise<EnqueueResult>;
  /**
   * Runs `write` (one of the outcome writes below, say) in the next group
   * commit, with the webhooks' texts and the other writes of the same
   * event-loop turn: one transaction, one fsync for them all; by itself after
   * maxWaitMs when no webhook comes. Resolves with what it returned once that
   * transaction has committed. A write that throws is undone alone (it runs
   * in a savepoint) and rejects; the others in the commit stand
   * (src/store/group-commit.ts).
   */
  alongside<T>(write: () => T, maxWaitMs: number): Promise<T>;
  /** Takes up to `limit` due texts, oldest first, at most one per conversation, and marks them sending. */
  claimDue(now: number, limit: number): InboundRow[];
  get(id: number): InboundRow | undefined;
  partDelivered(id: number, part: number, endpoint: string, now: number): InboundRow | undefined;
  wait(id: number, endpoint: string | null, reason: string, nextAttemptAt: number, now: number): void;
  retry(id: number, reason: string, nextAttemptAt: number, now: number): void;
  fail(id: number, state: 'undeliverable' | 'expired', reason: string, now: number): void;
  /**
   * The text's media are settled: `note` is appended to its body on delivery,
   * which now takes `parts` SIP messages; a text still waiting for them falls
   * due now. False when they were settled already.
   */
  mediaSettled(id: number, note: string, parts: number, now: number): boolean;
  /** Texts waiting for this endpoint become due now; returns how many. */
  wakeEndpoint(endpoint: string, now: number): number;
  /** Texts left 'sending' by a previous process go back to the queue. */
  resumeInterrupted(now: number): number;
  /** Marks texts older than the cut-off that are not delivered as expired; returns them. */
  expireOlderThan(cutoff: number, now: number): InboundRow[];
  /**
   * When the earliest text first in its conversation falls due (possibly
   * already). One waiting behind an earlier text does not count: it is woken
   * by that text's outcome, not by a timer.
   */
  nextDueAt(): number | undefined;
  counts(): Record<InboundState, number>;
  /** Commits whatever is batched; used at shutdown. */
  flush(): void;
}

/** 64 bits of SHA-256: plenty to tell texts apart within a duplicate window, and a small index. */
export function hashBody(body: string): string {
  // The one-shot form: no Hash object per webhook.
  return crypto.hash('sha256', body, 'hex').slice(0, 16);
}

/**
 * The duplicate-detection hash of a text: its body, and the addresses of its
 * media, so that two pictures without words from one sender are two texts.
 */
function hashText(m: NewInbound): string {
  return m.media === undefined || m.media.length === 0 ? hashBody(m.body) : hashBody([m.body, ...m.media.map((r) => r.url)].join('\u0000'));
}

/** How long a text waits for its media when the writer is not told (the default of [media] max_hold). */
export const DEFAULT_MEDIA_HOLD_MS = 120_000;

export interface InboundWriterOptions {
  dedupWindowMs: number;
  /** How long a text with media waits for them before it is delivered without those still missing (read at each write). */
  mediaHoldMs?: () => number;
  /**
   * Called when a new text with media is written. It runs inside the
   * transaction: the callee only schedules its work (the media worker's kick
   * scans on the next turn, after the commit).
   */
  onMedia?: (id: number) => void;
}

/**
 * Writes one text inside the caller's transaction, or finds it a duplicate:
 * the same provider id, or (without one) the same sender, recipient and body
 * (and media) within the window. Shared by the webhook's group commit and the
 * reassembly of texts that arrive in parts (store/parts.ts), so both store a
 * text alike, its media refs included.
 *
 * A batch at a time, one result per text in order: the books of the batch's
 * new texts (counts, conversations, queue heads) are kept once, at its end
 * (store/inbound-books.ts). It runs in the caller's transaction, which rolls
 * back as a whole should it throw.
 */
export type InboundWriter = (ms: readonly NewInbound[], now: number) => EnqueueResult[];

export function createInboundWriter(db: Db, opts: InboundWriterOptions): InboundWriter {
  const mediaHoldMs = opts.mediaHoldMs ?? ((): number => DEFAULT_MEDIA_HOLD_MS);
  const byProviderId = db.prepare<[string, string], { id: number }>(
    'SELECT id FROM inbound WHERE interface = ? AND provider_id = ?',
  );
  // Content duplicates are looked up in memory, not through an index on the
  // hash: store/recent-texts.ts says why.
  const recent = recentTexts(db, opts.dedupWindowMs);
  const insert = db.prepare(
    `INSERT INTO inbound (interface, provider_id, sender, recipient, body, body_hash, parts,
       state, next_attempt_at, received_at, updated_at)
     VALUES (@interface, @providerId, @sender, @recipient, @body, @hash, @parts, 'queued', @t, @t, @t)`,
  );
  // A text with media is not due before they are fetched or its hold time is
  // over: next_attempt_at says so, and the claim query needs no other rule.
  const insertWithMedia = db.prepare(
    `INSERT INTO inbound (interface, provider_id, sender, recipient, body, body_hash, parts,
       state, next_attempt_at, received_at, updated_at, media_due)
     VALUES (@interface, @providerId, @sender, @recipient, @body, @hash, @parts, 'queued', @due, @t, @t, @due)`,
  );
  const insertMedia = db.prepare(
    `INSERT INTO media (inbound_id, seq, url, announced_type, auth, next_attempt_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const books = inboundBooks(db);
  const writeOne = (m: NewInbound, t: number): EnqueueResult => {
    const hash = hashText(m);
    const key = { interface: m.interface, sender: m.sender, recipient: m.recipient, hash };
    const prior = m.providerId !== undefined ? byProviderId.get(m.interface, m.providerId)?.id : recent.find(key, t);
    if (prior !== undefined) return { id: prior, duplicate: true };
    const values = {
      interface: m.interface,
      providerId: m.providerId ?? null,
      sender: m.sender,
      recipient: m.recipient,
      body: m.body,
      hash,
      parts: m.parts,
      t,
    };
    if (m.media === undefined || m.media.length === 0) {
      const id = Number(insert.run(values).lastInsertRowid);
      recent.add(key, id, t);
      return { id, duplicate: false };
    }
    const id = Number(insertWithMedia.run({ ...values, due: t + mediaHoldMs() }).lastInsertRowid);
    recent.add(key, id, t);
    m.media.forEach((ref, i) => insertMedia.run(id, i + 1, ref.url, ref.contentType ?? null, ref.auth ?? 'none', t, t, t));
    opts.onMedia?.(id);
    return { id, duplicate: false };
  };
  return (ms, t) => {
    const results = ms.map((m) => writeOne(m, t));
    // The batch's new rows are the ids from its first new text to its last:
    // nothing else inserts into inbound inside this transaction.
    let first = Infinity;
    let last = -Infinity;
    for (const r of results) {
      if (r.duplicate) continue;
      first = Math.min(first, r.id);
      last = Math.max(last, r.id);
    }
    if (last >= first) books(first, last);
    return results;
  };
}

/**
 * The queue's reads (a test checks their query plans). The two that run on
 * every scan read inbound_heads' `due` index: the due heads, earliest first,
 * joined to their rows by id; and the earliest time a head falls due. A text
 * behind its conversation's head is in neither: it is due when the head
 * finishes, and the head's outcome starts the next scan.
 */
export const INBOUND_QUEUE_SQL = {
  due: `SELECT m.* FROM inbound_heads h CROSS JOIN inbound m ON m.id = h.head_id
         WHERE h.due IS NOT NULL AND h.due <= ? ORDER BY h.due, h.head_id LIMIT ?`,
  nextDue: 'SELECT due AS t FROM inbound_heads WHERE due IS NOT NULL ORDER BY due LIMIT 1',
  // Expiry, every minute, looks at every text still to be delivered, behind a
  // head or not: the texts in inbound_active, not the whole history. The
  // first state term is that index's own, word for word, which is what lets
  // SQLite use it.
  expire: `SELECT * FROM inbound INDEXED BY inbound_active WHERE state IN ('queued', 'sending', 'waiting') AND state <> 'sending'
             AND COALESCE(retried_at, received_at) < ?`,
  // At start, the texts a stop left being delivered: found the same way,
  // among the texts on their way. \`state = 'sending'\` alone has no index and
  // read every text ever received, on every start.
  interrupted: `FROM inbound INDEXED BY inbound_active WHERE state IN ('queued', 'sending', 'waiting') AND state = 'sending'`,
  // How many texts are in each state: from text_counts, which triggers and
  // the writer keep (db/005_text_counts.sql, 017), not a count of the whole
  // history (systemd's status line asks every few seconds).
  counts: `SELECT state, SUM(n) AS n FROM text_counts WHERE direction = 'in' GROUP BY state`,
} as const;

export function createInboundStore(db: Db, opts: InboundWriterOptions & { now?: () => number }): InboundStore {
  const now = opts.now ?? Date.now;
  const events = createEventLog(db);
  const write = createInboundWriter(db, opts);
  // The duplicate window of a previous run is read at start, not in the
  // first webhook's commit (100,000 texts of a flood took 330 ms here).
  recentTexts(db, opts.dedupWindowMs).warm(now());
  const commits = createGroupCommit(db, (items: NewInbound[]): EnqueueResult[] => write(items, now()));

  const claimSelect = db.prepare<[number, number], InboundRow>(INBOUND_QUEUE_SQL.due);
  const markSending = db.prepare(
    `UPDATE inbound SET state = 'sending', attempts = attempts + 1, updated_at = ? WHERE id = ?`,
  );
  const claim = db.transaction((t: number, limit: number): InboundRow[] => {
    // One head per conversation: never two texts of one conversation at once.
    const rows = claimSelect.all(t, limit);
    for (const r of rows) {
      markSending.run(t, r.id);
      events.add('in', r.id, t, 'attempt', `originate part ${r.parts_done + 1} of ${r.parts}, attempt ${r.attempts + 1}`);
    }
    return rows.map((r) => ({ ...r, state: 'sending', attempts: r.attempts + 1 }));
  });

  const unsynced = unsyncedWriter(db);
  const getRow = db.prepare<[number], InboundRow>('SELECT * FROM inbound WHERE id = ?');
  const advance = db.prepare<[number, string, number, number, number, number, number], InboundRow>(
    `UPDATE inbound SET parts_done = ?, endpoint = ?, updated_at = ?,
       state = CASE WHEN ? >= parts THEN 'delivered' ELSE 'queued' END,
       next_attempt_at = ?, reason = NULL
     WHERE id = ? AND parts_done = ? AND state NOT IN ('delivered', 'undeliverable', 'expired', 'cancelled')
     RETURNING *`,
  );
  const waitStmt = db.prepare(
    `UPDATE inbound SET state = 'waiting', endpoint = COALESCE(?, endpoint), reason = ?, next_attempt_at = ?, updated_at = ?
     WHERE id = ? AND state IN ('sending', 'queued', 'waiting')`,
  );
  const retryStmt = db.prepare(
    `UPDATE inbound SET state = 'queued', reason = ?, next_attempt_at = ?, updated_at = ?
     WHERE id = ? AND state IN ('sending', 'queued', 'waiting')`,
  );
  const failStmt = db.prepare(
    `UPDATE inbound SET state = ?, reason = ?, updated_at = ?
     WHERE id = ? AND state NOT IN ('delivered', 'undeliverable', 'expired', 'cancelled')`,
  );
  const settledStmt = db.prepare(
    `UPDATE inbound SET media_note = ?, parts = ?, media_due = NULL, next_attempt_at = MIN(next_attempt_at, ?), updated_at = ?
     WHERE id = ? AND media_due IS NOT NULL`,
  );
  const wakeStmt = db.prepare(
    `UPDATE inbound SET next_attempt_at = ?, updated_at = ? WHERE endpoint = ? AND state = 'waiting'`,
  );
  const resumeStmt = db.prepare(
    `UPDATE inbound SET state = 'queued', next_attempt_at = ?, updated_at = ? WHERE id IN (SELECT id ${INBOUND_QUEUE_SQL.interrupted})`,
  );
  const resumeEvents = db.prepare(
    `INSERT INTO events (direction, text_id, at, kind, detail)
     SELECT 'in', id, ?, 'interrupted', 'websms stopped while delivering it; queued again' ${INBOUND_QUEUE_SQL.interrupted}`,
  );
  const expireSelect = db.prepare<[number], InboundRow>(INBOUND_QUEUE_SQL.expire);
  const nextDue = db.prepare<[], { t: number }>(INBOUND_QUEUE_SQL.nextDue);
  const countStmt = db.prepare<[], { state: InboundState; n: number }>(INBOUND_QUEUE_SQL.counts);

  return {
    enqueue: (msg) => commits.submit(msg),
    alongside: (write, maxWaitMs) => commits.alongside(write, maxWaitMs),
    claimDue(t, limit) {
      if (limit <= 0) return [];
      // 'sending' is not worth an fsync: after a crash it is reset to queued
      // anyway. Skipping it keeps the webhook-to-Originate path at one fsync.
      return unsynced(() => claim(t, limit));
    },
    get: (id) => getRow.get(id),
    partDelivered: db.transaction((id: number, part: number, endpoint: string, t: number) => {
      const row = advance.get(part, endpoint, t, part, t, id, part - 1);
      if (row === undefined) return undefined;
      if (row.state === 'delivered') events.add('in', id, t, 'delivered', `to endpoint ${endpoint || '?'}`);
      else events.add('in', id, t, 'part_delivered', `part ${part} of ${row.parts} to endpoint ${endpoint || '?'}`);
      return row;
    }),
    wait: db.transaction((id: number, endpoint: string | null, reason: string, at: number, t: number) => {
      if (waitStmt.run(endpoint, reason, at, t, id).changes > 0) {
        events.add('in', id, t, 'waiting', `${reason}; next attempt at ${new Date(at).toISOString()} or when the phone registers`);
      }
    }),
    retry: db.transaction((id: number, reason: string, at: number, t: number) => {
      if (retryStmt.run(reason, at, t, id).changes > 0) events.add('in', id, t, 'retry', `${reason}; next attempt at ${new Date(at).toISOString()}`);
    }),
    fail: db.transaction((id: number, state: 'undeliverable' | 'expired', reason: string, t: number) => {
      if (failStmt.run(state, reason, t, id).changes > 0) events.add('in', id, t, state, reason);
    }),
    mediaSettled: (id, note, parts, t) => settledStmt.run(note, parts, t, t, id).changes > 0,
    wakeEndpoint: (endpoint, t) => wakeStmt.run(t, t, endpoint).changes,
    resumeInterrupted: db.transaction((t: number) => {
      resumeEvents.run(t);
      return resumeStmt.run(t, t).changes;
    }),
    expireOlderThan(cutoff, t) {
      return db.transaction(() => {
        const rows = expireSelect.all(cutoff);
        for (const r of rows) {
          failStmt.run('expired', 'not delivered within the maximum age', t, r.id);
          events.add('in', r.id, t, 'expired', 'not delivered within the maximum age');
        }
        return rows;
      })();
    },
    nextDueAt: () => nextDue.get()?.t,
    counts() {
      const out: Record<InboundState, number> = {
        queued: 0, sending: 0, waiting: 0, delivered: 0, undeliverable: 0, expired: 0, cancelled: 0,
      };
      for (const r of countStmt.all()) out[r.state] = r.n;
      return out;
    },
    flush: () => commits.flush(),
  };
}
