-- The web page (src/web/): conversations as in a phone's messaging app, one
-- per local number and remote number, with unread counts.
--
-- conversations: one row per (local, remote) pair, kept by triggers so that
--   the page lists them in what the number of conversations costs, not what
--   the whole history costs (a GROUP BY over 400,000 texts takes ~70 ms, during
--   which hand-offs wait). local is the user's number (inbound recipient,
--   outbound sender), remote the other party.
-- read_markers: what a person has seen on the page: the newest inbound text
--   of the conversation they saw. Unread = inbound texts after it.
-- inbound_thread, outbound_thread: one conversation's texts newest first, and
--   the unread count, without scanning the table. They index the pair as one
--   expression, local || ' ' || remote (a local number never has a space),
--   and queries must write it the same way: plain (recipient, sender, id)
--   indexes were chosen by SQLite for the duplicate check and the queues'
--   queries too, which then scanned a whole conversation per text (webhooks
--   100 times slower), instead of the narrow indexes made for them.
--
-- Triggers are dropped with their table: a later migration that rebuilds
-- inbound or outbound must create these again (and those of 005).

CREATE TABLE conversations (
  local    TEXT    NOT NULL,
  remote   TEXT    NOT NULL,
  last_at  INTEGER NOT NULL,           -- when the newest text was received or handed off (ms since epoch)
  last_in  INTEGER NOT NULL DEFAULT 0, -- inbound.id of the newest inbound text, 0: none
  last_out INTEGER NOT NULL DEFAULT 0, -- outbound.id of the newest outbound text, 0: none
  PRIMARY KEY (local, remote)
) WITHOUT ROWID;

CREATE TABLE read_markers (
  local   TEXT    NOT NULL,
  remote  TEXT    NOT NULL,
  read_in INTEGER NOT NULL,            -- inbound.id of the newest inbound text seen on the page
  read_at INTEGER NOT NULL,            -- when (ms since epoch)
  PRIMARY KEY (local, remote)
) WITHOUT ROWID;

CREATE INDEX inbound_thread ON inbound (recipient || ' ' || sender, id);
CREATE INDEX outbound_thread ON outbound (sender || ' ' || recipient, id);

INSERT INTO conversations (local, remote, last_at, last_in, last_out)
  SELECT local, remote, max(at), max(last_in), max(last_out) FROM (
    SELECT recipient AS local, sender AS remote, max(received_at) AS at, max(id) AS last_in, 0 AS last_out FROM inbound GROUP BY recipient, sender
    UNION ALL
    SELECT sender, recipient, max(created_at), 0, max(id) FROM outbound GROUP BY sender, recipient
  ) GROUP BY local, remote;

-- Texts from before the page existed reached the phones already: they start
-- as read, so the page does not open with every old text unread.
INSERT INTO read_markers (local, remote, read_in, read_at)
  SELECT local, remote, last_in, CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM conversations WHERE last_in > 0;

CREATE TRIGGER inbound_conversation_insert AFTER INSERT ON inbound BEGIN
  INSERT INTO conversations (local, remote, last_at, last_in) VALUES (NEW.recipient, NEW.sender, NEW.received_at, NEW.id)
    ON CONFLICT DO UPDATE SET last_at = max(last_at, excluded.last_at), last_in = max(last_in, excluded.last_in);
END;

CREATE TRIGGER outbound_conversation_insert AFTER INSERT ON outbound BEGIN
  INSERT INTO conversations (local, remote, last_at, last_out) VALUES (NEW.sender, NEW.recipient, NEW.created_at, NEW.id)
    ON CONFLICT DO UPDATE SET last_at = max(last_at, excluded.last_at), last_out = max(last_out, excluded.last_out);
END;

-- Purge: a conversation without any text left goes too.
CREATE TRIGGER inbound_conversation_delete AFTER DELETE ON inbound BEGIN
  DELETE FROM conversations WHERE local = OLD.recipient AND remote = OLD.sender
    AND NOT EXISTS (SELECT 1 FROM inbound WHERE recipient || ' ' || sender = OLD.recipient || ' ' || OLD.sender)
    AND NOT EXISTS (SELECT 1 FROM outbound WHERE sender || ' ' || recipient = OLD.recipient || ' ' || OLD.sender);
END;

CREATE TRIGGER outbound_conversation_delete AFTER DELETE ON outbound BEGIN
  DELETE FROM conversations WHERE local = OLD.sender AND remote = OLD.recipient
    AND NOT EXISTS (SELECT 1 FROM inbound WHERE recipient || ' ' || sender = OLD.sender || ' ' || OLD.recipient)
    AND NOT EXISTS (SELECT 1 FROM outbound WHERE sender || ' ' || recipient = OLD.sender || ' ' || OLD.recipient);
END;
