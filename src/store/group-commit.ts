// Group commit: every write that arrives while a transaction is being fsync'd
// joins the next one, and each caller is answered only after the transaction
// holding its write has committed. One fsync serves many texts.

import type { Db } from './db.js';
import { StoreError } from '../errors.js';

export interface GroupCommit<In, Out> {
  submit(item: In): Promise<Out>;
  /**
   * Runs `write` in the transaction of the next batch, so that it shares
   * that batch's fsync instead of stalling the event loop with one of its
   * own; resolves with what it returned once that transaction has
   * committed. Waits at most maxWaitMs for a batch, then commits by itself.
   * `write` runs in a savepoint: when it throws, only its own changes are
   * undone and only its promise rejects; the batch goes on.
   */
  alongside<T>(write: () => T, maxWaitMs: number): Promise<T>;
  /** Commits whatever is waiting, now (shutdown). */
  flush(): void;
}

export interface GroupCommitOptions {
  /**
   * How many writers are under way that may still submit (open hand-off
   * sessions, say). While more are coming than the batch holds, the commit
   * waits up to windowMs for them, so that one fsync serves them all. Once
   * every one of them is in the batch (a lone hand-off, say) it commits at
   * once, in the callback that submitted the last one: no added latency.
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
  type Alongside = { write: () => unknown; resolve: (value: unknown) => void; reject: (e: Error) => void; value?: unknown; failed?: Error };
  let alongside: Alongside[] = [];
  let alongsideTimer: NodeJS.Timeout | undefined;
  let alongsideDue = 0;
  // Nested in the batch's transaction, better-sqlite3 makes this a savepoint.
  const savepoint = db.transaction((w: () => unknown) => w());
  const tx = db.transaction((items: In[], extra: Alongside[]) => {
    const results = items.length > 0 ? write(items) : [];
    for (const a of extra) {
      try {
        a.value = savepoint(a.write);
      } catch (err) {
        a.failed = err as Error;
      }
    }
    return results;
  });

  function schedule(): void {
    if (opts.expected !== undefined && batch.length >= opts.expected()) {
      // Every writer under way is here (a lone hand-off, say): committing in
      // this very callback answers it before whatever else this turn of the
      // event loop holds (the sender's answers and timers) instead of after.
      flush();
      return;
    }
    const everyone = opts.expected === undefined;
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
    if (alongsideTimer !== undefined) clearTimeout(alongsideTimer);
    alongsideTimer = undefined;
    const items = batch;
    batch = [];
    const extra = alongside;
    alongside = [];
    if (items.length === 0 && extra.length === 0) return;
    let results: Out[];
    try {
      results = tx(
        items.map((i) => i.item),
        extra,
      );
    } catch (err) {
      const e = new StoreError(`could not commit: ${(err as Error).message}`);
      for (const p of items) p.reject(e);
      for (const a of extra) a.reject(e);
      return;
    }
    items.forEach((p, i) => p.resolve(results[i]!));
    for (const a of extra) {
      if (a.failed) a.reject(a.failed);
      else a.resolve(a.value);
    }
  }

  return {
    submit(item) {
      return new Promise<Out>((resolve, reject) => {
        batch.push({ item, resolve, reject });
        schedule();
      });
    },
    alongside<T>(write: () => T, maxWaitMs: number) {
      return new Promise<T>((resolve, reject) => {
        alongside.push({ write, resolve: resolve as (value: unknown) => void, reject });
        // A batch already on its way takes it; otherwise it waits for one, at most maxWaitMs.
        const due = performance.now() + maxWaitMs;
        if (alongsideTimer === undefined || due < alongsideDue) {
          clearTimeout(alongsideTimer);
          alongsideDue = due;
          alongsideTimer = setTimeout(flush, maxWaitMs);
        }
      });
    },
    flush,
  };
}
