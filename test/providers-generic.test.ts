// The generic adapter and the ITSP HTTP client together, against the ITSP double
// on loopback: exact request bytes, auth modes, answer classification, network
// failures, keep-alive and TLS. Nothing of ours is mocked.

import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { generic, retryAfterMs, sendFieldProblems, cleanReason } from '../providers/generic.js';
import { adapterFor, PROVIDER_NAMES } from '../providers/index.js';
import type { OutgoingText, SendOutcome } from '../providers/types.js';
import { loadConfig } from '../src/config/load.js';
import type { SendConfig } from '../src/config/types.js';
import { ConfigError } from '../src/errors.js';
import { createHttpClient, type HttpResult } from '../src/outbound/http.js';
import { errors, hasOpenssl, makeTestCa, startItspDouble, twilioLike, type ItspDouble, type ItspDoubleOptions, type ResponseSpec } from './doubles/itsp-server.js';
import { tempDir } from './helpers/tmp.js';

/** The built-in [default] interface's send side (form to To/From/Body, no auth, no checks), made quick for tests. */
const BASE_SEND: SendConfig = {
  ...loadConfig({ env: {}, explicit: false }).interfaces[0]!.send,
  url: 'http://127.0.0.1:9/unused',
  connectTimeoutMs: 2000,
  timeoutMs: 5000,
  ratePerSecond: 0,
  ratePerNumber: 0,
  statusPath: '/sms/status/test',
};

function sendConfig(overrides: Partial<SendConfig> = {}): SendConfig {
  return { ...BASE_SEND, ...overrides };
}

const TEXT: OutgoingText = { id: 42, from: '+46700000000', to: '+46701234567', body: 'hello', reference: 'ref-42' };

async function double(t: ExecutionContext, opts?: ItspDoubleOptions): Promise<ItspDouble> {
  const d = await startItspDouble(opts);
  t.teardown(() => d.stop());
  return d;
}

/** Builds the request with the generic adapter, sends it with a fresh client, reads the answer. */
async function roundTrip(
  t: ExecutionContext,
  d: { url: string },
  overrides: Partial<SendConfig> = {},
  text: OutgoingText = TEXT,
): Promise<{ cfg: SendConfig; res: HttpResult; outcome: SendOutcome | undefined }> {
  const cfg = sendConfig({ url: `${d.url}/send`, ...overrides });
  const client = createHttpClient(cfg);
  t.teardown(() => client.close());
  const res = await client.send(generic.buildRequest(text, cfg));
  return { cfg, res, outcome: res.ok ? generic.parseResponse(res.answer, cfg) : undefined };
}

function failure(t: ExecutionContext, res: HttpResult): { reason: string; code: string } {
  if (res.ok) {
    t.fail(`expected a failure, got HTTP ${res.answer.status}`);
    return { reason: '', code: '' };
  }
  return res;
}

// ---- request bytes ----------------------------------------------------------

test('form: exact urlencoded bytes (newlines, %, quotes, parentheses, & = +, emoji) decode back to the text', async (t) => {
  const d = await double(t);
  const body = 'Line1\nLine2\r\n100% "quoted" (paren) it\'s a&b=c+d ~*-._ 👋 åäö';
  const { res, outcome } = await roundTrip(t, d, {}, { ...TEXT, body });
  t.true(res.ok);
  t.deepEqual(outcome, { kind: 'accepted', providerId: null });
  const [r] = await d.waitForRequests(1);
  const expected =
    'To=%2B46701234567&From=%2B46700000000&Body=' +
    'Line1%0ALine2%0D%0A100%25+%22quoted%22+%28paren%29+it%27s+a%26b%3Dc%2Bd+%7E*-._+%F0%9F%91%8B+%C3%A5%C3%A4%C3%B6';
  t.is(r!.rawBody.toString('latin1'), expected); // every byte is ASCII
  t.deepEqual(r!.body, { To: '+46701234567', From: '+46700000000', Body: body });
  t.is(r!.method, 'POST');
  t.is(r!.path, '/send');
  t.is(r!.headers['content-type'], 'application/x-www-form-urlencoded; charset=utf-8');
  t.is(r!.headers['content-length'], String(expected.length));
  t.is(r!.headers['user-agent'], 'websms');
  t.false('authorization' in r!.headers);
});

