// What the profiles of JSON APIs (Telnyx, Bandwidth, Sinch, ...) share: the
// request headers from the interface's send settings, the body with the
// user's send_extra fields, the classes of HTTP answers, and parsing JSON out
// of webhooks and answers (read it with the helpers in fields.ts).

import http from 'node:http';
import type { SendConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { assertWholeCharacters } from '../src/http/body.js';
import { basicAuthorization } from './auth.js';
import { cleanReason, failureOutcome } from './generic.js';
import type { CredentialsCheck, HttpAnswer, SendOutcome, WebhookRequest } from './types.js';

/** Content-Type, Accept and the authentication the interface's send_auth asks for. */
export function jsonHeaders(cfg: SendConfig): Record<string, string> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8', Accept: 'application/json' };
  if (cfg.auth === 'basic') {
    headers['Authorization'] = basicAuthorization(cfg.username, cfg.password);
  } else if (cfg.auth === 'bearer') {
    headers['Authorization'] = `Bearer ${cfg.bearer}`;
  }
  return headers;
}

/**
 * The request body: the profile's optional fields, then the user's send_extra
 * (which may replace those: delivery_report=none), then the text's own fields,
 * which nothing replaces. A null-prototype object, so "__proto__" from the
 * configuration is just a key.
 */
export function jsonBodyOf(optional: Record<string, unknown>, extra: Record<string, string>, ours: Record<string, unknown>): string {
  const out = Object.create(null) as Record<string, unknown>;
  for (const src of [optional, extra, ours]) for (const [k, v] of Object.entries(src)) out[k] = v;
  return JSON.stringify(out);
}

/** The answer's body as JSON, or undefined when it is not JSON. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * 2xx goes to `accepted`; anything else to the shared classes
 * (failureOutcome) with the ITSP's own words (`words`), else the HTTP reason
 * phrase.
 */
export function classify(
  answer: HttpAnswer,
  accepted: (json: unknown) => SendOutcome,
  words: (json: unknown) => string | undefined,
): SendOutcome {
  const s = answer.status;
  const json = parseJson(answer.body);
  if (s >= 200 && s < 300) return accepted(json);
  const said = words(json);
  return failureOutcome(answer, cleanReason(`${s}: ${said ?? http.STATUS_CODES[s] ?? 'unexpected status'}`));
}

/** The webhook body as JSON, from the bytes received (what the provider signed); a 400 when it is not JSON. */
export function webhookJson(req: WebhookRequest): unknown {
  let text: string;
  try {
    text = UTF8.decode(req.rawBody);
  } catch {
    throw new RequestError(400, 'the webhook body is not valid UTF-8: a byte sequence does not decode to a character');
  }
  let v: unknown;
  try {
    v = JSON.parse(text) as unknown;
  } catch {
    throw new RequestError(400, 'the webhook body is not JSON');
  }
  assertWholeCharacters(text, v);
  return v;
}

/** Throws on bytes that are not UTF-8 (Buffer#toString would put U+FFFD in their place). */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Joins the parts that are present with ": " and cleans the result; undefined when none is. */
export function words(...parts: Array<string | undefined>): string | undefined {
  const s = parts.filter((p): p is string => p !== undefined && p.trim() !== '').join(': ');
  return s === '' ? undefined : cleanReason(s);
}

/**
 * A credentials check by one GET to `url` with the interface's send
 * authentication (an account or balance request that sends no text): 2xx is
 * good, and `detail` says what it showed; anything else is a reason in the
 * provider's words, never a credential.
 */
export async function checkByGet(
  cfg: SendConfig,
  url: string,
  timeoutMs: number,
  detail: (json: unknown) => string,
  reasonOf: (json: unknown) => string | undefined,
): Promise<CredentialsCheck> {
  // Loaded here, not at the top: the HTTP client brings axios (about 20 MB
  // resident), and every profile, hence this module, is loaded at start for
  // the webhook path, which never sends.
  const { createHttpClient } = await import('../src/outbound/http.js');
  const client = createHttpClient({ ...cfg, timeoutMs, connectTimeoutMs: Math.min(cfg.connectTimeoutMs, timeoutMs), concurrency: 1 });
  try {
    const headers = jsonHeaders(cfg);
    delete headers['Content-Type'];
    const res = await client.send({ method: 'GET', url, headers });
    if (!res.ok) return { ok: false, reason: res.reason };
    const json = parseJson(res.answer.body);
    const s = res.answer.status;
    if (s >= 200 && s < 300) return { ok: true, detail: detail(json) };
    return { ok: false, reason: cleanReason(`${s}: ${reasonOf(json) ?? http.STATUS_CODES[s] ?? 'unexpected status'}`) };
  } finally {
    client.close();
  }
}
