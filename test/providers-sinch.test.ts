// The Sinch profile against Sinch's own SDK (@sinch/sms 1.4 on
// @sinch/sdk-client 1.5): its SmsService sends a text to a loopback recorder
// and websms's request for the same text must match; its SMS callback check
// (SmsCallbackWebhooks.validateAuthenticationHeader, which is
// validateWebhookSignature with the app secret) and its signing helpers
// (computeSignedData, calculateWebhookSignature) sign the callbacks websms
// must accept, and websms must reject what the SDK rejects.
//
// @sinch/sdk-client 1.5 reads '@sinch/sdk-core/package.json' for its
// User-Agent version, and @sinch/sdk-core cannot be installed beside
// @sinch/sms 1.4 (its 1.4.x and 1.5.0 need packages the registry lacks). The
// module lookup of that one file is pointed at a stub below, before the SDK
// loads; nothing else of the SDK is touched.

import test, { type ExecutionContext } from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { adapterFor } from '../providers/index.js';
import { SINCH_TOLERANCE_S, sinch } from '../providers/sinch.js';
import type { OutgoingText, SendOutcome, VerifyResult } from '../providers/types.js';
import type { InterfaceConfig } from '../src/config/types.js';
import { createHttpClient } from '../src/outbound/http.js';
import { startItspDouble, type ItspDouble, type ResponseSpec } from './doubles/itsp-server.js';
import { ALICE, handOff, jsonWebhook, outboundRows, sectionInterface, profileStack } from './helpers/profile.js';
import { rows, until } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

type SinchSdk = {
  SmsService: new (p: Record<string, unknown>) => { batches: { sendTextMessage(d: unknown): Promise<unknown> } };
  SmsCallbackWebhooks: new (secret?: string) => { validateAuthenticationHeader(h: Record<string, string>, body: string, p: string, m: string): boolean };
  computeSignedData(body: string, nonce: string, timestamp: string): string;
  calculateWebhookSignature(data: string, secret: string): string;
};

async function loadSdk(): Promise<SinchSdk> {
  const stub = path.join(tempDir('websms-sinch-'), 'sdk-core-package.json');
  fs.writeFileSync(stub, JSON.stringify({ name: '@sinch/sdk-core', version: '0.0.0-websms-test' }));
  const Module = createRequire(import.meta.url)('node:module') as { _resolveFilename: (r: string, ...rest: unknown[]) => string };
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
    return request === '@sinch/sdk-core/package.json' ? stub : resolve.call(this, request, ...rest);
  };
  return (await import('@sinch/sms')) as unknown as SinchSdk;
}
const sdk = await loadSdk();

const PLAN = 'a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4';
const TOKEN = '0123456789abcdef0123456789abcdef';
const SECRET = 'sinch_secret_placeholder';
const URL_IN = 'https://sms.example.org/sms/in/sinch';

function iface(apiUrl?: string, signing = true): InterfaceConfig {
  return sectionInterface(
    [
      '[sinch]',
      'provider = sinch',
      `account = ${PLAN}`,
      `secret = ${TOKEN}`,
      signing ? `signing_secret = ${SECRET}` : '',
      'number = +12025550160',
      apiUrl ? `api_url = ${apiUrl}` : '',
    ].join('\n'),
  );
}

async function double(t: ExecutionContext, def?: ResponseSpec): Promise<ItspDouble> {
  const d = await startItspDouble(def ? { default: def } : {});
  t.teardown(() => d.stop());
  return d;
}

async function send(t: ExecutionContext, i: InterfaceConfig, text: OutgoingText): Promise<SendOutcome> {
  const client = createHttpClient(i.send);
  t.teardown(() => client.close());
  const res = await client.send(sinch.buildRequest(text, i.send));
  if (!res.ok) throw new Error(res.reason);
  return sinch.parseResponse(res.answer, i.send);
}

const TEXT: OutgoingText = { id: 42, from: '+12025550160', to: '+12025550161', body: 'Hello from Asterisk åäö 👋', reference: 'out-42' };

