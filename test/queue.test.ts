// The queues' heads (db/013_queue_heads.sql): the claim and next-due reads
// are index lookups whatever waits behind a conversation's head; the heads
// the triggers keep equal a from-scratch computation after every kind of
// change, from every writer; the queues take exactly what the queries before
// 013 took; conversation order holds with many conversations and a blocked
// one; and texts left by the schema before 013 keep flowing after the upgrade.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase, type Db } from '../src/store/db.js';
import { createInboundStore, INBOUND_QUEUE_SQL, type InboundStore } from '../src/store/inbound.js';
import { createOutboundStore, OUTBOUND_QUEUE_SQL, type OutboundStore } from '../src/store/outbound.js';
import { OUTBOUND_PAST_AGE_SQL } from '../src/store/housekeeping.js';
import { createTextStore } from '../src/store/texts.js';
import { startItspDouble } from './doubles/itsp-server.js';
import { migrationsUpTo } from './helpers/db.js';
import { startStack } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';
import { inMsg, outMsg } from './helpers/texts.js';

const IN_ACTIVE = `('queued', 'sending', 'waiting')`;
const OUT_ACTIVE = `('queued', 'sending')`;

// The queue queries as they were before 013 (reading every text behind each
// head): the reference the heads must agree with.
const OLD = {
  inDue: `SELECT m.id FROM inbound m
      WHERE m.state IN ('queued', 'waiting') AND m.next_attempt_at <= ?
        AND NOT EXISTS (SELECT 1 FROM inbound p WHERE p.recipient = m.recipient AND p.sender = m.sender AND p.id < m.id
                           AND p.state IN ${IN_ACTIVE})
      ORDER BY m.next_attempt_at, m.id LIMIT ?`,
  inNext: `SELECT MIN(m.next_attempt_at) AS t FROM inbound m
      WHERE m.state IN ('queued', 'waiting')
        AND NOT EXISTS (SELECT 1 FROM inbound p WHERE p.recipient = m.recipient AND p.sender = m.sender AND p.id < m.id
                           AND p.state IN ${IN_ACTIVE})`,
  outDue: `SELECT m.id FROM outbound m
      WHERE m.state = 'queued' AND m.next_attempt_at <= ?
        AND NOT EXISTS (SELECT 1 FROM outbound p WHERE p.sender = m.sender AND p.recipient = m.recipient AND p.id < m.id
                           AND p.state IN ${OUT_ACTIVE})
      ORDER BY m.next_attempt_at, m.id LIMIT ?`,
  outNext: `SELECT MIN(m.next_attempt_at) AS t FROM outbound m
      WHERE m.state = 'queued'
        AND NOT EXISTS (SELECT 1 FROM outbound p WHERE p.sender = m.sender AND p.recipient = m.recipient AND p.id < m.id
                           AND p.state IN ${OUT_ACTIVE})`,
};

type Head = { a: string; b: string; head_id: number; due: number | null };

/** The heads worked out from scratch: each conversation's lowest unfinished id, and its due time unless it is being sent. */
function expectedHeads(db: Db, direction: 'in' | 'out'): Head[] {
  const [table, a, b, active] = direction === 'in' ? ['inbound', 'recipient', 'sender', IN_ACTIVE] : ['outbound', 'sender', 'recipient', OUT_ACTIVE];
  return db
    .prepare(
      `SELECT m.${a} AS a, m.${b} AS b, m.id AS head_id, CASE WHEN m.state = 'sending' THEN NULL ELSE m.next_attempt_at END AS due
         FROM (SELECT MIN(id) AS id FROM ${table} WHERE state IN ${active} GROUP BY ${a}, ${b}) f JOIN ${table} m ON m.id = f.id
        ORDER BY a, b`,
    )
    .all() as Head[];
}

function storedHeads(db: Db, direction: 'in' | 'out'): Head[] {
  const [table, a, b] = direction === 'in' ? ['inbound_heads', 'recipient', 'sender'] : ['outbound_heads', 'sender', 'recipient'];
  return db.prepare(`SELECT ${a} AS a, ${b} AS b, head_id, due FROM ${table} ORDER BY a, b`).all() as Head[];
}

