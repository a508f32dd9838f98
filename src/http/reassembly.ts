// When the parts of a long text stop coming: a timer set for the moment the
// longest-waiting text has waited [general] reassembly_timeout, which then
// delivers it with what it has (store/parts.ts marks the gaps). The timer is
// worked out from the database, so a restart picks up where the last process
// left off; with nothing waiting there is no timer at all.

import type { Logger } from '../log.js';
import type { NewPart, PartResult, PartsStore } from '../store/parts.js';

export interface Reassembly {
  /** Stores a part (committed when it returns) and sets the timer. */
  add(part: NewPart): PartResult;
  /** Sets the timer from what waits in the database (at start, after a reload). */
  schedule(): void;
  stop(): void;
}

export interface ReassemblyDeps {
  parts: PartsStore;
  /** Read each time, so a reload's value applies to the next timer. */
  timeoutMs: () => number;
  log: Logger;
  /** A text went into the inbound queue. */
  onStored: (id: number) => void;
  now?: () => number;
}

/** After a database error, look again this much later. */
const RETRY_MS = 30_000;

export function createReassembly(deps: ReassemblyDeps): Reassembly {
  const now = deps.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let at: number | undefined;
  let stopped = false;

  function arm(when: number): void {
    if (stopped || (timer !== undefined && at !== undefined && at <= when)) return;
    if (timer !== undefined) clearTimeout(timer);
    at = when;
    timer = setTimeout(sweep, Math.max(0, when - now()));
    timer.unref();
  }

  function schedule(): void {
    const oldest = deps.parts.oldestWaiting();
    if (oldest === undefined) return;
    arm(oldest + deps.timeoutMs());
  }

  function sweep(): void {
    timer = undefined;
    at = undefined;
    if (stopped) return;
    const t = now();
    try {
      for (const f of deps.parts.flushOlderThan(t - deps.timeoutMs() + 1, t)) {
        deps.log.warn(
          { iface: f.interface, id: f.text.id, parts: f.have, of: f.total },
          'a text that came in parts is delivered without all of them: the others did not arrive within [general] reassembly_timeout',
        );
        if (!f.text.duplicate) deps.onStored(f.text.id);
      }
    } catch (err) {
      deps.log.error({ err }, 'could not deliver texts whose parts are missing; trying again shortly');
      arm(now() + RETRY_MS);
      return;
    }
    schedule();
  }

  return {
    add(part) {
      const r = deps.parts.add(part, now());
      if (r.kind === 'waiting') schedule();
      return r;
    },
    schedule,
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
