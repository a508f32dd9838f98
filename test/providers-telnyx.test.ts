// The Telnyx profile against Telnyx's own SDK (`telnyx`): its client sends a
// text to a loopback recorder and websms's request for the same text must
// match; its webhook verifier (TelnyxWebhook, Ed25519) must accept what these
// tests sign with a generated key pair, and websms must reject exactly what it
// rejects. Answers and events are Telnyx's documented examples.

import test, { type ExecutionContext } from 'ava';
import crypto from 'node:crypto';
import Telnyx from 'telnyx';
import { TelnyxWebhook } from 'telnyx/lib/webhooks';
import { adapterFor } from '../providers/index.js';
import { TELNYX_TOLERANCE_S, telnyx } from '../providers/telnyx.js';
import type { OutgoingText, SendOutcome, VerifyResult } from '../providers/types.js';
import type { InterfaceConfig } from '../src/config/types.js';
import { createHttpClient } from '../src/outbound/http.js';
import { startItspDouble, type ItspDouble, type ResponseSpec } from './doubles/itsp-server.js';
import { ALICE, handOff, jsonWebhook, outboundRows, sectionInterface, profileStack } from './helpers/profile.js';
import { rows, until } from './helpers/stack.js';

const API_KEY = 'KEY0123456789ABCDEF_test_only';
const WEBHOOK_URL = 'https://sms.example.org/sms/in/telnyx';

/** A fresh Ed25519 key pair; the public key as Telnyx's portal shows it (base64 of the 32 raw bytes). */
function keyPair(): { privateKey: crypto.KeyObject; publicKey: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return { privateKey, publicKey: raw.toString('base64') };
}

function iface(publicKey: string, apiUrl?: string): InterfaceConfig {
  return sectionInterface(
    `[telnyx]\nprovider = telnyx\nsecret = ${API_KEY}\npublic_key = ${publicKey}\nnumber = +12025550160\n${apiUrl ? `api_url = ${apiUrl}\n` : ''}`,
  );
}

async function double(t: ExecutionContext, def?: ResponseSpec): Promise<ItspDouble> {
  const d = await startItspDouble(def ? { default: def } : {});
  t.teardown(() => d.stop());
  return d;
}

/** Sends with websms's own HTTP client and reads the answer with the profile. */
async function send(t: ExecutionContext, i: InterfaceConfig, text: OutgoingText): Promise<SendOutcome> {
  const client = createHttpClient(i.send);
  t.teardown(() => client.close());
  const res = await client.send(telnyx.buildRequest(text, i.send));
  if (!res.ok) throw new Error(res.reason);
  return telnyx.parseResponse(res.answer, i.send);
}

const TEXT: OutgoingText = { id: 7, from: '+12025550160', to: '+12025550161', body: 'Hello from Asterisk, 100% "ok" åäö 👋', reference: 'out-7' };

// The documented answer to POST /v2/messages (providers.md §5.6).
const SENT_ANSWER = {
  data: {
    record_type: 'message', direction: 'outbound', id: '40385f64-5717-4562-b3fc-2c963f66afa6', type: 'SMS',
    messaging_profile_id: '4000eba1-a0c0-4563-9925-b25e842a7cb6',
    from: { phone_number: '+12025550160', carrier: 'TELNYX LLC', line_type: 'VoIP' },
    to: [{ phone_number: '+12025550161', status: 'queued', carrier: 'T-MOBILE USA, INC.', line_type: 'Wireless' }],
    text: 'Hello from Asterisk', media: [], encoding: 'GSM-7', parts: 1, errors: [],
  },
};

// ---- sending ---------------------------------------------------------------