// The documented 201 answer (providers.md §13.2).
const CREATED = {
  id: '01FC66621XXXXX119Z8PMV1QPQ', from: '12025550160', to: ['12025550161'], body: 'Hello from Asterisk', type: 'mt_text',
  created_at: '2024-03-01T10:15:30.123Z', modified_at: '2024-03-01T10:15:30.123Z', canceled: false, delivery_report: 'per_recipient_final',
  client_reference: 'out-42', expire_at: '2024-03-04T10:15:30.123Z', flash_message: false,
};

// ---- sending ---------------------------------------------------------------

test('the profile registers; its defaults build the service plan\'s batches URL in the US region and the bearer token', (t) => {
  t.is(adapterFor('sinch'), sinch);
  const i = iface();
  t.is(i.send.url, `https://us.sms.api.sinch.com/xms/v1/${PLAN}/batches`);
  t.is(i.send.auth, 'bearer');
  t.is(i.send.bearer, TOKEN);
  t.is(iface('https://eu.sms.api.sinch.com/').send.url, `https://eu.sms.api.sinch.com/xms/v1/${PLAN}/batches`);
});

test('send: websms sends the same request as the Sinch SDK\'s batches.sendTextMessage (method, path, bearer, JSON fields)', async (t) => {
  const d = await double(t, { status: 201, body: CREATED });
  const client = new sdk.SmsService({ servicePlanId: PLAN, apiToken: TOKEN, smsHostname: d.url });
  await client.batches.sendTextMessage({
    sendSMSRequestBody: { to: [TEXT.to], from: TEXT.from, body: TEXT.body, delivery_report: 'per_recipient_final', client_reference: TEXT.reference },
  });
  const outcome = await send(t, iface(d.url), TEXT);
  const [theirs, ours] = await d.waitForRequests(2);
  t.is(ours!.method, theirs!.method);
  t.is(ours!.path, theirs!.path);
  t.is(ours!.path, `/xms/v1/${PLAN}/batches`);
  t.is(ours!.headers['authorization'], theirs!.headers['authorization']);
  t.is(ours!.headers['authorization'], `Bearer ${TOKEN}`);
  t.is(ours!.contentType, theirs!.contentType);
  t.deepEqual(ours!.body, theirs!.body);
  t.deepEqual(ours!.body, {
    type: 'mt_text', delivery_report: 'per_recipient_final', client_reference: 'out-42', to: ['+12025550161'], from: '+12025550160', body: TEXT.body,
  });
  t.deepEqual(outcome, { kind: 'accepted', providerId: '01FC66621XXXXX119Z8PMV1QPQ' });
});

test('send: send_extra may turn delivery reports off or set a callback_url, never replace the recipient', async (t) => {
  const d = await double(t, { status: 201, body: CREATED });
  const i = iface(d.url);
  const cfg = { ...i.send, extra: { delivery_report: 'none', callback_url: 'https://sms.example.org/sms/in/sinch', to: 'x' } };
  const client = createHttpClient(cfg);
  t.teardown(() => client.close());
  await client.send(sinch.buildRequest(TEXT, cfg));
  const [r] = await d.waitForRequests(1);
  t.like(r!.body, { delivery_report: 'none', callback_url: 'https://sms.example.org/sms/in/sinch', to: ['+12025550161'] });
});

