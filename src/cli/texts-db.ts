// Reading texts straight from the SQLite file, read-only, for when the daemon
// is not running. Never writes: the daemon is the only writer (the commands
// that change texts go through its API). Knows the schema of db/*.sql, before
// and after the migration that adds cancelled states and removable bodies.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import { STATES, type Direction, type Text, type TextEvent } from './text.js';

type Db = Database.Database;

/** The database cannot be opened: `missing` when there is no file at all. */
export class DbUnreadable extends Error {
  constructor(
    message: string,
    readonly missing: boolean,
  ) {
    super(message);
  }
}

export function openReadOnly(file: string): Db {
  if (!fs.existsSync(file)) {
    throw new DbUnreadable(`there is no database at ${file}: websms has not run with this configuration yet (or [general] database points elsewhere)`, true);
  }
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    // Fails here, not later, when the file is not a database.
    db.pragma('user_version', { simple: true });
    return db;
  } catch (err) {
    throw new DbUnreadable(`cannot read the database ${file}: ${(err as Error).message}`, false);
  }
}

export interface ListFilter {
  direction?: Direction;
  /** Any of these states; undefined: all. */
  states?: readonly string[];
  interface?: string;
  /** E.164: texts from or to it. */
  number?: string;
  /** ms since epoch: created at or after. */
  since?: number;
  limit: number;
}

interface Row {
  id: number;
  interface: string;
  provider_id: string | null;
  sender: string;
  recipient: string;
  body: string | null;
  parts: number;
  state: string;
  attempts: number;
  next_attempt_at: number;
  created: number;
  updated_at: number;
  reason: string | null;
}

const COLUMNS: Record<Direction, string> = {
  in: 'id, interface, provider_id, sender, recipient, body, parts, state, attempts, next_attempt_at, received_at AS created, updated_at, reason',
  out: 'id, interface, provider_id, sender, recipient, body, segments AS parts, state, attempts, next_attempt_at, created_at AS created, updated_at, reason',
};
const TABLE: Record<Direction, string> = { in: 'inbound', out: 'outbound' };
const WAITING: Record<Direction, readonly string[]> = { in: ['queued', 'waiting'], out: ['queued'] };

function toText(direction: Direction, r: Row): Text {
  const iso = (ms: number): string => new Date(ms).toISOString();
  return {
    id: `${direction}-${r.id}`,
    direction,
    interface: r.interface,
    from: r.sender,
    to: r.recipient,
    body: r.body,
    state: r.state,
    reason: r.reason,
    attempts: r.attempts,
    parts: r.parts,
    providerId: r.provider_id,
    createdAt: iso(r.created),
    updatedAt: iso(r.updated_at),
    nextAttemptAt: WAITING[direction].includes(r.state) ? iso(r.next_attempt_at) : null,
  };
}

export function getText(db: Db, direction: Direction, n: number): Text | undefined {
  const row = db.prepare(`SELECT ${COLUMNS[direction]} FROM ${TABLE[direction]} WHERE id = ?`).get(n) as Row | undefined;
  return row && toText(direction, row);
}

/** Newest first, both directions merged unless one is asked for. */
export function listTexts(db: Db, f: ListFilter): Text[] {
  const directions: Direction[] = f.direction ? [f.direction] : ['in', 'out'];
  const all: Text[] = [];
  for (const d of directions) {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.states) {
      const states = f.states.filter((s) => STATES[d].includes(s));
      if (states.length === 0) continue;
      where.push(`state IN (${states.map(() => '?').join(', ')})`);
      params.push(...states);
    }
    if (f.interface !== undefined) {
      where.push('interface = ?');
      params.push(f.interface);
    }
    if (f.number !== undefined) {
      where.push('(sender = ? OR recipient = ?)');
      params.push(f.number, f.number);
    }
    if (f.since !== undefined) {
      where.push(`${d === 'in' ? 'received_at' : 'created_at'} >= ?`);
      params.push(f.since);
    }
    const sql =
      `SELECT ${COLUMNS[d]} FROM ${TABLE[d]}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ` +
      `ORDER BY created DESC, id DESC LIMIT ?`;
    all.push(...(db.prepare(sql).all(...params, f.limit) as Row[]).map((r) => toText(d, r)));
  }
  return all.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0)).slice(0, f.limit);
}

/** The events of a text, oldest first; undefined when this database keeps none (before migration 004). */
export function getEvents(db: Db, direction: Direction, n: number): TextEvent[] | undefined {
  const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").get();
  if (!has) return undefined;
  const rows = db
    .prepare('SELECT at, kind, detail FROM events WHERE direction = ? AND text_id = ? ORDER BY id')
    .all(direction, n) as { at: number; kind: string; detail: string | null }[];
  return rows.map((e) => ({ at: new Date(e.at).toISOString(), kind: e.kind, detail: e.detail }));
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

