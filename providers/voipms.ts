// VoIP.ms: send through its REST API (GET rest.php with api_username,
// api_password, method=sendSMS, or sendMMS for a text longer than 160
// characters), and inbound texts from its "SMS URL Callback", a GET to a URL
// the user writes with placeholders ({FROM}, {TO}, {MESSAGE}, {ID},
// {TIMESTAMP}, {MEDIA}); voipmsCallbackUrl() gives the one to paste.
//
// The API password travels in the query string, as VoIP.ms's API takes it.
// It never reaches a log line or a stored reason: websms's HTTP client names
// only host and port in its failures, and every reason this profile returns is
// made from the HTTP status and VoIP.ms's status keyword, never from the
// answer's body or the URL (and is scrubbed of the password all the same).
//
// Sources: VoIP.ms's API documentation is behind its login; the facts come
// from third-party integrations (simontelephonics/smsconnector
// providers/provider-Voipms.php, mattstein111/claude-code-sms
// providers/voipms.ts, containrrr/shoutrrr #401) as gathered in providers.md
// §8: 10-digit NANP numbers, 160 characters per sendSMS, the error keywords,
// the callback placeholders, ';' as an alternative separator, and "ok" as the
// answer that stops VoIP.ms's retries. VoIP.ms does not sign its callbacks:
// the interface relies on its URL token. It sends no delivery reports.

