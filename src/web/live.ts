// Live updates for open pages, as server-sent events: "change" whenever a
// text arrives, is queued, changes state or gets an event, so the page
// fetches what it shows again without a reload.
//
// What changed is read from the database, not gathered from every part of
// the daemon: a fingerprint of a few rows (the newest event, the id counters,
// the per-state counts in text_counts) taken once a second while a page is
// open. That sees every writer and costs a few index lookups; with no page
// open, nothing runs.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Db } from '../store/db.js';
import type { Logger } from '../log.js';

const FINGERPRINT_SQL = `SELECT
  (SELECT max(id) FROM events) AS events,
  (SELECT group_concat(name || '=' || seq) FROM sqlite_sequence WHERE name IN ('inbound', 'outbound', 'media')) AS ids,
  (SELECT group_concat(direction || interface || state || '=' || n) FROM text_counts) AS counts`;

/** A comment line now and then keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 25_000;
const MAX_STREAMS = 32;

export interface LiveFeed {
  /** Takes a GET of the event stream (the caller has checked the session). */
  stream(req: IncomingMessage, res: ServerResponse, stillSignedIn: () => boolean): void;
  /** Something changed that the fingerprint does not show (a read marker): tell the pages now. */
  poke(): void;
  streams(): number;
  close(): void;
}

export function createLiveFeed(deps: { db: Db; log: Logger; intervalMs?: number }): LiveFeed {
  const fingerprint = deps.db.prepare<[], { events: number | null; ids: string | null; counts: string | null }>(FINGERPRINT_SQL);
  const open = new Map<ServerResponse, () => boolean>();
  let last = '';
  let timer: NodeJS.Timeout | undefined;
  let keepalive: NodeJS.Timeout | undefined;

  const send = (event: string, data: unknown): void => {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const [res, signedIn] of open) {
      if (!signedIn()) {
        open.delete(res);
        res.end('event: signed-out\ndata: {}\n\n');
        continue;
      }
      res.write(frame);
    }
  };
  const read = (): string => {
    const f = fingerprint.get()!;
    return `${f.events ?? 0}|${f.ids ?? ''}|${f.counts ?? ''}`;
  };
  const check = (): void => {
    let now: string;
    try {
      now = read();
    } catch (err) {
      deps.log.warn({ err }, 'live updates: cannot read the database; trying again');
      return;
    }
    if (now === last) return;
    last = now;
    send('change', { at: new Date().toISOString() });
  };
  const start = (): void => {
    if (timer) return;
    last = read();
    timer = setInterval(check, deps.intervalMs ?? 1000);
    keepalive = setInterval(() => {
      for (const res of open.keys()) if (!res.writableEnded) res.write(': still here\n\n');
    }, KEEPALIVE_MS);
    timer.unref();
    keepalive.unref();
  };
  const stopIfIdle = (): void => {
    if (open.size > 0) return;
    clearInterval(timer);
    clearInterval(keepalive);
    timer = undefined;
    keepalive = undefined;
  };

  return {
    stream(req, res, stillSignedIn) {
      if (open.size >= MAX_STREAMS) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '30' }).end('too many open pages\n');
        return;
      }
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        // nginx buffers responses unless told otherwise; events must not wait.
        'x-accel-buffering': 'no',
      });
      res.write('retry: 3000\n\n');
      start();
      open.set(res, stillSignedIn);
      const done = (): void => {
        open.delete(res);
        stopIfIdle();
      };
      req.on('close', done);
      res.on('close', done);
    },
    poke: () => {
      if (open.size === 0) return;
      last = '';
      check();
    },
    streams: () => open.size,
    close() {
      for (const res of open.keys()) res.end();
      open.clear();
      stopIfIdle();
    },
  };
}