test('JSON: dotted field names nest; extras after ours; a colliding extra loses', async (t) => {
  const d = await double(t);
  await roundTrip(
    t,
    d,
    {
      format: 'json',
      fieldTo: 'message.to',
      fieldFrom: 'message.from',
      fieldBody: 'message.content.text',
      referenceField: 'client_ref',
      extra: { 'options.priority': 'high', channel: 'sms', 'message.to': '+19999999999', message: 'flat', 'client_ref.x': 'y' },
    },
    { ...TEXT, body: 'hé "quoted"\n👋' },
  );
  const [r] = await d.waitForRequests(1);
  t.is(
    r!.rawBody.toString('utf8'),
    '{"message":{"to":"+46701234567","from":"+46700000000","content":{"text":"hé \\"quoted\\"\\n👋"}},' +
      '"client_ref":"ref-42","options":{"priority":"high"},"channel":"sms"}',
  );
  t.is(r!.headers['content-type'], 'application/json; charset=utf-8');
  t.is(r!.contentType, 'application/json');
  t.deepEqual(r!.body, {
    message: { to: '+46701234567', from: '+46700000000', content: { text: 'hé "quoted"\n👋' } },
    client_ref: 'ref-42',
    options: { priority: 'high' },
    channel: 'sms',
  });
});

test('our own send fields that collide are a config error, not a silent loss', (t) => {
  const cfg = sendConfig({ format: 'json', fieldTo: 'a', fieldBody: 'a.b' });
  t.deepEqual(sendFieldProblems(cfg), ['send fields "a" and "a.b" overlap in JSON']);
  t.throws(() => generic.buildRequest(TEXT, cfg), { message: /overlap/ });
  t.deepEqual(sendFieldProblems(sendConfig({ referenceField: 'To' })), ['send field "To" is used twice']);
  t.deepEqual(sendFieldProblems(sendConfig({ format: 'json', fieldTo: 'a.to', fieldFrom: 'a.from' })), []);
  // in a form, dots are just characters of the name
  t.deepEqual(sendFieldProblems(sendConfig({ fieldTo: 'a', fieldBody: 'a.b' })), []);
});

test('auth basic: exact Authorization header (UTF-8 password with a colon)', async (t) => {
  const d = await double(t, { requireBasic: { username: 'AC123', password: 'tök:en' } });
  const { outcome } = await roundTrip(t, d, { auth: 'basic', username: 'AC123', password: 'tök:en' });
  t.deepEqual(outcome, { kind: 'accepted', providerId: null });
  const [r] = await d.waitForRequests(1);
  t.is(r!.headers['authorization'], 'Basic QUMxMjM6dMO2azplbg==');
  t.true(r!.authorized);
  // wrong password: the double's 401 is a permanent failure with its message
  const bad = await roundTrip(t, d, { auth: 'basic', username: 'AC123', password: 'nope' });
  t.deepEqual(bad.outcome, { kind: 'permanent', reason: '401: Authenticate' });
});

test('auth bearer', async (t) => {
  const d = await double(t, { requireBearer: 'tok-123' });
  const { outcome } = await roundTrip(t, d, { auth: 'bearer', bearer: 'tok-123' });
  t.deepEqual(outcome, { kind: 'accepted', providerId: null });
  t.is(d.requests[0]!.headers['authorization'], 'Bearer tok-123');
});

test('auth form: credentials as body fields, no Authorization header; auth none sends neither', async (t) => {
  const d = await double(t);
  await roundTrip(t, d, { auth: 'form', usernameField: 'api_key', passwordField: 'api_secret', username: 'k1', password: 's&cret' });
  await roundTrip(t, d, { auth: 'none', username: 'k1', password: 's&cret', bearer: 'b' });
  const [f, n] = await d.waitForRequests(2);
  t.is(f!.rawBody.toString(), 'To=%2B46701234567&From=%2B46700000000&Body=hello&api_key=k1&api_secret=s%26cret');
  t.false('authorization' in f!.headers);
  t.is(n!.rawBody.toString(), 'To=%2B46701234567&From=%2B46700000000&Body=hello');
  t.false('authorization' in n!.headers);
});

