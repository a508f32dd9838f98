// The web page's HTTP side, without a browser: sign-in and its limits, the
// cookie's attributes, CSRF on every change, what needs a sign-in, the page
// off without a password, its headers and files, and websms web-password.
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { loadConfig } from '../src/config/load.js';
import { countSegments } from '../src/outbound/segments.js';
import { parsePasswordHash, verifyPassword } from '../src/web/password.js';
import { MAIN, startStack, until } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';
import { HOME, PASSWORD, startWebStack, type WebStack } from './helpers/web.js';

const ANNA = '+46701234567';

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

/** A client that keeps its cookies, as a browser would. */
function client(base: string, extraHeaders: Record<string, string> = {}) {
  const jar = new Map<string, string>();
  const call = async (method: string, p: string, o: { json?: unknown; headers?: Record<string, string>; raw?: string } = {}): Promise<Answer> => {
    const headers: Record<string, string> = { ...extraHeaders, ...o.headers };
    if (jar.size > 0) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined = o.raw;
    if (o.json !== undefined) {
      body = JSON.stringify(o.json);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(base + p, { method, headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [k, v] = pair!.split('=');
      if (v === '') jar.delete(k!);
      else jar.set(k!, v!);
    }
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: (res.headers.get('content-type') ?? '').startsWith('application/json') ? JSON.parse(text) : text };
  };
  return { jar, call };
}

async function signedIn(ws: WebStack, extra: Record<string, string> = {}) {
  const c = client(`${ws.api}/web/`, extra);
  const form = await c.call('GET', 'session');
  const r = await c.call('POST', 'session', { json: { password: PASSWORD }, headers: { 'x-csrf-token': form.body.csrf } });
  if (r.status !== 200) throw new Error(`sign-in: ${r.status} ${JSON.stringify(r.body)}`);
  return { ...c, csrf: r.body.csrf as string, signIn: r };
}

function count(ws: WebStack, table: string): number {
  const db = new Database(path.join(ws.dir, 'var', 'websms.db'), { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

test('a change without its CSRF token is refused and changes nothing; with it, the text is stored and sent', async (t) => {
  const ws = await startWebStack(t);
  const c = await signedIn(ws);
  const send = { to: ANNA, body: 'hello' };
  const none = await c.call('POST', 'texts', { json: send });
  t.is(none.status, 403);
  t.is(none.body.error.code, 'forbidden');
  const wrong = await c.call('POST', 'texts', { json: send, headers: { 'x-csrf-token': 'x'.repeat(43) } });
  t.is(wrong.status, 403);
  // A form post (what another site could make a browser send) never gets as far as the body.
  const form = await c.call('POST', 'texts', { raw: 'to=%2B46701234567&body=hello', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': c.csrf } });
  t.is(form.status, 415);
  for (const p of ['texts/out-1/retry', 'texts/out-1/cancel', 'read', 'session/end']) {
    t.is((await c.call('POST', p, { json: {} })).status, 403, p);
  }
  await new Promise((r) => setTimeout(r, 300));
  t.is(count(ws, 'outbound'), 0, 'nothing was stored');
  t.is(ws.itsp.requests.length, 0, 'nothing was sent');

  const ok = await c.call('POST', 'texts', { json: send, headers: { 'x-csrf-token': c.csrf } });
  t.is(ok.status, 201);
  t.like(ok.body.text, { id: 'out-1', to: ANNA, from: HOME, local: HOME, remote: ANNA, interface: 'home', state: 'queued' });
  await ws.itsp.waitForRequests(1);
  // Still signed in after all those refusals.
  t.is((await c.call('GET', 'conversations')).status, 200);
});

test('sign-in: the form token is required, a wrong password is 401, and the sixth attempt waits (429 with Retry-After) even with the right one', async (t) => {
  const ws = await startWebStack(t);
  const c = client(`${ws.api}/web/`);
  const form = await c.call('GET', 'session');
  t.like(form.body, { enabled: true, signedIn: false });
  t.is((await c.call('POST', 'session', { json: { password: PASSWORD } })).status, 403, 'no form token');
  const other = client(`${ws.api}/web/`);
  t.is((await other.call('POST', 'session', { json: { password: PASSWORD }, headers: { 'x-csrf-token': form.body.csrf } })).status, 403, 'a form token without its cookie');

  for (let i = 0; i < 5; i++) {
    const r = await c.call('POST', 'session', { json: { password: `wrong ${i}` }, headers: { 'x-csrf-token': form.body.csrf } });
    t.is(r.status, 401);
    t.is(r.body.error.reason, 'that is not the password');
  }
  const limited = await c.call('POST', 'session', { json: { password: PASSWORD }, headers: { 'x-csrf-token': form.body.csrf } });
  t.is(limited.status, 429);
  t.is(limited.body.error.code, 'rate_limited');
  t.true(Number(limited.headers.get('retry-after')) > 800);
  t.false(c.jar.has('websms_session'));
  t.true(ws.logs.some((l) => l.includes('sign-in refused, too many attempts')));
  t.false(ws.logs.some((l) => l.includes('wrong 0') || l.includes(PASSWORD)), 'passwords are never logged');
});

test('the session cookie: HttpOnly, SameSite=Strict, no Path (the page directory, whatever the prefix), Secure only behind TLS; a new id at each sign-in', async (t) => {
  const ws = await startWebStack(t);
  const plain = await signedIn(ws);
  const cookie = plain.signIn.headers.getSetCookie().find((c) => c.startsWith('websms_session='))!;
  t.regex(cookie, /^websms_session=[A-Za-z0-9_-]{43}; Max-Age=43200; HttpOnly; SameSite=Strict$/);

  const tls = await signedIn(ws, { 'x-forwarded-proto': 'https' });
  const secure = tls.signIn.headers.getSetCookie().find((c) => c.startsWith('websms_session='))!;
  t.regex(secure, /; HttpOnly; SameSite=Strict; Secure$/);
  t.not(tls.jar.get('websms_session'), plain.jar.get('websms_session'));

  // Signing out ends it on the server, not only in the browser.
  const id = plain.jar.get('websms_session')!;
  t.is((await plain.call('POST', 'session/end', { headers: { 'x-csrf-token': plain.csrf } })).status, 200);
  const replay = await fetch(`${ws.api}/web/conversations`, { headers: { cookie: `websms_session=${id}` } });
  t.is(replay.status, 401);
});

test('reading needs a sign-in: data, the event stream and pictures answer 401; the API keeps its bearer token and a page cookie does not open it', async (t) => {
  const ws = await startWebStack(t, { api: 'token = api-token-0123456789abcdef' });
  for (const p of ['conversations', 'thread?local=a&remote=b', 'queue', 'interfaces', 'search?q=x', 'events', 'media/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.png']) {
    const r = await fetch(`${ws.api}/web/${p}`);
    t.is(r.status, 401, p);
  }
  // The page itself needs no token, even with one set for the API.
  t.is((await fetch(`${ws.api}/web/`)).status, 200);
  const c = await signedIn(ws);
  t.is((await c.call('GET', 'conversations')).status, 200);
  const api = await fetch(`${ws.api}/api/texts`, { headers: { cookie: `websms_session=${c.jar.get('websms_session')}` } });
  t.is(api.status, 401);
});

test('the page is off without [web] password: it says how to turn it on, and no data is served', async (t) => {
  const s = await startStack();
  t.teardown(() => s.stop());
  const session = await fetch(`${s.api}/web/session`);
  t.deepEqual(await session.json(), { enabled: false, signedIn: false });
  const data = await fetch(`${s.api}/web/conversations`);
  t.is(data.status, 503);
  t.regex(((await data.json()) as any).error.reason, /set \[web\] password/);
  t.is((await fetch(`${s.api}/web/`)).status, 200);
});

test('the page and its files: a strict Content-Security-Policy, relative links only, redirects to the trailing slash, the segment counter the daemon uses', async (t) => {
  const ws = await startWebStack(t);
  const index = await fetch(ws.page);
  t.is(index.status, 200);
  t.is(index.headers.get('content-type'), 'text/html; charset=utf-8');
  t.regex(index.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'/);
  t.regex(index.headers.get('content-security-policy')!, /frame-ancestors 'none'/);
  t.is(index.headers.get('x-content-type-options'), 'nosniff');
  const html = await index.text();
  // Every src and href in the page is relative to it (a proxy may put it under any prefix).
  for (const [, url] of html.matchAll(/(?:src|href)="([^"]+)"/g)) t.false(/^(\/|[a-z]+:)/i.test(url!), url);
  const web = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
  for (const f of fs.readdirSync(web).filter((f) => f.endsWith('.js'))) {
    const js = fs.readFileSync(path.join(web, f), 'utf8');
    t.false(/(?:fetch|get|post|EventSource)\(\s*['"`]\//.test(js), `${f}: an absolute URL`);
    t.false(/https?:\/\//.test(js.replace(/\/\/.*$/gm, '')), `${f}: nothing from the network`);
  }

  const root = await fetch(`${ws.api}/`, { redirect: 'manual' });
  t.is(root.status, 302);
  t.is(root.headers.get('location'), 'web/');
  const bare = await fetch(`${ws.api}/web`, { redirect: 'manual' });
  t.is(bare.headers.get('location'), 'web/');

  // segments.js is src/outbound/segments.ts as compiled, served as a module: the page counts as the daemon does.
  const seg = await fetch(`${ws.page}segments.js`);
  t.is(seg.headers.get('content-type'), 'text/javascript; charset=utf-8');
  const source = await seg.text();
  t.false(source.includes('sourceMappingURL'));
  const served = (await import(`data:text/javascript;base64,${Buffer.from(source).toString('base64')}`)) as typeof import('../src/outbound/segments.js');
  for (const body of ['hello', 'a'.repeat(161), 'Grüße 👋', '{[€]}'.repeat(40)]) t.deepEqual(served.countSegments(body), countSegments(body), body);

  const etag = seg.headers.get('etag')!;
  t.is((await fetch(`${ws.page}segments.js`, { headers: { 'if-none-match': etag } })).status, 304);
  t.is((await fetch(`${ws.page}nothing.js`)).status, 404);
});

test('conversations, a thread, the queue and search as the page reads them; a reply goes through the interface the conversation used', async (t) => {
  const ws = await startWebStack(t);
  await ws.textIn(ANNA, HOME, 'one');
  await ws.textIn(ANNA, HOME, 'two');
  await ws.textIn('+46739876543', '+46855501234', 'to the office');
  const c = await signedIn(ws);

  const list = await c.call('GET', 'conversations');
  t.deepEqual(list.body.conversations.map((x: any) => [x.local, x.remote, x.unread, x.last.body]), [
    ['+46855501234', '+46739876543', 1, 'to the office'],
    [HOME, ANNA, 2, 'two'],
  ]);
  const one = await c.call('GET', 'conversations?limit=1');
  t.is(one.body.conversations.length, 1);
  const rest = await c.call('GET', `conversations?limit=1&cursor=${one.body.next}`);
  t.is(rest.body.conversations[0].remote, ANNA);
  t.is(rest.body.next, null);
  t.deepEqual((await c.call('GET', `conversations?number=${encodeURIComponent(HOME)}`)).body.conversations.length, 1);

  const session = await c.call('GET', 'session');
  t.deepEqual(session.body.numbers.map((n: any) => [n.number, n.unread, n.interface]), [[HOME, 2, 'home'], ['+46855501234', 1, 'office']]);

  const thread = await c.call('GET', `thread?local=${encodeURIComponent(HOME)}&remote=${encodeURIComponent(ANNA)}&limit=1`);
  t.deepEqual(thread.body.texts.map((x: any) => x.body), ['two']);
  const older = await c.call('GET', `thread?local=${encodeURIComponent(HOME)}&remote=${encodeURIComponent(ANNA)}&limit=1&cursor=${thread.body.next}`);
  t.deepEqual(older.body.texts.map((x: any) => x.body), ['one']);

  const read = await c.call('POST', 'read', { json: { local: HOME, remote: ANNA, through: 'in-1' }, headers: { 'x-csrf-token': c.csrf } });
  t.deepEqual(read.body, { unread: 1 });
  // A marker never moves back, nor beyond the newest text.
  t.deepEqual((await c.call('POST', 'read', { json: { local: HOME, remote: ANNA, through: 'in-99' }, headers: { 'x-csrf-token': c.csrf } })).body, { unread: 0 });
  t.deepEqual((await c.call('POST', 'read', { json: { local: HOME, remote: ANNA, through: 'in-1' }, headers: { 'x-csrf-token': c.csrf } })).body, { unread: 0 });
  t.is((await c.call('POST', 'read', { json: { local: HOME, remote: ANNA, through: 'out-1' }, headers: { 'x-csrf-token': c.csrf } })).status, 400);

  // Search by number (as dialled) and by words.
  t.deepEqual((await c.call('GET', 'search?number=070-123%2045%2067')).body.texts.map((x: any) => x.body), ['two', 'one']);
  t.deepEqual((await c.call('GET', 'search?q=OFFICE')).body.texts.map((x: any) => x.body), ['to the office']);
  const badNumber = await c.call('GET', 'search?number=abc');
  t.is(badNumber.status, 400);
  t.regex(badNumber.body.error.reason, /^number: not a valid number/);

  // A reply from the office number goes through [office], as the conversation did.
  const reply = await c.call('POST', 'texts', { json: { to: '+46739876543', from: '+46855501234', body: 'yes?' }, headers: { 'x-csrf-token': c.csrf } });
  t.is(reply.status, 201);
  t.is(reply.body.text.interface, 'office');
  const refused = await c.call('POST', 'texts', { json: { to: 'nobody', body: 'x' }, headers: { 'x-csrf-token': c.csrf } });
  t.is(refused.status, 422);
  t.is(refused.body.error.code, 'invalid_number');

  // Inbound texts wait for a phone (none is registered): the queue shows them.
  await until(() => count(ws, `inbound WHERE state = 'undeliverable'`) + count(ws, `inbound WHERE state = 'waiting'`) === 3, 10_000, 'delivery tried');
  const failed = await c.call('GET', 'queue?which=failed');
  t.is(failed.status, 200);
  t.is((await c.call('GET', 'queue?which=everything')).status, 400);
});

test('a new password on reload ends the sessions opened with the old one', async (t) => {
  const ws = await startWebStack(t);
  const c = await signedIn(ws);
  t.is((await c.call('GET', 'conversations')).status, 200);
  const file = path.join(ws.dir, 'websms.conf');
  const { hashPassword } = await import('../src/web/password.js');
  const text = fs.readFileSync(file, 'utf8').replace(/^password = .*$/m, `password = ${await hashPassword('another password', { ln: 10 })}`);
  fs.writeFileSync(file, text);
  const r = await ws.daemon.reload(loadConfig({ file, env: {}, explicit: true }));
  t.true(r.applied.includes('[web] password'));
  t.is((await c.call('GET', 'conversations')).status, 401);
});

test('the event stream: a change event when a text comes in, ended at stop without holding it up', async (t) => {
  const ws = await startWebStack(t);
  const c = await signedIn(ws);
  const ac = new AbortController();
  const res = await fetch(`${ws.api}/web/events`, { headers: { cookie: `websms_session=${c.jar.get('websms_session')}` }, signal: ac.signal });
  t.is(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = res.body!.getReader();
  let seen = '';
  const read = async (want: RegExp): Promise<void> => {
    while (!want.test(seen)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended: ${seen}`);
      seen += Buffer.from(value).toString('utf8');
    }
  };
  await read(/^retry: 3000\n\n/);
  await ws.textIn(ANNA, HOME, 'ping');
  await read(/event: change\ndata: \{"at":"[^"]+"\}\n\n/);
  const started = Date.now();
  await ws.stop();
  t.true(Date.now() - started < 1900, `stop took ${Date.now() - started} ms`);
  ac.abort();
});

test('websms web-password prints a scrypt hash that checks the password, and [web] password refuses anything else without quoting it', async (t) => {
  const run = (args: string[], input: string) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [MAIN, 'web-password', ...args], { env: { PATH: process.env.PATH }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      p.on('close', (code) => resolve({ code, stdout, stderr }));
      p.stdin.end(input);
    });
  const r = await run([], 'a long secret phrase\n');
  t.is(r.code, 0, r.stderr);
  const hash = r.stdout.trim();
  t.regex(hash, /^scrypt:15:8:1:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]{43}$/);
  const parsed = parsePasswordHash(hash);
  t.true(parsed.ok);
  if (parsed.ok) {
    t.true(await verifyPassword('a long secret phrase', parsed.value));
    t.false(await verifyPassword('a long secret phrase ', parsed.value));
  }
  const json = await run(['--json'], 'another phrase');
  t.regex((JSON.parse(json.stdout) as { hash: string }).hash, /^scrypt:/);
  const short = await run([], 'short');
  t.is(short.code, 65);
  t.regex(short.stderr, /at least 8 characters/);
  const help = await run(['--help'], '');
  t.is(help.code, 0);
  t.regex(help.stdout, /WEBSMS_WEB_PASSWORD/);

  const dir = tempDir();
  const file = path.join(dir, 'websms.conf');
  fs.writeFileSync(file, '[web]\npassword = hunter2-plain\n');
  const err = t.throws(() => loadConfig({ file, env: {}, explicit: true }));
  t.regex(err!.message, /\[web\] password: is not a password hash made by "websms web-password"/);
  t.false(err!.message.includes('hunter2'));
  // From the environment, as the secrets file gives it.
  const c = loadConfig({ file: path.join(dir, 'none.conf'), env: { WEBSMS_WEB_PASSWORD: hash }, explicit: false });
  t.is(c.web.password, hash);
});

test('the start-up line says where the page is; a page off loopback is warned about', async (t) => {
  const ws = await startWebStack(t);
  const line = ws.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => String(r.msg).startsWith('websms started:'))!;
  t.is(line.page, `${ws.api}/web/`);
  t.regex(String(line.msg), new RegExp(`; the web page on ${ws.api}/web/; sending through home, office$`));

  const { configWarnings } = await import('../src/config/warnings.js');
  const dir = tempDir();
  const file = path.join(dir, 'websms.conf');
  const hash = (await import('../src/web/password.js')).hashPassword('a long secret phrase', { ln: 10 });
  fs.writeFileSync(file, `[api]\nlisten = 0.0.0.0:8081\ntoken = api-token-0123456789abcdef\n[web]\npassword = ${await hash}\n`);
  const codes = configWarnings(loadConfig({ file, env: {}, explicit: true })).map((w) => w.code);
  t.true(codes.includes('web_off_loopback'));
  fs.writeFileSync(file, `[web]\npassword = ${await hash}\n`);
  t.false(configWarnings(loadConfig({ file, env: {}, explicit: true })).map((w) => w.code).includes('web_off_loopback'));
});

test('a text waiting to go out is cancelled from the page: never sent again, and a finished one cannot be', async (t) => {
  const ws = await startWebStack(t, { itsp: { status: 503, body: { message: 'Service Unavailable' } }, outbound: 'retry_min = 10m\nretry_max = 20m\nmax_attempts = 5\nnotify = none' });
  const c = await signedIn(ws);
  const sent = await c.call('POST', 'texts', { json: { to: ANNA, body: 'later' }, headers: { 'x-csrf-token': c.csrf } });
  t.is(sent.status, 201);
  await ws.itsp.waitForRequests(1);
  await until(() => count(ws, `outbound WHERE state = 'queued' AND attempts = 1`) === 1, 5000, 'the first attempt recorded');
  const waiting = await c.call('GET', 'queue?which=waiting&interface=home');
  t.like(waiting.body.texts[0], { id: 'out-1', state: 'queued', interface: 'home', attempts: 1 });
  t.is((await c.call('GET', 'queue?which=waiting&interface=office')).body.texts.length, 0);

  const cancel = await c.call('POST', 'texts/out-1/cancel', { headers: { 'x-csrf-token': c.csrf } });
  t.is(cancel.status, 200);
  t.is(cancel.body.text.state, 'cancelled');
  const again = await c.call('POST', 'texts/out-1/cancel', { headers: { 'x-csrf-token': c.csrf } });
  t.is(again.status, 409);
  t.regex(again.body.error.reason, /out-1 is cancelled; only a queued or waiting text can be cancelled/);
  t.is((await c.call('POST', 'texts/out-99/retry', { headers: { 'x-csrf-token': c.csrf } })).status, 404);
  t.is((await c.call('GET', 'queue?which=waiting')).body.texts.length, 0);
  t.is(ws.itsp.requests.length, 1);
});
