// The web page of websms: sign-in, then conversations, the queue, the
// interfaces and search, each a route in the URL's hash (#/thread?...), so
// that the back button, bookmarks and a reload work. Live updates come as
// server-sent events; the view on screen fetches what it shows again.

import { get, post, setCsrf, whenSignedOut } from './api.js';
import { conversationsView, newTextView, threadView } from './conversations.js';
import { h, replace } from './dom.js';
import { interfacesView, queueView } from './queue.js';
import { searchView } from './search.js';

const main = document.getElementById('main');
const bar = document.getElementById('bar');
const live = document.getElementById('live');
const announcer = document.getElementById('announce');
const notice = document.getElementById('notice');

const ROUTES = {
  '': conversationsView,
  thread: threadView,
  new: newTextView,
  queue: queueView,
  interfaces: interfacesView,
  search: searchView,
};
const NAV = { '': 'conversations', thread: 'conversations', new: 'conversations', queue: 'queue', interfaces: 'interfaces', search: 'search' };

let session = null;
let current = null;
let events = null;
let routing = 0;

const ctx = {
  main,
  get session() {
    return session;
  },
  totalUnread: () => session.numbers.reduce((n, x) => n + x.unread, 0),
  announce(text) {
    // A new node each time, so that the same words are read again.
    replace(announcer, h('p', {}, text));
  },
  fail(err) {
    replace(notice, h('p', {}, err?.reason ?? String(err)));
    notice.hidden = false;
  },
  async reloadSession() {
    const s = await get('session');
    if (s.signedIn) {
      session = { ...s, interfaces: s.interfaces ?? [] };
      setCsrf(s.csrf);
      updateTitle();
    }
  },
};

function updateTitle() {
  const unread = ctx.totalUnread();
  document.title = `${unread > 0 ? `(${unread}) ` : ''}${current?.title ?? 'websms'} · websms`;
}

function parseHash() {
  const raw = location.hash.startsWith('#/') ? location.hash.slice(2) : '';
  const [path, query = ''] = raw.split('?');
  const params = Object.fromEntries(new URLSearchParams(query));
  return { route: Object.hasOwn(ROUTES, path) ? path : '', params };
}

async function route() {
  if (!session) return;
  const turn = ++routing;
  const { route: name, params } = parseHash();
  notice.hidden = true;
  for (const a of bar.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === NAV[name]) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.body.dataset.route = name || 'conversations';
  try {
    const view = await ROUTES[name](ctx, params);
    if (turn !== routing) return;
    clearInterval(current?.timer);
    current = view;
    if (view.every) view.timer = setInterval(() => void refresh(), view.every);
    updateTitle();
    const target = view.focus ?? main;
    if (!target.matches('a, button, input, select, textarea, [tabindex]')) target.setAttribute('tabindex', '-1');
    target.focus({ preventScroll: target.tagName !== 'INPUT' });
  } catch (err) {
    if (turn === routing) ctx.fail(err);
  }
}

let pending = null;
/** What is on screen, fetched again; several changes in a row make one fetch. */
function refresh() {
  if (pending) return pending;
  pending = new Promise((r) => setTimeout(r, 150))
    .then(async () => {
      await ctx.reloadSession();
      await current?.refresh?.();
      updateTitle();
    })
    .catch((err) => {
      if (err?.status !== 401) ctx.fail(err);
    })
    .finally(() => (pending = null));
  return pending;
}

function setLive(state) {
  live.dataset.state = state;
  live.textContent = state === 'on' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Offline: reconnecting';
}

function listen() {
  events?.close();
  setLive('connecting');
  events = new EventSource('events');
  events.addEventListener('open', () => setLive('on'));
  events.addEventListener('change', () => void refresh());
  events.addEventListener('signed-out', () => signedOut());
  events.addEventListener('error', async () => {
    setLive('off');
    if (events.readyState !== EventSource.CLOSED) return;
    // Closed for good (a 401, a 503): ask whether the sign-in still holds, then try again.
    try {
      await ctx.reloadSession();
      setTimeout(() => session && listen(), 3000);
    } catch {
      setTimeout(() => session && listen(), 5000);
    }
  });
}

function signedOut() {
  session = null;
  events?.close();
  events = null;
  clearInterval(current?.timer);
  current = null;
  void start();
}

whenSignedOut(() => {
  if (session) signedOut();
});

function signInView(csrf, message) {
  bar.hidden = true;
  document.body.dataset.route = 'sign-in';
  document.title = 'Sign in · websms';
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'problem', role: 'alert', id: 'sign-in-error' }, message ?? '');
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  password.setAttribute('aria-describedby', 'sign-in-error');
  const form = h(
    'form',
    { class: 'sign-in' },
    h('h1', {}, 'websms'),
    h('p', { class: 'sub' }, 'Texts of this Asterisk, both ways.'),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), password),
    button,
    error,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    button.disabled = true;
    error.textContent = '';
    setCsrf(csrf);
    try {
      await post('session', { password: password.value });
      await start();
    } catch (err) {
      error.textContent = err.reason ?? String(err);
      password.select();
      password.focus();
    } finally {
      button.disabled = false;
    }
  });
  replace(main, form);
  password.focus();
}

function offView() {
  bar.hidden = true;
  replace(
    main,
    h(
      'section',
      { class: 'sign-in' },
      h('h1', {}, 'websms'),
      h('p', {}, 'The web page is off. To turn it on, make a password hash with '),
      h('pre', {}, 'websms web-password'),
      h('p', {}, 'and put it into websms.env as WEBSMS_WEB_PASSWORD (or [web] password in websms.conf), then reload websms.'),
    ),
  );
}

async function start() {
  let s;
  try {
    s = await get('session');
  } catch (err) {
    replace(main, h('p', { class: 'problem', role: 'alert' }, err.reason ?? String(err)));
    return;
  }
  if (!s.enabled) return offView();
  if (!s.signedIn) return signInView(s.csrf);
  session = { ...s, interfaces: s.interfaces ?? [] };
  setCsrf(s.csrf);
  bar.hidden = false;
  listen();
  await route();
}

document.getElementById('sign-out').addEventListener('click', async () => {
  try {
    await post('session/end');
  } finally {
    signedOut();
  }
});
document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();
  const target = main.querySelector('h1, h2') ?? main;
  if (!target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
  target.focus();
});
window.addEventListener('hashchange', () => void route());
document.addEventListener('visibilitychange', () => {
  // Texts that came while the page was hidden are marked read when it is seen.
  if (document.visibilityState === 'visible' && session) void refresh();
});
void start();