test('extra fields: sent after ours; where one collides with ours, ours win', async (t) => {
  const d = await double(t);
  await roundTrip(t, d, {
    auth: 'form',
    usernameField: 'api_key',
    passwordField: 'api_secret',
    username: 'k1',
    password: 'p1',
    extra: { type: 'unicode', To: '+19999999999', api_key: 'evil', 'dlr.url': 'https://example.com/dlr?a=1' },
  });
  const [r] = await d.waitForRequests(1);
  t.is(
    r!.rawBody.toString(),
    'To=%2B46701234567&From=%2B46700000000&Body=hello&api_key=k1&api_secret=p1&type=unicode&dlr.url=https%3A%2F%2Fexample.com%2Fdlr%3Fa%3D1',
  );
});

test('number formats: digits strips the +, short codes and alphanumeric senders unchanged', async (t) => {
  const d = await double(t);
  await roundTrip(t, d, { numberFormat: 'digits' });
  await roundTrip(t, d, { numberFormat: 'digits' }, { ...TEXT, from: 'MyShop', to: '72404' });
  await roundTrip(t, d, { numberFormat: 'e164' }, { ...TEXT, from: 'MyShop' });
  const [a, b, c] = await d.waitForRequests(3);
  t.deepEqual(a!.body, { To: '46701234567', From: '46700000000', Body: 'hello' });
  t.deepEqual(b!.body, { To: '72404', From: 'MyShop', Body: 'hello' });
  t.deepEqual(c!.body, { To: '+46701234567', From: 'MyShop', Body: 'hello' });
});

test('reference field and idempotency header carry our reference', async (t) => {
  const d = await double(t);
  await roundTrip(t, d, { referenceField: 'client-ref', idempotencyHeader: 'Idempotency-Key' });
  await roundTrip(t, d, {});
  const [r, plain] = await d.waitForRequests(2);
  t.is(r!.headers['idempotency-key'], 'ref-42');
  t.is(r!.rawBody.toString(), 'To=%2B46701234567&From=%2B46700000000&Body=hello&client-ref=ref-42');
  t.false('idempotency-key' in plain!.headers);
  t.false('client-ref' in (plain!.body as object));
});

// ---- reading answers --------------------------------------------------------

test('success check and id extraction: JSON paths, Vonage-style 200-but-failed, text and form bodies', async (t) => {
  const d = await double(t);
  const cases: Array<[ResponseSpec, Partial<SendConfig>, SendOutcome]> = [
    [{ body: { status: 'OK', data: { id: 'abc-1' } } }, { success: 'status=ok', idField: 'data.id' }, { kind: 'accepted', providerId: 'abc-1' }],
    [
      { body: { 'message-count': '1', messages: [{ to: '46701234567', 'message-id': '0A0000000123ABCD1', status: '0' }] } },
      { success: 'messages.0.status=0', idField: 'messages.0.message-id' },
      { kind: 'accepted', providerId: '0A0000000123ABCD1' },
    ],
    [
      { body: { 'message-count': '1', messages: [{ status: '2', 'error-text': 'Missing from param' }] } },
      { success: 'messages.0.status=0', idField: 'messages.0.message-id' },
      { kind: 'permanent', reason: 'Missing from param' },
    ],
    [{ body: 'status=ok\nid=12345\n' }, { success: 'status=ok', idField: 'id' }, { kind: 'accepted', providerId: '12345' }],
    [{ body: 'result=success&msgid=77%2B1' }, { success: 'result=success', idField: 'msgid' }, { kind: 'accepted', providerId: '77+1' }],
    [{ body: { status: 'failed' } }, { success: 'status=ok' }, { kind: 'permanent', reason: 'response lacks status=ok (status=failed)' }],
    [{ body: {} }, { success: 'status=ok' }, { kind: 'permanent', reason: 'response lacks status=ok' }],
    [{ body: 'ERROR' }, { success: 'status=ok' }, { kind: 'permanent', reason: 'ERROR' }],
    [{ body: { success: true, id: 12345 } }, { success: 'success=true', idField: 'id' }, { kind: 'accepted', providerId: '12345' }],
    [{ body: { sid: 'SMx' } }, { idField: 'data.id' }, { kind: 'accepted', providerId: null }],
    [{ body: { sid: 'SMx' } }, { idField: '' }, { kind: 'accepted', providerId: null }],
    [{ body: '' }, { idField: 'id' }, { kind: 'accepted', providerId: null }],
  ];
  for (const [spec, overrides, want] of cases) {
    d.queue(spec);
    const { outcome } = await roundTrip(t, d, overrides);
    t.deepEqual(outcome, want, JSON.stringify(spec.body));
  }
  d.setDefault(twilioLike());
  const { outcome } = await roundTrip(t, d, { idField: 'sid' });
  t.deepEqual(outcome, { kind: 'accepted', providerId: 'SM' + '1'.padStart(32, '0') });
});

