// Conversations (db/011_web.sql, src/store/conversations.ts) on real SQLite
// files: kept by the triggers whoever writes, newest first with exact paging,
// unread counts against read markers, purge, and the migration over a
// database that already holds texts.
import test from 'ava';
import path from 'node:path';
import { openDatabase } from '../src/store/db.js';
import { createConversationStore } from '../src/store/conversations.js';
import { createInboundStore, type NewInbound } from '../src/store/inbound.js';
import { createOutboundStore, type NewOutbound } from '../src/store/outbound.js';
import { createTextStore } from '../src/store/texts.js';
import { createEventLog } from '../src/store/events.js';
import { createHousekeeping } from '../src/store/housekeeping.js';
import { createStatsReader } from '../src/store/stats.js';
import { createMediaStore } from '../src/media/store.js';
import { migrationsUpTo } from './helpers/db.js';
import { tempDir } from './helpers/tmp.js';

const HOME = '+46812345678';
const OFFICE = '+46855501234';
const ANNA = '+46701234567';
const BOB = '+46739876543';

const inMsg = (sender: string, recipient: string, body = 'hello'): NewInbound => ({ interface: 'default', providerId: undefined, sender, recipient, body, parts: 1 });
const outMsg = (sender: string, recipient: string, body = 'hi'): NewOutbound => ({ interface: 'itsp', sender, recipient, body, encoding: 'GSM-7', segments: 1 });

function open(file = path.join(tempDir(), 'websms.db')) {
  const clock = { t: 1_700_000_000_000 };
  const now = (): number => clock.t;
  const db = openDatabase(file);
  const texts = createTextStore(db);
  return {
    db,
    clock,
    inbound: createInboundStore(db, { dedupWindowMs: 0, now }),
    outbound: createOutboundStore(db, { now }),
    texts,
    conversations: createConversationStore(db, texts),
  };
}

test('each pair of numbers is one conversation, newest first, with its newest text either way and its unread count', async (t) => {
  const s = open();
  await s.inbound.enqueue(inMsg(ANNA, HOME, 'one'));
  s.clock.t += 1000;
  await s.outbound.enqueue(outMsg(HOME, BOB, 'to bob'));
  s.clock.t += 1000;
  await s.inbound.enqueue(inMsg(ANNA, HOME, 'two'));
  s.clock.t += 1000;
  await s.outbound.enqueue(outMsg(HOME, ANNA, 'reply'));
  s.clock.t += 1000;
  await s.inbound.enqueue(inMsg(BOB, OFFICE, 'office'));

  const all = s.conversations.list({ limit: 10 });
  t.deepEqual(all.conversations.map((c) => [c.local, c.remote, c.unread, c.last?.body, c.last?.direction]), [
    [OFFICE, BOB, 1, 'office', 'in'],
    [HOME, ANNA, 2, 'reply', 'out'],
    [HOME, BOB, 0, 'to bob', 'out'],
  ]);
  t.is(all.next, null);
  t.deepEqual(s.conversations.list({ local: HOME, limit: 10 }).conversations.map((c) => c.remote), [ANNA, BOB]);
  t.deepEqual(s.conversations.locals(), [
    { number: HOME, conversations: 2, unread: 2 },
    { number: OFFICE, conversations: 1, unread: 1 },
  ]);

  // Paging one at a time gives each conversation once, even with equal times.
  await s.inbound.enqueue(inMsg('+46700000001', HOME));
  await s.inbound.enqueue(inMsg('+46700000002', HOME));
  const seen: string[] = [];
  let cursor;
  do {
    const page = s.conversations.list({ limit: 1, cursor });
    seen.push(...page.conversations.map((c) => `${c.local}>${c.remote}`));
    cursor = page.next ?? undefined;
  } while (cursor);
  t.is(seen.length, 5);
  t.is(new Set(seen).size, 5);

  // The text store reads one conversation, both ways, newest first.
  t.deepEqual(s.texts.list({ between: { local: HOME, remote: ANNA }, limit: 10 }).texts.map((r) => r.body), ['reply', 'two', 'one']);
  s.db.close();
});

test('read markers: unread counts what came after, a marker only moves forward and never past the newest text', async (t) => {
  const s = open();
  for (const b of ['a', 'b', 'c']) await s.inbound.enqueue(inMsg(ANNA, HOME, b));
  t.is(s.conversations.get(HOME, ANNA)?.unread, 3);
  t.is(s.conversations.markRead(HOME, ANNA, 2, s.clock.t), 1);
  t.is(s.conversations.markRead(HOME, ANNA, 1, s.clock.t), 1, 'not backwards');
  t.is(s.conversations.markRead(HOME, ANNA, 1000, s.clock.t), 0);
  t.is((s.db.prepare('SELECT read_in FROM read_markers').get() as { read_in: number }).read_in, 3, 'capped at the newest');
  await s.inbound.enqueue(inMsg(ANNA, HOME, 'd'));
  t.is(s.conversations.get(HOME, ANNA)?.unread, 1);
  // Another conversation's texts do not count here.
  await s.inbound.enqueue(inMsg(BOB, HOME, 'x'));
  t.is(s.conversations.get(HOME, ANNA)?.unread, 1);
  t.is(s.conversations.markRead(HOME, '+46700000000', 5, s.clock.t), 0, 'no such conversation: nothing stored');
  t.is((s.db.prepare('SELECT count(*) AS n FROM read_markers').get() as { n: number }).n, 1);
  s.db.close();
});