test('answers: 429 and 5xx are retried (Retry-After honoured); 400/403 are permanent with Sinch\'s code and text', async (t) => {
  const d = await double(t);
  const i = iface(d.url);
  d.queue(
    { status: 429, retryAfter: 2, body: { code: 'too_many_requests', text: 'Too many outstanding requests' } },
    { status: 429, headers: { 'content-type': 'application/problem+json' }, body: JSON.stringify({ type: 'about:blank', title: 'Too Many Requests', detail: 'Rate limit exceeded' }) },
    { status: 500, body: {} },
    { status: 400, body: { code: 'syntax_invalid_parameter_format', text: 'Invalid MSISDN: +1202555' } },
    { status: 403, body: { code: 'missing_callback_url', text: 'Delivery reports require a callback URL' } },
    { status: 401, body: '' },
  );
  t.deepEqual(await send(t, i, TEXT), { kind: 'retry', reason: '429: Too many outstanding requests (too_many_requests)', retryAfterMs: 2000 });
  t.deepEqual(await send(t, i, TEXT), { kind: 'retry', reason: '429: Too Many Requests: Rate limit exceeded' });
  t.deepEqual(await send(t, i, TEXT), { kind: 'retry', reason: '500: Internal Server Error' });
  t.deepEqual(await send(t, i, TEXT), { kind: 'permanent', reason: '400: Invalid MSISDN: +1202555 (syntax_invalid_parameter_format)' });
  t.deepEqual(await send(t, i, TEXT), { kind: 'permanent', reason: '403: Delivery reports require a callback URL (missing_callback_url)' });
  const unauthorized = await send(t, i, TEXT);
  t.deepEqual(unauthorized, { kind: 'permanent', reason: '401: Unauthorized' });
});

// ---- callbacks -------------------------------------------------------------

const parse = (event: unknown) => sinch.parseWebhook!(jsonWebhook(URL_IN, JSON.stringify(event)), iface());

// The SDK's MOText (and the documented example, providers.md §13.4).
const MO_TEXT = {
  type: 'mo_text', id: '01FC66621XXXXX119Z8PMV1QPA', from: '12025550161', to: '12025550160', body: 'Hi there',
  received_at: '2024-03-01T10:16:02.000Z', sent_at: '2024-03-01T10:16:01.000Z', operator_id: '310260',
};

test('inbound: mo_text is a text, numbers as Sinch writes them (websms normalises them)', (t) => {
  t.deepEqual(parse(MO_TEXT), {
    kind: 'texts', texts: [{ from: '12025550161', to: '12025550160', body: 'Hi there', providerId: '01FC66621XXXXX119Z8PMV1QPA', media: [] }],
  });
  // What the SDK's own reviver makes of the same event.
  t.is((sdk as unknown as { SmsCallbackWebhooks: { parseEvent(e: unknown): { type: string } } }).SmsCallbackWebhooks.parseEvent(JSON.stringify(MO_TEXT)).type, 'mo_text');
});

test('inbound: a long mo_text is one text; a binary SMS (mo_binary) is acknowledged without storing', (t) => {
  const long = parse({ ...MO_TEXT, body: 'z'.repeat(500) });
  t.is(long.kind === 'texts' ? long.texts[0]!.body.length : 0, 500);
  t.is(long.kind === 'texts' ? long.texts[0]!.part : 'x', undefined);
  t.is(parse({ ...MO_TEXT, type: 'mo_binary', body: 'SGVsbG8=', udh: '050003cc0201' }).kind, 'ignored');
});

test('inbound: mo_media (the SDK\'s MmsMoBody) gives subject and message as the text and each uploaded item as media', (t) => {
  const mms = {
    ...MO_TEXT, type: 'mo_media',
    body: {
      subject: 'Holiday', message: 'Look at this',
      media: [
        { url: 'https://mms.sinch.com/media/1/IMG_0001.jpg', content_type: 'image/jpeg', status: 'Uploaded', code: 0 },
        { content_type: 'video/mp4', status: 'Failed', code: 1 },
      ],
    },
  };
  t.deepEqual(parse(mms), {
    kind: 'texts',
    texts: [{
      from: '12025550161', to: '12025550160', body: 'Holiday\nLook at this', providerId: '01FC66621XXXXX119Z8PMV1QPA',
      media: [{ url: 'https://mms.sinch.com/media/1/IMG_0001.jpg', contentType: 'image/jpeg', auth: 'none' }],
    }],
  });
});