/** A small deterministic generator (mulberry32): the same steps on every run. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let r = Math.imul(s ^ (s >>> 15), 1 | s);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 2 ** 32;
  };
}


function open(clock: { t: number }) {
  // In memory: thousands of commits, and what is checked here is the same on disk (the upgrade tests use files).
  const db = openDatabase(':memory:');
  const now = () => clock.t;
  return { db, inbound: createInboundStore(db, { dedupWindowMs: 0, now }), outbound: createOutboundStore(db, { now }), texts: createTextStore(db) };
}

/** The detail lines of a statement's query plan, OLD./NEW. references (in trigger bodies) read as parameters. */
function planOf(db: Db, sql: string): string[] {
  const stmt = db.prepare(`EXPLAIN QUERY PLAN ${sql.replace(/\b(OLD|NEW)\.\w+/g, '?')}`);
  const n = (stmt.source.match(/\?/g) ?? []).length;
  return (stmt.all(...Array.from({ length: n }, () => 1)) as Array<{ detail: string }>).map((r) => r.detail);
}

test('the claim and next-due reads are index lookups of the heads, never a scan of the texts', (t) => {
  const db = openDatabase(':memory:');
  for (const [name, sql, heads] of [
    ['inbound due', INBOUND_QUEUE_SQL.due, 'inbound_heads_due'],
    ['inbound next due', INBOUND_QUEUE_SQL.nextDue, 'inbound_heads_due'],
    ['outbound due', OUTBOUND_QUEUE_SQL.due, 'outbound_heads_due'],
    ['outbound next due', OUTBOUND_QUEUE_SQL.nextDue, 'outbound_heads_due'],
  ] as const) {
    const plan = planOf(db, sql);
    t.true(plan.some((l) => l.startsWith('SEARCH') && l.includes(`INDEX ${heads}`)), `${name}: ${plan.join(' | ')}`);
    t.false(plan.some((l) => l.startsWith('SCAN') || l.includes('TEMP B-TREE')), `${name}: ${plan.join(' | ')}`);
    // The texts are reached by id only.
    for (const l of plan.filter((x) => / m /.test(` ${x} `))) t.regex(l, /^SEARCH m USING INTEGER PRIMARY KEY/);
  }
  db.close();
});

test('expiry, every minute, reads the texts on their way, not the whole history', (t) => {
  const db = openDatabase(':memory:');
  for (const [name, sql, index] of [
    ['inbound expiry', INBOUND_QUEUE_SQL.expire, 'inbound_active'],
    ['outbound expiry', OUTBOUND_PAST_AGE_SQL, 'outbound_active'],
  ] as const) {
    const plan = planOf(db, sql).join(' | ');
    t.regex(plan, new RegExp(`^SCAN (inbound|outbound) USING INDEX ${index}`), `${name}: ${plan}`);
  }
  db.close();
});

test('a start reads the texts on their way, not the whole history: resuming interrupted texts, and the counts', (t) => {
  const db = openDatabase(':memory:');
  for (const [name, sql, index] of [
    ['inbound interrupted', `SELECT id ${INBOUND_QUEUE_SQL.interrupted}`, 'inbound_active'],
    ['outbound interrupted', `SELECT id ${OUTBOUND_QUEUE_SQL.interrupted}`, 'outbound_active'],
  ] as const) {
    const plan = planOf(db, sql).join(' | ');
    t.regex(plan, new RegExp(`^SCAN (inbound|outbound) USING INDEX ${index}$`), `${name}: ${plan}`);
  }
  for (const sql of [INBOUND_QUEUE_SQL.counts, OUTBOUND_QUEUE_SQL.counts]) {
    t.regex(planOf(db, sql).join(' | '), /^SEARCH text_counts USING PRIMARY KEY/);
  }
  db.close();
});

test('every statement of the triggers that keep the heads is an index lookup', (t) => {
  const db = openDatabase(':memory:');
  const triggers = db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%_head_%'`).all() as Array<{ name: string; sql: string }>;
  t.deepEqual(
    triggers.map((r) => r.name).sort(),
    // A new inbound text's head is kept by its writer (db/017, test/inbound-books.test.ts).
    [...['delete', 'due', 'finish', 'move', 'requeue'].map((k) => `inbound_head_${k}`), ...['delete', 'due', 'finish', 'insert', 'move', 'requeue'].map((k) => `outbound_head_${k}`)].sort(),
  );
  let statements = 0;
  for (const { name, sql } of triggers) {
    const [, when, body] = /\bWHEN\b([\s\S]*?)\bBEGIN\b([\s\S]*)\bEND\s*$/.exec(sql)!;
    for (const stmt of [`SELECT ${when}`, ...body!.split(';').map((s) => s.trim()).filter(Boolean)]) {
      const plan = planOf(db, stmt);
      statements++;
      t.false(plan.some((l) => /^SCAN (inbound|outbound)/.test(l) || l.includes('TEMP B-TREE')), `${name}: ${stmt}\n${plan.join(' | ')}`);
    }
  }
  t.true(statements > 18);
  db.close();
});

