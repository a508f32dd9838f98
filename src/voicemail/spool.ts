// MiniVM's spool, as seen by its mail command (which runs as Asterisk's user,
// so it may change what the websms daemon may not even read):
//   <spool>/<domain>/<user>/tmp/XXXXXX[.WAV]           a recording and its
//   <spool>/0000_minivm_temp/mediafiles/XXXXXX[.WAV]   metadata (app_minivm.c:
//                                                      the second when the
//                                                      user's folder is missing)
//   <spool>/websms-pending/*.eml                       e-mails websms could not
//                                                      take yet (this module)

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sha256 } from './mail.js';

export const PENDING = 'websms-pending';

/** The folders MiniVM records messages into. */
function recordingDirs(spool: string): string[] {
  const dirs = [path.join(spool, '0000_minivm_temp', 'mediafiles')];
  for (const domain of readdir(spool)) {
    for (const user of readdir(path.join(spool, domain))) dirs.push(path.join(spool, domain, user, 'tmp'));
  }
  return dirs.filter((d) => fs.existsSync(d));
}

function readdir(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * The recordings whose bytes are `digest` (the attachment of an e-mail), as
 * the name without extension that MiniVM's files share.
 */
export function findRecordings(spool: string, digest: string, bytes: number): string[] {
  const found: string[] = [];
  for (const dir of recordingDirs(spool)) {
    for (const name of fs.readdirSync(dir)) {
      const file = path.join(dir, name);
      const st = fs.statSync(file, { throwIfNoEntry: false });
      if (!st?.isFile() || st.size !== bytes) continue;
      if (sha256(fs.readFileSync(file)) === digest) found.push(path.join(dir, name.replace(/\.[^.]*$/, '')));
    }
  }
  return found;
}

/** Removes a recording: every file named <base> or <base>.<format> (the metadata and each format). */
export function removeRecording(base: string): string[] {
  const dir = path.dirname(base);
  const name = path.basename(base);
  const removed: string[] = [];
  for (const f of fs.readdirSync(dir)) {
    if (f !== name && !f.startsWith(`${name}.`)) continue;
    fs.rmSync(path.join(dir, f), { force: true });
    removed.push(path.join(dir, f));
  }
  return removed;
}

/** Keeps an e-mail websms could not take, for the next run; 0600, written whole or not at all. */
export function keepPending(spool: string, mail: Buffer, now: number): string {
  const dir = path.join(spool, PENDING);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${now}-${randomBytes(4).toString('hex')}.eml`);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, mail, { mode: 0o600 });
  fs.renameSync(tmp, file);
  return file;
}

/** Kept e-mails, oldest first, with the time each was kept (from its name). */
export function pendingMails(spool: string): Array<{ file: string; keptAt: number }> {
  const dir = path.join(spool, PENDING);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^\d+-[0-9a-f]+\.eml$/.test(n))
    .map((n) => ({ file: path.join(dir, n), keptAt: Number(n.split('-')[0]) }))
    .sort((a, b) => a.keptAt - b.keptAt);
}
