// /metrics: the module on a real database, then a whole daemon driven over
// its real sockets (webhooks, FastAGI hand-offs, an ITSP double) and scraped.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMetrics, webhookRefusal, WEBHOOK_REFUSALS } from '../src/metrics.js';
import { STATES } from '../src/store/texts.js';
import { openDatabase } from '../src/store/db.js';
import { createInboundStore, type NewInbound } from '../src/store/inbound.js';
import { createOutboundStore, type NewOutbound } from '../src/store/outbound.js';
import { createStatsReader, QUEUES_SQL } from '../src/store/stats.js';
import { parseExposition, valueOf, countOf, find, type Exposition } from './helpers/prom.js';
import { tempDir } from './helpers/tmp.js';
import { runAgi } from './doubles/agi-client.js';
import { startItspDouble, errors, twilioLike } from './doubles/itsp-server.js';
import { rows, startStack, until, type Stack } from './helpers/stack.js';

const ALICE = '+46812345678';
const BOB = '+46701234567';

const inMsg = (over: Partial<NewInbound> = {}): NewInbound => ({
  interface: 'home',
  providerId: undefined,
  sender: BOB,
  recipient: ALICE,
  body: 'hello',
  parts: 1,
  ...over,
});
const outMsg = (over: Partial<NewOutbound> = {}): NewOutbound => ({
  interface: 'home',
  sender: ALICE,
  recipient: '+12025550160',
  body: 'hi',
  encoding: 'GSM-7',
  segments: 1,
  ...over,
});

function open(now: () => number = Date.now) {
  const db = openDatabase(path.join(tempDir(), 'var', 'websms.db'));
  const inbound = createInboundStore(db, { dedupWindowMs: 0, now });
  const outbound = createOutboundStore(db, { now });
  return { db, inbound, outbound, stats: createStatsReader(db) };
}

test('texts by direction, interface and state; queue depth and oldest age; all read at scrape time', async (t) => {
  let clock = 1_700_000_000_000;
  const now = (): number => clock;
  const { db, inbound, outbound, stats } = open(now);
  const ami = { connected: false };
  const m = createMetrics({ stats, ami, interfaces: ['home', 'work'], now });

  let e = parseExposition(await m.render());
  for (const direction of ['in', 'out'] as const) {
    for (const state of STATES[direction]) t.is(valueOf(e, 'websms_texts', { direction, interface: 'work', state }), 0, `${direction} ${state}`);
    t.is(valueOf(e, 'websms_queue_depth', { direction, interface: 'home' }), 0);
    t.is(valueOf(e, 'websms_queue_oldest_age_seconds', { direction, interface: 'home' }), 0);
  }
  t.is(valueOf(e, 'websms_ami_connected'), 0);

  const a = await inbound.enqueue(inMsg({ body: 'first' }));
  await outbound.enqueue(outMsg({ recipient: '+12025550161' }));
  clock += 30_000;
  const b = await inbound.enqueue(inMsg({ body: 'second', sender: '+46701234568' }));
  await inbound.enqueue(inMsg({ body: 'third', sender: '+46701234569', interface: 'work' }));
  const o1 = await outbound.enqueue(outMsg());
  clock += 45_000;
  inbound.claimDue(clock, 10);
  inbound.partDelivered(a.id, 1, 'alice', clock);
  inbound.wait(b.id, 'alice', 'no registered phone', clock + 60_000, clock);
  outbound.markSending([o1], clock);
  outbound.sent(o1, 'SM1', clock);
  ami.connected = true;

  e = parseExposition(await m.render());
  t.is(valueOf(e, 'websms_texts', { direction: 'in', interface: 'home', state: 'delivered' }), 1);
  t.is(valueOf(e, 'websms_texts', { direction: 'in', interface: 'home', state: 'waiting' }), 1);
  t.is(valueOf(e, 'websms_texts', { direction: 'in', interface: 'home', state: 'queued' }), 0);
  t.is(valueOf(e, 'websms_texts', { direction: 'in', interface: 'work', state: 'sending' }), 1);
  t.is(valueOf(e, 'websms_texts', { direction: 'out', interface: 'home', state: 'sent' }), 1);
  t.is(valueOf(e, 'websms_texts', { direction: 'out', interface: 'home', state: 'queued' }), 1);
  t.is(valueOf(e, 'websms_queue_depth', { direction: 'in', interface: 'home' }), 1, 'the waiting one; the delivered one is done');
  t.is(valueOf(e, 'websms_queue_depth', { direction: 'in', interface: 'work' }), 1);
  t.is(valueOf(e, 'websms_queue_depth', { direction: 'out', interface: 'home' }), 1);
  t.is(valueOf(e, 'websms_queue_oldest_age_seconds', { direction: 'in', interface: 'home' }), 45, 'received 45 s ago');
  t.is(valueOf(e, 'websms_queue_oldest_age_seconds', { direction: 'out', interface: 'home' }), 75, 'handed off 75 s ago');
  t.is(valueOf(e, 'websms_queue_oldest_age_seconds', { direction: 'out', interface: 'work' }), 0);
  t.is(valueOf(e, 'websms_ami_connected'), 1);
  t.is(e.types.get('websms_texts'), 'gauge');
  db.close();
});

