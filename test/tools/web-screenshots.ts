// Makes the screenshots of the web page in docs/web/: a real websms with a
// few conversations (texts in through the webhook, out through the page's
// own send, one refused by the ITSP, one waiting for a phone, a picture),
// shown in Debian's chromium on a desktop and on a phone-sized screen.
//
//   npx tsc -p . && node dist/test/tools/web-screenshots.js [DIR]
//
// The seeded texts are moved back in time afterwards (a day's spread of
// times reads better than "now" everywhere); nothing else is staged.

import path from 'node:path';
import Database from 'better-sqlite3';
import { chromium, type Page } from 'playwright-core';
import { startMediaServer } from '../doubles/media-server.js';
import { twilioLike } from '../doubles/itsp-server.js';
import { CHROMIUM } from '../helpers/browser.js';
import { landscapePng } from '../helpers/png.js';
import { sleep, until } from '../helpers/stack.js';
import { HOME, OFFICE, signIn, startWebStack } from '../helpers/web.js';

const out = path.resolve(process.argv[2] ?? 'docs/web');
const ANNA = '+46701234567';
const BISTRO = '+46739876543';
const US = '+12025550160';
const OLOF = '+46768881122';
const KARIN = '+46701112233';

const media = await startMediaServer();
media.set('/view.png', { type: 'image/png', body: landscapePng(640, 420) });
const refuse = twilioLike();
const ws = await startWebStack(undefined, {
  itsp: (req) => {
    const to = (req.body as Record<string, string>)?.To;
    if (to === BISTRO) return { status: 400, body: { message: 'The To number is not a mobile number', code: 21614, status: 400 } };
    if (to === KARIN) return { status: 503, body: { message: 'Service Unavailable', status: 503 } };
    return refuse(req);
  },
  outbound: 'retry_min = 20m\nretry_max = 40m\nmax_attempts = 5\nnotify = none',
  general: `[media]\npublic_url = https://sms.example.org/media\nfetch_allow = 127.0.0.1\nretry_min = 20ms\nretry_max = 50ms`,
});
ws.ami.addEndpoint(HOME, 'home', ['sip:home@127.0.0.1:5062']);
// The office phone is not registered: its texts wait for it.
ws.ami.addEndpoint(OFFICE, 'office', []);

