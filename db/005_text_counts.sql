-- How many texts are in each state, per direction and interface, kept up to
-- date by triggers so that /metrics reads a few rows instead of counting the
-- whole history on every scrape (counting 200,000 texts takes ~130 ms, during
-- which hand-offs wait). Triggers see every writer: the daemon, the CLI, purge.
--
-- Numbered 005 to run after 004, which rebuilds both tables: dropping a table
-- drops its triggers, so any later migration that rebuilds inbound or
-- outbound must create these triggers again (test/metrics.test.ts checks).

CREATE TABLE text_counts (
  direction TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
  interface TEXT    NOT NULL,
  state     TEXT    NOT NULL,
  n         INTEGER NOT NULL,
  PRIMARY KEY (direction, interface, state)
) WITHOUT ROWID;

INSERT INTO text_counts (direction, interface, state, n)
  SELECT 'in', interface, state, COUNT(*) FROM inbound GROUP BY interface, state;
INSERT INTO text_counts (direction, interface, state, n)
  SELECT 'out', interface, state, COUNT(*) FROM outbound GROUP BY interface, state;

CREATE TRIGGER inbound_count_insert AFTER INSERT ON inbound BEGIN
  INSERT INTO text_counts VALUES ('in', NEW.interface, NEW.state, 1) ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER inbound_count_update AFTER UPDATE OF state, interface ON inbound
  WHEN OLD.state IS NOT NEW.state OR OLD.interface IS NOT NEW.interface BEGIN
  UPDATE text_counts SET n = n - 1 WHERE direction = 'in' AND interface = OLD.interface AND state = OLD.state;
  INSERT INTO text_counts VALUES ('in', NEW.interface, NEW.state, 1) ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER inbound_count_delete AFTER DELETE ON inbound BEGIN
  UPDATE text_counts SET n = n - 1 WHERE direction = 'in' AND interface = OLD.interface AND state = OLD.state;
END;

CREATE TRIGGER outbound_count_insert AFTER INSERT ON outbound BEGIN
  INSERT INTO text_counts VALUES ('out', NEW.interface, NEW.state, 1) ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER outbound_count_update AFTER UPDATE OF state, interface ON outbound
  WHEN OLD.state IS NOT NEW.state OR OLD.interface IS NOT NEW.interface BEGIN
  UPDATE text_counts SET n = n - 1 WHERE direction = 'out' AND interface = OLD.interface AND state = OLD.state;
  INSERT INTO text_counts VALUES ('out', NEW.interface, NEW.state, 1) ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER outbound_count_delete AFTER DELETE ON outbound BEGIN
  UPDATE text_counts SET n = n - 1 WHERE direction = 'out' AND interface = OLD.interface AND state = OLD.state;
END;
