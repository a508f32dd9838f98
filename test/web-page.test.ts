// The web page in a real browser (Debian's chromium, headless, driven by
// playwright-core) against a real websms: sign-in, reading a conversation
// with its picture, sending through the ITSP double, a text arriving live,
// a retry, a wrong password, behind a TLS proxy under a sub-path, and on a
// phone's screen with the keyboard alone.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { Page } from 'playwright-core';
import Database from 'better-sqlite3';
import path from 'node:path';
import { startMediaServer } from './doubles/media-server.js';
import { twilioLike, type RecordedRequest } from './doubles/itsp-server.js';
import { browserMissing, openBrowser } from './helpers/browser.js';
import { landscapePng } from './helpers/png.js';
import { startTlsProxy } from './helpers/proxy.js';
import { until } from './helpers/stack.js';
import { HOME, OFFICE, signIn, startWebStack, type WebStack } from './helpers/web.js';

const ANNA = '+46701234567';
const BOB = '+46739876543';

const missing = browserMissing();
if (missing) test.skip(`the web page in a real browser: ${missing}`, () => undefined);
// One browser at a time: the machine is shared.
const browserTest = missing ? test.skip : test.serial;

function rowsOf(s: WebStack, sql: string, ...args: unknown[]): Array<Record<string, any>> {
  const db = new Database(path.join(s.dir, 'var', 'websms.db'), { readonly: true });
  try {
    return db.prepare(sql).all(...args) as Array<Record<string, any>>;
  } finally {
    db.close();
  }
}

const formOf = (r: RecordedRequest): Record<string, string> => r.body as Record<string, string>;

/** Errors the page logged, but for the 401s a test caused on purpose. */
const unexpected = (errors: string[]): string[] => errors.filter((e) => !/status of 401/.test(e));

/** Every visible text on the page against its background: at least 4.5:1 (3:1 for large text). */
async function lowContrast(page: Page): Promise<string[]> {
  return page.evaluate(`(() => {
    const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
    const rgba = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] > 0.5) return c.slice(0, 3); }
      return [255, 255, 255];
    };
    const bad = [];
    for (const el of document.querySelectorAll('body *')) {
      if (!el.offsetParent && getComputedStyle(el).position !== 'fixed') continue;
      const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== '');
      if (!own || el.closest('.visually-hidden')) continue;
      const st = getComputedStyle(el);
      if (st.visibility === 'hidden' || Number(st.opacity) < 1) continue;
      const fg = lum(rgba(st.color).slice(0, 3));
      const bg = lum(background(el));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      const large = parseFloat(st.fontSize) >= 24 || (parseFloat(st.fontSize) >= 18.66 && Number(st.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) bad.push(el.tagName + '.' + el.className + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
    }
    return bad;
  })()`);
}

/** Form controls without a name a screen reader can say. */
async function unlabelled(page: Page): Promise<string[]> {
  return page.evaluate(`[...document.querySelectorAll('input, select, textarea, button, a[href]')]
    .filter((el) => el.offsetParent !== null)
    .filter((el) => !((el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.textContent.trim() !== '' || el.querySelector('img[alt]:not([alt=""])')))
    .map((el) => el.outerHTML.slice(0, 80))`);
}

async function withPicture(t: ExecutionContext): Promise<WebStack> {
  const media = await startMediaServer();
  t.teardown(() => media.stop());
  media.set('/view.png', { type: 'image/png', body: landscapePng(200, 120) });
  const ws = await startWebStack(t, { general: '[media]\npublic_url = https://sms.example.org/media\nfetch_allow = 127.0.0.1\nretry_min = 20ms\nretry_max = 50ms' });
  ws.ami.addEndpoint(HOME, 'home', ['sip:home@127.0.0.1:5062']);
  await ws.textIn(ANNA, HOME, 'Hi! Are we still on for Saturday?');
  await ws.daemon.store.enqueue({
    interface: 'home',
    providerId: undefined,
    sender: ANNA,
    recipient: HOME,
    body: 'The view from here',
    parts: 1,
    media: [{ url: `${media.url}/view.png`, contentType: 'image/png' }],
  });
  ws.daemon.deliverer.kick();
  await until(() => rowsOf(ws, `SELECT 1 FROM inbound WHERE state = 'delivered'`).length === 2, 15_000, 'both texts delivered');
  return ws;
}