import http from 'node:http';
import type { InterfaceConfig, SendConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { parseForm } from '../src/http/body.js';
import { cleanReason, retryAfterMs, withoutSecret } from './generic.js';
import { asObject, own, plusInternational, textOf, withoutPlus } from './fields.js';
import { accountSetting, numberSetting, secretSetting, tokenSetting } from './settings.js';
import type { HttpAnswer, InboundText, MediaRef, OutgoingText, ProviderAdapter, SendOutcome, SendRequest, WebhookAnswer, WebhookParse, WebhookRequest } from './types.js';

export const VOIPMS_API = 'https://voip.ms';
/** sendSMS takes at most this many characters; longer texts go as sendMMS. */
export const VOIPMS_SMS_MAX = 160;

/** +1NXXNXXXXXX as the 10 digits VoIP.ms wants; other numbers without their '+'. */
export function nanp10(n: string): string {
  return /^\+1[2-9]\d{9}$/.test(n) ? n.slice(2) : withoutPlus(n);
}

/** A 10-digit North American number (as VoIP.ms gives it) as E.164. */
function nanpE164(n: string): string {
  const t = n.trim();
  return /^[2-9]\d{9}$/.test(t) ? `+1${t}` : plusInternational(t);
}

function buildRequest(text: OutgoingText, cfg: SendConfig): SendRequest {
  // Characters as a person counts them (an emoji is one): VoIP.ms's limit is on the text.
  const method = Array.from(text.body).length > VOIPMS_SMS_MAX ? 'sendMMS' : 'sendSMS';
  const ours: Array<[string, string]> = [
    [cfg.usernameField, cfg.username],
    [cfg.passwordField, cfg.password],
    ['method', method],
    [cfg.fieldFrom, nanp10(text.from)],
    [cfg.fieldTo, nanp10(text.to)],
    [cfg.fieldBody, text.body],
  ];
  const taken = new Set(ours.map(([k]) => k));
  const query = new URLSearchParams([...ours, ...Object.entries(cfg.extra).filter(([k]) => !taken.has(k))]).toString();
  return { method: 'GET', url: `${cfg.url}${cfg.url.includes('?') ? '&' : '?'}${query}`, headers: {} };
}

// ---- the answer ------------------------------------------------------------------

interface Meaning {
  kind: 'retry' | 'permanent';
  words: string;
}
const permanent = (words: string): Meaning => ({ kind: 'permanent', words });
const retry = (words: string): Meaning => ({ kind: 'retry', words });

/** VoIP.ms's status keywords (HTTP 200 all of them) and what the user should know. */
const KEYWORDS: Readonly<Record<string, Meaning>> = {
  invalid_credentials: permanent('the API username (account e-mail) or API password is wrong'),
  ip_not_enabled: permanent("this server's IP address is not enabled for the API (VoIP.ms portal: Main Menu → SOAP and REST/JSON API)"),
  api_not_enabled: permanent('API access is not enabled on the VoIP.ms account'),
  no_credits: permanent('the VoIP.ms account has no credit left'),
  missing_did: permanent('no sending DID: set the interface number'),
  invalid_did: permanent('the sender is not an SMS-enabled DID of this VoIP.ms account'),
  sms_not_enabled: permanent('SMS is not enabled on the sending DID'),
  missing_dst: permanent('no recipient'),
  invalid_dst: permanent('the recipient is not a valid 10-digit US or Canadian number'),
  sms_toolong: permanent('the text is too long for VoIP.ms'),
  mms_toolong: permanent('the text is too long for VoIP.ms'),
  message_empty: permanent('the text is empty'),
  missing_message: permanent('the text is empty'),
  limit_reached: retry('VoIP.ms says a sending limit is reached'),
  sms_failed: retry('VoIP.ms could not send the text just now'),
  mms_failed: retry('VoIP.ms could not send the text just now'),
  failure: retry('VoIP.ms could not send the text just now'),
};

function json(body: string): Record<string, unknown> | undefined {
  try {
    return asObject(JSON.parse(body) as unknown);
  } catch {
    return undefined;
  }
}

function outcome(kind: 'retry' | 'permanent', reason: string, cfg: SendConfig, retryAfter?: number): SendOutcome {
  const clean = withoutSecret(cleanReason(reason), cfg.password);
  if (kind === 'permanent') return { kind, reason: clean };
  return retryAfter === undefined ? { kind, reason: clean } : { kind, reason: clean, retryAfterMs: retryAfter };
}

function parseResponse(answer: HttpAnswer, cfg: SendConfig): SendOutcome {
  const s = answer.status;
  // Only the status and VoIP.ms's keyword make a reason: an error page could quote the URL, password and all.
  const statusWords = `${s} ${http.STATUS_CODES[s] ?? 'unexpected status'}`;
  if (s >= 200 && s < 300) {
    const doc = json(answer.body);
    const raw = textOf(own(doc, 'status'))?.trim().toLowerCase();
    if (raw === 'success') {
      const id = (textOf(own(doc, 'sms')) ?? textOf(own(doc, 'mms')))?.trim();
      return { kind: 'accepted', providerId: id ? id : null };
    }
    if (raw === undefined) return outcome('permanent', `${statusWords}, but not VoIP.ms's JSON answer with a status`, cfg);
    const keyword = /^[a-z0-9_]{1,40}$/.test(raw) ? raw : '(unreadable)';
    const known = Object.prototype.hasOwnProperty.call(KEYWORDS, keyword) ? KEYWORDS[keyword] : undefined;
    if (known) return outcome(known.kind, `${keyword}: ${known.words}`, cfg);
    return outcome('permanent', `VoIP.ms answered status ${keyword}`, cfg);
  }
  if (s === 429 || s === 503) return outcome('retry', statusWords, cfg, retryAfterMs(answer.headers['retry-after']));
  if (s === 408 || s >= 500) return outcome('retry', statusWords, cfg);
  if (s >= 400) return outcome('permanent', statusWords, cfg);
  return outcome('retry', `unexpected HTTP status ${statusWords}`, cfg);
}

// ---- inbound -----------------------------------------------------------------------

/**
 * The query string with ';' as a separator too: the URL template may be written
 * with ';' (to={TO};from={FROM};...) as some guides do. Used only when the '&'
 * reading lacks a field, so a ';' inside a text is not split otherwise.
 */
function semicolonFields(url: string): Record<string, string> {
  const q = url.indexOf('?');
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (q < 0) return out;
  for (const piece of url.slice(q + 1).split(/[&;]/)) {
    for (const [k, v] of Object.entries(parseForm(piece))) if (!(k in out) && typeof v === 'string') out[k] = v;
  }
  return out;
}

function mediaOf(value: string | undefined): MediaRef[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((u) => u.trim())
    // An unfilled placeholder ({MEDIA} when there is none) or an empty item is not media.
    .filter((u) => /^https?:\/\//i.test(u))
    .map((url) => ({ url, auth: 'none' as const }));
}

function parseWebhook(req: WebhookRequest, iface: InterfaceConfig): WebhookParse {
  if (req.route === 'status') return { kind: 'ignored', reason: 'VoIP.ms sends no delivery reports' };
  const names = [iface.fieldTo, iface.fieldFrom, iface.fieldBody];
  let f: Record<string, unknown> = req.fields;
  if (names.some((n) => own(f, n) === undefined) && req.method === 'GET' && req.url.includes(';')) f = semicolonFields(req.url);
  const get = (name: string): string | undefined => textOf(own(f, name));
  const from = get(iface.fieldFrom)?.trim();
  const to = get(iface.fieldTo)?.trim() || iface.number;
  const body = get(iface.fieldBody) ?? '';
  const media = mediaOf(get('media'));
  const hint = 'the VoIP.ms callback URL must carry';
  if (!from) throw new RequestError(400, `missing ${iface.fieldFrom}: ${hint} ${iface.fieldFrom}={FROM}`);
  if (!to) throw new RequestError(400, `missing ${iface.fieldTo}: ${hint} ${iface.fieldTo}={TO}`);
  if (body === '' && media.length === 0) throw new RequestError(400, `missing ${iface.fieldBody}: ${hint} ${iface.fieldBody}={MESSAGE}`);
  const id = (iface.fieldId !== '' ? get(iface.fieldId) : undefined)?.trim();
  // An unfilled {ID} is no id.
  const providerId = id && !/^\{\w+\}$/.test(id) ? id : null;
  const text: InboundText = { from: nanpE164(from), to: nanpE164(to), body, providerId, media };
  return { kind: 'texts', texts: [text] };
}

/** VoIP.ms retries a callback until it reads exactly "ok". */
const OK_ANSWER: WebhookAnswer = Object.freeze({ status: 200, contentType: 'text/plain', body: 'ok' });

/**
 * The URL to paste into VoIP.ms (DID Numbers → Manage DID → SMS/MMS → SMS URL
 * Callback): the interface's webhook with its token and the placeholders
 * VoIP.ms fills in. The token is shown as <token> unless revealToken is set
 * (a person at the host's console); public_url gives the host, else a
 * placeholder stands for it.
 */
export function voipmsCallbackUrl(
  iface: Pick<InterfaceConfig, 'publicUrl' | 'path' | 'token' | 'fieldTo' | 'fieldFrom' | 'fieldBody' | 'fieldId'>,
  opts: { revealToken?: boolean } = {},
): string {
  const base = iface.publicUrl !== '' ? iface.publicUrl.replace(/\/+$/, '') : `https://<your websms host>${iface.path}`;
  const token = iface.token === '' ? '' : `/${opts.revealToken ? iface.token : '<token>'}`;
  const id = iface.fieldId !== '' ? iface.fieldId : 'id';
  return `${base}${token}?${iface.fieldTo}={TO}&${iface.fieldFrom}={FROM}&${iface.fieldBody}={MESSAGE}&${id}={ID}&date={TIMESTAMP}&media={MEDIA}`;
}

function baseUrl(written: Readonly<Record<string, string>>): string {
  const api = written['api_url']?.trim();
  return (api ? api : VOIPMS_API).replace(/\/+$/, '');
}

export const voipms: ProviderAdapter = {
  name: 'voipms',
  description: 'VoIP.ms: its REST API (sendSMS, sendMMS for long texts); inbound from the SMS URL Callback with {FROM}, {TO}, {MESSAGE}, {ID}',
  settings: [
    accountSetting('Your API username: the VoIP.ms account e-mail address'),
    secretSetting('The API password (portal: Main Menu → SOAP and REST/JSON API; also enable the API and this server\'s IP address there)'),
    numberSetting('Your SMS-enabled VoIP.ms DID that texts go out from (+1 and 10 digits)'),
    tokenSetting('A long random string: VoIP.ms does not sign its callbacks, so the URL carries it. Paste as the DID\'s SMS URL Callback: https://<host><path>/<token>?to={TO}&from={FROM}&message={MESSAGE}&id={ID}&date={TIMESTAMP}&media={MEDIA}'),
  ],
  defaults(written) {
    const d: Record<string, string> = {
      // The URL token is the check; VoIP.ms publishes no addresses for its callbacks.
      allow: 'any',
      send_url: `${baseUrl(written)}/api/v1/rest.php`,
      send_auth: 'form',
      send_username_field: 'api_username',
      send_password_field: 'api_password',
      send_to: 'dst',
      send_from: 'did',
      send_body: 'message',
      send_id_field: 'sms',
      field_to: 'to',
      field_from: 'from',
      field_body: 'message',
      field_id: 'id',
      methods: 'GET, POST',
    };
    if (written['account']) d['send_username'] = written['account'];
    if (written['secret']) d['send_password'] = written['secret'];
    return d;
  },
  buildRequest,
  parseResponse,
  // VoIP.ms sends no delivery reports.
  parseStatus: () => undefined,
  parseWebhook,
  answer: () => OK_ANSWER,
};
