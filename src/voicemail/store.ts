// The voicemail table (db/014): one row per e-mail MiniVM handed over,
// committed before `websms voicemail-mail` is told it may delete the
// recording.

import type { Db } from '../store/db.js';
import { sha256, type VoicemailMail } from './mail.js';

export interface VoicemailRow {
  id: number;
  recipient: string;
  subject: string;
  recordingSha256: string | null;
  recordingBytes: number | null;
  state: 'queued' | 'sent' | 'failed';
  createdAt: number;
}

export interface VoicemailStore {
  /** Stores the e-mail in one commit (synchronous=FULL: on disk when this returns). */
  add(mail: VoicemailMail, now: number): VoicemailRow;
  list(): VoicemailRow[];
  /** The stored e-mail, byte for byte. */
  message(id: number): Buffer | undefined;
}

export function createVoicemailStore(db: Db): VoicemailStore {
  const insert = db.prepare(
    `INSERT INTO voicemail (recipient, subject, message, recording_sha256, recording_bytes, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const columns = `id, recipient, subject, recording_sha256 AS recordingSha256, recording_bytes AS recordingBytes, state, created_at AS createdAt`;
  const byId = db.prepare(`SELECT ${columns} FROM voicemail WHERE id = ?`);
  const all = db.prepare(`SELECT ${columns} FROM voicemail ORDER BY id`);
  const body = db.prepare('SELECT message FROM voicemail WHERE id = ?');
  return {
    add(mail, now) {
      const r = insert.run(mail.recipient, mail.subject, mail.message, mail.recording ? sha256(mail.recording) : null, mail.recording?.length ?? null, now, now);
      return byId.get(r.lastInsertRowid) as VoicemailRow;
    },
    list: () => all.all() as VoicemailRow[],
    message: (id) => (body.get(id) as { message: Buffer } | undefined)?.message,
  };
}
