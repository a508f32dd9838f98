// Plivo: the Message API, its message and status webhooks, and their
// X-Plivo-Signature-V3 signature.
//
// Sources followed: ../shared/providers.md §11; the official Node SDK as
// installed (plivo 4.79: MessageInterface.create posts JSON {src, dst, text,
// url, method} to <url>/Message/ with HTTP Basic auth id:auth token;
// utils/v3Security.js validateV3Signature is the algorithm reproduced here,
// quirks included: a POST's body parameters are appended to the URL after "?"
// (or after "." when the URL has a query), each as key+value, sorted) and
// plivo.com/docs (send a message, message and status callbacks: MMS media as
// Media0, Media1, ..., whose index base providers.md marks unverified, so
// every MediaN is read in numeric order).

import querystring from 'node:querystring';
import type { InterfaceConfig, SendConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { fieldText, plusDigits, requiredField, statusUrl } from './fields.js';
import { cleanReason, formatNumber, generic } from './generic.js';
import { basicAuthorization, hmac, safeEqual } from './auth.js';
import { accountSetting, numberSetting, publicUrlSetting, secretSetting } from './settings.js';
import type {
  HttpAnswer,
  InboundText,
  MediaRef,
  OutgoingText,
  ProviderAdapter,
  SendOutcome,
  SendRequest,
  StatusReport,
  VerifyResult,
  WebhookAnswer,
  WebhookParse,
  WebhookRequest,
} from './types.js';

const API = 'https://api.plivo.com';

// ---- sending ------------------------------------------------------------

function buildRequest(text: OutgoingText, cfg: SendConfig): SendRequest {
  const ours: Record<string, string> = {
    src: formatNumber(text.from, cfg.numberFormat),
    dst: formatNumber(text.to, cfg.numberFormat),
    text: text.body,
  };
  const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8' };
  if (cfg.auth === 'basic') headers['Authorization'] = basicAuthorization(cfg.username, cfg.password);
  // Extras (the status callback url and its method) first, so they never replace ours.
  return { method: 'POST', url: cfg.url, headers, body: JSON.stringify({ ...cfg.extra, ...ours }) };
}

function parseResponse(answer: HttpAnswer, cfg: SendConfig): SendOutcome {
  if (answer.status < 200 || answer.status >= 300) return generic.parseResponse(answer, cfg);
  let id: string | undefined;
  try {
    const doc = JSON.parse(answer.body) as { message_uuid?: unknown };
    const uuids = doc?.message_uuid;
    if (Array.isArray(uuids) && typeof uuids[0] === 'string') id = uuids[0].trim();
  } catch {
    // An unreadable 202 still says queued.
  }
  return { kind: 'accepted', providerId: id ? id : null };
}

// ---- reports ------------------------------------------------------------

function parseStatus(fields: Record<string, unknown>): StatusReport | undefined {
  // A long text's parts report with the first part's id as ParentMessageUUID.
  const providerId = (fieldText(fields, 'ParentMessageUUID') ?? fieldText(fields, 'MessageUUID'))?.trim();
  const status = fieldText(fields, 'Status')?.trim().toLowerCase();
  if (!providerId || !status) return undefined;
  // US and Canadian carriers often stop at "sent": that is as far as the text gets.
  const state = status === 'delivered' || status === 'read' ? 'delivered' : ['failed', 'undelivered', 'rejected'].includes(status) ? 'failed' : 'sent';
  const code = fieldText(fields, 'ErrorCode')?.trim();
  const reason = state === 'failed' ? cleanReason(`${status}${code && code !== '000' && code !== '0' ? ` (ErrorCode ${code})` : ''}`) : null;
  return { providerId, state, reason };
}

// ---- inbound ------------------------------------------------------------

function media(f: Record<string, unknown>): MediaRef[] {
  const keys = Object.keys(f)
    .filter((k) => /^Media\d+$/.test(k))
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  const out: MediaRef[] = [];
  for (const k of keys) {
    const url = fieldText(f, k)?.trim();
    if (!url) continue;
    let host = '';
    try {
      host = new URL(url).hostname;
    } catch {
      throw new RequestError(400, `field ${k} is not a URL`);
    }
    // Plivo's media API wants the account's credentials; no one else gets them.
    out.push({ url, auth: host === 'plivo.com' || host.endsWith('.plivo.com') ? 'basic' : 'none' });
  }
  return out;
}

function parseWebhook(req: WebhookRequest): WebhookParse {
  const f = req.fields;
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(f, k);
  if (has('Status') && !has('Text')) {
    const report = parseStatus(f);
    if (!report) throw new RequestError(400, 'a Plivo status callback needs MessageUUID and Status');
    return { kind: 'status', reports: [report] };
  }
  const text: InboundText = {
    from: plusDigits(requiredField(f, 'From').trim()),
    to: plusDigits(requiredField(f, 'To').trim()),
    body: fieldText(f, 'Text') ?? '',
    providerId: fieldText(f, 'MessageUUID')?.trim() ?? null,
    media: media(f),
  };
  if (text.body === '' && text.media.length === 0) throw new RequestError(400, 'missing field Text');
  return { kind: 'texts', texts: [text] };
}

// ---- signature V3 -------------------------------------------------------

type Multi = Record<string, string[]>;

function multi(parsed: querystring.ParsedUrlQuery): Multi {
  const out: Multi = Object.create(null) as Multi;
  for (const [k, v] of Object.entries(parsed)) out[k] = v === undefined ? [] : Array.isArray(v) ? [...v] : [v];
  return out;
}

function sortedQuery(q: Multi): string {
  return Object.keys(q)
    .sort()
    .flatMap((k) => [...q[k]!].sort().map((v) => `${k}=${v}`))
    .join('&');
}

function sortedParams(p: Multi): string {
  return Object.keys(p)
    .sort()
    .flatMap((k) => [...p[k]!].sort().map((v) => `${k}${v}`))
    .join('');
}

/**
 * The string Plivo signs (before ".<nonce>"), as validateV3Signature builds it:
 * GET or no body parameters: base[?sortedQuery]; POST with body parameters:
 * base?[sortedQuery.]key1value1key2value2...
 */
export function plivoSignedString(method: 'GET' | 'POST', url: string, bodyParams: Multi): string {
  const u = new URL(url);
  const base = `${u.protocol}//${u.host}${u.pathname}`;
  const query = sortedQuery(multi(querystring.parse(u.search.slice(1))));
  const empty = method === 'GET' || Object.keys(bodyParams).length === 0;
  if (empty) return query ? `${base}?${query}` : base;
  return `${base}?${query}${query ? '.' : ''}${sortedParams(bodyParams)}`;
}

export function plivoSignature(signed: string, nonce: string, authToken: string): string {
  return hmac('sha256', authToken, `${signed}.${nonce}`, 'base64');
}

function verifyWebhook(req: WebhookRequest, iface: InterfaceConfig): VerifyResult {
  const token = iface.signingSecret || iface.secret;
  if (token === '') return { ok: false, reason: 'no secret: set secret (or signing_secret) to the Plivo auth token, or verify = no' };
  const given = req.headers['x-plivo-signature-v3'];
  const nonce = req.headers['x-plivo-signature-v3-nonce'];
  if (!given || !nonce) return { ok: false, reason: 'unsigned: no X-Plivo-Signature-V3 and X-Plivo-Signature-V3-Nonce headers' };
  const body: Multi =
    req.method === 'POST' && req.contentType === 'application/x-www-form-urlencoded' ? multi(querystring.parse(req.rawBody.toString('utf8'))) : (Object.create(null) as Multi);
  const want = plivoSignature(plivoSignedString(req.method, req.url, body), nonce, token);
  // One signature per active auth token while a token is being rotated: any one will do.
  const matches = given.split(',').map((s) => safeEqual(s.trim(), want));
  if (!matches.includes(true)) return { ok: false, reason: 'X-Plivo-Signature-V3 does not match: wrong auth token, or the URL or parameters were changed' };
  return { ok: true };
}

function answer(): WebhookAnswer {
  // Plivo XML with nothing to do: no auto-reply.
  return { status: 200, contentType: 'application/xml', body: '<Response></Response>' };
}

// ---- configuration ------------------------------------------------------

function defaults(written: Readonly<Record<string, string>>): Record<string, string> {
  const base = (written['api_url'] || API).replace(/\/+$/, '');
  const d: Record<string, string> = {
    send_format: 'json',
    send_auth: 'basic',
    send_number_format: 'digits',
    send_id_field: 'message_uuid.0',
    status_field_id: 'MessageUUID',
    status_field_status: 'Status',
    status_field_reason: 'ErrorCode',
    status_delivered: 'delivered',
    status_failed: 'failed, undelivered, rejected',
    field_from: 'From',
    field_to: 'To',
    field_body: 'Text',
    field_id: 'MessageUUID',
    methods: 'GET, POST',
    // Every webhook is signed: the signature, not the address, says it is Plivo.
    allow: 'any',
  };
  const account = written['account'];
  if (account) {
    d.send_url = `${base}/v1/Account/${encodeURIComponent(account)}/Message/`;
    d.send_username = account;
  }
  if (written['secret']) d.send_password = written['secret'];
  // Status callbacks are asked for per text. They are signed, so the token is only added when the interface has one.
  const callback = statusUrl(written, written['token'] !== undefined && written['token'] !== '');
  if (callback) d.send_extra = `url=${callback}`;
  return d;
}

export const plivo: ProviderAdapter = {
  name: 'plivo',
  description: 'Plivo: Message API; webhooks and status callbacks checked with X-Plivo-Signature-V3',
  settings: [
    accountSetting('Auth ID (Plivo console, overview page)'),
    secretSetting('Auth Token (same page); also the key of the webhook signatures'),
    numberSetting('Your Plivo number, the sender of texts that name none'),
    publicUrlSetting('This interface\'s webhook URL as Plivo calls it; also gives the status callback URL sent with each text'),
  ],
  defaults,
  buildRequest,
  parseResponse,
  parseStatus: (fields) => parseStatus(fields),
  parseWebhook: (req) => parseWebhook(req),
  verifyWebhook: (req, iface) => verifyWebhook(req, iface),
  answer,
};