const api = async (body: Record<string, string>): Promise<void> => {
  const r = await fetch(`${ws.api}/api/texts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (r.status !== 201) throw new Error(`send: ${r.status} ${await r.text()}`);
};

// Oldest first, each with the minutes before now it is shown at.
const seeded: { direction: 'in' | 'out'; ago: number }[] = [];
const textIn = async (from: string, to: string, body: string, ago: number): Promise<void> => {
  await ws.textIn(from, to, body);
  seeded.push({ direction: 'in', ago });
};
const textOut = async (from: string, to: string, body: string, ago: number): Promise<void> => {
  await api({ from, to, body, interface: from === OFFICE ? 'office' : 'home' });
  seeded.push({ direction: 'out', ago });
};

await textIn(US, HOME, 'UPS: your package 1Z999 was delivered to your front door.', 26 * 60);
await textOut(HOME, US, 'Thanks!', 26 * 60 - 3);
await textIn(ANNA, HOME, 'Hi! Are we still on for Saturday?', 20 * 60);
await textOut(HOME, ANNA, "Yes! 10 o'clock at the harbour. I'll bring coffee ☕", 20 * 60 - 5);
await textOut(HOME, BISTRO, 'Hello, could we move our table for 4 to Friday 19:00?', 180);
await textIn('ICA', HOME, 'Your order 4711 is ready for pickup at 17:00.', 95);
await textOut(OFFICE, KARIN, 'The meeting is moved to 14:00 tomorrow.', 50);
await textIn(OLOF, OFFICE, 'Can you call me back about the invoice? It is the one from March.', 35);
// An MMS: the text and the address of its picture, as a provider's webhook gives them.
await ws.daemon.store.enqueue({
  interface: 'home',
  providerId: undefined,
  sender: ANNA,
  recipient: HOME,
  body: 'The view from the ferry right now 😍',
  parts: 1,
  media: [{ url: `${media.url}/view.png`, contentType: 'image/png' }],
});
ws.daemon.deliverer.kick();
seeded.push({ direction: 'in', ago: 12 });
await textIn(ANNA, HOME, "Bring a jacket, it's windy out here.", 11);

// Let every text settle: sent, refused, waiting for a phone, the picture fetched.
const db = new Database(path.join(ws.dir, 'var', 'websms.db'));
await until(() => (db.prepare(`SELECT count(*) AS n FROM media WHERE state = 'stored'`).get() as { n: number }).n === 1, 15_000, 'the picture');
await until(() => (db.prepare(`SELECT count(*) AS n FROM outbound WHERE state IN ('sent', 'failed') `).get() as { n: number }).n === 3, 15_000, 'the sends');
await until(() => (db.prepare(`SELECT count(*) AS n FROM inbound WHERE state IN ('delivered', 'waiting')`).get() as { n: number }).n === 6, 15_000, 'the deliveries');

// Back in time, in the order they were made.
const rows = [
  ...(db.prepare('SELECT id FROM inbound ORDER BY id').all() as { id: number }[]).map((r) => ({ ...r, direction: 'in' as const })),
  ...(db.prepare('SELECT id FROM outbound ORDER BY id').all() as { id: number }[]).map((r) => ({ ...r, direction: 'out' as const })),
];
const next = { in: 0, out: 0 };
const now = Date.now();
for (const s of seeded) {
  const row = rows.filter((r) => r.direction === s.direction)[next[s.direction]++]!;
  const at = now - s.ago * 60_000;
  if (s.direction === 'in') db.prepare('UPDATE inbound SET received_at = ?, updated_at = ? + 2000 WHERE id = ?').run(at, at, row.id);
  else db.prepare('UPDATE outbound SET created_at = ?, updated_at = ? + 2000, next_attempt_at = max(next_attempt_at, ?) WHERE id = ?').run(at, at, at, row.id);
  db.prepare('UPDATE events SET at = ? + 1000 WHERE direction = ? AND text_id = ?').run(at, s.direction, row.id);
}
db.exec(`UPDATE conversations SET last_at = max(
  coalesce((SELECT received_at FROM inbound WHERE id = last_in), 0),
  coalesce((SELECT created_at FROM outbound WHERE id = last_out), 0))`);
// The first texts were read on the page yesterday; Anna's newest and the office's are not.
db.prepare(`INSERT INTO read_markers (local, remote, read_in, read_at) SELECT local, remote, last_in, ? FROM conversations WHERE remote IN (?, ?)`).run(now, US, 'ICA');
db.prepare(`INSERT INTO read_markers (local, remote, read_in, read_at) SELECT ?, ?, min(id), ? FROM inbound WHERE sender = ?`).run(HOME, ANNA, now, ANNA);
db.close();

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

async function shoot(name: string, page: Page): Promise<void> {
  await sleep(400);
  await page.screenshot({ path: path.join(out, `${name}.png`) });
  process.stdout.write(`${path.join(out, `${name}.png`)}\n`);
}

const thread = (local: string, remote: string): string => `${ws.page}#/thread?${new URLSearchParams({ local, remote })}`;

for (const device of ['desktop', 'phone'] as const) {
  const phone = device === 'phone';
  const context = await browser.newContext({
    viewport: phone ? { width: 390, height: 844 } : { width: 1280, height: 800 },
    deviceScaleFactor: phone ? 2 : 1,
    isMobile: phone,
    hasTouch: phone,
    locale: 'en-GB',
    timezoneId: 'Europe/Stockholm',
    colorScheme: 'light',
  });
  const page = await context.newPage();
  const prefix = phone ? 'phone-' : '';
  await page.goto(ws.page);
  await page.getByLabel('Password').waitFor();
  if (!phone) await shoot('sign-in', page);
  await signIn(page, ws.page);
  await shoot(`${prefix}conversations`, page);
  await page.goto(thread(HOME, ANNA));
  await page.locator('.media img').waitFor();
  await page.waitForFunction("[...document.querySelectorAll('.media img')].every((i) => i.complete && i.naturalWidth > 0)");
  if (phone) await page.getByLabel(`Reply to ${ANNA}`).fill('See you at 10!');
  await shoot(`${prefix}thread`, page);
  if (!phone) {
    await page.goto(thread(HOME, BISTRO));
    await page.getByText('not a mobile number').first().waitFor();
    await page.getByLabel(`Reply to ${BISTRO}`).fill('Hej! Går det bra på fredag kl 19? Vi är fyra 😊');
    await shoot('thread-failed', page);
  }
  await page.goto(`${ws.page}#/queue`);
  await page.getByRole('heading', { name: /office/ }).waitFor();
  await shoot(`${prefix}queue`, page);
  await page.goto(`${ws.page}#/interfaces`);
  await page.getByRole('heading', { name: 'Asterisk' }).waitFor();
  await shoot(`${prefix}interfaces`, page);
  if (!phone) {
    await page.goto(`${ws.page}#/search?q=jacket`);
    await page.getByText('1 text found.').waitFor();
    await shoot('search', page);
  }
  await context.close();
}

// The thread once more in the dark scheme.
const dark = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB', timezoneId: 'Europe/Stockholm', colorScheme: 'dark' });
const page = await dark.newPage();
await signIn(page, ws.page);
await page.goto(thread(HOME, ANNA));
await page.locator('.media img').waitFor();
await shoot('thread-dark', page);
await dark.close();

await browser.close();
await ws.stop();
await media.stop();
