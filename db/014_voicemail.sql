-- Voicemail e-mails handed over by MiniVM's mail command, `websms
-- voicemail-mail` (src/voicemail/, docs/dialplan.md "Voicemail"). The row,
-- the e-mail queued in the outbox (012) and the recording saved beside the
-- database are committed before the command hears 201, and only then does
-- the command delete the recording from MiniVM's spool: from that moment
-- websms holds the message, and sends it like its other e-mail.
-- New table only: the counting triggers of 005 are not touched.
CREATE TABLE voicemail (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  recipient        TEXT    NOT NULL,     -- the address it goes to (MiniVM's To:)
  subject          TEXT    NOT NULL,
  message          BLOB    NOT NULL,     -- the whole e-mail as MiniVM wrote it, To: made proper
  recording_sha256 TEXT,                 -- of the attached recording; NULL when MiniVM attached none
  recording_bytes  INTEGER,
  state            TEXT    NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'sent', 'failed')),
  created_at       INTEGER NOT NULL,     -- ms since epoch
  updated_at       INTEGER NOT NULL,
  outbox_id        INTEGER,              -- email_outbox.id of the e-mail that sends it
  reason           TEXT                  -- last failure, for people
);
CREATE INDEX voicemail_state ON voicemail (state);