/** Checks the heads after each step against a from-scratch computation; stops at the first difference. */
function checker(t: ExecutionContext, db: Db, direction: 'in' | 'out') {
  let failed = false;
  return (step: string): boolean => {
    if (failed) return false;
    const want = expectedHeads(db, direction);
    const got = storedHeads(db, direction);
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      failed = true;
      t.deepEqual(got, want, `heads differ after ${step}`);
    }
    return !failed;
  };
}

test('inbound: after every kind of change, from every writer, the heads are right and the queue takes what the old queries took', async (t) => {
  const clock = { t: 1_800_000_000_000 };
  const { db, inbound, texts } = open(clock);
  const rnd = random(11);
  const pick = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[Math.floor(rnd() * xs.length)]);
  const senders = ['+46701000001', '+46701000002', '+46701000003', '+46701000004'];
  const recipients = ['+46812000001', '+46812000002', '+46812000003'];
  const endpoints = recipients.map((r) => `ep${r.slice(-1)}`);
  const ids = (state: string) => (db.prepare('SELECT id FROM inbound WHERE state = ?').all(state) as Array<{ id: number }>).map((r) => r.id);
  const ok = checker(t, db, 'in');
  const done: Record<string, number> = {};
  let n = 0;
  for (let step = 0; step < 2500 && ok(`step ${step - 1}`); step++) {
    clock.t += Math.floor(rnd() * 3000);
    const r = rnd();
    let op: string;
    if (r < 0.3) {
      op = 'enqueue';
      const recipient = pick(recipients)!;
      const media = rnd() < 0.1 ? [{ url: `https://example.com/${n}.jpg` }] : undefined;
      await inbound.enqueue(inMsg({ sender: pick(senders)!, recipient, body: `text ${n++}`, parts: rnd() < 0.2 ? 2 : 1, media }));
    } else if (r < 0.45) {
      op = 'claim';
      const limit = 1 + Math.floor(rnd() * 4);
      const want = (db.prepare(OLD.inDue).all(clock.t, limit) as Array<{ id: number }>).map((x) => x.id);
      const got = inbound.claimDue(clock.t, limit).map((x) => x.id);
      if (JSON.stringify(got) !== JSON.stringify(want)) return t.deepEqual(got, want, `claim at step ${step}`);
    } else if (r < 0.6) {
      const id = pick(ids('sending'));
      if (id === undefined) continue;
      const row = inbound.get(id)!;
      const what = rnd();
      const endpoint = endpoints[recipients.indexOf(row.recipient)]!;
      if (what < 0.5) (op = 'part delivered'), inbound.partDelivered(id, row.parts_done + 1, endpoint, clock.t);
      else if (what < 0.75) (op = 'wait'), inbound.wait(id, endpoint, 'no registered phone', clock.t + Math.floor(rnd() * 20_000), clock.t);
      else if (what < 0.9) (op = 'retry'), inbound.retry(id, 'no report', clock.t + Math.floor(rnd() * 10_000), clock.t);
      else (op = 'fail'), inbound.fail(id, 'undeliverable', 'refused', clock.t);
    } else if (r < 0.65) {
      op = 'wake endpoint';
      inbound.wakeEndpoint(pick(endpoints)!, clock.t);
    } else if (r < 0.68) {
      op = 'media settled';
      const m = db.prepare('SELECT id FROM inbound WHERE media_due IS NOT NULL').all() as Array<{ id: number }>;
      const id = pick(m.map((x) => x.id));
      if (id === undefined) continue;
      inbound.mediaSettled(id, '\nhttps://websms/m/x', 1, clock.t);
    } else if (r < 0.7) {
      op = 'resume interrupted';
      inbound.resumeInterrupted(clock.t);
    } else if (r < 0.72) {
      op = 'expire';
      inbound.expireOlderThan(clock.t - 120_000, clock.t);
    } else if (r < 0.8) {
      op = 'cancel by hand';
      const id = pick([...ids('queued'), ...ids('waiting')]);
      if (id === undefined) continue;
      texts.cancel('in', id, clock.t);
    } else if (r < 0.88) {
      op = 'retry by hand';
      const id = pick([...ids('undeliverable'), ...ids('expired'), ...ids('cancelled')]);
      if (id === undefined) continue;
      texts.retry('in', id, clock.t);
    } else if (r < 0.9) {
      op = 'purge';
      texts.purge(clock.t - 60_000);
    } else if (r < 0.92) {
      op = 'deleted by another program';
      const id = pick([...ids('queued'), ...ids('waiting'), ...ids('sending')]);
      if (id === undefined) continue;
      db.prepare('DELETE FROM inbound WHERE id = ?').run(id);
    } else {
      op = 'next due';
      const want = (db.prepare(OLD.inNext).get() as { t: number | null }).t ?? undefined;
      if (inbound.nextDueAt() !== want) return t.is(inbound.nextDueAt(), want, `next due at step ${step}`);
    }
    done[op] = (done[op] ?? 0) + 1;
  }
  for (const op of ['enqueue', 'claim', 'part delivered', 'wait', 'retry', 'fail', 'wake endpoint', 'media settled', 'resume interrupted', 'expire', 'cancel by hand', 'retry by hand', 'purge', 'deleted by another program', 'next due']) {
    t.true((done[op] ?? 0) >= 5, `${op} ran ${done[op] ?? 0} times`);
  }
  db.close();
});

