// The media directory: private to websms (0700, files 0600, whatever the
// umask), one file per fetched item named by its row id. A file is written
// as <id>.part, synced, then renamed, so a name without .part is always whole.

import fs from 'node:fs';
import path from 'node:path';
import { StoreError } from '../errors.js';

export class MediaDirError extends StoreError {
  constructor(
    readonly dir: string,
    readonly reason: string,
  ) {
    super(`cannot use the media directory ${dir}: ${reason} (check [media] directory)`);
  }
}

/** Creates the directory (and missing parents) 0700, or takes group and other bits away from one websms made before. */
export function ensureMediaDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { mode, uid } = fs.statSync(dir);
    if ((mode & 0o077) !== 0 && uid === process.getuid?.()) fs.chmodSync(dir, mode & 0o700);
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    throw new MediaDirError(dir, (err as Error).message);
  }
}

export const fileName = (id: number): string => String(id);
export const partName = (id: number): string => `${id}.part`;

/** A file being written: bytes go in as they arrive; commit() makes it whole under its final name. */
export interface MediaFileWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Syncs and renames; returns the final file name. */
  commit(): Promise<string>;
  /** Closes and removes what was written. */
  discard(): Promise<void>;
}

export async function createMediaFile(dir: string, id: number): Promise<MediaFileWriter> {
  const part = path.join(dir, partName(id));
  // 'w' truncates a .part left by a stop in the middle of a fetch.
  const fh = await fs.promises.open(part, 'w', 0o600);
  let closed = false;
  const close = async (): Promise<void> => {
    if (!closed) {
      closed = true;
      await fh.close();
    }
  };
  return {
    async write(chunk) {
      for (let off = 0; off < chunk.length; ) {
        const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
        off += bytesWritten;
      }
    },
    async commit() {
      // The row says "stored" only after this: a crash must not leave a link to a half file.
      await fh.sync();
      await close();
      await fs.promises.rename(part, path.join(dir, fileName(id)));
      return fileName(id);
    },
    async discard() {
      await close().catch(() => undefined);
      await fs.promises.rm(part, { force: true });
    },
  };
}

export async function removeMediaFile(dir: string, file: string): Promise<void> {
  await fs.promises.rm(path.join(dir, file), { force: true });
}
