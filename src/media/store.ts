// The media table: each picture or other item of an inbound text, from the
// ref the provider gave (written with the text, src/store/inbound.ts) to the
// file kept under the media directory and the token of its link.

import type { Db } from '../store/db.js';
import { INBOUND_FINISHED } from '../store/inbound.js';
import { statesSql } from '../store/texts.js';

export type MediaState = 'pending' | 'stored' | 'failed' | 'removed';

export interface MediaRow {
  id: number;
  inbound_id: number;
  seq: number;
  url: string;
  announced_type: string | null;
  auth: 'none' | 'basic' | 'bearer';
  state: MediaState;
  attempts: number;
  next_attempt_at: number;
  token: string | null;
  content_type: string | null;
  size: number | null;
  file: string | null;
  fetched_at: number | null;
  reason: string | null;
  created_at: number;
  updated_at: number;
}

/** A pending item with what fetching it needs to know about its text. */
export interface DueMedia extends MediaRow {
  /** The text's interface: whose credentials a ref with auth uses. */
  interface: string;
  /** When the text stops waiting for it. */
  media_due: number;
}

export interface MediaStore {
  /** Pending items of texts still waiting for them, due by `now`, oldest first. */
  due(now: number, limit: number): DueMedia[];
  /**
   * When the next pending item falls due after `after` (those due already are
   * being fetched, or wait for a free slot). Asked with the same instant as
   * due(): an item falling due between two instants is in neither answer.
   */
  nextDueAt(after: number): number | undefined;
  /** Records a fetched item; false when it is no longer pending (its text went ahead without it). */
  stored(id: number, fields: { token: string; contentType: string; size: number; file: string }, now: number): boolean;
  retryAt(id: number, reason: string, at: number, now: number): void;
  failed(id: number, reason: string, now: number): void;
  /** Every still pending item of a text fails with this reason; returns how many. */
  failPending(inboundId: number, reason: string, now: number): number;
  pendingOf(inboundId: number): number;
  /** The items of a text in their order. */
  itemsOf(inboundId: number): MediaRow[];
  /** A stored item by its link's token. */
  byToken(token: string): MediaRow | undefined;
  /** Up to `limit` stored items fetched before the cut-off. */
  storedBefore(cutoff: number, limit: number): MediaRow[];
  /** The item's file is gone: it is no longer served. */
  removed(id: number, now: number): void;
  /** Names of the files of every stored item. */
  storedFiles(): Set<string>;
}

export function createMediaStore(db: Db): MediaStore {
  const finished = statesSql(INBOUND_FINISHED);
  const dueStmt = db.prepare<[number, number], DueMedia>(
    `SELECT m.*, i.interface AS interface, i.media_due AS media_due
       FROM media m JOIN inbound i ON i.id = m.inbound_id
      WHERE m.state = 'pending' AND m.next_attempt_at <= ? AND i.media_due IS NOT NULL AND i.state NOT IN ${finished}
      ORDER BY m.next_attempt_at, m.id LIMIT ?`,
  );
  const nextStmt = db.prepare<[number], { t: number }>(
    `SELECT m.next_attempt_at AS t FROM media m JOIN inbound i ON i.id = m.inbound_id
      WHERE m.state = 'pending' AND m.next_attempt_at > ? AND i.media_due IS NOT NULL AND i.state NOT IN ${finished}
      ORDER BY m.next_attempt_at LIMIT 1`,
  );
  const storedStmt = db.prepare(
    `UPDATE media SET state = 'stored', attempts = attempts + 1, token = @token, content_type = @contentType, size = @size,
       file = @file, fetched_at = @t, reason = NULL, updated_at = @t
     WHERE id = @id AND state = 'pending'`,
  );
  const retryStmt = db.prepare(
    `UPDATE media SET attempts = attempts + 1, reason = ?, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'pending'`,
  );
  const failStmt = db.prepare(
    `UPDATE media SET state = 'failed', attempts = attempts + 1, reason = ?, updated_at = ? WHERE id = ? AND state = 'pending'`,
  );
  const failPendingStmt = db.prepare(
    `UPDATE media SET state = 'failed', reason = ?, updated_at = ? WHERE inbound_id = ? AND state = 'pending'`,
  );
  const pendingStmt = db.prepare<[number], { n: number }>(
    `SELECT COUNT(*) AS n FROM media WHERE inbound_id = ? AND state = 'pending'`,
  );
  const itemsStmt = db.prepare<[number], MediaRow>('SELECT * FROM media WHERE inbound_id = ? ORDER BY seq');
  const tokenStmt = db.prepare<[string], MediaRow>(`SELECT * FROM media WHERE token = ? AND state = 'stored'`);
  const beforeStmt = db.prepare<[number, number], MediaRow>(
    `SELECT * FROM media WHERE state = 'stored' AND fetched_at < ? ORDER BY fetched_at LIMIT ?`,
  );
  const removedStmt = db.prepare(
    `UPDATE media SET state = 'removed', token = NULL, file = NULL, updated_at = ? WHERE id = ? AND state = 'stored'`,
  );
  const filesStmt = db.prepare<[], { file: string }>(`SELECT file FROM media WHERE state = 'stored' AND file IS NOT NULL`);

  return {
    due: (t, limit) => (limit > 0 ? dueStmt.all(t, limit) : []),
    nextDueAt: (after) => nextStmt.get(after)?.t,
    stored: (id, f, t) => storedStmt.run({ id, t, ...f }).changes > 0,
    retryAt: (id, reason, at, t) => void retryStmt.run(reason, at, t, id),
    failed: (id, reason, t) => void failStmt.run(reason, t, id),
    failPending: (inboundId, reason, t) => failPendingStmt.run(reason, t, inboundId).changes,
    pendingOf: (inboundId) => pendingStmt.get(inboundId)!.n,
    itemsOf: (inboundId) => itemsStmt.all(inboundId),
    byToken: (token) => tokenStmt.get(token),
    storedBefore: (cutoff, limit) => beforeStmt.all(cutoff, limit),
    removed: (id, t) => void removedStmt.run(t, id),
    storedFiles: () => new Set(filesStmt.all().map((r) => r.file)),
  };
}
