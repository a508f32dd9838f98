// Self-test of the ITSP HTTP double, with global fetch and with axios.

import test from 'ava';
import axios, { AxiosError } from 'axios';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import {
  startItspDouble,
  twilioLike,
  elksLike,
  errors,
  hasOpenssl,
  makeTestCa,
  type ItspDouble,
  type ItspDoubleOptions,
} from './doubles/itsp-server.js';
import { tempDir } from './helpers/tmp.js';

async function double(t: { teardown(f: () => Promise<void>): void }, opts?: ItspDoubleOptions): Promise<ItspDouble> {
  const d = await startItspDouble(opts);
  t.teardown(() => d.stop());
  return d;
}

const ax = axios.create({ validateStatus: () => true, proxy: false });

async function axiosError(p: Promise<unknown>): Promise<AxiosError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AxiosError) return e;
    throw e;
  }
  throw new Error('expected the request to fail');
}

test('form body: parsed, repeated keys as arrays, raw bytes exact (UTF-8 emoji)', async (t) => {
  const d = await double(t);
  const form = new URLSearchParams([['To', '+46701234567'], ['From', '+46700000000'], ['Body', 'Hej 👋 åäö & = +'], ['MediaUrl', 'a'], ['MediaUrl', 'b']]);
  const sent = form.toString();
  const res = await fetch(`${d.url}/2010-04-01/Accounts/AC1/Messages.json?x=1&x=2&y=%C3%A5`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Custom-Header': 'Yes' },
    body: sent,
  });
  t.is(res.status, 200);
  t.deepEqual(await res.json(), {});
  const [r] = await d.waitForRequests(1);
  t.is(r!.method, 'POST');
  t.is(r!.path, '/2010-04-01/Accounts/AC1/Messages.json');
  t.deepEqual(r!.query, { x: ['1', '2'], y: 'å' });
  t.is(r!.contentType, 'application/x-www-form-urlencoded');
  t.is(r!.headers['x-custom-header'], 'Yes');
  t.true(r!.rawBody.equals(Buffer.from(sent, 'utf8')));
  t.deepEqual(r!.body, { To: '+46701234567', From: '+46700000000', Body: 'Hej 👋 åäö & = +', MediaUrl: ['a', 'b'] });
  t.is(r!.connectionId, 1);
  t.true(r!.receivedAt <= performance.now());
  t.true(Math.abs(r!.receivedAtEpoch - Date.now()) < 5000);
});