test('delivery: per-recipient reports (Delivered, Failed with its code, Dispatched) and batch summaries', (t) => {
  const report = (status: string, code: number) => ({
    type: 'recipient_delivery_report_sms', batch_id: '01FC66621XXXXX119Z8PMV1QPQ', recipient: '12025550161', code, status,
    at: '2024-03-01T10:15:35.000Z', operator_status_at: '2024-03-01T10:15:34.000Z', client_reference: 'out-42',
  });
  const id = '01FC66621XXXXX119Z8PMV1QPQ';
  t.deepEqual(parse(report('Delivered', 0)), { kind: 'status', reports: [{ providerId: id, state: 'delivered', reason: null }] });
  t.deepEqual(parse(report('Failed', 402)), { kind: 'status', reports: [{ providerId: id, state: 'failed', reason: 'Failed (code 402)' }] });
  t.deepEqual(parse(report('Expired', 406)), { kind: 'status', reports: [{ providerId: id, state: 'failed', reason: 'Expired (code 406)' }] });
  t.deepEqual(parse(report('Dispatched', 0)), { kind: 'status', reports: [{ providerId: id, state: 'sent', reason: 'Dispatched' }] });
  const summary = { type: 'delivery_report_sms', batch_id: id, total_message_count: 1, statuses: [{ code: 0, status: 'Delivered', count: 1, recipients: ['12025550161'] }] };
  t.deepEqual(parse(summary), { kind: 'status', reports: [{ providerId: id, state: 'delivered', reason: null }] });
  t.deepEqual(sinch.parseStatus(report('Rejected', 403), iface().send), { providerId: id, state: 'failed', reason: 'Rejected (code 403)' });
  const err = t.throws(() => parse({ type: 'recipient_delivery_report_sms', status: 'Delivered' }));
  t.is((err as { status?: number }).status, 400);
  t.is(parse({ type: 'something_new' }).kind, 'ignored');
});

// ---- signatures ------------------------------------------------------------------

/** Headers of a callback signed with the SDK's own helpers. */
function signed(body: string, secret: string, timestamp: string, nonce = crypto.randomBytes(13).toString('hex')): Record<string, string> {
  return {
    'x-sinch-webhook-signature': sdk.calculateWebhookSignature(sdk.computeSignedData(body, nonce, timestamp), secret),
    'x-sinch-webhook-signature-timestamp': timestamp,
    'x-sinch-webhook-signature-nonce': nonce,
    'x-sinch-webhook-signature-algorithm': 'HmacSHA256',
  };
}

function ours(i: InterfaceConfig, url: string, body: string, headers: Record<string, string>, now = Date.now()): VerifyResult {
  return sinch.verifyWebhook!(jsonWebhook(url, body, headers), i, now);
}

const sdkSays = (body: string, headers: Record<string, string>) =>
  new sdk.SmsCallbackWebhooks(SECRET).validateAuthenticationHeader(headers, body, '/sms/in/sinch', 'POST');

test('signature: what the SDK\'s SMS callback check accepts websms accepts, and what it rejects websms rejects', (t) => {
  const i = iface();
  const body = JSON.stringify(MO_TEXT);
  const ts = String(Math.floor(Date.now() / 1000));
  const good = signed(body, SECRET, ts);
  const cases: Array<{ name: string; body: string; headers: Record<string, string>; accept: boolean }> = [
    { name: 'genuine', body, headers: good, accept: true },
    { name: 'wrong secret', body, headers: signed(body, 'another-secret', ts), accept: false },
    { name: 'body changed', body: body.replace('Hi there', 'Hi thére'), headers: good, accept: false },
    { name: 'nonce changed', body, headers: { ...good, 'x-sinch-webhook-signature-nonce': 'other' }, accept: false },
    { name: 'timestamp changed', body, headers: { ...good, 'x-sinch-webhook-signature-timestamp': String(Number(ts) - 1) }, accept: false },
    { name: 'no signature', body, headers: { ...good, 'x-sinch-webhook-signature': '' }, accept: false },
  ];
  for (const c of cases) {
    t.is(sdkSays(c.body, c.headers), c.accept, `SDK: ${c.name}`);
    const r = ours(i, URL_IN, c.body, c.headers);
    t.is(r.ok, c.accept, `websms: ${c.name}${r.ok ? '' : ` (${r.reason})`}`);
    if (!r.ok) t.false(r.reason.includes(SECRET));
  }
});

