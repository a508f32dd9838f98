// The VoIP.ms profile: the documented GET send (providers.md §8.6) over real
// HTTP, sendMMS for long texts, the status keywords of its 200 answers, the
// API password kept out of every reason, and the URL callback with its
// placeholders (both separators, media, the URL to paste).

import test, { type ExecutionContext } from 'ava';
import net from 'node:net';
import type { HttpAnswer, OutgoingText, SendOutcome } from '../providers/types.js';
import { nanp10, voipms, voipmsCallbackUrl } from '../providers/voipms.js';
import type { InterfaceConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { createHttpClient } from '../src/outbound/http.js';
import { startItspDouble, type ItspDouble } from './doubles/itsp-server.js';
import { profileInterface, webhook } from './helpers/profile.js';

const USER = 'ops@example.com';
const PASSWORD = 'Vo1p-API-pa$$word&=never-logged';
const TOKEN = 'voipms-token-0123456789abc';
const TEXT: OutgoingText = { id: 3, from: '+12025550160', to: '+12025550161', body: 'Hello from Asterisk', reference: 'out-3' };

function iface(extra: Record<string, string> = {}): InterfaceConfig {
  return profileInterface('voipms', { account: USER, secret: PASSWORD, number: '+12025550160', token: TOKEN, ...extra }, 'gw', 'country_code = 1\ndefault_interface = gw');
}

async function double(t: ExecutionContext): Promise<ItspDouble> {
  const d = await startItspDouble({ default: { status: 200, body: { status: 'success', sms: 23434 } } });
  t.teardown(() => d.stop());
  return d;
}

function answer(status: number, body: unknown, headers: Record<string, string> = {}): HttpAnswer {
  return { status, headers, body: typeof body === 'string' ? body : JSON.stringify(body) };
}

/** Every string anywhere in an outcome, so that a test can say the password is in none of them. */
function holdsPassword(o: SendOutcome | string): boolean {
  const s = JSON.stringify(o);
  return s.includes(PASSWORD) || s.includes(encodeURIComponent(PASSWORD)) || s.includes(new URLSearchParams({ p: PASSWORD }).toString().slice(2));
}

// ---- sending -----------------------------------------------------------------------

test('send: the documented GET request, parameters in its order, 10-digit numbers, the id from "sms"', async (t) => {
  const d = await double(t);
  const i = iface({ api_url: d.url });
  t.is(i.send.url, `${d.url}/api/v1/rest.php`);
  const documented = iface({ api_url: d.url, secret: 'API_PASSWORD' });
  const client = createHttpClient(i.send);
  t.teardown(() => client.close());
  const res = await client.send(voipms.buildRequest(TEXT, documented.send));
  t.true(res.ok);
  const [r] = await d.waitForRequests(1);
  t.is(r!.method, 'GET');
  t.is(r!.rawBody.length, 0);
  t.is(r!.url, '/api/v1/rest.php?api_username=ops%40example.com&api_password=API_PASSWORD&method=sendSMS&did=2025550160&dst=2025550161&message=Hello+from+Asterisk');
  if (res.ok) t.deepEqual(voipms.parseResponse(res.answer, i.send), { kind: 'accepted', providerId: '23434' });
});

test('send: a text over 160 characters goes as sendMMS; 160 (emoji counted as one) stays sendSMS', async (t) => {
  const d = await double(t);
  const i = iface({ api_url: d.url });
  const client = createHttpClient(i.send);
  t.teardown(() => client.close());
  const at160 = '👋'.repeat(10) + 'x'.repeat(150);
  await client.send(voipms.buildRequest({ ...TEXT, body: at160 }, i.send));
  await client.send(voipms.buildRequest({ ...TEXT, body: at160 + '!' }, i.send));
  const [a, b] = await d.waitForRequests(2);
  t.is(a!.query['method'], 'sendSMS');
  t.is(a!.query['message'], at160);
  t.is(b!.query['method'], 'sendMMS');
  t.is(b!.query['api_password'], PASSWORD);
  t.deepEqual(voipms.parseResponse(answer(200, { status: 'success', mms: '777' }), i.send), { kind: 'accepted', providerId: '777' });
});

test('numbers: +1 numbers as 10 digits; others lose only their "+"', (t) => {
  t.is(nanp10('+12025550161'), '2025550161');
  t.is(nanp10('+46701234567'), '46701234567');
  t.is(nanp10('Alpha'), 'Alpha');
});

// ---- answers -------------------------------------------------------------------------

test('answers: status keywords in a 200 classified, with what to do, and never the body', (t) => {
  const cfg = iface().send;
  const cases: Array<[string, SendOutcome]> = [
    ['invalid_credentials', { kind: 'permanent', reason: 'invalid_credentials: the API username (account e-mail) or API password is wrong' }],
    ['ip_not_enabled', { kind: 'permanent', reason: "ip_not_enabled: this server's IP address is not enabled for the API (VoIP.ms portal: Main Menu → SOAP and REST/JSON API)" }],
    ['no_credits', { kind: 'permanent', reason: 'no_credits: the VoIP.ms account has no credit left' }],
    ['invalid_dst', { kind: 'permanent', reason: 'invalid_dst: the recipient is not a valid 10-digit US or Canadian number' }],
    ['limit_reached', { kind: 'retry', reason: 'limit_reached: VoIP.ms says a sending limit is reached' }],
    ['sms_failed', { kind: 'retry', reason: 'sms_failed: VoIP.ms could not send the text just now' }],
    ['brand_new_keyword', { kind: 'permanent', reason: 'VoIP.ms answered status brand_new_keyword' }],
  ];
  for (const [status, expected] of cases) t.deepEqual(voipms.parseResponse(answer(200, { status }), cfg), expected, status);
  t.deepEqual(voipms.parseResponse(answer(200, { status: '<b>weird</b>' }), cfg), { kind: 'permanent', reason: 'VoIP.ms answered status (unreadable)' });
  t.deepEqual(voipms.parseResponse(answer(200, '<html>maintenance</html>'), cfg), { kind: 'permanent', reason: "200 OK, but not VoIP.ms's JSON answer with a status" });
  t.deepEqual(voipms.parseResponse(answer(429, 'slow down', { 'retry-after': '9' }), cfg), { kind: 'retry', reason: '429 Too Many Requests', retryAfterMs: 9000 });
  t.deepEqual(voipms.parseResponse(answer(503, 'x'), cfg), { kind: 'retry', reason: '503 Service Unavailable' });
  t.deepEqual(voipms.parseResponse(answer(500, 'x'), cfg), { kind: 'retry', reason: '500 Internal Server Error' });
  t.deepEqual(voipms.parseResponse(answer(403, 'x'), cfg), { kind: 'permanent', reason: '403 Forbidden' });
});

test('the API password never reaches a reason: error pages quoting the URL, network failures, timeouts', async (t) => {
  // A server that quotes the request line back, password and all, in every kind of answer.
  const d = await startItspDouble({ default: (r) => ({ status: 400, body: `Bad request: GET ${r.url}` }) });
  t.teardown(() => d.stop());
  const i = iface({ api_url: d.url });
  const client = createHttpClient({ ...i.send, timeoutMs: 300 });
  t.teardown(() => client.close());
  const outcomes: Array<SendOutcome | string> = [];
  for (const spec of [
    { status: 400, body: `Bad request: ${d.url}/api/v1/rest.php?api_password=${encodeURIComponent(PASSWORD)}` },
    { status: 500, body: `error for ${PASSWORD}` },
    { status: 200, body: `{"status":"error ${PASSWORD}"}` },
    { status: 200, body: { status: 'invalid_credentials', detail: PASSWORD } },
    { hang: true as const },
  ]) {
    d.queue(spec);
    const res = await client.send(voipms.buildRequest(TEXT, i.send));
    outcomes.push(res.ok ? voipms.parseResponse(res.answer, i.send) : res.reason);
  }
  // And a port nobody listens on.
  const closed = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
  const gone = iface({ api_url: `http://127.0.0.1:${closed}` });
  const goneClient = createHttpClient(gone.send);
  t.teardown(() => goneClient.close());
  const refused = await goneClient.send(voipms.buildRequest(TEXT, gone.send));
  outcomes.push(refused.ok ? 'unexpected answer' : refused.reason);
  t.is(outcomes.length, 6);
  for (const o of outcomes) t.false(holdsPassword(o), JSON.stringify(o));
  t.true(d.requests.every((r) => r.query['api_password'] === PASSWORD), 'the password did go to VoIP.ms');
});

// ---- the URL callback -------------------------------------------------------------------

const BASE = `https://sms.example.org/sms/in/gw/${TOKEN}`;
const EXPECTED = { from: '+12025550161', to: '+12025550160', body: 'Hi there', providerId: '1234567', media: [] };

test('callback: the documented GET (providers.md §8.6) gives the text, numbers as E.164; the answer is "ok"', (t) => {
  const i = iface();
  const req = webhook({ url: `${BASE}?token=SECRET&from=2025550161&to=2025550160&message=Hi%20there&id=1234567&date=2024-03-01%2010:16:02&media=` });
  const parsed = voipms.parseWebhook!(req, i);
  t.deepEqual(parsed, { kind: 'texts', texts: [EXPECTED] });
  t.deepEqual(voipms.answer!(parsed, i), { status: 200, contentType: 'text/plain', body: 'ok' });
});

test('callback: a template written with ";" separators; media as comma-separated URLs; unfilled placeholders', (t) => {
  const i = iface();
  const semi = webhook({ url: `${BASE}?to=2025550160;from=2025550161;message=Hi%20there;id=1234567` });
  t.deepEqual(voipms.parseWebhook!(semi, i), { kind: 'texts', texts: [EXPECTED] });
  // With '&' the text keeps a literal ';'.
  const amp = webhook({ url: `${BASE}?to=2025550160&from=2025550161&message=a;b&id=1` });
  t.like(voipms.parseWebhook!(amp, i), { texts: [{ body: 'a;b' }] });
  const mms = webhook({
    url: `${BASE}?to=2025550160&from=2025550161&message=&id=%7BID%7D&media=${encodeURIComponent('https://voip.ms/media/a.jpg, https://voip.ms/media/b.png')}`,
  });
  t.deepEqual(voipms.parseWebhook!(mms, i), {
    kind: 'texts',
    texts: [{ ...EXPECTED, body: '', providerId: null, media: [{ url: 'https://voip.ms/media/a.jpg', auth: 'none' }, { url: 'https://voip.ms/media/b.png', auth: 'none' }] }],
  });
  const noMedia = webhook({ url: `${BASE}?to=2025550160&from=2025550161&message=x&media=%7BMEDIA%7D` });
  t.like(voipms.parseWebhook!(noMedia, i), { texts: [{ media: [] }] });
  // POSTed as a form (the portal offers it too): read the same way.
  const post = webhook({ url: BASE, body: 'to=2025550160&from=2025550161&message=Hi+there&id=1234567' });
  t.deepEqual(voipms.parseWebhook!(post, i), { kind: 'texts', texts: [EXPECTED] });
});

test('callback: a request to the delivery-report URL is acknowledged and ignored: VoIP.ms has no reports', (t) => {
  const req = webhook({ url: `https://sms.example.org/sms/status/gw/${TOKEN}?to=2025550160&from=2025550161&message=x`, route: 'status' });
  t.deepEqual(voipms.parseWebhook!(req, iface()), { kind: 'ignored', reason: 'VoIP.ms sends no delivery reports' });
});

test('callback: a field missing is 400 saying which placeholder the URL lacks', (t) => {
  const i = iface();
  const cases: Array<[string, RegExp]> = [
    [`${BASE}?to=2025550160&message=x`, /missing from: .* from=\{FROM\}/],
    [`${BASE}?from=2025550160`, /missing message: .* message=\{MESSAGE\}/],
  ];
  for (const [url, reason] of cases) {
    const err = t.throws(() => voipms.parseWebhook!(webhook({ url }), i), { instanceOf: RequestError });
    t.is((err as RequestError).status, 400);
    t.regex((err as RequestError).reason, reason);
  }
});

test('callback: the URL to paste, with public_url and the token (shown only when asked), in the interface\'s field names', (t) => {
  const i = iface({ public_url: 'https://sms.example.org/sms/in/gw' });
  t.is(voipmsCallbackUrl(i), 'https://sms.example.org/sms/in/gw/<token>?to={TO}&from={FROM}&message={MESSAGE}&id={ID}&date={TIMESTAMP}&media={MEDIA}');
  t.is(voipmsCallbackUrl(i, { revealToken: true }), `https://sms.example.org/sms/in/gw/${TOKEN}?to={TO}&from={FROM}&message={MESSAGE}&id={ID}&date={TIMESTAMP}&media={MEDIA}`);
  t.is(voipmsCallbackUrl(iface()), 'https://<your websms host>/sms/in/gw/<token>?to={TO}&from={FROM}&message={MESSAGE}&id={ID}&date={TIMESTAMP}&media={MEDIA}');
  // The URL, filled in as VoIP.ms fills it, reads back as the text.
  const filled = voipmsCallbackUrl(i, { revealToken: true })
    .replace('{TO}', '2025550160')
    .replace('{FROM}', '2025550161')
    .replace('{MESSAGE}', 'Hi%20there')
    .replace('{ID}', '1234567')
    .replace('{TIMESTAMP}', '2024-03-01%2010:16:02')
    .replace('{MEDIA}', '');
  t.deepEqual(voipms.parseWebhook!(webhook({ url: filled }), i), { kind: 'texts', texts: [EXPECTED] });
});

test('profile: no signature, no delivery reports; the defaults load as a valid interface (auth as form fields)', (t) => {
  t.is(voipms.verifyWebhook, undefined);
  const i = iface();
  t.is(voipms.parseStatus({ id: '1', status: 'delivered' }, i.send), undefined);
  t.is(i.send.url, 'https://voip.ms/api/v1/rest.php');
  t.deepEqual([i.send.auth, i.send.usernameField, i.send.passwordField, i.send.username, i.send.password], ['form', 'api_username', 'api_password', USER, PASSWORD]);
  t.deepEqual(i.methods, ['GET', 'POST']);
  t.deepEqual([i.fieldTo, i.fieldFrom, i.fieldBody, i.fieldId], ['to', 'from', 'message', 'id']);
});
