// The hourly retention of media (run by src/jobs.ts with the text retention):
// an item fetched longer ago than [media] retention loses its file and its
// link; files that belong to no stored item (a stop in the middle of a fetch,
// texts purged through the API) are swept once they are an hour old.

import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import type { MediaStore } from './store.js';

export interface MediaRetention {
  /** Removes what is past retention and stray files; returns how many items and stray files went. */
  retain(now: number): { removed: number; stray: number };
}

const BATCH = 500;
/** A file younger than this may be a fetch under way (fetch_timeout is at most 10 minutes). */
const STRAY_AGE_MS = 3_600_000;

export function createMediaRetention(deps: { media: MediaStore; directory: () => string; retentionMs: () => number; log: Logger }): MediaRetention {
  const { media, log } = deps;
  return {
    retain(now) {
      const dir = deps.directory();
      let removed = 0;
      for (;;) {
        const rows = media.storedBefore(now - deps.retentionMs(), BATCH);
        const before = removed;
        for (const r of rows) {
          try {
            if (r.file !== null) fs.rmSync(path.join(dir, r.file), { force: true });
            media.removed(r.id, now);
            removed++;
          } catch (err) {
            // Left stored: tried again at the next run.
            log.warn({ media: r.id, reason: (err as Error).message }, 'could not remove a media file past retention');
          }
        }
        if (rows.length < BATCH || removed === before) break;
      }
      let stray = 0;
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ reason: (err as Error).message }, 'could not read the media directory');
        return { removed, stray };
      }
      const kept = media.storedFiles();
      for (const name of names) {
        // Only names websms makes: <id> and <id>.part. Anything else is someone else's.
        if (!/^\d+(\.part)?$/.test(name) || kept.has(name)) continue;
        try {
          const { mtimeMs, isFile } = statOf(path.join(dir, name));
          if (!isFile || mtimeMs > now - STRAY_AGE_MS) continue;
          fs.rmSync(path.join(dir, name), { force: true });
          stray++;
        } catch {
          // gone meanwhile
        }
      }
      return { removed, stray };
    },
  };
}

function statOf(file: string): { mtimeMs: number; isFile: boolean } {
  const s = fs.statSync(file);
  return { mtimeMs: s.mtimeMs, isFile: s.isFile() };
}
