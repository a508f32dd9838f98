-- Duplicate detection looks texts up by the hash of their body; the other
-- columns are checked on the few rows that share it. A narrow index costs far
-- less per insert than the five-column one it replaces (bench/webhook.ts).
DROP INDEX inbound_dedup;
CREATE INDEX inbound_dedup ON inbound (body_hash);
