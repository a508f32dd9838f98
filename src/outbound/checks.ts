// The checks every outbound text passes before it is stored, whichever way it
// came in (a phone's hand-off over FastAGI, or POST /api/texts): numbers to
// E.164, an interface that sends, and a body the interface can carry within
// the segment limit. Pure functions: no I/O.

import type { Config, InterfaceConfig } from '../config/types.js';
import { NumberError } from '../errors.js';
import { normalizeNumber } from '../numbers/normalize.js';
import type { NewOutbound } from '../store/outbound.js';
import { countSegments, fitsUcs2, gsmOnly, type SmsEncoding } from './segments.js';

export type RefusalCode = 'destination' | 'sender' | 'interface' | 'empty' | 'too_long' | 'charset' | 'segments' | 'store';

export interface Refusal {
  ok: false;
  code: RefusalCode;
  reason: string;
  iface?: string;
}

export type Checked = { ok: true; text: NewOutbound } | Refusal;

/** Characters shown in a reason: printable ones as they are, others as U+XXXX. */
function show(chars: string[]): string {
  const shown = chars.slice(0, 5).map((c) => (/^[\p{L}\p{N}\p{P}\p{S}]$/u.test(c) ? c : `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`));
  return shown.join(' ') + (chars.length > 5 ? ' ...' : '');
}

/** The number a text goes to: E.164, or a short code. */
export function checkRecipient(raw: string, config: Config): { ok: true; number: string } | Refusal {
  try {
    return { ok: true, number: normalizeNumber(raw, { countryCode: config.general.countryCode }).number };
  } catch (err) {
    if (!(err instanceof NumberError)) throw err;
    return { ok: false, code: 'destination', reason: `not a valid number: ${err.reason}` };
  }
}

/** The number a text is sent from: E.164 only (an ITSP sends from a number it owns); undefined otherwise. */
export function senderNumber(raw: string, config: Config): string | undefined {
  try {
    const n = normalizeNumber(raw, { countryCode: config.general.countryCode });
    return n.kind === 'e164' ? n.number : undefined;
  } catch (err) {
    if (!(err instanceof NumberError)) throw err;
    return undefined;
  }
}

/** A refusal when the interface cannot send texts. */
export function checkSends(iface: InterfaceConfig): Refusal | undefined {
  return iface.send.url === ''
    ? { ok: false, code: 'interface', reason: `SMS interface ${iface.name} cannot send texts (it has no send_url)`, iface: iface.name }
    : undefined;
}

/**
 * The body: not empty, within the byte limit, in the interface's charset,
 * within the segment limit. `emptyReason` says why a text may arrive empty
 * where it came from.
 */
export function checkBody(
  body: string,
  iface: InterfaceConfig,
  config: Config,
  emptyReason = 'the text is empty',
): { ok: true; encoding: SmsEncoding; segments: number } | Refusal {
  const name = iface.name;
  if (body === '') return { ok: false, code: 'empty', reason: emptyReason, iface: name };
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > config.general.maxBodyBytes) {
    return { ok: false, code: 'too_long', reason: `the text is too long: ${bytes} bytes, at most ${config.general.maxBodyBytes}`, iface: name };
  }
  const info = countSegments(body);
  if (iface.send.charset === 'gsm' && !gsmOnly(body)) {
    return {
      ok: false,
      code: 'charset',
      reason: `the text has characters this SMS provider cannot send (GSM letters only): ${show(info.nonGsm)}`,
      iface: name,
    };
  }
  if (iface.send.charset === 'ucs2' && !fitsUcs2(body)) {
    const astral = [...new Set(Array.from(body).filter((c) => !fitsUcs2(c)))];
    return { ok: false, code: 'charset', reason: `the text has emoji or other characters this SMS provider cannot send: ${show(astral)}`, iface: name };
  }
  const max = config.outbound.maxSegments;
  if (info.segments > max) {
    return { ok: false, code: 'segments', reason: `the text is too long: ${info.segments} SMS segments, at most ${max}`, iface: name };
  }
  return { ok: true, encoding: info.encoding, segments: info.segments };
}

/** A text from a local program: the named interface (else the default), from its own number unless given. */
export function checkApiText(input: { to: string; body: string; from?: string; interface?: string }, config: Config): Checked {
  const to = checkRecipient(input.to, config);
  if (!to.ok) return to;
  const name = input.interface ?? config.general.defaultInterface;
  const iface = config.interfaces.find((i) => i.name === name);
  if (!iface) {
    const known = config.interfaces.map((i) => i.name).join(', ');
    return { ok: false, code: 'interface', reason: `no SMS interface named ${name} (configured: ${known || 'none'})` };
  }
  const cannot = checkSends(iface);
  if (cannot) return cannot;
  const rawFrom = input.from ?? iface.number;
  if (rawFrom === '') {
    return { ok: false, code: 'sender', reason: `give "from", or set number in interface ${iface.name}'s section: it has no number of its own`, iface: iface.name };
  }
  const sender = senderNumber(rawFrom, config);
  if (sender === undefined) {
    return { ok: false, code: 'sender', reason: `cannot send from "${rawFrom}": texts are sent from an E.164 number`, iface: iface.name };
  }
  const body = checkBody(input.body, iface, config);
  if (!body.ok) return body;
  return { ok: true, text: { interface: iface.name, sender, recipient: to.number, body: input.body, encoding: body.encoding, segments: body.segments } };
}