test('outbound: after every kind of change, from every writer, the heads are right and the queue takes what the old queries took', async (t) => {
  const clock = { t: 1_800_000_000_000 };
  const { db, outbound, texts } = open(clock);
  const rnd = random(7);
  const pick = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[Math.floor(rnd() * xs.length)]);
  const senders = ['+46812000001', '+46812000002', '+46812000003'];
  const recipients = ['+12025550101', '+12025550102', '+12025550103', '+12025550104'];
  const ids = (state: string) => (db.prepare('SELECT id FROM outbound WHERE state = ?').all(state) as Array<{ id: number }>).map((r) => r.id);
  const ok = checker(t, db, 'out');
  const done: Record<string, number> = {};
  let n = 0;
  for (let step = 0; step < 2500 && ok(`step ${step - 1}`); step++) {
    clock.t += Math.floor(rnd() * 3000);
    const r = rnd();
    let op: string;
    if (r < 0.3) {
      op = 'enqueue';
      await outbound.enqueue(outMsg({ interface: rnd() < 0.8 ? 'itsp' : 'backup', sender: pick(senders)!, recipient: pick(recipients)!, body: `text ${n++}` }));
    } else if (r < 0.45) {
      op = 'due and mark sending';
      const limit = 1 + Math.floor(rnd() * 4);
      const want = (db.prepare(OLD.outDue).all(clock.t, limit) as Array<{ id: number }>).map((x) => x.id);
      const got = outbound.due(clock.t, limit).map((x) => x.id);
      if (JSON.stringify(got) !== JSON.stringify(want)) return t.deepEqual(got, want, `due at step ${step}`);
      // The sender may leave some (rate limits) for later.
      outbound.markSending(got.filter(() => rnd() < 0.8), clock.t);
    } else if (r < 0.62) {
      const id = pick(ids('sending'));
      if (id === undefined) continue;
      const what = rnd();
      if (what < 0.5) (op = 'sent'), outbound.sent(id, `SM${id}`, clock.t);
      else if (what < 0.75) (op = 'retry'), outbound.retry(id, 'HTTP 500', clock.t + Math.floor(rnd() * 20_000), clock.t);
      else if (what < 0.9) (op = 'failover'), outbound.failover(id, 'backup', 'attempts exhausted', clock.t);
      else (op = 'fail'), outbound.fail(id, 'failed', 'refused', clock.t);
    } else if (r < 0.66) {
      op = 'report';
      const id = pick(ids('sent'));
      if (id === undefined) continue;
      const row = outbound.get(id)!;
      outbound.report(row.interface, row.provider_id!, rnd() < 0.7 ? 'delivered' : 'failed', null, clock.t);
    } else if (r < 0.68) {
      op = 'resume interrupted';
      outbound.resumeInterrupted(clock.t);
    } else if (r < 0.76) {
      op = 'cancel by hand';
      const id = pick(ids('queued'));
      if (id === undefined) continue;
      texts.cancel('out', id, clock.t);
    } else if (r < 0.84) {
      op = 'retry by hand';
      const id = pick([...ids('failed'), ...ids('cancelled')]);
      if (id === undefined) continue;
      texts.retry('out', id, clock.t);
    } else if (r < 0.86) {
      op = 'purge';
      texts.purge(clock.t - 60_000);
    } else if (r < 0.88) {
      op = 'deleted by another program';
      const id = pick([...ids('queued'), ...ids('sending')]);
      if (id === undefined) continue;
      db.prepare('DELETE FROM outbound WHERE id = ?').run(id);
    } else {
      op = 'next due';
      const want = (db.prepare(OLD.outNext).get() as { t: number | null }).t ?? undefined;
      if (outbound.nextDueAt() !== want) return t.is(outbound.nextDueAt(), want, `next due at step ${step}`);
    }
    done[op] = (done[op] ?? 0) + 1;
  }
  for (const op of ['enqueue', 'due and mark sending', 'sent', 'retry', 'failover', 'fail', 'report', 'resume interrupted', 'cancel by hand', 'retry by hand', 'purge', 'deleted by another program', 'next due']) {
    t.true((done[op] ?? 0) >= 5, `${op} ran ${done[op] ?? 0} times`);
  }
  db.close();
});

