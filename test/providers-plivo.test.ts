// The Plivo profile against Plivo's own code: the official SDK's client sends
// the same text to a loopback recorder, and the SDK's validateV3Signature
// judges the same signed webhooks as websms does.

import test, { type ExecutionContext } from 'ava';
import plivoSdk from 'plivo';
import { plivo, plivoSignature, plivoSignedString } from '../providers/plivo.js';
import type { HttpAnswer, OutgoingText, WebhookRequest } from '../providers/types.js';
import { RequestError } from '../src/errors.js';
import { startItspDouble, type ItspDouble } from './doubles/itsp-server.js';
import { profileInterface, sendThrough, webhook } from './helpers/profile.js';

const AUTH_ID = 'MAXXXXXXXXXXXXXXXXXX';
const TOKEN = 'MY_AUTH_TOKEN_PLACEHOLDER';
const HOOK = 'https://sms-gw.example.com/plivo/inbound';
const PUBLIC = 'https://sms.example.org/sms/in/itsp';
const TEXT: OutgoingText = { id: 7, from: '+12025550160', to: '+12025550161', body: 'Hello from Asterisk 👋', reference: 'ref-7' };
const NONCE = '12345678901234567890';
const INBOUND = { From: '12025550160', To: '12025550161', Text: 'Hello', Type: 'sms', MessageUUID: '00000000-0000-0000-0000-000000000001' };

const validate = (plivoSdk as unknown as { validateV3Signature: (m: string, u: string, n: string, t: string, s: string, p?: object) => boolean }).validateV3Signature;
const SdkClient = (plivoSdk as unknown as { Client: new (id: string, token: string, opts: object) => { messages: { create(o: object): Promise<unknown> } } }).Client;

async function double(t: ExecutionContext): Promise<ItspDouble> {
  const d = await startItspDouble({ default: { status: 202, body: { api_id: 'a-1', message: 'message(s) queued', message_uuid: ['db3ce55a-7f1d-11e1-8ea7-1231380bc196'] } } });
  t.teardown(() => d.stop());
  return d;
}