browserTest('sign in, read a conversation with its picture inline, and its unread count goes once it is seen', async (t) => {
  const ws = await withPicture(t);
  const { page, errors } = await openBrowser(t);
  await signIn(page, ws.page);

  const item = page.getByRole('link', { name: new RegExp(`^\\${ANNA}`) });
  await t.notThrowsAsync(item.getByText('2 unread').waitFor(), 'two unread texts');
  t.regex((await page.title()), /^\(2\) /);
  await item.click();
  await page.getByRole('heading', { name: ANNA, level: 2 }).waitFor();
  const log = page.getByRole('log');
  await log.getByText('Hi! Are we still on for Saturday?').waitFor();
  await log.getByText('The view from here').waitFor();
  t.is(await log.getByText('Delivered').count(), 2);
  const img = log.getByRole('img', { name: `Picture from ${ANNA}` });
  await img.waitFor();
  await page.waitForFunction("[...document.querySelectorAll('.media img')].every((i) => i.complete && i.naturalWidth === 200)");

  // Seen: the marker is stored and the list shows no unread text.
  await until(() => rowsOf(ws, 'SELECT read_in FROM read_markers WHERE local = ? AND remote = ?', HOME, ANNA)[0]?.read_in === 2, 5000, 'the read marker');
  await page.getByRole('link', { name: new RegExp(`^\\${ANNA}`) }).getByText('unread').waitFor({ state: 'detached' });
  t.false(/^\(/.test(await page.title()));
  t.deepEqual(await unlabelled(page), []);
  t.deepEqual(await lowContrast(page), []);
  t.deepEqual(unexpected(errors), []);
});

browserTest('a text written on the page reaches the ITSP through the durable path, with its count shown while typing', async (t) => {
  const ws = await startWebStack(t);
  const { page, errors } = await openBrowser(t);
  await signIn(page, ws.page);
  await page.getByRole('link', { name: 'New text' }).click();
  await page.getByLabel('To').fill('070-123 45 67');
  await page.getByLabel('From').selectOption(OFFICE);
  const box = page.getByLabel('Message');
  await box.fill('a'.repeat(161));
  await page.getByText('GSM-7 · 2 SMS').waitFor();
  await box.fill('Hello from the page 👋');
  await page.getByText('UCS-2 · 1 SMS').waitFor();
  await page.getByRole('button', { name: 'Send' }).click();

  // Stored first (the answer comes after the commit), then sent by the sender.
  const [req] = await ws.itsp.waitForRequests(1);
  t.deepEqual({ To: formOf(req!).To, From: formOf(req!).From, Body: formOf(req!).Body }, { To: ANNA, From: OFFICE, Body: 'Hello from the page 👋' });
  const [row] = rowsOf(ws, 'SELECT interface, sender, recipient, encoding, segments FROM outbound');
  t.deepEqual(row, { interface: 'office', sender: OFFICE, recipient: ANNA, encoding: 'UCS-2', segments: 1 });

  // The page moved to the conversation, and shows the state the sender reached.
  await page.getByRole('heading', { name: ANNA, level: 2 }).waitFor();
  await page.getByRole('log').getByText('Sent', { exact: true }).waitFor();

  // A reply in the conversation goes out the same way.
  await page.getByLabel(`Reply to ${ANNA}`).fill('And again');
  await page.getByRole('button', { name: 'Send' }).click();
  const second = await ws.itsp.waitFor((r) => formOf(r).Body === 'And again');
  t.is(formOf(second).From, OFFICE);
  await page.getByRole('log').getByText('And again').waitFor();
  t.deepEqual(unexpected(errors), []);
});

browserTest('a text that comes in while the page is open appears without a reload', async (t) => {
  const ws = await startWebStack(t);
  const { page, errors } = await openBrowser(t);
  await signIn(page, ws.page);
  await page.locator('#live[data-state="on"]').waitFor();
  await page.evaluate('window.notReloaded = true');

  await ws.textIn(BOB, HOME, 'Are you there?');
  const item = page.getByRole('link', { name: new RegExp(`^\\${BOB}`) });
  await item.getByText('Are you there?').waitFor();
  await item.getByText('1 unread').waitFor();
  await page.locator('#announce').getByText(`New text from ${BOB}: Are you there?`).waitFor();

  await item.click();
  await page.getByRole('log').getByText('Are you there?').waitFor();
  await ws.textIn(BOB, HOME, 'Hello?');
  await page.getByRole('log').getByText('Hello?').waitFor();
  // Told to a screen reader, too.
  await page.locator('#announce').getByText(`New text from ${BOB}: Hello?`).waitFor();
  t.true(await page.evaluate('window.notReloaded === true'), 'the page was not loaded again');
  t.deepEqual(unexpected(errors), []);
});

browserTest('a failed text is retried from the page and goes out', async (t) => {
  let refuse = true;
  const ok = twilioLike();
  const ws = await startWebStack(t, { itsp: (r) => (refuse ? { status: 400, body: { message: 'The To number is not a mobile number', status: 400 } } : ok(r)) });
  const sent = await fetch(`${ws.api}/api/texts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: BOB, body: 'Table for four?' }) });
  t.is(sent.status, 201);
  await until(() => rowsOf(ws, `SELECT 1 FROM outbound WHERE state = 'failed'`).length === 1, 10_000, 'the text failed');

  const { page, errors } = await openBrowser(t);
  await signIn(page, ws.page);
  await page.getByRole('link', { name: 'Queue' }).click();
  await page.getByRole('link', { name: 'Failed' }).click();
  // The page shows the reason a person can act on (src/outbound/failure.ts), not the ITSP's words.
  await page.getByText('the provider refused the number', { exact: false }).first().waitFor();
  refuse = false;
  await page.getByRole('button', { name: 'Retry text out-1' }).click();
  await ws.itsp.waitForRequests(2);
  await until(() => rowsOf(ws, `SELECT 1 FROM outbound WHERE state = 'sent'`).length === 1, 10_000, 'sent after the retry');
  // The failed list empties live.
  await page.getByText('No text has failed.').waitFor();
  const events = rowsOf(ws, `SELECT kind, detail FROM events WHERE direction = 'out' AND text_id = 1 AND kind = 'retried'`);
  t.is(events.length, 1);
  t.deepEqual(unexpected(errors), []);
});

browserTest('a wrong password is refused, and nothing is opened', async (t) => {
  const ws = await startWebStack(t);
  const { context, page } = await openBrowser(t);
  await page.goto(ws.page);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').getByText('that is not the password').waitFor();
  t.false((await context.cookies()).some((c) => c.name === 'websms_session'));
  t.is(await page.getByRole('heading', { name: 'Conversations' }).count(), 0);
  const r = await page.evaluate(`fetch('conversations').then((r) => r.status)`);
  t.is(r, 401);
});

browserTest('behind a TLS reverse proxy under a sub-path: relative links, a Secure cookie scoped to the prefix, live updates', async (t) => {
  const ws = await startWebStack(t);
  const proxy = await startTlsProxy({ prefix: '/sms', target: `${ws.api}/web/` });
  t.teardown(() => proxy.stop());
  const { context, page, errors } = await openBrowser(t, { ignoreHttpsErrors: true });
  await signIn(page, proxy.url);
  const [cookie] = (await context.cookies()).filter((c) => c.name === 'websms_session');
  t.like(cookie, { secure: true, httpOnly: true, sameSite: 'Strict', path: '/sms' });

  await page.locator('#live[data-state="on"]').waitFor();
  await ws.textIn(ANNA, HOME, 'through the proxy');
  await page.getByRole('link', { name: new RegExp(`^\\${ANNA}`) }).getByText('through the proxy').waitFor();
  // Everything the page asked for went through the prefix.
  t.true(proxy.seen.length > 5);
  t.true(proxy.seen.every((s) => / \/web\//.test(s)), proxy.seen.join('\n'));
  t.deepEqual(unexpected(errors), []);
});

browserTest('on a phone-sized screen, with the keyboard alone: open a conversation, reply, nothing wider than the screen', async (t) => {
  const ws = await startWebStack(t);
  await ws.textIn(ANNA, HOME, 'Call me when you land');
  const { page, errors } = await openBrowser(t, { phone: true, colorScheme: 'dark' });
  await signIn(page, ws.page);
  const link = page.getByRole('link', { name: new RegExp(`^\\${ANNA}`) });
  // Tab until the conversation has the focus, then Enter.
  for (let i = 0; i < 20 && !(await link.evaluate((el) => el === el.ownerDocument.activeElement)); i++) await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  // The heading is drawn before the thread's texts are loaded; the focus moves once they are.
  // (a locator, not waitForFunction: the page's CSP forbids evaluating strings)
  const focused = await page
    .locator('#detail-title:focus')
    .waitFor({ timeout: 10_000 })
    .then(() => true, () => false);
  t.true(focused, 'the focus moves to the conversation');
  t.true(await page.locator('.list-pane').isHidden(), 'one pane at a time');

  const box = page.getByLabel(`Reply to ${ANNA}`);
  await box.focus();
  await page.keyboard.type('Landed!');
  await page.keyboard.press('Control+Enter');
  const req = await ws.itsp.waitFor((r) => formOf(r).Body === 'Landed!');
  t.is(formOf(req).To, ANNA);
  await page.getByRole('log').getByText('Landed!').waitFor();
  t.true(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'no sideways scrolling');
  t.deepEqual(await unlabelled(page), []);
  t.deepEqual(await lowContrast(page), []);

  for (const view of ['Queue', 'Interfaces', 'Search']) {
    await page.getByRole('link', { name: view, exact: true }).click();
    await page.getByRole('heading', { name: view, level: 1 }).waitFor();
    t.true(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), `${view}: no sideways scrolling`);
    t.deepEqual(await lowContrast(page), [], view);
  }
  t.deepEqual(unexpected(errors), []);
});
