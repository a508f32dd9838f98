-- Texts can be cancelled through the management API, and the retention job
-- removes the bodies of old finished texts (body NULL) while keeping what
-- happened to them. SQLite cannot change a CHECK or a NOT NULL in place, so
-- both tables are rebuilt: every row is copied with its id, the id counter is
-- carried over (ids are never reused, even those of rows deleted before), and
-- every index is created again.
--
-- retried_at: when the text was last queued again by hand; its maximum age
-- counts from then, or a retried old text would expire at once.

CREATE TABLE inbound_new (
  id              INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: late dialplan reports stay unambiguous
  interface       TEXT    NOT NULL,
  provider_id     TEXT,                -- the ITSP's own message id, when it sends one
  sender          TEXT    NOT NULL,    -- E.164, short code or alphanumeric id
  recipient       TEXT    NOT NULL,    -- E.164 (or short code) of the local user
  body            TEXT,                -- NULL once removed by the retention job
  body_hash       TEXT    NOT NULL,    -- 64 bits of sha256 of the body, for duplicate detection
  parts           INTEGER NOT NULL,    -- SIP messages the text is delivered as
  parts_done      INTEGER NOT NULL DEFAULT 0,
  state           TEXT    NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'sending', 'waiting', 'delivered', 'undeliverable', 'expired', 'cancelled')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,    -- ms since epoch
  received_at     INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  endpoint        TEXT,                -- PJSIP endpoint the dialplan reported for the recipient
  reason          TEXT,                -- last failure or waiting reason, for people
  retried_at      INTEGER              -- last queued again by hand
);
INSERT INTO inbound_new (id, interface, provider_id, sender, recipient, body, body_hash, parts, parts_done, state,
                         attempts, next_attempt_at, received_at, updated_at, endpoint, reason)
  SELECT id, interface, provider_id, sender, recipient, body, body_hash, parts, parts_done, state,
         attempts, next_attempt_at, received_at, updated_at, endpoint, reason FROM inbound;
-- The old counter is at least the highest id copied; it moves with the rename.
DELETE FROM sqlite_sequence WHERE name = 'inbound_new';
UPDATE sqlite_sequence SET name = 'inbound_new' WHERE name = 'inbound';
DROP TABLE inbound;
ALTER TABLE inbound_new RENAME TO inbound;

CREATE UNIQUE INDEX inbound_provider_id ON inbound (interface, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX inbound_dedup ON inbound (body_hash);
CREATE INDEX inbound_due ON inbound (next_attempt_at) WHERE state IN ('queued', 'waiting');
CREATE INDEX inbound_active ON inbound (recipient, sender, id) WHERE state IN ('queued', 'sending', 'waiting');
CREATE INDEX inbound_endpoint ON inbound (endpoint) WHERE state = 'waiting';

CREATE TABLE outbound_new (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  interface       TEXT    NOT NULL,    -- the interface sending it now (changes on failover)
  origin          TEXT    NOT NULL,    -- the interface chosen at hand-off
  sender          TEXT    NOT NULL,    -- E.164 of the local user
  recipient       TEXT    NOT NULL,    -- E.164 (or short code) it goes to
  body            TEXT,                -- NULL once removed by the retention job
  encoding        TEXT    NOT NULL,    -- GSM-7 or UCS-2
  segments        INTEGER NOT NULL,
  state           TEXT    NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'expired', 'cancelled')),
  attempts        INTEGER NOT NULL DEFAULT 0, -- on the current interface
  next_attempt_at INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  provider_id     TEXT,                -- the ITSP's message id once accepted
  reason          TEXT,                -- last failure, for people
  notified        TEXT,                -- last state the sender was told about
  retried_at      INTEGER              -- last queued again by hand
);
INSERT INTO outbound_new (id, interface, origin, sender, recipient, body, encoding, segments, state, attempts,
                          next_attempt_at, created_at, updated_at, provider_id, reason, notified)
  SELECT id, interface, origin, sender, recipient, body, encoding, segments, state, attempts,
         next_attempt_at, created_at, updated_at, provider_id, reason, notified FROM outbound;
DELETE FROM sqlite_sequence WHERE name = 'outbound_new';
UPDATE sqlite_sequence SET name = 'outbound_new' WHERE name = 'outbound';
DROP TABLE outbound;
ALTER TABLE outbound_new RENAME TO outbound;

CREATE INDEX outbound_due ON outbound (next_attempt_at) WHERE state = 'queued';
CREATE INDEX outbound_active ON outbound (sender, recipient, id) WHERE state IN ('queued', 'sending');
CREATE INDEX outbound_provider ON outbound (interface, provider_id) WHERE provider_id IS NOT NULL;

-- What happened to each text: attempts, outcomes, delivery reports, retries
-- and cancels, for people looking at one text. Written in the transaction of
-- the change it records.
CREATE TABLE events (
  id        INTEGER PRIMARY KEY,
  direction TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
  text_id   INTEGER NOT NULL,          -- inbound.id or outbound.id
  at        INTEGER NOT NULL,          -- ms since epoch
  kind      TEXT    NOT NULL,
  detail    TEXT
);
CREATE INDEX events_text ON events (direction, text_id, id);

-- One row that /readyz rewrites to prove the database takes writes.
CREATE TABLE probe (
  name TEXT PRIMARY KEY,
  at   INTEGER NOT NULL
);