test('classification of HTTP statuses, with Retry-After', async (t) => {
  const d = await double(t);
  const in2min = new Date(Date.now() + 120_000).toUTCString();
  const long = 'bad\u0007\nnumber ' + 'x'.repeat(300);
  const cases: Array<[ResponseSpec, SendOutcome]> = [
    [{ status: 200, body: {} }, { kind: 'accepted', providerId: null }],
    [{ status: 201, body: {} }, { kind: 'accepted', providerId: null }],
    [{ status: 202, body: '' }, { kind: 'accepted', providerId: null }],
    [errors.rateLimited(7), { kind: 'retry', reason: '429: Too Many Requests', retryAfterMs: 7000 }],
    [{ status: 429, retryAfter: 'soon', body: '' }, { kind: 'retry', reason: '429: Too Many Requests' }],
    [errors.unavailable(), { kind: 'retry', reason: '503: Service Unavailable' }],
    [errors.unavailable(86_400), { kind: 'retry', reason: '503: Service Unavailable', retryAfterMs: 3_600_000 }],
    [errors.serverError(), { kind: 'retry', reason: '500: Internal Server Error' }],
    [{ status: 408, body: '' }, { kind: 'retry', reason: '408: Request Timeout' }],
    [{ status: 502, body: '<html><body>Bad Gateway</body></html>' }, { kind: 'retry', reason: '502: Bad Gateway' }],
    [errors.badRequest("The 'To' number is not a valid phone number"), { kind: 'permanent', reason: "400: The 'To' number is not a valid phone number" }],
    [{ status: 400, body: { errors: [{ code: '40310', title: 'Invalid to', detail: 'The to number is invalid' }] } }, { kind: 'permanent', reason: '400: The to number is invalid' }],
    [{ status: 401, body: { code: 20003, message: 'Authenticate', status: 401 } }, { kind: 'permanent', reason: '401: Authenticate' }],
    [{ status: 404, body: '<html>nope</html>' }, { kind: 'permanent', reason: '404: Not Found' }],
    [{ status: 422, body: 'Invalid destination number\nsecond line' }, { kind: 'permanent', reason: '422: Invalid destination number' }],
    [{ status: 302, headers: { location: 'https://elsewhere.example/' }, body: '' }, { kind: 'retry', reason: 'unexpected HTTP status 302 Found' }],
  ];
  for (const [spec, want] of cases) {
    d.queue(spec);
    const { outcome } = await roundTrip(t, d);
    t.deepEqual(outcome, want, `HTTP ${spec.status}`);
  }

  d.queue({ status: 429, retryAfter: in2min, body: '' });
  const dated = (await roundTrip(t, d)).outcome;
  t.is(dated?.kind, 'retry');
  const ms = dated?.kind === 'retry' ? dated.retryAfterMs ?? -1 : -1;
  t.true(ms > 110_000 && ms <= 120_000, String(ms));

  d.queue({ status: 400, body: { message: long } });
  const trimmed = (await roundTrip(t, d)).outcome;
  const reason = trimmed?.kind === 'permanent' ? trimmed.reason : '';
  t.true(reason.startsWith('400: bad number xxx'), reason);
  t.is(Array.from(reason).length, 200);
  t.false(/\p{Cc}/u.test(reason));
});

