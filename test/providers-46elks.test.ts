// The 46elks profile: its wire format against the ITSP double, its webhooks as
// 46elks documents them, and, since 46elks does not sign, a whole daemon that
// takes webhooks only from 46elks's published addresses and only with the
// interface's token.

import test, { type ExecutionContext } from 'ava';
import { elks, ELKS_ADDRESSES } from '../providers/elks.js';
import type { HttpAnswer, OutgoingText, WebhookRequest } from '../providers/types.js';
import { RequestError } from '../src/errors.js';
import { elksLike, startItspDouble, type ItspDouble } from './doubles/itsp-server.js';
import { profileInterface, profileSection, sendThrough, webhook } from './helpers/profile.js';
import { rows, sleep, startStack } from './helpers/stack.js';

const USER = 'u00000000000000000';
const PASS = 'PASSWORD-0123';
const TOK = 'tok_abcdefghijklmnop1234';
const PUBLIC = 'https://sms.example.org/sms/in/elks';
const TEXT: OutgoingText = { id: 3, from: '+46766861004', to: '+46700000001', body: 'Hej från Asterisk', reference: 'ref-3' };

async function double(t: ExecutionContext): Promise<ItspDouble> {
  const d = await startItspDouble({ default: elksLike() });
  t.teardown(() => d.stop());
  return d;
}

const written = (extra: Record<string, string> = {}) => ({ account: USER, secret: PASS, token: TOK, public_url: PUBLIC, ...extra });
/** Polls an async check until it gives a value. */
async function eventually<T>(check: () => Promise<T | undefined | null>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== null) return v;
    if (Date.now() > end) throw new Error('timed out');
    await sleep(25);
  }
}

const answer = (status: number, body: string, headers: Record<string, string> = {}): HttpAnswer => ({ status, headers, body });

test('send: the form of providers.md §3.6 with Basic auth and the delivery report URL carrying the token', async (t) => {
  const d = await double(t);
  const { outcome } = await sendThrough(elks, profileInterface('46elks', written({ api_url: d.url })), TEXT);
  t.deepEqual(outcome, { kind: 'accepted', providerId: 's00000000000000000000000000000001' });
  const [r] = await d.waitForRequests(1);
  t.is(r!.method, 'POST');
  t.is(r!.path, '/a1/sms');
  t.is(r!.headers.authorization, `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`);
  t.is(r!.contentType, 'application/x-www-form-urlencoded');
  t.is(
    r!.rawBody.toString(),
    'from=%2B46766861004&to=%2B46700000001&message=Hej+fr%C3%A5n+Asterisk&whendelivered=https%3A%2F%2Fsms.example.org%2Fsms%2Fstatus%2Felks%2Ftok_abcdefghijklmnop1234',
  );
});

test('answers: 200 with the id; refusals with 46elks\'s words; rate limits and server errors retried', (t) => {
  const cfg = profileInterface('46elks', written()).send;
  t.deepEqual(elks.parseResponse(answer(200, '{"status":"created","id":"s70df59406a1b4643b96f3f91e0bfb7b0","parts":1}'), cfg), {
    kind: 'accepted',
    providerId: 's70df59406a1b4643b96f3f91e0bfb7b0',
  });
  t.deepEqual(elks.parseResponse(answer(403, 'Not enough credits'), cfg), { kind: 'permanent', reason: '403: Not enough credits' });
  t.deepEqual(elks.parseResponse(answer(400, 'Invalid to number'), cfg), { kind: 'permanent', reason: '400: Invalid to number' });
  t.deepEqual(elks.parseResponse(answer(429, 'slow down', { 'retry-after': '30' }), cfg), { kind: 'retry', reason: '429: slow down', retryAfterMs: 30_000 });
  t.is(elks.parseResponse(answer(502, ''), cfg).kind, 'retry');
});

const parse = (req: WebhookRequest) => elks.parseWebhook!(req, profileInterface('46elks', written()));

test('inbound: SMS as providers.md shows it, and MMS with its image (46elks\'s own URL fetched with the credentials)', (t) => {
  const body = 'direction=incoming&id=sf8425555e5d8db61dda7a7b3f1b91bdb&from=%2B46700000001&to=%2B46766861004&created=2024-03-01T10%3A16%3A02.654000&message=Tack%21';
  t.deepEqual(parse(webhook({ url: `${PUBLIC}/${TOK}`, body })), {
    kind: 'texts',
    texts: [{ from: '+46700000001', to: '+46766861004', body: 'Tack!', providerId: 'sf8425555e5d8db61dda7a7b3f1b91bdb', media: [] }],
  });
  const mms = 'direction=incoming&id=m1&from=%2B46700000001&to=%2B46766861004&message=&image=https%3A%2F%2Fapi.46elks.com%2Fa1%2Fimages%2Fm1.jpg';
  t.deepEqual(parse(webhook({ url: `${PUBLIC}/${TOK}`, body: mms })), {
    kind: 'texts',
    texts: [{ from: '+46700000001', to: '+46766861004', body: '', providerId: 'm1', media: [{ url: 'https://api.46elks.com/a1/images/m1.jpg', auth: 'basic' }] }],
  });
  t.is(t.throws(() => parse(webhook({ url: PUBLIC, body: 'from=%2B46700000001&to=%2B46766861004' })), { instanceOf: RequestError })!.reason, 'missing field message');
});

