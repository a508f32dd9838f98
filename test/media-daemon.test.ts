// Media end to end in a real daemon: a text stored with media refs (as the
// webhook handler will pass them) reaches the phone through the AMI double
// with a link; the link is served by the webhook listener with safe headers;
// a text is never held back longer than [media] max_hold; retention and purge
// take the files away.
import test, { type ExecutionContext } from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import twilioSdk from 'twilio';
import type { MediaRef } from '../providers/types.js';
import { loadConfig } from '../src/config/load.js';
import { configWarnings } from '../src/config/warnings.js';
import { ConfigError } from '../src/errors.js';
import { pictureBytes, startMediaServer, type MediaServer } from './doubles/media-server.js';
import { startStack, until, type Stack } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const ALICE = '+46812345678';
const SENDER = '+46701234567';
const DAY = 86_400_000;

async function stack(t: ExecutionContext, media = ''): Promise<Stack & { server: MediaServer; send(body: string, refs?: MediaRef[]): Promise<number> }> {
  const server = await startMediaServer();
  const s = await startStack({
    general: `[media]\npublic_url = https://sms.example.org/media\nfetch_allow = 127.0.0.1/32\nretry_min = 20ms\nretry_max = 50ms\n${media}`,
  });
  t.teardown(async () => {
    await s.stop();
    await server.stop();
  });
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  const send = async (body: string, refs?: MediaRef[]): Promise<number> =>
    (await s.daemon.store.enqueue({ interface: 'default', providerId: undefined, sender: SENDER, recipient: ALICE, body, parts: 1, media: refs })).id;
  return { ...s, server, send };
}

const linkIn = (body: string): string => /https:\/\/sms\.example\.org(\/media\/[A-Za-z0-9_-]{32}\.jpg)/.exec(body)![1]!;

test('a picture reaches the phone as a link, and the link serves it with safe headers', async (t) => {
  const s = await stack(t);
  const bytes = pictureBytes(3000, 5);
  s.server.set('/pic', { body: bytes });
  const id = await s.send('hello', [{ url: `${s.server.url}/pic`, contentType: 'image/jpeg' }]);
  const d = await s.ami.waitForDelivery(() => true, 15_000);
  const body = d.body.toString('utf8');
  t.regex(body, /^hello\nPicture: https:\/\/sms\.example\.org\/media\/[A-Za-z0-9_-]{32}\.jpg$/);
  await until(() => s.daemon.store.get(id)?.state === 'delivered');

  const link = `${s.url}${linkIn(body)}`;
  const r = await fetch(link);
  t.is(r.status, 200);
  t.deepEqual(Buffer.from(await r.arrayBuffer()), bytes);
  t.is(r.headers.get('content-type'), 'image/jpeg');
  t.is(r.headers.get('content-length'), String(bytes.length));
  t.is(r.headers.get('x-content-type-options'), 'nosniff');
  t.is(r.headers.get('content-security-policy'), "default-src 'none'; sandbox");
  t.is(r.headers.get('content-disposition'), 'inline; filename="picture.jpg"');
  t.is(r.headers.get('referrer-policy'), 'no-referrer');

  const head = await fetch(link, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(head.headers.get('content-length'), String(bytes.length));
  t.is((await head.arrayBuffer()).byteLength, 0);

  const part = await fetch(link, { headers: { range: 'bytes=10-19' } });
  t.is(part.status, 206);
  t.is(part.headers.get('content-range'), `bytes 10-19/${bytes.length}`);
  t.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(10, 20));
  const tail = await fetch(link, { headers: { range: 'bytes=-5' } });
  t.deepEqual(Buffer.from(await tail.arrayBuffer()), bytes.subarray(bytes.length - 5));
  const beyond = await fetch(link, { headers: { range: `bytes=${bytes.length}-` } });
  t.is(beyond.status, 416);
  t.is(beyond.headers.get('content-range'), `bytes */${bytes.length}`);

  // The token is the key: without the extension it works, any other name is one 404.
  t.is((await fetch(link.replace(/\.jpg$/, ''))).status, 200);
  const other = await fetch(`${s.url}/media/${crypto.randomBytes(24).toString('base64url')}.jpg`);
  t.is(other.status, 404);
  t.is(other.headers.get('x-content-type-options'), 'nosniff');
  t.regex(await other.text(), /^no such media/);
  t.is((await fetch(`${s.url}/media/short`)).status, 404);
  t.is((await fetch(`${s.url}/media/../websms.db`)).status, 404);
  const post = await fetch(link, { method: 'POST', body: 'x' });
  t.is(post.status, 405);
  t.is(post.headers.get('allow'), 'GET, HEAD');

  // Webhooks are not in its way.
  t.is((await s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: 'plain text' })).status, 200);
  t.false(s.logs.some((l) => l.includes(linkIn(body).slice(7, 39))), 'tokens are not logged');
});

