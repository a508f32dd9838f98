// Conversations as in a phone's messaging app: the list (per number of
// yours, newest first, with unread counts) and one conversation with every
// text both ways, its pictures, and a reply box.

import { get, post } from './api.js';
import { composer } from './compose.js';
import { canCancel, canRetry, h, hidden, link, preview, replace, stateBadge, threadLink, time } from './dom.js';

const PAGE = 30;

/** The two panes: the list beside the conversation on a wide screen, one at a time on a phone. */
function panes(ctx, showing) {
  const list = h('section', { class: 'pane list-pane', 'aria-labelledby': 'conversations-title' });
  const detail = h('section', { class: 'pane detail-pane', 'aria-labelledby': 'detail-title' });
  replace(ctx.main, h('div', { class: `split showing-${showing}` }, list, detail));
  return { list, detail };
}

function numberLabel(n) {
  const unread = n.unread > 0 ? ` (${n.unread} unread)` : '';
  return `${n.number}${n.interface ? ` · ${n.interface}` : ''}${unread}`;
}

/** The conversation list; `current` marks the open one. Returns its refresh. */
async function listPane(ctx, el, params, current) {
  const numbers = ctx.session.numbers;
  const several = numbers.length > 1;
  let shown = [];
  let next = null;
  let loaded = false;
  const items = h('ul', { class: 'conversations', 'aria-label': 'Conversations, newest first' });
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More conversations');
  const empty = h('p', { class: 'empty', hidden: true }, params.number ? `No texts to or from ${params.number} yet.` : 'No texts yet.');
  const filter = h(
    'select',
    { id: 'number-filter', name: 'number' },
    h('option', { value: '' }, `All your numbers${ctx.totalUnread() > 0 ? ` (${ctx.totalUnread()} unread)` : ''}`),
    numbers.map((n) => h('option', { value: n.number, selected: n.number === params.number }, numberLabel(n))),
  );
  filter.addEventListener('change', () => {
    location.hash = link('', { number: filter.value });
  });

  const item = (c) => {
    const open = current && current.local === c.local && current.remote === c.remote;
    const t = c.last;
    const mine = t && t.direction === 'out';
    return h(
      'li',
      {},
      h(
        'a',
        { href: threadLink(c.local, c.remote), class: `conversation${c.unread > 0 ? ' unread' : ''}`, 'aria-current': open ? 'page' : false, dataset: { key: `${c.local}|${c.remote}` } },
        h('span', { class: 'who' }, c.remote),
        h('span', { class: 'when' }, time(c.lastAt)),
        h('span', { class: 'preview' }, mine ? 'You: ' : null, preview(t)),
        several && !params.number ? h('span', { class: 'via' }, `to your ${c.local}`) : null,
        c.unread > 0 ? h('span', { class: 'badge' }, String(c.unread), hidden(' unread')) : null,
      ),
    );
  };
  const render = () => {
    replace(items, shown.map(item));
    empty.hidden = shown.length > 0;
    more.hidden = next === null;
    // The unread counts in the number choice follow too.
    const total = ctx.totalUnread();
    filter.options[0].textContent = `All your numbers${total > 0 ? ` (${total} unread)` : ''}`;
    for (const n of ctx.session.numbers) {
      const o = [...filter.options].find((x) => x.value === n.number);
      if (o) o.textContent = numberLabel(n);
    }
  };
  const load = async (reset) => {
    const limit = reset ? Math.min(100, Math.max(PAGE, shown.length)) : PAGE;
    const page = await get('conversations', { number: params.number, limit, cursor: reset ? undefined : next });
    if (reset && loaded && !current) {
      // Texts that came in since the list was last drawn, read out (an open conversation reads out its own).
      const before = new Map(shown.map((c) => [`${c.local}|${c.remote}`, c.last?.id]));
      const arrived = page.conversations.filter((c) => c.last && c.last.direction === 'in' && before.get(`${c.local}|${c.remote}`) !== c.last.id);
      if (arrived.length > 0) ctx.announce(arrived.map((c) => `New text from ${c.remote}: ${preview(c.last)}`).join(' '));
    }
    shown = reset ? page.conversations : [...shown, ...page.conversations];
    next = page.next;
    loaded = true;
    render();
  };
  more.addEventListener('click', () => void load(false).catch(ctx.fail));

  replace(
    el,
    h(
      'div',
      { class: 'pane-head' },
      h('h1', { id: 'conversations-title' }, 'Conversations'),
      h('a', { class: 'button', href: link('new', { from: params.number }) }, 'New text'),
    ),
    several ? h('div', { class: 'field' }, h('label', { for: 'number-filter' }, 'Your number'), filter) : null,
    items,
    empty,
    more,
  );
  await load(true);
  return () => load(true);
}

