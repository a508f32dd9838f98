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
// what it holds fits in memory: about 40 bytes per text received in it.
//
// The database stays the authority. Memory holds only a fingerprint of each
// text's content and its id; a fingerprint that matches is checked against
// the row itself (a primary-key read), so a stale entry (a transaction that
// rolled back, a text purged since) or two texts that share a fingerprint
// never make a new text a duplicate. At start the window is read back from
// the texts stored in it, so a retry that arrives across a restart is still
// found.
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
  /** How many texts the window holds now (about 40 bytes of memory each). */
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

/** 31 bits of the content: FNV-1a over the interface, the addresses and the hash, each ended by a NUL. */
export function fingerprint(k: ContentKey): number {
  let h = 0x811c9dc5;
  for (const s of [k.interface, k.sender, k.recipient, k.hash]) {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 1;
}

/**
 * Texts indexed per fingerprint, the newest. More than one are texts with the
 * same content (only texts with a provider id skip the duplicate check) or,
 * rarely, two contents that share 31 bits: a find answers with the newest
 * matching text, as the query it replaces did, so the older ones of a long
 * run can go, and a run of identical texts (an alert sent every second with
 * its own provider id) costs no more to look up than one. (Were the newest
 * eight purged by hand within the window, a retry of their content would be
 * stored again: the query would have found an older one.)
 */
const MAX_SAME = 8;

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
  // The texts in the order they were written (ids and times ascending,
  // unless the clock stepped back, which only keeps entries longer): a ring
  // of typed arrays, entry k (head <= k < tail) at k & (cap - 1). Typed
  // arrays and the open-addressing index below hold a text in about 40
  // bytes; a Map and plain arrays took 67, which a window of 100,000 texts
  // after a flood turned into megabytes of the daemon's 100 MB.
  let cap = 1024;
  let fps = new Int32Array(cap);
  let ids = new Float64Array(cap);
  let ats = new Float64Array(cap);
  let head = 0;
  let tail = 0;
  // Fingerprint -> ring position + 1 (0: empty), linear probing, at most half full.
  let slots = new Int32Array(2 * cap);
  let loaded = false;

  const row = db.prepare<[number], StoredKey>('SELECT interface, sender, recipient, body_hash, received_at FROM inbound WHERE id = ?');
  const newestFirst = db.prepare<[], { id: number; received_at: number }>('SELECT id, received_at FROM inbound ORDER BY id DESC');
  const oldestFirst = db.prepare<[number], StoredKey & { id: number }>(
    'SELECT id, interface, sender, recipient, body_hash, received_at FROM inbound WHERE id >= ? ORDER BY id',
  );

  const home = (f: number): number => Math.imul(f, 0x9e3779b1) & (slots.length - 1);

  /** Indexes a position; at MAX_SAME texts with its fingerprint it takes the place of the oldest. */
  function index(pos: number): void {
    const m = slots.length - 1;
    const f = fps[pos]!;
    let same = 0;
    let oldest = -1;
    let i = home(f);
    for (; slots[i] !== 0; i = (i + 1) & m) {
      const p = slots[i]! - 1;
      if (fps[p] !== f) continue;
      same++;
      if (oldest < 0 || ids[p]! < ids[slots[oldest]! - 1]!) oldest = i;
    }
    slots[same >= MAX_SAME ? oldest : i] = pos + 1;
  }

  /** Removes a position from the index (if it is still there), moving later entries of its probe run back: no tombstones. */
  function unindex(pos: number): void {
    const m = slots.length - 1;
    let i = home(fps[pos]!);
    while (slots[i] !== pos + 1) {
      if (slots[i] === 0) return;
      i = (i + 1) & m;
    }
    for (let j = (i + 1) & m; slots[j] !== 0; j = (j + 1) & m) {
      const k = home(fps[slots[j]! - 1]!);
      // The entry at j may fill the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? i < k && k <= j : i < k || k <= j) continue;
      slots[i] = slots[j]!;
      i = j;
    }
    slots[i] = 0;
  }

  /** Lays the ring out again in `size` places, oldest first, and rebuilds the index. */
  function resize(size: number): void {
    const n = tail - head;
    const f = new Int32Array(size);
    const d = new Float64Array(size);
    const a = new Float64Array(size);
    for (let k = 0; k < n; k++) {
      const p = (head + k) & (cap - 1);
      f[k] = fps[p]!;
      d[k] = ids[p]!;
      a[k] = ats[p]!;
    }
    [fps, ids, ats, cap, head, tail] = [f, d, a, size, 0, n];
    slots = new Int32Array(2 * size);
    for (let k = 0; k < n; k++) index(k);
  }

  function push(f: number, id: number, at: number): void {
    if (tail - head === cap) resize(2 * cap);
    const p = tail & (cap - 1);
    fps[p] = f;
    ids[p] = id;
    ats[p] = at;
    tail++;
    index(p);
  }

  function evict(now: number): void {
    const cutoff = now - keepMs;
    while (head < tail && ats[head & (cap - 1)]! < cutoff) {
      unindex(head & (cap - 1));
      head++;
    }
    // After a flood the window gives its memory back.
    if (cap > 1024 && (tail - head) * 8 < cap) resize(cap / 2);
  }

  /** The ids of the texts with this fingerprint, newest first. */
  function withFingerprint(f: number): number[] {
    const m = slots.length - 1;
    const found: number[] = [];
    for (let i = home(f); slots[i] !== 0; i = (i + 1) & m) {
      const p = slots[i]! - 1;
      if (fps[p] === f) found.push(ids[p]!);
    }
    return found.length > 1 ? found.sort((x, y) => y - x) : found;
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
    // Two passes instead of one read kept in memory: back from the newest to
    // the oldest text within the window, then forward from there into the ring.
    let from: number | undefined;
    for (const r of newestFirst.iterate()) {
      if (r.received_at < cutoff) break;
      from = r.id;
    }
    if (from === undefined) return;
    for (const r of oldestFirst.iterate(from)) push(fp({ interface: r.interface, sender: r.sender, recipient: r.recipient, hash: r.body_hash }), r.id, r.received_at);
  }

  const same = (r: StoredKey | undefined, k: ContentKey, since: number): boolean =>
    r !== undefined && r.received_at >= since && r.body_hash === k.hash && r.sender === k.sender && r.recipient === k.recipient && r.interface === k.interface;

  return {
    find(k, now, windowMs) {
      if (!loaded) load(now);
      evict(now);
      const since = now - windowMs;
      for (const id of withFingerprint(fp(k))) if (same(row.get(id), k, since)) return id;
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
    held: () => tail - head,
    warm(now) {
      if (!loaded) load(now);
    },
    keep(windowMs) {
      keepMs = Math.max(keepMs, windowMs);
    },
  };
}
