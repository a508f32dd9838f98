// Texts that arrive in parts: each part is committed before its 2xx, the last
// one joins them into one text for the phone, a restart in between loses
// nothing, and parts that never complete go out as they are after
// [general] reassembly_timeout, the gaps marked.
import test from 'ava';
import Database from 'better-sqlite3';
import path from 'node:path';
import { openDatabase } from '../src/store/db.js';
import { createInboundWriter } from '../src/store/inbound.js';
import { createPartsStore, joinBodies } from '../src/store/parts.js';
import { startStack, rows, until, type Stack } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const ALICE = '+46812345678';
const SENDER = '+46701234567';
const INTERFACES = `[default]
field_id = MessageSid
field_part_ref = concat-ref
field_part_seq = concat-part
field_part_total = concat-total
`;

const part = (seq: number, total: number, body: string, ref = '7A', id = `SM-${ref}-${seq}`) => ({
  To: ALICE,
  From: SENDER,
  Body: body,
  MessageSid: id,
  'concat-ref': ref,
  'concat-part': String(seq),
  'concat-total': String(total),
});

function partRows(dir: string): Array<Record<string, unknown>> {
  const db = new Database(path.join(dir, 'var', 'websms.db'), { readonly: true });
  try {
    return db.prepare('SELECT * FROM inbound_parts ORDER BY id').all() as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
}

async function stack(t: { teardown(fn: () => Promise<void>): void }, o: Parameters<typeof startStack>[0] = {}): Promise<Stack> {
  const s = await startStack({ interfaces: INTERFACES, ...o });
  t.teardown(() => s.stop());
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  return s;
}

test('parts out of order are stored as they come and delivered once, joined in order', async (t) => {
  const s = await stack(t);
  t.is((await s.post('/sms/in/default', part(3, 3, ' world'))).status, 200);
  t.is((await s.post('/sms/in/default', part(1, 3, 'Hello, '))).status, 200);
  t.is(rows(s.dir).length, 0, 'nothing for the phone yet');
  t.is(partRows(s.dir).length, 2, 'but both parts are committed');
  t.is((await s.post('/sms/in/default', part(1, 3, 'Hello, '))).status, 200, 'a part sent again is acknowledged');
  t.is(partRows(s.dir).length, 2, 'and stored once');
  t.is((await s.post('/sms/in/default', part(2, 3, 'wonderful'))).status, 200);
  const d = await s.ami.waitForDelivery(() => true);
  t.is(d.body.toString('utf8'), 'Hello, wonderful world');
  const [row] = rows(s.dir);
  t.like(row, { body: 'Hello, wonderful world', sender: SENDER, recipient: ALICE, provider_id: 'SM-7A-1' });
  t.is(rows(s.dir).length, 1);
  // The parts keep no body once joined; the last one sent again changes nothing.
  t.true(partRows(s.dir).every((p) => p.body === null && p.text_id === row!.id));
  t.is((await s.post('/sms/in/default', part(2, 3, 'wonderful'))).status, 200);
  t.is(rows(s.dir).length, 1);
  t.is(partRows(s.dir).length, 3);
});

test('a restart between two parts loses nothing: the new daemon joins them', async (t) => {
  const first = await startStack({ interfaces: INTERFACES });
  t.is((await first.post('/sms/in/default', part(1, 2, 'before the restart, '))).status, 200);
  await first.stop();
  const s = await stack(t, { dir: first.dir });
  t.is(partRows(s.dir).length, 1);
  t.is((await s.post('/sms/in/default', part(2, 2, 'after it'))).status, 200);
  const d = await s.ami.waitForDelivery(() => true);
  t.is(d.body.toString('utf8'), 'before the restart, after it');
});

test('parts that never complete are delivered as they are after reassembly_timeout, also after a restart', async (t) => {
  const first = await startStack({ interfaces: INTERFACES, general: 'reassembly_timeout = 1s' });
  t.is((await first.post('/sms/in/default', part(1, 4, 'first words ', 'B1'))).status, 200);
  t.is((await first.post('/sms/in/default', part(3, 4, 'third words', 'B1'))).status, 200);
  await first.stop();
  t.is(rows(first.dir).length, 0);
  const s = await stack(t, { dir: first.dir, general: 'reassembly_timeout = 1s' });
  const d = await s.ami.waitForDelivery(() => true);
  t.is(d.body.toString('utf8'), 'first words [part 2 of 4 missing]third words[part 4 of 4 missing]');
  t.true(s.logs.some((l) => l.includes('delivered without all of them') && l.includes('"level":"warn"')));
  t.false(s.logs.some((l) => l.includes('third words')), 'no body in the log');
});

test('a part is refused with 4xx, storing nothing, when it cannot belong to a text', async (t) => {
  const s = await stack(t, { general: 'max_body_bytes = 20' });
  const cases: Array<[Record<string, string>, number, RegExp]> = [
    [{ ...part(3, 2, 'x') }, 400, /part 3 of 2/],
    [{ ...part(1, 2, 'x'), 'concat-total': 'two' }, 400, /concat-total must be a whole number/],
    [{ ...part(1, 2, 'x'), 'concat-ref': '' }, 400, /missing field concat-ref/],
  ];
  for (const [body, status, reason] of cases) {
    const r = await s.post('/sms/in/default', body);
    t.is(r.status, status, r.text);
    t.regex(r.text, reason);
  }
  t.is(partRows(s.dir).length, 0);
  t.is((await s.post('/sms/in/default', part(1, 2, '0123456789012345'))).status, 200);
  const long = await s.post('/sms/in/default', part(2, 2, 'and more than 20'));
  t.is(long.status, 413, 'the joined text would be over max_body_bytes');
  t.is(partRows(s.dir).length, 1);
});

test('the parts store: a reused reference delivers the older text as it is; joined parts are forgotten after the window', (t) => {
  const db = openDatabase(path.join(tempDir(), 'p.db'));
  t.teardown(() => db.close());
  const parts = createPartsStore(db, {
    write: createInboundWriter(db, { dedupWindowMs: 1000 }),
    countParts: () => 1,
    dedupWindowMs: 1000,
    maxBytes: 8000,
  });
  const p = (seq: number, body: string) => ({ interface: 'i', sender: SENDER, recipient: ALICE, ref: 'r', seq, total: 2, body, providerId: undefined, media: [] });
  t.like(parts.add(p(1, 'old '), 1000), { kind: 'waiting', have: 1 });
  t.is(parts.oldestWaiting(), 1000);
  t.like(parts.add(p(1, 'new '), 2000), { kind: 'waiting', have: 1 });
  const texts = db.prepare('SELECT body FROM inbound ORDER BY id').all() as Array<{ body: string }>;
  t.deepEqual(texts.map((x) => x.body), ['old [part 2 of 2 missing]']);
  t.like(parts.add(p(2, 'text'), 2500), { kind: 'complete' });
  t.is(parts.oldestWaiting(), undefined);
  t.deepEqual((db.prepare('SELECT body FROM inbound ORDER BY id').all() as Array<{ body: string }>).map((x) => x.body), ['old [part 2 of 2 missing]', 'new text']);
  t.like(parts.add(p(2, 'text'), 3000), { kind: 'duplicate' });
  parts.add({ ...p(1, 'x'), ref: 'other' }, 5000);
  t.is((db.prepare('SELECT COUNT(*) AS n FROM inbound_parts WHERE text_id IS NOT NULL').get() as { n: number }).n, 0, 'joined parts older than the window are gone');
});

test('joinBodies marks single and consecutive gaps', (t) => {
  t.is(joinBodies([{ seq: 2, body: 'b' }], 4), '[part 1 of 4 missing]b[parts 3-4 of 4 missing]');
  t.is(joinBodies([{ seq: 1, body: 'a' }, { seq: 2, body: 'b' }], 2), 'ab');
});
