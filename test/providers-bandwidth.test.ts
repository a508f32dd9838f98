// The Bandwidth profile. No Bandwidth SDK is installed, so the requests,
// answers and callbacks are Bandwidth's documented examples
// (../shared/providers.md §12, from dev.bandwidth.com): the request websms
// builds goes to a loopback recorder and is checked field by field; answers
// come back from it over real HTTP.

import test, { type ExecutionContext } from 'ava';
import { adapterFor } from '../providers/index.js';
import { bandwidth } from '../providers/bandwidth.js';
import type { OutgoingText, SendOutcome } from '../providers/types.js';
import type { InterfaceConfig } from '../src/config/types.js';
import { createHttpClient } from '../src/outbound/http.js';
import { startItspDouble, type ItspDouble } from './doubles/itsp-server.js';
import { ALICE, handOff, jsonWebhook, outboundRows, sectionInterface, profileStack } from './helpers/profile.js';
import { rows, until } from './helpers/stack.js';

const ACCOUNT = '9900000';
const APP = '93de2206-9669-4e07-948d-329f4b722ee2';
const API_USER = 'api-user';
const API_PASSWORD = 'api-password-test-only';
const URL_IN = 'https://sms.example.org/sms/in/bandwidth';

function iface(apiUrl?: string, more = ''): InterfaceConfig {
  return sectionInterface(
    [
      '[bandwidth]',
      'provider = bandwidth',
      `account = ${ACCOUNT}`,
      `application = ${APP}`,
      `send_username = ${API_USER}`,
      `secret = ${API_PASSWORD}`,
      'username = callback-user',
      'password = callback-pass',
      'number = +12025550160',
      apiUrl ? `api_url = ${apiUrl}` : '',
      more,
    ].join('\n'),
  );
}

async function double(t: ExecutionContext): Promise<ItspDouble> {
  const d = await startItspDouble({ requireBasic: { username: API_USER, password: API_PASSWORD } });
  t.teardown(() => d.stop());
  return d;
}

async function send(t: ExecutionContext, i: InterfaceConfig, text: OutgoingText): Promise<SendOutcome> {
  const client = createHttpClient(i.send);
  t.teardown(() => client.close());
  const res = await client.send(bandwidth.buildRequest(text, i.send));
  if (!res.ok) throw new Error(res.reason);
  return bandwidth.parseResponse(res.answer, i.send);
}

const TEXT: OutgoingText = { id: 42, from: '+12025550160', to: '+12025550161', body: 'Hello from Asterisk åäö 👋', reference: 'out-42' };

// The documented 202 answer (providers.md §12.2).
const ACCEPTED = {
  id: '1589228074636lm4k2je7j7jklbn2', owner: '+12025550160', applicationId: APP, time: '2024-03-01T10:15:30.123Z', segmentCount: 1,
  direction: 'out', to: ['+12025550161'], from: '+12025550160', media: [], text: 'Hello from Asterisk', tag: 'out-42', priority: 'default',
};

// ---- sending ---------------------------------------------------------------

test('the profile registers; its defaults build the account\'s messages URL and Basic auth with the API user', (t) => {
  t.is(adapterFor('bandwidth'), bandwidth);
  const i = iface();
  t.is(i.send.url, `https://messaging.bandwidth.com/api/v2/users/${ACCOUNT}/messages`);
  t.is(i.send.auth, 'basic');
  t.is(i.send.username, API_USER);
  t.is(i.send.password, API_PASSWORD);
  t.is(i.send.application, APP);
  t.deepEqual(bandwidth.settings!.filter((s) => s.secret).map((s) => s.key).sort(), ['password', 'secret']);
});

test('send: POST /api/v2/users/{account}/messages with Basic, applicationId, to as a list, from, text and our tag; 202 gives the id', async (t) => {
  const d = await double(t);
  d.queue({ status: 202, body: ACCEPTED });
  const outcome = await send(t, iface(d.url), TEXT);
  const [r] = await d.waitForRequests(1);
  t.is(r!.method, 'POST');
  t.is(r!.path, `/api/v2/users/${ACCOUNT}/messages`);
  t.true(r!.authorized, 'the API user\'s Basic credentials');
  t.is(r!.headers['authorization'], 'Basic ' + Buffer.from(`${API_USER}:${API_PASSWORD}`).toString('base64'));
  t.is(r!.contentType, 'application/json');
  t.deepEqual(r!.body, { tag: 'out-42', applicationId: APP, to: ['+12025550161'], from: '+12025550160', text: TEXT.body });
  t.deepEqual(outcome, { kind: 'accepted', providerId: '1589228074636lm4k2je7j7jklbn2' });
});

