// End to end: phone's text -> FastAGI hand-off -> SQLite -> ITSP HTTP API, and
// notices back to the phone over AMI when a text finally fails.
import test from 'ava';
import Database from 'better-sqlite3';
import net from 'node:net';
import path from 'node:path';
import { runAgi } from './doubles/agi-client.js';
import { startItspDouble, errors, twilioLike, type ItspDouble } from './doubles/itsp-server.js';
import { merge, startStack, until, sleep, type Stack } from './helpers/stack.js';

const ALICE = '+46812345678';
const DEST = '+12025550160';

interface Outbound {
  id: number;
  state: string;
  interface: string;
  provider_id: string | null;
  reason: string | null;
  attempts: number;
  body: string;
}

function outRows(dir: string): Outbound[] {
  const db = new Database(path.join(dir, 'var', 'websms.db'), { readonly: true });
  try {
    return db.prepare('SELECT * FROM outbound ORDER BY id').all() as Outbound[];
  } finally {
    db.close();
  }
}

/** A text's history, as `websms status out-N` shows it. */
function outEvents(dir: string, id: number): string[] {
  const db = new Database(path.join(dir, 'var', 'websms.db'), { readonly: true });
  try {
    return (db.prepare("SELECT kind, detail FROM events WHERE direction = 'out' AND text_id = ? ORDER BY id").all(id) as Array<{ kind: string; detail: string | null }>).map(
      (e) => `${e.kind}: ${e.detail ?? ''}`,
    );
  } finally {
    db.close();
  }
}

function iface(itsp: ItspDouble, extra = ''): string {
  return `[itsp]\n${merge(`send_url = ${itsp.url}/2010-04-01/Accounts/AC123/Messages.json
send_auth = basic
send_username = AC123
send_password = itsp-token-secret
send_id_field = sid
rate = 0
rate_per_number = 0
breaker_failures = 3
breaker_cooldown = 400ms
send_timeout = 1s
connect_timeout = 500ms`, extra)}\n`;
}

async function setup(t: { teardown(fn: () => Promise<void>): void }, o: { extra?: string; outbound?: string; failover?: boolean } = {}) {
  const itsp = await startItspDouble({ default: twilioLike() });
  t.teardown(() => itsp.stop());
  let interfaces = iface(itsp, o.extra);
  let backup: ItspDouble | undefined;
  if (o.failover) {
    backup = await startItspDouble({ default: twilioLike() });
    t.teardown(() => backup!.stop());
    interfaces += `\n[backup]\nsend_url = ${backup.url}/send\nsend_id_field = sid\nrate = 0\nrate_per_number = 0\n`;
  }
  const s = await startStack({
    interfaces,
    general: 'default_interface = itsp',
    outbound: o.outbound ?? 'retry_min = 50ms\nretry_max = 100ms\nmax_attempts = 4',
  });
  t.teardown(() => s.stop());
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  return { s, itsp, backup };
}

function handOff(s: Stack, body: string, to = DEST, from = ALICE) {
  return runAgi({
    port: s.daemon.agiPort,
    exten: to,
    variables: {
      'MESSAGE(body)': body,
      'MESSAGE(from)': `"Alice" <sip:${from}@pbx.example>`,
      'MESSAGE(to)': `pjsip:${to}@pbx.example`,
      WEBSMS_INDEX: '',
    },
  });
}

test('hand-off to the ITSP: QUEUED, then the exact request bytes, byte-exact body', async (t) => {
  const { s, itsp } = await setup(t);
  const body = 'Hi :) see you at 10:30\nline "two" (with) 100% \\ back, slash & = + 😀';
  const run = await handOff(s, body);
  t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED');
  t.regex(run.set.get('WEBSMS_ID') ?? '', /^\d+$/);
  const [req] = await itsp.waitForRequests(1);
  t.is(req!.method, 'POST');
  t.is(req!.path, '/2010-04-01/Accounts/AC123/Messages.json');
  t.is(req!.headers.authorization, `Basic ${Buffer.from('AC123:itsp-token-secret').toString('base64')}`);
  t.regex(req!.headers['content-type'] ?? '', /^application\/x-www-form-urlencoded/);
  const expected = new URLSearchParams({ To: DEST, From: ALICE, Body: body }).toString();
  t.is(req!.rawBody.toString('utf8'), expected);
  t.is(new URLSearchParams(req!.rawBody.toString('utf8')).get('Body'), body);
  const row = await until(() => outRows(s.dir).find((r) => r.state === 'sent'));
  t.regex(row.provider_id ?? '', /^SM/);
  t.false(s.logs.some((l) => l.includes('itsp-token-secret')), 'the ITSP secret is never logged');
  t.false(s.logs.some((l) => l.includes('see you at 10:30')), 'the body is never logged');
});

test('429 with Retry-After is honoured before the next attempt', async (t) => {
  const { s, itsp } = await setup(t);
  itsp.queue(errors.rateLimited(1));
  await handOff(s, 'rate limited');
  const reqs = await itsp.waitForRequests(2, 5000);
  const gap = reqs[1]!.receivedAtEpoch - reqs[0]!.receivedAtEpoch;
  t.true(gap >= 950, `waited ${gap} ms`);
  await until(() => outRows(s.dir)[0]?.state === 'sent');
});

