// Every refusal of the webhook: a clear 4xx, nothing stored, nothing delivered.
import test from 'ava';
import http from 'node:http';
import { startStack, rows, type Stack, sleep } from './helpers/stack.js';

const ALICE = '+46812345678';
const SENDER = '+46701234567';
const OK = { To: ALICE, From: SENDER, Body: 'hello' };
const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

const INTERFACES = `
[default]
field_id = MessageSid

[locked]
allow = 10.9.8.0/24
username = itsp
password = pa55-w0rd-for-locked

[tokened]
token = tok_abcdefghijklmnop1234

[proxied]
allow = 203.0.113.0/24

[echo]
echo_field = challenge
ack_body = <Response></Response>
ack_content_type = text/xml

[basic]
username = itsp
password = pa55-w0rd-for-basic

[jsonpaths]
field_to = data.payload.to.0.phone_number
field_from = data.payload.from.phone_number
field_body = data.payload.text
field_id = data.id
`;

let s: Stack;
test.before(async () => {
  s = await startStack({ interfaces: INTERFACES, general: 'trusted_proxies = 127.0.0.1/32\nmax_request_size = 2k\nmax_body_bytes = 500\n' });
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
});
test.after.always(async () => {
  await s.stop();
});

/** Raw HTTP, for requests fetch will not make (bad methods, odd bodies). */
function raw(method: string, path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const u = new URL(s.url);
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers: { 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode!, text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const refusals: Array<[string, () => Promise<{ status: number; text: string }>, number, RegExp]> = [
  ['unknown path', () => s.post('/sms/in/nope', OK), 404, /no interface/],
  ['wrong method', () => raw('PUT', '/sms/in/default', 'To=1'), 405, /method PUT/],
  ['GET where only POST is accepted', () => raw('GET', '/sms/in/default?To=1', ''), 405, /method GET/],
  ['malformed JSON', () => raw('POST', '/sms/in/default', '{"To": ', { 'content-type': 'application/json' }), 400, /not valid JSON/],
  ['JSON that is not an object', () => raw('POST', '/sms/in/default', '["x"]', { 'content-type': 'application/json' }), 400, /JSON object/],
  ['unsupported content type', () => raw('POST', '/sms/in/default', 'hello', { 'content-type': 'text/plain' }), 415, /text\/plain/],
  ['missing To', () => s.post('/sms/in/default', { From: SENDER, Body: 'x' }), 400, /missing field To/],
  ['missing From', () => s.post('/sms/in/default', { To: ALICE, Body: 'x' }), 400, /missing field From/],
  ['missing Body', () => s.post('/sms/in/default', { To: ALICE, From: SENDER }), 400, /missing field Body/],
  ['empty Body', () => s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: '' }), 400, /empty/],
  ['repeated field', () => raw('POST', '/sms/in/default', `To=${encodeURIComponent(ALICE)}&To=1&From=1&Body=x`, { 'content-type': 'application/x-www-form-urlencoded' }), 400, /more than once/],
  ['invalid To number', () => s.post('/sms/in/default', { To: '+4670123', From: SENDER, Body: 'x' }), 400, /field To: .*too short/],
  ['letters in To', () => s.post('/sms/in/default', { To: 'Alice', From: SENDER, Body: 'x' }), 400, /field To/],
  ['CR/LF in a number', () => s.post('/sms/in/default', { To: `${ALICE}\r\nAction: Logoff`, From: SENDER, Body: 'x' }), 400, /field To/],
  ['NUL in the body', () => s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: 'a\u0000b' }), 400, /NUL/],
  ['text over max_body_bytes', () => s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: 'x'.repeat(501) }), 413, /at most 500/],
  ['request over max_request_size', () => s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: 'x'.repeat(3000) }), 413, /larger than/],
  ['address not allowed', () => s.post('/sms/in/locked', OK, { authorization: basic('itsp', 'pa55-w0rd-for-locked') }), 403, /may not post/],
  ['Basic credentials missing', () => s.post('/sms/in/basic', OK), 401, /Basic credentials/],
  ['Basic credentials wrong', () => s.post('/sms/in/basic', OK, { authorization: basic('itsp', 'wrong') }), 401, /Basic credentials/],
  ['token missing', () => s.post('/sms/in/tokened', OK), 403, /token/],
  ['token wrong', () => s.post('/sms/in/tokened/tok_wrongwrongwrong12', OK), 403, /token/],
  ['X-Forwarded-For from our trusted proxy naming a stranger', () => s.post('/sms/in/proxied', OK, { 'x-forwarded-for': '198.51.100.7' }), 403, /198\.51\.100\.7/],
];

