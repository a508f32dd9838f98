// The ClickSend profile: a send over real HTTP (JSON messages[], Basic
// username:API key), the per-message status inside its answers, inbound texts
// and delivery receipts as form, query string or JSON, from the documented
// examples of providers.md §7.

import test, { type ExecutionContext } from 'ava';
import { clicksend } from '../providers/clicksend.js';
import type { HttpAnswer, OutgoingText } from '../providers/types.js';
import type { InterfaceConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { createHttpClient } from '../src/outbound/http.js';
import { startItspDouble, type ItspDouble } from './doubles/itsp-server.js';
import { profileInterface, webhook } from './helpers/profile.js';

const USER = 'ops@example.com';
const API_KEY = 'CS-API-KEY-0000-never-logged';
const TOKEN = 'clicksend-token-0123456789';
const TEXT: OutgoingText = { id: 42, from: '+12025550160', to: '+12025550161', body: 'Hello', reference: 'ast-msg-42' };

/** The documented answer (providers.md §7.2), with one message whose status is given. */
function answerWith(status: string, messageId = 'BF7AD270-0DE2-418B-B606-71D527D9C1AE') {
  return {
    http_code: 200,
    response_code: 'SUCCESS',
    response_msg: 'Messages queued for delivery.',
    data: {
      total_price: 0.077,
      total_count: 1,
      queued_count: status === 'SUCCESS' ? 1 : 0,
      messages: [
        {
          direction: 'out', date: 1709288130, to: '+12025550161', body: 'Hello', from: '+12025550160', schedule: 1709288130,
          message_id: messageId, message_parts: 1, message_price: '0.0770', from_email: null, list_id: null, custom_string: 'ast-msg-42',
          contact_id: null, user_id: 1, subaccount_id: 1, country: 'US', carrier: 'T-Mobile', status,
        },
      ],
      _currency: { currency_name_short: 'USD', currency_prefix_d: '$', currency_prefix_c: '¢', currency_name_long: 'US Dollars' },
    },
  };
}

function iface(extra: Record<string, string> = {}): InterfaceConfig {
  return profileInterface('clicksend', { account: USER, secret: API_KEY, number: '+12025550160', token: TOKEN, ...extra }, 'gw', 'country_code = 1\ndefault_interface = gw');
}

async function double(t: ExecutionContext): Promise<ItspDouble> {
  const d = await startItspDouble({ requireBasic: { username: USER, password: API_KEY }, default: { status: 200, body: answerWith('SUCCESS') } });
  t.teardown(() => d.stop());
  return d;
}

function answer(status: number, body: unknown, headers: Record<string, string> = {}): HttpAnswer {
  return { status, headers, body: typeof body === 'string' ? body : JSON.stringify(body) };
}

test('send: POST /v3/sms/send, Basic username:API key, one message with our reference as custom_string', async (t) => {
  const d = await double(t);
  const i = iface({ api_url: d.url });
  t.is(i.send.url, `${d.url}/v3/sms/send`);
  const client = createHttpClient(i.send);
  t.teardown(() => client.close());
  const res = await client.send(clicksend.buildRequest({ ...TEXT, body: 'Hello "you" & ünïcödé 👋' }, i.send));
  t.true(res.ok);
  const [r] = await d.waitForRequests(1);
  t.true(r!.authorized);
  t.is(r!.method, 'POST');
  t.is(r!.path, '/v3/sms/send');
  t.is(r!.contentType, 'application/json');
  t.deepEqual(r!.body, { messages: [{ source: 'websms', from: '+12025550160', to: '+12025550161', body: 'Hello "you" & ünïcödé 👋', custom_string: 'ast-msg-42' }] });
  if (res.ok) t.deepEqual(clicksend.parseResponse(res.answer, i.send), { kind: 'accepted', providerId: 'BF7AD270-0DE2-418B-B606-71D527D9C1AE' });
});

test('answers: the status inside a 200 decides: refusals are permanent in ClickSend\'s words, THROTTLED retries', (t) => {
  const cfg = iface().send;
  t.deepEqual(clicksend.parseResponse(answer(200, answerWith('INVALID_RECIPIENT')), cfg), {
    kind: 'permanent',
    reason: 'INVALID_RECIPIENT: the recipient is not a valid number',
  });
  t.deepEqual(clicksend.parseResponse(answer(200, answerWith('INSUFFICIENT_CREDIT')), cfg), {
    kind: 'permanent',
    reason: 'INSUFFICIENT_CREDIT: the ClickSend account has no credit left',
  });
  t.deepEqual(clicksend.parseResponse(answer(200, answerWith('SOMETHING_NEW')), cfg), { kind: 'permanent', reason: 'ClickSend refused the text: SOMETHING_NEW' });
  t.deepEqual(clicksend.parseResponse(answer(200, answerWith('THROTTLED')), cfg), {
    kind: 'retry',
    reason: 'THROTTLED: the same text went to this number moments ago; ClickSend asks to wait',
  });
  // No per-message part: the envelope's code decides.
  t.deepEqual(clicksend.parseResponse(answer(200, { http_code: 200, response_code: 'SUCCESS', response_msg: 'ok', data: {} }), cfg), { kind: 'accepted', providerId: null });
  t.deepEqual(clicksend.parseResponse(answer(200, { response_code: 'INVALID_REQUEST', response_msg: 'Missing messages' }), cfg), {
    kind: 'permanent',
    reason: '200: INVALID_REQUEST: Missing messages',
  });
});

test('answers: HTTP errors in the envelope: 401 permanent, 429 retries after Retry-After, 500 retries (over real HTTP)', async (t) => {
  const d = await double(t);
  d.queue(
    { status: 401, body: { http_code: 401, response_code: 'UNAUTHORIZED', response_msg: 'Invalid credentials.', data: null } },
    { status: 429, body: { http_code: 429, response_code: 'TOO_MANY_REQUESTS', response_msg: 'Slow down.', data: null }, retryAfter: 5 },
    { status: 429, body: { http_code: 429, response_code: 'TOO_MANY_REQUESTS', response_msg: 'Slow down.' } },
    { status: 500, body: { http_code: 500, response_code: 'INTERNAL_SERVER_ERROR', response_msg: 'Oops.' } },
  );
  const i = iface({ api_url: d.url });
  const client = createHttpClient(i.send);
  t.teardown(() => client.close());
  const outcomes = [];
  for (let n = 0; n < 4; n++) {
    const res = await client.send(clicksend.buildRequest(TEXT, i.send));
    outcomes.push(res.ok ? clicksend.parseResponse(res.answer, i.send) : res.reason);
  }
  t.deepEqual(outcomes, [
    { kind: 'permanent', reason: '401: UNAUTHORIZED: Invalid credentials.' },
    { kind: 'retry', reason: '429: TOO_MANY_REQUESTS: Slow down.', retryAfterMs: 5000 },
    { kind: 'retry', reason: '429: TOO_MANY_REQUESTS: Slow down.' },
    { kind: 'retry', reason: '500: INTERNAL_SERVER_ERROR: Oops.' },
  ]);
});

// ---- inbound and receipts --------------------------------------------------------------

const INBOUND_FORM =
  'timestamp=1709288162&from=%2B12025550161&to=%2B12025550160&body=Hi+there&message=Hi+there&original_body=Hello&original_message_id=BF7AD270-0DE2-418B-B606-71D527D9C1AE&custom_string=ast-msg-42&user_id=1&subaccount_id=1&message_id=4FE2C3B0-0000-4A7B-8C1D-000000000001';
const EXPECTED = { from: '+12025550161', to: '+12025550160', body: 'Hi there', providerId: '4FE2C3B0-0000-4A7B-8C1D-000000000001', media: [] };
const URL = `https://sms.example.org/sms/in/gw/${TOKEN}`;

test('inbound: the documented form POST, the same as a GET query string and as JSON, gives one text', (t) => {
  const i = iface();
  const fields = Object.fromEntries(new URLSearchParams(INBOUND_FORM));
  const forms = [
    webhook({ url: URL, body: INBOUND_FORM }),
    webhook({ url: `${URL}?${INBOUND_FORM}` }),
    webhook({ url: URL, body: JSON.stringify(fields), contentType: 'application/json' }),
  ];
  for (const req of forms) t.deepEqual(clicksend.parseWebhook!(req, i), { kind: 'texts', texts: [EXPECTED] });
  // Older rules name the text "message" only; numbers without '+' are international.
  const old = webhook({ url: URL, body: 'from=12025550161&to=12025550160&message=Hi+there' });
  t.deepEqual(clicksend.parseWebhook!(old, i), { kind: 'texts', texts: [{ ...EXPECTED, providerId: null }] });
  t.deepEqual(clicksend.answer!({ kind: 'texts', texts: [EXPECTED] }, i), { status: 200, contentType: 'text/plain; charset=utf-8', body: '' });
});

test('receipts: delivered and failed receipts, at the status URL (parseStatus) and at the inbound URL', (t) => {
  const i = iface();
  const delivered = { message_id: 'BF7AD270-0DE2-418B-B606-71D527D9C1AE', status: 'Delivered', status_code: '201', status_text: 'Success: Message received on handset.', custom_string: 'ast-msg-42', timestamp: '1709288135' };
  t.deepEqual(clicksend.parseStatus(delivered, i.send), { providerId: delivered.message_id, state: 'delivered', reason: null });
  const failed = { ...delivered, status: 'Failed', status_code: '301', status_text: 'Fail: Delivery failed.' };
  t.deepEqual(clicksend.parseStatus(failed, i.send), { providerId: delivered.message_id, state: 'failed', reason: 'Fail: Delivery failed.' });
  t.like(clicksend.parseStatus({ ...delivered, status: 'Sent' }, i.send), { state: 'sent', reason: null });
  t.like(clicksend.parseStatus({ data: delivered }, i.send), { state: 'delivered' });
  t.is(clicksend.parseStatus({ status: 'Delivered' }, i.send), undefined);
  const atInbound = webhook({ url: URL, body: new URLSearchParams(failed).toString() });
  t.deepEqual(clicksend.parseWebhook!(atInbound, i), { kind: 'status', reports: [{ providerId: delivered.message_id, state: 'failed', reason: 'Fail: Delivery failed.' }] });
  // At the delivery-report URL a receipt that also names a body (the text it reports on) is a receipt.
  const atStatus = webhook({ url: URL, body: new URLSearchParams({ ...delivered, body: 'Hello', from: '+12025550160' }).toString(), route: 'status' });
  t.deepEqual(clicksend.parseWebhook!(atStatus, i), { kind: 'status', reports: [{ providerId: delivered.message_id, state: 'delivered', reason: null }] });
});

test('inbound: neither a text nor a receipt is 400 with what is missing', (t) => {
  const i = iface();
  const err = t.throws(() => clicksend.parseWebhook!(webhook({ url: URL, body: 'from=%2B12025550161' }), i), { instanceOf: RequestError });
  t.is((err as RequestError).status, 400);
  t.regex((err as RequestError).reason, /no body.*no message_id and status/);
});

test('profile: no signature (the URL token guards it); settings; the defaults load as a valid interface', (t) => {
  t.is(clicksend.verifyWebhook, undefined);
  t.deepEqual(clicksend.settings!.filter((s) => s.secret).map((s) => s.key), ['secret', 'token']);
  const i = iface();
  t.is(i.send.url, 'https://rest.clicksend.com/v3/sms/send');
  t.deepEqual([i.send.auth, i.send.format, i.send.username, i.send.password], ['basic', 'json', USER, API_KEY]);
  t.deepEqual([i.fieldFrom, i.fieldTo, i.fieldBody, i.fieldId], ['from', 'to', 'body', 'message_id']);
  t.deepEqual(i.methods, ['POST', 'GET']);
});
