// Fetches the media of inbound texts, a few at a time, with retries, and
// settles each text once its media are all fetched or given up: the links
// (or notes) are fixed in the store and the text falls due for delivery.
//
// A text never waits longer than [media] max_hold: the store made it due at
// that time (src/store/inbound.ts), and the deliverer, taking it, calls
// settle(), which gives up what is still missing. Nothing here can hold a text
// back; a fetch that ends after that only has its file removed.

import crypto from 'node:crypto';
import { splitForDelivery } from '../asterisk/encode.js';
import { retryDelay } from '../backoff.js';
import { formatDuration } from '../config/duration.js';
import type { Config, InterfaceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import { createEventLog } from '../store/events.js';
import type { InboundRow, InboundStore } from '../store/inbound.js';
import { fetchableAddress, type AddressCheck } from './address.js';
import { fetchMedia, type FetchOutcome } from './download.js';
import { createMediaFile, ensureMediaDir, removeMediaFile } from './files.js';
import { mediaNote, mediaSummary } from './note.js';
import type { DueMedia, MediaStore } from './store.js';

export interface MediaWorker {
  start(): void;
  /** Aborts the fetches under way (their items stay pending for the next start) and waits for them. */
  stop(): Promise<void>;
  /** A text with media was stored: look for work now. */
  kick(): void;
  /**
   * For the deliverer, taking a text whose media are not settled (its hold
   * time is over): what is still missing is given up, and the row comes back
   * with its links and notes.
   */
  settle(row: InboundRow, now: number): InboundRow;
  inFlight(): number;
}

export interface MediaWorkerDeps {
  db: Db;
  store: InboundStore;
  media: MediaStore;
  /** Read at each use, so a reload's new limits and credentials apply to the next fetch. */
  config: () => Config;
  log: Logger;
  /** A text's media are settled: it is due now. */
  onReady: (inboundId: number) => void;
  now?: () => number;
  /** Fetches at once. */
  concurrency?: number;
}

/** 192 bits, URL-safe: the only thing that stands between a link and whoever guesses it. */
export const newToken = (): string => crypto.randomBytes(24).toString('base64url');

const IDLE_RESCAN_MS = 60_000;

export function createMediaWorker(deps: MediaWorkerDeps): MediaWorker {
  const { db, store, media, log } = deps;
  const now = deps.now ?? Date.now;
  const concurrency = deps.concurrency ?? 4;
  const events = createEventLog(db);
  const active = new Map<number, { inboundId: number; ctl: AbortController; done: Promise<void> }>();
  let running = false;
  let timer: NodeJS.Timeout | undefined;

  /** Fixes the text's links and notes; false when they were fixed already. */
  const seal = db.transaction((inboundId: number, t: number, giveUp?: string): boolean => {
    const row = store.get(inboundId);
    if (!row || row.media_due === null) return false;
    if (giveUp !== undefined) media.failPending(inboundId, giveUp, t);
    const cfg = deps.config();
    const items = media.itemsOf(inboundId);
    const body = row.body ?? '';
    const note = mediaNote(body, items, cfg.media.publicUrl);
    const parts = splitForDelivery(body + note, cfg.ami.partBytes).length;
    if (!store.mediaSettled(inboundId, note, parts, t)) return false;
    events.add('in', inboundId, t, 'media', mediaSummary(items));
    return true;
  });

  function scan(): void {
    if (!running) return;
    // One instant for both questions, what is due and what falls due next: an
    // item falling due between two readings of the clock would be in neither
    // answer and wait for the idle rescan, a minute. On a busy machine the
    // clock often ticks between two queries, and a timer may run a
    // millisecond before Date.now() reaches its time.
    const t = now();
    try {
      const free = concurrency - active.size;
      if (free > 0) {
        // In-flight items are still pending: ask for enough to find `free` others.
        for (const item of media.due(t, free + active.size)) {
          if (active.size >= concurrency) break;
          if (!active.has(item.id)) begin(item);
        }
      }
    } catch (err) {
      log.error({ err }, 'media scan failed');
    }
    arm(t);
  }

  /**
   * Each fetch's end scans again; the timer is for retries falling due after
   * `t` (the instant the scan asked at) and for safety.
   */
  function arm(t: number): void {
    clearTimeout(timer);
    if (!running) return;
    let next: number | undefined;
    try {
      next = media.nextDueAt(t);
    } catch {
      next = undefined;
    }
    // Measured from now, not from t: if it fell due meanwhile, the next scan comes at once.
    const wait = next === undefined ? IDLE_RESCAN_MS : Math.min(IDLE_RESCAN_MS, Math.max(1, next - now()));
    timer = setTimeout(scan, wait);
    timer.unref();
  }

  function begin(item: DueMedia): void {
    const ctl = new AbortController();
    const done = (async () => {
      let outcome: FetchOutcome;
      try {
        outcome = await fetchOne(item, ctl.signal);
      } catch (err) {
        outcome = { kind: 'retry', reason: `internal error: ${(err as Error).message}` };
      }
      active.delete(item.id);
      if (outcome.kind === 'stopped') return;
      try {
        await record(item, outcome);
      } catch (err) {
        log.error({ err, media: item.id, id: item.inbound_id }, 'could not record a media fetch; it is tried again');
      }
      setImmediate(scan);
    })();
    active.set(item.id, { inboundId: item.inbound_id, ctl, done });
  }

  // One check per [media] fetch_allow list (a reload brings a new one).
  let checked: { allow: readonly string[]; check: AddressCheck } | undefined;
  function addressCheck(allow: readonly string[]): AddressCheck {
    if (checked?.allow !== allow) checked = { allow, check: fetchableAddress(allow) };
    return checked.check;
  }

  function fetchOne(item: DueMedia, signal: AbortSignal): Promise<FetchOutcome> {
    const cfg = deps.config();
    const m = cfg.media;
    if (m.publicUrl === '') return Promise.resolve({ kind: 'failed', reason: '[media] public_url is not set, so a picture cannot be linked' });
    let authorization: { header: string; origins: string[] } | undefined;
    if (item.auth !== 'none') {
      const iface = cfg.interfaces.find((i) => i.name === item.interface);
      const creds = iface ? credentials(iface, item.auth) : `the interface ${item.interface} is no longer configured`;
      if (typeof creds === 'string') return Promise.resolve({ kind: 'failed', reason: creds });
      authorization = creds;
    }
    log.debug({ media: item.id, id: item.inbound_id, attempt: item.attempts + 1 }, 'fetching media');
    return fetchMedia({
      url: item.url,
      announcedType: item.announced_type,
      authorization,
      addresses: addressCheck(m.fetchAllow),
      maxBytes: m.maxBytes,
      types: m.types,
      timeoutMs: m.fetchTimeoutMs,
      signal,
      open: () => createMediaFile(m.directory, item.id),
    });
  }

  async function record(item: DueMedia, outcome: Exclude<FetchOutcome, { kind: 'stopped' }>): Promise<void> {
    const m = deps.config().media;
    const t = now();
    const ids = { media: item.id, id: item.inbound_id, seq: item.seq };
    if (outcome.kind === 'stored') {
      const kept = media.stored(item.id, { token: newToken(), contentType: outcome.contentType, size: outcome.size, file: outcome.file }, t);
      if (!kept) {
        // Its text went ahead without it (hold time over, or cancelled).
        await removeMediaFile(m.directory, outcome.file);
        log.info(ids, 'media fetched after its text went ahead without it; discarded');
        return;
      }
      log.info({ ...ids, type: outcome.contentType, bytes: outcome.size }, 'media fetched');
    } else {
      const attempts = item.attempts + 1;
      const at = t + retryDelay(attempts, m.retryMinMs, m.retryMaxMs);
      if (outcome.kind === 'retry' && attempts < m.attempts && at < item.media_due) {
        media.retryAt(item.id, outcome.reason, at, t);
        log.info({ ...ids, attempt: attempts, reason: outcome.reason, retryAt: new Date(at).toISOString() }, 'media not fetched; will try again');
        return;
      }
      media.failed(item.id, outcome.reason, t);
      log.warn({ ...ids, attempts, reason: outcome.reason }, 'media could not be fetched; the text says so');
    }
    if (media.pendingOf(item.inbound_id) === 0 && seal(item.inbound_id, t)) {
      log.info({ id: item.inbound_id }, 'media settled; text goes on');
      deps.onReady(item.inbound_id);
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      const dir = deps.config().media.directory;
      try {
        ensureMediaDir(dir);
      } catch (err) {
        // Texts still go through; their pictures are noted as not fetched until this is fixed.
        log.error({ reason: (err as Error).message }, 'media directory unusable; pictures cannot be kept');
      }
      scan();
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      const under = [...active.values()];
      for (const a of under) a.ctl.abort();
      await Promise.all(under.map((a) => a.done));
    },
    kick() {
      if (running) setImmediate(scan);
    },
    settle(row, t) {
      if (row.media_due === null) return row;
      const hold = deps.config().media.maxHoldMs;
      try {
        if (seal(row.id, t, `not fetched within [media] max_hold (${formatDuration(hold)})`)) {
          log.warn({ id: row.id }, 'media not all fetched within [media] max_hold; the text goes on with a note for each one missing');
        }
      } catch (err) {
        log.error({ err, id: row.id }, 'could not settle the media of a text; it goes on without its links');
        return row;
      }
      // Fetches of its items still under way are of no use now.
      for (const a of active.values()) if (a.inboundId === row.id) a.ctl.abort();
      return store.get(row.id) ?? row;
    },
    inFlight: () => active.size,
  };
}

/** The Authorization header for a media URL of this interface, or why there is none. */
function credentials(iface: InterfaceConfig, auth: 'basic' | 'bearer'): { header: string; origins: string[] } | string {
  const origins = [iface.send.url, iface.apiUrl].filter((u) => u !== '').map((u) => new URL(u).origin);
  if (origins.length === 0) return `it needs the credentials of interface ${iface.name}, which has no send_url or api_url to tell where they may go`;
  if (auth === 'basic') {
    const user = iface.send.username || iface.account;
    const pass = iface.send.password || iface.secret;
    if (user === '' || pass === '') return `it needs the send credentials of interface ${iface.name} (send_username and send_password), which are not set`;
    return { header: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`, origins };
  }
  const token = iface.send.bearer || iface.secret;
  if (token === '') return `it needs the bearer token of interface ${iface.name} (send_bearer), which is not set`;
  return { header: `Bearer ${token}`, origins };
}
