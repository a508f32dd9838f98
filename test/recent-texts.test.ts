// Duplicate detection by content, kept in memory for the window
// (src/store/recent-texts.ts): across a restart, a rollback, a purge, shared
// fingerprints and the two writers of one database.
import test from 'ava';
import path from 'node:path';
import { openDatabase, type Db } from '../src/store/db.js';
import { createInboundStore, createInboundWriter, type EnqueueResult, type InboundWriter, type NewInbound } from '../src/store/inbound.js';
import { recentTexts } from '../src/store/recent-texts.js';
import { tempDir } from './helpers/tmp.js';
import { inMsg as msg } from './helpers/texts.js';

const WINDOW = 60_000;

function dbFile(): string {
  return path.join(tempDir(), 'websms.db');
}

/** One text through the writer, in a transaction of its own (as one group commit holding it). */
const writeOne = (db: Db, write: InboundWriter, m: NewInbound, at: number): EnqueueResult => db.transaction(() => write([m], at)[0]!)();

const texts = (db: Db): number => (db.prepare('SELECT COUNT(*) AS n FROM inbound').get() as { n: number }).n;

test('the schema has no index on the body hash: a new text is not put in a random page', (t) => {
  const db = openDatabase(dbFile());
  const indexes = db.prepare(`SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inbound' AND sql IS NOT NULL`).all() as Array<{ sql: string }>;
  t.true(indexes.length > 0);
  for (const { sql } of indexes) t.notRegex(sql, /body_hash/);
  db.close();
});

test('a retry that arrives after a restart is still a duplicate; one outside the window is a new text', async (t) => {
  const file = dbFile();
  let clock = 5_000_000;
  const first = openDatabase(file);
  const before = createInboundStore(first, { dedupWindowMs: WINDOW, now: () => clock });
  const old = await before.enqueue(msg({ body: 'long ago' }));
  clock += 2 * WINDOW;
  const a = await before.enqueue(msg({ body: 'before the restart' }));
  first.close();

  clock += WINDOW - 1;
  const db = openDatabase(file);
  const store = createInboundStore(db, { dedupWindowMs: WINDOW, now: () => clock });
  const again = await store.enqueue(msg({ body: 'before the restart' }));
  t.deepEqual(again, { id: a.id, duplicate: true });
  const late = await store.enqueue(msg({ body: 'long ago' }));
  t.false(late.duplicate);
  t.not(late.id, old.id);
  t.is(texts(db), 3);
  db.close();
});

test('a text whose transaction rolled back is not a duplicate of anything, even when its id is used again', (t) => {
  const db = openDatabase(dbFile());
  const write = createInboundWriter(db, { dedupWindowMs: WINDOW });
  const failing = db.transaction(() => {
    write([msg({ body: 'rolled back' })], 1000);
    throw new Error('disk full');
  });
  t.throws(() => failing(), { message: 'disk full' });
  const other = writeOne(db, write, msg({ body: 'in its place' }), 1001);
  const retry = writeOne(db, write, msg({ body: 'rolled back' }), 1002);
  t.false(other.duplicate);
  t.false(retry.duplicate);
  t.not(retry.id, other.id);
  t.is(texts(db), 2);
  db.close();
});

test('a text purged within the window is not a duplicate any more', (t) => {
  const db = openDatabase(dbFile());
  const write = createInboundWriter(db, { dedupWindowMs: WINDOW });
  const a = writeOne(db, write, msg(), 1000);
  db.prepare('DELETE FROM inbound WHERE id = ?').run(a.id);
  const b = writeOne(db, write, msg(), 1001);
  t.false(b.duplicate);
  db.close();
});

