// A real write, as cheap as one can be: one row rewritten and committed.
// /readyz uses it to prove the database takes writes (disk full, read-only
// file system, a lock held too long all show here), not just that it opens.

import type { Db } from './db.js';

export function createWriteProbe(db: Db): (now: number) => void {
  const upsert = db.prepare(`INSERT INTO probe (name, at) VALUES ('readyz', ?) ON CONFLICT (name) DO UPDATE SET at = excluded.at`);
  return (now) => void upsert.run(now);
}
