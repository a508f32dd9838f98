// Media of inbound texts (MMS): the refs stored with the text, fetched from a
// loopback server that also misbehaves (slow, oversized, wrong type, failing,
// wanting credentials), kept in private files, and the text settled with a
// link or a note per item. Real SQLite files, real sockets.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import type { MediaRef } from '../providers/types.js';
import { loadConfig } from '../src/config/load.js';
import type { Config } from '../src/config/types.js';
import { createLogger } from '../src/log.js';
import { createMediaStore, type MediaRow } from '../src/media/store.js';
import { createMediaWorker, type MediaWorker } from '../src/media/worker.js';
import { createEventLog } from '../src/store/events.js';
import { openDatabase, type Db } from '../src/store/db.js';
import { createInboundStore, type InboundStore } from '../src/store/inbound.js';
import { pictureBytes, startMediaServer, type MediaServer } from './doubles/media-server.js';
import { merge, until } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const ALICE = '+46812345678';
const SENDER = '+46701234567';

interface Setup {
  dir: string;
  db: Db;
  config: Config;
  store: InboundStore;
  media: ReturnType<typeof createMediaStore>;
  worker: MediaWorker;
  server: MediaServer;
  ready: number[];
  logs: string[];
  send(body: string, refs: MediaRef[], providerId?: string): Promise<number>;
  /** Waits until the text's media are settled; returns its row and items. */
  settled(id: number): Promise<{ note: string; items: MediaRow[] }>;
}

async function setup(t: ExecutionContext, o: { media?: string; iface?: string; start?: boolean; now?: () => number } = {}): Promise<Setup> {
  const dir = tempDir();
  const server = await startMediaServer();
  const file = path.join(dir, 'websms.conf');
  fs.writeFileSync(
    file,
    `[general]\ndatabase = ${path.join(dir, 'var', 'websms.db')}\n\n[media]\n` +
      `${merge('public_url = https://sms.example.org/media/\nfetch_allow = 127.0.0.1/32\nretry_min = 20ms\nretry_max = 50ms\nfetch_timeout = 2s', o.media ?? '')}\n\n${o.iface ?? '[default]\n'}`,
  );
  const config = loadConfig({ file, env: {}, explicit: true });
  const db = openDatabase(config.general.database);
  const logs: string[] = [];
  const log = createLogger('debug', {}, (l) => logs.push(l));
  const ready: number[] = [];
  let worker: MediaWorker | undefined;
  const store = createInboundStore(db, { dedupWindowMs: 120_000, mediaHoldMs: () => config.media.maxHoldMs, onMedia: () => worker?.kick() });
  const media = createMediaStore(db);
  worker = createMediaWorker({ db, store, media, config: () => config, log, onReady: (id) => ready.push(id), now: o.now });
  if (o.start !== false) worker.start();
  t.teardown(async () => {
    await worker!.stop();
    db.close();
    await server.stop();
  });
  return {
    dir,
    db,
    config,
    store,
    media,
    worker,
    server,
    ready,
    logs,
    send: async (body, refs, providerId) =>
      (await store.enqueue({ interface: config.interfaces[0]!.name, providerId, sender: SENDER, recipient: ALICE, body, parts: 1, media: refs })).id,
    async settled(id) {
      const row = await until(() => {
        const r = store.get(id);
        return r && r.media_due === null ? r : undefined;
      }, 15_000, `the media of text ${id} to settle`);
      return { note: row.media_note ?? '', items: media.itemsOf(id) };
    },
  };
}

const LINK = /^Picture: https:\/\/sms\.example\.org\/media\/([A-Za-z0-9_-]{32})\.jpg$/;

// ---- the store -------------------------------------------------------------

test('media refs are committed with their text; the text is not due before they are settled or its hold time is over', async (t) => {
  const s = await setup(t, { start: false });
  const before = Date.now();
  const id = await s.send('look at this', [
    { url: `${s.server.url}/a.jpg`, contentType: 'image/jpeg' },
    { url: `${s.server.url}/b.png`, auth: 'basic' },
  ]);
  // Answered means committed: the refs are there, on disk, as the enqueue resolves.
  const items = s.media.itemsOf(id);
  t.deepEqual(
    items.map((m) => [m.seq, m.url, m.announced_type, m.auth, m.state]),
    [
      [1, `${s.server.url}/a.jpg`, 'image/jpeg', 'none', 'pending'],
      [2, `${s.server.url}/b.png`, null, 'basic', 'pending'],
    ],
  );
  const row = s.store.get(id)!;
  t.true(row.media_due! >= before + s.config.media.maxHoldMs);
  t.is(row.next_attempt_at, row.media_due!);
  t.is(row.media_note, null);
  t.deepEqual(s.store.claimDue(Date.now(), 10), [], 'not due while its media are pending');
  // A later text of the same conversation waits behind it: the order on the phone stays.
  const later = (await s.store.enqueue({ interface: 'default', providerId: undefined, sender: SENDER, recipient: ALICE, body: 'and this', parts: 1 })).id;
  t.is(s.store.get(later)!.media_due, null, 'a text without media has no hold');
  t.deepEqual(s.store.claimDue(Date.now(), 10), []);
  // Its hold time over, the text is taken.
  const taken = s.store.claimDue(row.media_due! + 1, 10);
  t.deepEqual(taken.map((r) => r.id), [id]);
});

