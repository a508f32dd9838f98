// The texts received within the duplicate window, kept in memory for
// duplicate detection ("the same interface, sender, recipient and text again
// within dedup_window is an ITSP retry").
//
// Why not an index: looking a text up by the hash of its body needs an index
// ordered by that hash, and a hash is random. Every stored text then went
// into a different leaf page of that index, so each group commit wrote one
// more 4 KiB page to the WAL per text (and checkpointed it later), where the
// table and its other indexes take one page per twenty texts or more. That
// index was about a third of what storing a text cost (bench/, docs/
// benchmarks.md). The window, though, is short (two minutes by default), so
// what it holds fits in memory: about 70 bytes per text received in it.
//
// The database stays the authority. Memory holds only a fingerprint of each
// text's content and its id; a fingerprint that matches is checked against
// the row itself (a primary-key read), so a stale entry (a transaction that
// rolled back, a text purged since) or two texts that share a fingerprint
// never make a new text a duplicate. At start the window is filled from the
// texts stored in it, newest first by id, so a retry that arrives across a
// restart is still found.
//
// One window per database connection: the webhook's writer and the writer of
// texts joined from parts (store/parts.ts) see each other's texts, as they saw
// each other's rows through the index.

import type { Db } from './db.js';

/** What makes two texts the same, as stored in inbound. */
export interface ContentKey {
  interface: string;
  sender: string;
  recipient: string;
  /** inbound.body_hash: the body's (and media's) hash. */
  hash: string;
}

export interface RecentTexts {
  /** The newest text with this content received within the window before `now`, if there is one. */
  find(key: ContentKey, now: number): number | undefined;
  /** A text just written (in the caller's transaction), received at `at`. */
  add(key: ContentKey, id: number, at: number): void;
  /** How many texts the window holds now (about 70 bytes of memory each). */
  held(): number;
  /** Reads the texts a previous run stored within the window, if not done yet (otherwise the first find or add does). */
  warm(now: number): void;
}

interface StoredKey {
  interface: string;
  sender: string;
  recipient: string;
  body_hash: string;
  received_at: number;
}

/** 30 bits of the content: FNV-1a of the addresses, mixed with 32 bits of the body's hash. */
export function fingerprint(k: ContentKey): number {
  let h = 0x811c9dc5;
  for (const s of [k.interface, k.sender, k.recipient]) {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0, 0x01000193);
  }
  return ((h ^ parseInt(k.hash.slice(0, 8), 16)) >>> 2) | 0;
}

interface Window {
  find(key: ContentKey, now: number, windowMs: number): number | undefined;
  add: RecentTexts['add'];
  held: RecentTexts['held'];
  warm: RecentTexts['warm'];
  keep(windowMs: number): void;
}

const windows = new WeakMap<Db, Window>();

/**
 * The window of this connection as seen by a writer whose window is
 * `windowMs`; texts are kept as long as the longest window of its writers
 * asks. `fp` is for tests that need fingerprints to collide.
 */
export function recentTexts(db: Db, windowMs: number, fp: (k: ContentKey) => number = fingerprint): RecentTexts {
  let w = windows.get(db);
  if (w === undefined) {
    w = createWindow(db, fp);
    windows.set(db, w);
  }
  w.keep(windowMs);
  const { find, add, held, warm } = w;
  return { find: (k, now) => find(k, now, windowMs), add, held, warm };
}

function createWindow(db: Db, fp: (k: ContentKey) => number): Window {
  let keepMs = 0;
  // Texts in the order they were written (ids and times ascending, unless the
  // clock stepped back, which only keeps entries longer); `head` is the oldest.
  const fps: number[] = [];
  const ids: number[] = [];
  const ats: number[] = [];
  let head = 0;
  // fingerprint -> id, or ids oldest first when texts share a fingerprint.
  const byFp = new Map<number, number | number[]>();
  let loaded = false;

  const row = db.prepare<[number], StoredKey>('SELECT interface, sender, recipient, body_hash, received_at FROM inbound WHERE id = ?');
  const newestFirst = db.prepare<[], StoredKey & { id: number }>(
    'SELECT id, interface, sender, recipient, body_hash, received_at FROM inbound ORDER BY id DESC',
  );

  function index(f: number, id: number): void {
    const have = byFp.get(f);
    if (have === undefined) byFp.set(f, id);
    else if (typeof have === 'number') byFp.set(f, [have, id]);
    else have.push(id);
  }

  function unindex(f: number, id: number): void {
    const have = byFp.get(f);
    if (have === id) byFp.delete(f);
    else if (Array.isArray(have)) {
      const rest = have.filter((x) => x !== id);
      if (rest.length === 1) byFp.set(f, rest[0]!);
      else if (rest.length === 0) byFp.delete(f);
      else byFp.set(f, rest);
    }
  }

  function push(f: number, id: number, at: number): void {
    fps.push(f);
    ids.push(id);
    ats.push(at);
    index(f, id);
  }

  function evict(now: number): void {
    const cutoff = now - keepMs;
    while (head < ats.length && ats[head]! < cutoff) {
      unindex(fps[head]!, ids[head]!);
      head++;
    }
    // Drop the evicted entries from the arrays once they are most of them.
    if (head > 4096 && head * 2 > ats.length) {
      fps.splice(0, head);
      ids.splice(0, head);
      ats.splice(0, head);
      head = 0;
    }
  }

  /**
   * The texts a previous run stored within the window: read from the newest
   * back, by id, up to the first one older than the window. Ids follow the
   * order of commits and times the clock; only a clock set back by more than
   * the window between two texts could hide an older one from this, and that
   * one was received longer ago than the window anyway.
   */
  function load(now: number): void {
    loaded = true;
    const cutoff = now - keepMs;
    // Read newest first into the (empty) arrays, then turned around: no row
    // is kept as an object, which for a full window at start (100,000 texts
    // in a flood) would be several times the window's own memory.
    for (const r of newestFirst.iterate()) {
      if (r.received_at < cutoff) break;
      fps.push(fp({ interface: r.interface, sender: r.sender, recipient: r.recipient, hash: r.body_hash }));
      ids.push(r.id);
      ats.push(r.received_at);
    }
    fps.reverse();
    ids.reverse();
    ats.reverse();
    for (let i = 0; i < ids.length; i++) index(fps[i]!, ids[i]!);
  }

  const same = (r: StoredKey | undefined, k: ContentKey, since: number): boolean =>
    r !== undefined && r.received_at >= since && r.body_hash === k.hash && r.sender === k.sender && r.recipient === k.recipient && r.interface === k.interface;

  return {
    find(k, now, windowMs) {
      if (!loaded) load(now);
      evict(now);
      const since = now - windowMs;
      const have = byFp.get(fp(k));
      if (have === undefined) return undefined;
      if (typeof have === 'number') return same(row.get(have), k, since) ? have : undefined;
      for (let i = have.length - 1; i >= 0; i--) if (same(row.get(have[i]!), k, since)) return have[i];
      return undefined;
    },
    add(k, id, at) {
      // The first text of a run written without a find first (it had a
      // provider id): the window is read now, this text with it.
      if (!loaded) return load(at);
      // Texts with a provider id come here without a find: the window must
      // move here as well, or it would only grow.
      evict(at);
      push(fp(k), id, at);
    },
    held: () => ats.length - head,
    warm(now) {
      if (!loaded) load(now);
    },
    keep(windowMs) {
      keepMs = Math.max(keepMs, windowMs);
    },
  };
}
