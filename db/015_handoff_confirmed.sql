-- Whether Asterisk confirmed a hand-off's QUEUED. A hand-off commits its text
-- first and answers WEBSMS_STATUS=QUEUED after; the dialplan texts the sender
-- "not sent" unless it got QUEUED. A text whose QUEUED was never confirmed
-- (websms stopped or crashed between the commit and Asterisk's answer to the
-- SET VARIABLE) may have been reported "not sent" to the sender while it sits
-- in the queue. The sender never takes a text while its hand-off is under way
-- (handoff = 'unconfirmed'); one a previous process left unconfirmed is sent
-- after all, and the sender's phone is told so (src/outbound/unconfirmed.ts,
-- docs/outbound.md).
--
--   NULL          not from a hand-off (the management API), or from before 015
--   'unconfirmed' committed by a hand-off; Asterisk has not confirmed QUEUED
--   'confirmed'   Asterisk answered the SET VARIABLE WEBSMS_STATUS "QUEUED"
--
-- A column added, not a table rebuilt: 005's counting triggers stay as they are.
ALTER TABLE outbound ADD COLUMN handoff TEXT CHECK (handoff IN ('unconfirmed', 'confirmed'));

-- Holds only texts between their commit and Asterisk's answer (milliseconds),
-- and those a crash left: found at start without reading the queue.
CREATE INDEX outbound_unconfirmed ON outbound (id) WHERE handoff = 'unconfirmed' AND state IN ('queued', 'sending');
