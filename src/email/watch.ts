// Finds the texts to e-mail, from the store alone, so that nothing is missed
// across restarts and nothing is e-mailed twice (the outbox takes one e-mail
// per text and reason):
//
//   - a text to a user that no phone has taken within [email] unreached_after
//     (queued, being delivered, or waiting for a phone to register);
//   - one the dialplan gave up on (undeliverable, expired), at once;
//   - with [email] copy, every text to (and from) a user;
//   - with [email] failures, every text of a user that finally failed.
//
// The first is a query over the texts still open (an index covers it); the
// others follow the events log and the texts tables through cursors kept in
// the database, starting at their end the first time, so that turning e-mail
// on does not mail the history.

import type { Config, EmailUser } from '../config/types.js';
import type { Logger } from '../log.js';
import type { MediaStore } from '../media/store.js';
import type { Db } from '../store/db.js';
import type { InboundRow } from '../store/inbound.js';
import type { OutboundRow } from '../store/outbound.js';
import { failureEmail, receivedCopyEmail, sentCopyEmail, unreachedEmail, type ComposeContext, type TextEmail } from './compose.js';
import { textRef, type EmailStore } from './store.js';

export interface EmailWatch {
  start(): void;
  stop(): void;
  /** Looks once, now; returns how many e-mails it queued. */
  scan(now?: number): number;
}

/** How often the store is looked at: cheap queries, and the resolution of unreached_after. */
const SCAN_MS = 1000;
/** Rows read per cursor and scan: a backlog is worked off over several scans. */
const BATCH = 200;
/** E-mails queued by one scan at most. */
const MAX_QUEUED = 50;
/** Earlier e-mails of a conversation named in References. */
const REFERENCES = 10;

type CursorName = 'events' | 'in' | 'out';

/** Notices websms texts back to a phone about its own outbound texts: the failure e-mail covers those. */
const isNotice = (row: InboundRow): boolean => row.provider_id?.startsWith('websms-notice:') ?? false;

