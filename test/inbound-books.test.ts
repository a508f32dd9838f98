// The books of new inbound texts (text counts, conversations, queue heads),
// kept once per commit instead of by insert triggers (db/017): the same state
// as a computation from scratch after batches of every shape, and no file
// that inserts texts without keeping them.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, type Db } from '../src/store/db.js';
import { createInboundStore, createInboundWriter } from '../src/store/inbound.js';
import { inboundBooks } from '../src/store/inbound-books.js';
import { createPartsStore } from '../src/store/parts.js';
import { createTextStore } from '../src/store/texts.js';
import { tempDir } from './helpers/tmp.js';
import { inMsg } from './helpers/texts.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Every file that inserts into inbound keeps the books, unless the insert builds an older schema (a migration test's fixture). */
test('no source, test or benchmark inserts inbound texts without keeping their books', (t) => {
  const files = ['src', 'test', 'bench', 'providers'].flatMap((d) =>
    (fs.readdirSync(path.join(ROOT, d), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => path.join(d, f)),
  );
  let inserts = 0;
  for (const f of files) {
    const lines = fs.readFileSync(path.join(ROOT, f), 'utf8').split('\n');
    const keeps = lines.some((l) => l.includes('inboundBooks(') && !l.includes('export function'));
    lines.forEach((l, i) => {
      if (!/INSERT INTO inbound \(/.test(l)) return;
      inserts++;
      const olderSchema = lines.slice(Math.max(0, i - 8), i).some((x) => x.includes('migrationsUpTo('));
      if (!olderSchema) t.true(keeps, `${f}:${i + 1} inserts into inbound but never calls inboundBooks() (db/017_inbound_books.sql)`);
    });
  }
  t.true(inserts >= 8, `found ${inserts} inserts`);
});

function fromScratch(db: Db) {
  return {
    counts: db.prepare(`SELECT interface, state, COUNT(*) AS n FROM inbound GROUP BY interface, state ORDER BY interface, state`).all(),
    conversations: db.prepare(`SELECT recipient AS local, sender AS remote, MAX(received_at) AS last_at, MAX(id) AS last_in FROM inbound GROUP BY recipient, sender ORDER BY 1, 2`).all(),
    heads: db
      .prepare(
        `SELECT m.recipient, m.sender, m.id AS head_id, CASE WHEN m.state = 'sending' THEN NULL ELSE m.next_attempt_at END AS due
           FROM (SELECT MIN(id) AS id FROM inbound WHERE state IN ('queued', 'sending', 'waiting') GROUP BY recipient, sender) f JOIN inbound m ON m.id = f.id
          ORDER BY 1, 2`,
      )
      .all(),
  };
}

function kept(db: Db) {
  return {
    counts: db.prepare(`SELECT interface, state, n FROM text_counts WHERE direction = 'in' AND n > 0 ORDER BY interface, state`).all(),
    conversations: db.prepare(`SELECT local, remote, last_at, last_in FROM conversations ORDER BY 1, 2`).all(),
    heads: db.prepare(`SELECT recipient, sender, head_id, due FROM inbound_heads ORDER BY 1, 2`).all(),
  };
}

const same = (t: ExecutionContext, db: Db, after: string): boolean => t.deepEqual(kept(db), fromScratch(db), `after ${after}`);

test('batches of every shape leave the books a computation from scratch gives', async (t) => {
  const db = openDatabase(path.join(tempDir(), 'websms.db'));
  const clock = { t: 1_800_000_000_000 };
  const store = createInboundStore(db, { dedupWindowMs: 60_000, now: () => clock.t });
  const texts = createTextStore(db);
  const parts = createPartsStore(db, { write: createInboundWriter(db, { dedupWindowMs: 60_000 }), countParts: () => 1, dedupWindowMs: 60_000, maxBytes: 8000 });
  const A = '+46701000001';
  const B = '+46701000002';
  const alice = '+46812000001';
  const bob = '+46812000002';

  // One batch (one group commit): several conversations, two texts in one of them, two interfaces, a media text (due later).
  const first = await Promise.all([
    store.enqueue(inMsg({ sender: A, recipient: alice, body: 'a1' })),
    store.enqueue(inMsg({ sender: A, recipient: alice, body: 'a2' })),
    store.enqueue(inMsg({ sender: B, recipient: alice, body: 'b1', media: [{ url: 'https://example.com/1.jpg' }] })),
    store.enqueue(inMsg({ sender: A, recipient: bob, body: 'x', interface: 'second' })),
  ]);
  same(t, db, 'a batch of several conversations');

  // The head of A->alice is being delivered; a batch adds behind it, with duplicates of earlier and of its own texts.
  clock.t += 1000;
  t.is(store.claimDue(clock.t, 10).length, 2);
  const again = await Promise.all([
    store.enqueue(inMsg({ sender: A, recipient: alice, body: 'a3' })),
    store.enqueue(inMsg({ sender: A, recipient: alice, body: 'a1' })),
    store.enqueue(inMsg({ sender: A, recipient: alice, body: 'a3' })),
    store.enqueue(inMsg({ sender: B, recipient: bob, body: 'y', providerId: 'P1' })),
    store.enqueue(inMsg({ sender: B, recipient: bob, body: 'y again', providerId: 'P1' })),
  ]);
  t.deepEqual(again.map((r) => r.duplicate), [false, true, true, false, true]);
  same(t, db, 'a batch behind a head being delivered, with duplicates');

  // A batch of duplicates only changes nothing.
  await Promise.all([store.enqueue(inMsg({ sender: A, recipient: alice, body: 'a2' })), store.enqueue(inMsg({ sender: B, recipient: bob, body: 'z', providerId: 'P1' }))]);
  same(t, db, 'a batch of duplicates only');

  // Finished texts, cancelled and retried by hand, then new texts in those conversations.
  t.is(store.partDelivered(first[0]!.id, 1, 'alice', clock.t)?.state, 'delivered');
  texts.cancel('in', again[3]!.id, clock.t);
  texts.retry('in', again[3]!.id, clock.t);
  await store.enqueue(inMsg({ sender: B, recipient: bob, body: 'after the retry' }));
  same(t, db, 'outcomes, a cancel and a retry by hand, and a new text');

  // Texts joined from parts.
  db.transaction(() => {
    parts.add({ interface: 'default', sender: A, recipient: bob, ref: 'r', seq: 1, total: 2, body: 'one ', providerId: undefined, media: [] }, clock.t);
    parts.add({ interface: 'default', sender: A, recipient: bob, ref: 'r', seq: 2, total: 2, body: 'two', providerId: undefined, media: [] }, clock.t);
  })();
  same(t, db, 'a text joined from parts');

  // Rows inserted by hand in any state, with an explicit lower id ahead of a head, booked as db/017 asks.
  const ins = db.prepare(
    `INSERT INTO inbound (id, interface, sender, recipient, body, body_hash, parts, state, next_attempt_at, received_at, updated_at)
     VALUES (?, 'default', ?, ?, 'by hand', 'h', 1, ?, ?, ?, ?)`,
  );
  const books = inboundBooks(db);
  db.transaction(() => {
    ins.run(1000, B, alice, 'delivered', clock.t, clock.t, clock.t);
    ins.run(1001, B, alice, 'waiting', clock.t + 5000, clock.t, clock.t);
    ins.run(1002, '+46701000009', alice, 'sending', clock.t, clock.t, clock.t);
    books(1000, 1002);
  })();
  same(t, db, 'rows inserted by hand and booked');

  // Expiry and purge keep theirs through their triggers, as before. (A purge
  // leaves a conversation's newest text as it was, by 011's design: only the
  // counts and heads are compared.)
  clock.t += 3_600_000;
  store.expireOlderThan(clock.t - 60_000, clock.t);
  texts.purge(clock.t + 1);
  const { conversations: _k, ...keptNow } = kept(db);
  const { conversations: _s, ...scratchNow } = fromScratch(db);
  t.deepEqual(keptNow, scratchNow, 'after expiry and purge');
  db.close();
});

test('the books read only the new rows, by primary key', (t) => {
  const db = openDatabase(':memory:');
  const src = fs.readFileSync(path.join(ROOT, 'src', 'store', 'inbound-books.ts'), 'utf8');
  const statements = [...src.matchAll(/`(INSERT INTO [\s\S]*?)`/g)].map((m) => m[1]!);
  t.is(statements.length, 3);
  for (const sql of statements) {
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(1, 2) as Array<{ detail: string }>).map((r) => r.detail);
    t.false(plan.some((l) => /^SCAN (m|inbound)\b/.test(l)), plan.join(' | '));
    t.true(plan.some((l) => /SEARCH inbound USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/.test(l)), plan.join(' | '));
  }
  db.close();
});

test('a batch whose transaction fails leaves neither texts nor books', (t) => {
  const db = openDatabase(path.join(tempDir(), 'websms.db'));
  const write = createInboundWriter(db, { dedupWindowMs: 60_000 });
  db.transaction(() => write([inMsg({ body: 'kept' })], 1000))();
  const failing = db.transaction(() => {
    write([inMsg({ body: 'lost' }), inMsg({ sender: '+46709999999', body: 'lost too' })], 2000);
    throw new Error('disk full');
  });
  t.throws(() => failing(), { message: 'disk full' });
  t.is((db.prepare('SELECT COUNT(*) AS n FROM inbound').get() as { n: number }).n, 1);
  same(t, db, 'a failed batch');
  t.deepEqual(kept(db).heads, [{ recipient: '+46812345678', sender: '+46701234567', head_id: 1, due: 1000 }]);
  db.close();
});

test('books are kept only in the transaction that inserted the texts', (t) => {
  const db = openDatabase(path.join(tempDir(), 'websms.db'));
  t.throws(() => inboundBooks(db)(1, 1), { message: /transaction/ });
  db.close();
});
