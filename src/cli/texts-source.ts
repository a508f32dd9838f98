// Where the read-only commands get texts: the running daemon's API, else the
// database file, read-only. And how every text command turns a failure into a
// message and an exit code.

import type { Config } from '../config/types.js';
import { ApiRefused, ApiUnavailable, apiRequest, apiTarget, type ApiTarget, type RequestOptions } from './api-client.js';
import { err, printJson } from './command.js';
import { EX_DATAERR, EX_IOERR, EX_NOINPUT, EX_NOPERM, EX_SOFTWARE, EX_TEMPFAIL, EX_UNAVAILABLE } from './exit.js';
import { createTextStore, type TextStore } from '../store/texts.js';
import { DbUnreadable, openReadOnly } from './texts-db.js';

/** What the CLI may do with the database: read, with the store's own functions. */
export type TextReader = Pick<TextStore, 'list' | 'get' | 'events'>;

export interface Read<T> {
  value: T;
  /** 'db' when the daemon did not answer and the file was read. */
  from: 'api' | 'db';
}

/**
 * Asks the daemon; when it does not answer, reads the database instead and
 * says so on stderr (stdout stays what --json promises).
 */
export async function readTexts<T>(config: Config, viaApi: (t: ApiTarget) => Promise<T>, viaDb: (texts: TextReader) => T): Promise<Read<T>> {
  const target = apiTarget(config, process.env);
  let why: string;
  if ('unavailable' in target) why = target.unavailable;
  else {
    try {
      return { value: await viaApi(target), from: 'api' };
    } catch (e) {
      if (!(e instanceof ApiUnavailable)) throw e;
      why = e.message;
    }
  }
  const db = openReadOnly(config.general.database);
  try {
    // The store prepares its UPDATE and DELETE statements too; on this
    // connection running one would fail with SQLITE_READONLY.
    const value = viaDb(createTextStore(db));
    err(`websms: ${why}; read ${config.general.database} directly instead (read-only).`);
    return { value, from: 'db' };
  } finally {
    db.close();
  }
}

/** The daemon's API for a command that changes texts; undefined after saying why it cannot be reached. */
export async function callDaemon<T>(config: Config, name: string, path: string, o: RequestOptions, json: boolean): Promise<{ ok: true; value: T } | { ok: false; code: number }> {
  const target = apiTarget(config, process.env);
  try {
    if ('unavailable' in target) throw new ApiUnavailable(target.unavailable);
    return { ok: true, value: await apiRequest<T>(target, path, o) };
  } catch (e) {
    return { ok: false, code: failure(e, name, json) };
  }
}

const DB_ERROR_CODES: Record<DbUnreadable['kind'], string> = {
  missing: 'no_database',
  older: 'database_too_old',
  newer: 'database_too_new',
  unreadable: 'database',
};

/** Prints what went wrong and what to do; returns the exit code. Rethrows what is not ours. */
export function failure(e: unknown, name: string, json: boolean): number {
  let code: number;
  let errorCode: string;
  let message: string;
  if (e instanceof ApiUnavailable) {
    code = EX_UNAVAILABLE;
    errorCode = 'unavailable';
    message =
      `${e.message}. Nothing was changed: websms ${name} works through the running daemon only, never on the database behind its back. ` +
      'Start it (systemctl start websms, or websms run) and try again; websms doctor says what else is wrong.';
  } else if (e instanceof ApiRefused) {
    errorCode = e.code;
    message = e.reason;
    if (e.status === 401 || e.status === 403) {
      code = EX_NOPERM;
      message = `the daemon refused the API token (${e.reason}): set WEBSMS_API_TOKEN, or [api] token in this configuration, to the daemon's token`;
    } else if (e.status === 404) code = EX_NOINPUT;
    else if (e.status === 400 || e.status === 409 || e.status === 422) code = EX_DATAERR;
    else if (e.status === 503 || e.status === 429) code = EX_TEMPFAIL;
    else code = EX_SOFTWARE;
  } else if (e instanceof DbUnreadable) {
    // 66 whenever the file is not one this websms can read as it is; 74 when reading it failed.
    code = e.kind === 'unreadable' ? EX_IOERR : EX_NOINPUT;
    errorCode = DB_ERROR_CODES[e.kind];
    message = `the daemon is not running, and ${e.message}`;
  } else throw e;
  if (json) printJson({ error: { code: errorCode, reason: message } });
  err(`websms ${name}: ${message}`);
  return code;
}