export function createEmailWatch(deps: {
  db: Db;
  store: EmailStore;
  media: MediaStore;
  config: () => Config;
  /** Replies are read: the e-mails say how to answer. */
  repliesOn: () => boolean;
  log: Logger;
  onQueued: () => void;
  now?: () => number;
}): EmailWatch {
  const { db, store, log } = deps;
  const now = deps.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;

  // Those mailed already are left out here, not by a lookup each: a phone off for a week may leave hundreds waiting.
  const openFor = db.prepare<[string, number, number], InboundRow>(
    `SELECT * FROM inbound i WHERE i.recipient = ? AND i.state IN ('queued', 'sending', 'waiting')
        AND COALESCE(i.retried_at, i.received_at) <= ? AND i.media_due IS NULL
        AND NOT EXISTS (SELECT 1 FROM email_outbox o WHERE o.kind IN ('unreached', 'copy') AND o.ref = 'in-' || i.id)
      ORDER BY i.id LIMIT ?`,
  );
  // events.id is a rowid: only a purge of the very newest events could let an id come again (behind the cursor).
  const eventsAfter = db.prepare<[number, number], { id: number; direction: 'in' | 'out'; text_id: number; kind: string }>(
    `SELECT id, direction, text_id, kind FROM events WHERE id > ? ORDER BY id LIMIT ?`,
  );
  const inboundAfter = db.prepare<[number, number], InboundRow>('SELECT * FROM inbound WHERE id > ? ORDER BY id LIMIT ?');
  const outboundAfter = db.prepare<[number, number], OutboundRow>('SELECT * FROM outbound WHERE id > ? ORDER BY id LIMIT ?');
  const inboundById = db.prepare<[number], InboundRow>('SELECT * FROM inbound WHERE id = ?');
  const outboundById = db.prepare<[number], OutboundRow>('SELECT * FROM outbound WHERE id = ?');
  const maxOf = {
    events: db.prepare<[], { m: number | null }>('SELECT MAX(id) AS m FROM events'),
    in: db.prepare<[], { m: number | null }>('SELECT MAX(id) AS m FROM inbound'),
    out: db.prepare<[], { m: number | null }>('SELECT MAX(id) AS m FROM outbound'),
  };

  /** A cursor's position; the first time, the end of what it follows. */
  function cursor(name: CursorName): number {
    const c = store.cursor(name);
    if (c !== undefined) return c;
    const end = maxOf[name].get()?.m ?? 0;
    store.setCursor(name, end);
    return end;
  }

  /** Written only when it moved: each write is a commit. */
  function move(name: CursorName, from: number, to: number): void {
    if (to !== from) store.setCursor(name, to);
  }

  function context(config: Config, user: EmailUser, remote: string): ComposeContext {
    return {
      email: config.email,
      mediaDir: config.media.directory,
      repliesOn: deps.repliesOn(),
      previous: store.conversation(user.number, remote, user.address, REFERENCES),
    };
  }

  function queue(made: TextEmail, t: number): boolean {
    const id = store.queue(made.email, made.thread, t);
    if (id === undefined) return false;
    log.info({ email: id, kind: made.email.kind, ref: made.email.ref, to: made.email.to }, 'e-mail queued');
    return true;
  }

  /** Whether the user already has this text by e-mail (a copy, or an earlier unreached e-mail). */
  const mailed = (ref: string): boolean => store.has('copy', ref) || store.has('unreached', ref);

  function unreached(row: InboundRow, user: EmailUser, config: Config, t: number): boolean {
    const ref = textRef('in', row.id);
    if (isNotice(row) || mailed(ref)) return false;
    return queue(unreachedEmail(row, user.address, deps.media.itemsOf(row.id), context(config, user, row.sender)), t);
  }

  /**
   * One scan, in one transaction: whatever it queues and however far the
   * cursors move, one commit (one fsync). At most MAX_QUEUED e-mails a scan,
   * so a backlog (a phone off for a week) never holds the event loop long;
   * the rest follow a second later.
   */
  function scanOnce(t: number): number {
    const config = deps.config();
    const e = config.email;
    const users = new Map(e.users.map((u) => [u.number, u]));
    let queued = 0;
    const full = (): boolean => queued >= MAX_QUEUED;
    if (users.size === 0) {
      // Nobody to e-mail: the cursors keep up, so that turning e-mail on later does not mail what happened meanwhile.
      for (const name of ['events', 'in', 'out'] as const) move(name, cursor(name), maxOf[name].get()?.m ?? 0);
      return 0;
    }

    // Texts still open past unreached_after.
    if (e.unreachedAfterMs > 0) {
      for (const user of e.users) {
        for (const row of openFor.all(user.number, t - e.unreachedAfterMs, MAX_QUEUED)) {
          if (full()) break;
          if (unreached(row, user, config, t)) queued++;
        }
      }
    }

    // Outcomes: given up by the dialplan, failed at the ITSP.
    let start = cursor('events');
    let pos = start;
    for (const ev of eventsAfter.all(pos, BATCH)) {
      if (full()) break;
      if (ev.direction === 'in' && (ev.kind === 'undeliverable' || ev.kind === 'expired') && e.unreachedAfterMs > 0) {
        const row = inboundById.get(ev.text_id);
        const user = row && users.get(row.recipient);
        if (row && user && (row.state === 'undeliverable' || row.state === 'expired') && unreached(row, user, config, t)) queued++;
      } else if (ev.direction === 'out' && (ev.kind === 'failed' || ev.kind === 'expired' || ev.kind === 'report') && e.failures) {
        const row = outboundById.get(ev.text_id);
        const user = row && users.get(row.sender);
        if (row && user && (row.state === 'failed' || row.state === 'expired') && !store.has('failure', textRef('out', row.id))) {
          if (queue(failureEmail(row, user.address, context(config, user, row.recipient)), t)) queued++;
        }
      }
      pos = ev.id;
    }
    move('events', start, pos);

    // Copies: a text with pictures is copied once they are fetched (or given up), and the ones after it wait for it.
    start = pos = cursor('in');
    for (const row of inboundAfter.all(pos, BATCH)) {
      if (full()) break;
      const user = e.copy !== 'none' ? users.get(row.recipient) : undefined;
      if (user && !isNotice(row)) {
        if (row.media_due !== null) break;
        if (!store.has('copy', textRef('in', row.id))) {
          if (queue(receivedCopyEmail(row, user.address, deps.media.itemsOf(row.id), context(config, user, row.sender)), t)) queued++;
        }
      }
      pos = row.id;
    }
    move('in', start, pos);
    start = pos = cursor('out');
    for (const row of outboundAfter.all(pos, BATCH)) {
      if (full()) break;
      const user = e.copy === 'all' ? users.get(row.sender) : undefined;
      // A reply the user wrote by e-mail is not mailed back to it.
      if (user && !store.has('copy', textRef('out', row.id)) && !store.isReplyText(row.id)) {
        if (queue(sentCopyEmail(row, user.address, context(config, user, row.recipient)), t)) queued++;
      }
      pos = row.id;
    }
    move('out', start, pos);
    return queued;
  }
  const scanTx = db.transaction(scanOnce);

  function scan(t = now()): number {
    const queued = scanTx(t);
    if (queued > 0) deps.onQueued();
    return queued;
  }

  function tick(): void {
    try {
      scan();
    } catch (err) {
      log.error({ err }, 'looking for texts to e-mail failed; trying again');
    }
    timer = setTimeout(tick, SCAN_MS);
    timer.unref();
  }

  return {
    start() {
      if (timer === undefined) tick();
    },
    stop() {
      clearTimeout(timer);
      timer = undefined;
    },
    scan,
  };
}
