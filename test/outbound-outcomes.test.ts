// The store's alongside writes: the sender's outcomes (sent, retry, failed)
// ride in the hand-offs' group commit, so that the event loop stalls for one
// fsync where it stalled for two. What a caller may rely on: an outcome is on
// disk when its promise resolves, never before it was written; with no
// hand-off to ride with it is committed by itself after its wait; a write
// that throws takes neither the hand-offs nor the other outcomes with it.
// And when a hand-off's own commit runs: at once, in its caller's turn of the
// event loop, when every hand-off under way is in it.
import test from 'ava';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase } from '../src/store/db.js';
import { createOutboundStore } from '../src/store/outbound.js';
import { tempDir } from './helpers/tmp.js';
import { outMsg } from './helpers/texts.js';

function setup(): { file: string; store: ReturnType<typeof createOutboundStore>; other: Database.Database } {
  const file = path.join(tempDir(), 'websms.db');
  const db = openDatabase(file);
  const store = createOutboundStore(db);
  // A second connection sees only what is committed.
  const other = new Database(file, { readonly: true });
  return { file, store, other };
}

const stateOf = (other: Database.Database, id: number): string | undefined =>
  (other.prepare('SELECT state FROM outbound WHERE id = ?').get(id) as { state: string } | undefined)?.state;

test('an outcome rides in the next hand-off commit, long before its own wait is over', async (t) => {
  const { store, other } = setup();
  const id = await store.enqueue(outMsg());
  store.markSending([id], Date.now());
  const began = Date.now();
  const outcome = store.alongside(() => store.sent(id, 'SM1', Date.now()), 10_000);
  t.is(stateOf(other, id), 'sending', 'not written before a commit');
  const handedOff = await store.enqueue(outMsg({ recipient: '+12025550161' }));
  await outcome;
  t.true(Date.now() - began < 5_000, 'committed with the hand-off, not after its 10 s wait');
  t.is(stateOf(other, id), 'sent');
  t.is(stateOf(other, handedOff), 'queued');
});

test('with no hand-off to ride with, an outcome is committed by itself after its wait', async (t) => {
  const { store, other } = setup();
  const id = await store.enqueue(outMsg());
  store.markSending([id], Date.now());
  const began = performance.now();
  const outcome = store.alongside(() => store.retry(id, 'try again', Date.now() + 60_000, Date.now()), 30);
  await new Promise((r) => setTimeout(r, 10));
  t.is(stateOf(other, id), 'sending', 'still waiting for a hand-off');
  await outcome;
  t.true(performance.now() - began >= 29, 'it waited');
  t.is(stateOf(other, id), 'queued', 'on disk once resolved');
});

test('a shorter wait brings the commit forward for the outcomes already waiting', async (t) => {
  const { store, other } = setup();
  const a = await store.enqueue(outMsg());
  const b = await store.enqueue(outMsg({ recipient: '+12025550161' }));
  store.markSending([a, b], Date.now());
  const began = performance.now();
  const first = store.alongside(() => store.sent(a, 'SMa', Date.now()), 10_000);
  await store.alongside(() => store.sent(b, 'SMb', Date.now()), 5);
  await first;
  t.true(performance.now() - began < 5_000);
  t.is(stateOf(other, a), 'sent');
  t.is(stateOf(other, b), 'sent');
});

test('an outcome whose write throws is undone alone: the hand-offs and the other outcomes of its commit go through', async (t) => {
  const { store, other } = setup();
  const a = await store.enqueue(outMsg());
  store.markSending([a], Date.now());
  const bad = store.alongside(() => {
    store.fail(a, 'failed', 'never', Date.now());
    throw new Error('half-way');
  }, 10_000);
  const good = store.alongside(() => store.sent(a, 'SMa', Date.now()), 10_000);
  const handedOff = await store.enqueue(outMsg({ recipient: '+12025550162' }));
  await t.throwsAsync(bad, { message: 'half-way' });
  await good;
  t.is(stateOf(other, a), 'sent', 'the failed write left nothing behind; the next one applied');
  t.is(stateOf(other, handedOff), 'queued');
});

test('flush commits waiting outcomes at once (a stop)', async (t) => {
  const { store, other } = setup();
  const id = await store.enqueue(outMsg());
  store.markSending([id], Date.now());
  const outcome = store.alongside(() => store.sent(id, 'SM1', Date.now()), 60_000);
  store.flush();
  await outcome;
  t.is(stateOf(other, id), 'sent');
});

test('a hand-off that every writer under way is waiting for is committed at once, before the caller goes on', async (t) => {
  const file = path.join(tempDir(), 'websms.db');
  const db = openDatabase(file);
  let writers = 1;
  const store = createOutboundStore(db, { expectedWriters: () => writers });
  const other = new Database(file, { readonly: true });
  const count = (): number => (other.prepare('SELECT count(*) AS n FROM outbound').get() as { n: number }).n;
  const lone = store.enqueue(outMsg());
  t.is(count(), 1, 'committed in the same turn');
  await lone;
  // Two under way: the first waits for the second (one fsync for both), then both go at once.
  writers = 2;
  const first = store.enqueue(outMsg({ recipient: '+12025550161' }));
  t.is(count(), 1, 'waits for the other writer');
  const second = store.enqueue(outMsg({ recipient: '+12025550162' }));
  t.is(count(), 3);
  await Promise.all([first, second]);
});