test('send: send_extra adds priority or expiration, and may replace the tag, never the number or text', async (t) => {
  const d = await double(t);
  d.queue({ status: 202, body: ACCEPTED });
  const i = iface(d.url);
  const cfg = { ...i.send, extra: { priority: 'high', tag: 'mine', text: 'not this' } };
  const client = createHttpClient(cfg);
  t.teardown(() => client.close());
  await client.send(bandwidth.buildRequest(TEXT, cfg));
  const [r] = await d.waitForRequests(1);
  t.deepEqual(r!.body, { tag: 'mine', priority: 'high', applicationId: APP, to: ['+12025550161'], from: '+12025550160', text: TEXT.body });
});

test('answers: 429 and 5xx are retried (Retry-After honoured when given); validation errors are permanent with Bandwidth\'s words', async (t) => {
  const d = await double(t);
  const i = iface(d.url);
  d.queue(
    { status: 429, retryAfter: 3, body: { type: 'too-many-requests', description: 'Too many requests' } },
    { status: 429, body: { type: 'too-many-requests', description: 'Too many requests' } },
    { status: 502, body: '<html>Bad Gateway</html>' },
    {
      status: 400,
      body: {
        type: 'request-validation', description: 'Your request could not be accepted.',
        fieldErrors: [{ fieldName: 'to', description: "'+1202555' must be replaced with a valid E164 formatted telephone number" }],
      },
    },
    { status: 403, body: { type: 'forbidden', description: 'Access is denied' } },
  );
  t.deepEqual(await send(t, i, TEXT), { kind: 'retry', reason: '429: too-many-requests: Too many requests', retryAfterMs: 3000 });
  t.deepEqual(await send(t, i, TEXT), { kind: 'retry', reason: '429: too-many-requests: Too many requests' });
  t.deepEqual(await send(t, i, TEXT), { kind: 'retry', reason: '502: Bad Gateway' });
  t.deepEqual(await send(t, i, TEXT), {
    kind: 'permanent',
    reason: "400: request-validation: Your request could not be accepted.: '+1202555' must be replaced with a valid E164 formatted telephone number",
  });
  t.deepEqual(await send(t, i, TEXT), { kind: 'permanent', reason: '403: forbidden: Access is denied' });
});

test('answers: wrong API credentials are a permanent 401 whose reason holds no password', async (t) => {
  const d = await double(t);
  const i = iface(d.url);
  const outcome = await send(t, { ...i, send: { ...i.send, password: 'wrong-password-xyz' } }, TEXT);
  t.is(outcome.kind, 'permanent');
  t.false(JSON.stringify(outcome).includes('wrong-password-xyz'));
});

// ---- callbacks -------------------------------------------------------------

// The documented inbound callback (providers.md §12.5): an array of one event.
const RECEIVED = {
  type: 'message-received', time: '2024-03-01T10:16:02.000Z', description: 'Incoming message received', to: '+12025550160',
  message: {
    id: '14762070468292kw2fuqty55yp2b2', owner: '+12025550160', applicationId: APP, time: '2024-03-01T10:16:01.000Z', segmentCount: 1,
    direction: 'in', to: ['+12025550160'], from: '+12025550161', text: 'Hi there', media: [],
  },
};
// The documented failure (providers.md §12.5).
const FAILED = {
  type: 'message-failed', time: '2024-03-01T10:15:40.000Z', description: 'rejected-unallocated-to-number', to: '+12025550161', errorCode: 4432,
  message: {
    id: '1589228074636lm4k2je7j7jklbn2', owner: '+12025550160', applicationId: APP, time: '2024-03-01T10:15:30.123Z', segmentCount: 1,
    direction: 'out', to: ['+12025550161'], from: '+12025550160', text: '', tag: 'out-42',
  },
};

const auth = { authorization: 'Basic ' + Buffer.from('callback-user:callback-pass').toString('base64') };
const parse = (events: unknown) => bandwidth.parseWebhook!(jsonWebhook(URL_IN, JSON.stringify(events), auth), iface());

test('inbound: message-received in the documented array is a text', (t) => {
  t.deepEqual(parse([RECEIVED]), {
    kind: 'texts',
    texts: [{ from: '+12025550161', to: '+12025550160', body: 'Hi there', providerId: '14762070468292kw2fuqty55yp2b2', media: [] }],
  });
});