test('the profile registers, and its defaults make a sending interface from the API key alone', (t) => {
  t.is(adapterFor('telnyx'), telnyx);
  const i = iface(keyPair().publicKey);
  t.is(i.send.url, 'https://api.telnyx.com/v2/messages');
  t.is(i.send.auth, 'bearer');
  t.is(i.send.bearer, API_KEY);
  t.is(i.send.format, 'json');
  t.deepEqual(i.allow, ['0.0.0.0/0', '::/0'], 'webhooks come from anywhere: the signature is the check');
  t.true(telnyx.settings!.some((s) => s.key === 'secret' && s.secret && s.required));
  t.true(telnyx.settings!.some((s) => s.key === 'public_key' && !s.secret && s.required));
});

test('send: websms sends the same request as the Telnyx SDK (method, path, bearer, JSON fields), no idempotency key', async (t) => {
  const d = await double(t, { status: 200, body: SENT_ANSWER });
  const sdk = new Telnyx({ apiKey: API_KEY, baseURL: `${d.url}/v2`, maxRetries: 0 });
  await sdk.messages.send({ from: TEXT.from, to: TEXT.to, text: TEXT.body });
  const outcome = await send(t, iface(keyPair().publicKey, d.url), TEXT);
  const [theirs, ours] = await d.waitForRequests(2);
  t.is(ours!.method, theirs!.method);
  t.is(ours!.path, theirs!.path);
  t.is(ours!.path, '/v2/messages');
  t.is(ours!.headers['authorization'], theirs!.headers['authorization']);
  t.is(ours!.headers['authorization'], `Bearer ${API_KEY}`);
  t.is(ours!.contentType, 'application/json');
  t.is(theirs!.contentType, 'application/json');
  t.deepEqual(ours!.body, theirs!.body);
  t.deepEqual(ours!.body, { from: '+12025550160', to: '+12025550161', text: TEXT.body });
  // Telnyx's /v2/messages declares no Idempotency-Key, and the SDK sends none either.
  t.false('idempotency-key' in theirs!.headers);
  t.false('idempotency-key' in ours!.headers);
  t.deepEqual(outcome, { kind: 'accepted', providerId: '40385f64-5717-4562-b3fc-2c963f66afa6' });
});

test('send: send_extra adds fields (messaging_profile_id, webhook_url) but never replaces to, from or text', async (t) => {
  const d = await double(t, { status: 200, body: SENT_ANSWER });
  const i = iface(keyPair().publicKey, d.url);
  const cfg = { ...i.send, extra: { webhook_url: 'https://sms.example.org/sms/in/telnyx', to: '+19999999999' } };
  const client = createHttpClient(cfg);
  t.teardown(() => client.close());
  await client.send(telnyx.buildRequest(TEXT, cfg));
  const [r] = await d.waitForRequests(1);
  t.deepEqual(r!.body, { webhook_url: 'https://sms.example.org/sms/in/telnyx', to: '+12025550161', from: '+12025550160', text: TEXT.body });
});

test('answers: rate limiting (429, code 10011) is retried after Retry-After, or without one', async (t) => {
  const limited = { errors: [{ code: '10011', title: 'Too many requests', detail: 'You have exceeded the rate limit.' }] };
  const d = await double(t);
  const i = iface(keyPair().publicKey, d.url);
  d.queue({ status: 429, retryAfter: 7, body: limited }, { status: 429, body: limited, headers: { 'x-ratelimit-reset': '60' } });
  t.deepEqual(await send(t, i, TEXT), { kind: 'retry', reason: '429: Too many requests: You have exceeded the rate limit. (10011)', retryAfterMs: 7000 });
  t.deepEqual(await send(t, i, TEXT), { kind: 'retry', reason: '429: Too many requests: You have exceeded the rate limit. (10011)' });
});