test('an interface no longer configured keeps its series while it has texts', async (t) => {
  const { db, inbound, stats } = open();
  const m = createMetrics({ stats, interfaces: ['home'] });
  await inbound.enqueue(inMsg({ interface: 'old' }));
  const e = parseExposition(await m.render());
  t.is(valueOf(e, 'websms_texts', { direction: 'in', interface: 'old', state: 'queued' }), 1);
  t.is(valueOf(e, 'websms_queue_depth', { direction: 'in', interface: 'old' }), 1);
  t.is(find(e, 'websms_texts', { interface: 'old', state: 'delivered' }).length, 0, 'no zero series for an unconfigured interface');
  db.close();
});

test('the counts kept by triggers equal a full count after every kind of change', async (t) => {
  const { db, inbound, outbound, stats } = open();
  for (let i = 0; i < 6; i++) await inbound.enqueue(inMsg({ sender: `+4670123456${i}`, interface: i % 2 ? 'home' : 'work' }));
  const ids = [];
  for (let i = 0; i < 6; i++) ids.push(await outbound.enqueue(outMsg({ recipient: `+1202555016${i}` })));
  const now = Date.now();
  const claimed = inbound.claimDue(now, 10);
  inbound.partDelivered(claimed[0]!.id, 1, 'alice', now);
  inbound.fail(claimed[1]!.id, 'undeliverable', 'x', now);
  inbound.wait(claimed[2]!.id, null, 'no phone', now + 1000, now);
  inbound.resumeInterrupted(now);
  outbound.markSending(ids.slice(0, 4), now);
  outbound.sent(ids[0]!, 'SM1', now);
  outbound.report('home', 'SM1', 'delivered', null, now);
  outbound.retry(ids[1]!, 'x', now, now);
  outbound.failover(ids[2]!, 'work', 'x', now);
  outbound.fail(ids[3]!, 'expired', 'x', now);
  db.prepare('DELETE FROM inbound WHERE id = ?').run(claimed[0]!.id);
  db.prepare('DELETE FROM outbound WHERE id = ?').run(ids[5]!);

  const full = (table: string, direction: string) =>
    (db.prepare(`SELECT interface, state, COUNT(*) AS n FROM ${table} GROUP BY interface, state`).all() as Array<{ interface: string; state: string; n: number }>)
      .map((r) => `${direction} ${r.interface} ${r.state} ${r.n}`);
  const kept = stats
    .counts()
    .filter((c) => c.n !== 0)
    .map((c) => `${c.direction} ${c.interface} ${c.state} ${c.n}`);
  t.deepEqual(kept.sort(), [...full('inbound', 'in'), ...full('outbound', 'out')].sort());
  t.true(kept.includes('out work queued 1'), 'the failover moved a text to another interface');
  db.close();
});

test('the counting triggers exist on both tables (a migration that rebuilds a table drops them)', (t) => {
  const { db } = open();
  const triggers = (db.prepare("SELECT tbl_name AS t, name FROM sqlite_master WHERE type = 'trigger'").all() as Array<{ t: string; name: string }>)
    .map((r) => `${r.t}.${r.name}`)
    .sort();
  for (const table of ['inbound', 'outbound']) {
    // New inbound texts are counted by the writer that inserts them (db/017), not by a trigger.
    for (const op of table === 'inbound' ? ['update', 'delete'] : ['insert', 'update', 'delete']) {
      t.true(triggers.includes(`${table}.${table}_count_${op}`), `${table} ${op}: ${triggers.join(', ')}`);
    }
  }
  db.close();
});

