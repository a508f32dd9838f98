// Texts of both directions as people see them: listing and searching with
// keyset paging, one text with its events, and the changes made by hand
// (retry, cancel, purge).
//
// Paging is by id within each table, newest first, so every text appears on
// exactly one page however the clock moved; the two directions are merged by
// time. The cursor holds the last id taken from each table.

import type Database from 'better-sqlite3';
import { TextError } from '../errors.js';
import type { Db } from './db.js';
import { createEventLog, type Direction, type TextEvent } from './events.js';
import { INBOUND_FINISHED, INBOUND_STATES, type InboundState } from './inbound.js';
import { OUTBOUND_FINISHED, OUTBOUND_STATES, type OutboundState } from './outbound.js';

export type { Direction, TextEvent };
export type TextState = InboundState | OutboundState;
export { INBOUND_STATES, OUTBOUND_STATES };

/** The states of the management API's contract, by direction. */
export const STATES: Record<Direction, readonly TextState[]> = { in: INBOUND_STATES, out: OUTBOUND_STATES };
/** Every state of either direction, each once. */
export const ALL_STATES: readonly TextState[] = [...new Set<TextState>([...INBOUND_STATES, ...OUTBOUND_STATES])];

/** States in which a text is still on its way: what `websms queue` lists, what purge never removes. */
export const ACTIVE_STATES: Record<Direction, readonly TextState[]> = {
  in: INBOUND_STATES.filter((s) => !INBOUND_FINISHED.includes(s)),
  out: OUTBOUND_STATES.filter((s) => !OUTBOUND_FINISHED.includes(s)),
};

/** States as an SQL list: `('queued', 'sending')`. They are fixed words, never input. */
export const statesSql = (states: readonly TextState[]): string => `(${states.map((s) => `'${s}'`).join(', ')})`;

/** A text of either direction; times in ms since the epoch. */
export interface TextRecord {
  direction: Direction;
  /** The row id in its direction's table. */
  rowId: number;
  interface: string;
  from: string;
  to: string;
  body: string | null;
  state: TextState;
  reason: string | null;
  attempts: number;
  /** SIP messages for inbound, SMS segments for outbound. */
  parts: number;
  providerId: string | null;
  createdAt: number;
  updatedAt: number;
  /** When it is next tried; null when it is not waiting for a try. */
  nextAttemptAt: number | null;
}

/**
 * The JSON form the management API gives (and the CLI prints with --json):
 * the record with its id as `in-N` / `out-N` and its times as ISO 8601.
 */
export type TextJson = Omit<TextRecord, 'rowId' | 'createdAt' | 'updatedAt' | 'nextAttemptAt'> & {
  id: string;
  createdAt: string;
  updatedAt: string;
  nextAttemptAt: string | null;
};

export const formatTextId = (direction: Direction, rowId: number): string => `${direction}-${rowId}`;

/** `in-12` / `out-7`; undefined for anything else. */
export function parseTextId(id: string): { direction: Direction; rowId: number } | undefined {
  const m = /^(in|out)-([1-9][0-9]{0,14})$/.exec(id);
  return m ? { direction: m[1] as Direction, rowId: Number(m[2]) } : undefined;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function textJson(r: TextRecord): TextJson {
  return {
    id: formatTextId(r.direction, r.rowId),
    direction: r.direction,
    interface: r.interface,
    from: r.from,
    to: r.to,
    body: r.body,
    state: r.state,
    reason: r.reason,
    attempts: r.attempts,
    parts: r.parts,
    providerId: r.providerId,
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
    nextAttemptAt: r.nextAttemptAt === null ? null : iso(r.nextAttemptAt),
  };
}

/** An event as the management API gives it (and the CLI prints with --json). */
export interface TextEventJson {
  at: string;
  kind: string;
  detail: string | null;
}

export function eventJson(e: TextEvent): TextEventJson {
  return { at: iso(e.at), kind: e.kind, detail: e.detail };
}

/** Per table: the last id taken (exclusive bound of the next page), 0 when done, absent when not started. */
export interface Cursor {
  in?: number;
  out?: number;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
}

export function decodeCursor(s: string): Cursor | undefined {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    const out: Cursor = {};
    for (const [k, n] of Object.entries(v)) {
      if ((k !== 'in' && k !== 'out') || !Number.isSafeInteger(n) || (n as number) < 0) return undefined;
      out[k] = n as number;
    }
    return out;
  } catch {
    return undefined;
  }
}

