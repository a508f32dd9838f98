// The Twilio and SignalWire profiles against code no one here wrote: the
// twilio SDK signs the webhooks (getExpectedTwilioSignature) and judges
// ours (validateRequest), and its own client, pointed at a loopback recorder,
// shows the send request websms must make. End to end through a real daemon.
import test, { type ExecutionContext } from 'ava';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import twilioSdk from 'twilio';
import { signalwire, twilio } from '../providers/twilio.js';
import type { OutgoingText, WebhookRequest } from '../providers/types.js';
import { loadConfig } from '../src/config/load.js';
import type { InterfaceConfig } from '../src/config/types.js';
import { ConfigError } from '../src/errors.js';
import { createHttpClient } from '../src/outbound/http.js';
import { errors, startItspDouble, twilioLike, type FormBody, type ItspDouble } from './doubles/itsp-server.js';
import { rows, startStack, type Stack } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const SID = 'AC0123456789abcdef0123456789abcdef';
const TOKEN = 'tw-auth-token-0123456789abcdef';
const ALICE = '+46812345678';
const SENDER = '+46701234567';
const PUBLIC = 'https://sms.example.org/sms/in/tw';
const TEXT: OutgoingText = { id: 7, from: '+15005550006', to: '+46701234567', body: 'Hej från Asterisk & co', reference: 'out-7' };

function ifaceFrom(ini: string, env: NodeJS.ProcessEnv = {}): InterfaceConfig {
  const dir = tempDir();
  const file = path.join(dir, 'websms.conf');
  fs.writeFileSync(file, ini);
  return loadConfig({ file, env, explicit: true }).interfaces[0]!;
}

async function double(t: ExecutionContext): Promise<ItspDouble> {
  const d = await startItspDouble({ default: twilioLike() });
  t.teardown(() => d.stop());
  return d;
}

/** A webhook as the listener hands it to the profile. */
function webhook(url: string, params: Record<string, string>, headers: Record<string, string> = {}): WebhookRequest {
  const raw = Buffer.from(new URLSearchParams(params).toString());
  return { method: 'POST', url, headers, rawBody: raw, contentType: 'application/x-www-form-urlencoded', fields: { ...params }, route: 'text' };
}

const INBOUND = {
  AccountSid: SID,
  ApiVersion: '2010-04-01',
  Body: 'Hi there',
  From: SENDER,
  FromCountry: 'SE',
  MessageSid: 'SM22222222222222222222222222222222',
  NumMedia: '0',
  NumSegments: '1',
  SmsMessageSid: 'SM22222222222222222222222222222222',
  SmsSid: 'SM22222222222222222222222222222222',
  SmsStatus: 'received',
  To: ALICE,
};

// ---- configuration --------------------------------------------------------

test('provider = twilio with account and secret: the profile fills in the rest, the user\'s keys win, check-config says whose default', (t) => {
  const i = ifaceFrom(`[tw]\nprovider = twilio\naccount = ${SID}\nsend_timeout = 10s\npublic_url = ${PUBLIC}\ntoken = tok_abcdefghijklmnop1234\n`, { WEBSMS_TW_SECRET: TOKEN });
  t.is(i.send.url, `https://api.twilio.com/2010-04-01/Accounts/${SID}/Messages.json`);
  t.like(i.send, { format: 'form', auth: 'basic', username: SID, password: TOKEN, fieldTo: 'To', fieldFrom: 'From', fieldBody: 'Body', idField: 'sid', timeoutMs: 10_000 });
  t.deepEqual(i.send.statusDelivered, ['delivered', 'read']);
  t.deepEqual(i.send.statusFailed, ['failed', 'undelivered']);
  t.is(i.send.statusUrl, 'https://sms.example.org/sms/status/tw/tok_abcdefghijklmnop1234');
  t.deepEqual(i.allow, ['0.0.0.0/0', '::/0']);
  t.true(i.verify);

  const dir = tempDir();
  const file = path.join(dir, 'websms.conf');
  fs.writeFileSync(file, `[tw]\nprovider = twilio\naccount = ${SID}\nsecret = ${TOKEN}\nsend_url = https://proxy.example.org/send\nallow = 10.0.0.0/8\n`);
  const c = loadConfig({ file, env: {}, explicit: true });
  const tw = c.interfaces[0]!;
  t.is(tw.send.url, 'https://proxy.example.org/send', 'the user\'s send_url wins');
  t.deepEqual(tw.allow, ['10.0.0.0/8']);
  const keys = c.settings!.find((s) => s.name === 'tw')!.keys;
  t.like(keys.send_url, { source: 'file', line: 5 });
  t.like(keys.send_auth, { source: 'profile', value: 'basic' });
  t.like(keys.status_delivered, { source: 'profile', value: 'delivered, read' });
  t.like(keys.send_password, { source: 'profile', value: '(set)' }, 'a secret is never shown');
  t.like(keys.rate, { source: 'default' });
  t.is(tw.send.statusUrl, undefined, 'no public_url: no StatusCallback');
});

