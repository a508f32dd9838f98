// Zadarma: SMS through its user API (POST /v1/sms/send/, a form signed with the
// account's key and secret) and incoming SMS from its notifications (event=SMS,
// the text as a JSON string in `result`, signed in the Signature header), with
// the zd_echo check Zadarma makes when the notification URL is saved.
//
// Sources: the request signature follows Zadarma's official SDKs
// (zadarma/user-api-v1 lib/Client.php, zadarma/user-api-typescript
// src/Client.ts: base64 of the *hex* HMAC-SHA1, over the method path, the
// sorted PHP-urlencoded parameters and their MD5), checked against the test
// vector in providers.md §6.2. The sender field is `caller_id` as in the PHP
// SDK's sendSms() (the OpenAPI spec names it `sender`; send_from = sender
// switches). The notification signature is the PHP SDK's (lib/Webhook/
// NotifySms.php: HMAC-SHA1 of `result`, hex, base64); the TypeScript SDK
// base64-encodes the raw digest instead, so both are accepted (providers.md
// §6.4). The other notification events' signed strings are the TypeScript
// SDK's (src/Webhook.ts): they are acknowledged and ignored, not refused.
// Zadarma returns no message id and sends no delivery reports.

import crypto from 'node:crypto';
import http from 'node:http';
import type { InterfaceConfig, SendConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { assertWholeCharacters } from '../src/http/body.js';
import { cleanReason, EMPTY_OK, providerMessage, RETRY_AFTER_CAP_MS, retryAfterMs } from './generic.js';
import { asObject, own, plusInternational, textOf, withoutPlus } from './fields.js';
import { safeEqual } from './auth.js';
import { accountSetting, numberSetting, secretSetting } from './settings.js';
import type {
  HttpAnswer,
  InboundText,
  OutgoingText,
  ProviderAdapter,
  SendOutcome,
  SendRequest,
  VerifyResult,
  WebhookAnswer,
  WebhookParse,
  WebhookRequest,
} from './types.js';

export const ZADARMA_API = 'https://api.zadarma.com';
const SEND_PATH = '/v1/sms/send/';

// ---- the request signature ---------------------------------------------------

/**
 * PHP's urlencode(): everything but A-Z a-z 0-9 - _ . percent-encoded, space as
 * '+'. Zadarma checks the signature over the parameters as PHP encodes them, so
 * '*' (left alone by URLSearchParams) must be %2A, '~' %7E, and so on.
 */
export function phpUrlencode(s: string): string {
  return encodeURIComponent(s.toWellFormed())
    .replace(/[!'()*~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}

/** http_build_query(ksort(params)): keys in byte order, PHP-encoded. */
export function zadarmaQuery(params: Record<string, string>): string {
  return Object.keys(params)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((k) => `${phpUrlencode(k)}=${phpUrlencode(params[k]!)}`)
    .join('&');
}

/** base64 of the lower-case hex HMAC-SHA1 of path + query + md5(query), as the official SDKs compute it. */
export function zadarmaSignature(path: string, query: string, secret: string): string {
  const md5 = crypto.createHash('md5').update(query, 'utf8').digest('hex');
  const hex = crypto.createHmac('sha1', secret).update(path + query + md5, 'utf8').digest('hex');
  return Buffer.from(hex, 'ascii').toString('base64');
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return SEND_PATH;
  }
}

function buildRequest(text: OutgoingText, cfg: SendConfig): SendRequest {
  const ours: Record<string, string> = {
    [cfg.fieldTo]: withoutPlus(text.to),
    [cfg.fieldBody]: text.body,
    [cfg.fieldFrom]: withoutPlus(text.from),
    // The SDKs always ask for JSON, and sign the parameter with the rest.
    format: 'json',
  };
  const params: Record<string, string> = { ...cfg.extra, ...ours };
  // Signed and sent as the very same string: any difference fails the check.
  const query = zadarmaQuery(params);
  return {
    method: 'POST',
    url: cfg.url,
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `${cfg.username}:${zadarmaSignature(pathOf(cfg.url), query, cfg.password)}`,
    },
    body: query,
  };
}

// ---- the answer --------------------------------------------------------------

function json(body: string): Record<string, unknown> | undefined {
  try {
    return asObject(JSON.parse(body) as unknown);
  } catch {
    return undefined;
  }
}

/**
 * How long a 429 asks us to wait: Retry-After when given, else
 * X-RateLimit-Reset, which Zadarma sends with every answer (a Unix time, or
 * seconds when small: the docs do not say which, so both are read).
 */
function rateLimitWait(headers: Record<string, string>, now = Date.now()): number | undefined {
  const after = retryAfterMs(headers['retry-after'], now);
  if (after !== undefined) return after;
  const reset = headers['x-ratelimit-reset']?.trim();
  if (reset === undefined || !/^\d{1,12}$/.test(reset)) return undefined;
  const n = Number(reset);
  const ms = n > 1_000_000_000 ? n * 1000 - now : n * 1000;
  return Math.min(Math.max(0, ms), RETRY_AFTER_CAP_MS);
}

function reasonOf(answer: HttpAnswer): string {
  const words = providerMessage(answer.body) ?? http.STATUS_CODES[answer.status] ?? 'unexpected status';
  return cleanReason(`${answer.status}: ${words}`);
}

/** The refusal of our one recipient inside a successful answer (denied_numbers). */
function deniedReason(doc: Record<string, unknown>): string | undefined {
  const denied = own(doc, 'denied_numbers');
  if (!Array.isArray(denied) || denied.length === 0) return undefined;
  const first = asObject(denied[0]);
  const number = textOf(own(first, 'number'));
  const message = textOf(own(first, 'message'));
  return cleanReason(`Zadarma refused ${number ?? 'the number'}${message ? `: ${message}` : ''}`);
}

function parseResponse(answer: HttpAnswer): SendOutcome {
  const s = answer.status;
  if (s >= 200 && s < 300) {
    const doc = json(answer.body);
    const status = textOf(own(doc, 'status'))?.toLowerCase();
    if (doc && status === 'success') {
      const denied = deniedReason(doc);
      return denied ? { kind: 'permanent', reason: denied } : { kind: 'accepted', providerId: null };
    }
    // {"status":"error","message":...} with a 200, or something that is not Zadarma's JSON at all.
    return { kind: 'permanent', reason: providerMessage(answer.body) ?? cleanReason(`${s}: answer without status "success"`) };
  }
  if (s === 429 || s === 503) {
    const wait = rateLimitWait(answer.headers);
    return wait === undefined ? { kind: 'retry', reason: reasonOf(answer) } : { kind: 'retry', reason: reasonOf(answer), retryAfterMs: wait };
  }
  if (s === 408 || s >= 500) return { kind: 'retry', reason: reasonOf(answer) };
  if (s >= 400) return { kind: 'permanent', reason: reasonOf(answer) };
  return { kind: 'retry', reason: cleanReason(`unexpected HTTP status ${s}`) };
}

// ---- notifications -------------------------------------------------------------

/** What Zadarma signs in each notification (an SMS: its `result` string as posted). */
const SIGNED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  SMS: ['result'],
  NOTIFY_START: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_INTERNAL: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_END: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_IVR: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_ANSWER: ['caller_id', 'destination', 'call_start'],
  NOTIFY_OUT_START: ['internal', 'destination', 'call_start'],
  NOTIFY_OUT_END: ['internal', 'destination', 'call_start'],
  NOTIFY_RECORD: ['pbx_call_id', 'call_id_with_rec'],
};

/** An event name fit for a reason: Zadarma's are upper-case words. */
function eventName(fields: Record<string, unknown>): string | undefined {
  const e = textOf(own(fields, 'event'));
  return e === undefined ? undefined : /^[A-Za-z_]{1,40}$/.test(e) ? e : '(unreadable)';
}

function echoOf(fields: Record<string, unknown>): string | undefined {
  return own(fields, 'event') === undefined ? textOf(own(fields, 'zd_echo')) : undefined;
}

function signingSecret(iface: InterfaceConfig): string {
  return iface.signingSecret !== '' ? iface.signingSecret : iface.secret;
}

function verifyWebhook(req: WebhookRequest, iface: InterfaceConfig): VerifyResult {
  // The URL check comes unsigned; it only gets its own value back and stores nothing.
  if (echoOf(req.fields) !== undefined) return { ok: true };
  const secret = signingSecret(iface);
  if (secret === '') return { ok: false, reason: 'no secret to check the Zadarma signature with: set secret (or signing_secret)' };
  const given = req.headers['signature']?.trim();
  if (!given) return { ok: false, reason: 'no Signature header: not signed by Zadarma' };
  const event = eventName(req.fields);
  const names = event !== undefined && Object.prototype.hasOwnProperty.call(SIGNED_FIELDS, event) ? SIGNED_FIELDS[event]! : undefined;
  if (!names) return { ok: false, reason: event === undefined ? 'no event field: not a Zadarma notification' : `Zadarma event ${event} is not one websms can check` };
  let signed = '';
  for (const name of names) {
    const v = own(req.fields, name);
    // A value that is not a string (a JSON body's object) is not the string Zadarma signed.
    if (typeof v !== 'string') return { ok: false, reason: `signed field ${name} is missing` };
    signed += v;
  }
  const mac = crypto.createHmac('sha1', secret).update(signed, 'utf8');
  const digest = mac.digest();
  const phpStyle = Buffer.from(digest.toString('hex'), 'ascii').toString('base64');
  const rawStyle = digest.toString('base64');
  // Both compared, always: which one matched must not show in the timing either.
  const a = safeEqual(given, phpStyle);
  const b = safeEqual(given, rawStyle);
  return a || b ? { ok: true } : { ok: false, reason: 'Signature does not match: a wrong secret, or the notification was changed on the way' };
}

function requiredText(o: Record<string, unknown>, name: string): string {
  const v = textOf(own(o, name))?.trim();
  if (!v) throw new RequestError(400, `Zadarma SMS notification without ${name} in result`);
  return v;
}

function parseWebhook(req: WebhookRequest, iface: InterfaceConfig): WebhookParse {
  const f = req.fields;
  const echo = echoOf(f);
  if (echo !== undefined) {
    if (!/^[\x21-\x7e]{1,256}$/.test(echo)) throw new RequestError(400, 'zd_echo must be 1-256 printable characters without spaces');
    return { kind: 'echo', body: echo };
  }
  const event = eventName(f);
  if (event === undefined) throw new RequestError(400, 'not a Zadarma notification: no event field (and no zd_echo)');
  if (req.route === 'status') return { kind: 'ignored', reason: 'Zadarma sends no delivery reports' };
  if (event !== 'SMS') return { kind: 'ignored', reason: `Zadarma event ${event} is not a text` };
  const raw = own(f, 'result');
  let result: Record<string, unknown> | undefined;
  if (typeof raw === 'string') {
    try {
      result = asObject(JSON.parse(raw) as unknown);
    } catch {
      result = undefined;
    }
    if (!result) throw new RequestError(400, 'Zadarma SMS notification: result is not a JSON object');
    // JSON inside a form field: a layer of its own, with its own \u escapes.
    assertWholeCharacters(raw, result);
  } else {
    result = asObject(raw) ?? f;
  }
  const from = requiredText(result, 'caller_id');
  const to = textOf(own(result, 'caller_did'))?.trim() || iface.number;
  if (!to) throw new RequestError(400, 'Zadarma SMS notification without caller_did, and the interface has no number');
  const body = textOf(own(result, 'text'));
  if (body === undefined || body === '') throw new RequestError(400, 'Zadarma SMS notification without text in result');
  const text: InboundText = { from: plusInternational(from), to: plusInternational(to), body, providerId: null, media: [] };
  return { kind: 'texts', texts: [text] };
}

function answer(parsed: WebhookParse): WebhookAnswer {
  // The check passes only if the body is exactly the value, nothing around it.
  if (parsed.kind === 'echo') return { status: 200, contentType: 'text/plain', body: parsed.body };
  return EMPTY_OK;
}

function baseUrl(written: Readonly<Record<string, string>>): string {
  const api = written['api_url']?.trim();
  return (api ? api : ZADARMA_API).replace(/\/+$/, '');
}

export const zadarma: ProviderAdapter = {
  name: 'zadarma',
  description: 'Zadarma: SMS through its signed user API; incoming SMS from its signed notifications (and the zd_echo URL check)',
  settings: [
    accountSetting('Your API key (personal account: Settings → Integrations and API → Keys and API)'),
    secretSetting('Its API secret (same page): signs what websms sends and checks the notifications Zadarma signs'),
    numberSetting('Your Zadarma number (confirmed for SMS) that texts go out from'),
  ],
  defaults(written) {
    const d: Record<string, string> = {
      // Signed: Zadarma's servers post from addresses it does not publish.
      allow: 'any',
      send_url: `${baseUrl(written)}${SEND_PATH}`,
      send_format: 'form',
      // The profile signs each request with these two; "basic" only makes the loader ask for both.
      send_auth: 'basic',
      send_to: 'number',
      send_from: 'caller_id',
      send_body: 'message',
      methods: 'POST, GET',
    };
    if (written['account']) d['send_username'] = written['account'];
    if (written['secret']) d['send_password'] = written['secret'];
    return d;
  },
  buildRequest,
  parseResponse,
  // No delivery reports: Zadarma has none.
  parseStatus: () => undefined,
  parseWebhook,
  verifyWebhook,
  answer,
};
