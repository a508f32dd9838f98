-- Texts by e-mail (src/email/). New tables only: the counting triggers of 005
-- are not touched.
--
-- email_outbox: every e-mail websms sends waits here until the SMTP server
-- has taken it, and is tried again with backoff while the server is down. It
-- is generic (a message with attachments): texts no phone took, copies,
-- failure notices, and later voicemail. (kind, ref) is unique, so the same
-- text is never e-mailed twice for the same reason, however often it is
-- looked at.
CREATE TABLE email_outbox (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  kind            TEXT    NOT NULL,    -- unreached, copy, failure, refused, ...: why it is sent
  ref             TEXT,                -- what it is about (in-12, out-7); NULL: not tied to anything
  recipient       TEXT    NOT NULL,    -- the address it goes to
  subject         TEXT    NOT NULL,
  body            TEXT,                -- text/plain; NULL once removed by the retention job
  headers         TEXT    NOT NULL DEFAULT '{}', -- JSON: Message-ID, In-Reply-To, References, Reply-To
  attachments     TEXT    NOT NULL DEFAULT '[]', -- JSON: [{filename, contentType, path}], read at sending
  state           TEXT    NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,    -- ms since epoch
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  sent_at         INTEGER,
  reason          TEXT                 -- last failure, for people
);
CREATE UNIQUE INDEX email_outbox_ref ON email_outbox (kind, ref) WHERE ref IS NOT NULL;
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at) WHERE state = 'queued';
CREATE INDEX email_outbox_state ON email_outbox (state);

-- One row per e-mail about a conversation: a reply to it (its In-Reply-To or
-- References name the Message-ID, or its To the Reply-To subaddress, both of
-- which carry the token) goes out as a text from number to remote.
CREATE TABLE email_threads (
  token       TEXT    PRIMARY KEY,     -- 128 random bits, base32: in the Message-ID and the Reply-To
  outbox_id   INTEGER NOT NULL,        -- the e-mail it was sent with
  number      TEXT    NOT NULL,        -- the user's number: the reply is sent from it
  remote      TEXT    NOT NULL,        -- the other party: the reply goes to it
  interface   TEXT    NOT NULL,        -- the interface the text came or went through
  address     TEXT    NOT NULL,        -- where the e-mail went: the only sender whose replies are taken
  message_id  TEXT    NOT NULL,        -- without <>
  created_at  INTEGER NOT NULL
);
CREATE INDEX email_threads_conversation ON email_threads (number, remote, created_at);

-- Replies seen, by their own Message-ID: one reply read twice (from the
-- mailbox and the listener, or delivered again) is one text. Written in the
-- transaction that queues the text.
CREATE TABLE email_replies (
  message_id  TEXT    PRIMARY KEY,
  token       TEXT,                    -- the thread it answered, when one was found
  outbound_id INTEGER,                 -- the text it became; NULL when refused
  outcome     TEXT    NOT NULL CHECK (outcome IN ('queued', 'refused')),
  reason      TEXT,
  received_at INTEGER NOT NULL
);
CREATE INDEX email_replies_outbound ON email_replies (outbound_id) WHERE outbound_id IS NOT NULL;

-- Where the e-mail watcher has got to in the events and texts it follows
-- (and the last IMAP UID read per mailbox), so that a restart neither
-- repeats nor skips anything.
CREATE TABLE email_cursors (
  name     TEXT    PRIMARY KEY,
  position INTEGER NOT NULL
);