test('only allowlisted types are served, whatever the database says', async (t) => {
  const s = await stack(t);
  s.server.set('/pic', {});
  const id = await s.send('', [{ url: `${s.server.url}/pic` }]);
  const d = await s.ami.waitForDelivery(() => true, 15_000);
  const link = `${s.url}${linkIn(d.body.toString('utf8'))}`;
  t.is((await fetch(link)).status, 200);
  const db = new Database(path.join(s.dir, 'var', 'websms.db'));
  db.prepare(`UPDATE media SET content_type = 'text/html' WHERE inbound_id = ?`).run(id);
  db.close();
  const r = await fetch(link);
  t.is(r.status, 404);
  t.is(r.headers.get('content-type'), 'text/plain; charset=utf-8');
});

test('a text is held for its media at most max_hold, then delivered with a note; the next text of the conversation follows it', async (t) => {
  const s = await stack(t, 'max_hold = 1s\nfetch_timeout = 60s');
  // About 20 s to send: far beyond the hold time.
  s.server.set('/slow', { body: pictureBytes(4000), trickleMs: 100, chunk: 20 });
  const first = await s.send('first, with a picture', [{ url: `${s.server.url}/slow`, contentType: 'image/jpeg' }]);
  const second = await s.send('second, words only');
  const d = await s.ami.waitForDelivery(() => true, 15_000);
  t.is(d.body.toString('utf8'), 'first, with a picture\nPicture: could not be fetched');
  const next = await s.ami.waitForDelivery((x) => x.body.toString('utf8') === 'second, words only', 15_000);
  t.truthy(next);
  t.deepEqual(s.ami.deliveries.map((x) => x.body.toString('utf8').split('\n')[0]), ['first, with a picture', 'second, words only'], 'in the order they came');
  await until(() => s.daemon.store.get(first)?.state === 'delivered' && s.daemon.store.get(second)?.state === 'delivered');
  const events = await (await fetch(`${s.api}/api/texts/in-${first}`)).json() as { events: { kind: string; detail: string }[] };
  t.regex(events.events.find((e) => e.kind === 'media')!.detail, /^0 of 1 media fetched; not fetched: not fetched within \[media\] max_hold \(1s\)/);
});