test('duplicate detection tells media-only texts apart by their media, and a duplicate adds no refs', async (t) => {
  const s = await setup(t, { start: false });
  const a = await s.send('', [{ url: `${s.server.url}/one.jpg` }]);
  const b = await s.send('', [{ url: `${s.server.url}/two.jpg` }]);
  t.not(a, b, 'two different pictures without words are two texts');
  const again = await s.store.enqueue({ interface: 'default', providerId: undefined, sender: SENDER, recipient: ALICE, body: '', parts: 1, media: [{ url: `${s.server.url}/one.jpg` }] });
  t.true(again.duplicate);
  t.is(again.id, a);
  const byId = await s.send('x', [{ url: `${s.server.url}/p.jpg` }], 'MM1');
  const repeat = await s.store.enqueue({ interface: 'default', providerId: 'MM1', sender: SENDER, recipient: ALICE, body: 'x', parts: 1, media: [{ url: `${s.server.url}/p.jpg` }] });
  t.deepEqual(repeat, { id: byId, duplicate: true });
  t.is((s.db.prepare('SELECT COUNT(*) AS n FROM media').get() as { n: number }).n, 3);
});

// ---- fetching --------------------------------------------------------------

test('a picture is fetched into a private file and linked; the text falls due at once', async (t) => {
  const s = await setup(t);
  const bytes = pictureBytes(5000, 7);
  s.server.set('/pic.jpg', { body: bytes, type: 'image/jpeg; charset=binary' });
  const id = await s.send('hello', [{ url: `${s.server.url}/pic.jpg`, contentType: 'image/jpeg' }]);
  const { note, items } = await s.settled(id);
  const lines = note.split('\n');
  t.is(lines[0], '', 'a line break between the words and the links');
  const token = LINK.exec(lines[1]!)?.[1];
  t.truthy(token, lines[1]);
  t.is(items[0]!.state, 'stored');
  t.is(items[0]!.token, token!);
  t.is(items[0]!.content_type, 'image/jpeg');
  t.is(items[0]!.size, bytes.length);
  const file = path.join(s.config.media.directory, items[0]!.file!);
  t.deepEqual(fs.readFileSync(file), bytes);
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  t.is(fs.statSync(s.config.media.directory).mode & 0o777, 0o700);
  t.is(s.config.media.directory, path.join(s.dir, 'var', 'media'), 'beside the database by default');
  const row = s.store.get(id)!;
  t.true(row.next_attempt_at <= Date.now(), 'due now');
  t.deepEqual(s.ready, [id]);
  t.deepEqual(createEventLog(s.db).list('in', id).map((e) => [e.kind, e.detail]), [['media', '1 of 1 media fetched']]);
  t.false(s.logs.some((l) => l.includes('/pic.jpg')), 'media URLs are not logged');
});

test('several items, in order: each gets its own link and token; a media-only text is just the links', async (t) => {
  const s = await setup(t);
  s.server.set('/1.jpg', { body: pictureBytes(100, 1) });
  s.server.set('/2.gif', { body: pictureBytes(100, 2), type: 'image/gif' });
  s.server.set('/3.mp4', { body: pictureBytes(100, 3), type: 'video/mp4' });
  const id = await s.send('', ['/1.jpg', '/2.gif', '/3.mp4'].map((p) => ({ url: s.server.url + p })));
  const { note, items } = await s.settled(id);
  const lines = note.split('\n');
  t.is(lines.length, 3);
  t.regex(lines[0]!, LINK);
  t.regex(lines[1]!, /^Picture: https:\/\/sms\.example\.org\/media\/[A-Za-z0-9_-]{32}\.gif$/);
  t.regex(lines[2]!, /^Video: https:\/\/sms\.example\.org\/media\/[A-Za-z0-9_-]{32}\.mp4$/);
  t.is(new Set(items.map((m) => m.token)).size, 3);
});

