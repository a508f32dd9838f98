// What happened to each text, for people looking at one: attempts, outcomes,
// delivery reports, retries and cancels. The stores add an event in the same
// transaction as the change it records, so the two never disagree and no
// event costs a commit of its own.

import type { Db } from './db.js';

export type Direction = 'in' | 'out';

export interface TextEvent {
  at: number;
  kind: string;
  detail: string | null;
}

export interface EventLog {
  add(direction: Direction, textId: number, at: number, kind: string, detail: string | null): void;
  /** Oldest first. */
  list(direction: Direction, textId: number): TextEvent[];
}

export function createEventLog(db: Db): EventLog {
  const insert = db.prepare('INSERT INTO events (direction, text_id, at, kind, detail) VALUES (?, ?, ?, ?, ?)');
  const select = db.prepare<[Direction, number], TextEvent>(
    'SELECT at, kind, detail FROM events WHERE direction = ? AND text_id = ? ORDER BY id',
  );
  return {
    add: (direction, textId, at, kind, detail) => void insert.run(direction, textId, at, kind, detail),
    list: (direction, textId) => select.all(direction, textId),
  };
}