test('texts that share a fingerprint are told apart by their rows: sender, recipient, interface and body each count', (t) => {
  const db = openDatabase(dbFile());
  recentTexts(db, WINDOW, () => 7); // every text the same fingerprint
  const write = createInboundWriter(db, { dedupWindowMs: WINDOW });
  const w = (over: Parameters<typeof msg>[0], at: number) => writeOne(db, write, msg(over), at);
  const a = w({}, 1000);
  const others = [w({ body: 'other' }, 1001), w({ sender: '+46709999999' }, 1002), w({ recipient: '+46812345679' }, 1003), w({ interface: 'second' }, 1004)];
  t.false(a.duplicate);
  for (const o of others) t.false(o.duplicate);
  t.deepEqual(w({}, 1005), { id: a.id, duplicate: true });
  t.deepEqual(w({ body: 'other' }, 1006), { id: others[0]!.id, duplicate: true });
  t.deepEqual(w({ interface: 'second' }, 1007), { id: others[3]!.id, duplicate: true });
  // Past the window the entries go, and the same content is a new text.
  const later = w({}, 1000 + WINDOW + 1);
  t.false(later.duplicate);
  t.deepEqual(w({}, 1000 + WINDOW + 2), { id: later.id, duplicate: true });
  db.close();
});

test("the webhook's writer and the writer of texts joined from parts see each other's texts", (t) => {
  const db = openDatabase(dbFile());
  const webhooks = createInboundWriter(db, { dedupWindowMs: WINDOW });
  const joined = createInboundWriter(db, { dedupWindowMs: WINDOW });
  const a = writeOne(db, joined, msg({ body: 'joined from three parts' }), 1000);
  t.deepEqual(writeOne(db, webhooks, msg({ body: 'joined from three parts' }), 2000), { id: a.id, duplicate: true });
  db.close();
});

test('the window holds as long as the longest window of its writers; each writer looks back its own', (t) => {
  const db = openDatabase(dbFile());
  const short = createInboundWriter(db, { dedupWindowMs: 1000 });
  const long = createInboundWriter(db, { dedupWindowMs: WINDOW });
  const a = writeOne(db, short, msg(), 1000);
  t.false(writeOne(db, short, msg(), 2001).duplicate, 'the short writer: a new text after 1 s');
  t.deepEqual(writeOne(db, long, msg(), 3000), { id: a.id + 1, duplicate: true });
  db.close();
});

test('texts with provider ids are held too, the first of a run once, and leave the window with their time', (t) => {
  const db = openDatabase(dbFile());
  const recent = recentTexts(db, WINDOW, () => 7);
  const write = createInboundWriter(db, { dedupWindowMs: WINDOW });
  const w = (over: Parameters<typeof msg>[0], at: number) => writeOne(db, write, msg(over), at);
  const first = w({ providerId: 'P1' }, 1000);
  t.is(recent.held(), 1);
  // Same content, no provider id: a duplicate of the first.
  t.deepEqual(w({}, 1001), { id: first.id, duplicate: true });
  for (let i = 2; i <= 5; i++) w({ providerId: `P${i}`, body: `t${i}` }, 1000 + i);
  t.is(recent.held(), 5);
  // Long after, a text with a provider id: the others leave the window.
  t.false(w({ providerId: 'P9', body: 'late' }, 1000 + 3 * WINDOW).duplicate);
  t.is(recent.held(), 1);
  t.false(w({}, 1001 + 3 * WINDOW).duplicate);
  t.is(recent.held(), 2);
  db.close();
});

test('a store reads the window of the previous run when it is made, before any text comes', async (t) => {
  const file = dbFile();
  const first = openDatabase(file);
  await createInboundStore(first, { dedupWindowMs: WINDOW, now: () => 1000 }).enqueue(msg());
  first.close();
  const db = openDatabase(file);
  createInboundStore(db, { dedupWindowMs: WINDOW, now: () => 2000 });
  t.is(recentTexts(db, WINDOW).held(), 1);
  db.close();
});

test('a run of identical texts (each with its own provider id) is looked up as fast as one, and a retry is a duplicate of the newest', (t) => {
  const db = openDatabase(dbFile());
  const recent = recentTexts(db, WINDOW);
  const write = createInboundWriter(db, { dedupWindowMs: WINDOW });
  const w = (over: Parameters<typeof msg>[0], at: number) => writeOne(db, write, msg(over), at);
  let newest = 0;
  for (let i = 0; i < 5000; i++) newest = w({ body: 'server down', providerId: `A${i}` }, 1000 + i).id;
  t.is(recent.held(), 5000);
  t.deepEqual(w({ body: 'server down' }, 7000), { id: newest, duplicate: true });
  // The window moves on and gives its memory back.
  t.false(w({ body: 'later' }, 7000 + WINDOW).duplicate);
  t.is(recent.held(), 1);
  db.close();
});
