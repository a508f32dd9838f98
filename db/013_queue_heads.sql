-- The queues' heads: one row per conversation that has texts waiting, naming
-- its first unfinished text and when that text is due. Texts of one
-- conversation go out one at a time, in id order, so only a conversation's
-- head can ever be taken; finding the next texts to take, and when the next
-- one falls due, is one indexed range read of these rows (their `due`
-- index), whatever the number of texts waiting behind each head.
--
-- Before this, the claim and next-due queries read every due text and
-- checked for each whether an earlier one of its conversation was still
-- unfinished: with 20,000 texts behind a phone that was offline, each scan
-- (one per stored text) read 20,000 rows, and webhooks for every other
-- conversation slowed from 665/s to 29/s (bench/webhook.ts).
--
-- A conversation is what the queues have always ordered by: inbound,
-- recipient and sender (whatever the interface); outbound, sender and
-- recipient (the interface changes on failover). Unfinished: inbound queued,
-- sending or waiting; outbound queued or sending. The head is the
-- conversation's unfinished text with the lowest id (a text queued again by
-- hand goes ahead of later ones, as before). `due` is the head's
-- next_attempt_at while it may be taken (queued; inbound also waiting), and
-- NULL while it is being delivered or sent: nothing of that conversation is
-- due then.
--
-- Triggers keep the heads in the transaction of every change to the texts,
-- from any writer (the daemon, the CLI, purge), as 005's counts are kept.
-- Each does at most a few index lookups: a new text is inserted behind an
-- existing head (a primary-key probe), a head's state or time change updates
-- its row, and when a head finishes (or is deleted) the next head is the
-- first entry of the conversation in the partial index inbound_active /
-- outbound_active (an index seek, not a walk).
--
-- Invariant (test/queue.test.ts checks it against a from-scratch computation
-- after every kind of change): a conversation has a row here if and only if
-- it has an unfinished text, and head_id is its lowest such id.
--
-- The tables themselves are not rebuilt, so 005's counting triggers stay as
-- they are. inbound_due and outbound_due, the indexes of the old queries, go:
-- nothing reads them now, and every insert and claim paid for them.

CREATE TABLE inbound_heads (
  recipient TEXT    NOT NULL,
  sender    TEXT    NOT NULL,
  head_id   INTEGER NOT NULL,          -- inbound.id of the conversation's first unfinished text
  due       INTEGER,                   -- its next_attempt_at while queued or waiting; NULL while sending
  PRIMARY KEY (recipient, sender)
) WITHOUT ROWID;
CREATE INDEX inbound_heads_due ON inbound_heads (due, head_id) WHERE due IS NOT NULL;

INSERT INTO inbound_heads (recipient, sender, head_id, due)
  SELECT m.recipient, m.sender, m.id, CASE WHEN m.state = 'sending' THEN NULL ELSE m.next_attempt_at END
    FROM (SELECT MIN(id) AS id FROM inbound WHERE state IN ('queued', 'sending', 'waiting') GROUP BY recipient, sender) f
    JOIN inbound m ON m.id = f.id;

-- A new unfinished text: a head if its conversation has none (or, inserted
-- with an explicit lower id, ahead of the current one).
CREATE TRIGGER inbound_head_insert AFTER INSERT ON inbound
  WHEN NEW.state IN ('queued', 'sending', 'waiting') BEGIN
  INSERT INTO inbound_heads (recipient, sender, head_id, due)
    VALUES (NEW.recipient, NEW.sender, NEW.id, CASE WHEN NEW.state = 'sending' THEN NULL ELSE NEW.next_attempt_at END)
    ON CONFLICT (recipient, sender) DO UPDATE SET head_id = excluded.head_id, due = excluded.due
    WHERE excluded.head_id < inbound_heads.head_id;
END;

-- Unfinished before and after (taken, waiting, retried, a part delivered,
-- woken, resumed): only the head's due time can change.
CREATE TRIGGER inbound_head_due AFTER UPDATE OF state, next_attempt_at ON inbound
  WHEN OLD.state IN ('queued', 'sending', 'waiting') AND NEW.state IN ('queued', 'sending', 'waiting') BEGIN
  UPDATE inbound_heads SET due = CASE WHEN NEW.state = 'sending' THEN NULL ELSE NEW.next_attempt_at END
   WHERE recipient = NEW.recipient AND sender = NEW.sender AND head_id = NEW.id;
END;