test('a text moved to another conversation by another program leaves both conversations with the right heads', async (t) => {
  const clock = { t: 1_800_000_000_000 };
  const { db, inbound, outbound } = open(clock);
  const a = await inbound.enqueue(inMsg({ body: 'a' }));
  await inbound.enqueue(inMsg({ body: 'b' }));
  db.prepare(`UPDATE inbound SET sender = '+46709999999' WHERE id = ?`).run(a.id);
  t.deepEqual(storedHeads(db, 'in'), expectedHeads(db, 'in'));
  t.is(storedHeads(db, 'in').length, 2);
  const x = await outbound.enqueue(outMsg({ body: 'x' }));
  await outbound.enqueue(outMsg({ body: 'y' }));
  db.prepare(`UPDATE outbound SET recipient = '+12025550199' WHERE id = ?`).run(x);
  t.deepEqual(storedHeads(db, 'out'), expectedHeads(db, 'out'));
  t.is(storedHeads(db, 'out').length, 2);
  db.close();
});

/**
 * Runs the inbound queue the way the deliverer does (claim up to `inFlight`,
 * report on each), every conversation's texts reported delivered except the
 * blocked recipient's, whose phone is offline. Returns the ids delivered per
 * conversation, in delivery order.
 */
function deliverAll(store: InboundStore, clock: { t: number }, blockedRecipient: string, inFlight: number) {
  const order = new Map<string, number[]>();
  for (let round = 0; round < 10_000; round++) {
    clock.t += 1;
    const batch = store.claimDue(clock.t, inFlight);
    if (batch.length === 0) break;
    const keys = batch.map((r) => `${r.recipient}/${r.sender}`);
    if (new Set(keys).size !== keys.length) throw new Error(`two texts of one conversation taken together: ${keys.join(', ')}`);
    for (const r of batch) {
      if (r.recipient === blockedRecipient) {
        store.wait(r.id, 'bob', 'no registered phone', clock.t + 3_600_000, clock.t);
        continue;
      }
      store.partDelivered(r.id, r.parts_done + 1, 'alice', clock.t);
      const key = `${r.recipient}/${r.sender}`;
      if (r.parts_done + 1 === r.parts) order.set(key, [...(order.get(key) ?? []), r.id]);
    }
  }
  return order;
}