test('retryAfterMs: delta-seconds, HTTP-date, cap, nonsense', (t) => {
  const now = Date.parse('Wed, 21 Oct 2026 07:27:00 GMT');
  t.is(retryAfterMs('7', now), 7000);
  t.is(retryAfterMs(' 0 ', now), 0);
  t.is(retryAfterMs('99999', now), 3_600_000);
  t.is(retryAfterMs('Wed, 21 Oct 2026 07:28:00 GMT', now), 60_000);
  t.is(retryAfterMs('Wed, 21 Oct 2026 07:00:00 GMT', now), 0);
  t.is(retryAfterMs('Thu, 22 Oct 2026 07:27:00 GMT', now), 3_600_000);
  for (const bad of ['1.5', '-1', '', 'soon', 'Wed, 99 Foo 2026 xx:yy GMT', undefined]) t.is(retryAfterMs(bad, now), undefined, String(bad));
  t.is(cleanReason('a\u0000b\r\nc\u2028d  e'), 'a b c d e');
});

test('parseStatus: ids and states through dotted paths, case-insensitive mapping', (t) => {
  const cfg = sendConfig();
  t.deepEqual(generic.parseStatus({ MessageSid: 'SM1', MessageStatus: 'Delivered' }, cfg), { providerId: 'SM1', state: 'delivered', reason: null });
  t.deepEqual(generic.parseStatus({ MessageSid: 'SM1', MessageStatus: 'undelivered', ErrorCode: 30003 }, cfg), {
    providerId: 'SM1',
    state: 'failed',
    reason: '30003',
  });
  t.deepEqual(generic.parseStatus({ MessageSid: 'SM1', MessageStatus: 'queued', ErrorCode: '' }, cfg), { providerId: 'SM1', state: 'sent', reason: null });
  t.is(generic.parseStatus({ MessageStatus: 'delivered' }, cfg), undefined);
  t.is(generic.parseStatus({ MessageSid: 'SM1' }, cfg), undefined);
  t.is(generic.parseStatus({ MessageSid: 'SM1', MessageStatus: '  ' }, cfg), undefined);
  const telnyx = sendConfig({
    statusFieldId: 'data.payload.id',
    statusFieldStatus: 'data.payload.to.0.status',
    statusFieldReason: 'data.payload.errors.0.detail',
    statusDelivered: ['DELIVERED'],
    statusFailed: ['delivery_failed', 'sending_failed'],
  });
  const ev = (status: string, errs: unknown[] = []) => ({ data: { payload: { id: 'uuid-1', to: [{ status }], errors: errs } } });
  t.deepEqual(generic.parseStatus(ev('delivered'), telnyx), { providerId: 'uuid-1', state: 'delivered', reason: null });
  t.deepEqual(generic.parseStatus(ev('delivery_failed', [{ detail: 'Unreachable\nhandset' }]), telnyx), {
    providerId: 'uuid-1',
    state: 'failed',
    reason: 'Unreachable handset',
  });
  // a form field whose name has a dot is found as it is
  t.deepEqual(generic.parseStatus({ 'msg.id': 'x1', 'msg.status': 'failed' }, sendConfig({ statusFieldId: 'msg.id', statusFieldStatus: 'msg.status' })), {
    providerId: 'x1',
    state: 'failed',
    reason: null,
  });
});

test('adapterFor and PROVIDER_NAMES', (t) => {
  t.is(adapterFor('generic'), generic);
  t.true(PROVIDER_NAMES.includes('generic'));
  t.throws(() => adapterFor('nope'), { message: /unknown provider "nope"; known: generic/ });
  t.throws(() => adapterFor('toString'));
});

// ---- network failures -------------------------------------------------------

test('timeout: an ITSP that never answers', async (t) => {
  const d = await double(t);
  d.queue({ hang: true });
  const t0 = performance.now();
  const { res } = await roundTrip(t, d, { timeoutMs: 300 });
  const took = performance.now() - t0;
  t.deepEqual(failure(t, res), { ok: false, code: 'timeout', reason: `no answer from 127.0.0.1:${d.port} within 300ms` });
  t.true(took >= 290 && took < 2000, String(took));
});

