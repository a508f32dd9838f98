-- Texts from ITSPs waiting for, or done with, delivery into Asterisk.
-- The store is the only place a text waits: nothing about it lives only in memory.
CREATE TABLE inbound (
  id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: late dialplan reports stay unambiguous
  interface       TEXT    NOT NULL,
  provider_id     TEXT,                -- the ITSP's own message id, when it sends one
  sender          TEXT    NOT NULL,    -- E.164, short code or alphanumeric id
  recipient       TEXT    NOT NULL,    -- E.164 (or short code) of the local user
  body            TEXT    NOT NULL,
  body_hash       TEXT    NOT NULL,    -- sha256 of the body, for duplicate detection
  parts           INTEGER NOT NULL,    -- SIP messages the text is delivered as
  parts_done      INTEGER NOT NULL DEFAULT 0,
  state           TEXT    NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'sending', 'waiting', 'delivered', 'undeliverable', 'expired')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,    -- ms since epoch
  received_at     INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  endpoint        TEXT,                -- PJSIP endpoint the dialplan reported for the recipient
  reason          TEXT                 -- last failure or waiting reason, for people
);

CREATE UNIQUE INDEX inbound_provider_id ON inbound (interface, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX inbound_dedup ON inbound (interface, sender, recipient, body_hash, received_at);
CREATE INDEX inbound_due ON inbound (next_attempt_at) WHERE state IN ('queued', 'waiting');
CREATE INDEX inbound_active ON inbound (recipient, sender, id) WHERE state IN ('queued', 'sending', 'waiting');
CREATE INDEX inbound_endpoint ON inbound (endpoint) WHERE state = 'waiting';
