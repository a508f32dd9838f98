// Reads a webhook's body: form or JSON, UTF-8, bounded in size. Written here
// rather than taken from body-parser because the webhook is the hot path
// (bench/: body-parser's per-request cost halved express's throughput), and
// because every failure must become a one-line 4xx reason.

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
        text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
      } catch {
        return reject(new RequestError(400, 'request body is not valid UTF-8'));
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
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new RequestError(400, 'the request body must be a JSON object or a form');
  }
  return v as Fields;
}

/** A form: repeated names become arrays, so the caller can refuse them. */
export function parseForm(text: string): Fields {
  const out: Fields = Object.create(null) as Fields;
  if (text === '') return out;
  let n = 0;
  for (const [k, v] of new URLSearchParams(text)) {
    if (++n > 200) throw new RequestError(413, 'too many form fields');
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else out[k] = Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}