test('answers: server errors are retried; refusals are permanent with Telnyx\'s own words', async (t) => {
  const d = await double(t);
  const i = iface(keyPair().publicKey, d.url);
  d.queue(
    { status: 500, body: { errors: [{ code: '10007', title: 'Unexpected error', detail: 'An unexpected error occured.' }] } },
    { status: 503, body: 'upstream unavailable' },
    {
      status: 400,
      body: { errors: [{ code: '40300', title: "Invalid 'to' address", detail: "The 'to' address should be in +E.164 format.", source: { pointer: '/to' } }] },
    },
    { status: 401, body: { errors: [{ code: '10009', title: 'Authentication failed', detail: 'Could not understand the provided credentials.' }] } },
    { status: 422, body: {} },
  );
  t.like(await send(t, i, TEXT), { kind: 'retry', reason: '500: Unexpected error: An unexpected error occured. (10007)' });
  t.like(await send(t, i, TEXT), { kind: 'retry', reason: '503: Service Unavailable' });
  t.deepEqual(await send(t, i, TEXT), { kind: 'permanent', reason: "400: Invalid 'to' address: The 'to' address should be in +E.164 format. (40300)" });
  const unauthorized = await send(t, i, TEXT);
  t.is(unauthorized.kind, 'permanent');
  t.false(JSON.stringify(unauthorized).includes(API_KEY), 'the API key never appears in a reason');
  t.deepEqual(await send(t, i, TEXT), { kind: 'permanent', reason: '422: Unprocessable Entity' });
});

// ---- webhooks: inbound texts, delivery events -----------------------------------

// The documented inbound event (providers.md §5.6; to[] is a list).
function inbound(over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    data: {
      record_type: 'event', id: 'bf6307bd-884d-4c1f-b6ea-c62b8c495d3c', event_type: 'message.received', occurred_at: '2024-03-01T10:16:02.574+00:00',
      payload: {
        record_type: 'message', direction: 'inbound', id: '7ee4241c-f127-47e5-9c34-3aac291f8058', type: 'SMS',
        messaging_profile_id: '0f512bda-ae1e-4597-8e11-e5f5686b97d3',
        from: { phone_number: '+12025550161', carrier: 'T-MOBILE USA, INC.', line_type: 'Wireless' },
        to: [{ phone_number: '+12025550160', status: 'webhook_delivered', carrier: 'TELNYX LLC', line_type: 'VoIP' }],
        text: 'Hi there', media: [], encoding: 'GSM-7', parts: 1, received_at: '2024-03-01T10:16:02.500+00:00',
        ...over,
      },
    },
    meta: { attempt: 1, delivered_to: WEBHOOK_URL },
  });
}

function finalized(to: Array<Record<string, unknown>>, errors: unknown[] = [], type = 'message.finalized'): string {
  return JSON.stringify({
    data: {
      record_type: 'event', id: '4ee8c3a6-4995-4309-a3c6-38e3db9ea4be', event_type: type, occurred_at: '2024-03-01T10:15:40.000+00:00',
      payload: { record_type: 'message', direction: 'outbound', id: '40385f64-5717-4562-b3fc-2c963f66afa6', type: 'SMS', to, errors, text: 'Hello' },
    },
    meta: { attempt: 1, delivered_to: WEBHOOK_URL },
  });
}

test('inbound: message.received is a text from data.payload, the recipient read out of the to list', (t) => {
  const i = iface(keyPair().publicKey);
  t.deepEqual(telnyx.parseWebhook!(jsonWebhook(WEBHOOK_URL, inbound()), i), {
    kind: 'texts',
    texts: [{ from: '+12025550161', to: '+12025550160', body: 'Hi there', providerId: '7ee4241c-f127-47e5-9c34-3aac291f8058', media: [] }],
  });
});

test('inbound: a group MMS lists several recipients; ours is the interface number wherever it is', (t) => {
  const i = iface(keyPair().publicKey);
  const to = [{ phone_number: '+12025550199', status: 'webhook_delivered' }, { phone_number: '+12025550160', status: 'webhook_delivered' }];
  const r = telnyx.parseWebhook!(jsonWebhook(WEBHOOK_URL, inbound({ to })), i);
  t.is(r.kind === 'texts' ? r.texts[0]!.to : '', '+12025550160');
});

