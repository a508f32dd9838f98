// The management API against the real daemon: every route, its successes and
// its errors, each answer checked against the OpenAPI document's schema for
// that route and status; the document itself checked against OpenAPI 3.1.
import { createVoicemailIntake } from '../src/voicemail/intake.js';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { Validator } from '@seriousme/openapi-schema-validator';
import { createApiApp } from '../src/api/app.js';
import { openApiDocument } from '../src/api/openapi.js';
import { loadConfig } from '../src/config/load.js';
import { listen } from '../src/http/server.js';
import { silentLogger } from '../src/log.js';
import { createWriteProbe } from '../src/store/probe.js';
import { createStatsReader } from '../src/store/stats.js';
import { createTextStore } from '../src/store/texts.js';
import { startItspDouble, errors, twilioLike, type ItspDouble } from './doubles/itsp-server.js';
import { merge, startStack, until, sleep, type Stack } from './helpers/stack.js';

const ALICE = '+46812345678';
const DEST = '+12025550160';
const TOKEN = 'api-token-0123456789abcdef';

// ---- checking answers against the document ------------------------------

const doc = openApiDocument as unknown as {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
};
const DOC_ID = 'https://websms.test/openapi.json';
const ajv = new Ajv2020.default({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema(openApiDocument as object, DOC_ID);
const pointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** "GET /api/texts 200": what the tests made the daemon answer. */
const exercised = new Set<string>();

interface Answer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/**
 * Calls the API and checks the answer against the document: the status must
 * be one the operation lists, and a JSON body must match that status's schema.
 */
async function call(
  t: ExecutionContext,
  base: string,
  method: string,
  template: string,
  /** as: the method whose operation documents the answer (for a 405 to another method). */
  opts: { path?: string; json?: unknown; raw?: string; headers?: Record<string, string>; as?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | undefined = opts.raw;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + (opts.path ?? template), { method, headers, body });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  const parsed: unknown = type.startsWith('application/json') ? JSON.parse(text) : undefined;
  const opMethod = (opts.as ?? method).toUpperCase();
  const op = doc.paths[template]?.[opMethod.toLowerCase()];
  const label = `${opMethod} ${template} ${res.status}`;
  if (!op) {
    t.fail(`${method} ${template} is not in the document`);
    return { status: res.status, headers: res.headers, body: parsed, text };
  }
  const documented = op.responses[String(res.status)];
  t.truthy(documented, `${label} is not a documented answer: ${text}`);
  if (documented) {
    exercised.add(label);
    const mediaType = Object.keys(documented.content ?? {})[0];
    t.true(type.startsWith(mediaType ?? '-'), `${label}: content type ${type}, documented ${mediaType}`);
    if (mediaType === 'application/json') {
      const ref = `${DOC_ID}#/paths/${pointer(template)}/${opMethod.toLowerCase()}/responses/${res.status}/content/application~1json/schema`;
      const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
      t.true(validate(parsed), `${label}: ${ajv.errorsText(validate.errors)}\n${text}`);
    }
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

// ---- the daemon -------------------------------------------------------------

function rowsOf(s: Stack, table: 'outbound' | 'inbound' | 'events'): Array<Record<string, any>> {
  const db = new Database(path.join(s.dir, 'var', 'websms.db'), { readonly: true });
  try {
    return db.prepare(`SELECT * FROM ${table} ORDER BY id`).all() as Array<Record<string, any>>;
  } finally {
    db.close();
  }
}

async function setup(t: ExecutionContext, o: { api?: string; outbound?: string; double?: { secret?: string }; extra?: string } = {}) {
  const itsp = await startItspDouble({ default: twilioLike() });
  t.teardown(() => itsp.stop());
  const s = await startStack({
    general: 'default_interface = itsp',
    outbound: o.outbound ?? 'retry_min = 50ms\nretry_max = 100ms\nmax_attempts = 3\nmax_segments = 2',
    api: o.api,
    double: o.double,
    interfaces: `[default]
field_id = MessageSid

[itsp]
${merge(`send_url = ${itsp.url}/send\nsend_id_field = sid\nnumber = ${ALICE}\ncharset = gsm\nrate = 0\nrate_per_number = 0`, o.extra ?? '')}
`,
  });
  t.teardown(() => s.stop());
  return { s, itsp };
}

const bodiesSent = (itsp: ItspDouble): string[] => itsp.requests.map((r) => new URLSearchParams(r.rawBody.toString()).get('Body') ?? '');

test('the OpenAPI document is valid OpenAPI 3.1 and is what /api/openapi.json serves', async (t) => {
  const validator = new Validator();
  const result = await validator.validate(JSON.parse(JSON.stringify(openApiDocument)) as Parameters<Validator["validate"]>[0]);
  t.true(result.valid, JSON.stringify(result.errors, null, 2));
  t.is(validator.version, '3.1');
  const { s } = await setup(t);
  const r = await call(t, s.api, 'GET', '/api/openapi.json');
  t.is(r.status, 200);
  t.deepEqual(r.body, JSON.parse(JSON.stringify(openApiDocument)));
});

test('health and readiness: alive, ready, and 503 with the reason when the database refuses writes', async (t) => {
  const { s } = await setup(t);
  t.deepEqual((await call(t, s.api, 'GET', '/healthz')).body, { status: 'ok' });
  await until(() => s.daemon.ami.connected, 5000, 'AMI login');
  const ok = await call(t, s.api, 'GET', '/readyz');
  t.is(ok.status, 200);
  t.deepEqual(ok.body, { ready: true, checks: { database: 'ok', ami: 'ok', fastagi: 'ok' } });
  // A real write is attempted: a database that refuses it is not ready.
  s.daemon.db.exec(`CREATE TRIGGER nowrite_i BEFORE INSERT ON probe BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END;
                    CREATE TRIGGER nowrite_u BEFORE UPDATE ON probe BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END;`);
  const down = await call(t, s.api, 'GET', '/readyz');
  s.daemon.db.exec('DROP TRIGGER nowrite_i; DROP TRIGGER nowrite_u;');
  t.is(down.status, 503);
  t.false(down.body.ready);
  t.regex(down.body.checks.database, /cannot write to .*websms\.db: disk I\/O error/);
  t.is(down.body.checks.ami, 'ok');
  t.is((await call(t, s.api, 'GET', '/readyz')).status, 200, 'ready again once writes work');
  const metrics = await call(t, s.api, 'GET', '/metrics');
  t.is(metrics.status, 200, 'the daemon serves its Prometheus metrics here');
  t.regex(metrics.text, /^websms_ami_connected 1$/m);
});

test('readyz says AMI is not logged in when Asterisk refuses the login', async (t) => {
  const { s } = await setup(t, { double: { secret: 'another-secret' } });
  await until(() => s.logs.some((l) => l.includes('ami login refused')), 5000);
  const r = await call(t, s.api, 'GET', '/readyz');
  t.is(r.status, 503);
  t.deepEqual(r.body.checks, { database: 'ok', ami: `not logged in to Asterisk's manager interface at 127.0.0.1:${s.ami.port}`, fastagi: 'ok' });
  t.false(r.text.includes('another-secret'));
  const i = await call(t, s.api, 'GET', '/api/interfaces');
  t.deepEqual(i.body.ami, { connected: false });
});

test('/metrics serves what the metrics source renders, with its content type', async (t) => {
  const { s } = await setup(t);
  const config = loadConfig({ file: path.join(s.dir, 'websms.conf'), env: {}, explicit: true });
  const app = createApiApp({
    config: () => config,
    texts: createTextStore(s.daemon.db),
    stats: createStatsReader(s.daemon.db),
    outbound: s.daemon.outbound,
    voicemail: createVoicemailIntake({ db: s.daemon.db, email: s.daemon.email.store, dir: () => s.dir, onQueued: () => undefined }),
    probe: createWriteProbe(s.daemon.db),
    sender: s.daemon.sender,
    ami: s.daemon.ami,
    fastagiListening: () => true,
    onQueued: () => undefined,
    log: silentLogger,
    metrics: { contentType: 'text/plain; version=0.0.4; charset=utf-8', render: async () => '# HELP websms_up 1\nwebsms_up 1\n' },
  });
  const server = await listen(app, '127.0.0.1', 0, silentLogger, { what: 'api' });
  t.teardown(() => server.close());
  const r = await call(t, `http://127.0.0.1:${server.port}`, 'GET', '/metrics');
  t.is(r.status, 200);
  t.is(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  t.is(r.text, '# HELP websms_up 1\nwebsms_up 1\n');
});

test('POST /api/texts: stored before the 201, then sent to the ITSP like a phone\'s text', async (t) => {
  const { s, itsp } = await setup(t);
  const r = await call(t, s.api, 'POST', '/api/texts', { json: { to: '+1 (202) 555-0160', body: 'backup finished {ok}' } });
  t.is(r.status, 201);
  // In the file, seen by another connection, the moment the answer arrives.
  const stored = rowsOf(s, 'outbound');
  t.is(stored.length, 1);
  t.like(stored[0], { id: 1, sender: ALICE, recipient: DEST, body: 'backup finished {ok}', interface: 'itsp', encoding: 'GSM-7', segments: 1 });
  t.is(r.headers.get('location'), '/api/texts/out-1');
  t.like(r.body.text, { id: 'out-1', direction: 'out', from: ALICE, to: DEST, interface: 'itsp', parts: 1 });
  const [req] = await itsp.waitForRequests(1);
  const form = new URLSearchParams(req!.rawBody.toString());
  t.deepEqual([form.get('To'), form.get('From'), form.get('Body')], [DEST, ALICE, 'backup finished {ok}']);
  await until(() => rowsOf(s, 'outbound')[0]!.state === 'sent');
  const one = await call(t, s.api, 'GET', '/api/texts/{id}', { path: '/api/texts/out-1' });
  t.is(one.status, 200);
  t.is(one.body.text.state, 'sent');
  t.regex(one.body.text.providerId, /^SM/);
  t.deepEqual(one.body.events.map((e: { kind: string }) => e.kind), ['attempt', 'sent']);
  t.regex(one.body.events[0].detail, /attempt 1 via itsp/);

  // A given sender and interface.
  const from = await call(t, s.api, 'POST', '/api/texts', { json: { to: DEST, body: 'from elsewhere', from: '+46812345679', interface: 'itsp' } });
  t.is(from.status, 201);
  t.is(from.body.text.from, '+46812345679');
  t.false(s.logs.some((l) => l.includes('backup finished')), 'bodies are not logged');
});

test('POST /api/texts: bad input gets 400/413/415/422 with a reason and changes nothing', async (t) => {
  const { s, itsp } = await setup(t);
  t.is((await call(t, s.api, 'POST', '/api/texts', { json: { to: DEST, body: 'the one good text' } })).status, 201);
  await itsp.waitForRequests(1);
  await until(() => rowsOf(s, 'outbound')[0]!.state === 'sent');
  const before = { outbound: rowsOf(s, 'outbound'), events: rowsOf(s, 'events'), requests: itsp.requests.length };

  const cases: Array<[string, { json?: unknown; raw?: string; headers?: Record<string, string> }, number, string, RegExp]> = [
    ['no to', { json: { body: 'x' } }, 400, 'bad_request', /"to" is missing/],
    ['body not a string', { json: { to: DEST, body: 5 } }, 400, 'bad_request', /"body" must be a string/],
    ['unknown field', { json: { to: DEST, body: 'x', sender: ALICE } }, 400, 'bad_request', /unknown field "sender"/],
    ['an array', { json: [DEST, 'x'] }, 400, 'bad_request', /JSON object/],
    ['broken JSON', { raw: '{"to": ', headers: { 'content-type': 'application/json' } }, 400, 'bad_request', /not valid JSON/],
    ['a form', { raw: `to=${DEST}&body=x`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'unsupported_media_type', /JSON/],
    ['too large', { json: { to: DEST, body: 'x'.repeat(70_000) } }, 413, 'too_large', /larger than/],
    ['bad number', { json: { to: 'call me', body: 'x' } }, 422, 'invalid_number', /not a valid number/],
    ['bad sender', { json: { to: DEST, body: 'x', from: 'SHOP' } }, 422, 'invalid_sender', /E\.164/],
    ['unknown interface', { json: { to: DEST, body: 'x', interface: 'nope' } }, 422, 'unknown_interface', /no SMS interface named nope \(configured: default, itsp\)/],
    ['receive-only interface', { json: { to: DEST, body: 'x', interface: 'default' } }, 422, 'unknown_interface', /default cannot send/],
    ['empty', { json: { to: DEST, body: '' } }, 422, 'empty_body', /empty/],
    ['charset', { json: { to: DEST, body: 'emoji 😀' } }, 422, 'charset', /GSM letters only\): 😀/],
    ['segments', { json: { to: DEST, body: 'y'.repeat(400) } }, 422, 'too_many_segments', /3 SMS segments, at most 2/],
  ];
  for (const [name, opts, status, code, reason] of cases) {
    const r = await call(t, s.api, 'POST', '/api/texts', opts);
    t.is(r.status, status, name);
    t.is(r.body?.error?.code, code, name);
    t.regex(r.body?.error?.reason ?? '', reason, name);
  }
  // The store cannot commit: 503, and nothing half-stored.
  s.daemon.db.exec(`CREATE TRIGGER boom BEFORE INSERT ON outbound BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
  const failed = await call(t, s.api, 'POST', '/api/texts', { json: { to: DEST, body: 'during an outage' } });
  s.daemon.db.exec('DROP TRIGGER boom');
  t.is(failed.status, 503);
  t.is(failed.body.error.code, 'unavailable');

  await sleep(150);
  t.deepEqual(rowsOf(s, 'outbound'), before.outbound);
  t.deepEqual(rowsOf(s, 'events'), before.events);
  t.is(itsp.requests.length, before.requests);
});

test('listing and searching: filters, keyset paging, and 400 for what is not understood', async (t) => {
  const { s, itsp } = await setup(t);
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  for (const body of ['first out', 'second out 100%']) t.is((await call(t, s.api, 'POST', '/api/texts', { json: { to: DEST, body } })).status, 201);
  t.is((await s.post('/sms/in/default', { To: ALICE, From: '+46701234567', Body: 'hello in', MessageSid: 'SM-in-1' })).status, 200);
  await itsp.waitForRequests(2);
  await until(() => rowsOf(s, 'inbound')[0]?.state === 'delivered' && rowsOf(s, 'outbound').every((r) => r.state === 'sent'));

  const all = await call(t, s.api, 'GET', '/api/texts');
  t.deepEqual(all.body.texts.map((x: { id: string }) => x.id), ['in-1', 'out-2', 'out-1']);
  t.is(all.body.next, null);
  const ids = async (query: string): Promise<string[]> =>
    (await call(t, s.api, 'GET', '/api/texts', { path: `/api/texts?${query}` })).body.texts.map((x: { id: string }) => x.id);
  t.deepEqual(await ids('direction=in'), ['in-1']);
  t.deepEqual(await ids('direction=out&state=sent'), ['out-2', 'out-1']);
  t.deepEqual(await ids('state=delivered'), ['in-1']);
  t.deepEqual(await ids('number=0701234567'), ['in-1'], 'a national number is normalised');
  t.deepEqual(await ids(`number=${encodeURIComponent(DEST)}`), ['out-2', 'out-1']);
  t.deepEqual(await ids('q=100%25'), ['out-2']);
  t.deepEqual(await ids('interface=default'), ['in-1']);
  t.deepEqual(await ids('since=2000-01-01&until=2000-01-02'), []);
  t.deepEqual(await ids(`since=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`), ['in-1', 'out-2', 'out-1']);

  // One at a time: every text once, then next is null.
  const paged: string[] = [];
  let next: string | null = null;
  do {
    const r: Answer = await call(t, s.api, 'GET', '/api/texts', { path: `/api/texts?limit=1${next ? `&cursor=${next}` : ''}` });
    paged.push(...r.body.texts.map((x: { id: string }) => x.id));
    next = r.body.next;
  } while (next !== null && paged.length < 10);
  t.deepEqual(paged, ['in-1', 'out-2', 'out-1']);

  for (const [query, reason] of [
    ['direction=sideways', /direction must be in or out/],
    ['direction=in&state=sent', /state must be one of queued, sending, waiting/],
    ['limit=0', /limit must be a whole number from 1 to 500/],
    ['limit=501', /limit/],
    ['since=yesterday', /since: "yesterday" is not an ISO 8601 time/],
    ['cursor=bm9wZQ', /cursor is not one this API gave/],
    ['number=not-a-number', /number: not a valid number/],
    ['q=', /q must not be empty/],
    ['sort=asc', /unknown parameter "sort"/],
    ['state=sent&state=failed', /give state once/],
  ] as const) {
    const r = await call(t, s.api, 'GET', '/api/texts', { path: `/api/texts?${query}` });
    t.is(r.status, 400, query);
    t.regex(r.body.error.reason, reason, query);
  }
});

test('retry and cancel, in both directions, with their events; 404 and 409 with reasons', async (t) => {
  const { s, itsp } = await setup(t);
  // An inbound text for a phone that is not registered: it waits.
  s.ami.addEndpoint(ALICE, 'alice', []);
  await s.post('/sms/in/default', { To: ALICE, From: '+46701234567', Body: 'wait for me', MessageSid: 'SM-w' });
  await until(() => rowsOf(s, 'inbound')[0]?.state === 'waiting', 5000, 'waiting');
  const cancelled = await call(t, s.api, 'POST', '/api/texts/{id}/cancel', { path: '/api/texts/in-1/cancel' });
  t.is(cancelled.status, 200);
  t.like(cancelled.body.text, { id: 'in-1', state: 'cancelled', nextAttemptAt: null, reason: 'cancelled by hand' });
  const again = await call(t, s.api, 'POST', '/api/texts/{id}/cancel', { path: '/api/texts/in-1/cancel' });
  t.is(again.status, 409);
  t.deepEqual(again.body.error, { code: 'conflict', reason: 'in-1 is cancelled; only a queued or waiting text can be cancelled' });
  // Once the phone registers, it is delivered after a retry.
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  const retried = await call(t, s.api, 'POST', '/api/texts/{id}/retry', { path: '/api/texts/in-1/retry' });
  t.is(retried.status, 200);
  t.like(retried.body.text, { state: 'queued', attempts: 0 });
  await until(() => rowsOf(s, 'inbound')[0]?.state === 'delivered', 5000, 'delivered');
  const events = (await call(t, s.api, 'GET', '/api/texts/{id}', { path: '/api/texts/in-1' })).body.events.map((e: { kind: string }) => e.kind);
  t.deepEqual(events, ['attempt', 'waiting', 'cancelled', 'retried', 'attempt', 'delivered']);
  t.is((await call(t, s.api, 'POST', '/api/texts/{id}/retry', { path: '/api/texts/in-1/retry' })).body.error.reason, 'in-1 was already delivered; it is not sent twice');

  // An outbound text the ITSP refuses: failed, then retried and sent; a sent text is not retried.
  itsp.queue(errors.badRequest('The To number is not reachable.'));
  await call(t, s.api, 'POST', '/api/texts', { json: { to: DEST, body: 'refused once' } });
  await until(() => rowsOf(s, 'outbound')[0]?.state === 'failed', 5000, 'failed');
  const out = await call(t, s.api, 'POST', '/api/texts/{id}/retry', { path: '/api/texts/out-1/retry' });
  t.is(out.status, 200);
  await until(() => rowsOf(s, 'outbound')[0]?.state === 'sent', 5000, 'sent');
  const sentRetry = await call(t, s.api, 'POST', '/api/texts/{id}/retry', { path: '/api/texts/out-1/retry' });
  t.is(sentRetry.status, 409);
  t.regex(sentRetry.body.error.reason, /already accepted by the ITSP/);
  t.is((await call(t, s.api, 'POST', '/api/texts/{id}/cancel', { path: '/api/texts/out-1/cancel' })).status, 409);
  const outEvents = (await call(t, s.api, 'GET', '/api/texts/{id}', { path: '/api/texts/out-1' })).body.events;
  t.deepEqual(outEvents.map((e: { kind: string }) => e.kind), ['attempt', 'failed', 'retried', 'attempt', 'sent']);
  t.regex(outEvents[1].detail, /not reachable/);

  for (const [template, p] of [
    ['/api/texts/{id}', '/api/texts/out-999'],
    ['/api/texts/{id}', '/api/texts/bogus'],
    ['/api/texts/{id}/retry', '/api/texts/out-999/retry'],
    ['/api/texts/{id}/cancel', '/api/texts/in-999/cancel'],
  ] as const) {
    const r = await call(t, s.api, template.endsWith('}') ? 'GET' : 'POST', template, { path: p });
    t.is(r.status, 404, p);
    t.is(r.body.error.code, 'not_found');
  }
});

test('a text cancelled while it waits behind another of its conversation is never sent; the next one is', async (t) => {
  const { s, itsp } = await setup(t, { outbound: 'retry_min = 1h\nretry_max = 1h\nmax_attempts = 5' });
  itsp.setDefault(errors.unavailable());
  const send = async (body: string): Promise<string> => (await call(t, s.api, 'POST', '/api/texts', { json: { to: DEST, body } })).body.text.id;
  const a = await send('A first');
  await itsp.waitForRequests(1);
  await until(() => rowsOf(s, 'outbound')[0]?.state === 'queued' && rowsOf(s, 'outbound')[0]?.attempts === 1, 5000, 'A waiting for its retry');
  const b = await send('B cancelled');
  const c = await send('C after');
  t.is((await call(t, s.api, 'POST', '/api/texts/{id}/cancel', { path: `/api/texts/${b}/cancel` })).status, 200);
  itsp.setDefault(twilioLike());
  t.is((await call(t, s.api, 'POST', '/api/texts/{id}/retry', { path: `/api/texts/${a}/retry` })).status, 200, 'A is due now');
  await until(() => rowsOf(s, 'outbound').find((r) => `out-${r.id}` === c)?.state === 'sent', 5000, 'C sent');
  await sleep(200);
  t.deepEqual(bodiesSent(itsp), ['A first', 'A first', 'C after']);
  const rows = rowsOf(s, 'outbound');
  t.deepEqual(rows.map((r) => r.state), ['sent', 'cancelled', 'sent']);
});

test('purge: finished texts before the time go, with their events; 400/415 otherwise', async (t) => {
  const { s, itsp } = await setup(t);
  await call(t, s.api, 'POST', '/api/texts', { json: { to: DEST, body: 'to be purged' } });
  await itsp.waitForRequests(1);
  await until(() => rowsOf(s, 'outbound')[0]?.state === 'sent');
  const bad: Array<[{ json?: unknown; raw?: string; headers?: Record<string, string> }, number, RegExp]> = [
    [{ json: {} }, 400, /"before" is missing/],
    [{ json: { before: 'last week' } }, 400, /before: "last week" is not an ISO 8601 time/],
    [{ json: { before: '2030-01-01', also: 1 } }, 400, /unknown field "also"/],
    [{ raw: 'before=2030-01-01', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, /JSON/],
    [{ json: { before: 'x'.repeat(70_000) } }, 413, /larger than/],
  ];
  for (const [opts, status, reason] of bad) {
    const r = await call(t, s.api, 'POST', '/api/purge', opts);
    t.is(r.status, status);
    t.regex(r.body.error.reason, reason);
  }
  t.is(rowsOf(s, 'outbound').length, 1, 'refused purges removed nothing');
  t.deepEqual((await call(t, s.api, 'POST', '/api/purge', { json: { before: '2000-01-01T00:00:00Z' } })).body, { removed: 0 });
  const r = await call(t, s.api, 'POST', '/api/purge', { json: { before: new Date(Date.now() + 1000).toISOString() } });
  t.deepEqual(r.body, { removed: 1 });
  t.deepEqual(rowsOf(s, 'outbound'), []);
  t.deepEqual(rowsOf(s, 'events'), []);
});

test('e-mail: off without a user; with one, the outbox and the last SMTP error, in the documented shape', async (t) => {
  const { s: off } = await setup(t);
  const none = await call(t, off.api, 'GET', '/api/email');
  t.is(none.status, 200);
  t.like(none.body.email, { enabled: false, users: [], smtp: null, outbox: { queued: 0, sending: 0, sent: 0, failed: 0, oldestQueuedAt: null }, recent: [] });

  // A mail server that is not there (the discard port on loopback): the e-mail waits.
  const s = await startStack({
    general: `[email]\nuser = ${ALICE} alice@example.org\nfrom = sms@example.org\nsmtp_host = 127.0.0.1\nsmtp_port = 9\nsmtp_tls = none\ncopy = received\nunreached_after = off\nreply_listen = 127.0.0.1:0\nretry_min = 1h\nretry_max = 1h`,
  });
  t.teardown(() => s.stop());
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  await s.post('/sms/in/default', { To: ALICE, From: DEST, Body: 'copied', MessageSid: 'SM1' });
  let r: Answer | undefined;
  for (let i = 0; i < 100 && !r?.body.email.lastError; i++) {
    await sleep(50);
    r = await call(t, s.api, 'GET', '/api/email');
  }
  t.like(r!.body.email, { enabled: true, copy: 'received', unreachedAfterSeconds: null, smtp: { host: '127.0.0.1', port: 9, tls: 'none', login: false, from: 'sms@example.org' }, outbox: { queued: 1 } });
  t.regex(r!.body.email.lastError.reason, /cannot connect to the SMTP server 127\.0\.0\.1:9/);
  t.true(Date.parse(r!.body.email.pausedUntil) > Date.now() + 30 * 60_000, 'the outbox waits for the next attempt');
  t.regex(r!.body.email.replies.listener, /^127\.0\.0\.1:\d+$/);
  t.like(r!.body.email.recent[0], { kind: 'copy', ref: 'in-1', to: 'alice@example.org', state: 'queued', attempts: 1 });
});

test('interfaces with their sending health, and providers', async (t) => {
  const { s, itsp } = await setup(t, { extra: 'breaker_failures = 2\nbreaker_cooldown = 1h\nrate = 5' });
  itsp.setDefault(errors.unavailable(120));
  await call(t, s.api, 'POST', '/api/texts', { json: { to: DEST, body: 'into an outage' } });
  await itsp.waitForRequests(1);
  let itspHealth: any;
  for (let i = 0; i < 50 && !itspHealth?.lastError; i++) {
    itspHealth = (await call(t, s.api, 'GET', '/api/interfaces')).body.interfaces.find((x: { name: string }) => x.name === 'itsp');
    await sleep(20);
  }
  const list = await call(t, s.api, 'GET', '/api/interfaces');
  const [def, it] = list.body.interfaces;
  t.like(def, { name: 'default', provider: 'generic', sends: false, webhookPath: '/sms/in/default', circuit: null, lastError: null, queued: 0 });
  t.like(it, { name: 'itsp', sends: true, circuit: 'closed', queued: 1, rate: { perSecond: 5, perNumber: 0 } });
  t.regex(it.lastError, /503/);
  t.true(Date.parse(it.rate.pausedUntil) > Date.now() + 60_000, 'Retry-After: 120 pauses the interface');
  t.deepEqual(list.body.ami, { connected: true });
  const p = await call(t, s.api, 'GET', '/api/providers');
  const generic = p.body.providers.find((x: { name: string }) => x.name === 'generic');
  t.true(generic.description.length > 10);
  t.true(generic.settings.some((x: { key: string; secret: boolean }) => x.key === 'send_password' && x.secret));
  const tw = p.body.providers.find((x: { name: string }) => x.name === 'twilio');
  t.deepEqual(tw.settings.find((x: { key: string }) => x.key === 'secret'), { key: 'secret', doc: tw.settings.find((x: { key: string }) => x.key === 'secret').doc, secret: true, required: true });
  const names = p.body.providers.map((x: { name: string }) => x.name) as string[];
  for (const n of ['telnyx', 'bandwidth', 'sinch']) t.true(names.includes(n), n);
});

test('a wrong method gets 405 with Allow; an unknown path 404, both JSON', async (t) => {
  const { s } = await setup(t);
  for (const [template, methods] of Object.entries(doc.paths)) {
    const p = template.replace('{id}', 'out-1');
    const allowed = Object.keys(methods).map((m) => m.toUpperCase());
    // Each operation of the path documents the 405 the others' methods get.
    for (const as of allowed) {
      const r = await call(t, s.api, 'DELETE', template, { path: p, as });
      t.is(r.status, 405, p);
      t.is(r.body.error.code, 'method_not_allowed');
      t.is(r.headers.get('allow'), allowed.join(', '));
    }
  }
  const res = await fetch(`${s.api}/api/nothing-here`);
  t.is(res.status, 404);
  t.is(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
});

test('with a token: every /api route wants it, the probes stay open on loopback, secrets never show', async (t) => {
  const { s } = await setup(t, { api: `token = ${TOKEN}` });
  const ops = Object.entries(doc.paths).flatMap(([template, methods]) => Object.keys(methods).map((m) => [m.toUpperCase(), template] as const));
  for (const [method, template] of ops) {
    const p = template.replace('{id}', 'out-1');
    if (['/healthz', '/readyz', '/metrics'].includes(template)) {
      t.not((await call(t, s.api, method, template, { path: p })).status, 401, `${template} is open on loopback`);
      continue;
    }
    const none = await call(t, s.api, method, template, { path: p, json: method === 'POST' ? {} : undefined });
    t.is(none.status, 401, `${method} ${template}`);
    t.is(none.headers.get('www-authenticate'), 'Bearer realm="websms"');
    const wrong = await call(t, s.api, method, template, { path: p, headers: { authorization: 'Bearer not-the-token' } });
    t.is(wrong.status, 401);
    t.regex(wrong.body.error.reason, /not the one configured/);
  }
  const ok = await call(t, s.api, 'GET', '/api/texts', { headers: { authorization: `Bearer ${TOKEN}` } });
  t.is(ok.status, 200);
  const sent = await call(t, s.api, 'POST', '/api/texts', { json: { to: DEST, body: 'with a token' }, headers: { authorization: `bearer ${TOKEN}` } });
  t.is(sent.status, 201);
  t.false(s.logs.some((l) => l.includes(TOKEN)), 'the token is never logged');
  t.true(s.logs.some((l) => l.includes('not authorised') && l.includes('"ip":"127.0.0.1"')), 'refusals are logged with the client address');

  // Off loopback the probes want the token too, where this machine has such an address.
  const external = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
  if (!external) {
    t.log('no non-loopback IPv4 address here: the probes off loopback are not checked');
    exercised.add('GET /healthz 401').add('GET /readyz 401').add('GET /metrics 401');
    return;
  }
  const wide = await setup(t, { api: `listen = 0.0.0.0:0\ntoken = ${TOKEN}` });
  const base = `http://${external.address}:${wide.s.daemon.apiPort}`;
  for (const p of ['/healthz', '/readyz', '/metrics']) {
    t.is((await call(t, base, 'GET', p)).status, 401, p);
    t.not((await call(t, base, 'GET', p, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 401, p);
  }
});

test('POST /api/voicemail: a MiniVM e-mail is stored and queued in the outbox before the 201, To: made proper; bad input gets 400/413/415 and changes nothing', async (t) => {
  const { s } = await setup(t);
  const recording = Buffer.from('RIFF-not-really-a-wav-but-bytes');
  const mail = [
    'Date: Mon, 07 Dec 2026 04:33:29 +0000',
    'From: "Voicemail" <voicemail-noreply@example.com>',
    'To: "" <bob@example.com>',
    'Subject: =?UTF-8?Q?Voicemail_from_=22alice=22?=',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '',
    '--b1',
    'Content-Type: text/plain; charset=UTF-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'alice left you a message.',
    '--b1',
    'Content-Type: audio/x-WAV; name="voicemailmsg.WAV"',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="voicemail.WAV"',
    '',
    recording.toString('base64'),
    '',
    '--b1--',
    '.',
    '',
  ].join('\n');
  const headers = { 'content-type': 'message/rfc822' };
  const ok = await call(t, s.api, 'POST', '/api/voicemail', { raw: mail, headers });
  t.is(ok.status, 201);
  t.like(ok.body.voicemail, { id: 1, recipient: 'bob@example.com', recordingBytes: recording.length, state: 'queued' });
  const db = new Database(path.join(s.dir, 'var', 'websms.db'), { readonly: true });
  t.teardown(() => db.close());
  const row = db.prepare('SELECT message, outbox_id FROM voicemail').get() as { message: Buffer; outbox_id: number };
  t.regex(row.message.toString('latin1'), /^To: bob@example\.com$/m, 'To: "" <...> made proper');
  const out = db.prepare('SELECT kind, recipient, subject, body, attachments FROM email_outbox WHERE id = ?').get(row.outbox_id) as Record<string, string>;
  t.like(out, { kind: 'voicemail', recipient: 'bob@example.com', subject: 'Voicemail from "alice"', body: 'alice left you a message.' });
  t.deepEqual(fs.readFileSync((JSON.parse(out.attachments!) as Array<{ path: string }>)[0]!.path), recording);

  t.is((await call(t, s.api, 'POST', '/api/voicemail', { raw: 'Subject: no recipient\n\nbody', headers })).status, 400);
  t.is((await call(t, s.api, 'POST', '/api/voicemail', { raw: 'not an e-mail', headers })).status, 400);
  t.is((await call(t, s.api, 'POST', '/api/voicemail', { raw: mail, headers: { 'content-type': 'text/plain' } })).status, 415);
  t.is((await call(t, s.api, 'POST', '/api/voicemail', { raw: 'x'.repeat(21 * 1024 * 1024), headers })).status, 413);
  t.is((await call(t, s.api, 'GET', '/api/voicemail', { as: 'POST' })).status, 405);
  t.is((db.prepare('SELECT count(*) AS n FROM voicemail').get() as { n: number }).n, 1, 'nothing else stored');
});

test.after('every documented answer of every route was exercised', (t) => {
  const documented = Object.entries(doc.paths).flatMap(([template, methods]) =>
    Object.entries(methods).flatMap(([m, op]) => Object.keys(op.responses).map((status) => `${m.toUpperCase()} ${template} ${status}`)),
  );
  t.deepEqual(documented.filter((d) => !exercised.has(d)), []);
});
