// The Vonage profile against Vonage's own code: the official SDK's clients
// (@vonage/sms, @vonage/messages) send the same text to a loopback recorder,
// @vonage/sms verifySignature and @vonage/jwt verifySignature judge the same
// signed webhooks, and jsonwebtoken (what @vonage/jwt signs with) makes the
// Messages API's webhook tokens.

import test, { type ExecutionContext } from 'ava';
import crypto from 'node:crypto';
import { AlgorithmTypes } from '@vonage/auth';
import { verifySignature as jwtVerify } from '@vonage/jwt';
import { Messages, SMS as MessagesSms } from '@vonage/messages';
import { SMS } from '@vonage/sms';
import jsonwebtoken from 'jsonwebtoken';
import { smsSignature, usesMessagesApi, vonage, VONAGE_TOLERANCE_S } from '../providers/vonage.js';
import type { HttpAnswer, OutgoingText, WebhookRequest } from '../providers/types.js';
import type { InterfaceConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { startItspDouble, type ItspDouble } from './doubles/itsp-server.js';
import { profileInterface, sendThrough, webhook } from './helpers/profile.js';

const KEY = 'abcd1234';
const SECRET = 'Api-Secret-123456';
const SIGNING = 'signature_secret_placeholder';
const TEXT: OutgoingText = { id: 42, from: '+12025550160', to: '+12025550161', body: 'Hello from Asterisk', reference: 'ast-msg-42' };
const HOOK = 'https://sms.example.org/sms/in/itsp';
const NOW = 1_704_110_400_000; // 2024-01-01T12:00:00Z

async function double(t: ExecutionContext, body: object = { 'message-count': '1', messages: [{ to: '12025550161', 'message-id': '0A0000000123ABCD1', status: '0' }] }, status = 200): Promise<ItspDouble> {
  const d = await startItspDouble({ default: { status, body } });
  t.teardown(() => d.stop());
  return d;
}

function smsIface(d: { url: string }, extra: Record<string, string> = {}): InterfaceConfig {
  return profileInterface('vonage', { account: KEY, secret: SECRET, signing_secret: SIGNING, send_url: `${d.url}/sms/json`, ...extra });
}

const answer = (status: number, body: unknown, headers: Record<string, string> = {}): HttpAnswer => ({ status, headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

// ---- sending: the SMS API ---------------------------------------------------

test('SMS API: websms sends what @vonage/sms sends for the same text (method, path, Basic auth, JSON fields)', async (t) => {
  const d = await double(t);
  for (const body of ['Hello from Asterisk', 'Grüße — 👋 €']) {
    d.clearRequests();
    const sdk = new SMS({ apiKey: KEY, apiSecret: SECRET }, { restHost: d.url });
    await sdk.send({ to: '12025550161', from: '12025550160', text: body, type: body === TEXT.body ? 'text' : 'unicode', clientRef: TEXT.reference } as never);
    const { outcome } = await sendThrough(vonage, smsIface(d), { ...TEXT, body });
    t.deepEqual(outcome, { kind: 'accepted', providerId: '0A0000000123ABCD1' });
    const [theirs, ours] = await d.waitForRequests(2);
    t.is(ours!.method, theirs!.method);
    t.is(ours!.path, theirs!.path);
    t.is(ours!.path, '/sms/json');
    t.is(ours!.headers.authorization, theirs!.headers.authorization);
    t.is(ours!.contentType, theirs!.contentType);
    t.deepEqual(ours!.body, theirs!.body);
    t.is((ours!.body as Record<string, string>).type, body === TEXT.body ? 'text' : 'unicode');
  }
});

test('SMS API: api_key and api_secret as form fields when send_auth = form and send_format = form', async (t) => {
  const d = await double(t);
  await sendThrough(vonage, smsIface(d, { send_auth: 'form', send_format: 'form' }), TEXT);
  const [r] = await d.waitForRequests(1);
  t.false('authorization' in r!.headers);
  t.deepEqual(r!.body, { from: '12025550160', to: '12025550161', text: TEXT.body, type: 'text', 'client-ref': 'ast-msg-42', api_key: KEY, api_secret: SECRET });
});

test('SMS API: answers: accepted, throttled and internal errors retried, the rest refused with Vonage\'s own words', async (t) => {
  const d = await double(t);
  const iface = smsIface(d);
  const cfg = iface.send;
  d.queue({ status: 200, body: { 'message-count': '1', messages: [{ status: '1', 'error-text': 'Throughput Rate Exceeded - please wait [ 60 ] and retry' }] } });
  const throttled = await sendThrough(vonage, iface, TEXT);
  t.deepEqual(throttled.outcome, { kind: 'retry', reason: 'Vonage status 1: Throughput Rate Exceeded - please wait [ 60 ] and retry' });

  const two = { 'message-count': '2', messages: [{ status: '0', 'message-id': 'P1' }, { status: '0', 'message-id': 'P2' }] };
  t.deepEqual(vonage.parseResponse(answer(200, two), cfg), { kind: 'accepted', providerId: 'P1' });
  t.deepEqual(vonage.parseResponse(answer(200, { messages: [{ status: '2', 'error-text': 'Missing to param' }] }), cfg), {
    kind: 'permanent',
    reason: 'Vonage status 2: Missing to param',
  });
  t.deepEqual(vonage.parseResponse(answer(200, { messages: [{ status: '9' }] }), cfg), { kind: 'permanent', reason: 'Vonage status 9: Partner quota violation' });
  t.deepEqual(vonage.parseResponse(answer(200, { messages: [{ status: '5', 'error-text': 'Internal Error' }] }), cfg), { kind: 'retry', reason: 'Vonage status 5: Internal Error' });
  // A later part refused after the first went out: sending again would repeat the first.
  const mixed = vonage.parseResponse(answer(200, { messages: [{ status: '0', 'message-id': 'P1' }, { status: '1', 'error-text': 'Throttled' }] }), cfg);
  t.deepEqual(mixed, { kind: 'permanent', reason: 'part 2 of 2 refused: Vonage status 1: Throttled' });
  // Rate limited at the edge, with Retry-After.
  t.deepEqual(vonage.parseResponse(answer(429, '', { 'retry-after': '7' }), cfg), { kind: 'retry', reason: '429: Too Many Requests', retryAfterMs: 7000 });
  t.is(vonage.parseResponse(answer(503, 'down'), cfg).kind, 'retry');
  t.deepEqual(vonage.parseResponse(answer(401, { 'error-code': '401', 'error-code-label': 'authentication failed' }), cfg).kind, 'permanent');
  // Not Vonage's answer at all (a proxy's page): nothing says the text went out.
  t.is(vonage.parseResponse(answer(200, '<html>portal</html>'), cfg).kind, 'retry');
});

// ---- sending: the Messages API ------------------------------------------------

test('Messages API: chosen by send_url; websms sends what @vonage/messages sends (Basic)', async (t) => {
  const d = await double(t, { message_uuid: 'aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab' }, 202);
  const iface = profileInterface('vonage', { account: KEY, secret: SECRET, signing_secret: SIGNING, send_url: `${d.url}/v1/messages` });
  t.true(usesMessagesApi(iface.send.url));
  const sdk = new Messages({ apiKey: KEY, apiSecret: SECRET }, { apiHost: d.url });
  await sdk.send(new MessagesSms({ to: '12025550161', from: '12025550160', text: TEXT.body, clientRef: TEXT.reference } as never));
  const { outcome } = await sendThrough(vonage, iface, TEXT);
  t.deepEqual(outcome, { kind: 'accepted', providerId: 'aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab' });
  const [theirs, ours] = await d.waitForRequests(2);
  t.is(ours!.method, theirs!.method);
  t.is(ours!.path, '/v1/messages');
  t.is(ours!.path, theirs!.path);
  t.is(ours!.headers.authorization, theirs!.headers.authorization);
  t.deepEqual(ours!.body, theirs!.body);
});

test('Messages API with an application JWT: the same claims as @vonage/messages, verifiable with the public key', async (t) => {
  const d = await double(t, { message_uuid: 'u-1' }, 202);
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const oneLine = privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64');
  const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const app = 'aaaaaaaa-bbbb-cccc-dddd-0123456789ab';
  const sdk = new Messages({ applicationId: app, privateKey: pem }, { apiHost: d.url });
  await sdk.send(new MessagesSms({ to: '12025550161', from: '12025550160', text: TEXT.body, clientRef: TEXT.reference } as never));
  const iface = profileInterface('vonage', { account: app, secret: oneLine, send_url: `${d.url}/v1/messages`, send_auth: 'bearer', signing_secret: SIGNING });
  const { outcome } = await sendThrough(vonage, iface, TEXT);
  t.deepEqual(outcome, { kind: 'accepted', providerId: 'u-1' });
  const [theirs, ours] = await d.waitForRequests(2);
  const token = (r: typeof ours) => /^Bearer (.+)$/.exec(r!.headers.authorization ?? '')![1]!;
  t.true(jwtVerify(token(ours), pub));
  t.true(jwtVerify(token(theirs), pub));
  const claims = (s: string) => jsonwebtoken.decode(s, { complete: true }) as { header: Record<string, unknown>; payload: Record<string, unknown> };
  t.is(claims(token(ours)).header.alg, 'RS256');
  t.is(claims(token(ours)).payload.application_id, app);
  t.deepEqual(Object.keys(claims(token(ours)).payload).sort(), Object.keys(claims(token(theirs)).payload).sort());
  t.deepEqual(ours!.body, theirs!.body);
  // A key that is no key: a configuration error that names no secret.
  const broken = profileInterface('vonage', { account: app, secret: 'bm90LWEta2V5', send_url: `${d.url}/v1/messages`, send_auth: 'bearer', signing_secret: SIGNING });
  const err = t.throws(() => vonage.buildRequest(TEXT, broken.send));
  t.regex(err!.message, /private key/);
  t.false(err!.message.includes('bm90LWEta2V5'));
});

test('Messages API answers: problem details as the reason, 429 with Retry-After retried', (t) => {
  const cfg = { ...profileInterface('vonage', { account: KEY, secret: SECRET, send_url: 'https://api.nexmo.com/v1/messages' }).send };
  const problem = { type: 'https://developer.vonage.com/api-errors/messages#1150', title: 'Invalid params', detail: 'The value of `to` is not a valid number', instance: 'x' };
  t.deepEqual(vonage.parseResponse(answer(422, problem), cfg), { kind: 'permanent', reason: '422: Invalid params: The value of `to` is not a valid number' });
  t.deepEqual(vonage.parseResponse(answer(429, { title: 'Rate Limit Hit', detail: 'Please wait, then retry your request' }, { 'retry-after': '2' }), cfg), {
    kind: 'retry',
    reason: '429: Rate Limit Hit: Please wait, then retry your request',
    retryAfterMs: 2000,
  });
  t.is(vonage.parseResponse(answer(500, ''), cfg).kind, 'retry');
});

// ---- inbound ----------------------------------------------------------------

const parse = (req: WebhookRequest) => vonage.parseWebhook!(req, profileInterface('vonage', { account: KEY, secret: SECRET }));

test('inbound SMS: GET with a concatenated part (providers.md example) gives numbers with + and the part', (t) => {
  const url = `${HOOK}?msisdn=12025550161&to=12025550160&messageId=1700000012345678&text=First+part+of+a+long+text...&type=text&keyword=FIRST&api-key=abcd1234&message-timestamp=2024-03-01+10%3A16%3A02&concat=true&concat-ref=27&concat-total=2&concat-part=1`;
  t.deepEqual(parse(webhook({ method: 'GET', url })), {
    kind: 'texts',
    texts: [{ from: '+12025550161', to: '+12025550160', body: 'First part of a long text...', providerId: '1700000012345678', part: { ref: '27', seq: 1, total: 2 }, media: [] }],
  });
  const bad = url.replace('concat-part=1', 'concat-part=3');
  t.is(t.throws(() => parse(webhook({ method: 'GET', url: bad })), { instanceOf: RequestError })!.status, 400);
});

test('inbound SMS: POST-JSON without parts; binary ignored; neither text nor report refused', (t) => {
  const body = JSON.stringify({ msisdn: '447700900001', to: '447700900000', messageId: 'M1', text: 'Hej 👋', type: 'unicode', keyword: 'HEJ', 'message-timestamp': '2024-01-01 12:00:00' });
  t.deepEqual(parse(webhook({ url: HOOK, body, contentType: 'application/json' })), {
    kind: 'texts',
    texts: [{ from: '+447700900001', to: '+447700900000', body: 'Hej 👋', providerId: 'M1', media: [] }],
  });
  t.is(parse(webhook({ url: HOOK, body: 'msisdn=1&to=2&messageId=3&type=binary&data=00&udh=050003' })).kind, 'ignored');
  t.is(t.throws(() => parse(webhook({ url: HOOK, body: 'hello=1' })), { instanceOf: RequestError })!.status, 400);
  t.is(t.throws(() => parse(webhook({ url: HOOK, body: 'msisdn=12025550161&text=hi' })), { instanceOf: RequestError })!.reason, 'missing field to');
});

test('inbound on the Messages API: text and picture (MMS)', (t) => {
  const text = { channel: 'sms', message_uuid: 'u-in-1', to: '12025550160', from: '12025550161', timestamp: '2024-01-01T12:00:00Z', message_type: 'text', text: 'Hi', sms: { num_messages: '1' } };
  t.deepEqual(parse(webhook({ url: HOOK, body: JSON.stringify(text), contentType: 'application/json' })), {
    kind: 'texts',
    texts: [{ from: '+12025550161', to: '+12025550160', body: 'Hi', providerId: 'u-in-1', media: [] }],
  });
  const mms = { channel: 'mms', message_uuid: 'u-in-2', to: '12025550160', from: '12025550161', message_type: 'image', image: { url: 'https://api.nexmo.com/v3/media/abc', caption: 'Look' } };
  t.deepEqual(parse(webhook({ url: HOOK, body: JSON.stringify(mms), contentType: 'application/json' })), {
    kind: 'texts',
    texts: [{ from: '+12025550161', to: '+12025550160', body: 'Look', providerId: 'u-in-2', media: [{ url: 'https://api.nexmo.com/v3/media/abc' }] }],
  });
});

// ---- delivery reports --------------------------------------------------------

test('delivery receipts (SMS API) and message status (Messages API)', (t) => {
  const dlr = { msisdn: '12025550161', to: '12025550160', 'network-code': '310260', messageId: '0A0000000123ABCD1', price: '0.0075', status: 'delivered', scts: '2403011015', 'err-code': '0', 'api-key': KEY, 'client-ref': 'ast-msg-42', 'message-timestamp': '2024-03-01 10:15:35' };
  t.deepEqual(parse(webhook({ url: HOOK, body: JSON.stringify(dlr), contentType: 'application/json' })), {
    kind: 'status',
    reports: [{ providerId: '0A0000000123ABCD1', state: 'delivered', reason: null }],
  });
  const cfg = profileInterface('vonage', { account: KEY, secret: SECRET }).send;
  t.deepEqual(vonage.parseStatus({ ...dlr, status: 'failed', 'err-code': '6' }, cfg), { providerId: '0A0000000123ABCD1', state: 'failed', reason: 'failed (err-code 6: anti-spam rejection)' });
  t.deepEqual(vonage.parseStatus({ ...dlr, status: 'buffered' }, cfg), { providerId: '0A0000000123ABCD1', state: 'sent', reason: null });
  t.deepEqual(vonage.parseStatus({ ...dlr, status: 'expired' }, cfg)?.state, 'failed');
  const st = { message_uuid: 'u-1', to: '12025550161', from: '12025550160', timestamp: '2024-01-01T12:00:00Z', status: 'rejected', error: { type: 'https://developer.vonage.com/api-errors/messages#1330', title: '1330', detail: 'Unknown destination' }, channel: 'sms' };
  t.deepEqual(parse(webhook({ url: HOOK, body: JSON.stringify(st), contentType: 'application/json' })), {
    kind: 'status',
    reports: [{ providerId: 'u-1', state: 'failed', reason: 'rejected: 1330: Unknown destination' }],
  });
  t.deepEqual(vonage.parseStatus({ ...st, status: 'submitted' }, cfg), { providerId: 'u-1', state: 'sent', reason: null });
  t.deepEqual(vonage.parseStatus({ ...st, status: 'delivered' }, cfg), { providerId: 'u-1', state: 'delivered', reason: null });
  t.is(vonage.parseStatus({ text: 'not a report' }, cfg), undefined);
});

// ---- signatures (SMS API: sig) ------------------------------------------------

const VECTOR = {
  'api-key': 'abcd1234',
  msisdn: '12025550160',
  to: '12025550161',
  messageId: '0A0000000123ABCD1',
  text: 'Hello',
  type: 'text',
  keyword: 'HELLO',
  'message-timestamp': '2024-01-01 12:00:00',
  timestamp: '1704110400',
  nonce: 'aaaaaaaa-bbbb-cccc-dddd-0123456789ab',
};

test('sig: the test vectors of providers.md, and @vonage/sms verifySignature agrees', (t) => {
  t.is(smsSignature(VECTOR, SIGNING, 'md5hash'), 'f83d21d0077c05c08a22cb2adfc5cc30');
  t.is(smsSignature(VECTOR, SIGNING, 'sha256'), 'e111ac6a752b6349df46bca195c3e4a8605965fdf686b8b21c2985fb4451e1c3');
  const sdk = new SMS({ apiKey: KEY, apiSecret: SECRET });
  t.true(sdk.verifySignature('f83d21d0077c05c08a22cb2adfc5cc30', VECTOR, SIGNING, AlgorithmTypes.md5hash));
  t.true(sdk.verifySignature('E111AC6A752B6349DF46BCA195C3E4A8605965FDF686B8B21C2985FB4451E1C3', VECTOR, SIGNING, AlgorithmTypes.sha256hmac));
});

const METHODS = [
  ['md5hash', AlgorithmTypes.md5hash],
  ['md5', AlgorithmTypes.md5hmac],
  ['sha1', AlgorithmTypes.sha1hmac],
  ['sha256', AlgorithmTypes.sha256hmac],
  ['sha512', AlgorithmTypes.sha512hmac],
] as const;

/** A signed inbound webhook as Vonage sends it: the params with sig, as GET query or POST form. */
function signedSms(params: Record<string, string>, secret: string, method: (typeof METHODS)[number][0], how: 'GET' | 'POST', upper = false): WebhookRequest {
  let sig = smsSignature(params, secret, method);
  if (upper) sig = sig.toUpperCase();
  const qs = new URLSearchParams({ ...params, sig }).toString();
  return how === 'GET' ? webhook({ method: 'GET', url: `${HOOK}?${qs}` }) : webhook({ url: HOOK, body: qs });
}

test('sig: every signature method accepted where @vonage/sms accepts it, refused where it refuses (wrong secret, changed text, changed query)', (t) => {
  const iface = profileInterface('vonage', { account: KEY, secret: SECRET, signing_secret: SIGNING });
  const sdk = new SMS({ apiKey: KEY, apiSecret: SECRET });
  const params = { ...VECTOR, text: 'A&B=C ünïcode', timestamp: String(NOW / 1000) };
  for (const [method, algo] of METHODS) {
    for (const how of ['GET', 'POST'] as const) {
      const good = signedSms(params, SIGNING, method, how, method !== 'md5hash');
      const f = good.fields as Record<string, string>;
      t.true(sdk.verifySignature(f.sig!, f, SIGNING, algo), `${method} ${how}: SDK accepts`);
      t.deepEqual(vonage.verifyWebhook!(good, iface, NOW), { ok: true }, `${method} ${how}`);

      const wrong = signedSms(params, 'another-secret', method, how);
      const wf = wrong.fields as Record<string, string>;
      t.false(sdk.verifySignature(wf.sig!, wf, SIGNING, algo));
      t.false(vonage.verifyWebhook!(wrong, iface, NOW).ok, `${method} ${how}: wrong secret`);

      const changed = how === 'GET' ? webhook({ method: 'GET', url: good.url.replace('msisdn=12025550160', 'msisdn=12025550199') }) : webhook({ url: HOOK, body: good.rawBody.toString().replace('text=', 'text=X') });
      const cf = changed.fields as Record<string, string>;
      t.false(sdk.verifySignature(cf.sig!, cf, SIGNING, algo));
      const res = vonage.verifyWebhook!(changed, iface, NOW);
      t.false(res.ok, `${method} ${how}: changed`);
      if (!res.ok) t.false(res.reason.includes(SIGNING));
    }
  }
});

test('sig: a stale or missing timestamp, an unsigned request and a missing signing_secret are refused', (t) => {
  const iface = profileInterface('vonage', { account: KEY, secret: SECRET, signing_secret: SIGNING });
  const fresh = { ...VECTOR, timestamp: String(NOW / 1000) };
  t.true(vonage.verifyWebhook!(signedSms(fresh, SIGNING, 'sha256', 'POST'), iface, NOW + VONAGE_TOLERANCE_S * 1000).ok);
  const stale = vonage.verifyWebhook!(signedSms(fresh, SIGNING, 'sha256', 'POST'), iface, NOW + (VONAGE_TOLERANCE_S + 1) * 1000);
  t.false(stale.ok);
  if (!stale.ok) t.regex(stale.reason, /timestamp/);
  const { timestamp: _, ...noTs } = fresh;
  t.false(vonage.verifyWebhook!(signedSms(noTs, SIGNING, 'sha256', 'POST'), iface, NOW).ok);
  const unsigned = vonage.verifyWebhook!(webhook({ url: HOOK, body: new URLSearchParams(fresh).toString() }), iface, NOW);
  t.false(unsigned.ok);
  if (!unsigned.ok) t.regex(unsigned.reason, /unsigned/);
  const noSecret = profileInterface('vonage', { account: KEY, secret: SECRET });
  const r = vonage.verifyWebhook!(signedSms(fresh, SIGNING, 'sha256', 'POST'), noSecret, NOW);
  t.false(r.ok);
  if (!r.ok) t.regex(r.reason, /signing_secret/);
});

// ---- signatures (Messages API: JWT) ---------------------------------------------

function signedJwt(body: string, secret: string, claims: Record<string, unknown> = {}, alg: 'HS256' | 'HS512' = 'HS256'): WebhookRequest {
  const token = jsonwebtoken.sign(
    { iat: NOW / 1000, jti: crypto.randomUUID(), application_id: 'app-1', api_key: KEY, payload_hash: crypto.createHash('sha256').update(body).digest('hex'), ...claims },
    secret,
    { algorithm: alg },
  );
  return webhook({ url: HOOK, body, contentType: 'application/json', headers: { Authorization: `Bearer ${token}` } });
}

const INBOUND_JSON = JSON.stringify({ channel: 'sms', message_uuid: 'u-9', to: '12025550160', from: '12025550161', message_type: 'text', text: 'Signed' });

test('JWT webhooks: accepted where @vonage/jwt accepts the token and payload_hash matches; refused on a wrong secret, a changed body or a stale iat', (t) => {
  const iface = profileInterface('vonage', { account: KEY, secret: SECRET, signing_secret: SIGNING, send_url: 'https://api.nexmo.com/v1/messages' });
  const token = (r: WebhookRequest) => r.headers.authorization!.slice(7);

  const good = signedJwt(INBOUND_JSON, SIGNING);
  t.true(jwtVerify(token(good), SIGNING));
  t.deepEqual(vonage.verifyWebhook!(good, iface, NOW), { ok: true });

  const wrong = signedJwt(INBOUND_JSON, 'another-secret-entirely');
  t.false(jwtVerify(token(wrong), SIGNING));
  t.false(vonage.verifyWebhook!(wrong, iface, NOW).ok);

  // The token is genuine but for another body: only payload_hash tells.
  const changed = webhook({ url: HOOK, body: INBOUND_JSON.replace('Signed', 'Forged'), contentType: 'application/json', headers: good.headers });
  t.true(jwtVerify(token(changed), SIGNING));
  const c = vonage.verifyWebhook!(changed, iface, NOW);
  t.false(c.ok);
  if (!c.ok) t.regex(c.reason, /payload_hash/);

  const stale = vonage.verifyWebhook!(good, iface, NOW + (VONAGE_TOLERANCE_S + 1) * 1000);
  t.false(stale.ok);
  t.false(vonage.verifyWebhook!(signedJwt(INBOUND_JSON, SIGNING, { payload_hash: undefined }), iface, NOW).ok);
  t.false(vonage.verifyWebhook!(signedJwt(INBOUND_JSON, SIGNING, {}, 'HS512'), iface, NOW).ok);
  // alg none: no signature at all.
  const none = jsonwebtoken.sign({ iat: NOW / 1000, payload_hash: crypto.createHash('sha256').update(INBOUND_JSON).digest('hex') }, '', { algorithm: 'none' });
  t.false(vonage.verifyWebhook!(webhook({ url: HOOK, body: INBOUND_JSON, contentType: 'application/json', headers: { Authorization: `Bearer ${none}` } }), iface, NOW).ok);
});

test('answer and settings: an empty 200; the settings name the secrets', (t) => {
  t.deepEqual(vonage.answer!({ kind: 'texts', texts: [] }, profileInterface('vonage', { account: KEY, secret: SECRET })), { status: 200, contentType: 'text/plain; charset=utf-8', body: '' });
  const secrets = vonage.settings!.filter((s) => s.secret).map((s) => s.key);
  t.deepEqual(secrets.sort(), ['secret', 'signing_secret']);
});

test('defaults: the SMS API on rest.nexmo.com with the account\'s key; api_url moves the host; webhooks from anywhere, GET or POST', (t) => {
  const iface = profileInterface('vonage', { account: KEY, secret: SECRET, signing_secret: SIGNING });
  t.is(iface.send.url, 'https://rest.nexmo.com/sms/json');
  t.is(iface.send.auth, 'basic');
  t.is(iface.send.username, KEY);
  t.is(iface.send.password, SECRET);
  t.is(iface.send.numberFormat, 'digits');
  t.deepEqual(iface.methods, ['GET', 'POST']);
  t.deepEqual(iface.allow, ['0.0.0.0/0', '::/0']);
  t.is(profileInterface('vonage', { account: KEY, secret: SECRET, api_url: 'https://rest.example.test/' }).send.url, 'https://rest.example.test/sms/json');
  t.is(profileInterface('vonage', { account: KEY, secret: SECRET, send_url: 'https://api.nexmo.com/v1/messages' }).send.idField, 'message_uuid');
});

// ---- a whole daemon ---------------------------------------------------------

test('a daemon with provider = vonage: signed parts stored, joined and delivered; a wrongly signed webhook refused 403 with nothing stored; a text sent in Vonage\'s format and its signed receipt applied', async (t) => {
  const { startStack, rows, until, sleep } = await import('./helpers/stack.js');
  const { profileSection } = await import('./helpers/profile.js');
  const d = await double(t);
  const s = await startStack({ interfaces: profileSection('vonage', 'vonage', { account: KEY, secret: SECRET, signing_secret: SIGNING, api_url: d.url, number: '+12025550160' }) });
  t.teardown(() => s.stop());
  s.ami.addEndpoint('+12025550160', 'alice', ['sip:alice@127.0.0.1:5062']);
  const ts = () => String(Math.floor(Date.now() / 1000));
  const sign = (p: Record<string, string>, secret = SIGNING) => new URLSearchParams({ ...p, sig: smsSignature(p, secret, 'sha256') }).toString();
  const part = (n: number, text: string) => ({ msisdn: '12025550161', to: '12025550160', messageId: `M${n}`, text, type: 'text', 'api-key': KEY, 'message-timestamp': '2024-01-01 12:00:00', concat: 'true', 'concat-ref': '27', 'concat-total': '2', 'concat-part': String(n), timestamp: ts(), nonce: `n-${n}` });

  const forged = await s.post('/sms/in/vonage', sign(part(1, 'Forged '), 'not-the-secret'), { 'content-type': 'application/x-www-form-urlencoded' });
  t.is(forged.status, 403);
  await sleep(50);
  t.is(rows(s.dir).length, 0);

  t.is((await s.post('/sms/in/vonage', sign(part(2, 'second half.')), { 'content-type': 'application/x-www-form-urlencoded' })).status, 200);
  t.is((await s.post('/sms/in/vonage', sign(part(1, 'First half, ')), { 'content-type': 'application/x-www-form-urlencoded' })).status, 200);
  const row = await until(() => rows(s.dir).find((r) => r.state === 'delivered'));
  t.is(row.body, 'First half, second half.');
  t.is(row.sender, '+12025550161');

  const sent = await fetch(`${s.api}/api/texts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: '+12025550161', body: 'Reply €', interface: 'vonage' }) });
  t.is(sent.status, 201);
  const [req] = await d.waitForRequests(1);
  t.is(req!.path, '/sms/json');
  t.is(req!.headers.authorization, `Basic ${Buffer.from(`${KEY}:${SECRET}`).toString('base64')}`);
  t.like(req!.body as object, { from: '12025550160', to: '12025550161', text: 'Reply €', type: 'text' });
  const outId = ((await sent.json()) as { text: { id: string } }).text.id;
  const text = async () => ((await (await fetch(`${s.api}/api/texts/${outId}`)).json()) as { text: { state: string; providerId: string | null } }).text;
  for (let i = 0; i < 200 && (await text()).providerId === null; i++) await sleep(25);
  t.is((await text()).providerId, '0A0000000123ABCD1');
  const dlr = { msisdn: '12025550161', to: '12025550160', messageId: '0A0000000123ABCD1', status: 'delivered', 'err-code': '0', 'api-key': KEY, timestamp: ts(), nonce: 'n-dlr' };
  t.is((await s.post('/sms/status/vonage', sign(dlr), { 'content-type': 'application/x-www-form-urlencoded' })).status, 200);
  for (let i = 0; i < 200 && (await text()).state !== 'delivered'; i++) await sleep(25);
  t.is((await text()).state, 'delivered');
});