const iface = (extra: Record<string, string> = {}) => profileInterface('plivo', { account: AUTH_ID, secret: TOKEN, public_url: PUBLIC, ...extra });
const answer = (status: number, body: unknown, headers: Record<string, string> = {}): HttpAnswer => ({ status, headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

test('send: websms sends what the plivo SDK sends for the same text (method, path, Basic auth, JSON fields with the status callback)', async (t) => {
  const d = await double(t);
  const sdk = new SdkClient(AUTH_ID, TOKEN, { url: `${d.url}/v1/Account/${AUTH_ID}` });
  await sdk.messages.create({ src: '12025550160', dst: '12025550161', text: TEXT.body, url: 'https://sms.example.org/sms/status/itsp' });
  const { outcome } = await sendThrough(plivo, iface({ api_url: d.url }), TEXT);
  t.deepEqual(outcome, { kind: 'accepted', providerId: 'db3ce55a-7f1d-11e1-8ea7-1231380bc196' });
  const [theirs, ours] = await d.waitForRequests(2);
  t.is(ours!.method, theirs!.method);
  t.is(ours!.path, `/v1/Account/${AUTH_ID}/Message/`);
  t.is(ours!.path, theirs!.path);
  t.is(ours!.headers.authorization, theirs!.headers.authorization);
  t.is(ours!.contentType, 'application/json');
  t.deepEqual(ours!.body, theirs!.body);
});

test('answers: 202 accepted with the first message_uuid; refusals with Plivo\'s error; rate limits and server errors retried', (t) => {
  const cfg = iface().send;
  t.deepEqual(plivo.parseResponse(answer(202, { api_id: 'x', message: 'message(s) queued', message_uuid: ['u1'] }), cfg), { kind: 'accepted', providerId: 'u1' });
  t.deepEqual(plivo.parseResponse(answer(400, { api_id: 'x', error: 'dst parameter is invalid' }), cfg), { kind: 'permanent', reason: '400: dst parameter is invalid' });
  t.is(plivo.parseResponse(answer(401, { error: 'Authentication failed' }), cfg).kind, 'permanent');
  t.deepEqual(plivo.parseResponse(answer(429, { error: 'too many requests' }, { 'retry-after': '5' }), cfg), { kind: 'retry', reason: '429: too many requests', retryAfterMs: 5000 });
  t.is(plivo.parseResponse(answer(500, ''), cfg).kind, 'retry');
});

const parse = (req: WebhookRequest) => plivo.parseWebhook!(req, iface());

test('inbound: the SMS fields with + on the numbers; MMS media in order, Plivo\'s own with credentials', (t) => {
  const body = 'From=12025550161&To=12025550160&Type=sms&Text=Hi+there&MessageUUID=8a3f4b5c-d7a1-11ee-9c1e-0242ac110003&Units=1&TotalRate=0.00000&TotalAmount=0.00000&MessageIntent=&PowerpackUUID=';
  t.deepEqual(parse(webhook({ url: PUBLIC, body })), {
    kind: 'texts',
    texts: [{ from: '+12025550161', to: '+12025550160', body: 'Hi there', providerId: '8a3f4b5c-d7a1-11ee-9c1e-0242ac110003', media: [] }],
  });
  const mms = new URLSearchParams({
    From: '12025550161',
    To: '12025550160',
    Type: 'mms',
    Text: '',
    MessageUUID: 'm-1',
    MediaCount: '2',
    Media1: 'https://cdn.example.net/b.jpg',
    Media0: `https://api.plivo.com/v1/Account/${AUTH_ID}/Media/m-1/a.jpg`,
  }).toString();
  t.deepEqual(parse(webhook({ url: PUBLIC, body: mms })), {
    kind: 'texts',
    texts: [
      {
        from: '+12025550161',
        to: '+12025550160',
        body: '',
        providerId: 'm-1',
        media: [
          { url: `https://api.plivo.com/v1/Account/${AUTH_ID}/Media/m-1/a.jpg`, auth: 'basic' },
          { url: 'https://cdn.example.net/b.jpg', auth: 'none' },
        ],
      },
    ],
  });
  t.is(t.throws(() => parse(webhook({ url: PUBLIC, body: 'From=1&To=2&MessageUUID=x' })), { instanceOf: RequestError })!.status, 400);
});

test('status callbacks: delivered, failed with the error code, sent; a part reports under its parent', (t) => {
  const base = { MessageUUID: 'u1', To: '12025550161', From: '12025550160', Type: 'sms', Units: '1', TotalRate: '0.0065', TotalAmount: '0.0065', MCC: '310', MNC: '260', ErrorCode: '', PowerpackUUID: '' };
  t.deepEqual(parse(webhook({ url: PUBLIC, body: new URLSearchParams({ ...base, Status: 'delivered' }).toString() })), {
    kind: 'status',
    reports: [{ providerId: 'u1', state: 'delivered', reason: null }],
  });
  const cfg = iface().send;
  t.deepEqual(plivo.parseStatus({ ...base, Status: 'undelivered', ErrorCode: '30' }, cfg), { providerId: 'u1', state: 'failed', reason: 'undelivered (ErrorCode 30)' });
  t.deepEqual(plivo.parseStatus({ ...base, Status: 'sent' }, cfg), { providerId: 'u1', state: 'sent', reason: null });
  t.deepEqual(plivo.parseStatus({ ...base, MessageUUID: 'u1-part2', ParentMessageUUID: 'u1', Status: 'delivered' }, cfg)?.providerId, 'u1');
  t.is(plivo.parseStatus({ Text: 'x' }, cfg), undefined);
});

// ---- signature V3 -------------------------------------------------------------

test('V3: the test vectors of providers.md, which the SDK accepts too', (t) => {
  const body = Object.fromEntries(Object.entries(INBOUND).map(([k, v]) => [k, [v]]));
  const post = plivoSignature(plivoSignedString('POST', HOOK, body), NONCE, TOKEN);
  t.is(post, 'LqW4ZkClCfctARfCkmFDUxzjojM/TFQHsXlnmzIwR7w=');
  t.true(validate('POST', HOOK, NONCE, TOKEN, post, INBOUND));
  const withQuery = plivoSignature(plivoSignedString('POST', `${HOOK}?tok=abc`, body), NONCE, TOKEN);
  t.is(withQuery, 'Y9PsEFLm149e8L6lp2XogC5ZzR5/kw3TIZSB0ErLRjY=');
  t.true(validate('POST', `${HOOK}?tok=abc`, NONCE, TOKEN, withQuery, INBOUND));
  const getUrl = `${HOOK}?${new URLSearchParams(INBOUND).toString()}`;
  const get = plivoSignature(plivoSignedString('GET', getUrl, {}), NONCE, TOKEN);
  t.is(get, 'pwpw0dp8IJQXDzWsmsnPKDwaGBHdbWQhDCGzfEux/hU=');
  t.true(validate('GET', getUrl, NONCE, TOKEN, get, {}));
});

/** A webhook signed as Plivo signs it. */
function signed(o: { method?: 'GET' | 'POST'; url: string; params: Record<string, string>; token?: string; extraSig?: string }): WebhookRequest {
  const method = o.method ?? 'POST';
  const url = method === 'GET' ? `${o.url}${o.url.includes('?') ? '&' : '?'}${new URLSearchParams(o.params).toString()}` : o.url;
  const body = method === 'POST' ? Object.fromEntries(Object.entries(o.params).map(([k, v]) => [k, [v]])) : {};
  const sig = plivoSignature(plivoSignedString(method, url, body), NONCE, o.token ?? TOKEN);
  const header = o.extraSig ? `${o.extraSig},${sig}` : sig;
  return webhook({
    method,
    url,
    body: method === 'POST' ? new URLSearchParams(o.params).toString() : undefined,
    headers: { 'X-Plivo-Signature-V3': header, 'X-Plivo-Signature-V3-Nonce': NONCE },
  });
}

function sdkSays(req: WebhookRequest): boolean {
  const params = req.method === 'POST' ? Object.fromEntries(new URLSearchParams(req.rawBody.toString())) : {};
  return validate(req.method, req.url, req.headers['x-plivo-signature-v3-nonce']!, TOKEN, req.headers['x-plivo-signature-v3']!, params);
}

test('V3: websms accepts what the SDK accepts and refuses what it refuses (wrong token, changed body, changed URL, changed query)', (t) => {
  const i = iface();
  const params = { ...INBOUND, Text: 'Grüße & more=yes 👋' };
  const cases: Array<[string, WebhookRequest, boolean]> = [];
  const good = signed({ url: PUBLIC, params });
  cases.push(['POST', good, true]);
  cases.push(['GET', signed({ method: 'GET', url: PUBLIC, params }), true]);
  cases.push(['POST with a query', signed({ url: `${PUBLIC}?x=1&a=2`, params }), true]);
  cases.push(['two signatures during token rotation', signed({ url: PUBLIC, params, extraSig: 'c29tZXRoaW5nIGVsc2U=' }), true]);
  cases.push(['wrong token', signed({ url: PUBLIC, params, token: 'ANOTHER_AUTH_TOKEN_123' }), false]);
  cases.push(['changed body', webhook({ url: PUBLIC, body: good.rawBody.toString().replace('Text=', 'Text=X'), headers: good.headers }), false]);
  cases.push(['changed URL', webhook({ url: PUBLIC.replace('/itsp', '/other'), body: good.rawBody, headers: good.headers }), false]);
  cases.push(['changed host', webhook({ url: PUBLIC.replace('sms.example.org', 'evil.example.org'), body: good.rawBody, headers: good.headers }), false]);
  const g = signed({ method: 'GET', url: PUBLIC, params });
  cases.push(['changed query', webhook({ method: 'GET', url: g.url.replace('To=12025550161', 'To=12025550199'), headers: g.headers }), false]);
  for (const [what, req, expected] of cases) {
    t.is(sdkSays(req), expected, `SDK: ${what}`);
    const res = plivo.verifyWebhook!(req, i, Date.now());
    t.is(res.ok, expected, `websms: ${what}`);
    if (!res.ok) t.false(res.reason.includes(TOKEN));
  }
});

test('V3: unsigned refused; signing_secret overrides the auth token', (t) => {
  const unsigned = plivo.verifyWebhook!(webhook({ url: PUBLIC, body: new URLSearchParams(INBOUND).toString() }), iface(), Date.now());
  t.false(unsigned.ok);
  if (!unsigned.ok) t.regex(unsigned.reason, /unsigned/);
  const other = iface({ signing_secret: 'SUBACCOUNT_TOKEN_0001' });
  t.true(plivo.verifyWebhook!(signed({ url: PUBLIC, params: INBOUND, token: 'SUBACCOUNT_TOKEN_0001' }), other, Date.now()).ok);
  t.false(plivo.verifyWebhook!(signed({ url: PUBLIC, params: INBOUND }), other, Date.now()).ok);
});

test('answer, defaults and settings', (t) => {
  const i = iface();
  t.deepEqual(plivo.answer!({ kind: 'texts', texts: [] }, i), { status: 200, contentType: 'application/xml', body: '<Response></Response>' });
  t.is(i.send.url, `https://api.plivo.com/v1/Account/${AUTH_ID}/Message/`);
  t.is(i.send.auth, 'basic');
  t.is(i.send.username, AUTH_ID);
  t.is(i.send.numberFormat, 'digits');
  t.deepEqual(i.send.extra, { url: 'https://sms.example.org/sms/status/itsp' });
  const tokened = iface({ token: 'tok_abcdefghijklmnop1234' });
  t.deepEqual(tokened.send.extra, { url: 'https://sms.example.org/sms/status/itsp/tok_abcdefghijklmnop1234' });
  t.deepEqual(plivo.settings!.filter((s) => s.secret).map((s) => s.key), ['secret']);
});

test('a daemon with provider = plivo: a signed text stored and answered with Plivo XML; a wrongly signed one refused 403, nothing stored; a text sent in Plivo\'s format', async (t) => {
  const { startStack, rows, until, sleep } = await import('./helpers/stack.js');
  const { profileSection } = await import('./helpers/profile.js');
  const d = await double(t);
  const pub = 'https://sms.example.org/sms/in/plivo';
  const s = await startStack({ interfaces: profileSection('plivo', 'plivo', { account: AUTH_ID, secret: TOKEN, public_url: pub, api_url: d.url, number: '+12025550160' }) });
  t.teardown(() => s.stop());
  const params = { From: '12025550161', To: '12025550160', Type: 'sms', Text: 'Hello daemon', MessageUUID: 'in-uuid-1' };
  const post = (token: string) => {
    const sig = plivoSignature(plivoSignedString('POST', pub, Object.fromEntries(Object.entries(params).map(([k, v]) => [k, [v]]))), NONCE, token);
    return s.post('/sms/in/plivo', params, { 'X-Plivo-Signature-V3': sig, 'X-Plivo-Signature-V3-Nonce': NONCE });
  };
  t.is((await post('WRONG_TOKEN_0000000000')).status, 403);
  await sleep(50);
  t.is(rows(s.dir).length, 0);
  const ok = await post(TOKEN);
  t.is(ok.status, 200);
  t.is(ok.text, '<Response></Response>');
  const row = await until(() => rows(s.dir)[0]);
  t.is(row.body, 'Hello daemon');
  t.is(row.sender, '+12025550161');
  const sent = await fetch(`${s.api}/api/texts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: '+12025550161', body: 'Reply', interface: 'plivo' }) });
  t.is(sent.status, 201);
  const [req] = await d.waitForRequests(1);
  t.is(req!.path, `/v1/Account/${AUTH_ID}/Message/`);
  t.deepEqual(req!.body, { url: 'https://sms.example.org/sms/status/plivo', src: '12025550160', dst: '12025550161', text: 'Reply' });
});
