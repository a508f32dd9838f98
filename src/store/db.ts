// Opens the SQLite database and brings its schema up to date from db/*.sql.
// WAL with synchronous=FULL: a commit is fsync'd before COMMIT returns, which is
// what lets us answer an ITSP 2xx right after it.
//
// The file holds every message body: it, its WAL and its shared-memory file are
// readable by websms alone (0600; SQLite gives the WAL and SHM the mode of the
// database file), and a directory websms creates for it is 0700, whatever the
// umask.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreError } from '../errors.js';

export type Db = Database.Database;

/** SQLite's page cache of the daemon's connection, in KiB (see setUp). */
export const CACHE_KIB = 2048;

const MIGRATIONS_DIR = fileURLToPath(new URL('../../../db/', import.meta.url));

/** The database cannot be created, opened or written: restarting will not fix it (exit EX_CANTCREAT). */
export class DatabaseOpenError extends StoreError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`cannot use database ${file}: ${reason}`);
  }
}

export function openDatabase(file: string, migrationsDir: string = MIGRATIONS_DIR): Db {
  if (file === ':memory:') return setUp(new Database(file), file, migrationsDir);
  const full = path.resolve(file);
  createDirectory(path.dirname(full), file);
  createPrivateFile(full, file);
  let db: Db;
  try {
    db = new Database(full, { fileMustExist: true });
  } catch (err) {
    throw new DatabaseOpenError(file, (err as Error).message);
  }
  try {
    // SQLite opens a file it may only read read-only without a word; the first commit would fail.
    if (db.readonly) throw new Error('it can only be read (check its owner and mode, and the file system)');
    return setUp(db, file, migrationsDir);
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    throw new DatabaseOpenError(file, (err as Error).message);
  }
}

/**
 * Runs transactions without an fsync at their commit (synchronous = NORMAL
 * in WAL: durable at the next synced commit, or lost in a power failure),
 * for writes a crash may lose because start-up puts them right anyway (a
 * claim's 'sending' is reset to queued). The two pragmas are prepared once:
 * db.pragma() compiles its statement on every call, and these run on the
 * queues' hot paths.
 */
export function unsyncedWriter(db: Db): <T>(write: () => T) => T {
  const relaxed = db.prepare('PRAGMA synchronous = NORMAL');
  const strict = db.prepare('PRAGMA synchronous = FULL');
  return (write) => {
    relaxed.run();
    try {
      return write();
    } finally {
      strict.run();
    }
  };
}

/** Returns a check that runs a query on the file: true while the database answers (throws when it does not). */
export function databaseAnswers(db: Db): () => boolean {
  const stmt = db.prepare('SELECT count(*) AS n FROM sqlite_schema');
  return () => (stmt.get() as { n: number }).n >= 0;
}

function setUp(db: Db, file: string, migrationsDir: string): Db {
  // Journal mode WAL writes to the file, so an unwritable database fails here, at start.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // Statement journals (a statement that fires triggers, or an upsert, inside
  // a transaction of many keeps one, to undo itself alone) and temporary
  // b-trees in memory: on disk each group commit opened, wrote and unlinked
  // a temporary file, about one write(2) more per stored text under load
  // (strace -c). They hold one statement's changes, a few pages.
  db.pragma('temp_store = MEMORY');
  // Another process (the CLI) may hold the write lock briefly.
  db.pragma('busy_timeout = 5000');
  // SQLite's page cache, per connection (the daemon has one): better-sqlite3
  // builds SQLite with 16 MB, which a store of a few hundred thousand texts
  // fills, and which stays resident. The pages a webhook or a claim touches
  // are the right-hand edges of the tables and indexes, and the heads; a few
  // hundred pages hold them, and anything else comes from the kernel's page
  // cache, which the kernel can reclaim (docs/benchmarks.md, "Memory").
  db.pragma(`cache_size = -${CACHE_KIB}`);
  migrate(db, migrationsDir);
  if (file !== ':memory:') privateSidecars(path.resolve(file));
  return db;
}

/**
 * mkdir -p, one level at a time, 0700. Node's recursive mkdirSync loops for
 * ever when the kernel answers ENOENT for a directory whose parent exists
 * (/proc/x), so it is not used here.
 */
function createDirectory(dir: string, file: string): void {
  const missing: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      if (!fs.statSync(d).isDirectory()) throw new DatabaseOpenError(file, `${d} is not a directory`);
      break;
    } catch (err) {
      if (err instanceof DatabaseOpenError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw new DatabaseOpenError(file, `cannot look at ${d}: ${(err as Error).message}`);
      missing.push(d);
      if (path.dirname(d) === d) break;
    }
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d, { mode: 0o700 });
      fs.chmodSync(d, 0o700); // the umask may have taken bits away; never adds any
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw new DatabaseOpenError(file, `cannot create the directory ${d}: ${(err as Error).message}`);
    }
  }
}

/** Creates the database file 0600 before SQLite does (SQLite would make it 0644 less the umask), or takes away group and other bits from one made before. */
function createPrivateFile(full: string, file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(full, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  } catch (err) {
    throw new DatabaseOpenError(file, (err as Error).message);
  }
  try {
    // Only our own file: a group-shared one (0660, owned by someone else) was the administrator's choice.
    const { mode, uid } = fs.fstatSync(fd);
    if ((mode & 0o077) !== 0 && uid === process.getuid?.()) fs.fchmodSync(fd, mode & 0o700);
  } catch (err) {
    throw new DatabaseOpenError(file, `cannot make it private (mode 0600): ${(err as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** A WAL or SHM file left by an older websms may be readable by others; SQLite keeps an existing file's mode. */
function privateSidecars(full: string): void {
  for (const f of [`${full}-wal`, `${full}-shm`]) {
    try {
      const { mode, uid } = fs.statSync(f);
      if ((mode & 0o077) !== 0 && uid === process.getuid?.()) fs.chmodSync(f, mode & 0o700);
    } catch {
      // not there (yet): SQLite creates it with the database file's mode
    }
  }
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
