// Reads a webhook's body: form or JSON, UTF-8, bounded in size. Written here
// rather than taken from body-parser because the webhook is the hot path
// (bench/: body-parser's per-request cost halved express's throughput), and
// because every failure must become a one-line 4xx reason.
//
// Every layer decodes exactly or refuses: the bytes as UTF-8, percent-escapes
// (form bodies and query strings) as UTF-8, JSON \u escapes as whole
// characters. The lenient decoders (URLSearchParams, TextDecoder without
// `fatal`) put U+FFFD where they cannot decode, and the ITSP would be told that
// a text arrived which the phone then shows differently.

import type { IncomingMessage } from 'node:http';
import { RequestError } from '../errors.js';

export type Fields = Record<string, unknown>;

/** A POST body as received: its bytes (signatures are over bytes), its media type and its fields. */
export interface Body {
  raw: Buffer;
  /** Media type without parameters, lower case ('' when none). */
  contentType: string;
  fields: Fields;
}

const EMPTY = Buffer.alloc(0);

const FORM = 'application/x-www-form-urlencoded';

/** Throws on bytes that are not UTF-8 instead of putting U+FFFD in their place. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads and parses the body of a POST; resolves with its bytes and fields (an
 * empty object for an empty body). Everything that can be refused from the headers alone is refused
 * before `beforeReading` runs: that is where a client waiting on
 * `Expect: 100-continue` is told to send the body.
 */
export function readBody(req: IncomingMessage, limit: number, beforeReading: () => void = () => undefined): Promise<Body> {
  const header = req.headers['content-type'] ?? '';
  const [type = '', ...params] = header.split(';').map((s) => s.trim().toLowerCase());
  const charset = params.find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '');
  const isJson = type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
  const isForm = type === FORM;
  const declared = Number(req.headers['content-length'] ?? NaN);
  const hasBody = declared > 0 || req.headers['transfer-encoding'] !== undefined;
  // Guessing a form would store whatever a misconfigured ITSP sends; an empty POST
  // (fields in the query string) needs no type.
  if (header === '' && hasBody) {
    req.resume();
    return Promise.reject(
      new RequestError(415, 'the request has a body but no Content-Type; send application/x-www-form-urlencoded or application/json'),
    );
  }
  if (header !== '' && !isJson && !isForm) {
    req.resume();
    return Promise.reject(new RequestError(415, `content type ${type || header} is not accepted; send form or JSON`));
  }
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8' && !(isForm && charset === 'us-ascii')) {
    req.resume();
    return Promise.reject(new RequestError(415, `charset ${charset} is not accepted; send UTF-8`));
  }
  if (declared > limit) {
    req.resume();
    return Promise.reject(new RequestError(413, `request body is larger than the limit of ${limit} bytes`));
  }
  beforeReading();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new RequestError(413, `request body is larger than the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('aborted', () => {
      failed = true;
      reject(new RequestError(400, 'request aborted by the client'));
    });
    req.on('error', () => {
      if (!failed) reject(new RequestError(400, 'request aborted by the client'));
      failed = true;
    });
    req.on('end', () => {
      if (failed) return;
      const buf = chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? EMPTY : Buffer.concat(chunks);
      let text: string;
      try {
        text = UTF8.decode(buf);
      } catch {
        return reject(new RequestError(400, 'request body is not valid UTF-8: a byte sequence does not decode to a character'));
      }
      try {
        resolve({ raw: buf, contentType: type, fields: isJson ? parseJson(text) : parseForm(text) });
      } catch (err) {
        reject(err);
      }
    });
  });
}

function parseJson(text: string): Fields {
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new RequestError(400, 'malformed request body: not valid JSON');
  }
  if (typeof v !== 'object' || v === null) {
    throw new RequestError(400, 'the request body must be a JSON object, a JSON array or a form');
  }
  assertWholeCharacters(text, v);
  // Bandwidth posts its callbacks as an array of events: its elements become
  // fields "0", "1", ..., so dotted paths (0.message.id) reach them; the
  // adapter also has the raw body.
  if (Array.isArray(v)) return Object.assign(Object.create(null) as Fields, v);
  return v as Fields;
}

// An escaped surrogate, high or low (\uD800-\uDFFF): only with one can a
// parsed string be broken. Bodies without (nearly all, emoji are usually sent
// as UTF-8) skip the walk.
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/**
 * JSON.parse turns an escaped lone surrogate ("\ud83d" without its pair) into
 * a string that is not Unicode: stored, it would come back as U+FFFD.
 * Refused here, wherever it is in the body (names included).
 */
export function assertWholeCharacters(text: string, value: unknown): void {
  if (!SURROGATE_ESCAPE.test(text)) return;
  const bad = brokenString(value, 0);
  if (bad !== undefined) {
    throw new RequestError(400, `the JSON body is not valid Unicode: ${bad} has a \\u escape of half a character (a lone surrogate)`);
  }
}

function brokenString(v: unknown, depth: number): string | undefined {
  if (typeof v === 'string') return v.isWellFormed() ? undefined : 'a value';
  if (typeof v !== 'object' || v === null || depth > 64) return undefined;
  for (const [k, x] of Object.entries(v)) {
    if (!k.isWellFormed()) return 'a field name';
    const inner = brokenString(x, depth + 1);
    if (inner !== undefined) return inner === 'a value' ? `field ${JSON.stringify(k.slice(0, 40))}` : inner;
  }
  return undefined;
}

/**
 * A form (or a query string): repeated names become arrays, so the caller
 * can refuse them. Split and unescaped as the WHATWG form parser does ('+' is
 * a space; a '%' not followed by two hex digits stays as it is), except that
 * escapes which do not decode to UTF-8 (%FF, a cut sequence, an escaped
 * surrogate) refuse the request instead of becoming U+FFFD.
 */
export function parseForm(text: string): Fields {
  const out: Fields = Object.create(null) as Fields;
  if (text === '') return out;
  let n = 0;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    if (++n > 200) throw new RequestError(413, 'too many form fields');
    const eq = pair.indexOf('=');
    const k = formDecode(eq < 0 ? pair : pair.slice(0, eq));
    const v = eq < 0 ? '' : formDecode(pair.slice(eq + 1));
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else out[k] = Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

const ESCAPES = /(?:%[0-9A-Fa-f]{2})+/g;

/** One name or value of a form: '+' as space, each run of %XX escapes decoded as UTF-8, strictly. */
export function formDecode(s: string): string {
  const spaced = s.includes('+') ? s.replaceAll('+', ' ') : s;
  if (!spaced.includes('%')) return spaced;
  try {
    // Native and strict (it refuses what is not UTF-8, escaped surrogates
    // included): the fast way for nearly every field.
    return decodeURIComponent(spaced);
  } catch {
    // A bare '%' (kept, as WHATWG does) or escapes that are not UTF-8 (refused): run by run.
  }
  return spaced.replace(ESCAPES, (run) => {
    try {
      return UTF8.decode(Buffer.from(run.replaceAll('%', ''), 'hex'));
    } catch {
      throw new RequestError(400, `percent-escapes ${run.length > 24 ? `${run.slice(0, 24)}...` : run} are not valid UTF-8: the text cannot be decoded exactly`);
    }
  });
}