export async function conversationsView(ctx, params) {
  const { list, detail } = panes(ctx, 'list');
  replace(detail, h('div', { class: 'placeholder' }, h('h2', { id: 'detail-title' }, 'No conversation open'), h('p', {}, 'Choose one from the list, or write a new text.')));
  const refresh = await listPane(ctx, list, params);
  return { refresh, title: 'Conversations', focus: list.querySelector('h1') };
}

function mediaItem(m, from, n, total) {
  const name = `${m.label} ${total > 1 ? `${n} of ${total} ` : ''}from ${from}`;
  if (m.url && m.type?.startsWith('image/')) {
    return h('figure', { class: 'media' }, h('a', { href: m.url, target: '_blank', rel: 'noopener' }, h('img', { src: m.url, alt: name, loading: 'lazy' })));
  }
  if (m.url && m.type?.startsWith('audio/')) return h('figure', { class: 'media' }, h('audio', { src: m.url, controls: true, preload: 'none', 'aria-label': name }));
  if (m.url && m.type?.startsWith('video/')) return h('figure', { class: 'media' }, h('video', { src: m.url, controls: true, preload: 'metadata', 'aria-label': name }));
  const why = m.state === 'pending' ? 'being fetched' : m.state === 'removed' ? 'removed after its retention time' : `could not be fetched${m.reason ? `: ${m.reason}` : ''}`;
  return h('p', { class: 'media-note' }, `${m.label}: ${why}`);
}

/** One text as a bubble, with its time, state and what can be done to it. */
export function textItem(ctx, t, after) {
  const mine = t.direction === 'out';
  const actions = [];
  const act = (what, label) =>
    h(
      'button',
      {
        type: 'button',
        class: 'small',
        dataset: { key: `${t.id}-${what}` },
        'aria-label': `${label} text ${t.id}`,
        onclick: async (e) => {
          e.currentTarget.disabled = true;
          try {
            await post(`texts/${t.id}/${what}`);
            ctx.announce(what === 'retry' ? `Text ${t.id} queued again.` : `Text ${t.id} cancelled.`);
            await after();
          } catch (err) {
            ctx.fail(err);
            e.currentTarget.disabled = false;
          }
        },
      },
      label,
    );
  if (canRetry(t)) actions.push(act('retry', 'Retry'));
  if (canCancel(t)) actions.push(act('cancel', 'Cancel'));
  const media = t.media ?? [];
  return h(
    'li',
    { class: `text ${mine ? 'out' : 'in'} is-${t.state}`, id: `text-${t.id}` },
    h(
      'div',
      { class: 'bubble' },
      hidden(mine ? `Sent by you from ${t.from}: ` : `Received from ${t.from}: `),
      t.body === null ? h('p', { class: 'body removed' }, 'Text removed after the retention time') : t.body !== '' ? h('p', { class: 'body' }, t.body) : null,
      media.map((m, i) => mediaItem(m, t.from, i + 1, media.length)),
    ),
    h(
      'p',
      { class: 'meta' },
      time(t.createdAt),
      ' · ',
      stateBadge(t.state),
      t.reason && t.state !== 'delivered' && t.state !== 'sent' ? h('span', { class: 'reason' }, canCancel(t) ? `last try: ${t.reason}` : t.reason) : null,
      mine && t.parts > 1 ? ` · ${t.parts} SMS` : null,
      actions.length > 0 ? h('span', { class: 'actions' }, actions) : null,
    ),
  );
}

