// The Zadarma profile: the request signature against the test vector of
// providers.md §6.2 and an independent transcription of the SDKs' algorithm,
// a signed text sent over real HTTP to the ITSP double, Zadarma's answers, and
// its notifications (signed both ways the SDKs sign, zd_echo, other events).

import test, { type ExecutionContext } from 'ava';
import crypto from 'node:crypto';
import { adapterFor } from '../providers/index.js';
import type { OutgoingText, WebhookRequest } from '../providers/types.js';
import { phpUrlencode, zadarma, zadarmaQuery, zadarmaSignature } from '../providers/zadarma.js';
import type { InterfaceConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { createHttpClient } from '../src/outbound/http.js';
import { startItspDouble, type ItspDouble } from './doubles/itsp-server.js';
import { profileInterface, webhook } from './helpers/profile.js';

const KEY = 'a1b2c3d4e5';
const SECRET = 's3cr3t';
const TEXT: OutgoingText = { id: 7, from: '+12025550160', to: '+12025550161', body: 'Hello world', reference: 'out-7' };

function iface(extra: Record<string, string> = {}): InterfaceConfig {
  return profileInterface('zadarma', { account: KEY, secret: SECRET, number: '+12025550160', ...extra }, 'gw', 'country_code = 1\ndefault_interface = gw');
}

async function double(t: ExecutionContext): Promise<ItspDouble> {
  const d = await startItspDouble({ default: { status: 200, body: { status: 'success', messages: 1, cost: 0.06, currency: 'USD', denied_numbers: [] } } });
  t.teardown(() => d.stop());
  return d;
}

/** The algorithm of providers.md §6.2, written out again here from the document, not from the profile. */
function documentedAuthorization(key: string, secret: string, path: string, paramsStr: string): string {
  const md5 = crypto.createHash('md5').update(paramsStr).digest('hex');
  const hexSig = crypto.createHmac('sha1', secret).update(path + paramsStr + md5).digest('hex');
  return `${key}:${Buffer.from(hexSig).toString('base64')}`;
}

// ---- the request signature ----------------------------------------------------

test('signature: the test vector of providers.md §6.2, step by step', (t) => {
  const q = zadarmaQuery({ number: '12025550161', message: 'Hello world', format: 'json' });
  t.is(q, 'format=json&message=Hello+world&number=12025550161');
  t.is(crypto.createHash('md5').update(q).digest('hex'), '82925afc44c3b91446e9901b7323e581');
  t.is(`${KEY}:${zadarmaSignature('/v1/sms/send/', q, SECRET)}`, 'a1b2c3d4e5:MWJkOTM5OTIzNzNiM2I5MmM4MjQ1Y2M1MTI4YTNhMDljOTAzMjU5Yw==');
});

test('signature: parameters encoded as PHP urlencode does (RFC 1738: * ~ ! \' ( ) encoded, space as +)', (t) => {
  // PHP: urlencode("a*b~c d!'()") === "a%2Ab%7Ec+d%21%27%28%29"; urlencode("å€") === "%C3%A5%E2%82%AC".
  t.is(phpUrlencode("a*b~c d!'()"), 'a%2Ab%7Ec+d%21%27%28%29');
  t.is(phpUrlencode('å€'), '%C3%A5%E2%82%AC');
  t.is(phpUrlencode('-_.AZaz09'), '-_.AZaz09');
  t.is(zadarmaQuery({ b: '2', a: '1', B: '0' }), 'B=0&a=1&b=2');
});

test('send: a signed form POST to /v1/sms/send/ whose Authorization matches the documented algorithm over the exact body', async (t) => {
  const d = await double(t);
  const i = iface({ api_url: d.url });
  t.is(i.send.url, `${d.url}/v1/sms/send/`);
  const body = 'Tricky: 100% *stars* ~tilde~ (parens) it\'s a&b=c+d\nnew line 👋 åäö';
  const client = createHttpClient(i.send);
  t.teardown(() => client.close());
  const res = await client.send(zadarma.buildRequest({ ...TEXT, body }, i.send));
  t.true(res.ok);
  const [r] = await d.waitForRequests(1);
  t.is(r!.method, 'POST');
  t.is(r!.path, '/v1/sms/send/');
  t.is(r!.contentType, 'application/x-www-form-urlencoded');
  const raw = r!.rawBody.toString('latin1');
  t.is(r!.headers['authorization'], documentedAuthorization(KEY, SECRET, '/v1/sms/send/', raw));
  t.deepEqual(r!.body, { caller_id: '12025550160', format: 'json', message: body, number: '12025550161' });
  // Sorted keys, PHP encoding: what Zadarma re-encodes to check the signature.
  t.true(raw.startsWith('caller_id=12025550160&format=json&message=Tricky%3A+100%25+%2Astars%2A+%7Etilde%7E+%28parens%29+it%27s'));
  t.deepEqual(zadarma.parseResponse(res.ok ? res.answer : (undefined as never), i.send), { kind: 'accepted', providerId: null });
});

test('send: send_from = sender (the OpenAPI name) and send_extra fields are sent and signed', async (t) => {
  const d = await double(t);
  const i = iface({ api_url: d.url, send_from: 'sender' });
  const withExtra = { ...i.send, extra: { language: 'en' } };
  const client = createHttpClient(withExtra);
  t.teardown(() => client.close());
  await client.send(zadarma.buildRequest(TEXT, withExtra));
  const [r] = await d.waitForRequests(1);
  t.deepEqual(r!.body, { format: 'json', language: 'en', message: 'Hello world', number: '12025550161', sender: '12025550160' });
  t.is(r!.headers['authorization'], documentedAuthorization(KEY, SECRET, '/v1/sms/send/', r!.rawBody.toString('latin1')));
});

// ---- answers ---------------------------------------------------------------------

function answer(status: number, body: unknown, headers: Record<string, string> = {}) {
  return { status, headers, body: typeof body === 'string' ? body : JSON.stringify(body) };
}

test('answers: success, a denied number inside a success, an error status inside a 200', (t) => {
  const cfg = iface().send;
  t.deepEqual(zadarma.parseResponse(answer(200, { status: 'success', messages: 1, cost: 0.06, currency: 'USD', sms_detalization: [{ senderid: '12025550160', number: '12025550161', cost: 0.06 }], denied_numbers: [] }), cfg), {
    kind: 'accepted',
    providerId: null,
  });
  t.deepEqual(zadarma.parseResponse(answer(200, { status: 'success', messages: 0, denied_numbers: [{ number: '12025550161', message: 'Sending to this direction is not allowed' }] }), cfg), {
    kind: 'permanent',
    reason: 'Zadarma refused 12025550161: Sending to this direction is not allowed',
  });
  t.deepEqual(zadarma.parseResponse(answer(200, { status: 'error', message: 'Wrong parameters!' }), cfg), { kind: 'permanent', reason: 'Wrong parameters!' });
});

test('answers: 401 and 400 are permanent with Zadarma\'s message; 429 waits for Retry-After or X-RateLimit-Reset; 5xx retries', (t) => {
  const cfg = iface().send;
  t.deepEqual(zadarma.parseResponse(answer(401, { status: 'error', message: 'Not authorized' }), cfg), { kind: 'permanent', reason: '401: Not authorized' });
  t.deepEqual(zadarma.parseResponse(answer(400, { status: 'error', message: 'Incorrect phone number' }), cfg), { kind: 'permanent', reason: '400: Incorrect phone number' });
  t.deepEqual(zadarma.parseResponse(answer(429, { status: 'error', message: 'Too many requests' }, { 'retry-after': '7' }), cfg), {
    kind: 'retry',
    reason: '429: Too many requests',
    retryAfterMs: 7000,
  });
  t.deepEqual(zadarma.parseResponse(answer(429, { status: 'error', message: 'Too many requests' }, { 'x-ratelimit-reset': '30' }), cfg), {
    kind: 'retry',
    reason: '429: Too many requests',
    retryAfterMs: 30_000,
  });
  const at = Math.floor(Date.now() / 1000) + 3600 * 5;
  const far = zadarma.parseResponse(answer(429, '', { 'x-ratelimit-reset': String(at) }), cfg);
  t.is(far.kind, 'retry');
  t.is(far.kind === 'retry' ? far.retryAfterMs : 0, 3_600_000, 'a reset hours away is capped');
  t.deepEqual(zadarma.parseResponse(answer(502, '<html>bad gateway</html>'), cfg), { kind: 'retry', reason: '502: Bad Gateway' });
});

test('answers: read over real HTTP from the double (rate limited, then accepted)', async (t) => {
  const d = await double(t);
  d.queue({ status: 429, body: { status: 'error', message: 'Too many requests' }, headers: { 'x-ratelimit-reset': '2' } });
  const i = iface({ api_url: d.url });
  const client = createHttpClient(i.send);
  t.teardown(() => client.close());
  const first = await client.send(zadarma.buildRequest(TEXT, i.send));
  const second = await client.send(zadarma.buildRequest(TEXT, i.send));
  t.true(first.ok && second.ok);
  if (!first.ok || !second.ok) return;
  t.deepEqual(zadarma.parseResponse(first.answer, i.send), { kind: 'retry', reason: '429: Too many requests', retryAfterMs: 2000 });
  t.deepEqual(zadarma.parseResponse(second.answer, i.send), { kind: 'accepted', providerId: null });
});

// ---- notifications -----------------------------------------------------------------

const RESULT = '{"caller_id":"12025550160","caller_did":"12025550161","text":"Hi"}';
const PHP_SIG = 'NWEzNTAwOTFjY2ZlNTE2ZjU3ZGUyMTkyZTBiYmI4ZjZkMWU4ZDIyZQ==';
const RAW_SIG = 'WjUAkcz+UW9X3iGS4Lu49tHo0i4=';
const URL = 'https://sms.example.org/sms/in/gw';

/** The documented example notification (providers.md §6.5), byte for byte. */
function notification(signature: string | undefined, body = 'event=SMS&result=%7B%22caller_id%22%3A%2212025550160%22%2C%22caller_did%22%3A%2212025550161%22%2C%22text%22%3A%22Hi%22%7D', url = URL): WebhookRequest {
  return webhook({ url, body, headers: signature === undefined ? {} : { Signature: signature } });
}

test('notification: the documented example verifies (PHP SDK signature, and the TypeScript SDK\'s raw form) and parses', (t) => {
  const i = iface();
  const req = notification(PHP_SIG);
  t.is(req.fields['result'], RESULT);
  t.deepEqual(zadarma.verifyWebhook!(req, i, Date.now()), { ok: true });
  t.deepEqual(zadarma.verifyWebhook!(notification(RAW_SIG), i, Date.now()), { ok: true });
  t.deepEqual(zadarma.parseWebhook!(req, i), {
    kind: 'texts',
    texts: [{ from: '+12025550160', to: '+12025550161', body: 'Hi', providerId: null, media: [] }],
  });
  t.deepEqual(zadarma.answer!(zadarma.parseWebhook!(req, i), i), { status: 200, contentType: 'text/plain; charset=utf-8', body: '' });
});

test('notification: refused with a wrong secret, a changed result, no Signature, or an unsigned event; signing_secret wins over secret', (t) => {
  const i = iface();
  const wrong = zadarma.verifyWebhook!(notification(PHP_SIG), iface({ secret: 'another-secret' }), Date.now());
  t.false(wrong.ok);
  t.false(JSON.stringify(wrong).includes('another-secret'), 'the reason never holds the secret');
  const changed = notification(PHP_SIG, 'event=SMS&result=' + encodeURIComponent(RESULT.replace('Hi', 'Hi!')));
  t.like(zadarma.verifyWebhook!(changed, i, Date.now()), { ok: false });
  t.deepEqual(zadarma.verifyWebhook!(notification(undefined), i, Date.now()), { ok: false, reason: 'no Signature header: not signed by Zadarma' });
  t.like(zadarma.verifyWebhook!(notification(PHP_SIG, 'result=' + encodeURIComponent(RESULT)), i, Date.now()), { ok: false });
  t.like(zadarma.verifyWebhook!(notification(PHP_SIG), iface({ signing_secret: 'not-the-one-used' }), Date.now()), { ok: false });
  t.deepEqual(zadarma.verifyWebhook!(notification(PHP_SIG), iface({ secret: 'x'.repeat(20), signing_secret: SECRET }), Date.now()), { ok: true });
});

test('notification: Zadarma signs the result only, so the URL is not covered (the path token or allow list guards it)', (t) => {
  t.deepEqual(zadarma.verifyWebhook!(notification(PHP_SIG, undefined, 'https://other.example.org/elsewhere?x=1'), iface(), Date.now()), { ok: true });
});

test('zd_echo: answered with exactly its value, unsigned, nothing stored', (t) => {
  const i = iface();
  const req = webhook({ url: `${URL}?zd_echo=4f1c2b7a9e` });
  t.deepEqual(zadarma.verifyWebhook!(req, i, Date.now()), { ok: true });
  const parsed = zadarma.parseWebhook!(req, i);
  t.deepEqual(parsed, { kind: 'echo', body: '4f1c2b7a9e' });
  t.deepEqual(zadarma.answer!(parsed, i), { status: 200, contentType: 'text/plain', body: '4f1c2b7a9e' });
  const bad = t.throws(() => zadarma.parseWebhook!(webhook({ url: `${URL}?zd_echo=${encodeURIComponent('<script> x')}` }), i), { instanceOf: RequestError });
  t.is((bad as RequestError).status, 400);
  // An SMS notification with a stray zd_echo is still checked and read as a text.
  const smuggled = notification(undefined, `zd_echo=1&event=SMS&result=${encodeURIComponent(RESULT)}`);
  t.false(zadarma.verifyWebhook!(smuggled, i, Date.now()).ok);
});

test('notification: other events, signed as the SDK signs them, are acknowledged and ignored', (t) => {
  const i = iface();
  const fields = { event: 'NOTIFY_START', call_start: '2024-03-01 10:00:00', pbx_call_id: 'in_1', caller_id: '12025550161', called_did: '12025550160' };
  const sig = crypto.createHmac('sha1', SECRET).update(fields.caller_id + fields.called_did + fields.call_start).digest('base64');
  const req = webhook({ url: URL, body: new URLSearchParams(fields).toString(), headers: { signature: sig } });
  t.deepEqual(zadarma.verifyWebhook!(req, i, Date.now()), { ok: true });
  t.deepEqual(zadarma.parseWebhook!(req, i), { kind: 'ignored', reason: 'Zadarma event NOTIFY_START is not a text' });
});

test('notification: at the delivery-report URL an SMS is not taken as a text (Zadarma has no reports)', (t) => {
  const req = webhook({ url: URL, body: 'event=SMS&result=' + encodeURIComponent(RESULT), headers: { signature: PHP_SIG }, route: 'status' });
  t.deepEqual(zadarma.verifyWebhook!(req, iface(), Date.now()), { ok: true });
  t.deepEqual(zadarma.parseWebhook!(req, iface()), { kind: 'ignored', reason: 'Zadarma sends no delivery reports' });
});

test('notification: unreadable SMS notifications are 400 with the reason', (t) => {
  const i = iface();
  const cases: Array<[string, RegExp]> = [
    ['event=SMS&result=not-json', /result is not a JSON object/],
    ['event=SMS&result=' + encodeURIComponent('{"caller_did":"12025550161","text":"Hi"}'), /without caller_id/],
    ['event=SMS&result=' + encodeURIComponent('{"caller_id":"12025550160","caller_did":"12025550161"}'), /without text/],
    ['foo=bar', /no event field/],
  ];
  for (const [body, reason] of cases) {
    const err = t.throws(() => zadarma.parseWebhook!(webhook({ url: URL, body }), i), { instanceOf: RequestError });
    t.is((err as RequestError).status, 400);
    t.regex((err as RequestError).reason, reason);
  }
  // No caller_did: the interface's own number is the recipient.
  const noDid = webhook({ url: URL, body: 'event=SMS&result=' + encodeURIComponent('{"caller_id":"12025550160","text":"Hi"}') });
  t.like(zadarma.parseWebhook!(noDid, i), { kind: 'texts', texts: [{ to: '+12025550160' }] });
});

test('profile: registered, with its settings; the defaults load as a valid interface', (t) => {
  t.is(adapterFor('zadarma'), zadarma);
  t.deepEqual(
    zadarma.settings!.map((s) => [s.key, s.secret, s.required]),
    [
      ['account', false, true],
      ['secret', true, true],
      ['number', false, false],
    ],
  );
  const i = iface();
  t.is(i.provider, 'zadarma');
  t.is(i.send.url, 'https://api.zadarma.com/v1/sms/send/');
  t.is(i.send.username, KEY);
  t.is(i.send.password, SECRET);
  t.deepEqual([i.send.fieldTo, i.send.fieldFrom, i.send.fieldBody], ['number', 'caller_id', 'message']);
  t.deepEqual(i.methods, ['POST', 'GET']);
  t.is(zadarma.parseStatus({ status: 'delivered', id: 'x' }, i.send), undefined);
});
