// The store side of the management API: migration 004 over real data, paging
// across both directions, retry, cancel, purge, body removal, and the queues
// treating a cancelled text as finished.
import test from 'ava';
import path from 'node:path';
import Database from 'better-sqlite3';
import { TextError } from '../src/errors.js';
import { openDatabase } from '../src/store/db.js';
import { inboundBooks } from '../src/store/inbound-books.js';
import { createInboundStore } from '../src/store/inbound.js';
import { createOutboundStore } from '../src/store/outbound.js';
import { createTextStore, decodeCursor, encodeCursor, parseTextId, type TextRecord } from '../src/store/texts.js';
import { createHousekeeping } from '../src/store/housekeeping.js';
import { migrationsUpTo } from './helpers/db.js';
import { tempDir } from './helpers/tmp.js';
import { inMsg, outMsg } from './helpers/texts.js';


function open(clock = { t: 1_700_000_000_000 }) {
  const file = path.join(tempDir(), 'var', 'websms.db');
  const db = openDatabase(file);
  const now = () => clock.t;
  return {
    db,
    file,
    clock,
    inbound: createInboundStore(db, { dedupWindowMs: 0, now }),
    outbound: createOutboundStore(db, { now }),
    texts: createTextStore(db),
    housekeeping: createHousekeeping(db),
  };
}

