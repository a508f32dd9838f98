// Writing a text: the message box with its SMS count and encoding as you
// type, counted by the daemon's own code (segments.js is
// src/outbound/segments.ts, served as it is compiled), and the send.

import { countSegments, fitsUcs2, gsmOnly } from './segments.js';
import { h } from './dom.js';

/** U+XXXX for what does not print. */
const show = (chars) => chars.map((c) => (/^[\p{L}\p{N}\p{P}\p{S}]$/u.test(c) ? c : `U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`)).join(' ');

/** What the counter says about a body: a line, and a problem that stops the send. */
export function describe(body, limits) {
  const info = countSegments(body);
  const sms = `${info.segments} SMS`;
  const left = `${info.remaining} ${info.encoding === 'GSM-7' ? 'characters' : 'units'} left in this one`;
  let line = `${info.encoding} · ${sms} · ${left}`;
  if (info.encoding === 'UCS-2' && info.nonGsm.length > 0) line += ` · UCS-2 because of ${show(info.nonGsm)}`;
  let problem = '';
  if (limits.charset === 'gsm' && !gsmOnly(body)) problem = `The provider sends GSM letters only; these cannot be sent: ${show(info.nonGsm)}`;
  else if (limits.charset === 'ucs2' && !fitsUcs2(body)) problem = 'The provider cannot send emoji or other characters outside UCS-2.';
  else if (info.segments > limits.maxSegments) problem = `Too long: ${info.segments} SMS, at most ${limits.maxSegments}.`;
  else if (new TextEncoder().encode(body).length > limits.maxBytes) problem = `Too long: at most ${limits.maxBytes} bytes.`;
  return { info, line, problem };
}

/**
 * The message box and its send button. `send(body)` resolves when the daemon
 * has stored the text; the box is then emptied. `extra` are fields above the
 * box (recipient, sender) in the same form.
 */
export function composer({ id, limits, send, extra = [], label = 'Message', autofocus = false }) {
  const countId = `${id}-count`;
  const problemId = `${id}-problem`;
  const box = h('textarea', {
    id,
    name: 'body',
    rows: 3,
    required: true,
    autofocus,
    'aria-describedby': `${countId} ${problemId}`,
    placeholder: 'Text message',
  });
  const count = h('p', { id: countId, class: 'count' });
  const problem = h('p', { id: problemId, class: 'problem', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const status = h('p', { class: 'form-status', role: 'status' });

  const update = () => {
    const d = describe(box.value, limits);
    count.textContent = box.value === '' ? 'Empty · 1 SMS when sent' : d.line;
    problem.textContent = d.problem;
    box.setAttribute('aria-invalid', d.problem === '' ? 'false' : 'true');
    return d;
  };
  box.addEventListener('input', update);
  // Ctrl+Enter (Cmd+Enter) sends; Enter alone is a new line, as in a message app on a computer.
  box.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  const form = h(
    'form',
    { class: 'compose', novalidate: true },
    extra,
    h('label', { for: id }, label),
    box,
    h('div', { class: 'compose-foot' }, count, button),
    problem,
    status,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (box.value.trim() === '') {
      problem.textContent = 'Write something first.';
      box.focus();
      return;
    }
    if (update().problem !== '') {
      box.focus();
      return;
    }
    button.disabled = true;
    status.textContent = 'Sending…';
    try {
      await send(box.value);
      box.value = '';
      update();
      status.textContent = 'Stored; websms sends it now.';
    } catch (err) {
      status.textContent = '';
      problem.textContent = err.reason ?? String(err);
    } finally {
      button.disabled = false;
    }
  });
  update();
  return { form, box };
}
