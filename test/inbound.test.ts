// End to end: ITSP webhook -> SQLite -> AMI Originate -> dialplan report.
import test from 'ava';
import { startStack, rows, until, sleep, AMI_SECRET } from './helpers/stack.js';

const ALICE = '+46812345678';
const SENDER = '+46701234567';

async function stack(t: { teardown(fn: () => Promise<void>): void }, o: Parameters<typeof startStack>[0] = {}) {
  const s = await startStack(o);
  t.teardown(() => s.stop());
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062;ob', 'sip:alice@127.0.0.1:5064']);
  return s;
}

test('webhook to Originate to UserEvent: delivered to every contact', async (t) => {
  const s = await stack(t);
  const r = await s.post('/sms/in/default', { To: '08-12 34 56 78', From: SENDER, Body: 'Hej då, världen! 👋', MessageSid: 'SM1' });
  t.is(r.status, 200);
  const d = await s.ami.waitFor(() => (s.ami.deliveries.length === 2 ? s.ami.deliveries : undefined));
  t.deepEqual(d.map((x) => x.contact).sort(), ['sip:alice@127.0.0.1:5062;ob', 'sip:alice@127.0.0.1:5064']);
  for (const x of d) {
    t.is(x.body.toString('utf8'), 'Hej då, världen! 👋');
    t.is(x.from, SENDER);
    t.is(x.to, ALICE);
  }
  const o = s.ami.originates[0]!;
  t.is(o.channel, `Local/${ALICE}@dp_entry_answer`);
  t.is(o.context, 'dp_entry_text_in');
  t.is(o.exten, ALICE);
  t.is(o.priority, '1');
  t.true(o.async);
  t.is(o.variables['MESSAGE(to)'], ALICE);
  t.is(o.variables['MESSAGE(from)'], SENDER);
  t.is(o.variables.WEBSMS_INTERFACE, 'default');
  t.regex(o.variables.WEBSMS_ID!, /^\d+\.1$/);
  const row = await until(() => rows(s.dir).find((x) => x.state === 'delivered'));
  t.is(row.endpoint, 'alice');
  t.is(row.recipient, ALICE);
});

test('the AMI login subscribes to exactly call, user and system', async (t) => {
  const s = await stack(t);
  await until(() => s.daemon.ami.connected);
  const session = s.ami.sessions.find((x) => x.authenticated && !x.closed)!;
  t.deepEqual([...session.eventMask].sort(), ['call', 'system', 'user']);
  // Newexten (class dialplan) carries raw bodies: a correct session never sees it.
  await s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: 'secret body text' });
  await until(() => rows(s.dir)[0]?.state === 'delivered');
  t.false(s.logs.some((l) => l.includes('secret body text')), 'body never logged');
});

test('a body with CR/LF and an injected AMI action arrives intact and harmless', async (t) => {
  const s = await stack(t);
  const evil = 'hi\r\n\r\nAction: Originate\r\nChannel: Local/+1900@evil\r\nContext: evil\r\n\r\nAction: Logoff\nVariable: X=1,Y=2 "q" \\ end';
  t.is((await s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: evil })).status, 200);
  const d = await s.ami.waitForDelivery(() => true);
  t.is(d.body.toString('utf8'), evil);
  await until(() => rows(s.dir)[0]?.state === 'delivered');
  const names = s.ami.actions.map((a) => a.name);
  t.is(names.filter((n) => n.toLowerCase() === 'originate').length, 1);
  t.false(names.some((n) => n.toLowerCase() === 'logoff'));
  t.false(s.ami.actions.some((a) => a.rejected !== undefined));
  t.is(s.ami.originates.length, 1);
  t.false(s.ami.originates.some((o) => o.context === 'evil'));
});

test('UTF-8 bodies survive the round trip byte for byte', async (t) => {
  const s = await stack(t);
  const bodies = ['åäö ÅÄÖ', 'emoji 😀🇸🇪👨‍👩‍👧', 'line\nbreak', 'commas, "quotes", \'single\', %41 %% 100%', 'back\\slash ; semi = eq & amp'];
  for (const [i, body] of bodies.entries()) {
    t.is((await s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: body, MessageSid: `u${i}` })).status, 200);
  }
  await until(() => s.ami.deliveries.length === bodies.length * 2);
  const got = [...new Set(s.ami.deliveries.map((d) => d.body.toString('utf8')))];
  t.deepEqual(got, bodies, 'in order, exact');
});