test('a profile without its required settings is a clear problem per setting, with the line', (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'websms.conf');
  fs.writeFileSync(file, '[general]\ncountry_code = 46\n\n[myitsp]\nprovider = twilio\n\n[sw]\nprovider = signalwire\naccount = p-1\n');
  const err = t.throws(() => loadConfig({ file, env: {}, explicit: true }), { instanceOf: ConfigError }) as ConfigError;
  const problems = err.problems.join('\n');
  t.regex(problems, /websms\.conf:5: \[myitsp\] provider twilio needs account \(the Account SID \(AC\.\.\.\) from the Twilio console\)/);
  t.regex(problems, /:5: \[myitsp\] provider twilio needs secret \(the Auth Token .*\), or the environment variable WEBSMS_MYITSP_SECRET/);
  t.regex(problems, /:8: \[sw\] provider signalwire needs api_url \(your Space URL/);
  t.regex(problems, /\[sw\] provider signalwire needs signing_secret \(the Signing Key/);
  t.notRegex(problems, /send_username|send_password/, 'no follow-on problems from defaults that could not apply');
});

test('provider = signalwire: the Space URL\'s LaML path, Basic with the project and token', (t) => {
  const i = ifaceFrom('[sw]\nprovider = signalwire\napi_url = https://example.signalwire.com/\naccount = 5a8e-proj\n', { WEBSMS_SW_SECRET: 'PTsecret', WEBSMS_SW_SIGNING_SECRET: 'PSK_key' });
  t.is(i.send.url, 'https://example.signalwire.com/api/laml/2010-04-01/Accounts/5a8e-proj/Messages.json');
  t.like(i.send, { auth: 'basic', username: '5a8e-proj', password: 'PTsecret' });
  t.is(i.signingSecret, 'PSK_key');
});

// ---- sending ----------------------------------------------------------------

test('send: the same method, path, Basic auth and fields as the twilio SDK\'s own client', async (t) => {
  const d = await double(t);
  const client = twilioSdk(SID, TOKEN);
  client.api.baseUrl = d.url;
  const statusUrl = 'https://sms.example.org/sms/status/tw/tok_abcdefghijklmnop1234';
  const sdkMsg = await client.messages.create({ to: TEXT.to, from: TEXT.from, body: TEXT.body, statusCallback: statusUrl });
  t.regex(sdkMsg.sid, /^SM/);

  const i = ifaceFrom(`[tw]\nprovider = twilio\naccount = ${SID}\napi_url = ${d.url}\npublic_url = ${PUBLIC}\n`, { WEBSMS_TW_SECRET: TOKEN, WEBSMS_TW_TOKEN: 'tok_abcdefghijklmnop1234' });
  const http = createHttpClient(i.send);
  t.teardown(() => http.close());
  const res = await http.send(twilio.buildRequest(TEXT, i.send));
  if (!res.ok) return t.fail(res.reason);
  // The recorder numbers its sids: the SDK's request got the first, ours the second.
  t.deepEqual(twilio.parseResponse(res.answer, i.send), { kind: 'accepted', providerId: 'SM' + (2).toString(16).padStart(32, '0') });

  const [sdk, ours] = await d.waitForRequests(2);
  t.is(ours!.method, sdk!.method);
  t.is(ours!.path, sdk!.path);
  t.is(ours!.path, `/2010-04-01/Accounts/${SID}/Messages.json`);
  t.is(ours!.headers.authorization, sdk!.headers.authorization);
  t.is(ours!.contentType, 'application/x-www-form-urlencoded');
  t.deepEqual(ours!.body as FormBody, sdk!.body as FormBody);
  t.deepEqual(ours!.body as FormBody, { To: TEXT.to, From: TEXT.from, Body: TEXT.body, StatusCallback: statusUrl });
});

test('answers: accepted with the sid, 429 and 5xx retried (Retry-After kept), 4xx permanent with Twilio\'s code and words, no credential in a reason', (t) => {
  const i = ifaceFrom(`[tw]\nprovider = twilio\naccount = ${SID}\n`, { WEBSMS_TW_SECRET: TOKEN });
  const answer = (status: number, body: object | string, headers: Record<string, string> = {}) =>
    twilio.parseResponse({ status, headers, body: typeof body === 'string' ? body : JSON.stringify(body) }, i.send);
  t.deepEqual(answer(201, { sid: 'SM123', status: 'queued' }), { kind: 'accepted', providerId: 'SM123' });
  const limited = answer(429, errors.rateLimited(7).body as object, { 'retry-after': '7' });
  t.deepEqual(limited, { kind: 'retry', reason: 'Twilio error 20429: Too Many Requests', retryAfterMs: 7000 });
  t.like(answer(503, '<html>busy</html>'), { kind: 'retry', reason: 'Twilio answered 503' });
  t.like(answer(500, { code: 20500, message: 'Internal Server Error' }), { kind: 'retry', reason: 'Twilio error 20500: Internal Server Error' });
  t.deepEqual(answer(400, { code: 21211, message: "The 'To' number +4670123 is not a valid phone number.", more_info: 'https://www.twilio.com/docs/errors/21211', status: 400 }), {
    kind: 'permanent',
    reason: "Twilio error 21211: The 'To' number +4670123 is not a valid phone number.",
  });
  const auth = answer(401, { code: 20003, message: `Authenticate: ${SID} with ${TOKEN} refused` });
  t.is(auth.kind, 'permanent');
  if (auth.kind !== 'permanent') return;
  t.false(auth.reason.includes(TOKEN) || auth.reason.includes(SID), auth.reason);
  t.regex(auth.reason, /20003.*check account and secret/);
});

// ---- inbound, reports and signatures ----------------------------------------

test('inbound: a text, a picture message and a status callback read from Twilio\'s fields', (t) => {
  const i = ifaceFrom(`[tw]\nprovider = twilio\naccount = ${SID}\n`, { WEBSMS_TW_SECRET: TOKEN });
  t.deepEqual(twilio.parseWebhook!(webhook(PUBLIC, INBOUND), i), {
    kind: 'texts',
    texts: [{ from: SENDER, to: ALICE, body: 'Hi there', providerId: INBOUND.MessageSid, media: [] }],
  });
  const mms = twilio.parseWebhook!(
    webhook(PUBLIC, { ...INBOUND, Body: '', NumMedia: '2', MediaUrl0: 'https://api.twilio.com/m/ME1', MediaContentType0: 'image/jpeg', MediaUrl1: 'https://api.twilio.com/m/ME2' }),
    i,
  );
  t.deepEqual(mms.kind === 'texts' ? mms.texts[0]!.media : [], [
    { url: 'https://api.twilio.com/m/ME1', contentType: 'image/jpeg', auth: 'basic' },
    { url: 'https://api.twilio.com/m/ME2', auth: 'basic' },
  ]);
  t.throws(() => twilio.parseWebhook!(webhook(PUBLIC, { ...INBOUND, NumMedia: '1' }), i), { message: /missing field MediaUrl0/ });
  t.throws(() => twilio.parseWebhook!(webhook(PUBLIC, { ...INBOUND, NumMedia: '99' }), i), { message: /NumMedia/ });
  const failed = { MessageSid: 'SM1', SmsSid: 'SM1', MessageStatus: 'undelivered', SmsStatus: 'undelivered', ErrorCode: '30003', AccountSid: SID, From: '+15005550006', To: SENDER };
  t.deepEqual(twilio.parseWebhook!(webhook(PUBLIC, failed), i), {
    kind: 'status',
    reports: [{ providerId: 'SM1', state: 'failed', reason: 'Twilio error 30003: unreachable destination handset' }],
  });
  t.deepEqual(twilio.parseWebhook!(webhook(PUBLIC, { ...failed, MessageStatus: 'delivered', ErrorCode: '' }), i), {
    kind: 'status',
    reports: [{ providerId: 'SM1', state: 'delivered', reason: null }],
  });
  t.like(twilio.parseWebhook!({ ...webhook(PUBLIC, { ...failed, MessageStatus: 'sent' }) }, i), { kind: 'status', reports: [{ state: 'sent', reason: null }] });
  t.deepEqual(twilio.answer!({ kind: 'texts', texts: [] }, i), { status: 200, contentType: 'text/xml', body: '<?xml version="1.0" encoding="UTF-8"?><Response/>' });
});

test('X-Twilio-Signature: what the SDK signs is accepted; wrong token, changed body, changed URL refused; the SDK agrees', (t) => {
  const i = ifaceFrom(`[tw]\nprovider = twilio\naccount = ${SID}\n`, { WEBSMS_TW_SECRET: TOKEN });
  const url = 'https://sms.example.org/sms/in/tw?x=1';
  const sig = twilioSdk.getExpectedTwilioSignature(TOKEN, url, INBOUND);
  const check = (u: string, params: Record<string, string>, s: string) => twilio.verifyWebhook!(webhook(u, params, { 'x-twilio-signature': s }), i, Date.now());
  t.deepEqual(check(url, INBOUND, sig), { ok: true });
  t.true(twilioSdk.validateRequest(TOKEN, sig, url, INBOUND));
  // Twilio may have signed with the default port written out.
  t.deepEqual(check(url, INBOUND, twilioSdk.getExpectedTwilioSignature(TOKEN, 'https://sms.example.org:443/sms/in/tw?x=1', INBOUND)), { ok: true });

  const wrong = twilioSdk.getExpectedTwilioSignature('another-token-000000000000', url, INBOUND);
  const changed = { ...INBOUND, Body: 'Hi there!' };
  const cases: Array<[string, string, Record<string, string>, string]> = [
    ['wrong token', url, INBOUND, wrong],
    ['changed body', url, changed, sig],
    ['changed URL', 'https://sms.example.org/sms/in/other?x=1', INBOUND, sig],
    ['no signature', url, INBOUND, ''],
  ];
  for (const [name, u, params, s] of cases) {
    const r = check(u, params, s);
    t.false(r.ok, name);
    if (!r.ok) t.false(r.reason.includes(TOKEN), name);
    t.false(twilioSdk.validateRequest(TOKEN, s, u, params), `the SDK refuses it too: ${name}`);
  }
});

test('X-Twilio-Signature on a JSON body: bodySHA256 in the URL, checked as validateRequestWithBody does', (t) => {
  const i = ifaceFrom(`[tw]\nprovider = twilio\naccount = ${SID}\n`, { WEBSMS_TW_SECRET: TOKEN });
  const body = JSON.stringify({ From: SENDER, To: ALICE, Body: 'json' });
  const url = `https://sms.example.org/sms/in/tw?bodySHA256=${twilioSdk.getExpectedBodyHash(body)}`;
  const sig = twilioSdk.getExpectedTwilioSignature(TOKEN, url, {});
  const req = (raw: string, s = sig): WebhookRequest => ({
    method: 'POST', url, headers: { 'x-twilio-signature': s }, rawBody: Buffer.from(raw), contentType: 'application/json', fields: JSON.parse(raw) as Record<string, unknown>,
  });
  t.true(twilioSdk.validateRequestWithBody(TOKEN, sig, url, body));
  t.deepEqual(twilio.verifyWebhook!(req(body), i, 0), { ok: true });
  const tampered = body.replace('json', 'JSON');
  t.false(twilioSdk.validateRequestWithBody(TOKEN, sig, url, tampered));
  t.like(twilio.verifyWebhook!(req(tampered), i, 0), { ok: false, reason: 'the body does not match the bodySHA256 the signature covers' });
});

test('SharedKey webhooks: X-Twilio-Webhooks-Signature-Settings names HMAC_SHA256, signed with signing_secret', (t) => {
  const i = ifaceFrom(`[tw]\nprovider = twilio\naccount = ${SID}\n`, { WEBSMS_TW_SECRET: TOKEN, WEBSMS_TW_SIGNING_SECRET: 'shared-key-secret-0001' });
  const url = 'https://sms.example.org/sms/in/tw';
  const sig = twilioSdk.getExpectedTwilioSignature('shared-key-secret-0001', url, INBOUND, 'HMAC_SHA256');
  const headers = { 'x-twilio-signature': sig, 'x-twilio-webhooks-signature-settings': 'key=webhooks_sharedkey_1,algorithm=HMAC_SHA256' };
  t.deepEqual(twilio.verifyWebhook!(webhook(url, INBOUND, headers), i, 0), { ok: true });
  const md5 = twilio.verifyWebhook!(webhook(url, INBOUND, { ...headers, 'x-twilio-webhooks-signature-settings': 'algorithm=HMAC_MD5' }), i, 0);
  t.deepEqual(md5, { ok: false, reason: 'unsupported signature algorithm HMAC_MD5' });
});

test('SignalWire: X-SignalWire-Signature with the Signing Key, the Twilio algorithm for forms and URL + body (hex) for JSON', (t) => {
  const i = ifaceFrom('[sw]\nprovider = signalwire\napi_url = https://example.signalwire.com\naccount = proj\n', { WEBSMS_SW_SECRET: 'PTtoken', WEBSMS_SW_SIGNING_SECRET: 'PSK_signing_key' });
  const url = 'https://sms.example.org/sms/in/sw';
  // The compatibility SDK's validateRequest is Twilio's algorithm (signalwire/compatibility-api-js lib/webhooks/webhooks.js).
  const sig = twilioSdk.getExpectedTwilioSignature('PSK_signing_key', url, INBOUND);
  t.deepEqual(signalwire.verifyWebhook!(webhook(url, INBOUND, { 'x-signalwire-signature': sig }), i, 0), { ok: true });
  t.deepEqual(signalwire.verifyWebhook!(webhook(url, INBOUND, { 'x-twilio-signature': sig }), i, 0), { ok: true }, 'the compatibility header too');
  const bad = signalwire.verifyWebhook!(webhook(url, INBOUND, { 'x-signalwire-signature': twilioSdk.getExpectedTwilioSignature('PSK_other', url, INBOUND) }), i, 0);
  t.regex(bad.ok ? '' : bad.reason, /^X-SignalWire-Signature does not match this request: signing_secret must be the project's Signing Key/);
  const body = '{"event_type":"messaging.receive","params":{"body":"hi"}}';
  const hex = (k: string) => createHmac('sha1', k).update(url + body).digest('hex');
  const json = (s: string): WebhookRequest => ({ method: 'POST', url, headers: { 'x-signalwire-signature': s }, rawBody: Buffer.from(body), contentType: 'application/json', fields: {} });
  t.deepEqual(signalwire.verifyWebhook!(json(hex('PSK_signing_key')), i, 0), { ok: true });
  t.false(signalwire.verifyWebhook!(json(hex('PSK_other')), i, 0).ok);
});

/** Polls an async check until it gives a truthy value. */
async function eventually<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// ---- end to end ----------------------------------------------------------------

const E2E_TOKEN = 'tok_abcdefghijklmnop1234';

async function twilioStack(t: ExecutionContext, itsp: ItspDouble): Promise<Stack> {
  const s = await startStack({
    interfaces: `[tw]\nprovider = twilio\naccount = ${SID}\nsecret = ${TOKEN}\napi_url = ${itsp.url}\npublic_url = ${PUBLIC}\ntoken = ${E2E_TOKEN}\nnumber = +15005550006\nrate_per_number = 0\n`,
    general: 'trusted_proxies = 127.0.0.1/32',
  });
  t.teardown(() => s.stop());
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  return s;
}

test('end to end: a signed webhook is stored and delivered with a TwiML answer; a wrongly signed one is 403 and stores nothing', async (t) => {
  const itsp = await double(t);
  const s = await twilioStack(t, itsp);
  // Behind a proxy: Twilio signed the public URL with the token, not the loopback one.
  const signedUrl = `${PUBLIC}/${E2E_TOKEN}`;
  const ok = await s.post(`/sms/in/tw/${E2E_TOKEN}`, INBOUND, { 'x-twilio-signature': twilioSdk.getExpectedTwilioSignature(TOKEN, signedUrl, INBOUND) });
  t.is(ok.status, 200, ok.text);
  t.is(ok.text, '<?xml version="1.0" encoding="UTF-8"?><Response/>');
  t.regex(ok.headers.get('content-type') ?? '', /^text\/xml/);
  const d = await s.ami.waitForDelivery(() => true);
  t.is(d.body.toString('utf8'), 'Hi there');
  t.like(rows(s.dir)[0], { provider_id: INBOUND.MessageSid, sender: SENDER, recipient: ALICE, interface: 'tw' });

  const forged = { ...INBOUND, MessageSid: 'SM9', Body: 'forged' };
  const bad = await s.post(`/sms/in/tw/${E2E_TOKEN}`, forged, { 'x-twilio-signature': twilioSdk.getExpectedTwilioSignature('not-the-token-0000000', signedUrl, forged) });
  t.is(bad.status, 403);
  t.regex(bad.text, /signature check failed for interface tw: X-Twilio-Signature does not match/);
  t.is(rows(s.dir).length, 1, 'nothing stored');
  const warn = s.logs.find((l) => l.includes('"webhook refused"') && l.includes('"status":403'))!;
  t.regex(warn, /"level":"warn"/);
  t.regex(warn, /"ip":"127\.0\.0\.1"/);
  t.false(s.logs.some((l) => l.includes(TOKEN) || l.includes(E2E_TOKEN)), 'no secret in any log line');
});

test('end to end: without public_url the URL is rebuilt from the request, X-Forwarded-Proto and -Host believed from a trusted proxy', async (t) => {
  const itsp = await double(t);
  const s = await startStack({
    interfaces: `[tw]\nprovider = twilio\naccount = ${SID}\nsecret = ${TOKEN}\napi_url = ${itsp.url}\n`,
    general: 'trusted_proxies = 127.0.0.1/32',
  });
  t.teardown(() => s.stop());
  const url = 'https://gw.example.net/sms/in/tw';
  const sig = twilioSdk.getExpectedTwilioSignature(TOKEN, url, INBOUND);
  const r = await s.post('/sms/in/tw', INBOUND, { 'x-twilio-signature': sig, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'gw.example.net' });
  t.is(r.status, 200, r.text);
  const direct = `http://127.0.0.1:${s.daemon.httpPort}/sms/in/tw`;
  const again = { ...INBOUND, MessageSid: 'SM3' };
  t.is((await s.post('/sms/in/tw', again, { 'x-twilio-signature': twilioSdk.getExpectedTwilioSignature(TOKEN, direct, again) })).status, 200);
  t.is(rows(s.dir).length, 2);
});

test('end to end: a text handed off goes to Twilio in its wire format with a StatusCallback, and the signed delivery report is applied', async (t) => {
  const itsp = await double(t);
  const s = await twilioStack(t, itsp);
  const sent = await fetch(`${s.api}/api/texts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: '+46701234567', body: 'from the PBX' }) });
  t.is(sent.status, 201, await sent.clone().text());
  const id = ((await sent.json()) as { text: { id: string } }).text.id;
  const [req] = await itsp.waitForRequests(1);
  t.is(req!.path, `/2010-04-01/Accounts/${SID}/Messages.json`);
  t.is(req!.headers.authorization, `Basic ${Buffer.from(`${SID}:${TOKEN}`).toString('base64')}`);
  const statusCallback = `https://sms.example.org/sms/status/tw/${E2E_TOKEN}`;
  t.deepEqual(req!.body as FormBody, { To: '+46701234567', From: '+15005550006', Body: 'from the PBX', StatusCallback: statusCallback });

  const text = async () => ((await (await fetch(`${s.api}/api/texts/${id}`)).json()) as { text: { state: string; providerId: string; reason: string | null } }).text;
  const sid = await eventually(async () => (await text()).providerId, 'the sid');
  const report = { MessageSid: sid, SmsSid: sid, MessageStatus: 'delivered', SmsStatus: 'delivered', AccountSid: SID, From: '+15005550006', To: '+46701234567', ApiVersion: '2010-04-01' };
  const unsigned = await s.post(`/sms/status/tw/${E2E_TOKEN}`, report, { 'x-twilio-signature': 'AAAA' });
  t.is(unsigned.status, 403, 'delivery reports are checked too');
  const r = await s.post(`/sms/status/tw/${E2E_TOKEN}`, report, { 'x-twilio-signature': twilioSdk.getExpectedTwilioSignature(TOKEN, statusCallback, report) });
  t.is(r.status, 200, r.text);
  t.is((await eventually(async () => ((await text()).state === 'delivered' ? 'delivered' : undefined), 'delivered')), 'delivered');
});