-- Queued again by hand: as a new text.
CREATE TRIGGER inbound_head_requeue AFTER UPDATE OF state ON inbound
  WHEN OLD.state NOT IN ('queued', 'sending', 'waiting') AND NEW.state IN ('queued', 'sending', 'waiting') BEGIN
  INSERT INTO inbound_heads (recipient, sender, head_id, due)
    VALUES (NEW.recipient, NEW.sender, NEW.id, CASE WHEN NEW.state = 'sending' THEN NULL ELSE NEW.next_attempt_at END)
    ON CONFLICT (recipient, sender) DO UPDATE SET head_id = excluded.head_id, due = excluded.due
    WHERE excluded.head_id < inbound_heads.head_id;
END;

-- The head finished (delivered, failed, expired, cancelled): the next
-- unfinished text of its conversation, if any, is the head now. A text
-- behind the head that finishes (cancelled, expired) changes nothing.
CREATE TRIGGER inbound_head_finish AFTER UPDATE OF state ON inbound
  WHEN OLD.state IN ('queued', 'sending', 'waiting') AND NEW.state NOT IN ('queued', 'sending', 'waiting')
   AND EXISTS (SELECT 1 FROM inbound_heads WHERE recipient = OLD.recipient AND sender = OLD.sender AND head_id = OLD.id) BEGIN
  DELETE FROM inbound_heads WHERE recipient = OLD.recipient AND sender = OLD.sender;
  INSERT INTO inbound_heads (recipient, sender, head_id, due)
    SELECT recipient, sender, id, CASE WHEN state = 'sending' THEN NULL ELSE next_attempt_at END FROM inbound
     WHERE recipient = OLD.recipient AND sender = OLD.sender AND state IN ('queued', 'sending', 'waiting')
     ORDER BY id LIMIT 1;
END;

CREATE TRIGGER inbound_head_delete AFTER DELETE ON inbound
  WHEN EXISTS (SELECT 1 FROM inbound_heads WHERE recipient = OLD.recipient AND sender = OLD.sender AND head_id = OLD.id) BEGIN
  DELETE FROM inbound_heads WHERE recipient = OLD.recipient AND sender = OLD.sender;
  INSERT INTO inbound_heads (recipient, sender, head_id, due)
    SELECT recipient, sender, id, CASE WHEN state = 'sending' THEN NULL ELSE next_attempt_at END FROM inbound
     WHERE recipient = OLD.recipient AND sender = OLD.sender AND state IN ('queued', 'sending', 'waiting')
     ORDER BY id LIMIT 1;
END;

-- websms never moves a text to another conversation; should anything do so,
-- both conversations get their heads worked out again.
CREATE TRIGGER inbound_head_move AFTER UPDATE OF recipient, sender ON inbound
  WHEN OLD.recipient IS NOT NEW.recipient OR OLD.sender IS NOT NEW.sender BEGIN
  DELETE FROM inbound_heads WHERE (recipient = OLD.recipient AND sender = OLD.sender) OR (recipient = NEW.recipient AND sender = NEW.sender);
  INSERT INTO inbound_heads (recipient, sender, head_id, due)
    SELECT recipient, sender, id, CASE WHEN state = 'sending' THEN NULL ELSE next_attempt_at END FROM inbound
     WHERE recipient = OLD.recipient AND sender = OLD.sender AND state IN ('queued', 'sending', 'waiting')
     ORDER BY id LIMIT 1;
  INSERT INTO inbound_heads (recipient, sender, head_id, due)
    SELECT recipient, sender, id, CASE WHEN state = 'sending' THEN NULL ELSE next_attempt_at END FROM inbound
     WHERE recipient = NEW.recipient AND sender = NEW.sender AND state IN ('queued', 'sending', 'waiting')
     ORDER BY id LIMIT 1;
END;

CREATE TABLE outbound_heads (
  sender    TEXT    NOT NULL,
  recipient TEXT    NOT NULL,
  head_id   INTEGER NOT NULL,          -- outbound.id of the conversation's first unfinished text
  due       INTEGER,                   -- its next_attempt_at while queued; NULL while sending
  PRIMARY KEY (sender, recipient)
) WITHOUT ROWID;
CREATE INDEX outbound_heads_due ON outbound_heads (due, head_id) WHERE due IS NOT NULL;

INSERT INTO outbound_heads (sender, recipient, head_id, due)
  SELECT m.sender, m.recipient, m.id, CASE WHEN m.state = 'sending' THEN NULL ELSE m.next_attempt_at END
    FROM (SELECT MIN(id) AS id FROM outbound WHERE state IN ('queued', 'sending') GROUP BY sender, recipient) f
    JOIN outbound m ON m.id = f.id;