for (const [name, call, status, reason] of refusals) {
  test.serial(`refused: ${name} -> ${status}, nothing stored`, async (t) => {
    const before = rows(s.dir).length;
    const r = await call();
    t.is(r.status, status, r.text);
    t.regex(r.text, reason);
    t.is(r.text.trim().split('\n').length, 1, 'a one-line reason');
    t.is(rows(s.dir).length, before);
    t.false(r.text.includes('pa55-w0rd'), 'no secret in the answer');
  });
}

test.serial('refusals are logged at warn without the message body', async (t) => {
  await s.post('/sms/in/default', { To: '+4670123', From: SENDER, Body: 'very private words' });
  const warn = s.logs.filter((l) => l.includes('"webhook refused"'));
  t.true(warn.length > 0);
  t.true(warn.every((l) => l.includes('"level":"warn"')));
  t.false(s.logs.some((l) => l.includes('very private words')));
  t.false(s.logs.some((l) => l.includes('pa55-w0rd') || l.includes('tok_abcdefghijklmnop1234')));
});

test.serial('accepted: Basic credentials, the URL token, and a client behind a trusted proxy', async (t) => {
  const before = rows(s.dir).length;
  t.is((await s.post('/sms/in/basic', { ...OK, Body: 'b1' }, { authorization: basic('itsp', 'pa55-w0rd-for-basic') })).status, 200);
  t.is((await s.post('/sms/in/tokened/tok_abcdefghijklmnop1234', { ...OK, Body: 'b2' })).status, 200);
  t.is((await s.post('/sms/in/proxied', { ...OK, Body: 'b3' }, { 'x-forwarded-for': '198.51.100.7, 203.0.113.9' })).status, 200);
  t.is(rows(s.dir).length, before + 3);
});

test.serial('echo handshake answers the key, stores nothing; the acknowledgement is configurable', async (t) => {
  const before = rows(s.dir).length;
  const e = await s.post('/sms/in/echo', { challenge: 'abc123' });
  t.is(e.status, 200);
  t.is(e.text, 'abc123');
  t.is(rows(s.dir).length, before);
  const r = await s.post('/sms/in/echo', { ...OK, Body: 'echo iface text' });
  t.is(r.status, 200);
  t.is(r.text, '<Response></Response>');
  t.regex(r.headers.get('content-type') ?? '', /^text\/xml/);
});

test.serial('the store cannot commit: 503 so the ITSP retries, and nothing is half-stored', async (t) => {
  s.daemon.db.exec(`CREATE TRIGGER boom BEFORE INSERT ON inbound BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
  const before = rows(s.dir).length;
  const r = await s.post('/sms/in/default', { ...OK, Body: 'during outage' });
  s.daemon.db.exec('DROP TRIGGER boom');
  t.is(r.status, 503);
  t.regex(r.text, /try again/);
  t.is(rows(s.dir).length, before);
  const again = await s.post('/sms/in/default', { ...OK, Body: 'during outage' });
  t.is(again.status, 200, 'the retry is accepted');
  await sleep(50);
  t.is(rows(s.dir).length, before + 1);
});

test.serial('the webhook listener serves webhooks only: no health endpoint there', async (t) => {
  for (const p of ['/health', '/healthz', '/readyz', '/api/texts']) {
    const r = await fetch(`${s.url}${p}`);
    t.is(r.status, 404, p);
  }
  const api = await fetch(`${s.api}/healthz`);
  t.is(api.status, 200, 'health is on the management listener');
});

test.serial('an empty provider id counts as none: the text is stored, duplicates found by content', async (t) => {
  const before = rows(s.dir).length;
  const text = { ...OK, Body: 'empty id', MessageSid: '' };
  t.is((await s.post('/sms/in/default', text)).status, 200);
  t.is((await s.post('/sms/in/default', text)).status, 200);
  t.is(rows(s.dir).length, before + 1);
});

test.serial('dotted JSON paths index arrays: data.payload.to.0.phone_number (Telnyx\'s shape)', async (t) => {
  const before = rows(s.dir).length;
  const event = { data: { id: 'evt-1', payload: { from: { phone_number: SENDER }, to: [{ phone_number: ALICE, status: 'webhook_delivered' }], text: 'array path' } } };
  const r = await s.post('/sms/in/jsonpaths', JSON.stringify(event));
  t.is(r.status, 200, r.text);
  t.like(rows(s.dir)[before], { recipient: ALICE, sender: SENDER, body: 'array path', provider_id: 'evt-1' });
  const missing = await s.post('/sms/in/jsonpaths', JSON.stringify({ data: { payload: { ...event.data.payload, to: [] } } }));
  t.is(missing.status, 400);
  t.regex(missing.text, /missing field data\.payload\.to\.0\.phone_number/);
});
