// The queue (texts waiting to go either way, or given up, by interface,
// with retry and cancel) and the interfaces with their health.

import { get } from './api.js';
import { textItem } from './conversations.js';
import { h, link, replace, time } from './dom.js';

const PAGE = 50;

export async function queueView(ctx, params) {
  const which = params.which === 'failed' ? 'failed' : 'waiting';
  const iface = params.interface ?? '';
  let shown = [];
  let next = null;
  const groups = h('div', { class: 'groups' });
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More texts');
  const filter = h(
    'select',
    { id: 'queue-interface', name: 'interface' },
    h('option', { value: '' }, 'All interfaces'),
    ctx.session.interfaces.map((name) => h('option', { value: name, selected: name === iface }, name)),
  );
  filter.addEventListener('change', () => void (location.hash = link('queue', { which, interface: filter.value })));

  const render = () => {
    const by = new Map();
    for (const t of shown) {
      if (!by.has(t.interface)) by.set(t.interface, []);
      by.get(t.interface).push(t);
    }
    const sections = [...by.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, list]) =>
        h(
          'section',
          { class: 'group', 'aria-labelledby': `q-${name}` },
          h('h2', { id: `q-${name}` }, `${name} `, h('span', { class: 'count-chip' }, `${list.length}${next ? '+' : ''}`)),
          h(
            'ol',
            { class: 'texts queue-texts' },
            list.map((t) =>
              h(
                'li',
                { class: 'queue-item' },
                h(
                  'p',
                  { class: 'route' },
                  h('span', { class: 'direction' }, t.direction === 'in' ? 'In' : 'Out'),
                  ' ',
                  h('a', { href: link('thread', { local: t.local, remote: t.remote }) }, t.direction === 'in' ? `from ${t.from} to ${t.to}` : `from ${t.from} to ${t.to}`),
                  t.attempts > 0 ? h('span', { class: 'attempts' }, ` · ${t.attempts} attempt${t.attempts === 1 ? '' : 's'}`) : null,
                  t.nextAttemptAt ? h('span', { class: 'attempts' }, ' · next try ', time(t.nextAttemptAt)) : null,
                ),
                h('ol', { class: 'texts' }, textItem(ctx, t, () => load(true))),
              ),
            ),
          ),
        ),
      );
    replace(groups, sections.length > 0 ? sections : h('p', { class: 'empty' }, which === 'waiting' ? 'Nothing is waiting: every text went through.' : 'No text has failed.'));
    more.hidden = next === null;
  };
  const load = async (reset) => {
    const page = await get('queue', { which, interface: iface, limit: reset ? Math.min(100, Math.max(PAGE, shown.length)) : PAGE, cursor: reset ? undefined : next });
    shown = reset ? page.texts : [...shown, ...page.texts];
    next = page.next;
    render();
  };
  more.addEventListener('click', () => void load(false).catch(ctx.fail));

  const tab = (w, label) => h('a', { href: link('queue', { which: w, interface: iface }), class: 'tab', 'aria-current': w === which ? 'page' : false }, label);
  replace(
    ctx.main,
    h(
      'section',
      { class: 'pane wide', 'aria-labelledby': 'queue-title' },
      h('div', { class: 'pane-head' }, h('h1', { id: 'queue-title' }, 'Queue')),
      h('nav', { class: 'tabs', 'aria-label': 'Which texts' }, tab('waiting', 'Waiting'), tab('failed', 'Failed')),
      h('div', { class: 'field inline' }, h('label', { for: 'queue-interface' }, 'Interface'), filter),
      groups,
      more,
    ),
  );
  await load(true);
  return { refresh: () => load(true), title: which === 'waiting' ? 'Queue: waiting' : 'Queue: failed', focus: ctx.main.querySelector('h1') };
}

const CIRCUIT = {
  closed: ['ok', 'Working'],
  open: ['bad', 'Paused after repeated failures'],
  'half-open': ['warn', 'Trying again'],
};

export async function interfacesView(ctx) {
  const body = h('div', { class: 'interfaces' });
  const render = (r) => {
    const ami = r.ami.connected;
    replace(
      body,
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'ami-title' },
        h('h2', { id: 'ami-title' }, 'Asterisk'),
        h('p', {}, h('span', { class: `health ${ami ? 'ok' : 'bad'}` }, ami ? 'Connected' : 'Not connected'), ami ? ' to the manager interface (AMI): texts reach the phones.' : ' to the manager interface (AMI): inbound texts wait until it answers.'),
      ),
      r.interfaces.map((i) => {
        const [tone, label] = i.circuit ? CIRCUIT[i.circuit] ?? ['warn', i.circuit] : i.sends ? ['ok', 'Idle'] : ['muted', 'Receives only'];
        const rate = (n) => (n > 0 ? `${n} SMS per second` : 'no limit');
        return h(
          'section',
          { class: 'card', 'aria-labelledby': `if-${i.name}` },
          h('h2', { id: `if-${i.name}` }, i.name, ' ', h('span', { class: 'provider' }, i.provider)),
          h(
            'dl',
            {},
            h('dt', {}, 'Sending'),
            h('dd', {}, h('span', { class: `health ${tone}` }, label)),
            h('dt', {}, 'Waiting to go out'),
            h('dd', {}, i.queued > 0 ? h('a', { href: link('queue', { which: 'waiting', interface: i.name }) }, `${i.queued} text${i.queued === 1 ? '' : 's'}`) : 'none'),
            h('dt', {}, 'Last error'),
            h('dd', {}, i.lastError ? [i.lastError, ' (', time(i.lastErrorAt), ')'] : 'none'),
            h('dt', {}, 'Rate limits'),
            h('dd', {}, i.sends ? `${rate(i.rate.perSecond)} overall, ${rate(i.rate.perNumber)} per number` : 'does not send'),
            i.rate.pausedUntil ? [h('dt', {}, 'Paused by the provider until'), h('dd', {}, time(i.rate.pausedUntil))] : null,
            h('dt', {}, 'Webhook path'),
            h('dd', {}, h('code', {}, i.webhookPath)),
          ),
        );
      }),
    );
  };
  replace(ctx.main, h('section', { class: 'pane wide', 'aria-labelledby': 'interfaces-title' }, h('div', { class: 'pane-head' }, h('h1', { id: 'interfaces-title' }, 'Interfaces')), body));
  const load = async () => render(await get('interfaces'));
  await load();
  // Health that is not in the database (AMI, the circuit breaker) is looked at again every few seconds.
  return { refresh: load, every: 10_000, title: 'Interfaces', focus: ctx.main.querySelector('h1') };
}
