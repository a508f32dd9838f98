-- Pictures and other media of inbound texts (MMS). A softphone gets only
-- text/plain over SIP MESSAGE, so websms fetches each item, keeps it under its
-- data directory and appends a link to the text. The refs are written in the
-- commit that stores the text: a crash never loses a picture the ITSP was told
-- we have.
--
-- Columns are added, not rebuilt: the counting triggers of 005 stay in place.
--
-- media_due:  while the text's media are being fetched, the time its delivery
--             goes ahead without the ones still missing (ms since epoch);
--             NULL for a text without media or once they are settled.
-- media_note: once settled, what is appended to the body on delivery (one
--             link, or a note that it could not be fetched, per item).
ALTER TABLE inbound ADD COLUMN media_due INTEGER;
ALTER TABLE inbound ADD COLUMN media_note TEXT;

CREATE TABLE media (
  id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: it names the file
  inbound_id      INTEGER NOT NULL,    -- inbound.id of the text it came with
  seq             INTEGER NOT NULL,    -- its place in the text, from 1
  url             TEXT    NOT NULL,    -- where the provider keeps it
  announced_type  TEXT,                -- the content type the provider announced, if any
  auth            TEXT    NOT NULL DEFAULT 'none' CHECK (auth IN ('none', 'basic', 'bearer')),
  state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'stored', 'failed', 'removed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,    -- ms since epoch
  token           TEXT,                -- the unguessable part of its link, once stored
  content_type    TEXT,                -- as served, once stored
  size            INTEGER,             -- bytes, once stored
  file            TEXT,                -- name under the media directory, while stored
  fetched_at      INTEGER,             -- when it was stored; retention counts from here
  reason          TEXT,                -- last failure, for people
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX media_text ON media (inbound_id, seq);
CREATE INDEX media_due ON media (next_attempt_at) WHERE state = 'pending';
CREATE UNIQUE INDEX media_token ON media (token) WHERE token IS NOT NULL;
CREATE INDEX media_fetched ON media (fetched_at) WHERE state = 'stored';