test('migration 004 keeps every row and the id counter, recreates every index, allows cancelled and NULL bodies', (t) => {
  // A database as version 3 left it, with data in it.
  const file = path.join(tempDir(), 'websms.db');
  const v3 = openDatabase(file, migrationsUpTo(3));
  t.is(v3.pragma('user_version', { simple: true }), 3);
  const ins = v3.prepare(
    `INSERT INTO inbound (interface, provider_id, sender, recipient, body, body_hash, parts, parts_done, state, attempts, next_attempt_at, received_at, updated_at, endpoint, reason)
     VALUES ('default', ?, '+46701234567', '+46812345678', ?, 'h', 2, 1, ?, 3, 10, 20, 30, 'alice', ?)`,
  );
  ins.run('p1', 'first', 'waiting', 'no registered phone');
  ins.run(null, 'second', 'delivered', null);
  ins.run(null, 'third, deleted', 'delivered', null);
  v3.prepare('DELETE FROM inbound WHERE id = 3').run();
  v3.prepare(
    `INSERT INTO outbound (interface, origin, sender, recipient, body, encoding, segments, state, attempts, next_attempt_at, created_at, updated_at, provider_id, reason, notified)
     VALUES ('backup', 'itsp', '+46812345678', '+12025550160', 'out body', 'UCS-2', 2, 'sent', 4, 5, 6, 7, 'SM1', NULL, 'sent')`,
  ).run();
  // outbound_unconfirmed comes with 015 (hand-offs not yet confirmed), after 004.
  const indexes = (db: Database.Database) =>
    db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('inbound', 'outbound') AND sql IS NOT NULL AND name <> 'outbound_unconfirmed' ORDER BY name`).all();
  const before = { inbound: v3.prepare('SELECT * FROM inbound ORDER BY id').all(), outbound: v3.prepare('SELECT * FROM outbound ORDER BY id').all(), indexes: indexes(v3) };
  v3.close();

  const db = openDatabase(file);
  // 004 and every migration after it.
  t.true((db.pragma('user_version', { simple: true }) as number) >= 4);
  const strip = (rows: unknown[]) => rows.map((r) => {
    // Columns added by later migrations: 004's retried_at, 006's media columns (outbound has none), 015's handoff (outbound).
    const { retried_at, media_due, media_note, handoff, ...rest } = r as Record<string, unknown>;
    t.is(retried_at, null);
    t.is(handoff ?? null, null);
    t.is(media_due ?? null, null);
    t.is(media_note ?? null, null);
    return rest;
  });
  t.deepEqual(strip(db.prepare('SELECT * FROM inbound ORDER BY id').all()), before.inbound);
  t.deepEqual(strip(db.prepare('SELECT * FROM outbound ORDER BY id').all()), before.outbound);
  // Later migrations add indexes (011: one conversation's texts, for the web page)
  // and drop those of the old queue queries (013: the queues read their heads since)
  // and of duplicate detection (016: the duplicate window is kept in memory).
  const later = new Set(['inbound_thread', 'outbound_thread']);
  const dropped = ['inbound_due', 'outbound_due', 'inbound_dedup'];
  t.deepEqual(
    indexes(db).filter((i) => !later.has((i as { name: string }).name)),
    before.indexes.filter((i) => !dropped.includes((i as { name: string }).name)),
    'the same indexes, defined the same way',
  );
  t.deepEqual(db.pragma('foreign_key_check'), []);
  t.is(db.pragma('integrity_check', { simple: true }), 'ok');

  // Ids are never reused: the deleted row 3 stays unused.
  const store = createInboundStore(db, { dedupWindowMs: 0 });
  const next = db.transaction(() => {
    const r = db.prepare(
      `INSERT INTO inbound (interface, sender, recipient, body, body_hash, parts, state, next_attempt_at, received_at, updated_at)
       VALUES ('default', 'a', 'b', NULL, 'h', 1, 'cancelled', 1, 1, 1)`,
    ).run();
    inboundBooks(db)(Number(r.lastInsertRowid), Number(r.lastInsertRowid));
    return r;
  })();
  t.is(Number(next.lastInsertRowid), 4);
  t.is(store.get(4)?.state, 'cancelled');
  t.is(store.get(4)?.body, null);
  t.throws(() => db.prepare(`UPDATE outbound SET state = 'bogus'`).run(), { any: true, message: /CHECK constraint/ });
  db.close();
});

test('listing pages through both directions newest first, every text exactly once', async (t) => {
  const s = open();
  const made: string[] = [];
  for (let i = 0; i < 7; i++) {
    s.clock.t += 1000;
    if (i % 3 === 0) made.push(`in-${(await s.inbound.enqueue(inMsg({ body: `in ${i}` }))).id}`);
    else made.push(`out-${await s.outbound.enqueue(outMsg({ body: `out ${i}` }))}`);
  }
  const seen: TextRecord[] = [];
  let cursor;
  let pages = 0;
  do {
    const page = s.texts.list({ limit: 3, cursor });
    seen.push(...page.texts);
    cursor = page.next ?? undefined;
    if (cursor) t.deepEqual(decodeCursor(encodeCursor(cursor)), cursor);
    pages++;
  } while (cursor && pages < 10);
  t.is(pages, 3);
  t.deepEqual(seen.map((r) => `${r.direction}-${r.rowId}`), [...made].reverse());
  const times = seen.map((r) => r.createdAt);
  t.deepEqual(times, [...times].sort((a, b) => b - a));

  // Filters: direction, number (either side), a body search with LIKE's own characters taken literally, time.
  t.deepEqual(s.texts.list({ limit: 50, direction: 'in' }).texts.map((r) => r.rowId), [3, 2, 1]);
  t.is(s.texts.list({ limit: 50, number: '+12025550160' }).texts.length, 4);
  t.is(s.texts.list({ limit: 50, number: '+46701234567' }).texts.length, 3);
  t.deepEqual(s.texts.list({ limit: 50, q: 'OUT 5' }).texts.map((r) => r.body), ['out 5']);
  t.is(s.texts.list({ limit: 50, q: '%' }).texts.length, 0);
  const mid = seen[3]!.createdAt;
  t.true(s.texts.list({ limit: 50, since: mid }).texts.every((r) => r.createdAt >= mid));
  t.is(s.texts.list({ limit: 50, since: mid }).texts.length + s.texts.list({ limit: 50, until: mid }).texts.length, 7);
  t.is(decodeCursor('bm90IGpzb24'), undefined);
  t.deepEqual(parseTextId('out-12'), { direction: 'out', rowId: 12 });
  t.is(parseTextId('out-012'), undefined);
  t.is(parseTextId('sideways-1'), undefined);
});

test('a cancelled outbound text is never picked, and does not hold back the next of its conversation', async (t) => {
  const s = open();
  const a = await s.outbound.enqueue(outMsg({ body: 'a' }));
  const b = await s.outbound.enqueue(outMsg({ body: 'b' }));
  const c = await s.outbound.enqueue(outMsg({ body: 'c' }));
  t.deepEqual(s.outbound.due(s.clock.t, 10).map((r) => r.id), [a], 'b and c wait behind a');
  // b is cancelled while it waits behind a.
  t.is(s.texts.cancel('out', b, s.clock.t).state, 'cancelled');
  t.deepEqual(s.outbound.due(s.clock.t, 10).map((r) => r.id), [a]);
  t.deepEqual([...s.outbound.markSending([a], s.clock.t)], [a]);
  s.outbound.sent(a, 'SM1', s.clock.t);
  t.deepEqual(s.outbound.due(s.clock.t, 10).map((r) => r.id), [c], 'c goes next; b never');
  t.deepEqual([...s.outbound.markSending([b], s.clock.t)], [], 'marking a cancelled text sending does nothing');
  t.is(s.outbound.get(b)!.state, 'cancelled');
  // Cancelling the first of a conversation lets the next go.
  const d = await s.outbound.enqueue(outMsg({ recipient: '+12025550161' }));
  const e = await s.outbound.enqueue(outMsg({ recipient: '+12025550161' }));
  s.texts.cancel('out', d, s.clock.t);
  t.true(s.outbound.due(s.clock.t, 10).some((r) => r.id === e));
  t.deepEqual(s.texts.events('out', b).map((ev) => ev.kind), ['cancelled']);
  t.deepEqual(s.texts.events('out', a).map((ev) => ev.kind), ['attempt', 'sent']);
});

test('a cancelled inbound text is never claimed, nor is its next part, and a late report does not revive it', async (t) => {
  const s = open();
  const first = (await s.inbound.enqueue(inMsg({ body: 'first', parts: 2 }))).id;
  const second = (await s.inbound.enqueue(inMsg({ body: 'second' }))).id;
  const [claimed] = s.inbound.claimDue(s.clock.t, 10);
  t.is(claimed!.id, first);
  s.inbound.partDelivered(first, 1, 'alice', s.clock.t);
  t.is(s.inbound.get(first)!.state, 'queued', 'part 2 still to go');
  s.texts.cancel('in', second, s.clock.t);
  t.throws(() => s.texts.cancel('in', second, s.clock.t), { instanceOf: TextError, message: /in-2 is cancelled/ });
  s.texts.cancel('in', first, s.clock.t);
  t.deepEqual(s.inbound.claimDue(s.clock.t, 10), [], 'neither part 2 of the cancelled text nor the cancelled second');
  s.inbound.partDelivered(first, 2, 'alice', s.clock.t);
  s.inbound.fail(first, 'undeliverable', 'late', s.clock.t);
  t.is(s.inbound.get(first)!.state, 'cancelled');
  t.deepEqual(
    s.texts.events('in', first).map((e) => e.kind),
    ['attempt', 'part_delivered', 'cancelled'],
  );
});

test('retry: a fresh start, due now, age counted from the retry; refused for sent, sending and bodiless texts', async (t) => {
  const s = open();
  const id = await s.outbound.enqueue(outMsg());
  s.outbound.markSending([id], s.clock.t);
  t.throws(() => s.texts.retry('out', id, s.clock.t), { instanceOf: TextError, message: /being sent right now/ });
  t.throws(() => s.texts.cancel('out', id, s.clock.t), { instanceOf: TextError, message: /being sent right now/ });
  s.outbound.failover(id, 'backup', 'itsp: 503', s.clock.t);
  s.outbound.markSending([id], s.clock.t);
  s.outbound.fail(id, 'failed', 'refused', s.clock.t);
  s.clock.t += 60_000;
  const again = s.texts.retry('out', id, s.clock.t);
  t.like(again, { state: 'queued', attempts: 0, interface: 'itsp', reason: null, nextAttemptAt: s.clock.t, providerId: null });
  t.is(s.outbound.get(id)!.retried_at, s.clock.t);
  t.deepEqual(s.outbound.due(s.clock.t, 10).map((r) => r.id), [id]);
  t.deepEqual(
    s.texts.events('out', id).map((e) => e.kind),
    ['attempt', 'failover', 'attempt', 'failed', 'retried'],
  );
  s.outbound.markSending([id], s.clock.t);
  s.outbound.sent(id, 'SM9', s.clock.t);
  t.throws(() => s.texts.retry('out', id, s.clock.t), { instanceOf: TextError, message: /already accepted/ });
  t.throws(() => s.texts.retry('out', 999, s.clock.t), { instanceOf: TextError, message: /no text out-999/ });

  // Retention removed the body of a finished text: it cannot be sent again.
  const gone = (await s.inbound.enqueue(inMsg())).id;
  s.inbound.fail(gone, 'undeliverable', 'no such user', s.clock.t);
  s.clock.t += 1000;
  t.deepEqual(s.housekeeping.removeBodies(s.clock.t), { inbound: 1, outbound: 1 }, 'the failed inbound text and the sent outbound one');
  t.is(s.inbound.get(gone)!.body, null);
  t.throws(() => s.texts.retry('in', gone, s.clock.t), { instanceOf: TextError, message: /no body any more/ });
});

test('purge deletes finished texts updated before the time, with their events, and nothing under way', async (t) => {
  const s = open();
  const done = await s.outbound.enqueue(outMsg());
  s.outbound.markSending([done], s.clock.t);
  s.outbound.sent(done, 'SM1', s.clock.t);
  const waiting = await s.outbound.enqueue(outMsg({ recipient: '+12025550199' }));
  const delivered = (await s.inbound.enqueue(inMsg())).id;
  s.inbound.claimDue(s.clock.t, 1);
  s.inbound.partDelivered(delivered, 1, 'alice', s.clock.t);
  s.clock.t += 1000;
  const later = (await s.inbound.enqueue(inMsg({ body: 'later' }))).id;
  s.inbound.fail(later, 'undeliverable', 'x', s.clock.t);
  t.is(s.texts.purge(s.clock.t), 2, 'the sent and the delivered text; not the queued one, not the one updated at the cut-off');
  t.is(s.outbound.get(done), undefined);
  t.truthy(s.outbound.get(waiting));
  t.truthy(s.inbound.get(later));
  t.deepEqual(s.texts.events('out', done), [], 'its events went with it');
  t.deepEqual(s.texts.events('in', delivered), []);
  t.deepEqual(s.texts.events('in', later).map((e) => e.kind), ['undeliverable']);
  t.is(s.texts.purge(s.clock.t + 1), 1);
});