test('a server failing twice then answering: fetched on the third attempt', async (t) => {
  const s = await setup(t);
  s.server.set('/flaky.jpg', { failFirst: 2, failStatus: 503 });
  const id = await s.send('flaky', [{ url: `${s.server.url}/flaky.jpg` }]);
  const { items } = await s.settled(id);
  t.is(items[0]!.state, 'stored');
  t.is(items[0]!.attempts, 3);
  t.is(s.server.hits('/flaky.jpg'), 3);
});

// A busy machine: the clock moves on between any two readings of it (here by
// at least 100 ms, half the retry wait; it never runs behind the real one).
// The retry falls due between two readings in one scan. A worker that asked
// "what is due?" and "what falls due next?" at two instants found it in
// neither answer and slept until its idle rescan, a minute later: the cause of
// the slow-media test's rare 15 s timeouts under load, where the retry timer
// ran a millisecond before Date.now() reached its time and the clock ticked
// between the two queries.
test('a retry falling due while the worker scans is made then, not at the idle rescan a minute later', async (t) => {
  let clock = 0;
  const s = await setup(t, { media: 'retry_min = 200ms\nretry_max = 200ms', now: () => (clock = Math.max(Date.now(), clock + 100)) });
  s.server.set('/once.jpg', { failFirst: 1, failStatus: 503 });
  const id = await s.send('again', [{ url: `${s.server.url}/once.jpg` }]);
  const { items } = await s.settled(id);
  t.is(items[0]!.state, 'stored');
  t.is(items[0]!.attempts, 2);
  t.is(s.server.hits('/once.jpg'), 2);
});

test('failing every time: given up after [media] attempts, and the text says the picture could not be fetched', async (t) => {
  const s = await setup(t, { media: 'attempts = 3' });
  s.server.set('/down.jpg', { failFirst: 100, failStatus: 500 });
  const id = await s.send('see picture', [{ url: `${s.server.url}/down.jpg`, contentType: 'image/jpeg' }]);
  const { note, items } = await s.settled(id);
  t.is(note, '\nPicture: could not be fetched');
  t.is(items[0]!.state, 'failed');
  t.is(items[0]!.reason, 'the server answered 500');
  t.is(s.server.hits('/down.jpg'), 3);
  t.deepEqual(s.ready, [id], 'the text goes on without it');
  t.regex(createEventLog(s.db).list('in', id)[0]!.detail!, /0 of 1 media fetched; not fetched: the server answered 500/);
});

test('a connection reset is retried like a server error', async (t) => {
  const s = await setup(t, { media: 'attempts = 2' });
  s.server.set('/reset.jpg', { destroy: true });
  const id = await s.send('x', [{ url: `${s.server.url}/reset.jpg` }]);
  const { items } = await s.settled(id);
  t.is(items[0]!.state, 'failed');
  t.regex(items[0]!.reason!, /^could not fetch it: /);
  t.is(s.server.hits('/reset.jpg'), 2);
});

test('oversized, announced or only counted: refused at once, nothing kept', async (t) => {
  const s = await setup(t, { media: 'max_size = 4k' });
  s.server.set('/big.jpg', { body: pictureBytes(10_000) });
  s.server.set('/big-chunked.jpg', { body: pictureBytes(10_000), chunked: true });
  s.server.set('/fits.jpg', { body: pictureBytes(4096) });
  const id = await s.send('three', ['/big.jpg', '/big-chunked.jpg', '/fits.jpg'].map((p) => ({ url: s.server.url + p })));
  const { note, items } = await s.settled(id);
  t.deepEqual(items.map((m) => m.state), ['failed', 'failed', 'stored']);
  t.is(items[0]!.reason, 'too large: 10000 bytes, the limit is 4k ([media] max_size)');
  t.regex(items[1]!.reason!, /^too large: more than 4096 bytes/);
  t.is(s.server.hits('/big.jpg'), 1, 'not tried again');
  t.is(s.server.hits('/big-chunked.jpg'), 1);
  const lines = note.split('\n');
  t.deepEqual(lines.slice(0, 3), ['', 'Attachment: could not be fetched', 'Attachment: could not be fetched']);
  t.regex(lines[3]!, LINK);
  t.deepEqual(fs.readdirSync(s.config.media.directory), [items[2]!.file], 'no partial file left');
});