export interface ListQuery {
  direction?: Direction;
  state?: TextState;
  /** Any of these states (fixed words, never input); with `state`, both must hold. */
  states?: readonly TextState[];
  interface?: string;
  /** Matches the sender or the recipient; already normalised. */
  number?: string;
  /** One conversation: texts between the user's number and the other party's (both normalised). */
  between?: { local: string; remote: string };
  /** Searched for in bodies (case-insensitive for ASCII letters). */
  q?: string;
  /** Created at or after / before (ms). */
  since?: number;
  until?: number;
  limit: number;
  cursor?: Cursor;
}

export interface TextStore {
  list(query: ListQuery): { texts: TextRecord[]; next: Cursor | null };
  get(direction: Direction, rowId: number): TextRecord | undefined;
  events(direction: Direction, rowId: number): TextEvent[];
  /** Queued again, due now, with a fresh attempt count. Throws TextError. */
  retry(direction: Direction, rowId: number, now: number): TextRecord;
  /** A queued or waiting text becomes cancelled: never sent or delivered. Throws TextError. */
  cancel(direction: Direction, rowId: number, now: number): TextRecord;
  /** Deletes finished texts last updated before the time, with their events; returns how many texts. */
  purge(before: number): number;
}

interface Table {
  direction: Direction;
  name: 'inbound' | 'outbound';
  created: 'received_at' | 'created_at';
  parts: 'parts' | 'segments';
  /** States in which the text is still on its way. */
  active: readonly TextState[];
  /** States a retry by hand is allowed from. */
  retryFrom: readonly TextState[];
}

const TABLES: Record<Direction, Table> = {
  in: {
    direction: 'in',
    name: 'inbound',
    created: 'received_at',
    parts: 'parts',
    active: ACTIVE_STATES.in,
    retryFrom: ['queued', 'waiting', 'undeliverable', 'expired', 'cancelled'],
  },
  out: {
    direction: 'out',
    name: 'outbound',
    created: 'created_at',
    parts: 'segments',
    active: ACTIVE_STATES.out,
    retryFrom: ['queued', 'failed', 'expired', 'cancelled'],
  },
};

interface Row {
  id: number;
  interface: string;
  sender: string;
  recipient: string;
  body: string | null;
  state: TextState;
  reason: string | null;
  attempts: number;
  parts: number;
  provider_id: string | null;
  created: number;
  updated_at: number;
  next_attempt_at: number;
}

function toRecord(t: Table, r: Row): TextRecord {
  const waiting = r.state === 'queued' || r.state === 'waiting';
  return {
    direction: t.direction,
    rowId: r.id,
    interface: r.interface,
    from: r.sender,
    to: r.recipient,
    body: r.body,
    state: r.state,
    reason: r.reason,
    attempts: r.attempts,
    parts: r.parts,
    providerId: r.provider_id,
    createdAt: r.created,
    updatedAt: r.updated_at,
    nextAttemptAt: waiting ? r.next_attempt_at : null,
  };
}

const columns = (t: Table): string =>
  `id, interface, sender, recipient, body, state, reason, attempts, ${t.parts} AS parts, provider_id, ${t.created} AS created, updated_at, next_attempt_at`;

/**
 * One conversation as the thread indexes key it (db/011_web.sql): the local
 * number, a space, the other party. A local number never has a space, so
 * the key is unambiguous.
 */
