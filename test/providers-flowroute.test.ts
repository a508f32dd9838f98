// The Flowroute profile: v2.2 and v2.1 sends over real HTTP (JSON:API, Basic
// auth, the numbers each version wants), its answers, delivery receipts, and
// inbound callbacks in all three forms Flowroute posts (v2.1, v2.2, legacy flat),
// from the documented examples.

import test, { type ExecutionContext } from 'ava';
import { flowroute, flowrouteVersion } from '../providers/flowroute.js';
import type { OutgoingText } from '../providers/types.js';
import type { InterfaceConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { createHttpClient } from '../src/outbound/http.js';
import { startItspDouble, type ItspDouble } from './doubles/itsp-server.js';
import { profileInterface, webhook } from './helpers/profile.js';

const ACCESS_KEY = '12345678';
const SECRET_KEY = 'fr-s3cret-key-never-logged';
const TOKEN = 'flowroute-token-0123456789';
const TEXT: OutgoingText = { id: 9, from: '+12025550160', to: '+12025550161', body: 'Hello', reference: 'out-9' };
const ACCEPTED = { data: { links: { self: 'https://api.flowroute.com/v2.1/messages/mdr2-39cadeace66e11e7aff806cd7f24ba2d' }, type: 'message', id: 'mdr2-39cadeace66e11e7aff806cd7f24ba2d' } };

function iface(extra: Record<string, string> = {}, lines = ''): InterfaceConfig {
  return profileInterface('flowroute', { account: ACCESS_KEY, secret: SECRET_KEY, number: '+12025550160', token: TOKEN, ...extra }, 'gw', 'country_code = 1\ndefault_interface = gw', lines);
}

async function double(t: ExecutionContext): Promise<ItspDouble> {
  const d = await startItspDouble({ requireBasic: { username: ACCESS_KEY, password: SECRET_KEY }, default: { status: 202, body: ACCEPTED } });
  t.teardown(() => d.stop());
  return d;
}

async function send(t: ExecutionContext, i: InterfaceConfig, text = TEXT) {
  const client = createHttpClient(i.send);
  t.teardown(() => client.close());
  const res = await client.send(flowroute.buildRequest(text, i.send));
  if (!res.ok) throw new Error(res.reason);
  return flowroute.parseResponse(res.answer, i.send);
}

// ---- sending -----------------------------------------------------------------------

test('send v2.2 (the default): JSON:API document with E.164 numbers, Basic access key:secret key, 202 with the mdr2 id', async (t) => {
  const d = await double(t);
  const i = iface({ api_url: d.url });
  t.is(i.send.url, `${d.url}/v2.2/messages`);
  t.deepEqual(await send(t, i), { kind: 'accepted', providerId: 'mdr2-39cadeace66e11e7aff806cd7f24ba2d' });
  const [r] = await d.waitForRequests(1);
  t.true(r!.authorized);
  t.is(r!.method, 'POST');
  t.is(r!.path, '/v2.2/messages');
  t.is(r!.headers['content-type'], 'application/vnd.api+json');
  t.is(r!.headers['accept'], 'application/vnd.api+json');
  t.deepEqual(r!.body, { data: { type: 'message', attributes: { to: '+12025550161', from: '+12025550160', body: 'Hello' } } });
});

test('send v2.1 (send_url names it): the same document with 11-digit numbers, no "+"', async (t) => {
  const d = await double(t);
  const i = iface({ send_url: `${d.url}/v2.1/messages` });
  t.is(flowrouteVersion(i.send.url), '2.1');
  t.like(await send(t, i), { kind: 'accepted' });
  const [r] = await d.waitForRequests(1);
  t.is(r!.path, '/v2.1/messages');
  t.deepEqual(r!.body, { data: { type: 'message', attributes: { to: '12025550161', from: '12025550160', body: 'Hello' } } });
});

test('send: a per-message dlr_callback with the token through send_extra; ours win over a clashing extra', async (t) => {
  const d = await double(t);
  const i = iface({ api_url: d.url }, 'send_extra = dlr_callback=https://sms.example.org/sms/status/gw/${token}');
  // The loader refuses an extra named like one of ours; a configuration built by hand still cannot redirect the text.
  await send(t, { ...i, send: { ...i.send, extra: { ...i.send.extra, to: '+19999999999' } } });
  const [r] = await d.waitForRequests(1);
  t.deepEqual(r!.body, {
    data: { type: 'message', attributes: { dlr_callback: `https://sms.example.org/sms/status/gw/${TOKEN}`, to: '+12025550161', from: '+12025550160', body: 'Hello' } },
  });
});

test('send: receipts asked for at websms\'s delivery-report URL when it is known (statusUrl); a dlr_callback extra wins', async (t) => {
  const d = await double(t);
  const i = iface({ api_url: d.url });
  const statusUrl = `https://sms.example.org/sms/status/gw/${TOKEN}`;
  await send(t, { ...i, send: { ...i.send, statusUrl } });
  await send(t, { ...i, send: { ...i.send, statusUrl, extra: { dlr_callback: 'https://elsewhere.example.org/dlr' } } });
  const [a, b] = await d.waitForRequests(2);
  t.like(a!.body, { data: { attributes: { dlr_callback: statusUrl, to: '+12025550161' } } });
  t.like(b!.body, { data: { attributes: { dlr_callback: 'https://elsewhere.example.org/dlr' } } });
});

test('send: with public_url set, each text asks for its receipts at the interface\'s delivery-report URL, token included', async (t) => {
  const d = await double(t);
  const i = iface({ api_url: d.url, public_url: 'https://sms.example.org/sms/in/gw' });
  await send(t, i);
  const [r] = await d.waitForRequests(1);
  t.like(r!.body, { data: { attributes: { dlr_callback: `https://sms.example.org/sms/status/gw/${TOKEN}` } } });
});

test('answers: JSON:API errors are permanent with their detail; 429 retries after Retry-After; 5xx retries', async (t) => {
  const d = await double(t);
  const i = iface({ api_url: d.url });
  d.queue(
    { status: 401, body: { errors: [{ id: 'e1', status: 401, detail: 'Authentication failed', title: 'Unauthorized' }] } },
    { status: 400, body: { errors: [{ id: 'e2', status: 400, detail: 'The from number is not SMS enabled', title: 'Bad Request' }] } },
    { status: 429, body: { errors: [{ status: 429, detail: 'Too many requests' }] }, retryAfter: 3 },
    { status: 500, body: '' },
  );
  t.deepEqual(await send(t, i), { kind: 'permanent', reason: '401: Authentication failed' });
  t.deepEqual(await send(t, i), { kind: 'permanent', reason: '400: The from number is not SMS enabled' });
  t.deepEqual(await send(t, i), { kind: 'retry', reason: '429: Too many requests', retryAfterMs: 3000 });
  t.deepEqual(await send(t, i), { kind: 'retry', reason: '500: Internal Server Error' });
});

// ---- delivery receipts ---------------------------------------------------------------

const DLR = {
  data: {
    attributes: { body: 'Hello', level: 2, status: 'delivered', status_code: 1000, status_code_description: 'Message delivered to handset', timestamp: '2024-03-01T10:15:35.12Z' },
    id: 'mdr2-39cadeace66e11e7aff806cd7f24ba2d',
    links: { related: 'https://api.flowroute.com/v2.1/messages/mdr2-39cadeace66e11e7aff806cd7f24ba2d' },
    type: 'delivery_receipt',
  },
};

function dlr(attributes: Record<string, unknown>) {
  return { data: { ...DLR.data, attributes: { ...DLR.data.attributes, ...attributes } } };
}

test('receipts: the documented level-2 receipt is delivered; level 1 is only the carrier; failures carry Flowroute\'s words and code', (t) => {
  const cfg = iface().send;
  const id = 'mdr2-39cadeace66e11e7aff806cd7f24ba2d';
  t.deepEqual(flowroute.parseStatus(DLR, cfg), { providerId: id, state: 'delivered', reason: null });
  t.deepEqual(flowroute.parseStatus(dlr({ level: 1, status: 'delivered', status_code: 1000 }), cfg), { providerId: id, state: 'sent', reason: null });
  t.deepEqual(flowroute.parseStatus(dlr({ level: 1, status: 'smsc submit' }), cfg), { providerId: id, state: 'sent', reason: null });
  t.deepEqual(flowroute.parseStatus(dlr({ status: 'undeliverable', status_code: 4505, status_code_description: 'Carrier rejected the message' }), cfg), {
    providerId: id,
    state: 'failed',
    reason: 'Carrier rejected the message (code 4505)',
  });
  t.like(flowroute.parseStatus(dlr({ status: 'expired', status_code_description: undefined, status_code: undefined }), cfg), { state: 'failed', reason: 'expired' });
  t.is(flowroute.parseStatus({ data: { type: 'message', id: 'x', attributes: { status: 'delivered' } } }, cfg), undefined);
  t.is(flowroute.parseStatus({ MessageSid: 'x', MessageStatus: 'delivered' }, cfg), undefined);
});

test('receipts: posted to the webhook they are status reports', (t) => {
  const i = iface();
  const req = webhook({ url: 'https://sms.example.org/sms/in/gw/' + TOKEN, body: JSON.stringify(DLR), contentType: 'application/json' });
  t.deepEqual(flowroute.parseWebhook!(req, i), { kind: 'status', reports: [{ providerId: 'mdr2-39cadeace66e11e7aff806cd7f24ba2d', state: 'delivered', reason: null }] });
});

// ---- inbound -----------------------------------------------------------------------------

const V21_INBOUND = {
  data: {
    attributes: {
      amount_display: '$0.0000', amount_nanodollars: 0, body: 'Hi there', delivery_receipts: [], direction: 'inbound',
      from: '12025550161', to: '12025550160', is_mms: false, message_callback_url: 'https://sms-gw.example.com/flowroute/inbound',
      message_encoding: 0, message_type: 'longcode', status: 'delivered', timestamp: '2024-03-01T10:16:02.24Z',
    },
    id: 'mdr2-ca82be46e6ba11e7b9e3b0f3d2b0d0e2',
    type: 'message',
  },
};
/** v2.2 posts the same document with E.164 numbers. */
const V22_INBOUND = { data: { ...V21_INBOUND.data, attributes: { ...V21_INBOUND.data.attributes, from: '+12025550161', to: '+12025550160' } } };
/** The portal's older callback: flat (developer.flowroute.com "Setting up inbound messages"). */
const FLAT_INBOUND = { to: '12025550160', body: 'Hi there', from: '12025550161', id: 'mdr2-ca82be46e6ba11e7b9e3b0f3d2b0d0e2' };

const EXPECTED = { from: '+12025550161', to: '+12025550160', body: 'Hi there', providerId: 'mdr2-ca82be46e6ba11e7b9e3b0f3d2b0d0e2', media: [] };

function inbound(doc: unknown, contentType = 'application/json') {
  return webhook({ url: `https://sms.example.org/sms/in/gw/${TOKEN}`, body: JSON.stringify(doc), contentType });
}

test('inbound: v2.1, v2.2 and the flat legacy callback all give the same text', (t) => {
  const i = iface();
  for (const [name, doc] of [['v2.1', V21_INBOUND], ['v2.2', V22_INBOUND], ['flat', FLAT_INBOUND]] as const) {
    t.deepEqual(flowroute.parseWebhook!(inbound(doc), i), { kind: 'texts', texts: [EXPECTED] }, name);
  }
  // Whatever send_url says: a v2.1 sender still reads v2.2 callbacks, and the other way round.
  t.deepEqual(flowroute.parseWebhook!(inbound(V22_INBOUND), iface({ send_url: 'https://api.flowroute.com/v2.1/messages' })), { kind: 'texts', texts: [EXPECTED] });
  t.deepEqual(flowroute.parseWebhook!(inbound(V21_INBOUND, 'application/vnd.api+json'), i), { kind: 'texts', texts: [EXPECTED] });
  t.deepEqual(flowroute.answer!({ kind: 'texts', texts: [EXPECTED] }, i), { status: 200, contentType: 'text/plain; charset=utf-8', body: '' });
});

test('inbound: an MMS with its media in included[] (and media_urls), body optional', (t) => {
  const i = iface();
  const mms = {
    data: { ...V22_INBOUND.data, attributes: { ...V22_INBOUND.data.attributes, body: '', is_mms: true, media_urls: ['https://mms.flowroute.com/b.png'] } },
    included: [
      { type: 'media', id: 'm1', attributes: { url: 'https://mms.flowroute.com/a.jpg', file_name: 'a.jpg', mime_type: 'image/jpeg', file_size: 1234 } },
      { type: 'other', attributes: { url: 'https://example.org/not-media' } },
      { type: 'media', attributes: { url: 'https://mms.flowroute.com/b.png', mime_type: 'image/png' } },
    ],
  };
  t.deepEqual(flowroute.parseWebhook!(inbound(mms), i), {
    kind: 'texts',
    texts: [
      {
        ...EXPECTED,
        body: '',
        media: [
          { url: 'https://mms.flowroute.com/a.jpg', contentType: 'image/jpeg', auth: 'none' },
          { url: 'https://mms.flowroute.com/b.png', contentType: 'image/png', auth: 'none' },
        ],
      },
    ],
  });
});

test('inbound: outbound records are ignored; what is not Flowroute\'s is 400', (t) => {
  const i = iface();
  const out = { data: { ...V21_INBOUND.data, attributes: { ...V21_INBOUND.data.attributes, direction: 'outbound' } } };
  t.like(flowroute.parseWebhook!(inbound(out), i), { kind: 'ignored' });
  for (const doc of [{ hello: 'world' }, { data: { type: 'message', attributes: { from: '12025550161', to: '12025550160' } } }, { data: { type: 'message', attributes: { body: 'x', to: '1' } } }]) {
    const err = t.throws(() => flowroute.parseWebhook!(inbound(doc), i), { instanceOf: RequestError });
    t.is((err as RequestError).status, 400);
  }
});

test('profile: no signature to check (the URL token guards the callback); settings and defaults load', (t) => {
  t.is(flowroute.verifyWebhook, undefined);
  t.deepEqual(
    flowroute.settings!.map((s) => s.key),
    ['account', 'secret', 'number', 'token'],
  );
  const i = iface();
  t.is(i.token, TOKEN);
  t.is(i.send.url, 'https://api.flowroute.com/v2.2/messages');
  t.is(i.send.auth, 'basic');
  t.is(i.send.format, 'json');
  t.deepEqual([i.send.username, i.send.password], [ACCESS_KEY, SECRET_KEY]);
});