test('inbound: a long text comes as one event (parts counts the segments) and is one text, not a part', (t) => {
  const long = 'x'.repeat(400);
  const r = telnyx.parseWebhook!(jsonWebhook(WEBHOOK_URL, inbound({ text: long, parts: 3, encoding: 'GSM-7' })), iface(keyPair().publicKey));
  t.is(r.kind, 'texts');
  if (r.kind !== 'texts') return;
  t.is(r.texts.length, 1);
  t.is(r.texts[0]!.body, long);
  t.is(r.texts[0]!.part, undefined);
});

test('inbound: an MMS brings its pictures as media references, with their content types; no text is an empty body', (t) => {
  const media = [
    { url: 'https://media.telnyx.com/abc/IMG_0001.jpeg', content_type: 'image/jpeg', sha256: 'e3b0', size: 123456 },
    { url: 'https://media.telnyx.com/abc/clip.mp4', content_type: 'video/mp4', size: 99 },
  ];
  const r = telnyx.parseWebhook!(jsonWebhook(WEBHOOK_URL, inbound({ type: 'MMS', text: null, media })), iface(keyPair().publicKey));
  t.deepEqual(r, {
    kind: 'texts',
    texts: [{
      from: '+12025550161', to: '+12025550160', body: '', providerId: '7ee4241c-f127-47e5-9c34-3aac291f8058',
      media: [
        { url: 'https://media.telnyx.com/abc/IMG_0001.jpeg', contentType: 'image/jpeg', auth: 'none' },
        { url: 'https://media.telnyx.com/abc/clip.mp4', contentType: 'video/mp4', auth: 'none' },
      ],
    }],
  });
});

test('delivery: message.finalized gives delivered, failed with Telnyx\'s reason, or leaves the text sent', (t) => {
  const i = iface(keyPair().publicKey);
  const id = '40385f64-5717-4562-b3fc-2c963f66afa6';
  const parse = (body: string) => telnyx.parseWebhook!(jsonWebhook(WEBHOOK_URL, body), i);
  t.deepEqual(parse(finalized([{ phone_number: '+12025550161', status: 'delivered' }])), {
    kind: 'status', reports: [{ providerId: id, state: 'delivered', reason: null }],
  });
  t.deepEqual(parse(finalized([{ phone_number: '+12025550161', status: 'delivery_failed' }], [{ code: '40002', title: 'Message failed', detail: 'The carrier rejected the message.' }])), {
    kind: 'status', reports: [{ providerId: id, state: 'failed', reason: 'Message failed: The carrier rejected the message. (40002)' }],
  });
  t.deepEqual(parse(finalized([{ phone_number: '+12025550161', status: 'sending_failed' }])), {
    kind: 'status', reports: [{ providerId: id, state: 'failed', reason: 'sending_failed' }],
  });
  t.deepEqual(parse(finalized([{ phone_number: '+12025550161', status: 'delivery_unconfirmed' }])), {
    kind: 'status', reports: [{ providerId: id, state: 'sent', reason: 'delivery_unconfirmed' }],
  });
  // message.sent only says the carrier has it: acknowledged, nothing to apply.
  t.is(parse(finalized([{ phone_number: '+12025550161', status: 'sent' }], [], 'message.sent')).kind, 'ignored');
  t.is(parse(JSON.stringify({ data: { event_type: 'call.initiated', payload: { id: 'x' } } })).kind, 'ignored');
  // The generic status path reads the same event.
  t.deepEqual(telnyx.parseStatus(JSON.parse(finalized([{ status: 'delivered' }])) as Record<string, unknown>, i.send), { providerId: id, state: 'delivered', reason: null });
});

test('webhooks that are not Telnyx events are a 400, not a crash', (t) => {
  const i = iface(keyPair().publicKey);
  for (const body of ['not json', '[]', '{"data":{}}', '{"data":{"event_type":"message.received"}}', JSON.stringify({ data: { event_type: 'message.received', payload: { id: 'x' } } })]) {
    const err = t.throws(() => telnyx.parseWebhook!(jsonWebhook(WEBHOOK_URL, body), i));
    t.is((err as { status?: number }).status, 400, body);
  }
});

