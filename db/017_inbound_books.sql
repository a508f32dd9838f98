-- The books of new inbound texts (their count in text_counts, their
-- conversation's newest text in conversations, their conversation's queue
-- head in inbound_heads) are kept once per commit by whoever inserts them,
-- through src/store/inbound-books.ts, no longer per row by the AFTER INSERT
-- triggers of 005, 011 and 013.
--
-- Why: the triggers cost 15-25 us of CPU per stored text, most of it because
-- they exist at all: any insert trigger on inbound gives every INSERT a
-- statement journal (a copy of each page the insert touches) and a trigger
-- frame, even when its WHEN is false. Keeping the books once per commit, with
-- a batch's sums, maxima and minima, is the same state (none of them depends
-- on the order of the rows) at about 12 us less per text (bench/,
-- docs/benchmarks.md); the daemon stores webhooks on one thread, so this is
-- throughput.
--
-- Who inserts: websms's inbound writer (createInboundWriter, for webhooks and
-- texts joined from parts) keeps the books of each batch itself. Anything else
-- that inserts into inbound (the tests, the benchmarks' prefills) calls
-- inboundBooks() for the ids it inserted, in the same transaction;
-- test/inbound-books.test.ts fails for a file that inserts into inbound
-- without it. Updates and deletes keep their triggers, and so does outbound.
DROP TRIGGER inbound_count_insert;
DROP TRIGGER inbound_conversation_insert;
DROP TRIGGER inbound_head_insert;
