// What may go onto the AMI wire. Asterisk ends a line at CR LF or at a bare LF,
// drops a whole action whose line exceeds ~1,022 bytes, and splits Originate's
// Variable: headers at commas while eating quotes and backslashes. So every
// value is either checked against a strict alphabet or base64-encoded.

import { AmiError } from '../errors.js';

/** Longest AMI line we ever write; Asterisk rejects lines near 1,024 bytes. */
export const MAX_LINE_BYTES = 1000;
/** Raw bytes per base64 chunk: 360 bytes -> 480 base64 chars, a line well under the limit. */
export const BODY_CHUNK_BYTES = 360;
/** A dialplan variable holds at most this many bytes (VAR_BUF_SIZE - 1). */
export const MAX_DIALPLAN_BYTES = 4095;

const CONTROL = /[\u0000-\u001f\u007f]/;

/** Any header value: no control characters (CR/LF above all), and the line stays short. */
export function checkHeader(name: string, value: string): string {
  if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(name)) throw new AmiError('ami_encoding', `bad AMI header name ${JSON.stringify(name)}`);
  if (CONTROL.test(value)) {
    throw new AmiError('ami_encoding', `AMI header ${name} would carry a control character; refused`);
  }
  if (Buffer.byteLength(`${name}: ${value}`, 'utf8') > MAX_LINE_BYTES) {
    throw new AmiError('ami_encoding', `AMI header ${name} would exceed ${MAX_LINE_BYTES} bytes`);
  }
  return value;
}

/**
 * A channel variable for Originate: besides the header rules, no comma, quote
 * or backslash, which Asterisk would split at or strip.
 */
export function checkVariable(name: string, value: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_]*\))?$/.test(name)) {
    throw new AmiError('ami_encoding', `bad channel variable name ${JSON.stringify(name)}`);
  }
  if (/[,"\\]/.test(value)) {
    throw new AmiError('ami_encoding', `channel variable ${name} would carry a comma, quote or backslash; refused`);
  }
  checkHeader('Variable', `${name}=${value}`);
}

/** Splits text into pieces of at most maxBytes UTF-8 bytes without cutting a code point. */
export function splitUtf8(text: string, maxBytes: number): string[] {
  if (maxBytes < 4) throw new RangeError('maxBytes must allow one code point');
  return pack(text, maxBytes);
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Splits text for delivery as several SIP messages: at most maxBytes per piece,
 * cut between user-perceived characters (an emoji with modifiers stays whole)
 * unless one such character is itself longer than a piece.
 */
export function splitGraphemes(text: string, maxBytes: number): string[] {
  function* units(): Generator<string> {
    for (const { segment } of graphemes.segment(text)) {
      // A pathological cluster (hundreds of combining marks): cut it between code points.
      if (Buffer.byteLength(segment, 'utf8') > maxBytes) yield* segment;
      else yield segment;
    }
  }
  return pack(units(), maxBytes);
}

/** Packs units (code points or graphemes) greedily into pieces of at most maxBytes. */
function pack(units: Iterable<string>, maxBytes: number): string[] {
  const out: string[] = [];
  let cur = '';
  let curBytes = 0;
  for (const u of units) {
    const b = u.length === 1 || (u.length === 2 && u.codePointAt(0)! > 0xffff) ? utf8Len(u) : Buffer.byteLength(u, 'utf8');
    if (curBytes + b > maxBytes && cur !== '') {
      out.push(cur);
      cur = '';
      curBytes = 0;
    }
    cur += u;
    curBytes += b;
  }
  if (cur.length > 0 || out.length === 0) out.push(cur);
  return out;
}

function utf8Len(cp: string): number {
  const c = cp.codePointAt(0)!;
  return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

/**
 * The body as Originate variables: WEBSMS_BODY_PARTS=n and WEBSMS_BODY_1..n, each
 * chunk valid UTF-8 on its own and base64-encoded, so the dialplan's
 * sub_decode_body can decode them one by one into MESSAGE(body).
 */
export function encodeBody(body: string): Record<string, string> {
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > MAX_DIALPLAN_BYTES) {
    throw new AmiError('ami_encoding', `a SIP message body of ${bytes} bytes exceeds the dialplan's ${MAX_DIALPLAN_BYTES}`);
  }
  const chunks = splitUtf8(body, BODY_CHUNK_BYTES);
  const vars: Record<string, string> = { WEBSMS_BODY_PARTS: String(chunks.length) };
  chunks.forEach((c, i) => {
    vars[`WEBSMS_BODY_${i + 1}`] = Buffer.from(c, 'utf8').toString('base64');
  });
  return vars;
}

/**
 * Splits a text into the SIP messages it is delivered as: one when it fits in
 * partBytes, otherwise pieces each starting with a "(k/n) " marker.
 */
export function splitForDelivery(body: string, partBytes: number): string[] {
  if (Buffer.byteLength(body, 'utf8') <= partBytes) return [body];
  // The marker's width depends on n; widen until the split is stable.
  let n = 2;
  for (;;) {
    const marker = Buffer.byteLength(`(${n}/${n}) `, 'utf8');
    const pieces = splitGraphemes(body, partBytes - marker);
    if (pieces.length <= n || String(pieces.length).length === String(n).length) {
      return pieces.map((p, i) => `(${i + 1}/${pieces.length}) ${p}`);
    }
    n = pieces.length;
  }
}