test('the answer is an empty 200, whatever the event', (t) => {
  const i = iface(keyPair().publicKey);
  t.deepEqual(telnyx.answer!({ kind: 'texts', texts: [] }, i), { status: 200, contentType: 'text/plain; charset=utf-8', body: '' });
  t.is(telnyx.answer!({ kind: 'ignored', reason: 'x' }, i).status, 200);
});

// ---- signatures ------------------------------------------------------------------

function sign(privateKey: crypto.KeyObject, timestamp: string, body: string): string {
  return crypto.sign(null, Buffer.from(`${timestamp}|${body}`, 'utf8'), privateKey).toString('base64');
}

/** What the SDK says about a webhook: its TelnyxWebhook.verify with Date.now(). */
async function sdkVerdict(publicKey: string, body: string, headers: Record<string, string>): Promise<boolean> {
  try {
    await new TelnyxWebhook(publicKey).verify(body, headers);
    return true;
  } catch {
    return false;
  }
}

function ours(i: InterfaceConfig, url: string, body: string, headers: Record<string, string>, now = Date.now()): VerifyResult {
  return telnyx.verifyWebhook!(jsonWebhook(url, body, headers), i, now);
}

test('signature: what the SDK accepts websms accepts, and what it rejects websms rejects', async (t) => {
  const { privateKey, publicKey } = keyPair();
  const other = keyPair();
  const i = iface(publicKey);
  const body = inbound();
  const nowS = Math.floor(Date.now() / 1000);
  const ts = String(nowS);
  const good = { 'telnyx-signature-ed25519': sign(privateKey, ts, body), 'telnyx-timestamp': ts };
  const cases: Array<{ name: string; body: string; headers: Record<string, string>; accept: boolean }> = [
    { name: 'genuine', body, headers: good, accept: true },
    { name: 'within the tolerance (299 s old)', body, headers: { 'telnyx-signature-ed25519': sign(privateKey, String(nowS - 299), body), 'telnyx-timestamp': String(nowS - 299) }, accept: true },
    { name: 'signed with another key (wrong public_key)', body, headers: { ...good, 'telnyx-signature-ed25519': sign(other.privateKey, ts, body) }, accept: false },
    { name: 'body changed', body: body.replace('Hi there', 'Hi therE'), headers: good, accept: false },
    { name: 'timestamp changed', body, headers: { ...good, 'telnyx-timestamp': String(nowS - 1) }, accept: false },
    { name: 'stale (400 s old, correctly signed)', body, headers: { 'telnyx-signature-ed25519': sign(privateKey, String(nowS - 400), body), 'telnyx-timestamp': String(nowS - 400) }, accept: false },
    { name: 'from the future (400 s ahead)', body, headers: { 'telnyx-signature-ed25519': sign(privateKey, String(nowS + 400), body), 'telnyx-timestamp': String(nowS + 400) }, accept: false },
    { name: 'no signature', body, headers: { 'telnyx-timestamp': ts }, accept: false },
    { name: 'no timestamp', body, headers: { 'telnyx-signature-ed25519': good['telnyx-signature-ed25519'] }, accept: false },
    { name: 'signature not base64', body, headers: { ...good, 'telnyx-signature-ed25519': '!!!' }, accept: false },
    { name: 'signature too short', body, headers: { ...good, 'telnyx-signature-ed25519': good['telnyx-signature-ed25519'].slice(0, 40) + '==' }, accept: false },
    { name: 'timestamp not a number', body, headers: { ...good, 'telnyx-timestamp': `${ts}.5` }, accept: false },
  ];
  for (const c of cases) {
    t.is(await sdkVerdict(publicKey, c.body, c.headers), c.accept, `SDK: ${c.name}`);
    const r = ours(i, WEBHOOK_URL, c.body, c.headers);
    t.is(r.ok, c.accept, `websms: ${c.name}${r.ok ? '' : ` (${r.reason})`}`);
  }
});