test('500 then success: retried with backoff', async (t) => {
  const { s, itsp } = await setup(t);
  itsp.queue(errors.serverError());
  await handOff(s, 'flaky');
  await itsp.waitForRequests(2);
  const row = await until(() => outRows(s.dir).find((r) => r.state === 'sent'));
  t.is(row.attempts, 2);
});

test('a timeout and a refused connection are retried until the ITSP answers', async (t) => {
  const { s, itsp } = await setup(t);
  itsp.queue({ hang: true });
  await handOff(s, 'slow ITSP');
  await until(() => outRows(s.dir).find((r) => r.state === 'sent'), 10_000);
  t.regex(outRows(s.dir)[0]!.reason ?? '', /^$|/);
  t.is(itsp.requests.length, 2);

  await itsp.refuseConnections();
  await handOff(s, 'ITSP down');
  await until(() => outRows(s.dir)[1]?.reason === 'the provider could not be reached', 5000);
  t.true(outEvents(s.dir, outRows(s.dir)[1]!.id).some((e) => /^retry: the provider could not be reached \(connection refused by 127\.0\.0\.1:\d+\)/.test(e)), 'the history has the detail');
  t.true(['queued', 'sending'].includes(outRows(s.dir)[1]!.state), 'still waiting for the ITSP, neither sent nor failed');
  await itsp.acceptConnections();
  await until(() => outRows(s.dir)[1]?.state === 'sent', 10_000);
  t.pass();
});

test('400 is permanent: the text fails and the sender is told why, in words of their own; the ITSP\'s words go to the history', async (t) => {
  const { s, itsp } = await setup(t);
  itsp.queue(errors.badRequest("The 'To' number +12025550160 is not a valid phone number."));
  await handOff(s, 'to a bad number please');
  const row = await until(() => outRows(s.dir).find((r) => r.state === 'failed'));
  t.is(row.reason, 'the provider refused the number; check the number and send it again');
  t.true(outEvents(s.dir, row.id).some((e) => /^failed: the provider refused the number; .* \(400: The 'To' number \+12025550160 is not a valid phone number\.\)$/.test(e)));
  t.is(itsp.requests.length, 1, 'not retried');
  const notice = await s.ami.waitForDelivery((d) => d.endpoint === 'alice', 5000);
  t.is(notice.from, DEST, 'the notice comes from the number the text went to');
  t.is(notice.body.toString(), 'Not sent to +12025550160: "to a bad number please": the provider refused the number; check the number and send it again');
  t.true(s.logs.some((l) => l.includes('"ITSP refused the text"') && l.includes('"failure":"number"') && l.includes('"status":400')));
});

test('circuit breaker: opens after repeated failures, probes after the cool-down, closes', async (t) => {
  const { s, itsp } = await setup(t, { outbound: 'retry_min = 10ms\nretry_max = 20ms\nmax_attempts = 50' });
  itsp.queue(errors.serverError(), errors.serverError(), errors.serverError(), errors.serverError());
  await handOff(s, 'breaker');
  await until(() => s.logs.some((l) => l.includes('circuit breaker open')), 5000);
  const openedAt = Date.now();
  const before = itsp.requests.length;
  t.is(before, 3, 'stops after the threshold');
  await until(() => outRows(s.dir)[0]?.state === 'sent', 5000);
  t.true(Date.now() - openedAt >= 300, 'waited for the cool-down');
  t.true(s.logs.some((l) => l.includes('circuit breaker closed')));
});

test('a conversation goes out in hand-off order', async (t) => {
  const { s, itsp } = await setup(t, { extra: 'concurrency = 8' });
  itsp.queue(errors.serverError());
  for (let i = 1; i <= 5; i++) t.is((await handOff(s, `msg ${i}`)).set.get('WEBSMS_STATUS'), 'QUEUED');
  await until(() => outRows(s.dir).every((r) => r.state === 'sent') && outRows(s.dir).length === 5, 10_000);
  const bodies = itsp.requests.map((r) => new URLSearchParams(r.rawBody.toString()).get('Body'));
  t.deepEqual([...new Set(bodies)], ['msg 1', 'msg 2', 'msg 3', 'msg 4', 'msg 5']);
});

test('while a hand-off is under way, sending goes on (a few texts at a time), never held back', async (t) => {
  const { s, itsp } = await setup(t);
  // A hand-off session held open, as Asterisk's would be mid-question: it
  // holds the PBX's message queue, so the sender works in small slices
  // (src/outbound/sender.ts, SLICE_WHILE_HANDOFFS), but it does not stop.
  const held = net.connect(s.daemon.agiPort, '127.0.0.1');
  t.teardown(() => held.destroy());
  await new Promise<void>((res) => held.once('connect', () => res()));
  await until(() => s.logs.length > 0 && held.readyState === 'open');
  const run = await handOff(s, 'while another hand-off waits');
  t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED');
  // Sent while the held session is still open (its deadline is 2 s).
  await itsp.waitForRequests(1, 1500);
  t.false(held.destroyed || held.readableEnded, 'the held session was still open');
  held.destroy();
  await until(() => outRows(s.dir).find((r) => r.state === 'sent'));
});