test('signature: the URL is not signed, so a callback through another URL (a proxy) still verifies', (t) => {
  const body = JSON.stringify(MO_TEXT);
  const headers = signed(body, SECRET, String(Math.floor(Date.now() / 1000)));
  t.true(ours(iface(), 'http://127.0.0.1:8080/sms/in/sinch', body, headers).ok);
});

test('signature: the published test vector (providers.md §13.5) verifies; HmacSHA512 when Sinch names it; unknown algorithms are refused', (t) => {
  const i = iface();
  const body = '{"type":"mo_text","id":"01XXXXXXXXXXXXXXXXXXXXXXXX","from":"12025550160","to":"12025550161","body":"Hello","received_at":"2024-01-01T12:00:00.000Z"}';
  const headers = {
    'x-sinch-webhook-signature': '3Qpg/Km2dRIuSc+AiM+g76Z3DqMI+naIdonIrDarZBA=',
    'x-sinch-webhook-signature-timestamp': '1704110400',
    'x-sinch-webhook-signature-nonce': '01FJA8B4A7BM43YGWSG9GBV067',
  };
  t.true(ours(i, URL_IN, body, headers, 1_704_110_400_000).ok, 'no algorithm header: HmacSHA256');
  t.true(sdkSays(body, headers), 'the SDK agrees with the vector');
  const data = `${body}.01FJA8B4A7BM43YGWSG9GBV067.1704110400`;
  const sha512 = crypto.createHmac('sha512', SECRET).update(data).digest('base64');
  const h512 = { ...headers, 'x-sinch-webhook-signature': sha512, 'x-sinch-webhook-signature-algorithm': 'HmacSHA512' };
  t.true(ours(i, URL_IN, body, h512, 1_704_110_400_000).ok);
  t.false(ours(i, URL_IN, body, { ...h512, 'x-sinch-webhook-signature-algorithm': 'HmacSHA256' }, 1_704_110_400_000).ok);
  const md5 = ours(i, URL_IN, body, { ...headers, 'x-sinch-webhook-signature-algorithm': 'HmacMD5' }, 1_704_110_400_000);
  t.false(md5.ok);
  t.regex(md5.ok ? '' : md5.reason, /HmacMD5/);
});

test('signature: a timestamp more than 24 h away is refused (the SDK does not look at it); retries within Sinch\'s schedule pass', (t) => {
  const i = iface();
  const body = JSON.stringify(MO_TEXT);
  const ts = 1_709_288_162;
  const headers = signed(body, SECRET, String(ts));
  t.is(SINCH_TOLERANCE_S, 86_400);
  t.true(ours(i, URL_IN, body, headers, (ts + 81_920 + 60) * 1000).ok, 'the last retry, 22 h 45 min later');
  const stale = ours(i, URL_IN, body, headers, (ts + 86_401) * 1000);
  t.false(stale.ok);
  t.regex(stale.ok ? '' : stale.reason, /x-sinch-webhook-signature-timestamp is 86401s away/);
  t.true(sdkSays(body, headers), 'the SDK would still accept it');
});

test('signature: without a signing_secret (no HMAC on the account) the Basic credentials or a URL token are required', (t) => {
  const unsigned = iface(undefined, false);
  const body = JSON.stringify(MO_TEXT);
  const none = ours(unsigned, URL_IN, body, {});
  t.false(none.ok);
  t.regex(none.ok ? '' : none.reason, /no signing_secret/);
  t.true(ours({ ...unsigned, token: 'abcdefghijklmnop1234' }, URL_IN, body, {}).ok);
  const withBasic = { ...unsigned, username: 'sinch', password: 'pw-test-only' };
  t.true(ours(withBasic, URL_IN, body, { authorization: 'Basic ' + Buffer.from('sinch:pw-test-only').toString('base64') }).ok);
  t.false(ours(withBasic, URL_IN, body, { authorization: 'Basic ' + Buffer.from('sinch:nope').toString('base64') }).ok);
  t.true(ours({ ...iface(), verify: false }, URL_IN, body, {}).ok, 'verify = no skips the check');
});

