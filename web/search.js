// Search every text by number, by words in it, or both; newest first, a page
// at a time.

import { get } from './api.js';
import { textItem } from './conversations.js';
import { h, link, replace } from './dom.js';

const PAGE = 30;

export async function searchView(ctx, params) {
  const number = h('input', { id: 'search-number', name: 'number', type: 'tel', inputmode: 'tel', autocomplete: 'off', value: params.number ?? '' });
  const q = h('input', { id: 'search-q', name: 'q', type: 'search', autocomplete: 'off', value: params.q ?? '' });
  const results = h('ol', { class: 'texts results', 'aria-label': 'Texts found, newest first' });
  const summary = h('p', { class: 'summary', role: 'status' });
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More results');
  let shown = [];
  let next = null;

  const form = h(
    'form',
    { class: 'search', role: 'search' },
    h('div', { class: 'field' }, h('label', { for: 'search-number' }, 'Number'), number),
    h('div', { class: 'field' }, h('label', { for: 'search-q' }, 'Text'), q),
    h('button', { type: 'submit', class: 'primary' }, 'Search'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = link('search', { number: number.value.trim(), q: q.value.trim() });
  });

  const render = () => {
    replace(
      results,
      shown.map((t) =>
        h(
          'li',
          { class: 'result' },
          h('p', { class: 'route' }, h('a', { href: link('thread', { local: t.local, remote: t.remote }) }, `${t.direction === 'in' ? 'From' : 'To'} ${t.remote}`), ` · your number ${t.local}`),
          h('ol', { class: 'texts' }, textItem(ctx, t, () => load(true))),
        ),
      ),
    );
    summary.textContent = shown.length === 0 ? 'Nothing found.' : `${shown.length}${next ? '+' : ''} text${shown.length === 1 ? '' : 's'} found.`;
    more.hidden = next === null;
  };
  const load = async (reset) => {
    const page = await get('search', { number: params.number, q: params.q, limit: reset ? Math.min(100, Math.max(PAGE, shown.length)) : PAGE, cursor: reset ? undefined : next });
    shown = reset ? page.texts : [...shown, ...page.texts];
    next = page.next;
    render();
  };
  more.addEventListener('click', () => void load(false).catch(ctx.fail));

  replace(ctx.main, h('section', { class: 'pane wide', 'aria-labelledby': 'search-title' }, h('div', { class: 'pane-head' }, h('h1', { id: 'search-title' }, 'Search')), form, summary, results, more));
  const asked = (params.number ?? '') !== '' || (params.q ?? '') !== '';
  if (asked) {
    try {
      await load(true);
    } catch (err) {
      summary.textContent = err.reason ?? String(err);
    }
  }
  return { refresh: asked ? () => load(true) : undefined, title: 'Search', focus: asked ? results : number };
}
