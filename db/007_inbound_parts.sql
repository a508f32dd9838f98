-- The parts of long texts that an ITSP delivers in pieces (a concatenated SMS
-- it does not join itself). Each part is stored as it arrives, before the ITSP
-- gets its 2xx; once all parts of a text are here, the joined text goes into
-- inbound in the same transaction, and the parts keep only what duplicate
-- detection needs (their body is cleared) until the duplicate window is over.
-- A text whose parts never all arrive is delivered as it is after
-- [general] reassembly_timeout, with the gaps marked.
--
-- Numbered 007: 006 belongs to the media (MMS) work.
CREATE TABLE inbound_parts (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  interface   TEXT    NOT NULL,
  sender      TEXT    NOT NULL,    -- normalised, as in inbound
  recipient   TEXT    NOT NULL,
  ref         TEXT    NOT NULL,    -- the provider's reference shared by the parts of one text
  seq         INTEGER NOT NULL CHECK (seq >= 1),
  total       INTEGER NOT NULL CHECK (total >= 1 AND seq <= total),
  body        TEXT,                -- NULL once the text is joined
  body_hash   TEXT    NOT NULL,
  provider_id TEXT,                -- the part's own message id, when the provider gives one
  media       TEXT    NOT NULL DEFAULT '[]', -- JSON array of media refs (MMS)
  received_at INTEGER NOT NULL,
  text_id     INTEGER              -- the inbound row the part went into; NULL while waiting
);

CREATE UNIQUE INDEX inbound_parts_waiting ON inbound_parts (interface, sender, recipient, ref, total, seq) WHERE text_id IS NULL;
CREATE INDEX inbound_parts_done ON inbound_parts (interface, sender, recipient, ref, total, seq) WHERE text_id IS NOT NULL;
CREATE INDEX inbound_parts_age ON inbound_parts (received_at) WHERE text_id IS NULL;
CREATE INDEX inbound_parts_kept ON inbound_parts (received_at) WHERE text_id IS NOT NULL;
CREATE INDEX inbound_parts_provider_id ON inbound_parts (interface, provider_id) WHERE provider_id IS NOT NULL;
