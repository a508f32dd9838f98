// Opens the SQLite database and brings its schema up to date from db/*.sql.
// WAL with synchronous=FULL: a commit is fsync'd before COMMIT returns, which is
// what lets us answer an ITSP 2xx right after it.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreError } from '../errors.js';

export type Db = Database.Database;

const MIGRATIONS_DIR = fileURLToPath(new URL('../../../db/', import.meta.url));

export function openDatabase(file: string, migrationsDir: string = MIGRATIONS_DIR): Db {
  if (file !== ':memory:') {
    try {
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    } catch (err) {
      throw new StoreError(`cannot create the directory for database ${file}: ${(err as Error).message}`);
    }
  }
  let db: Db;
  try {
    db = new Database(file);
  } catch (err) {
    throw new StoreError(`cannot open database ${file}: ${(err as Error).message}`);
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // Another process (the CLI) may hold the write lock briefly.
  db.pragma('busy_timeout = 5000');
  migrate(db, migrationsDir);
  return db;
}

/** db/NNN_*.sql in order, each with its number: the schema version it brings a database to. */
function migrations(dir: string): { file: string; version: number }[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{3}_.+\.sql$/.test(f))
    .sort()
    .map((f) => ({ file: f, version: Number(f.slice(0, 3)) }));
}

/** The schema version this websms brings a database to: the highest db/NNN_*.sql. */
export function knownSchemaVersion(dir: string = MIGRATIONS_DIR): number {
  return Math.max(0, ...migrations(dir).map((m) => m.version));
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function migrate(db: Db, dir: string): void {
  const current = schemaVersion(db);
  for (const { file: f, version } of migrations(dir)) {
    if (version <= current) continue;
    const sql = fs.readFileSync(path.join(dir, f), 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${version}`);
    })();
  }
}