test('JSON webhooks with nested field paths', async (t) => {
  const s = await stack(t, {
    interfaces: '[jsonitsp]\nfield_to = data.to\nfield_from = data.from\nfield_body = data.text\nfield_id = data.id\n',
  });
  const r = await s.post('/sms/in/jsonitsp', JSON.stringify({ data: { to: ALICE, from: SENDER, text: 'via json', id: 'j1' } }));
  t.is(r.status, 200, r.text);
  const d = await s.ami.waitForDelivery(() => true);
  t.is(d.body.toString(), 'via json');
});

test('GET webhooks with query parameters, when the interface allows GET', async (t) => {
  const s = await stack(t, { interfaces: '[getitsp]\nmethods = GET, POST\n' });
  const q = new URLSearchParams({ To: ALICE, From: SENDER, Body: 'via GET' });
  const r = await fetch(`${s.url}/sms/in/getitsp?${q}`);
  t.is(r.status, 200);
  const d = await s.ami.waitForDelivery(() => true);
  t.is(d.body.toString(), 'via GET');
});

test('long bodies go as several SIP messages, in order, each chunk under the AMI line limit', async (t) => {
  const s = await stack(t);
  const cases = [
    'GSM text of some length. '.repeat(70).slice(0, 1530),
    'Съешь же ещё этих мягких булок '.repeat(22).slice(0, 670),
    '😀'.repeat(335),
    'CR\r\nLF\nmixed\r'.repeat(120),
  ];
  for (const body of cases) {
    t.is((await s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: body })).status, 200);
  }
  await until(() => rows(s.dir).every((r) => r.state === 'delivered') && rows(s.dir).length === cases.length, 20_000);
  // One contact's view: the parts, in order, rebuild every text exactly.
  const seen = s.ami.deliveries.filter((d) => d.contact.endsWith(':5064')).map((d) => d.body.toString('utf8'));
  const rebuilt: string[] = [];
  let cur = '';
  for (const p of seen) {
    const m = /^\((\d+)\/(\d+)\) /.exec(p);
    t.truthy(m, 'every part has a marker');
    cur += p.slice(m![0].length);
    if (m![1] === m![2]) {
      rebuilt.push(cur);
      cur = '';
    }
  }
  t.deepEqual(rebuilt, cases);
  for (const a of s.ami.actions) {
    t.is(a.rejected, undefined);
    for (const line of a.raw.split('\r\n')) t.true(Buffer.byteLength(line) < 1022);
  }
  t.true(seen.every((p) => Buffer.byteLength(p) <= 1000));
});

test('duplicate webhooks: same provider id, or same content within the window, store and deliver once', async (t) => {
  const s = await stack(t);
  const a = { To: ALICE, From: SENDER, Body: 'once', MessageSid: 'SMdup' };
  const results = await Promise.all([s.post('/sms/in/default', a), s.post('/sms/in/default', a), s.post('/sms/in/default', { ...a, Body: 'retry text differs' })]);
  t.deepEqual(results.map((r) => r.status), [200, 200, 200]);
  const b = { To: ALICE, From: SENDER, Body: 'no id given' };
  t.is((await s.post('/sms/in/default', b)).status, 200);
  t.is((await s.post('/sms/in/default', b)).status, 200);
  await until(() => rows(s.dir).length === 2 && rows(s.dir).every((r) => r.state === 'delivered'));
  await sleep(200);
  t.is(s.ami.originates.length, 2);
});

test('phone offline: the text waits and is delivered when the endpoint registers', async (t) => {
  const s = await stack(t, { ami: 'retry_min = 1h\nretry_max = 2h\n' });
  s.ami.addEndpoint('+46811111111', 'bob', []);
  t.is((await s.post('/sms/in/default', { To: '+46811111111', From: SENDER, Body: 'are you there?' })).status, 200);
  t.is((await s.post('/sms/in/default', { To: '+46811111111', From: SENDER, Body: 'second' })).status, 200);
  const waiting = await until(() => rows(s.dir).find((r) => r.state === 'waiting'));
  t.is(waiting.endpoint, 'bob');
  t.is(s.ami.deliveries.length, 0);
  await sleep(300);
  t.is(s.ami.originates.length, 1, 'the second text waits behind the first');
  s.ami.register('bob', 'sip:bob@127.0.0.1:5070', 'NonQualified');
  const d = await s.ami.waitFor(() => (s.ami.deliveries.length === 2 ? s.ami.deliveries : undefined));
  t.deepEqual(d.map((x) => x.body.toString()), ['are you there?', 'second']);
});

