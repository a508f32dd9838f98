// Small helpers for building the page: elements from data (text always as
// text, never as HTML), times, states and numbers as people read them.

/**
 * h('p', {class: 'x'}, 'text', child): an element. Attributes whose value is
 * false, null or undefined are left out; "on*" attributes take functions.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Text only screen readers read. */
export const hidden = (text) => h('span', { class: 'visually-hidden' }, text);

/** Replaces the children of `el`, keeping the focus on the element with the same data-key when it is rebuilt. */
export function replace(el, ...children) {
  const active = document.activeElement;
  const key = active && el.contains(active) ? active.dataset.key : undefined;
  el.replaceChildren();
  append(el, children);
  if (key !== undefined) el.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

const sameDay = (a, b) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

/** 14:03 today, "Mar 3, 14:03" this year, "Mar 3, 2024, 14:03" before. */
export function when(iso) {
  const d = new Date(iso);
  const now = new Date();
  const opts = sameDay(d, now)
    ? { hour: '2-digit', minute: '2-digit' }
    : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', ...(d.getFullYear() === now.getFullYear() ? {} : { year: 'numeric' }) };
  return new Intl.DateTimeFormat(undefined, opts).format(d);
}

/** A <time> with the full date and time for machines and on hover. */
export function time(iso) {
  const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' }).format(new Date(iso));
  return h('time', { datetime: iso, title: full }, when(iso));
}

const STATE_LABELS = {
  queued: 'Queued',
  sending: 'Sending',
  sent: 'Sent',
  delivered: 'Delivered',
  failed: 'Failed',
  expired: 'Expired',
  cancelled: 'Cancelled',
  waiting: 'Waiting for the phone',
  undeliverable: 'Not delivered',
};

export const stateLabel = (state) => STATE_LABELS[state] ?? state;

/** A state as a labelled badge: the word carries the meaning, the colour only repeats it. */
export const stateBadge = (state) => h('span', { class: `state state-${state}` }, stateLabel(state));

/** Whether a text may be tried again, or stopped, by hand (the store's rules, src/store/texts.ts). */
export const canRetry = (t) => (t.direction === 'out' ? ['failed', 'expired', 'cancelled'] : ['waiting', 'undeliverable', 'expired', 'cancelled']).includes(t.state);
export const canCancel = (t) => t.state === 'queued' || t.state === 'waiting';

/** "#/thread?local=...&remote=..." */
export function link(route, params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const s = q.toString();
  return `#/${route}${s === '' ? '' : `?${s}`}`;
}

export const threadLink = (local, remote) => link('thread', { local, remote });

/** One line of a body for a list: its first words, or what it carries when it has none. */
export function preview(t) {
  if (!t) return 'No text kept';
  if (t.body === null) return 'Text removed after the retention time';
  const text = t.body.replace(/\s+/g, ' ').trim();
  if (text !== '') return text.length > 120 ? `${text.slice(0, 119)}…` : text;
  if (t.media && t.media.length > 0) return t.media.map((m) => m.label).join(', ');
  return '(empty)';
}