test('inbound: each conversation in order, one text at a time, with many conversations and one blocked behind an offline phone', async (t) => {
  const clock = { t: 1_800_000_000_000 };
  const { db, inbound } = open(clock);
  const blocked = '+46812999999';
  const written = new Map<string, number[]>();
  // The blocked conversation first, so its texts have the lowest ids and times.
  for (let i = 0; i < 300; i++) {
    const r = await inbound.enqueue(inMsg({ sender: '+46701999999', recipient: blocked, body: `blocked ${i}` }));
    written.set(`${blocked}/+46701999999`, [...(written.get(`${blocked}/+46701999999`) ?? []), r.id]);
  }
  // 40 conversations, their texts interleaved, some in two parts.
  for (let i = 0; i < 400; i++) {
    clock.t += 1;
    const sender = `+467010000${String(i % 20).padStart(2, '0')}`;
    const recipient = i % 40 < 20 ? '+46812000001' : '+46812000002';
    const r = await inbound.enqueue(inMsg({ sender, recipient, body: `text ${i}`, parts: i % 7 === 0 ? 2 : 1 }));
    written.set(`${recipient}/${sender}`, [...(written.get(`${recipient}/${sender}`) ?? []), r.id]);
  }
  const order = deliverAll(inbound, clock, blocked, 20);
  t.is(order.size, 40);
  for (const [key, ids] of order) t.deepEqual(ids, written.get(key), key);
  const blockedIds = written.get(`${blocked}/+46701999999`)!;
  t.is(inbound.get(blockedIds[0]!)!.state, 'waiting');
  t.true(blockedIds.slice(1).every((id) => inbound.get(id)!.state === 'queued' && inbound.get(id)!.attempts === 0), 'the texts behind it were never taken');
  t.is(inbound.nextDueAt(), inbound.get(blockedIds[0]!)!.next_attempt_at, 'the next wake-up is the offline phone\'s retry');
  t.deepEqual(inbound.claimDue(clock.t, 20), []);

  // The phone registers: the blocked conversation flows, in order.
  t.is(inbound.wakeEndpoint('bob', clock.t), 1);
  const after = deliverAll(inbound, clock, 'nobody', 20);
  t.deepEqual(after.get(`${blocked}/+46701999999`), blockedIds);
  t.is(inbound.counts().delivered, 700);
  t.deepEqual(storedHeads(db, 'in'), []);
  db.close();
});

test('outbound: each conversation in hand-off order with many conversations and one blocked by retries', async (t) => {
  const clock = { t: 1_800_000_000_000 };
  const { db, outbound } = open(clock);
  const blocked = { sender: '+46812999999', recipient: '+12025559999' };
  const written = new Map<string, number[]>();
  const add = (key: string, id: number): void => void written.set(key, [...(written.get(key) ?? []), id]);
  for (let i = 0; i < 300; i++) add('blocked', await outbound.enqueue(outMsg({ ...blocked, body: `blocked ${i}` })));
  for (let i = 0; i < 400; i++) {
    clock.t += 1;
    const m = outMsg({ sender: `+4681200000${i % 4}`, recipient: `+120255501${String(i % 40).padStart(2, '0')}`, body: `text ${i}` });
    add(`${m.sender}/${m.recipient}`, await outbound.enqueue(m));
  }
  const order = new Map<string, number[]>();
  for (let round = 0; round < 10_000; round++) {
    clock.t += 1;
    const batch = outbound.due(clock.t, 16);
    if (batch.length === 0) break;
    const keys = batch.map((r) => `${r.sender}/${r.recipient}`);
    t.is(new Set(keys).size, keys.length, 'one text per conversation at a time');
    outbound.markSending(batch.map((r) => r.id), clock.t);
    // As the sender writes outcomes: in a group commit.
    await outbound.alongside(() => {
      for (const r of batch) {
        // The blocked conversation's ITSP answers 500 every time: retried in an hour.
        if (r.sender === blocked.sender) outbound.retry(r.id, 'HTTP 500', clock.t + 3_600_000, clock.t);
        else {
          outbound.sent(r.id, `SM${r.id}`, clock.t);
          order.set(keys[batch.indexOf(r)]!, [...(order.get(keys[batch.indexOf(r)]!) ?? []), r.id]);
        }
      }
    }, 0);
  }
  t.is(order.size, 40);
  for (const [key, ids] of order) t.deepEqual(ids, written.get(key), key);
  const blockedIds = written.get('blocked')!;
  t.is(outbound.get(blockedIds[0]!)!.attempts, 1);
  t.true(blockedIds.slice(1).every((id) => outbound.get(id)!.state === 'queued' && outbound.get(id)!.attempts === 0));
  t.is(outbound.nextDueAt(), outbound.get(blockedIds[0]!)!.next_attempt_at, 'the next wake-up is the blocked text\'s retry');
  // Cancelling the stuck text lets the next one go.
  createTextStore(db).cancel('out', blockedIds[0]!, clock.t);
  t.deepEqual(outbound.due(clock.t, 16).map((r) => r.id), [blockedIds[1]]);
  db.close();
});