test('a slow answer on a connected socket is not a connect timeout', async (t) => {
  const d = await double(t);
  d.queue({ delayMs: 300, status: 201, body: { sid: 'SM1' } }, { delayMs: 300, status: 201, body: { sid: 'SM2' } });
  const cfg = sendConfig({ url: `${d.url}/send`, connectTimeoutMs: 100, timeoutMs: 2000, idField: 'sid' });
  const client = createHttpClient(cfg);
  t.teardown(() => client.close());
  for (const sid of ['SM1', 'SM2']) {
    const res = await client.send(generic.buildRequest(TEXT, cfg));
    t.true(res.ok);
    if (res.ok) t.deepEqual(generic.parseResponse(res.answer, cfg), { kind: 'accepted', providerId: sid });
  }
  t.is(d.connections, 1);
});

test('connection refused', async (t) => {
  const d = await double(t);
  await d.refuseConnections();
  const { res } = await roundTrip(t, d);
  t.deepEqual(failure(t, res), { ok: false, code: 'refused', reason: `connection refused by 127.0.0.1:${d.port}` });
});

test('connection reset before an answer', async (t) => {
  const d = await double(t);
  d.queue({ destroy: true });
  const { res } = await roundTrip(t, d);
  t.deepEqual(failure(t, res), { ok: false, code: 'reset', reason: `connection reset by 127.0.0.1:${d.port} before an answer` });
});

/**
 * A listener that accepts TCP and then says nothing, holding every socket.
 * A plain-TCP connect timeout cannot be made on loopback (Node accepts at once,
 * and a full backlog is not reliable across kernels); a TLS handshake that never
 * completes exercises the same timer, ended by 'secureConnect'.
 */
async function silentServer(t: ExecutionContext): Promise<number> {
  const held = new Set<net.Socket>();
  const s = net.createServer((sock) => {
    held.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => held.delete(sock));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const sock of held) sock.destroy();
        s.close(() => resolve());
      }),
  );
  return (s.address() as net.AddressInfo).port;
}

test('connect timeout: TCP connects, the TLS handshake never completes', async (t) => {
  const port = await silentServer(t);
  const t0 = performance.now();
  const { res } = await roundTrip(t, { url: `https://127.0.0.1:${port}` }, { connectTimeoutMs: 200, timeoutMs: 5000 });
  const took = performance.now() - t0;
  t.deepEqual(failure(t, res), { ok: false, code: 'connect_timeout', reason: `could not connect (TCP and TLS) to 127.0.0.1:${port} within 200ms` });
  t.true(took >= 190 && took < 2000, String(took));
});

test('keep-alive: sequential sends share one connection; concurrency 1 queues parallel sends on it', async (t) => {
  const d = await double(t);
  const cfg = sendConfig({ url: `${d.url}/send`, concurrency: 1 });
  const client = createHttpClient(cfg);
  t.teardown(() => client.close());
  for (let i = 0; i < 3; i++) t.true((await client.send(generic.buildRequest(TEXT, cfg))).ok);
  d.setDefault({ delayMs: 50, body: {} });
  const all = await Promise.all([1, 2, 3].map(() => client.send(generic.buildRequest(TEXT, cfg))));
  t.true(all.every((r) => r.ok));
  t.deepEqual(d.requests.map((r) => r.connectionId), [1, 1, 1, 1, 1, 1]);
  t.is(d.connections, 1);
  // close() drops the pool; the client still works, on a new connection
  client.close();
  t.true((await client.send(generic.buildRequest(TEXT, cfg))).ok);
  t.is(d.requests[6]!.connectionId, 2);
});

test('an answer larger than 1 MiB is refused', async (t) => {
  const d = await double(t);
  d.queue({ body: 'x'.repeat(1024 * 1024 + 10) });
  const { res } = await roundTrip(t, d);
  t.deepEqual(failure(t, res), { ok: false, code: 'network', reason: `answer from 127.0.0.1:${d.port} larger than 1 MiB` });
});

