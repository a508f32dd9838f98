// The books of inbound texts just inserted: their count per interface and
// state (text_counts), their conversation's newest text (conversations) and
// their conversation's queue head (inbound_heads). Kept once per commit for a
// range of new ids, instead of per row by insert triggers:
// db/017_inbound_books.sql says why.
//
// Each is one set-wise upsert over the new rows, read back by primary key: a
// count is a sum, a conversation's last_at and last_in are maxima, a head is
// the lowest unfinished id with its due time. None depends on the order of
// the rows, so one upsert leaves what the triggers' upserts, one row at a
// time, left (test/inbound-books.test.ts and test/queue.test.ts check them
// against computations from scratch).

import { StoreError } from '../errors.js';
import type { Db } from './db.js';

/** Books the inbound rows with ids firstId..lastId, all inserted in the current transaction. */
export type InboundBooks = (firstId: number, lastId: number) => void;

export function inboundBooks(db: Db): InboundBooks {
  const counts = db.prepare<[number, number]>(
    `INSERT INTO text_counts (direction, interface, state, n)
       SELECT 'in', interface, state, COUNT(*) FROM inbound WHERE id BETWEEN ? AND ? GROUP BY interface, state
     ON CONFLICT DO UPDATE SET n = n + excluded.n`,
  );
  const conversations = db.prepare<[number, number]>(
    `INSERT INTO conversations (local, remote, last_at, last_in)
       SELECT recipient, sender, MAX(received_at), MAX(id) FROM inbound WHERE id BETWEEN ? AND ? GROUP BY recipient, sender
     ON CONFLICT DO UPDATE SET last_at = max(last_at, excluded.last_at), last_in = max(last_in, excluded.last_in)`,
  );
  // As 013's insert trigger: a head where the conversation has none, or
  // ahead of it when lower (a row inserted with an explicit id).
  const heads = db.prepare<[number, number]>(
    `INSERT INTO inbound_heads (recipient, sender, head_id, due)
       SELECT m.recipient, m.sender, m.id, CASE WHEN m.state = 'sending' THEN NULL ELSE m.next_attempt_at END
         FROM (SELECT MIN(id) AS id FROM inbound WHERE id BETWEEN ? AND ? AND state IN ('queued', 'sending', 'waiting') GROUP BY recipient, sender) f
         CROSS JOIN inbound m ON m.id = f.id
        WHERE true
     ON CONFLICT (recipient, sender) DO UPDATE SET head_id = excluded.head_id, due = excluded.due
     WHERE excluded.head_id < inbound_heads.head_id`,
  );
  return (firstId, lastId) => {
    if (!db.inTransaction) throw new StoreError('inbound books are kept in the transaction that inserted the texts');
    counts.run(firstId, lastId);
    conversations.run(firstId, lastId);
    heads.run(firstId, lastId);
  };
}
