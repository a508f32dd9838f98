// The store's side of the scheduled jobs: forgetting what a finished text
// said once the retention time is over, finding outbound texts past their
// maximum age, and the numbers for the daily summary.
//
// Retention keeps the row (who, when, the outcome, the provider's id): an
// operator can still answer "did my text to X go out in March", and duplicate
// detection by provider id keeps working. Only the words go.

import type { Db } from './db.js';
import { INBOUND_FINISHED } from './inbound.js';
import { OUTBOUND_FINISHED, type OutboundRow } from './outbound.js';
import { createStatsReader } from './stats.js';
import { statesSql } from './texts.js';

const INBOUND_DONE = statesSql(INBOUND_FINISHED);
const OUTBOUND_DONE = statesSql(OUTBOUND_FINISHED);

export interface DaySummary {
  inbound: Record<string, number>;
  outbound: Record<string, number>;
  /** Texts still waiting (queued, sending, waiting) in each direction. */
  waiting: { inbound: number; outbound: number };
  /** Age in ms of the oldest waiting text, or null when none waits. */
  oldestWaitingMs: number | null;
}

export interface Housekeeping {
  /** Removes the bodies of texts finished before the cut-off; returns how many texts lost theirs. */
  removeBodies(cutoff: number): { inbound: number; outbound: number };
  /**
   * Queued outbound texts handed off (or retried by hand) before the cut-off:
   * they wait behind an earlier one or for an ITSP whose circuit stays open.
   */
  outboundPastAge(cutoff: number): OutboundRow[];
  /** What happened to texts that changed since `since`, and what still waits. */
  summary(since: number, now: number): DaySummary;
}

/**
 * Outbound texts past their maximum age, every minute: read from
 * outbound_active (the texts on their way), not the whole history. The first
 * state term is that index's own, word for word, which is what lets SQLite
 * use it (a test checks the plan).
 */
export const OUTBOUND_PAST_AGE_SQL = `SELECT * FROM outbound INDEXED BY outbound_active WHERE state IN ('queued', 'sending') AND state = 'queued'
    AND COALESCE(retried_at, created_at) < ? ORDER BY id`;

export function createHousekeeping(db: Db): Housekeeping {
  // Batches keep each write transaction short: the webhook path waits on the same lock.
  const BATCH = 500;
  const inboundBodies = db.prepare(
    // The media note goes too: its links carry the tokens that open the pictures.
    `UPDATE inbound SET body = NULL, media_note = NULL WHERE id IN (
       SELECT id FROM inbound WHERE state IN ${INBOUND_DONE} AND updated_at < ? AND body IS NOT NULL LIMIT ${BATCH})`,
  );
  const outboundBodies = db.prepare(
    `UPDATE outbound SET body = NULL WHERE id IN (
       SELECT id FROM outbound WHERE state IN ${OUTBOUND_DONE} AND updated_at < ? AND body IS NOT NULL LIMIT ${BATCH})`,
  );
  const pastAge = db.prepare<[number], OutboundRow>(OUTBOUND_PAST_AGE_SQL);
  const inboundChanged = db.prepare<[number], { state: string; n: number }>(
    'SELECT state, COUNT(*) AS n FROM inbound WHERE updated_at >= ? GROUP BY state',
  );
  const outboundChanged = db.prepare<[number], { state: string; n: number }>(
    'SELECT state, COUNT(*) AS n FROM outbound WHERE updated_at >= ? GROUP BY state',
  );
  const stats = createStatsReader(db);

  const drain = (stmt: ReturnType<Db['prepare']>, cutoff: number): number => {
    let total = 0;
    for (;;) {
      const n = stmt.run(cutoff).changes;
      total += n;
      if (n < BATCH) return total;
    }
  };

  return {
    removeBodies(cutoff) {
      return { inbound: drain(inboundBodies, cutoff), outbound: drain(outboundBodies, cutoff) };
    },
    outboundPastAge: (cutoff) => pastAge.all(cutoff),
    summary(since, now) {
      const tally = (rows: { state: string; n: number }[]): Record<string, number> => Object.fromEntries(rows.map((r) => [r.state, r.n]));
      const waiting = { inbound: 0, outbound: 0 };
      const oldest: number[] = [];
      for (const q of stats.queues()) {
        waiting[q.direction === 'in' ? 'inbound' : 'outbound'] += q.depth;
        oldest.push(q.oldest);
      }
      return {
        inbound: tally(inboundChanged.all(since)),
        outbound: tally(outboundChanged.all(since)),
        waiting,
        oldestWaitingMs: oldest.length > 0 ? now - Math.min(...oldest) : null,
      };
    },
  };
}