export const threadKey = (local: string, remote: string): string => `${local} ${remote}`;
/** The condition on that key, as the index is written; it takes threadKey() as its one argument. */
export const threadKeySql = (direction: Direction): string =>
  direction === 'in' ? `recipient || ' ' || sender = ?` : `sender || ' ' || recipient = ?`;

/** LIKE with the pattern characters of the search taken literally. */
const likePattern = (q: string): string => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

function whyNot(action: 'retry' | 'cancel', r: TextRecord): string {
  const id = formatTextId(r.direction, r.rowId);
  if (r.state === 'sending') return `${id} is being ${r.direction === 'in' ? 'delivered' : 'sent'} right now; wait for the outcome and look again`;
  if (action === 'retry') {
    if (r.state === 'sent') return `${id} was already accepted by the ITSP (sent); it is not sent twice`;
    if (r.state === 'delivered') return `${id} was already delivered; it is not sent twice`;
  }
  return `${id} is ${r.state}; only a queued or waiting text can be cancelled`;
}

export function createTextStore(db: Db): TextStore {
  const events = createEventLog(db);

  const getStmt = {
    in: db.prepare<[number], Row>(`SELECT ${columns(TABLES.in)} FROM inbound WHERE id = ?`),
    out: db.prepare<[number], Row>(`SELECT ${columns(TABLES.out)} FROM outbound WHERE id = ?`),
  };
  const get = (direction: Direction, rowId: number): TextRecord | undefined => {
    const r = getStmt[direction].get(rowId);
    return r ? toRecord(TABLES[direction], r) : undefined;
  };

  // Statements for each combination of filters, made once each.
  const listStmts = new Map<string, Database.Statement<unknown[], Row>>();
  function page(t: Table, q: ListQuery, before: number | undefined, n: number): TextRecord[] {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: string, ...values: unknown[]): void => {
      where.push(sql);
      args.push(...values);
    };
    if (before !== undefined) add('id < ?', before);
    if (q.state !== undefined) add('state = ?', q.state);
    if (q.states !== undefined) add(`state IN ${statesSql(q.states)}`);
    if (q.interface !== undefined) add('interface = ?', q.interface);
    if (q.number !== undefined) add('(sender = ? OR recipient = ?)', q.number, q.number);
    // The user's number is the recipient of an inbound text and the sender of
    // an outbound one; written as the expression indexed by db/011_web.sql.
    if (q.between !== undefined) add(threadKeySql(t.direction), threadKey(q.between.local, q.between.remote));
    if (q.q !== undefined) add(`body LIKE ? ESCAPE '\\'`, likePattern(q.q));
    if (q.since !== undefined) add(`${t.created} >= ?`, q.since);
    if (q.until !== undefined) add(`${t.created} < ?`, q.until);
    const sql = `SELECT ${columns(t)} FROM ${t.name}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    let stmt = listStmts.get(sql);
    if (!stmt) {
      stmt = db.prepare<unknown[], Row>(sql);
      listStmts.set(sql, stmt);
    }
    return stmt.all(...args, n).map((r) => toRecord(t, r));
  }

  const setState = {
    in: {
      retry: db.prepare(
        `UPDATE inbound SET state = 'queued', attempts = 0, reason = NULL, next_attempt_at = @t, retried_at = @t, updated_at = @t WHERE id = @id`,
      ),
      cancel: db.prepare(`UPDATE inbound SET state = 'cancelled', reason = 'cancelled by hand', updated_at = @t WHERE id = @id`),
    },
    out: {
      // A fresh start: back on the interface chosen at hand-off (so failover
      // can happen again), no provider id (a late report on the old attempt
      // must not touch it), and the sender told again about the new outcome.
      retry: db.prepare(
        `UPDATE outbound SET state = 'queued', attempts = 0, interface = origin, provider_id = NULL, notified = NULL, reason = NULL,
           next_attempt_at = @t, retried_at = @t, updated_at = @t WHERE id = @id`,
      ),
      cancel: db.prepare(`UPDATE outbound SET state = 'cancelled', reason = 'cancelled by hand', updated_at = @t WHERE id = @id`),
    },
  };

  const change = db.transaction((action: 'retry' | 'cancel', direction: Direction, rowId: number, t: number): TextRecord => {
    const before = get(direction, rowId);
    const id = formatTextId(direction, rowId);
    if (!before) throw new TextError('not_found', `no text ${id}`);
    const table = TABLES[direction];
    if (action === 'retry') {
      if (!table.retryFrom.includes(before.state)) throw new TextError('conflict', whyNot('retry', before));
      if (before.body === null) throw new TextError('conflict', `${id} has no body any more (removed after the retention time); it cannot be sent again`);
      setState[direction].retry.run({ id: rowId, t });
      events.add(direction, rowId, t, 'retried', `queued again by hand (was ${before.state})`);
    } else {
      if (before.state !== 'queued' && before.state !== 'waiting') throw new TextError('conflict', whyNot('cancel', before));
      setState[direction].cancel.run({ id: rowId, t });
      events.add(direction, rowId, t, 'cancelled', `cancelled by hand (was ${before.state})`);
    }
    return get(direction, rowId)!;
  });

  const purgeStmts = Object.values(TABLES).map((t) => {
    const finished = `state NOT IN ${statesSql(t.active)}`;
    return {
      events: db.prepare(`DELETE FROM events WHERE direction = '${t.direction}' AND text_id IN (SELECT id FROM ${t.name} WHERE ${finished} AND updated_at < ?)`),
      // An inbound text's media rows go with it; their files are swept by the hourly media retention (src/media/retention.ts).
      media:
        t.direction === 'in'
          ? db.prepare(`DELETE FROM media WHERE inbound_id IN (SELECT id FROM inbound WHERE ${finished} AND updated_at < ?)`)
          : undefined,
      texts: db.prepare(`DELETE FROM ${t.name} WHERE ${finished} AND updated_at < ?`),
    };
  });

  return {
    list(q) {
      const directions: Direction[] = q.direction !== undefined ? [q.direction] : ['out', 'in'];
      const fetched = new Map<Direction, TextRecord[]>();
      for (const d of directions) {
        const bound = q.cursor?.[d];
        // 0: that direction was exhausted on an earlier page.
        fetched.set(d, bound === 0 ? [] : page(TABLES[d], q, bound, q.limit + 1));
      }
      // A merge, not a sort: what is taken from each table stays a prefix
      // of its id order, which is what makes the per-table cursor exact.
      const taken = new Map<Direction, number>(directions.map((d) => [d, 0]));
      const texts: TextRecord[] = [];
      while (texts.length < q.limit) {
        let best: Direction | undefined;
        for (const d of directions) {
          const head = fetched.get(d)![taken.get(d)!];
          if (!head) continue;
          const cur = best === undefined ? undefined : fetched.get(best)![taken.get(best)!]!;
          if (!cur || head.createdAt > cur.createdAt) best = d;
        }
        if (best === undefined) break;
        texts.push(fetched.get(best)![taken.get(best)!]!);
        taken.set(best, taken.get(best)! + 1);
      }
      const next: Cursor = {};
      let more = false;
      for (const d of directions) {
        const rows = fetched.get(d)!;
        const n = taken.get(d)!;
        if (n < rows.length) {
          more = true;
          next[d] = n > 0 ? rows[n - 1]!.rowId : q.cursor?.[d];
          if (next[d] === undefined) delete next[d];
        } else next[d] = 0;
      }
      return { texts, next: more ? next : null };
    },
    get,
    events: (direction, rowId) => events.list(direction, rowId),
    retry: (direction, rowId, t) => change('retry', direction, rowId, t),
    cancel: (direction, rowId, t) => change('cancel', direction, rowId, t),
    purge: db.transaction((before: number) => {
      let n = 0;
      for (const s of purgeStmts) {
        s.events.run(before);
        s.media?.run(before);
        n += s.texts.run(before).changes;
      }
      return n;
    }),
  };
}