test('JSON body parsed and raw bytes exact; other content types keep only raw bytes', async (t) => {
  const d = await double(t);
  const json = '{"to":"+15005550006","message":"🚀 ünïcödé","n":[1,2]}';
  const res = await ax.post(`${d.url}/a1/sms`, json, { headers: { 'Content-Type': 'application/json; charset=utf-8' } });
  t.is(res.status, 200);
  await ax.post(`${d.url}/raw`, Buffer.from([0xff, 0x00, 0xf0, 0x9f]), { headers: { 'Content-Type': 'application/octet-stream' } });
  // (fetch, not axios: axios would JSON.stringify a string that is not valid JSON)
  await fetch(`${d.url}/bad`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{nope' });
  const [j, raw, bad] = await d.waitForRequests(3);
  t.true(j!.rawBody.equals(Buffer.from(json, 'utf8')));
  t.deepEqual(j!.body, { to: '+15005550006', message: '🚀 ünïcödé', n: [1, 2] });
  t.is(j!.contentType, 'application/json');
  t.deepEqual([...raw!.rawBody], [0xff, 0x00, 0xf0, 0x9f]);
  t.is(raw!.body, undefined);
  t.is(bad!.body, undefined);
  t.is(bad!.rawBody.toString(), '{nope');
});

test('queued responses are used in order, then the default responder', async (t) => {
  const d = await double(t);
  d.queue(errors.serverError(), errors.badRequest('The To number is invalid'), { status: 202, headers: { 'X-Shot': '3' }, body: 'plain' });
  d.setDefault(twilioLike());
  t.is(d.pending(), 3);
  const form = { To: '+46701234567', From: '+46700000000', Body: 'hi' };
  const post = () => ax.post(`${d.url}/Messages.json`, new URLSearchParams(form).toString(), { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  const r1 = await post();
  const r2 = await post();
  const r3 = await post();
  const r4 = await post();
  const r5 = await post();
  t.is(r1.status, 500);
  t.is(r2.status, 400);
  t.deepEqual(r2.data, { message: 'The To number is invalid', code: 21211, status: 400 });
  t.is(r3.status, 202);
  t.is(r3.headers['x-shot'], '3');
  t.is(r3.data, 'plain');
  t.is(r4.status, 201);
  t.is(r4.data.sid, 'SM' + '1'.padStart(32, '0'));
  t.is(r4.data.status, 'queued');
  t.is(r4.data.to, '+46701234567');
  t.is(r5.data.sid, 'SM' + '2'.padStart(32, '0'));
  t.is(d.pending(), 0);
  t.is(d.requests.length, 5);
  t.deepEqual(d.requests.map((r) => r.index), [0, 1, 2, 3, 4]);

  // a function responder sees the recorded request
  d.setDefault((r) => ({ status: 201, body: { sid: 'SM' + r.index } }));
  t.deepEqual((await post()).data, { sid: 'SM5' });
  d.setDefault(elksLike());
  const e = await ax.post(`${d.url}/a1/sms`, new URLSearchParams({ from: 'Me', to: '+46701234567', message: 'x' }).toString(), {
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  });
  t.is(e.status, 200);
  t.regex(e.data.id, /^s[0-9a-f]{32}$/);
});

test('delayMs holds the answer: slow success, and a client timeout', async (t) => {
  const d = await double(t);
  d.queue({ delayMs: 250, status: 201, body: { sid: 'SMslow' } }, { delayMs: 2000 });
  const t0 = performance.now();
  const res = await fetch(`${d.url}/slow`, { method: 'POST', body: 'a' });
  t.true(performance.now() - t0 >= 240);
  t.is(res.status, 201);
  const err = await axiosError(ax.post(`${d.url}/slower`, 'b', { timeout: 150 }));
  t.is(err.code, 'ECONNABORTED');
  t.is((await d.waitForRequests(2)).length, 2);
});

test('hang: request recorded, never answered, client fails when the double stops', async (t) => {
  const d = await startItspDouble();
  d.queue({ hang: true });
  const p = fetch(`${d.url}/hang`, { method: 'POST', body: 'x' });
  const outcome = Promise.race([p.then(() => 'answered', () => 'failed'), new Promise((r) => setTimeout(r, 300, 'pending'))]);
  const [r] = await d.waitForRequests(1);
  t.is(r!.rawBody.toString(), 'x');
  t.is(await outcome, 'pending');
  await d.stop();
  await t.throwsAsync(p);
  // stop is idempotent and the port is closed
  await d.stop();
  await t.throwsAsync(fetch(`${d.url}/`));
});

test('destroy: the connection is reset without a response', async (t) => {
  const d = await double(t);
  d.queue({ destroy: true });
  const err = await axiosError(ax.post(`${d.url}/reset`, 'x', { httpAgent: new http.Agent({ keepAlive: false }) }));
  t.true(err.code === 'ECONNRESET' || /socket hang up/.test(err.message), `${err.code} ${err.message}`);
  t.is(d.requests.length, 1);
  // the next request (new connection) is answered normally
  t.is((await ax.get(`${d.url}/after`)).status, 200);
});

test('429 and 503 carry Retry-After', async (t) => {
  const d = await double(t);
  const date = 'Wed, 21 Oct 2026 07:28:00 GMT';
  d.queue(errors.rateLimited(7), errors.unavailable(date), errors.unavailable());
  const a = await fetch(`${d.url}/x`, { method: 'POST' });
  t.is(a.status, 429);
  t.is(a.headers.get('retry-after'), '7');
  t.is(((await a.json()) as { status: number }).status, 429);
  const b = await ax.post(`${d.url}/x`);
  t.is(b.status, 503);
  t.is(b.headers['retry-after'], date);
  const c = await ax.post(`${d.url}/x`);
  t.is(c.status, 503);
  t.is(c.headers['retry-after'], undefined);
});

test('requireBasic: 401 with WWW-Authenticate when missing or wrong; queue untouched until authorized', async (t) => {
  const d = await double(t, { requireBasic: { username: 'AC123', password: 'tok:en' } });
  d.queue({ status: 201, body: { sid: 'SMok' } });
  const none = await fetch(`${d.url}/m`, { method: 'POST', body: 'a' });
  t.is(none.status, 401);
  t.regex(none.headers.get('www-authenticate') ?? '', /^Basic realm=/);
  const wrong = await ax.post(`${d.url}/m`, 'b', { auth: { username: 'AC123', password: 'nope' } });
  t.is(wrong.status, 401);
  t.is(d.pending(), 1);
  const ok = await ax.post(`${d.url}/m`, 'c', { auth: { username: 'AC123', password: 'tok:en' } });
  t.is(ok.status, 201);
  t.deepEqual(ok.data, { sid: 'SMok' });
  t.deepEqual(d.requests.map((r) => r.authorized), [false, false, true]);
  t.is(d.requests[2]!.headers['authorization'], 'Basic ' + Buffer.from('AC123:tok:en').toString('base64'));
});

test('requireBearer', async (t) => {
  const d = await double(t, { requireBearer: 's3cret' });
  t.is((await fetch(`${d.url}/m`, { headers: { Authorization: 'Bearer wrong' } })).status, 401);
  t.is((await fetch(`${d.url}/m`, { headers: { Authorization: 'Bearer s3cret' } })).status, 200);
});

test('keep-alive reuse is visible in connectionId', async (t) => {
  const d = await double(t);
  const keep = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const fresh = new http.Agent({ keepAlive: false });
  t.teardown(() => {
    keep.destroy();
    fresh.destroy();
  });
  for (let i = 0; i < 3; i++) await ax.post(`${d.url}/k`, String(i), { httpAgent: keep });
  for (let i = 0; i < 2; i++) await ax.post(`${d.url}/f`, String(i), { httpAgent: fresh });
  const ids = d.requests.map((r) => r.connectionId);
  t.is(ids[0], ids[1]);
  t.is(ids[1], ids[2]);
  t.not(ids[3], ids[2]);
  t.not(ids[4], ids[3]);
  t.is(new Set(ids).size, 3);
  t.is(d.connections, 3);
});

test('refuseConnections / acceptConnections: ECONNREFUSED, then back on the same port', async (t) => {
  const d = await double(t);
  const keep = new http.Agent({ keepAlive: true });
  t.teardown(() => keep.destroy());
  const port = d.port;
  t.is((await ax.get(`${d.url}/up`, { httpAgent: keep })).status, 200);
  await d.refuseConnections();
  const err = await axiosError(ax.get(`${d.url}/down`, { httpAgent: keep }));
  t.true(err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET', String(err.code));
  const err2 = await axiosError(ax.get(`${d.url}/down`, { httpAgent: keep }));
  t.is(err2.code, 'ECONNREFUSED');
  const f = await fetch(`${d.url}/down`).then(() => undefined, (e: Error) => e);
  t.is((f?.cause as { code?: string } | undefined)?.code, 'ECONNREFUSED');
  await d.acceptConnections();
  t.is(d.port, port);
  t.is(d.url, `http://127.0.0.1:${port}`);
  t.is((await ax.get(`${d.url}/back`, { httpAgent: keep })).status, 200);
  t.deepEqual(d.requests.map((r) => r.path), ['/up', '/back']);
  t.true(d.requests[1]!.connectionId > d.requests[0]!.connectionId);
});

test('waitFor: resolves on a matching request, rejects on timeout', async (t) => {
  const d = await double(t);
  const w = d.waitFor((r) => r.path === '/two');
  await fetch(`${d.url}/one`);
  await fetch(`${d.url}/two`);
  t.is((await w).index, 1);
  await t.throwsAsync(d.waitFor((r) => r.path === '/never', 100), { message: /timed out/ });
  await t.throwsAsync(d.waitForRequests(5, 100), { message: /5 requests \(got 2\)/ });
});

const tlsTest = hasOpenssl() ? test : test.skip;

tlsTest('TLS: certificate verification is on; a custom CA makes it pass', async (t) => {
  const ca = makeTestCa(tempDir('websms-itsp-ca-'));
  const d = await double(t, { tls: { key: fs.readFileSync(ca.keyFile), cert: fs.readFileSync(ca.certFile) } });
  t.regex(d.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  d.setDefault(twilioLike());

  const untrusted = await axiosError(ax.post(`${d.url}/m`, 'x', { httpsAgent: new https.Agent() }));
  t.is(untrusted.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  const f = await fetch(`${d.url}/m`).then(() => undefined, (e: Error) => e);
  t.is((f?.cause as { code?: string } | undefined)?.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  t.is(d.requests.length, 0);

  const agent = new https.Agent({ ca: fs.readFileSync(ca.caFile), keepAlive: true });
  t.teardown(() => agent.destroy());
  const a = await ax.post(`${d.url}/m`, 'To=%2B1', { httpsAgent: agent, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  t.is(a.status, 201);
  t.is(a.data.to, '+1');
  const b = await ax.post(`https://localhost:${d.port}/m`, 'y', { httpsAgent: agent });
  t.is(b.status, 201);
  const [r1, r2] = await d.waitForRequests(2);
  t.is(r1!.connectionId, 1); // the failed handshakes got no connection id
  t.not(r2!.connectionId, r1!.connectionId); // different host name → different pooled socket
});