test('delivery reports: delivered, failed, sent', (t) => {
  t.deepEqual(parse(webhook({ url: PUBLIC, body: 'id=s70df59406a1b4643b96f3f91e0bfb7b0&status=delivered&delivered=2024-03-01T10%3A15%3A33.000000' })), {
    kind: 'status',
    reports: [{ providerId: 's70df59406a1b4643b96f3f91e0bfb7b0', state: 'delivered', reason: null }],
  });
  const cfg = profileInterface('46elks', written()).send;
  t.deepEqual(elks.parseStatus({ id: 's1', status: 'failed' }, cfg), { providerId: 's1', state: 'failed', reason: 'failed' });
  t.deepEqual(elks.parseStatus({ id: 's1', status: 'sent' }, cfg), { providerId: 's1', state: 'sent', reason: null });
  t.is(elks.parseStatus({ id: 's1' }, cfg), undefined);
});

test('no signature: no verifyWebhook; the defaults are 46elks\'s addresses and a token; the answer is empty (a body would be texted back)', (t) => {
  t.is(elks.verifyWebhook, undefined);
  const i = profileInterface('46elks', written());
  t.deepEqual(i.allow, ELKS_ADDRESSES.map((a) => (a.includes(':') ? `${a}/128` : `${a}/32`)));
  t.is(i.token, TOK);
  t.true(elks.settings!.some((s) => s.key === 'token' && s.required && s.secret));
  t.deepEqual(elks.answer!({ kind: 'texts', texts: [] }, i), { status: 200, contentType: 'text/plain; charset=utf-8', body: '' });
});

test('a daemon with provider = 46elks: a webhook from 46elks\'s address with the token is stored, from elsewhere or without the token refused; a text sent and its delivery report applied', async (t) => {
  const d = await double(t);
  const section = profileSection('elks', '46elks', written({ api_url: d.url, number: '+46766861004' }));
  const s = await startStack({ interfaces: section, general: 'trusted_proxies = 127.0.0.1/32' });
  t.teardown(() => s.stop());
  const inbound = { direction: 'incoming', id: 'sIN1', from: '+46700000001', to: '+46766861004', created: '2024-03-01T10:16:02.654000', message: 'Tack!' };
  const from46elks = { 'x-forwarded-for': ELKS_ADDRESSES[0]! };

  const elsewhere = await s.post(`/sms/in/elks/${TOK}`, inbound, { 'x-forwarded-for': '198.51.100.7' });
  t.is(elsewhere.status, 403);
  const noToken = await s.post('/sms/in/elks', inbound, from46elks);
  t.true(noToken.status === 401 || noToken.status === 403 || noToken.status === 404, `status ${noToken.status}`);
  t.is(rows(s.dir).length, 0);

  const ok = await s.post(`/sms/in/elks/${TOK}`, inbound, from46elks);
  t.is(ok.status, 200);
  t.is(ok.text, '');
  const [row] = rows(s.dir);
  t.is(row!.sender, '+46700000001');
  t.is(row!.body, 'Tack!');

  const sent = await fetch(`${s.api}/api/texts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: '+46700000001', body: 'Svar', interface: 'elks' }) });
  t.is(sent.status, 201);
  const [req] = await d.waitForRequests(1);
  const form = req!.body as Record<string, string>;
  t.is(form.from, '+46766861004');
  t.is(form.message, 'Svar');
  t.is(form.whendelivered, `https://sms.example.org/sms/status/elks/${TOK}`);
  const outId = ((await sent.json()) as { text: { id: string } }).text.id;
  const providerId = await eventually(async () => {
    const r = (await (await fetch(`${s.api}/api/texts/${outId}`)).json()) as { text: { providerId: string | null } };
    return r.text.providerId;
  });
  const dlr = await s.post(`/sms/status/elks/${TOK}`, { id: providerId, status: 'delivered', delivered: '2024-03-01T10:15:33.000000' }, from46elks);
  t.is(dlr.status, 200);
  const state = await eventually(async () => {
    const r = (await (await fetch(`${s.api}/api/texts/${outId}`)).json()) as { text: { state: string } };
    return r.text.state === 'delivered' ? r.text.state : undefined;
  });
  t.is(state, 'delivered');
});
