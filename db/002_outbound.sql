-- Texts from local phones waiting for, or done with, sending to an ITSP.
CREATE TABLE outbound (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  interface       TEXT    NOT NULL,    -- the interface sending it now (changes on failover)
  origin          TEXT    NOT NULL,    -- the interface chosen at hand-off
  sender          TEXT    NOT NULL,    -- E.164 of the local user
  recipient       TEXT    NOT NULL,    -- E.164 (or short code) it goes to
  body            TEXT    NOT NULL,
  encoding        TEXT    NOT NULL,    -- GSM-7 or UCS-2
  segments        INTEGER NOT NULL,
  state           TEXT    NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'expired')),
  attempts        INTEGER NOT NULL DEFAULT 0, -- on the current interface
  next_attempt_at INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  provider_id     TEXT,                -- the ITSP's message id once accepted
  reason          TEXT,                -- last failure, for people
  notified        TEXT                 -- last state the sender was told about
);

CREATE INDEX outbound_due ON outbound (next_attempt_at) WHERE state = 'queued';
CREATE INDEX outbound_active ON outbound (sender, recipient, id) WHERE state IN ('queued', 'sending');
CREATE INDEX outbound_provider ON outbound (interface, provider_id) WHERE provider_id IS NOT NULL;