export async function threadView(ctx, params) {
  const { local, remote } = params;
  const { list, detail } = panes(ctx, 'detail');
  const byId = new Map();
  let next = null;
  let first = true;
  let refreshList;
  const texts = h('ol', { class: 'texts', role: 'log', 'aria-label': `Texts with ${remote}, oldest first`, 'aria-live': 'off' });
  const older = h('button', { type: 'button', class: 'more', hidden: true }, 'Load older texts');
  const empty = h('p', { class: 'empty', hidden: true }, 'No texts in this conversation yet.');
  const scroller = h('div', { class: 'scroller' }, older, empty, texts);

  const ordered = () => [...byId.values()].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
  const toBottom = () => scroller.scrollTo({ top: scroller.scrollHeight, behavior: 'instant' });
  const render = () => {
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    replace(texts, ordered().map((t) => textItem(ctx, t, () => load(true))));
    empty.hidden = byId.size > 0;
    older.hidden = next === null;
    if (first || atBottom) {
      toBottom();
      // Pictures take their height when they load: stay at the newest text.
      for (const img of texts.querySelectorAll('img')) if (!img.complete) img.addEventListener('load', toBottom, { once: true });
    }
    first = false;
  };
  const markRead = async (unread) => {
    const newest = ordered().filter((t) => t.direction === 'in').pop();
    if (!newest || unread === 0 || document.visibilityState !== 'visible') return;
    await post('read', { local, remote, through: newest.id });
    await ctx.reloadSession();
    await refreshList?.();
  };
  const load = async (latest) => {
    const page = await get('thread', { local, remote, limit: PAGE, cursor: latest ? undefined : next });
    const before = new Set(byId.keys());
    for (const t of page.texts) byId.set(t.id, t);
    if (!latest || first) next = page.next;
    const arrived = page.texts.filter((t) => !before.has(t.id) && t.direction === 'in');
    if (before.size > 0 && arrived.length > 0) ctx.announce(arrived.map((t) => `New text from ${t.from}: ${preview(t)}`).join(' '));
    render();
    await markRead(page.unread);
  };
  older.addEventListener('click', async () => {
    const top = scroller.scrollHeight;
    await load(false).catch(ctx.fail);
    scroller.scrollTop = scroller.scrollHeight - top;
  });

  const reply = composer({
    id: 'reply',
    limits: ctx.session.compose,
    label: `Reply to ${remote}`,
    send: async (body) => {
      const r = await post('texts', { to: remote, from: local, body });
      byId.set(r.text.id, r.text);
      first = true;
      render();
      await refreshList?.();
    },
  });

  replace(
    detail,
    h(
      'div',
      { class: 'pane-head thread-head' },
      h('a', { class: 'back', href: link('', {}) }, h('span', { 'aria-hidden': 'true' }, '← '), 'Conversations'),
      h('h2', { id: 'detail-title' }, remote),
      h('p', { class: 'sub' }, `with your number ${local}`),
    ),
    scroller,
    ctx.session.compose.canSend ? reply.form : h('p', { class: 'note' }, 'No interface sends texts (none has a send_url), so no reply can be sent from here.'),
  );
  await load(true);
  refreshList = await listPane(ctx, list, {}, { local, remote });
  return {
    refresh: async () => {
      await load(true);
      await refreshList();
    },
    title: `Conversation with ${remote}`,
    focus: detail.querySelector('h2'),
  };
}

export async function newTextView(ctx, params) {
  const { list, detail } = panes(ctx, 'detail');
  const numbers = ctx.session.numbers;
  const to = h('input', { id: 'new-to', name: 'to', type: 'tel', autocomplete: 'off', required: true, inputmode: 'tel', value: params.to ?? '' });
  const from = h(
    'select',
    { id: 'new-from', name: 'from' },
    numbers.length === 0 ? h('option', { value: '' }, 'The default interface\'s number') : null,
    numbers.map((n) => h('option', { value: n.number, selected: n.number === params.from }, numberLabel(n))),
  );
  const c = composer({
    id: 'new-body',
    limits: ctx.session.compose,
    extra: [
      h('div', { class: 'field' }, h('label', { for: 'new-to' }, 'To'), to, h('p', { class: 'hint', id: 'new-to-hint' }, 'A number as you would dial it.')),
      h('div', { class: 'field' }, h('label', { for: 'new-from' }, 'From'), from),
    ],
    send: async (body) => {
      if (to.value.trim() === '') {
        to.focus();
        throw { reason: 'Give the number to send to.' };
      }
      const r = await post('texts', { to: to.value, from: from.value || undefined, body });
      location.hash = threadLink(r.text.local, r.text.remote);
    },
  });
  to.setAttribute('aria-describedby', 'new-to-hint');
  replace(
    detail,
    h('div', { class: 'pane-head thread-head' }, h('a', { class: 'back', href: link('', {}) }, h('span', { 'aria-hidden': 'true' }, '← '), 'Conversations'), h('h2', { id: 'detail-title' }, 'New text')),
    ctx.session.compose.canSend ? c.form : h('p', { class: 'note' }, 'No interface sends texts (none has a send_url).'),
  );
  const refresh = await listPane(ctx, list, {});
  return { refresh, title: 'New text', focus: to };
}
