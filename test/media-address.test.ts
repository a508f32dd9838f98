// Media URLs come from whoever posts a webhook: websms fetches them only from
// public addresses unless [media] fetch_allow lists others, checked on the
// address it connects to (IP literals, names that resolve to loopback,
// redirects). A real daemon, a real media server on loopback that must see no
// request it was not allowed to get.

import test from 'ava';
import Database from 'better-sqlite3';
import path from 'node:path';
import { isPublicAddress } from '../src/media/address.js';
import { pictureBytes, startMediaServer, type MediaServer } from './doubles/media-server.js';
import { startStack, until, type Stack } from './helpers/stack.js';

const ALICE = '+46812345678';
const SENDER = '+46701234567';
const TOKEN = 'tok_media_address_0123456789';

test('public and not public: loopback, private, link-local, CGNAT, documentation, multicast, and IPv4 inside IPv6', (t) => {
  for (const ip of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '64:ff9b::808:808', '::ffff:8.8.8.8', '[2a00:1450:4001:80b::200e]']) t.true(isPublicAddress(ip), ip);
  for (const ip of [
    '127.0.0.1', '127.1.2.3', '0.0.0.0', '10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1',
    '192.0.2.1', '198.18.0.1', '224.0.0.1', '255.255.255.255', '::', '::1', '[::1]', '::ffff:127.0.0.1', '::ffff:7f00:1', '64:ff9b::7f00:1',
    '64:ff9b::a00:1', 'fe80::1', 'fe80::1%eth0', 'fc00::1', 'fd12:3456::1', 'ff02::1', '2001:db8::1', '2002:7f00:1::1', 'localhost', 'not an address',
  ]) {
    t.false(isPublicAddress(ip), ip);
  }
});

interface MediaItem {
  url: string;
  state: string;
  reason: string | null;
}

function mediaRows(dir: string): MediaItem[] {
  const db = new Database(path.join(dir, 'var', 'websms.db'), { readonly: true });
  try {
    return db.prepare('SELECT url, state, reason FROM media ORDER BY id').all() as MediaItem[];
  } finally {
    db.close();
  }
}

async function stack(t: { teardown(fn: () => Promise<void>): void }, fetchAllow: string): Promise<{ s: Stack; server: MediaServer }> {
  const server = await startMediaServer();
  t.teardown(() => server.stop());
  const s = await startStack({
    general: `default_interface = elks\n[media]\npublic_url = https://sms.example.org/media\nretry_min = 20ms\nretry_max = 50ms\nfetch_timeout = 2s\n${fetchAllow}`,
    interfaces: `[elks]\nprovider = 46elks\naccount = u0123456789\nsecret = elks-secret-0123\ntoken = ${TOKEN}\nallow = 127.0.0.1/32\n`,
  });
  t.teardown(() => s.stop());
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  server.set('/a.jpg', { body: pictureBytes() });
  return { s, server };
}

/** 46elks posts an MMS as a form with the picture's URL; it does not sign, the URL token is the check. */
async function mms(s: Stack, image: string, id: string): Promise<void> {
  const r = await s.post(`/sms/in/elks/${TOKEN}`, { from: SENDER, to: ALICE, message: `picture ${id}`, image, id });
  if (r.status !== 200) throw new Error(`${r.status} ${r.text}`);
}

test('by default a media URL on loopback or a private network is never requested: the item fails with the reason, the text goes on with a note', async (t) => {
  const { s, server } = await stack(t, '');
  const port = new URL(server.url).port;
  const urls = [
    `${server.url}/a.jpg`,
    `http://localhost:${port}/a.jpg`,
    `http://[::ffff:127.0.0.1]:${port}/a.jpg`,
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://10.255.255.1/a.jpg',
  ];
  for (const [i, u] of urls.entries()) await mms(s, u, `m${i}`);
  const items = await until(() => {
    const rows = mediaRows(s.dir);
    return rows.length === urls.length && rows.every((r) => r.state === 'failed') && rows;
  }, 10_000, 'every item to fail');
  for (const item of items) t.regex(item.reason ?? '', /is not a public one: websms fetches media only from public addresses unless \[media\] fetch_allow lists it/, item.url);
  t.is(server.requests.length, 0, 'the media server got no request');
  const d = await s.ami.waitForDelivery((x) => x.body.toString().startsWith('picture m0'), 5000);
  t.regex(d.body.toString(), /^picture m0\n\w+: could not be fetched$/);
  t.false(s.logs.some((l) => l.includes('/latest/meta-data/')), 'the URL is in no log line');
});

test('[media] fetch_allow lets a private address through; a redirect from there to an address it does not list is refused', async (t) => {
  const { s, server } = await stack(t, 'fetch_allow = 127.0.0.1/32');
  const port = new URL(server.url).port;
  server.set('/away.jpg', { redirect: `http://127.0.0.2:${port}/a.jpg` });
  await mms(s, `${server.url}/a.jpg`, 'ok');
  await mms(s, `${server.url}/away.jpg`, 'away');
  const items = await until(() => {
    const rows = mediaRows(s.dir);
    return rows.length === 2 && rows.every((r) => r.state !== 'pending') && rows;
  }, 10_000, 'both items to settle');
  t.is(items[0]!.state, 'stored');
  t.is(items[1]!.state, 'failed');
  t.regex(items[1]!.reason ?? '', /127\.0\.0\.2 is not a public one/);
  t.is(server.hits('/a.jpg'), 1, 'fetched once, from the allowed address only');
});
