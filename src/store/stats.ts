// What the queues look like right now, for /metrics: cheap enough to run on
// every scrape. Counts by state come from text_counts (kept by triggers and
// the inbound writer, see db/005_text_counts.sql and 017); the queues' depth and oldest text come from the
// partial indexes on unfinished texts, so they cost what is waiting, not
// what was ever sent.

import type { Db } from './db.js';
import type { Direction } from './events.js';

export type { Direction };

export interface StateCount {
  direction: Direction;
  interface: string;
  state: string;
  n: number;
}

export interface QueueStat {
  direction: Direction;
  interface: string;
  /** Texts not finished yet: queued, being sent, or waiting for a phone. */
  depth: number;
  /** When the oldest of them was received (inbound) or handed off (outbound), ms since epoch. */
  oldest: number;
}

export interface StatsReader {
  counts(): StateCount[];
  queues(): QueueStat[];
}

/**
 * The WHERE clauses repeat those of the partial indexes inbound_active and
 * outbound_active word for word: that is what lets SQLite use them (a test
 * checks the query plan).
 */
export const QUEUES_SQL = `SELECT 'in' AS direction, interface, COUNT(*) AS depth, MIN(received_at) AS oldest
    FROM inbound WHERE state IN ('queued', 'sending', 'waiting') GROUP BY interface
  UNION ALL
  SELECT 'out', interface, COUNT(*), MIN(created_at)
    FROM outbound WHERE state IN ('queued', 'sending') GROUP BY interface`;

export function createStatsReader(db: Db): StatsReader {
  const counts = db.prepare<[], StateCount>('SELECT direction, interface, state, n FROM text_counts');
  const queues = db.prepare<[], QueueStat>(QUEUES_SQL);
  return {
    counts: () => counts.all(),
    queues: () => queues.all(),
  };
}