test('the scrape-time queries read indexes, never the whole history', (t) => {
  const { db } = open();
  const plan = (sql: string): string =>
    (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
  const queues = plan(QUEUES_SQL);
  t.regex(queues, /inbound USING INDEX inbound_active/);
  t.regex(queues, /outbound USING INDEX outbound_active/);
  t.regex(plan('SELECT direction, interface, state, n FROM text_counts'), /^SCAN text_counts$/, 'a few rows per interface, whatever the history');
  t.notRegex(queues, /SCAN (inbound|outbound)(?! USING)/);
  db.close();
});

test('counters and histograms of one daemon are its own; process metrics are there', async (t) => {
  const a = createMetrics();
  const b = createMetrics();
  a.webhookRefusals.inc({ interface: 'home', reason: 'forbidden' });
  a.itspRequests.inc({ interface: 'home', outcome: 'timeout' });
  a.retries.inc({ direction: 'out', interface: 'home' });
  a.handoffSeconds.startTimer()();
  const ea = parseExposition(await a.render());
  const eb = parseExposition(await b.render());
  t.is(valueOf(ea, 'websms_webhook_refusals_total', { interface: 'home', reason: 'forbidden' }), 1);
  t.is(valueOf(ea, 'websms_itsp_requests_total', { interface: 'home', outcome: 'timeout' }), 1);
  t.is(valueOf(ea, 'websms_retries_total', { direction: 'out', interface: 'home' }), 1);
  t.is(valueOf(ea, 'websms_handoff_duration_seconds_count'), 1);
  t.is(valueOf(ea, 'websms_handoff_duration_seconds_bucket', { le: '+Inf' }), 1);
  t.is(countOf(eb, 'websms_webhook_refusals_total'), 0);
  t.is(valueOf(eb, 'websms_handoff_duration_seconds_count'), 0);
  for (const e of [ea, eb]) {
    t.true(find(e, 'process_cpu_user_seconds_total').length === 1, 'default process metrics');
    t.true(find(e, 'nodejs_heap_size_used_bytes').length === 1);
  }
  t.regex(a.contentType, /^text\/plain; version=0\.0\.4/);
  t.is(find(ea, 'websms_texts').length, 0, 'no database, no text gauges');
});

test('webhook refusal reasons are a small fixed set, whatever the status', (t) => {
  const seen = new Set<string>();
  for (let status = 100; status < 600; status++) seen.add(webhookRefusal(status));
  t.deepEqual([...seen].sort(), [...Object.values(WEBHOOK_REFUSALS), 'other'].sort());
  t.is(webhookRefusal(403), 'forbidden');
  t.is(webhookRefusal(413), 'too_large');
  t.is(webhookRefusal(418), 'other');
});

const DEST = '+12025550160';

/** What Prometheus reads from this daemon: GET /metrics on the management listener. */
async function scrape(s: Stack): Promise<Exposition> {
  const res = await fetch(`${s.api}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  if (!/^text\/plain; version=0\.0\.4/.test(res.headers.get('content-type') ?? '')) throw new Error(`content-type ${res.headers.get('content-type')}`);
  return parseExposition(await res.text());
}

function handOff(s: Stack, body: string) {
  return runAgi({
    port: s.daemon.agiPort,
    exten: DEST,
    variables: { 'MESSAGE(body)': body, 'MESSAGE(from)': `"Alice" <sip:${ALICE}@pbx.example>`, 'MESSAGE(to)': `pjsip:${DEST}@pbx.example`, WEBSMS_INDEX: '' },
  });
}

test('a running daemon: webhooks, hand-offs and ITSP sends move the metrics they should', async (t) => {
  const itsp = await startItspDouble({ default: twilioLike() });
  t.teardown(() => itsp.stop());
  const s = await startStack({
    general: 'default_interface = itsp',
    ami: 'report_timeout = 300ms\nretry_min = 100ms\nretry_max = 200ms',
    outbound: 'retry_min = 50ms\nretry_max = 100ms\nmax_attempts = 4',
    interfaces: `[itsp]
send_url = ${itsp.url}/2010-04-01/Accounts/AC123/Messages.json
send_auth = basic
send_username = AC123
send_password = itsp-token-secret
send_id_field = sid
rate = 0
rate_per_number = 0
send_timeout = 1s
connect_timeout = 500ms

[locked]
allow = 10.9.8.0/24
`,
  });
  t.teardown(() => s.stop());
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  await until(() => s.daemon.ami.connected);

  let e = await scrape(s);
  t.is(valueOf(e, 'websms_ami_connected'), 1);
  t.is(valueOf(e, 'websms_texts', { direction: 'in', interface: 'locked', state: 'queued' }), 0, 'every configured interface has its series');

  // Inbound: the first delivery gets no report from the dialplan and is tried again.
  s.ami.queuePlan({ kind: 'noReport' });
  t.is((await s.post('/sms/in/itsp', { To: ALICE, From: BOB, Body: 'hello' })).status, 200);
  await until(() => rows(s.dir)[0]?.state === 'delivered', 10_000, 'the text delivered');
  // Refusals: a missing field, an address not allowed, a method not accepted.
  t.is((await s.post('/sms/in/itsp', { To: ALICE, From: BOB })).status, 400);
  t.is((await s.post('/sms/in/locked', { To: ALICE, From: BOB, Body: 'x' })).status, 403);
  t.is((await fetch(`${s.url}/sms/in/itsp`, { method: 'PUT', body: 'x' })).status, 405);

  // Outbound: a 500 and a timeout before the ITSP accepts; then one it refuses; then one refused at hand-off.
  itsp.queue(errors.serverError(), { hang: true });
  t.is((await handOff(s, 'flaky')).set.get('WEBSMS_STATUS'), 'QUEUED');
  await until(() => s.daemon.outbound.get(1)?.state === 'sent', 10_000, 'the first text sent');
  itsp.queue(errors.badRequest('not a mobile number'));
  t.is((await handOff(s, 'refused by the ITSP')).set.get('WEBSMS_STATUS'), 'QUEUED');
  await until(() => s.daemon.outbound.get(2)?.state === 'failed', 10_000, 'the second text failed');
  t.is((await handOff(s, '')).set.get('WEBSMS_STATUS'), 'REJECTED');
  // The failure notice to the phone is an inbound text too.
  await until(() => rows(s.dir).length === 2 && rows(s.dir).every((r) => r.state === 'delivered'), 10_000, 'the notice delivered');

  e = await scrape(s);
  t.is(valueOf(e, 'websms_texts', { direction: 'in', interface: 'itsp', state: 'delivered' }), 2);
  t.is(valueOf(e, 'websms_texts', { direction: 'out', interface: 'itsp', state: 'sent' }), 1);
  t.is(valueOf(e, 'websms_texts', { direction: 'out', interface: 'itsp', state: 'failed' }), 1);
  t.is(valueOf(e, 'websms_queue_depth', { direction: 'out', interface: 'itsp' }), 0);
  t.is(valueOf(e, 'websms_queue_oldest_age_seconds', { direction: 'out', interface: 'itsp' }), 0);
  t.is(valueOf(e, 'websms_retries_total', { direction: 'in', interface: 'itsp' }), 1);
  t.is(valueOf(e, 'websms_retries_total', { direction: 'out', interface: 'itsp' }), 2);
  for (const outcome of ['accepted', 'retry', 'timeout', 'permanent']) {
    t.is(valueOf(e, 'websms_itsp_requests_total', { interface: 'itsp', outcome }), 1, outcome);
  }
  t.is(valueOf(e, 'websms_itsp_request_duration_seconds_count', { interface: 'itsp' }), 4);
  t.true(valueOf(e, 'websms_itsp_request_duration_seconds_sum', { interface: 'itsp' }) >= 1, 'the timed-out request counts its whole second');
  t.is(valueOf(e, 'websms_itsp_request_duration_seconds_bucket', { interface: 'itsp', le: '0.5' }) < 4, true, 'not every request under 0.5 s');
  t.is(valueOf(e, 'websms_webhook_refusals_total', { interface: 'itsp', reason: 'bad_request' }), 1);
  t.is(valueOf(e, 'websms_webhook_refusals_total', { interface: 'locked', reason: 'forbidden' }), 1);
  t.is(valueOf(e, 'websms_webhook_refusals_total', { interface: 'itsp', reason: 'method_not_allowed' }), 1);
  t.is(countOf(e, 'websms_webhook_refusals_total'), 3);
  t.is(valueOf(e, 'websms_handoff_duration_seconds_count'), 2, 'two hand-offs answered QUEUED');
  t.is(valueOf(e, 'websms_handoff_refusals_total', { reason: 'empty' }), 1);
  t.is(countOf(e, 'websms_failovers_total'), 0);

  // Asterisk goes away: AMI shows disconnected, and a new text waits in the queue.
  await s.ami.pause();
  s.ami.dropConnections();
  await until(() => !s.daemon.ami.connected);
  t.is((await s.post('/sms/in/itsp', { To: ALICE, From: BOB, Body: 'while Asterisk is down' })).status, 200);
  e = await scrape(s);
  t.is(valueOf(e, 'websms_ami_connected'), 0);
  t.is(valueOf(e, 'websms_queue_depth', { direction: 'in', interface: 'itsp' }), 1);
  t.is(valueOf(e, 'websms_texts', { direction: 'in', interface: 'itsp', state: 'queued' }), 1);
  t.true(valueOf(e, 'websms_queue_oldest_age_seconds', { direction: 'in', interface: 'itsp' }) >= 0);

  // Cancelled through the management API: out of the queue, counted in its new state.
  const waitingId = rows(s.dir).find((r) => r.state === 'queued')!.id as number;
  t.is((await fetch(`${s.api}/api/texts/in-${waitingId}/cancel`, { method: 'POST' })).status, 200);
  e = await scrape(s);
  t.is(valueOf(e, 'websms_texts', { direction: 'in', interface: 'itsp', state: 'cancelled' }), 1);
  t.is(valueOf(e, 'websms_texts', { direction: 'in', interface: 'itsp', state: 'queued' }), 0);
  t.is(valueOf(e, 'websms_queue_depth', { direction: 'in', interface: 'itsp' }), 0);
  t.is(valueOf(e, 'websms_queue_oldest_age_seconds', { direction: 'in', interface: 'itsp' }), 0);
  await s.ami.resume();
});

// promtool (Debian: apt-get install prometheus) checks the exposition and the
// documented alerts as Prometheus itself would; without it these two are skipped.
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
const withPromtool = hasPromtool ? test : test.skip;
if (!hasPromtool) console.log('promtool not installed: the exposition lint and the alert rule tests are skipped');

withPromtool('promtool finds nothing wrong with our metrics (prom-client\'s own nodejs_*_total gauges aside)', async (t) => {
  const { db, inbound, stats } = open();
  const m = createMetrics({ stats, ami: { connected: true }, interfaces: ['home'] });
  await inbound.enqueue(inMsg());
  m.itspRequests.inc({ interface: 'home', outcome: 'accepted' });
  m.itspRequestSeconds.startTimer({ interface: 'home' })();
  m.retries.inc({ direction: 'in', interface: 'home' });
  m.failovers.inc({ interface: 'home', to: 'backup' });
  m.webhookRefusals.inc({ interface: 'home', reason: 'forbidden' });
  m.handoffSeconds.startTimer()();
  m.handoffRefusals.inc({ reason: 'charset' });
  const r = spawnSync('promtool', ['check', 'metrics'], { input: await m.render(), encoding: 'utf8' });
  const problems = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
  t.not(r.status, null, 'promtool ran');
  t.deepEqual(problems.filter((l) => !/^nodejs_\w+_total non-counter metrics should not have "_total" suffix$/.test(l)), []);
  db.close();
});

withPromtool('the alerting rules in docs/metrics.md are valid and fire when they should (promtool test rules)', (t) => {
  const docs = fs.readFileSync(fileURLToPath(new URL('../../docs/metrics.md', import.meta.url)), 'utf8');
  const rules = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)].map((b) => b[1]!).find((b) => b.startsWith('groups:'));
  if (rules === undefined) return t.fail('no rules block (starting with groups:) in docs/metrics.md');
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'rules.yml'), rules);
  fs.copyFileSync(fileURLToPath(new URL('../../test/fixtures/metrics/alerts.test.yml', import.meta.url)), path.join(dir, 'alerts.test.yml'));
  const check = spawnSync('promtool', ['check', 'rules', 'rules.yml'], { cwd: dir, encoding: 'utf8' });
  t.is(check.status, 0, check.stdout + check.stderr);
  t.regex(check.stdout, /SUCCESS: 3 rules found/);
  const run = spawnSync('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: dir, encoding: 'utf8' });
  t.is(run.status, 0, run.stdout + run.stderr);
});
