-- Duplicate detection by content no longer reads an index: the texts of the
-- duplicate window are kept in memory and checked against their rows
-- (src/store/recent-texts.ts). An index ordered by a hash put every new text
-- in a random leaf page, one more page written to the WAL per text at every
-- commit; it was about a third of the cost of storing a text. body_hash stays:
-- the rows it is checked against, and the window filled at start, read it.
DROP INDEX inbound_dedup;