CREATE TRIGGER outbound_head_insert AFTER INSERT ON outbound
  WHEN NEW.state IN ('queued', 'sending') BEGIN
  INSERT INTO outbound_heads (sender, recipient, head_id, due)
    VALUES (NEW.sender, NEW.recipient, NEW.id, CASE WHEN NEW.state = 'sending' THEN NULL ELSE NEW.next_attempt_at END)
    ON CONFLICT (sender, recipient) DO UPDATE SET head_id = excluded.head_id, due = excluded.due
    WHERE excluded.head_id < outbound_heads.head_id;
END;

CREATE TRIGGER outbound_head_due AFTER UPDATE OF state, next_attempt_at ON outbound
  WHEN OLD.state IN ('queued', 'sending') AND NEW.state IN ('queued', 'sending') BEGIN
  UPDATE outbound_heads SET due = CASE WHEN NEW.state = 'sending' THEN NULL ELSE NEW.next_attempt_at END
   WHERE sender = NEW.sender AND recipient = NEW.recipient AND head_id = NEW.id;
END;

CREATE TRIGGER outbound_head_requeue AFTER UPDATE OF state ON outbound
  WHEN OLD.state NOT IN ('queued', 'sending') AND NEW.state IN ('queued', 'sending') BEGIN
  INSERT INTO outbound_heads (sender, recipient, head_id, due)
    VALUES (NEW.sender, NEW.recipient, NEW.id, CASE WHEN NEW.state = 'sending' THEN NULL ELSE NEW.next_attempt_at END)
    ON CONFLICT (sender, recipient) DO UPDATE SET head_id = excluded.head_id, due = excluded.due
    WHERE excluded.head_id < outbound_heads.head_id;
END;

CREATE TRIGGER outbound_head_finish AFTER UPDATE OF state ON outbound
  WHEN OLD.state IN ('queued', 'sending') AND NEW.state NOT IN ('queued', 'sending')
   AND EXISTS (SELECT 1 FROM outbound_heads WHERE sender = OLD.sender AND recipient = OLD.recipient AND head_id = OLD.id) BEGIN
  DELETE FROM outbound_heads WHERE sender = OLD.sender AND recipient = OLD.recipient;
  INSERT INTO outbound_heads (sender, recipient, head_id, due)
    SELECT sender, recipient, id, CASE WHEN state = 'sending' THEN NULL ELSE next_attempt_at END FROM outbound
     WHERE sender = OLD.sender AND recipient = OLD.recipient AND state IN ('queued', 'sending')
     ORDER BY id LIMIT 1;
END;

CREATE TRIGGER outbound_head_delete AFTER DELETE ON outbound
  WHEN EXISTS (SELECT 1 FROM outbound_heads WHERE sender = OLD.sender AND recipient = OLD.recipient AND head_id = OLD.id) BEGIN
  DELETE FROM outbound_heads WHERE sender = OLD.sender AND recipient = OLD.recipient;
  INSERT INTO outbound_heads (sender, recipient, head_id, due)
    SELECT sender, recipient, id, CASE WHEN state = 'sending' THEN NULL ELSE next_attempt_at END FROM outbound
     WHERE sender = OLD.sender AND recipient = OLD.recipient AND state IN ('queued', 'sending')
     ORDER BY id LIMIT 1;
END;

CREATE TRIGGER outbound_head_move AFTER UPDATE OF sender, recipient ON outbound
  WHEN OLD.sender IS NOT NEW.sender OR OLD.recipient IS NOT NEW.recipient BEGIN
  DELETE FROM outbound_heads WHERE (sender = OLD.sender AND recipient = OLD.recipient) OR (sender = NEW.sender AND recipient = NEW.recipient);
  INSERT INTO outbound_heads (sender, recipient, head_id, due)
    SELECT sender, recipient, id, CASE WHEN state = 'sending' THEN NULL ELSE next_attempt_at END FROM outbound
     WHERE sender = OLD.sender AND recipient = OLD.recipient AND state IN ('queued', 'sending')
     ORDER BY id LIMIT 1;
  INSERT INTO outbound_heads (sender, recipient, head_id, due)
    SELECT sender, recipient, id, CASE WHEN state = 'sending' THEN NULL ELSE next_attempt_at END FROM outbound
     WHERE sender = NEW.sender AND recipient = NEW.recipient AND state IN ('queued', 'sending')
     ORDER BY id LIMIT 1;
END;

DROP INDEX inbound_due;
DROP INDEX outbound_due;