test('retention removes media past [media] retention; purge and the sweep take the files of purged texts', async (t) => {
  const s = await stack(t);
  s.server.set('/a', {});
  s.server.set('/b', { body: pictureBytes(500, 9) });
  await s.send('one', [{ url: `${s.server.url}/a` }]);
  const d1 = await s.ami.waitForDelivery(() => true, 15_000);
  const link = `${s.url}${linkIn(d1.body.toString('utf8'))}`;
  const dir = path.join(s.dir, 'var', 'media');
  t.is(fs.readdirSync(dir).length, 1);
  t.deepEqual(s.daemon.jobs.retain(Date.now()), { inbound: 0, outbound: 0, media: 0 }, 'nothing is old yet');
  t.is((await fetch(link)).status, 200);
  t.deepEqual(s.daemon.jobs.retain(Date.now() + 31 * DAY), { inbound: 0, outbound: 0, media: 1 });
  t.is((await fetch(link)).status, 404);
  t.deepEqual(fs.readdirSync(dir), []);

  const id2 = await s.send('two', [{ url: `${s.server.url}/b` }]);
  await until(() => s.daemon.store.get(id2)?.state === 'delivered', 15_000);
  t.is(fs.readdirSync(dir).length, 1);
  const purged = await fetch(`${s.api}/api/purge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ before: new Date(Date.now() + 1000).toISOString() }) });
  t.is(purged.status, 200);
  const db = new Database(path.join(s.dir, 'var', 'websms.db'), { readonly: true });
  t.is((db.prepare('SELECT COUNT(*) AS n FROM media WHERE inbound_id = ?').get(id2) as { n: number }).n, 0, 'the media rows went with the text');
  db.close();
  // A stray file is only swept once it is an hour old (a fetch may be writing it).
  t.is(s.daemon.jobs.retain(Date.now()).media, 0);
  t.is(s.daemon.jobs.retain(Date.now() + 2 * 3_600_000).media, 1);
  t.deepEqual(fs.readdirSync(dir), []);
});

// ---- through a provider's webhook -----------------------------------------------

test('Twilio MMS end to end: a signed webhook with a picture behind the account\'s credentials reaches the phone as a link', async (t) => {
  const SID = 'AC0123456789abcdef0123456789abcdef';
  const TOKEN = 'tw-auth-token-0123456789abcdef';
  const PUBLIC = 'https://sms.example.org/sms/in/tw';
  // The API host (api_url) keeps the media behind the account's credentials and redirects to a CDN, as Twilio does.
  const api = await startMediaServer();
  const cdn = await startMediaServer();
  const bytes = pictureBytes(4000, 3);
  const mediaPath = `/2010-04-01/Accounts/${SID}/Messages/MM1/Media/ME1`;
  api.set(mediaPath, { basic: { username: SID, password: TOKEN }, redirect: `${cdn.url}/signed/ME1?Expires=1` });
  cdn.set('/signed/ME1', { body: bytes, type: 'image/jpeg' });
  const s = await startStack({
    general: 'trusted_proxies = 127.0.0.1/32\n[media]\npublic_url = https://sms.example.org/media\nfetch_allow = 127.0.0.1/32',
    interfaces: `[tw]\nprovider = twilio\naccount = ${SID}\nsecret = ${TOKEN}\napi_url = ${api.url}\npublic_url = ${PUBLIC}\n`,
  });
  t.teardown(async () => {
    await s.stop();
    await api.stop();
    await cdn.stop();
  });
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  const params = {
    AccountSid: SID,
    Body: '',
    From: SENDER,
    To: ALICE,
    MessageSid: 'MM1',
    NumMedia: '1',
    MediaUrl0: `${api.url}${mediaPath}`,
    MediaContentType0: 'image/jpeg',
  };
  const r = await s.post('/sms/in/tw', params, { 'x-twilio-signature': twilioSdk.getExpectedTwilioSignature(TOKEN, PUBLIC, params) });
  t.is(r.status, 200, r.text);
  const d = await s.ami.waitForDelivery(() => true, 15_000);
  const body = d.body.toString('utf8');
  t.regex(body, /^Picture: https:\/\/sms\.example\.org\/media\/[A-Za-z0-9_-]{32}\.jpg$/, 'a picture without words is just its link');
  t.is(api.requests[0]!.authorization, `Basic ${Buffer.from(`${SID}:${TOKEN}`).toString('base64')}`);
  t.is(cdn.requests[0]!.authorization, undefined, 'the CDN never sees the credentials');
  const served = await fetch(`${s.url}${linkIn(body)}`);
  t.deepEqual(Buffer.from(await served.arrayBuffer()), bytes);
  t.false(s.logs.some((l) => l.includes(TOKEN)), 'the auth token is never logged');
});

// ---- configuration ---------------------------------------------------------

function load(body: string): ConfigError | undefined {
  const file = path.join(tempDir(), 'websms.conf');
  fs.writeFileSync(file, body);
  try {
    loadConfig({ file, env: {}, explicit: true });
    return undefined;
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
}

test('[media]: a path apart from every webhook, servable types only, a base URL a token can follow', (t) => {
  const problems = (body: string): string[] => load(body)?.problems.map((p) => p.replace(/^.*?websms\.conf:/, '')) ?? [];
  t.deepEqual(problems('[media]\npath = /sms/in\n[itsp]\npath = /sms/in/itsp\n'), ['2: [media] path: "/sms/in" overlaps the path "/sms/in/itsp" of [itsp]; choose another']);
  t.deepEqual(problems('[media]\npath = /sms/status/itsp\n[itsp]\n'), ['2: [media] path: "/sms/status/itsp" overlaps the status_path "/sms/status/itsp" of [itsp]; choose another']);
  t.deepEqual(problems('[media]\npath = /\n'), ['2: [media] path: must not be "/": the media would hide every webhook']);
  t.deepEqual(problems('[media]\ntypes = image/jpeg, image/svg+xml\n'), ['2: [media] types: "image/svg+xml" can carry scripts; it is never served']);
  t.deepEqual(problems('[media]\ntypes = text/html\n'), ['2: [media] types: "text/html" is not an image/, audio/ or video/ type (lower case, without parameters)']);
  t.deepEqual(problems('[media]\npublic_url = https://x.example/m?a=1\n'), ['2: [media] public_url: "https://x.example/m?a=1" must not have a query (?) or fragment (#): a token is appended to it']);
  t.deepEqual(problems('[media]\npublic_url = ftp://x.example/m\n'), ['2: [media] public_url: "ftp://x.example/m" is not an http:// or https:// URL']);
  t.deepEqual(problems('[media]\nretry_min = 1m\nretry_max = 10s\n'), ['2: [media] retry_min must not be longer than retry_max']);
  t.deepEqual(problems('[media]\nmax_hold = 2d\n'), ['2: [media] max_hold: "2d" is out of range (1s to 1d)']);
  t.deepEqual(problems('[media]\npath = /pics\npublic_url = https://sms.example.org/pics\ndirectory = /srv/m\n[itsp]\n'), []);
});

test('a warning when an interface of a named provider may get pictures and [media] public_url is not set', (t) => {
  const file = path.join(tempDir(), 'websms.conf');
  fs.writeFileSync(file, '[general]\ncountry_code = 46\n[itsp]\n');
  const config = loadConfig({ file, env: {}, explicit: true });
  const codes = (c: typeof config): string[] => configWarnings(c).map((w) => w.code);
  t.false(codes(config).includes('media_links_off'), 'generic interfaces: no warning');
  // Named profiles come with another branch; the warning only looks at the name.
  const named = { ...config, interfaces: [{ ...config.interfaces[0]!, provider: 'twilio' }] };
  const w = configWarnings(named).find((x) => x.code === 'media_links_off');
  t.regex(w!.message, /^\[media\] public_url is not set: pictures \(MMS\) that come to \[itsp\] are not fetched/);
  t.false(codes({ ...named, media: { ...named.media, publicUrl: 'https://sms.example.org/media' } }).includes('media_links_off'));
});
