import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase } from '../src/store/db.js';
import { createInboundStore } from '../src/store/inbound.js';
import { tempDir } from './helpers/tmp.js';
import { inMsg as msg } from './helpers/texts.js';


/** The number of the last migration in db/: the schema version a new database gets. */
const LATEST = Math.max(...fs.readdirSync(new URL('../../db/', import.meta.url)).filter((f) => /^\d{3}_/.test(f)).map((f) => Number(f.slice(0, 3))));

function open(now?: () => number) {
  const file = path.join(tempDir(), 'var', 'websms.db');
  const db = openDatabase(file);
  return { file, db, store: createInboundStore(db, { dedupWindowMs: 60_000, now }) };
}

test('database is created in WAL mode with full fsync, schema applied', (t) => {
  const { db, file } = open();
  t.is(db.pragma('journal_mode', { simple: true }), 'wal');
  t.is(db.pragma('synchronous', { simple: true }), 2);
  t.is(db.pragma('user_version', { simple: true }), LATEST);
  db.close();
  // Reopening does not re-run migrations.
  const again = openDatabase(file);
  t.is(again.pragma('user_version', { simple: true }), LATEST);
  again.close();
});

test('a committed text is visible to another connection before enqueue resolves', async (t) => {
  const { store, file } = open();
  const r = await store.enqueue(msg());
  const other = new Database(file, { readonly: true });
  t.is((other.prepare('SELECT body FROM inbound WHERE id = ?').get(r.id) as { body: string }).body, 'hello');
  other.close();
});

test('concurrent enqueues share one transaction and all resolve', async (t) => {
  const { store } = open();
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.enqueue(msg({ body: `m${i}` }))));
  t.is(new Set(results.map((r) => r.id)).size, 50);
  t.is(store.counts().queued, 50);
});

test('duplicates by provider id and by content within the window', async (t) => {
  let clock = 1_000_000;
  const { store } = open(() => clock);
  const a = await store.enqueue(msg({ providerId: 'X1' }));
  const b = await store.enqueue(msg({ providerId: 'X1', body: 'changed retry' }));
  t.true(b.duplicate);
  t.is(b.id, a.id);
  const c = await store.enqueue(msg({ providerId: 'X2' }));
  t.false(c.duplicate, 'same content, other provider id: a new text');
  const d = await store.enqueue(msg({ body: 'no id' }));
  const [e, f] = await Promise.all([store.enqueue(msg({ body: 'no id' })), store.enqueue(msg({ body: 'no id' }))]);
  t.true(e.duplicate && f.duplicate);
  t.is(e.id, d.id);
  clock += 61_000;
  const g = await store.enqueue(msg({ body: 'no id' }));
  t.false(g.duplicate, 'outside the window it is a new text');
  t.is(store.counts().queued, 4);
});

test('claimDue keeps conversation order and one in flight per conversation', async (t) => {
  const { store } = open();
  const a1 = await store.enqueue(msg({ body: 'a1' }));
  const a2 = await store.enqueue(msg({ body: 'a2' }));
  const b1 = await store.enqueue(msg({ body: 'b1', sender: '+46709999999' }));
  const first = store.claimDue(Date.now() + 1, 10);
  t.deepEqual(first.map((r) => r.id), [a1.id, b1.id]);
  t.deepEqual(store.claimDue(Date.now() + 1, 10), [], 'a2 waits for a1');
  store.partDelivered(a1.id, 1, 'alice', Date.now());
  t.is(store.get(a1.id)!.state, 'delivered');
  t.deepEqual(store.claimDue(Date.now() + 1, 10).map((r) => r.id), [a2.id]);
});

test('a waiting text holds later ones of its conversation until its endpoint registers', async (t) => {
  const { store } = open();
  const a = await store.enqueue(msg({ body: 'a' }));
  const b = await store.enqueue(msg({ body: 'b' }));
  store.claimDue(Date.now() + 1, 10);
  store.wait(a.id, 'alice', 'no registered phone', Date.now() + 3_600_000, Date.now());
  t.deepEqual(store.claimDue(Date.now() + 1, 10), []);
  t.is(store.wakeEndpoint('alice', Date.now()), 1);
  t.deepEqual(store.claimDue(Date.now() + 1, 10).map((r) => r.id), [a.id]);
  t.is(store.get(b.id)!.state, 'queued');
});