// ---- TLS --------------------------------------------------------------------

const tlsTest = hasOpenssl() ? test : test.skip;

tlsTest('TLS: a private CA fails unless ca_file trusts it; then connections are reused', async (t) => {
  const ca = makeTestCa(tempDir('websms-generic-ca-'));
  const d = await double(t, { tls: { key: fs.readFileSync(ca.keyFile), cert: fs.readFileSync(ca.certFile) } });
  d.setDefault(twilioLike());

  const untrusted = await roundTrip(t, d);
  t.deepEqual(failure(t, untrusted.res), {
    ok: false,
    code: 'tls',
    reason: `TLS: certificate of 127.0.0.1:${d.port} signed by an unknown authority (set ca_file to trust a private CA)`,
  });
  t.is(d.requests.length, 0);

  const cfg = sendConfig({ url: `${d.url}/send`, caFile: ca.caFile, idField: 'sid' });
  const client = createHttpClient(cfg);
  t.teardown(() => client.close());
  for (const n of [1, 2]) {
    const res = await client.send(generic.buildRequest(TEXT, cfg));
    t.true(res.ok);
    if (res.ok) t.deepEqual(generic.parseResponse(res.answer, cfg), { kind: 'accepted', providerId: 'SM' + String(n).padStart(32, '0') });
  }
  t.is(d.requests[0]!.connectionId, d.requests[1]!.connectionId);
  // the name in the certificate (DNS:localhost) is checked too, and matches
  const byName = await roundTrip(t, { url: `https://localhost:${d.port}` }, { caFile: ca.caFile });
  t.true(byName.res.ok);
});

test('an unreadable ca_file is a config error naming the file, not the contents', (t) => {
  const err = t.throws(() => createHttpClient(sendConfig({ caFile: '/nonexistent/ca.pem' })), { instanceOf: ConfigError });
  t.regex(err?.message ?? '', /ca_file \/nonexistent\/ca\.pem cannot be read \(ENOENT\)/);
});

test('credentials in the URL: Basic auth when the adapter set none, never over its own', async (t) => {
  const d = await double(t);
  const url = `http://us%40er:p%3Aw@127.0.0.1:${d.port}`;
  await roundTrip(t, { url });
  await roundTrip(t, { url }, { auth: 'bearer', bearer: 'tok' });
  const [a, b] = await d.waitForRequests(2);
  t.is(a!.headers['authorization'], 'Basic ' + Buffer.from('us@er:p:w').toString('base64'));
  t.is(b!.headers['authorization'], 'Bearer tok');
});

test('no secret in any failure reason', async (t) => {
  const secrets = { auth: 'basic' as const, username: 'user-SECRET1', password: 'pw-SECRET2', bearer: 'SECRET3' };
  const reasons: string[] = [];
  const d = await double(t);
  const base = `http://u-SECRET4:p-SECRET5@127.0.0.1:${d.port}/send/SECRET6?token=SECRET7`;
  const send = async (url: string, overrides: Partial<SendConfig> = {}) => {
    const cfg = sendConfig({ ...secrets, ...overrides, url });
    const client = createHttpClient(cfg);
    t.teardown(() => client.close());
    const res = await client.send(generic.buildRequest(TEXT, cfg));
    reasons.push(res.ok ? '' : res.reason);
    return res;
  };
  d.queue({ hang: true }, { destroy: true }, { hang: true });
  t.is(failure(t, await send(base, { timeoutMs: 200 })).code, 'timeout');
  t.is(failure(t, await send(base)).code, 'reset');
  t.is(failure(t, await send(base, { auth: 'bearer', timeoutMs: 200 })).code, 'timeout');
  await d.refuseConnections();
  t.is(failure(t, await send(base)).code, 'refused');
  const port = await silentServer(t);
  t.is(failure(t, await send(`https://u-SECRET4:p-SECRET5@127.0.0.1:${port}/SECRET6?token=SECRET7`, { connectTimeoutMs: 100 })).code, 'connect_timeout');
  t.is(failure(t, await send('not a url SECRET8')).code, 'network');
  for (const r of reasons) t.false(r.includes('SECRET'), r);
});
