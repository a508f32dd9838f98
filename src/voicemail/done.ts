// What becomes of websms's copy of a recording once the outbox is done with
// its e-mail. Sent: nothing of the recording is kept, neither the file saved
// beside the database nor the stored e-mail's body (the mail server has it,
// and MiniVM's copy went at the hand-over). Given up (refused, too old): both
// are kept, as the only copy of a message nobody received, until [general]
// retention, which removes them with the e-mail's body.

import fs from 'node:fs';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import { attachmentsOf, type OutboxRow } from '../email/store.js';
import { headersOnly } from './mail.js';

export interface VoicemailDone {
  /** The outbox sent or gave up an e-mail (any kind: only voicemail is acted on), after that was committed. */
  settled(row: OutboxRow, outcome: 'sent' | 'failed', reason: string | undefined, now: number): void;
  /**
   * Removes the recordings of voicemail e-mails done before cutoff (given
   * up ones; sent ones whose removal failed); returns how many. Runs before
   * the outbox's own retention, which forgets the files' names.
   */
  retain(cutoff: number): number;
}

export function createVoicemailDone(o: { db: Db; log: Logger }): VoicemailDone {
  const { db, log } = o;
  const setState = db.prepare('UPDATE voicemail SET state = ?, reason = ?, updated_at = ? WHERE outbox_id = ?');
  const messageOf = db.prepare<[number], { id: number; message: Buffer }>('SELECT id, message FROM voicemail WHERE outbox_id = ?');
  const cut = db.prepare('UPDATE voicemail SET message = ? WHERE id = ?');
  // The same e-mails whose bodies the outbox's retention removes (src/email/store.ts).
  const pastRetention = db.prepare<[number], Pick<OutboxRow, 'id' | 'attachments'>>(
    `SELECT id, attachments FROM email_outbox WHERE kind = 'voicemail' AND state IN ('sent', 'failed') AND updated_at < ? AND body IS NOT NULL`,
  );

  /** Deletes the saved recording and the one inside the stored e-mail; how many files went. */
  const forget = (row: Pick<OutboxRow, 'id' | 'attachments'>): number => {
    let removed = 0;
    for (const { path } of attachmentsOf(row)) {
      try {
        if (!fs.existsSync(path)) continue;
        fs.rmSync(path);
        removed++;
      } catch (err) {
        log.warn({ email: row.id, reason: (err as Error).message }, 'could not remove a voicemail recording; retention tries again');
      }
    }
    const vm = messageOf.get(row.id);
    if (vm) cut.run(headersOnly(vm.message), vm.id);
    return removed;
  };

  return {
    settled(row, outcome, reason, now) {
      if (row.kind !== 'voicemail') return;
      setState.run(outcome, reason ?? null, now, row.id);
      if (outcome === 'sent') forget(row);
      else log.warn({ email: row.id }, 'voicemail e-mail given up: its recording is kept beside the database until [general] retention');
    },
    retain(cutoff) {
      let removed = 0;
      for (const row of pastRetention.all(cutoff)) removed += forget(row);
      return removed;
    },
  };
}