test('multi-part texts advance part by part; stale part reports change nothing', async (t) => {
  const { store } = open();
  const a = await store.enqueue(msg({ parts: 3 }));
  store.claimDue(Date.now() + 1, 1);
  t.is(store.partDelivered(a.id, 1, 'alice', Date.now())!.state, 'queued');
  t.is(store.partDelivered(a.id, 1, 'alice', Date.now()), undefined, 'part 1 again');
  t.is(store.partDelivered(a.id, 2, 'alice', Date.now())!.parts_done, 2);
  t.is(store.partDelivered(a.id, 3, 'alice', Date.now())!.state, 'delivered');
});

test('interrupted sends resume; expiry marks old texts', async (t) => {
  let clock = 5_000_000;
  const { store } = open(() => clock);
  const a = await store.enqueue(msg());
  t.is(store.claimDue(clock, 5).length, 1);
  t.is(store.resumeInterrupted(clock), 1);
  t.is(store.get(a.id)!.state, 'queued');
  clock += 10_000;
  const expired = store.expireOlderThan(clock - 5_000, clock);
  t.deepEqual(expired.map((r) => r.id), [a.id]);
  t.is(store.get(a.id)!.state, 'expired');
  store.retry(a.id, 'x', clock, clock);
  t.is(store.get(a.id)!.state, 'expired', 'a final state is final');
});

test('a failing commit rejects every text of the batch', async (t) => {
  const { store, db } = open();
  db.exec(`CREATE TRIGGER boom BEFORE INSERT ON inbound BEGIN SELECT RAISE(ABORT, 'disk full'); END`);
  const results = await Promise.allSettled([store.enqueue(msg({ body: '1' })), store.enqueue(msg({ body: '2' }))]);
  t.true(results.every((r) => r.status === 'rejected'));
  db.exec('DROP TRIGGER boom');
  t.is(store.counts().queued, 0);
});

test('outcomes written with the next commit are committed with the texts of their turn, not before; one that fails is undone alone', async (t) => {
  const { store, file } = open();
  const [a, b] = await Promise.all([store.enqueue(msg({ body: 'a', sender: '+46700000001' })), store.enqueue(msg({ body: 'b', sender: '+46700000002' }))]);
  const now = Date.now();
  t.is(store.claimDue(now, 10).length, 2);
  const other = new Database(file, { readonly: true });
  const stateSeen = (id: number): string => (other.prepare('SELECT state FROM inbound WHERE id = ?').get(id) as { state: string }).state;
  const delivered = store.alongside(() => store.partDelivered(a.id, 1, 'alice', now), 0);
  const broken = store.alongside(() => {
    store.wait(b.id, 'bob', 'no registered phone', now + 60_000, now);
    throw new Error('boom');
  }, 0);
  const text = store.enqueue(msg({ body: 'c', sender: '+46700000003' }));
  // Nothing is written before the commit: the outcomes wait for it with the text.
  t.is(store.get(a.id)!.state, 'sending');
  t.is(stateSeen(a.id), 'sending');
  const [d, f, c] = await Promise.allSettled([delivered, broken, text]);
  t.is(d.status, 'fulfilled');
  t.is((d as PromiseFulfilledResult<ReturnType<typeof store.partDelivered>>).value?.state, 'delivered');
  t.is(f.status, 'rejected');
  t.is(c.status, 'fulfilled');
  // Committed, and so seen by another connection, once they resolve.
  t.is(stateSeen(a.id), 'delivered');
  // The failed write's own change is undone; the others in its commit stand.
  t.is(stateSeen(b.id), 'sending');
  t.is(store.counts().queued, 1);
  other.close();
});
