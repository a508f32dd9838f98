// Conversations as a phone's messaging app shows them: for each of the user's
// numbers, the other parties newest first, with the newest text and how many
// inbound texts came after the person last looked (db/011_web.sql). The
// texts of one conversation are read through the text store (texts.ts,
// ListQuery.between).

import type { Db } from './db.js';
import type { TextRecord, TextStore } from './texts.js';

export interface Conversation {
  /** The user's number: recipient of inbound texts, sender of outbound ones. */
  local: string;
  /** The other party. */
  remote: string;
  /** When its newest text came or went (ms since epoch). */
  lastAt: number;
  /** Inbound texts newer than the read marker. */
  unread: number;
  /** The newest text, when it is still kept. */
  last: TextRecord | undefined;
}

/** Newest first; ties by number, so that every conversation is on exactly one page. */
export interface ConversationCursor {
  lastAt: number;
  local: string;
  remote: string;
}

export interface LocalNumber {
  number: string;
  conversations: number;
  unread: number;
}

export interface ConversationStore {
  list(q: { local?: string; limit: number; cursor?: ConversationCursor }): { conversations: Conversation[]; next: ConversationCursor | null };
  /** One conversation; undefined when there is no text between the two. */
  get(local: string, remote: string): Conversation | undefined;
  /** The user's numbers that have conversations, with their unread totals. */
  locals(): LocalNumber[];
  /**
   * The person saw the conversation up to inbound text `throughId` (its row
   * id; never beyond the newest). A marker only moves forward. Returns the
   * unread count left.
   */
  markRead(local: string, remote: string, throughId: number, now: number): number;
}

interface Row {
  local: string;
  remote: string;
  last_at: number;
  last_in: number;
  last_out: number;
  unread: number;
}

// The unread count reads the thread index (db/011_web.sql), with the key
// written as it is indexed, and only for a conversation whose newest inbound
// text is past its marker: most are read, and cost nothing.
const SELECT = `SELECT c.local, c.remote, c.last_at, c.last_in, c.last_out,
    CASE WHEN c.last_in > coalesce(r.read_in, 0)
      THEN (SELECT count(*) FROM inbound i WHERE i.recipient || ' ' || i.sender = c.local || ' ' || c.remote AND i.id > coalesce(r.read_in, 0))
      ELSE 0 END AS unread
  FROM conversations c LEFT JOIN read_markers r ON r.local = c.local AND r.remote = c.remote`;

export function createConversationStore(db: Db, texts: Pick<TextStore, 'get'>): ConversationStore {
  const listStmt = db.prepare<{ after: number; at: number; local: string; remote: string; only: string | null; n: number }, Row>(
    `${SELECT}
      WHERE (@after = 0 OR (c.last_at, c.local, c.remote) < (@at, @local, @remote))
        AND (@only IS NULL OR c.local = @only)
      ORDER BY c.last_at DESC, c.local DESC, c.remote DESC LIMIT @n`,
  );
  const getStmt = db.prepare<[string, string], Row>(`${SELECT} WHERE c.local = ? AND c.remote = ?`);
  const localsStmt = db.prepare<[], { number: string; conversations: number; unread: number }>(
    `SELECT local AS number, count(*) AS conversations, sum(unread) AS unread FROM (${SELECT}) GROUP BY local ORDER BY local`,
  );
  const newestIn = db.prepare<[string, string], { last_in: number }>('SELECT last_in FROM conversations WHERE local = ? AND remote = ?');
  const mark = db.prepare(
    `INSERT INTO read_markers (local, remote, read_in, read_at) VALUES (@local, @remote, @id, @t)
       ON CONFLICT DO UPDATE SET read_in = max(read_in, excluded.read_in), read_at = excluded.read_at`,
  );

  const toConversation = (r: Row): Conversation => {
    const inbound = r.last_in > 0 ? texts.get('in', r.last_in) : undefined;
    const outbound = r.last_out > 0 ? texts.get('out', r.last_out) : undefined;
    const last = !inbound ? outbound : !outbound ? inbound : outbound.createdAt >= inbound.createdAt ? outbound : inbound;
    return { local: r.local, remote: r.remote, lastAt: r.last_at, unread: r.unread, last };
  };

  return {
    list({ local, limit, cursor }) {
      const rows = listStmt.all({
        after: cursor ? 1 : 0,
        at: cursor?.lastAt ?? 0,
        local: cursor?.local ?? '',
        remote: cursor?.remote ?? '',
        only: local ?? null,
        n: limit + 1,
      });
      const more = rows.length > limit;
      const page = rows.slice(0, limit);
      const tail = page[page.length - 1];
      return {
        conversations: page.map(toConversation),
        next: more && tail ? { lastAt: tail.last_at, local: tail.local, remote: tail.remote } : null,
      };
    },
    get(local, remote) {
      const r = getStmt.get(local, remote);
      return r ? toConversation(r) : undefined;
    },
    locals: () => localsStmt.all().map((r) => ({ number: r.number, conversations: r.conversations, unread: r.unread ?? 0 })),
    markRead(local, remote, throughId, now) {
      const newest = newestIn.get(local, remote)?.last_in ?? 0;
      const id = Math.min(throughId, newest);
      if (id > 0) mark.run({ local, remote, id, t: now });
      return getStmt.get(local, remote)?.unread ?? 0;
    },
  };
}