test('inbound: every event of the array counts; a long text (segmentCount 3) is one text', (t) => {
  const long = { ...RECEIVED, message: { ...RECEIVED.message, id: 'm2', text: 'y'.repeat(300), segmentCount: 3 } };
  const r = parse([RECEIVED, long]);
  t.is(r.kind, 'texts');
  if (r.kind !== 'texts') return;
  t.deepEqual(r.texts.map((x) => x.providerId), ['14762070468292kw2fuqty55yp2b2', 'm2']);
  t.is(r.texts[1]!.body, 'y'.repeat(300));
  t.is(r.texts[1]!.part, undefined);
});

test('inbound: an MMS lists its media URLs, fetched with the API credentials; the SMIL layout part is left out', (t) => {
  const base = `https://messaging.bandwidth.com/api/v2/users/${ACCOUNT}/media/14762070468292kw2fuqty55yp2b2`;
  const mms = { ...RECEIVED, message: { ...RECEIVED.message, text: '', media: [`${base}/0/IMG_0001.jpg`, `${base}/1/smil.smil`, `${base}/2/clip.mp4`] } };
  const r = parse([mms]);
  t.deepEqual(r.kind === 'texts' ? r.texts[0]!.media : [], [
    { url: `${base}/0/IMG_0001.jpg`, auth: 'basic' },
    { url: `${base}/2/clip.mp4`, auth: 'basic' },
  ]);
  t.is(r.kind === 'texts' ? r.texts[0]!.body : 'x', '');
});

test('delivery: message-delivered, message-failed with its code and description, message-sending', (t) => {
  const delivered = { ...FAILED, type: 'message-delivered', description: 'ok', errorCode: undefined };
  t.deepEqual(parse([delivered]), { kind: 'status', reports: [{ providerId: '1589228074636lm4k2je7j7jklbn2', state: 'delivered', reason: null }] });
  t.deepEqual(parse([FAILED]), {
    kind: 'status', reports: [{ providerId: '1589228074636lm4k2je7j7jklbn2', state: 'failed', reason: '4432: rejected-unallocated-to-number' }],
  });
  t.deepEqual(parse([{ ...FAILED, type: 'message-sending' }]), {
    kind: 'status', reports: [{ providerId: '1589228074636lm4k2je7j7jklbn2', state: 'sent', reason: null }],
  });
  t.is(parse([{ ...FAILED, type: 'message-read' }]).kind, 'ignored');
  t.is(parse([]).kind, 'ignored');
  // The generic status path (fields of the parsed array) reads the first event.
  t.deepEqual(bandwidth.parseStatus({ ...[FAILED] } as Record<string, unknown>, iface().send), {
    providerId: '1589228074636lm4k2je7j7jklbn2', state: 'failed', reason: '4432: rejected-unallocated-to-number',
  });
});

test('callbacks that are not Bandwidth events are a 400', (t) => {
  for (const body of ['nope', '[{"type":"message-received"}]', '[1]', '{}']) {
    const err = t.throws(() => bandwidth.parseWebhook!(jsonWebhook(URL_IN, body, auth), iface()));
    t.is((err as { status?: number }).status, 400, body);
  }
  t.deepEqual(bandwidth.answer!({ kind: 'status', reports: [] }, iface()), { status: 200, contentType: 'text/plain; charset=utf-8', body: '' });
});