// ---- end to end: a daemon with provider = sinch ----------------------------------

const SECTION = (apiUrl: string) =>
  `[sinch]\nprovider = sinch\naccount = ${PLAN}\nsecret = ${TOKEN}\nsigning_secret = ${SECRET}\nnumber = ${ALICE}\napi_url = ${apiUrl}\n`;

test('daemon: an HMAC-signed mo_text is stored and delivered; one signed with another secret is a 403 that stores nothing', async (t) => {
  const s = await profileStack(t, SECTION('http://127.0.0.1:9'));
  const body = JSON.stringify({ ...MO_TEXT, to: ALICE.slice(1), body: 'Hej från Sinch' });
  const ts = String(Math.floor(Date.now() / 1000));
  const forged = await s.post('/sms/in/sinch', body, signed(body, 'not-the-secret', ts));
  t.is(forged.status, 403);
  t.is(rows(s.dir).length, 0, 'nothing stored');
  t.false(s.logs.some((l) => l.includes(SECRET)), 'the signing secret is never logged');
  const r = await s.post('/sms/in/sinch', body, signed(body, SECRET, ts));
  t.is(r.status, 200);
  const d = await s.ami.waitForDelivery(() => true);
  t.is(d.body.toString('utf8'), 'Hej från Sinch');
  t.is(d.from, '+12025550161', 'Sinch\'s digits normalised to E.164');
  t.is(d.to, ALICE);
  await until(() => rows(s.dir).find((x) => x.state === 'delivered'));
});

test('daemon: a handed-off text goes to Sinch as a batch, and a signed delivery report marks it delivered', async (t) => {
  const itsp = await double(t, { status: 201, body: CREATED });
  const s = await profileStack(t, SECTION(itsp.url));
  const run = await handOff(s, ALICE, '+12025550161', 'Hello Sinch', 'Alice');
  t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED');
  const [req] = await itsp.waitForRequests(1);
  t.is(req!.path, `/xms/v1/${PLAN}/batches`);
  t.is(req!.headers['authorization'], `Bearer ${TOKEN}`);
  t.like(req!.body, { to: ['+12025550161'], from: ALICE, body: 'Hello Sinch', delivery_report: 'per_recipient_final' });
  const sent = await until(() => outboundRows(s.dir).find((r) => r.state === 'sent'));
  t.is(sent.provider_id, '01FC66621XXXXX119Z8PMV1QPQ');
  const report = JSON.stringify({
    type: 'recipient_delivery_report_sms', batch_id: '01FC66621XXXXX119Z8PMV1QPQ', recipient: '12025550161', code: 0, status: 'Delivered', at: '2024-03-01T10:15:35.000Z',
  });
  const r = await s.post('/sms/in/sinch', report, signed(report, SECRET, String(Math.floor(Date.now() / 1000))));
  t.is(r.status, 200);
  await until(() => outboundRows(s.dir)[0]?.state === 'delivered');
  t.false(s.logs.some((l) => l.includes(TOKEN)), 'the API token is never logged');
});

test('credentials check: GET the service plan\'s batches (one per page) with the token; a wrong token is a reason without it', async (t) => {
  const d = await startItspDouble({ requireBearer: TOKEN, default: { status: 200, body: { count: 3, page: 0, page_size: 1, batches: [CREATED] } } });
  t.teardown(() => d.stop());
  const i = iface(d.url);
  t.deepEqual(await sinch.checkCredentials!(i.send, 2000), { ok: true, detail: 'the service plan lists 3 batches' });
  const [r] = await d.waitForRequests(1);
  t.is(r!.method, 'GET');
  t.is(r!.url, `/xms/v1/${PLAN}/batches?page_size=1`);
  const wrong = await sinch.checkCredentials!({ ...i.send, bearer: 'wrong-token-abc' }, 2000);
  t.false(wrong.ok);
  t.false(JSON.stringify(wrong).includes('wrong-token-abc'));
});