test('signature: the URL is not signed, so a webhook through another URL (a proxy) still verifies', (t) => {
  const { privateKey, publicKey } = keyPair();
  const body = inbound();
  const ts = String(Math.floor(Date.now() / 1000));
  const headers = { 'telnyx-signature-ed25519': sign(privateKey, ts, body), 'telnyx-timestamp': ts };
  t.true(ours(iface(publicKey), 'http://127.0.0.1:8080/sms/in/telnyx?x=1', body, headers).ok);
});

test('signature: the tolerance is exactly 300 s either way, measured against the clock given', (t) => {
  const { privateKey, publicKey } = keyPair();
  const i = iface(publicKey);
  const body = inbound();
  const ts = 1_709_288_162;
  const headers = { 'telnyx-signature-ed25519': sign(privateKey, String(ts), body), 'telnyx-timestamp': String(ts) };
  t.is(TELNYX_TOLERANCE_S, 300);
  t.true(ours(i, WEBHOOK_URL, body, headers, (ts + 300) * 1000).ok);
  t.true(ours(i, WEBHOOK_URL, body, headers, (ts - 300) * 1000).ok);
  const late = ours(i, WEBHOOK_URL, body, headers, (ts + 301) * 1000);
  t.false(late.ok);
  t.regex(late.ok ? '' : late.reason, /301s away/);
  t.false(ours(i, WEBHOOK_URL, body, headers, (ts - 301) * 1000).ok);
});

test('signature: the published test vector (providers.md §5.5) verifies, and the raw bytes count, not re-serialised JSON', (t) => {
  const i = iface('6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=');
  const body = '{"data":{"event_type":"message.received","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"}}';
  const headers = {
    'telnyx-signature-ed25519': 'yEjstr8AjeAMO7xwpRX0BO5MEFD9l9LE8hBA+OKulLFkKYqu+OCZHmt21cqbG/lkO0g1K4n7iOG8NUK3cM2lBQ==',
    'telnyx-timestamp': '1704110400',
  };
  t.true(ours(i, WEBHOOK_URL, body, headers, 1_704_110_400_000).ok);
  const spaced = JSON.stringify(JSON.parse(body), null, 1);
  t.false(ours(i, WEBHOOK_URL, spaced, headers, 1_704_110_400_000).ok);
});

test('signature: without a usable public_key every webhook is refused, with a reason that says what to set', (t) => {
  const { privateKey } = keyPair();
  const body = inbound();
  const ts = String(Math.floor(Date.now() / 1000));
  const headers = { 'telnyx-signature-ed25519': sign(privateKey, ts, body), 'telnyx-timestamp': ts };
  const none = ours({ ...iface(keyPair().publicKey), publicKey: '' }, WEBHOOK_URL, body, headers);
  t.false(none.ok);
  t.regex(none.ok ? '' : none.reason, /no public_key/);
  const short = ours({ ...iface(keyPair().publicKey), publicKey: 'AAAAAAAAAAAAAAAAAAAAAA==' }, WEBHOOK_URL, body, headers);
  t.false(short.ok);
  t.regex(short.ok ? '' : short.reason, /32-byte Ed25519/);
  // verify = no (testing only) skips the check.
  t.true(ours({ ...iface(keyPair().publicKey), verify: false }, WEBHOOK_URL, body, {}).ok);
});

// ---- end to end: a daemon with provider = telnyx ---------------------------------

