// Group commit: every write that arrives while a transaction is being fsync'd
// joins the next one, and each caller is answered only after the transaction
// holding its write has committed. One fsync serves many texts.

import type { Db } from './db.js';
import { StoreError } from '../errors.js';

export interface GroupCommit<In, Out> {
  submit(item: In): Promise<Out>;
  /** Commits whatever is waiting, now (shutdown). */
  flush(): void;
}

export interface GroupCommitOptions {
  /**
   * How many writers are under way that may still submit (open hand-off
   * sessions, say). While more are coming than the batch holds, the commit
   * waits up to windowMs for them, so that one fsync serves them all. With
   * nobody else under way it commits at once: no added latency when idle.
   */
  expected?: () => number;
  windowMs?: number;
}

/** `write` runs inside one transaction for the whole batch and returns one result per item, in order. */
export function createGroupCommit<In, Out>(db: Db, write: (items: In[]) => Out[], opts: GroupCommitOptions = {}): GroupCommit<In, Out> {
  let batch: Array<{ item: In; resolve: (o: Out) => void; reject: (e: Error) => void }> = [];
  let scheduled = false;
  let timer: NodeJS.Timeout | undefined;
  const windowMs = opts.windowMs ?? 2;
  const tx = db.transaction(write);

  function schedule(): void {
    const everyone = opts.expected === undefined || batch.length >= opts.expected();
    if (everyone) {
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
        scheduled = false;
      }
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    } else if (!scheduled) {
      scheduled = true;
      timer = setTimeout(flush, windowMs);
    }
  }

  function flush(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    scheduled = false;
    const items = batch;
    batch = [];
    if (items.length === 0) return;
    let results: Out[];
    try {
      results = tx(items.map((i) => i.item));
    } catch (err) {
      const e = new StoreError(`could not commit: ${(err as Error).message}`);
      for (const p of items) p.reject(e);
      return;
    }
    items.forEach((p, i) => p.resolve(results[i]!));
  }

  return {
    submit(item) {
      return new Promise<Out>((resolve, reject) => {
        batch.push({ item, resolve, reject });
        schedule();
      });
    },
    flush,
  };
}