test('Asterisk down, then up: texts are accepted meanwhile and delivered once, in order, after reconnect', async (t) => {
  const s = await stack(t);
  await until(() => s.daemon.ami.connected);
  await s.ami.pause();
  s.ami.dropConnections();
  await until(() => !s.daemon.ami.connected);
  for (const body of ['one', 'two', 'three']) {
    t.is((await s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: body })).status, 200);
  }
  await sleep(300);
  t.is(s.ami.originates.length, 0);
  await s.ami.resume();
  await until(() => rows(s.dir).every((r) => r.state === 'delivered'), 10_000);
  await sleep(200);
  t.is(s.ami.originates.length, 3, 'each exactly once');
  const bodies = s.ami.deliveries.filter((d) => d.contact.endsWith(':5064')).map((d) => d.body.toString());
  t.deepEqual(bodies, ['one', 'two', 'three']);
});

test('Originate refused at once (Extension does not exist.): undeliverable with the reason', async (t) => {
  const s = await stack(t);
  s.ami.queuePlan({ kind: 'error', message: 'Extension does not exist.' });
  await s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: 'x' });
  const row = await until(() => rows(s.dir).find((r) => r.state === 'undeliverable'));
  t.regex(String(row.reason), /Extension does not exist/);
});

test('Originate failing later (OriginateResponse Failure): undeliverable', async (t) => {
  const s = await stack(t);
  s.ami.queuePlan({ kind: 'failure' });
  await s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: 'x' });
  const row = await until(() => rows(s.dir).find((r) => r.state === 'undeliverable'));
  t.regex(String(row.reason), /did not answer/);
});

test('dialplan FAILED report: undeliverable with the dialplan reason', async (t) => {
  const s = await stack(t);
  await s.post('/sms/in/default', { To: '+46899999999', From: SENDER, Body: 'to nobody' });
  const row = await until(() => rows(s.dir).find((r) => r.state === 'undeliverable'));
  t.truthy(row.reason);
});

test('no report within the timeout: delivered again later, never dropped', async (t) => {
  const s = await stack(t, { ami: 'report_timeout = 300ms\nretry_min = 100ms\nretry_max = 200ms\n' });
  s.ami.queuePlan({ kind: 'noReport' });
  await s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: 'try again' });
  await until(() => rows(s.dir)[0]?.state === 'delivered', 10_000);
  t.is(s.ami.originates.length, 2);
  t.is(rows(s.dir)[0]!.attempts, 2);
});

test('a hung Asterisk (no answer to Originate) times out and the text is retried', async (t) => {
  const s = await stack(t, { ami: 'action_timeout = 300ms\nretry_min = 100ms\nretry_max = 200ms\nping_interval = 1h\n' });
  s.ami.queuePlan({ kind: 'silent' });
  await s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: 'patience' });
  await until(() => rows(s.dir)[0]?.state === 'delivered', 10_000);
  t.true(s.ami.originates.length >= 2);
});

test('texts older than the maximum age expire instead of being delivered', async (t) => {
  const s = await stack(t, { ami: 'max_age = 1s\nretry_min = 2s\nretry_max = 2s\n' });
  s.ami.addEndpoint('+46811111111', 'bob', []);
  await s.post('/sms/in/default', { To: '+46811111111', From: SENDER, Body: 'too late' });
  await until(() => rows(s.dir)[0]?.state === 'waiting');
  await until(() => rows(s.dir)[0]?.state === 'expired', 10_000);
  t.pass();
});

test('a wrong AMI secret is retried with backoff and never logged', async (t) => {
  const s = await stack(t, { double: { secret: 'other' } });
  await until(() => s.ami.actions.filter((a) => a.name.toLowerCase() === 'login').length >= 2, 10_000);
  t.false(s.daemon.ami.connected);
  t.true(s.logs.some((l) => l.includes('ami login refused')));
  t.false(s.logs.some((l) => l.includes(AMI_SECRET)));
});