test('rate limit per sending number spaces the texts of one sender', async (t) => {
  const { s, itsp } = await setup(t, { extra: 'rate_per_number = 5\nconcurrency = 8' });
  for (let i = 1; i <= 4; i++) await handOff(s, `r${i}`, `+1202555016${i}`);
  const reqs = await itsp.waitForRequests(4, 5000);
  const span = reqs[3]!.receivedAtEpoch - reqs[0]!.receivedAtEpoch;
  t.true(span >= 550, `4 texts at 5/s took ${span} ms`);
});

test('failover: when attempts run out on one interface the text goes through the other', async (t) => {
  const { s, itsp, backup } = await setup(t, { failover: true, extra: 'failover = backup', outbound: 'retry_min = 10ms\nretry_max = 20ms\nmax_attempts = 2' });
  itsp.setDefault(errors.unavailable());
  await handOff(s, 'via backup');
  const [req] = await backup!.waitForRequests(1, 5000);
  t.is(new URLSearchParams(req!.rawBody.toString()).get('Body'), 'via backup');
  const row = await until(() => outRows(s.dir).find((r) => r.state === 'sent'));
  t.is(row.interface, 'backup');
});

test('delivery reports update the stored status; a failed report notifies the sender', async (t) => {
  const { s, itsp } = await setup(t);
  await handOff(s, 'report me');
  const row = await until(() => outRows(s.dir).find((r) => r.state === 'sent'));
  const auth = {};
  const r1 = await s.post('/sms/status/itsp', { MessageSid: row.provider_id!, MessageStatus: 'delivered' }, auth);
  t.is(r1.status, 200);
  t.is(outRows(s.dir)[0]!.state, 'delivered');
  await handOff(s, 'this one fails later');
  const row2 = await until(() => outRows(s.dir).find((r) => r.id !== row.id && r.state === 'sent'));
  await s.post('/sms/status/itsp', { MessageSid: row2.provider_id!, MessageStatus: 'undelivered', ErrorCode: '30003' });
  t.is(outRows(s.dir)[1]!.state, 'failed');
  const notice = await s.ami.waitForDelivery((d) => d.endpoint === 'alice', 5000);
  t.regex(notice.body.toString(), /Not sent to .*this one fails later.*: the provider could not deliver it; check the number, or send it again later$/);
  t.false(notice.body.toString().includes('30003'), 'the ITSP\'s code is for the administrator');
  t.true(outEvents(s.dir, row2.id).some((e) => e.startsWith('report: failed: the provider could not deliver it') && e.includes('30003')));
  const bad = await s.post('/sms/status/itsp', { Nothing: 'here' });
  t.is(bad.status, 400);
  t.is(itsp.requests.length, 2);
});

test('refusals at hand-off answer REJECTED with a reason and store nothing', async (t) => {
  const { s } = await setup(t, { extra: 'charset = gsm' });
  const cases: Array<[string, string, RegExp]> = [
    ['', DEST, /empty/i],
    ['emoji 😀 not in GSM', DEST, /GSM/],
    ['hello', '+4670123', /short|number|destination/i],
  ];
  for (const [body, to, reason] of cases) {
    const run = await handOff(s, body, to);
    t.is(run.set.get('WEBSMS_STATUS'), 'REJECTED', body);
    t.regex(run.set.get('WEBSMS_REASON') ?? '', reason);
  }
  await sleep(100);
  t.is(outRows(s.dir).length, 0);
});

test('expiry: a text no ITSP accepts within max_age fails as expired and the sender is told', async (t) => {
  const { s, itsp } = await setup(t, { outbound: 'retry_min = 50ms\nretry_max = 100ms\nmax_attempts = 1000\nmax_age = 1s' });
  itsp.setDefault(errors.unavailable());
  await handOff(s, 'never accepted');
  const row = await until(() => outRows(s.dir).find((r) => r.state === 'expired'), 10_000);
  t.truthy(row.reason);
  const notice = await s.ami.waitForDelivery((d) => d.endpoint === 'alice', 5000);
  t.regex(notice.body.toString(), /gave up/);
});

test('notify = all: the sender hears of every status change; notify = none: of nothing', async (t) => {
  const all = await setup(t, { outbound: 'notify = all' });
  await handOff(all.s, 'tell me everything');
  const sentNotice = await all.s.ami.waitForDelivery((d) => d.endpoint === 'alice', 5000);
  t.regex(sentNotice.body.toString(), /^Sent to \+12025550160: "tell me everything"/);

  const none = await setup(t, { outbound: 'notify = none' });
  none.itsp.queue(errors.badRequest('nope'));
  await handOff(none.s, 'tell me nothing');
  await until(() => outRows(none.s.dir)[0]?.state === 'failed');
  await sleep(300);
  t.is(none.s.ami.deliveries.length, 0);
});