test('authenticity: the callback credentials set on the Application, compared in constant time; nothing else passes', (t) => {
  const i = iface();
  const body = JSON.stringify([RECEIVED]);
  const basic = (u: string, p: string) => ({ authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64') });
  t.true(bandwidth.verifyWebhook!(jsonWebhook(URL_IN, body, basic('callback-user', 'callback-pass')), i, Date.now()).ok);
  for (const [name, headers] of [
    ['wrong password', basic('callback-user', 'wrong')],
    ['wrong user', basic('someone', 'callback-pass')],
    ['no credentials', {}],
    ['a bearer token', { authorization: 'Bearer callback-pass' }],
  ] as const) {
    const r = bandwidth.verifyWebhook!(jsonWebhook(URL_IN, body, headers), i, Date.now());
    t.false(r.ok, name);
    t.false(JSON.stringify(r).includes('callback-pass'), 'the password is never in a reason');
  }
  // Bandwidth signs neither body nor URL: the credentials are the whole check, whatever the body or URL.
  t.true(bandwidth.verifyWebhook!(jsonWebhook('http://127.0.0.1/other', '[]', basic('callback-user', 'callback-pass')), i, Date.now()).ok);
});

test('authenticity: without callback credentials only a URL token will do; with neither, every callback is refused', (t) => {
  const body = JSON.stringify([RECEIVED]);
  const bare = { ...iface(), username: '', password: '' };
  const r = bandwidth.verifyWebhook!(jsonWebhook(URL_IN, body), bare, Date.now());
  t.false(r.ok);
  t.regex(r.ok ? '' : r.reason, /set username and password .* or a token/);
  // The listener's guard has checked the token in the path before the adapter runs.
  t.true(bandwidth.verifyWebhook!(jsonWebhook(URL_IN, body), { ...bare, token: 'abcdefghijklmnop1234' }, Date.now()).ok);
});

// ---- end to end: a daemon with provider = bandwidth ------------------------------

const SECTION = (apiUrl: string) =>
  `[bandwidth]\nprovider = bandwidth\naccount = ${ACCOUNT}\napplication = ${APP}\nsend_username = ${API_USER}\nsecret = ${API_PASSWORD}\n` +
  `username = callback-user\npassword = callback-pass\nnumber = ${ALICE}\napi_url = ${apiUrl}\n`;

test('daemon: a callback with the Application\'s credentials is stored and delivered; wrong credentials store nothing', async (t) => {
  const s = await profileStack(t, SECTION('http://127.0.0.1:9'));
  const body = JSON.stringify([{ ...RECEIVED, to: ALICE, message: { ...RECEIVED.message, to: [ALICE], text: 'Hej från Bandwidth' } }]);
  const wrong = await s.post('/sms/in/bandwidth', body, { authorization: 'Basic ' + Buffer.from('callback-user:nope').toString('base64') });
  t.true(wrong.status === 401 || wrong.status === 403, String(wrong.status));
  t.is(rows(s.dir).length, 0, 'nothing stored');
  const r = await s.post('/sms/in/bandwidth', body, auth);
  t.is(r.status, 200);
  const d = await s.ami.waitForDelivery(() => true);
  t.is(d.body.toString('utf8'), 'Hej från Bandwidth');
  t.is(d.from, '+12025550161');
  const row = await until(() => rows(s.dir).find((x) => x.state === 'delivered'));
  t.is(row['provider_id'], '14762070468292kw2fuqty55yp2b2');
  // Bandwidth delivers at least once: the same callback again is the same text.
  t.is((await s.post('/sms/in/bandwidth', body, auth)).status, 200);
  t.is(rows(s.dir).length, 1);
});

test('daemon: a handed-off text goes to Bandwidth in its wire format, and message-failed marks it failed; Bandwidth\'s reason is logged', async (t) => {
  const itsp = await double(t);
  itsp.setDefault({ status: 202, body: ACCEPTED });
  const s = await profileStack(t, SECTION(itsp.url));
  const run = await handOff(s, ALICE, '+12025550161', 'Hello Bandwidth', 'Alice');
  t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED');
  const [req] = await itsp.waitForRequests(1);
  t.is(req!.path, `/api/v2/users/${ACCOUNT}/messages`);
  t.true(req!.authorized);
  t.like(req!.body, { applicationId: APP, to: ['+12025550161'], from: ALICE, text: 'Hello Bandwidth' });
  const sent = await until(() => outboundRows(s.dir).find((r) => r.state === 'sent'));
  t.is(sent.provider_id, '1589228074636lm4k2je7j7jklbn2');
  // Bandwidth's status callbacks may go to the status URL or the same one as inbound.
  t.is((await s.post('/sms/status/bandwidth', JSON.stringify([FAILED]), auth)).status, 200);
  const failed = await until(() => outboundRows(s.dir).find((r) => r.state === 'failed'));
  // The sender reads whose problem it is; Bandwidth's code and words go to the log (and the text's history).
  t.is(failed.reason, 'the provider could not deliver it; check the number, or send it again later');
  t.true(s.logs.some((l) => l.includes('"delivery report"') && /4432: rejected-unallocated-to-number/.test(l)));
  t.false(s.logs.some((l) => l.includes(API_PASSWORD) || l.includes('callback-pass')), 'no password is logged');
});

test('credentials check: GET the account\'s media list with the API user; wrong credentials are a reason without the password', async (t) => {
  const d = await double(t);
  d.setDefault({ status: 200, body: [{ contentLength: 561276, mediaName: 'a.jpg', content: 'https://messaging.bandwidth.com/x/media/a.jpg' }] });
  const i = iface(d.url);
  t.deepEqual(await bandwidth.checkCredentials!(i.send, 2000), { ok: true, detail: 'the account\'s media list was read (1 files)' });
  const [r] = await d.waitForRequests(1);
  t.is(r!.method, 'GET');
  t.is(r!.path, `/api/v2/users/${ACCOUNT}/media`);
  const wrong = await bandwidth.checkCredentials!({ ...i.send, password: 'not-the-password' }, 2000);
  t.false(wrong.ok);
  t.false(JSON.stringify(wrong).includes('not-the-password'));
});
