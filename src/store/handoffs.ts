// Which hand-offs Asterisk confirmed (db/015_handoff_confirmed.sql).
//
// A confirmation is written without an fsync, gathered per turn of the event
// loop: it reaches the WAL file before the text can be sent (so a killed
// process keeps it), and only a power cut before the next fsync'd commit can
// lose it, in which case the text is handled as unconfirmed at the next start
// (sent, with a notice that is then true but needless). An fsync per hand-off
// would hold up Asterisk's message queue for nothing.

import { unsyncedWriter, type Db } from './db.js';
import type { OutboundRow } from './outbound.js';

export interface HandoffMarks {
  /** Asterisk confirmed QUEUED for this text: written at the end of this turn of the event loop, then onWritten(id). */
  confirm(id: number): void;
  /** Writes the confirmations gathered so far, now. */
  flush(): void;
  /** Texts still queued or being sent whose hand-off was never confirmed. */
  unconfirmed(): OutboundRow[];
  /** Marks these confirmed at once (a text to be sent after all). */
  settle(ids: number[]): void;
}

export function createHandoffMarks(
  db: Db,
  opts: {
    /** A confirmation is on disk: the text may be sent. */
    onWritten?: (id: number) => void;
    /** Confirmations could not be written: their texts wait for the next start, which sends them after all. */
    onError?: (err: Error, ids: number[]) => void;
  } = {},
): HandoffMarks {
  const confirmStmt = db.prepare(`UPDATE outbound SET handoff = 'confirmed' WHERE id = ? AND handoff = 'unconfirmed'`);
  const unconfirmedStmt = db.prepare<[], OutboundRow>(
    `SELECT * FROM outbound WHERE handoff = 'unconfirmed' AND state IN ('queued', 'sending') ORDER BY id`,
  );
  const unsynced = unsyncedWriter(db);
  const writeAll = db.transaction((ids: number[]) => {
    for (const id of ids) confirmStmt.run(id);
  });
  let waiting: number[] = [];

  const flush = (): void => {
    const ids = waiting;
    waiting = [];
    if (ids.length === 0) return;
    try {
      unsynced(() => writeAll(ids));
    } catch (err) {
      opts.onError?.(err as Error, ids);
      return;
    }
    for (const id of ids) opts.onWritten?.(id);
  };

  return {
    confirm(id) {
      waiting.push(id);
      if (waiting.length === 1) setImmediate(flush);
    },
    flush,
    unconfirmed: () => unconfirmedStmt.all(),
    settle(ids) {
      if (ids.length > 0) writeAll(ids);
    },
  };
}