test('types: a type outside the allowlist (HTML, SVG) is refused; octet-stream takes the announced type; no type at all is refused', async (t) => {
  const s = await setup(t);
  s.server.set('/page', { type: 'text/html', body: Buffer.from('<script>alert(1)</script>') });
  s.server.set('/drawing.svg', { type: 'image/svg+xml', body: Buffer.from('<svg onload="alert(1)"/>') });
  s.server.set('/blob', { type: 'application/octet-stream', body: pictureBytes(300) });
  s.server.set('/untyped', { type: null, body: pictureBytes(300) });
  const id = await s.send('types', [
    { url: `${s.server.url}/page` },
    { url: `${s.server.url}/drawing.svg`, contentType: 'image/svg+xml' },
    { url: `${s.server.url}/blob`, contentType: 'image/png' },
    { url: `${s.server.url}/untyped` },
  ]);
  const { note, items } = await s.settled(id);
  t.deepEqual(items.map((m) => m.state), ['failed', 'failed', 'stored', 'failed']);
  t.is(items[0]!.reason, 'its type text/html is not one of [media] types');
  t.is(items[1]!.reason, 'its type image/svg+xml is not one of [media] types');
  t.is(items[2]!.content_type, 'image/png');
  t.is(items[3]!.reason, 'the server did not say what it is (no Content-Type)');
  t.regex(note.split('\n')[3]!, /^Picture: https:\/\/sms\.example\.org\/media\/[A-Za-z0-9_-]{32}\.png$/);
  t.is(s.server.hits('/page'), 1);
});

test('slow media: an attempt ends at fetch_timeout, is retried, and nothing partial is kept', async (t) => {
  const s = await setup(t, { media: 'fetch_timeout = 300ms\nattempts = 2' });
  // 4000 bytes at 64 bytes every 50 ms: about 3 s, ten times the timeout.
  s.server.set('/slow.jpg', { body: pictureBytes(4000), trickleMs: 50, chunk: 64 });
  const id = await s.send('slow', [{ url: `${s.server.url}/slow.jpg` }]);
  const { items } = await s.settled(id);
  t.is(items[0]!.state, 'failed');
  t.is(items[0]!.reason, 'not fetched within 300ms ([media] fetch_timeout)');
  t.is(items[0]!.attempts, 2);
  // On a loaded machine an attempt may time out before its request arrives.
  t.true(s.server.hits('/slow.jpg') >= 1);
  t.deepEqual(fs.readdirSync(s.config.media.directory), []);
});

test('a retry that would come after the hold time is not made: the item fails and the text goes on', async (t) => {
  const s = await setup(t, { media: 'max_hold = 1s\nretry_min = 5s\nretry_max = 5s\nattempts = 10' });
  s.server.set('/later.jpg', { failFirst: 5 });
  const id = await s.send('x', [{ url: `${s.server.url}/later.jpg` }]);
  const { items } = await s.settled(id);
  t.is(items[0]!.state, 'failed');
  t.is(s.server.hits('/later.jpg'), 1);
});