test('daemon: a signed message.received is stored and delivered to the phone; a wrongly signed one is a 403 that stores nothing', async (t) => {
  const { privateKey, publicKey } = keyPair();
  const s = await profileStack(t, `[telnyx]\nprovider = telnyx\nsecret = ${API_KEY}\npublic_key = ${publicKey}\nnumber = ${ALICE}\n`);
  const body = inbound({ to: [{ phone_number: ALICE, status: 'webhook_delivered' }], text: 'Hej från Telnyx 👋' });
  const ts = String(Math.floor(Date.now() / 1000));
  const forged = await s.post('/sms/in/telnyx', body, { 'telnyx-signature-ed25519': sign(keyPair().privateKey, ts, body), 'telnyx-timestamp': ts });
  t.is(forged.status, 403);
  t.regex(forged.text, /signature check failed/);
  t.is(rows(s.dir).length, 0, 'nothing stored');
  t.true(s.logs.some((l) => l.includes('webhook refused') && l.includes('telnyx-signature-ed25519 does not match')));
  const r = await s.post('/sms/in/telnyx', body, { 'telnyx-signature-ed25519': sign(privateKey, ts, body), 'telnyx-timestamp': ts });
  t.is(r.status, 200);
  t.is(r.text, '');
  const d = await s.ami.waitForDelivery(() => true);
  t.is(d.body.toString('utf8'), 'Hej från Telnyx 👋');
  t.is(d.from, '+12025550161');
  t.is(d.to, ALICE);
  const row = await until(() => rows(s.dir).find((x) => x.state === 'delivered'));
  t.is(row['provider_id'], '7ee4241c-f127-47e5-9c34-3aac291f8058');
});

test('daemon: a handed-off text goes to Telnyx in its wire format, and a signed message.finalized marks it delivered', async (t) => {
  const { privateKey, publicKey } = keyPair();
  const itsp = await double(t, { status: 200, body: SENT_ANSWER });
  const s = await profileStack(t, `[telnyx]\nprovider = telnyx\nsecret = ${API_KEY}\npublic_key = ${publicKey}\napi_url = ${itsp.url}\n`);
  const run = await handOff(s, ALICE, '+12025550161', 'Hello Telnyx', 'Alice');
  t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED');
  const [req] = await itsp.waitForRequests(1);
  t.is(req!.path, '/v2/messages');
  t.is(req!.headers['authorization'], `Bearer ${API_KEY}`);
  t.deepEqual(req!.body, { from: ALICE, to: '+12025550161', text: 'Hello Telnyx' });
  const sent = await until(() => outboundRows(s.dir).find((r) => r.state === 'sent'));
  t.is(sent.provider_id, '40385f64-5717-4562-b3fc-2c963f66afa6');
  const report = finalized([{ phone_number: '+12025550161', status: 'delivered' }]);
  const ts = String(Math.floor(Date.now() / 1000));
  const r = await s.post('/sms/in/telnyx', report, { 'telnyx-signature-ed25519': sign(privateKey, ts, report), 'telnyx-timestamp': ts });
  t.is(r.status, 200);
  await until(() => outboundRows(s.dir)[0]?.state === 'delivered');
  t.is(rows(s.dir).length, 0, 'a report is no inbound text');
  t.false(s.logs.some((l) => l.includes(API_KEY)), 'the API key is never logged');
});

test('credentials check: GET /v2/balance with the API key; a refused key is a reason without the key', async (t) => {
  const d = await startItspDouble({ requireBearer: API_KEY, default: { status: 200, body: { data: { balance: '300.00', currency: 'USD', record_type: 'balance' } } } });
  t.teardown(() => d.stop());
  const i = iface(keyPair().publicKey, d.url);
  t.deepEqual(await telnyx.checkCredentials!(i.send, 2000), { ok: true, detail: 'balance 300.00 USD' });
  const [r] = await d.waitForRequests(1);
  t.is(r!.method, 'GET');
  t.is(r!.path, '/v2/balance');
  const wrong = await telnyx.checkCredentials!({ ...i.send, bearer: 'KEY-wrong-one' }, 2000);
  t.false(wrong.ok);
  t.false(JSON.stringify(wrong).includes('KEY-wrong-one'));
  t.regex(wrong.ok ? '' : wrong.reason, /^401/);
});