test('purge removes a conversation once none of its texts is left, and keeps one with texts', async (t) => {
  const s = open();
  const old = (await s.inbound.enqueue(inMsg(ANNA, HOME, 'old'))).id;
  await s.outbound.enqueue(outMsg(HOME, BOB, 'old too'));
  s.db.prepare(`UPDATE inbound SET state = 'delivered' WHERE id = ?`).run(old);
  s.db.prepare(`UPDATE outbound SET state = 'sent'`).run();
  s.clock.t += 10_000;
  await s.outbound.enqueue(outMsg(HOME, ANNA, 'new'));
  t.is(s.texts.purge(s.clock.t + 1), 2);
  t.deepEqual(s.conversations.list({ limit: 10 }).conversations.map((c) => [c.remote, c.last?.body]), [[ANNA, 'new']]);
  s.db.close();
});

test('migration 011 over a database with texts: every conversation found, the old texts read, the counting triggers of 005 still in place', async (t) => {
  const file = path.join(tempDir(), 'websms.db');
  const v7 = openDatabase(file, migrationsUpTo(7));
  const ins = v7.prepare(
    `INSERT INTO inbound (interface, sender, recipient, body, body_hash, parts, state, next_attempt_at, received_at, updated_at) VALUES ('default', ?, ?, 'x', 'h', 1, 'delivered', 0, ?, 0)`,
  );
  const outs = v7.prepare(
    `INSERT INTO outbound (interface, origin, sender, recipient, body, encoding, segments, state, next_attempt_at, created_at, updated_at) VALUES ('i', 'i', ?, ?, 'y', 'GSM-7', 1, 'sent', 0, ?, 0)`,
  );
  ins.run(ANNA, HOME, 100);
  ins.run(ANNA, HOME, 300);
  outs.run(HOME, ANNA, 200);
  outs.run(HOME, BOB, 400);
  v7.close();

  const s = open(file);
  t.true((s.db.pragma('user_version', { simple: true }) as number) >= 11);
  t.deepEqual(s.conversations.list({ limit: 10 }).conversations.map((c) => [c.remote, c.lastAt, c.unread, c.last?.body]), [
    [BOB, 400, 0, 'y'],
    [ANNA, 300, 0, 'x'],
  ]);
  const triggers = (s.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
  // 017 took inbound's insert triggers away (its writer keeps those books); the others stay.
  for (const name of ['inbound_count_update', 'inbound_count_delete', 'outbound_count_insert', 'outbound_conversation_insert', 'inbound_conversation_delete']) t.true(triggers.includes(name), name);
  // New texts after the migration are unread, and the thread is read through its index.
  await s.inbound.enqueue(inMsg(ANNA, HOME, 'after'));
  t.is(s.conversations.get(HOME, ANNA)?.unread, 1);
  const plan = (s.db.prepare(`EXPLAIN QUERY PLAN SELECT id FROM inbound WHERE recipient || ' ' || sender = ? ORDER BY id DESC LIMIT 30`).all(`${HOME} ${ANNA}`) as { detail: string }[]).map((r) => r.detail).join('\n');
  t.regex(plan, /inbound_thread/);
  s.db.close();
});

test('the thread indexes serve only the queries written for them: duplicate checks, queues and deliveries keep their own indexes', (t) => {
  // With plain (recipient, sender, id) indexes SQLite took them for the
  // duplicate check of every webhook, which then scanned the whole
  // conversation: webhooks ran 100 times slower. Every statement the stores
  // prepare is planned here against the full schema.
  const db = openDatabase(path.join(tempDir(), 'websms.db'));
  const seen: string[] = [];
  const prepare = db.prepare.bind(db);
  (db as { prepare: unknown }).prepare = (sql: string) => {
    seen.push(sql);
    return prepare(sql);
  };
  const texts = createTextStore(db);
  createInboundStore(db, { dedupWindowMs: 1000 });
  createOutboundStore(db);
  createMediaStore(db);
  createStatsReader(db);
  createEventLog(db);
  createHousekeeping(db);
  const conversations = createConversationStore(db, texts);
  texts.list({ limit: 5, number: ANNA, q: 'x' });
  texts.list({ limit: 5, states: ['queued', 'failed'], interface: 'i' });
  texts.list({ limit: 5, between: { local: HOME, remote: ANNA } });
  conversations.list({ limit: 5 });
  (db as { prepare: unknown }).prepare = prepare;

  const mine = (sql: string): boolean => sql.includes(" || ' ' || ");
  t.true(seen.filter(mine).length >= 3, 'the thread queries were prepared');
  for (const sql of seen.filter((q) => /^\s*(SELECT|UPDATE|DELETE|INSERT)/i.test(q))) {
    // Every parameter bound to null: the plan does not depend on the values.
    const named = [...new Set([...sql.matchAll(/[@$]([A-Za-z_]\w*)/g)].map((m) => m[1]!))];
    const args = named.length > 0 ? [Object.fromEntries(named.map((n) => [n, null]))] : Array.from(sql.matchAll(/\?/g), () => null);
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join(' | ');
    const usesThread = /inbound_thread|outbound_thread/.test(plan);
    t.is(usesThread, mine(sql) && /inbound|outbound/.test(sql) && !/^\s*INSERT/i.test(sql), `${sql.replace(/\s+/g, ' ').slice(0, 120)}\n  -> ${plan}`);
  }
  db.close();
});