/** A database as websms left it before 013, with texts in every unfinished state in both directions. */
function oldDatabase(file: string, t0: number): void {
  const old = openDatabase(file, migrationsUpTo(12));
  const inRow = old.prepare(
    `INSERT INTO inbound (interface, sender, recipient, body, body_hash, parts, state, attempts, next_attempt_at, received_at, updated_at, endpoint, reason)
     VALUES ('default', ?, ?, ?, 'h', 1, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const alice = '+46812345678';
  const bob = '+46812345679';
  // alice from A: one delivered, one waiting for her phone (not registered in the old process), two queued behind it.
  inRow.run('+46701000001', alice, 'A1 delivered', 'delivered', 1, t0, t0, t0, 'alice', null);
  inRow.run('+46701000001', alice, 'A2 waited', 'waiting', 1, t0 + 3_600_000, t0, t0, 'alice', 'no registered phone');
  inRow.run('+46701000001', alice, 'A3', 'queued', 0, t0, t0, t0, null, null);
  inRow.run('+46701000001', alice, 'A4', 'queued', 0, t0, t0, t0, null, null);
  // bob from B: one being delivered when the old websms stopped, one behind it.
  inRow.run('+46701000002', bob, 'B1 interrupted', 'sending', 1, t0, t0, t0, null, null);
  inRow.run('+46701000002', bob, 'B2', 'queued', 0, t0, t0, t0, null, null);
  // bob from C: one cancelled, then one queued.
  inRow.run('+46701000003', bob, 'C1 cancelled', 'cancelled', 0, t0, t0, t0, null, null);
  inRow.run('+46701000003', bob, 'C2', 'queued', 0, t0, t0, t0, null, null);
  const outRow = old.prepare(
    `INSERT INTO outbound (interface, origin, sender, recipient, body, encoding, segments, state, attempts, next_attempt_at, created_at, updated_at)
     VALUES ('default', 'default', ?, ?, ?, 'GSM-7', 1, ?, ?, ?, ?, ?)`,
  );
  outRow.run(alice, '+12025550101', 'X1 sent', 'sent', 1, t0, t0, t0);
  outRow.run(alice, '+12025550101', 'X2', 'queued', 0, t0, t0, t0);
  outRow.run(alice, '+12025550101', 'X3', 'queued', 0, t0, t0, t0);
  outRow.run(bob, '+12025550102', 'Y1 interrupted', 'sending', 1, t0, t0, t0);
  outRow.run(bob, '+12025550102', 'Y2', 'queued', 0, t0, t0, t0);
  old.close();
}

test('upgrade: texts queued, waiting and interrupted under the schema before 013 keep flowing, in order', (t) => {
  const clock = { t: Date.now() };
  const file = path.join(tempDir(), 'websms.db');
  oldDatabase(file, clock.t - 1000);
  const db = openDatabase(file);
  t.true((db.pragma('user_version', { simple: true }) as number) >= 8);
  t.deepEqual(storedHeads(db, 'in'), expectedHeads(db, 'in'));
  t.deepEqual(storedHeads(db, 'out'), expectedHeads(db, 'out'));
  t.is(storedHeads(db, 'in').length, 3);
  t.is(storedHeads(db, 'out').length, 2);
  const now = () => clock.t;
  const inbound = createInboundStore(db, { dedupWindowMs: 0, now });
  const outbound = createOutboundStore(db, { now });
  const body = (id: number): string => inbound.get(id)!.body!;

  t.is(inbound.resumeInterrupted(clock.t), 1);
  // B1 is due again from the restart on, after C2.
  const first = inbound.claimDue(clock.t, 10);
  t.deepEqual(first.map((r) => r.body), ['C2', 'B1 interrupted'], 'A waits for alice\'s phone');
  t.deepEqual(inbound.claimDue(clock.t, 10), [], 'B2 waits for B1, A3 for A2');
  t.is(inbound.wakeEndpoint('alice', clock.t), 1);
  const seen: string[] = [];
  for (const r of first) inbound.partDelivered(r.id, 1, 'bob', clock.t);
  for (let i = 0; i < 10; i++) {
    clock.t += 1;
    const batch = inbound.claimDue(clock.t, 10);
    if (batch.length === 0) break;
    for (const r of batch) {
      seen.push(body(r.id));
      inbound.partDelivered(r.id, 1, 'x', clock.t);
    }
  }
  t.deepEqual(seen.filter((b) => b.startsWith('A')), ['A2 waited', 'A3', 'A4']);
  t.deepEqual(seen.filter((b) => b.startsWith('B')), ['B2']);
  t.is(inbound.counts().delivered, 7, 'A1 before, and all six after');

  t.is(outbound.resumeInterrupted(clock.t), 1);
  const sent: string[] = [];
  for (let i = 0; i < 10; i++) {
    clock.t += 1;
    const batch = outbound.due(clock.t, 10);
    if (batch.length === 0) break;
    outbound.markSending(batch.map((r) => r.id), clock.t);
    for (const r of batch) {
      sent.push(r.body!);
      outbound.sent(r.id, `SM${r.id}`, clock.t);
    }
  }
  t.deepEqual(sent.filter((b) => b.startsWith('X')), ['X2', 'X3']);
  t.deepEqual(sent.filter((b) => b.startsWith('Y')), ['Y1 interrupted', 'Y2']);
  t.deepEqual(storedHeads(db, 'in'), []);
  t.deepEqual(storedHeads(db, 'out'), []);
  db.close();
});

test('upgrade, whole daemon: a database from before 013 is delivered to Asterisk and sent to the ITSP in order after the upgrade', async (t) => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'var'), { mode: 0o700 });
  const file = path.join(dir, 'var', 'websms.db');
  oldDatabase(file, Date.now() - 1000);
  const itsp = await startItspDouble({ default: () => ({ status: 201, body: { sid: `SM${Math.random().toString(16).slice(2)}` } }) });
  t.teardown(() => itsp.stop());
  const s = await startStack({ dir, interfaces: `[default]\nfield_id = MessageSid\nsend_url = ${itsp.url}/send\nsend_id_field = sid\nrate_per_number = 0\n` });
  t.teardown(() => s.stop());
  s.ami.addEndpoint('+46812345678', 'alice', []);
  s.ami.addEndpoint('+46812345679', 'bob', ['sip:bob@127.0.0.1:5070']);
  // bob's texts flow at once; alice's wait for her phone.
  await s.ami.waitFor(() => s.ami.deliveries.length >= 3, 10_000);
  const bodies = s.ami.deliveries.map((d) => d.body.toString());
  t.true(bodies.indexOf('B1 interrupted') < bodies.indexOf('B2'), bodies.join(', '));
  t.true(bodies.includes('C2'));
  s.ami.register('alice', 'sip:alice@127.0.0.1:5062');
  await s.ami.waitFor(() => s.ami.deliveries.length >= 6, 10_000);
  t.deepEqual(s.ami.deliveries.slice(3).map((d) => d.body.toString()), ['A2 waited', 'A3', 'A4']);
  // A new text for alice goes behind the old ones.
  t.is((await s.post('/sms/in/default', { To: '+46812345678', From: '+46701000001', Body: 'A5 new', MessageSid: 'SMnew' })).status, 200);
  await s.ami.waitFor(() => s.ami.deliveries.length >= 7, 10_000);
  t.is(s.ami.deliveries[6]!.body.toString(), 'A5 new');

  await itsp.waitForRequests(4, 10_000);
  const to = (r: { body: unknown }) => (r.body as Record<string, string>);
  const sentBodies = itsp.requests.map((r) => Object.values(to(r)).find((v) => /^[XY]\d/.test(v)) ?? '?');
  t.deepEqual(sentBodies.filter((b) => b.startsWith('X')), ['X2', 'X3']);
  t.deepEqual(sentBodies.filter((b) => b.startsWith('Y')), ['Y1 interrupted', 'Y2']);
  const db = new Database(file, { readonly: true });
  t.is((db.prepare(`SELECT COUNT(*) AS n FROM inbound WHERE state = 'delivered'`).get() as { n: number }).n, 7);
  db.close();
});
