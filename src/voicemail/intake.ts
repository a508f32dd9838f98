// Taking a voicemail e-mail from MiniVM's mail command: checked, then in one
// commit the voicemail row and the e-mail in the outbox (src/email/), which
// sends it with the same SMTP settings, TLS checks and retries as websms's
// other e-mail. The recording is saved beside the database first (fsync'd),
// so the outbox's attachment is there whenever the e-mail is sent; it is
// removed once sent, or by retention (src/voicemail/done.ts).

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { EmailStore } from '../email/store.js';
import type { Db } from '../store/db.js';
import { readVoicemailMail } from './mail.js';
import { createVoicemailStore, type VoicemailRow } from './store.js';

export interface VoicemailIntake {
  /** Resolves once committed; throws VoicemailError for an e-mail that cannot be taken. */
  take(raw: Buffer, now: number): Promise<VoicemailRow>;
}

export function createVoicemailIntake(o: { db: Db; email: EmailStore; dir: () => string; onQueued: () => void }): VoicemailIntake {
  const store = createVoicemailStore(o.db);
  const link = o.db.prepare('UPDATE voicemail SET outbox_id = ? WHERE id = ?');
  return {
    async take(raw, now) {
      const mail = readVoicemailMail(raw);
      // MiniVM's subject and text are MIME-encoded as its template's charset says: read them as a mail client would.
      const { simpleParser } = await import('mailparser');
      const parsed = await simpleParser(mail.message);
      let file: string | undefined;
      if (mail.recording) {
        const dir = o.dir();
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        file = path.join(dir, `${now}-${randomBytes(6).toString('hex')}.wav`);
        const fd = fs.openSync(file, 'wx', 0o600);
        try {
          fs.writeSync(fd, mail.recording);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
      }
      try {
        const row = o.db.transaction(() => {
          const r = store.add(mail, now);
          const outboxId = o.email.queue(
            {
              kind: 'voicemail',
              ref: `vm-${r.id}`,
              to: mail.recipient,
              subject: parsed.subject ?? mail.subject,
              text: parsed.text ?? '',
              attachments: file ? [{ filename: 'voicemail.wav', contentType: 'audio/x-wav', path: file }] : [],
            },
            undefined,
            now,
          );
          if (outboxId !== undefined) link.run(outboxId, r.id);
          return r;
        })();
        o.onQueued();
        return row;
      } catch (err) {
        if (file) fs.rmSync(file, { force: true });
        throw err;
      }
    },
  };
}