test('credentials: HTTP Basic with the interface\'s send credentials, only to its own API origin, never across a redirect or to another host', async (t) => {
  const server = await startMediaServer();
  t.teardown(() => server.stop());
  const s = await setup(t, {
    iface: `[itsp]\nsend_url = ${server.url}/2010-04-01/Accounts/AC1/Messages.json\nsend_auth = basic\nsend_username = AC1\nsend_password = media-pass-xyz\n`,
  });
  const basic = { username: 'AC1', password: 'media-pass-xyz' };
  server.set('/Media/ME1', { basic });
  server.set('/Media/ME2', { basic, redirect: `${s.server.url}/cdn/ME2.jpg` });
  s.server.set('/cdn/ME2.jpg', {});
  s.server.set('/public.jpg', {});
  s.server.set('/private.jpg', { basic });
  const id = await s.send('pictures', [
    { url: `${server.url}/Media/ME1`, auth: 'basic' },
    { url: `${server.url}/Media/ME2`, auth: 'basic' },
    { url: `${s.server.url}/public.jpg`, auth: 'basic' },
    { url: `${s.server.url}/private.jpg`, auth: 'basic' },
  ]);
  const { items } = await s.settled(id);
  t.deepEqual(items.map((m) => m.state), ['stored', 'stored', 'stored', 'failed']);
  const want = `Basic ${Buffer.from('AC1:media-pass-xyz').toString('base64')}`;
  t.true(server.requests.every((r) => r.authorization === want));
  t.is(s.server.requests.find((r) => r.path === '/cdn/ME2.jpg')?.authorization, undefined, 'the redirect target gets no credentials');
  t.true(s.server.requests.every((r) => r.authorization === undefined), 'another host never gets them');
  t.regex(items[3]!.reason!, /^the server answered 401: websms sends the interface's credentials only to the host of its send_url or api_url, not to 127\.0\.0\.1:\d+$/);
  t.is(s.server.hits('/private.jpg'), 1, 'not retried');
  t.false(s.logs.some((l) => l.includes('media-pass-xyz') || l.includes(want)), 'the secret is never logged');
});

test('wrong credentials: a 401 is not retried and the reason says what to check', async (t) => {
  const server = await startMediaServer();
  t.teardown(() => server.stop());
  const s = await setup(t, {
    iface: `[itsp]\nsend_url = ${server.url}/send\nsend_auth = basic\nsend_username = AC1\nsend_password = wrong\n`,
  });
  server.set('/m', { basic: { username: 'AC1', password: 'right' } });
  const id = await s.send('', [{ url: `${server.url}/m`, auth: 'basic' }]);
  const { items } = await s.settled(id);
  t.is(items[0]!.reason, "the server answered 401: check the interface's send credentials");
  t.is(server.hits('/m'), 1);
});

test('only http and https URLs are fetched', async (t) => {
  const s = await setup(t);
  const id = await s.send('x', [{ url: 'file:///etc/passwd' }, { url: 'data:image/png;base64,iVBORw0KGgo=' }, { url: 'not a url' }]);
  const { items } = await s.settled(id);
  t.deepEqual(items.map((m) => m.reason), ['file: URLs are not fetched, only http and https', 'data: URLs are not fetched, only http and https', 'not a valid URL']);
});

test('without [media] public_url nothing is fetched, and the text goes on at once with a note', async (t) => {
  const s = await setup(t, { media: 'public_url =' });
  t.is(s.config.media.publicUrl, '');
  s.server.set('/p.jpg', {});
  const id = await s.send('hi', [{ url: `${s.server.url}/p.jpg`, contentType: 'image/jpeg' }]);
  const { note, items } = await s.settled(id);
  t.is(note, '\nPicture: could not be fetched');
  t.regex(items[0]!.reason!, /public_url is not set/);
  t.is(s.server.hits('/p.jpg'), 0);
});

test('the deliverer\'s settle at the hold time gives up what is missing, and a fetch ending later leaves no file', async (t) => {
  const s = await setup(t, { media: 'fetch_timeout = 20s' });
  s.server.set('/ok.jpg', {});
  s.server.set('/slow.jpg', { body: pictureBytes(6000), trickleMs: 40, chunk: 32 });
  const id = await s.send('both', [{ url: `${s.server.url}/ok.jpg` }, { url: `${s.server.url}/slow.jpg` }]);
  await until(() => s.media.itemsOf(id)[0]!.state === 'stored' && s.server.hits('/slow.jpg') === 1 && s.worker.inFlight() === 1, 10_000, 'the first stored, the second under way');
  const row = s.store.get(id)!;
  const settled = s.worker.settle(row, Date.now());
  t.is(settled.media_due, null);
  const lines = settled.media_note!.split('\n');
  t.regex(lines[1]!, LINK);
  t.is(lines[2], 'Attachment: could not be fetched');
  const items = s.media.itemsOf(id);
  t.is(items[1]!.state, 'failed');
  t.regex(items[1]!.reason!, /^not fetched within \[media\] max_hold/);
  await until(() => s.worker.inFlight() === 0, 10_000, 'the slow fetch to stop');
  t.deepEqual(fs.readdirSync(s.config.media.directory), [items[0]!.file], 'the slow one left nothing behind');
  t.is(s.worker.settle(s.store.get(id)!, Date.now()).media_note, settled.media_note, 'settling twice changes nothing');
});

test('a stop in the middle of a fetch leaves the item pending; the next start fetches it', async (t) => {
  const s = await setup(t, { media: 'fetch_timeout = 20s' });
  s.server.set('/slow.jpg', { body: pictureBytes(2000), trickleMs: 30, chunk: 16 });
  const id = await s.send('x', [{ url: `${s.server.url}/slow.jpg` }]);
  await until(() => s.worker.inFlight() === 1, 5000, 'the fetch to start');
  await s.worker.stop();
  t.is(s.media.itemsOf(id)[0]!.state, 'pending');
  t.is(s.media.itemsOf(id)[0]!.attempts, 0, 'an interrupted attempt does not count');
  s.server.set('/slow.jpg', { body: pictureBytes(2000) });
  const again = createMediaWorker({ db: s.db, store: s.store, media: s.media, config: () => s.config, log: createLogger('error', {}, () => undefined), onReady: () => undefined });
  again.start();
  t.teardown(() => again.stop());
  const { items } = await s.settled(id);
  t.is(items[0]!.state, 'stored');
  t.deepEqual(fs.readdirSync(s.config.media.directory), [items[0]!.file], 'the .part of the interrupted fetch was replaced');
});
