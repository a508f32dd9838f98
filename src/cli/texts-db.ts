// Reading texts straight from the SQLite file, read-only, for when the daemon
// is not running. Never writes: the daemon is the only writer (the commands
// that change texts go through its API), and the connection is opened
// read-only, so even a write by mistake fails instead of changing anything.
//
// The reading itself is the store's (src/store/texts.ts), which knows the
// schema of this websms only: a database of another schema version is refused
// with what to do rather than read by guesswork.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import { knownSchemaVersion, schemaVersion, type Db } from '../store/db.js';

/**
 * The database cannot be read: `missing` (no file), `older` / `newer` (a schema
 * this websms does not read), `unreadable` (anything else).
 */
export class DbUnreadable extends Error {
  constructor(
    message: string,
    readonly kind: 'missing' | 'older' | 'newer' | 'unreadable',
  ) {
    super(message);
  }
}

export function openReadOnly(file: string): Db {
  if (!fs.existsSync(file)) {
    throw new DbUnreadable(`there is no database at ${file}: websms has not run with this configuration yet (or [general] database points elsewhere)`, 'missing');
  }
  let db: Db;
  let version: number;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    // Fails here, not later, when the file is not a database.
    version = schemaVersion(db);
  } catch (err) {
    throw new DbUnreadable(`cannot read the database ${file}: ${(err as Error).message}`, 'unreadable');
  }
  const known = knownSchemaVersion();
  if (version !== known) {
    db.close();
    if (version < known) {
      // The daemon migrates at start; the CLI never does (it never writes).
      throw new DbUnreadable(
        `${file} was made by an older websms (schema version ${version}; this websms reads version ${known}). ` +
          'Start the daemon once (systemctl start websms, or websms run): it brings the database up to date, and then answers this command itself',
        'older',
      );
    }
    throw new DbUnreadable(
      `${file} was made by a newer websms (schema version ${version}; this websms reads up to version ${known}). ` +
        'Run this command with the websms that made it, or upgrade this one',
      'newer',
    );
  }
  return db;
}
