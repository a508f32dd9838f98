// Vonage (formerly Nexmo): the SMS API, and the Messages API for accounts whose
// default SMS setting is "Messages API".
//
// Sources followed: ../shared/providers.md §10; where it marks a detail
// unverified, the official Node SDK as installed (@vonage/sms 1.21:
// SMS.send posts JSON to <restHost>/sms/json with HTTP Basic, verifySignature
// builds "&key=value" over the sorted parameters with & and = in values turned
// into _, md5hash appends the secret, md5/sha1/sha256/sha512 are HMACs, hex
// compared case-insensitively; @vonage/messages 1.24: send posts JSON to
// <apiHost>/v1/messages with Basic or an RS256 JWT; @vonage/jwt 1.14:
// verifySignature accepts HS256 tokens keyed with the signature secret) and
// developer.vonage.com (SMS API reference and error codes, Messages API
// status values, signed webhooks: the JWT's payload_hash is the SHA-256 of the
// body). The signature method (md5hash, md5, sha1, sha256 or sha512) is a
// dashboard setting websms is not told: it is recognised by the length of the
// signature, and every one of them needs the signature secret.
//
// Which API: the Messages API when send_url ends in /v1/messages (what the user
// writes, see docs/providers.md), else the SMS API. The Messages API takes HTTP
// Basic (the API key and secret) or, with send_auth = bearer, an RS256 JWT of
// the application: account is then the application id and secret its private
// key, and a fresh token is signed for every request. Webhooks of either API are
// recognised by their fields, and each must carry its own signature.

import crypto from 'node:crypto';
import type { InterfaceConfig, SendConfig } from '../src/config/types.js';
import { RequestError, WebsmsError } from '../src/errors.js';
import { gsmOnly } from '../src/outbound/segments.js';
import { fieldText, plusDigits, requiredField } from './fields.js';
import { cleanReason, formatNumber, generic, retryAfterMs } from './generic.js';
import { parseJson } from './json-api.js';
import { basicAuthorization, hmac, safeEqual } from './auth.js';
import { accountSetting, numberSetting, secretSetting, signingSecretSetting } from './settings.js';
import type {
  HttpAnswer,
  InboundText,
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

const SMS_HOST = 'https://rest.nexmo.com';
/** A signed webhook older (or newer) than this is refused: a replay, or a clock far off. */
export const VONAGE_TOLERANCE_S = 300;

const JSON_TYPE = 'application/json; charset=utf-8';
const FORM_TYPE = 'application/x-www-form-urlencoded; charset=utf-8';

/** The Messages API is chosen by its endpoint. */
export function usesMessagesApi(sendUrl: string): boolean {
  try {
    return /\/v1\/messages\/?$/.test(new URL(sendUrl).pathname);
  } catch {
    return false;
  }
}

// ---- sending ------------------------------------------------------------

function authHeader(cfg: SendConfig): Record<string, string> {
  if (cfg.auth === 'basic') return { Authorization: basicAuthorization(cfg.username, cfg.password) };
  if (cfg.auth === 'bearer') {
    // "<application id>:<private key>" (what defaults makes of account and secret) is signed into a
    // fresh JWT for every request; anything else is a token the user got elsewhere.
    const colon = cfg.bearer.indexOf(':');
    return { Authorization: `Bearer ${colon > 0 ? applicationJwt(cfg.bearer.slice(0, colon), cfg.bearer.slice(colon + 1)) : cfg.bearer}` };
  }
  return {};
}

const keyCache = new Map<string, crypto.KeyObject>();

/**
 * The application's private key, given as PEM or as the PEM's base64 body on
 * one line (an ini value or environment variable holds no line breaks).
 */
function privateKey(text: string): crypto.KeyObject {
  let key = keyCache.get(text);
  if (!key) {
    key = text.includes('-----BEGIN')
      ? crypto.createPrivateKey(text)
      : crypto.createPrivateKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'pkcs8' });
    keyCache.clear(); // one key per interface at most; never a growing cache of secrets
    keyCache.set(text, key);
  }
  return key;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** An application JWT as @vonage/jwt's tokenGenerate makes it: RS256, application_id, iat, jti, exp 15 minutes on. */
export function applicationJwt(applicationId: string, key: string, nowMs = Date.now()): string {
  const iat = Math.floor(nowMs / 1000);
  const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256' }));
  const body = b64url(JSON.stringify({ jti: crypto.randomUUID(), iat, exp: iat + 900, application_id: applicationId }));
  let sig: Buffer;
  try {
    sig = crypto.sign('sha256', Buffer.from(`${head}.${body}`), privateKey(key));
  } catch {
    // Never the key itself in the reason.
    throw new WebsmsError('config', 'the Vonage application private key (secret) is not a PKCS#8 RSA key in PEM or base64');
  }
  return `${head}.${body}.${b64url(sig)}`;
}

function buildRequest(text: OutgoingText, cfg: SendConfig): SendRequest {
  const to = formatNumber(text.to, cfg.numberFormat);
  const from = formatNumber(text.from, cfg.numberFormat);
  const headers: Record<string, string> = { 'Content-Type': cfg.format === 'json' ? JSON_TYPE : FORM_TYPE, Accept: 'application/json', ...authHeader(cfg) };
  if (usesMessagesApi(cfg.url)) {
    // The Messages API takes JSON only, whatever send_format says.
    headers['Content-Type'] = JSON_TYPE;
    const body: Record<string, unknown> = { ...cfg.extra, message_type: 'text', channel: 'sms', to, from, text: text.body, client_ref: text.reference };
    return { method: 'POST', url: cfg.url, headers, body: JSON.stringify(body) };
  }
  // The SMS API sends anything outside GSM-7 garbled unless told it is unicode.
  const fields: Array<[string, string]> = [
    ['from', from],
    ['to', to],
    ['text', text.body],
    ['type', gsmOnly(text.body) ? 'text' : 'unicode'],
    ['client-ref', text.reference],
  ];
  if (cfg.auth === 'form') fields.push([cfg.usernameField, cfg.username], [cfg.passwordField, cfg.password]);
  const ours = new Set(fields.map(([k]) => k));
  const all = [...fields, ...Object.entries(cfg.extra).filter(([k]) => !ours.has(k))];
  const body = cfg.format === 'json' ? JSON.stringify(Object.fromEntries(all)) : new URLSearchParams(all).toString();
  return { method: 'POST', url: cfg.url, headers, body };
}

// ---- the answer ---------------------------------------------------------

/** SMS API status codes worth trying again: throttled, internal error, too many binds. */
const SMS_RETRY = new Set(['1', '5', '10']);

const SMS_STATUS: Record<string, string> = {
  '1': 'Throttled',
  '2': 'Missing parameters',
  '3': 'Invalid parameters',
  '4': 'Invalid credentials',
  '5': 'Internal error',
  '6': 'Invalid message',
  '7': 'Number barred',
  '8': 'Partner account barred',
  '9': 'Partner quota violation',
  '10': 'Too many existing binds',
  '11': 'Account not enabled for HTTP',
  '12': 'Message too long',
  '14': 'Invalid signature',
  '15': 'Invalid sender address',
  '22': 'Invalid network code',
  '23': 'Invalid callback URL',
  '29': 'Non-whitelisted destination',
  '32': 'Signature and API secret disallowed',
  '33': 'Number de-activated',
};

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);

function smsAnswer(answer: HttpAnswer): SendOutcome {
  const doc = parseJson(answer.body) as { messages?: unknown } | undefined;
  const messages = doc && typeof doc === 'object' && Array.isArray(doc.messages) ? (doc.messages as Array<Record<string, unknown>>) : undefined;
  if (!messages || messages.length === 0) {
    // Not Vonage's answer (a proxy's page): nothing says the text went out.
    return { kind: 'retry', reason: cleanReason(`${answer.status}: Vonage's answer has no messages list`) };
  }
  const bad = messages.findIndex((m) => str(m?.status) !== '0');
  if (bad < 0) {
    const id = str(messages[0]!['message-id'])?.trim();
    return { kind: 'accepted', providerId: id ? id : null };
  }
  const m = messages[bad]!;
  const status = str(m.status) ?? '?';
  const words = str(m['error-text']) ?? SMS_STATUS[status] ?? 'unknown status';
  const reason = cleanReason(`Vonage status ${status}: ${words}`);
  // Parts before this one went out: sending again would repeat them.
  if (bad > 0) return { kind: 'permanent', reason: cleanReason(`part ${bad + 1} of ${messages.length} refused: ${reason}`) };
  if (SMS_RETRY.has(status)) {
    const after = retryAfterMs(answer.headers['retry-after']);
    return after === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs: after };
  }
  return { kind: 'permanent', reason };
}

function messagesAnswer(answer: HttpAnswer, cfg: SendConfig): SendOutcome {
  if (answer.status >= 200 && answer.status < 300) {
    const doc = parseJson(answer.body) as Record<string, unknown> | undefined;
    const id = doc && typeof doc === 'object' ? str(doc.message_uuid)?.trim() : undefined;
    return { kind: 'accepted', providerId: id ? id : null };
  }
  const outcome = generic.parseResponse(answer, cfg);
  // RFC 7807 problem: "title: detail" says more than either alone.
  const doc = parseJson(answer.body) as Record<string, unknown> | undefined;
  const title = doc && typeof doc === 'object' ? str(doc.title) : undefined;
  const detail = doc && typeof doc === 'object' ? str(doc.detail) : undefined;
  if (outcome.kind === 'accepted' || !title) return outcome;
  return { ...outcome, reason: cleanReason(`${answer.status}: ${title}${detail && detail !== title ? `: ${detail}` : ''}`) };
}

function parseResponse(answer: HttpAnswer, cfg: SendConfig): SendOutcome {
  if (usesMessagesApi(cfg.url)) return messagesAnswer(answer, cfg);
  if (answer.status >= 200 && answer.status < 300) return smsAnswer(answer);
  return generic.parseResponse(answer, cfg);
}

// ---- delivery reports ---------------------------------------------------

/** SMS API delivery receipt err-code values (developer.vonage.com, SMS API delivery receipts). */
const DLR_ERR: Record<string, string> = {
  '1': 'unknown',
  '2': 'absent subscriber (temporary)',
  '3': 'absent subscriber (permanent)',
  '4': 'call barred by user',
  '5': 'portability error',
  '6': 'anti-spam rejection',
  '7': 'handset busy',
  '8': 'network error',
  '9': 'illegal number',
  '10': 'illegal message',
  '11': 'unroutable',
  '12': 'destination unreachable',
  '13': 'subscriber age restriction',
  '14': 'number blocked by carrier',
  '15': 'prepaid insufficient funds',
  '16': 'gateway quota exceeded',
  '99': 'general error',
};

function smsReceipt(fields: Record<string, unknown>): StatusReport | undefined {
  const providerId = fieldText(fields, 'messageId')?.trim();
  const status = fieldText(fields, 'status')?.trim().toLowerCase();
  if (!providerId || !status) return undefined;
  // accepted and buffered are on the way; unknown never says delivered or failed.
  const state = status === 'delivered' ? 'delivered' : ['failed', 'expired', 'rejected'].includes(status) ? 'failed' : 'sent';
  const code = fieldText(fields, 'err-code')?.trim();
  const reason = state === 'failed' ? cleanReason(`${status}${code && code !== '0' ? ` (err-code ${code}${DLR_ERR[code] ? `: ${DLR_ERR[code]}` : ''})` : ''}`) : null;
  return { providerId, state, reason };
}

function messagesStatus(fields: Record<string, unknown>): StatusReport | undefined {
  const providerId = fieldText(fields, 'message_uuid')?.trim();
  const status = fieldText(fields, 'status')?.trim().toLowerCase();
  if (!providerId || !status) return undefined;
  const state = status === 'delivered' || status === 'read' ? 'delivered' : ['rejected', 'undeliverable', 'failed'].includes(status) ? 'failed' : 'sent';
  let reason: string | null = null;
  if (state === 'failed') {
    const e = fields.error && typeof fields.error === 'object' ? (fields.error as Record<string, unknown>) : {};
    const words = [str(e.title), str(e.detail)].filter((s): s is string => !!s && s.trim() !== '');
    reason = cleanReason(words.length ? `${status}: ${[...new Set(words)].join(': ')}` : status);
  }
  return { providerId, state, reason };
}

function parseStatus(fields: Record<string, unknown>): StatusReport | undefined {
  return Object.prototype.hasOwnProperty.call(fields, 'message_uuid') ? messagesStatus(fields) : smsReceipt(fields);
}

// ---- inbound webhooks -----------------------------------------------------

function inboundSms(f: Record<string, unknown>): WebhookParse {
  const type = fieldText(f, 'type');
  if (type === 'binary') return { kind: 'ignored', reason: 'binary SMS (data and udh): not a text' };
  const text: InboundText = {
    from: plusDigits(requiredField(f, 'msisdn').trim()),
    to: plusDigits(requiredField(f, 'to').trim()),
    body: fieldText(f, 'text') ?? '',
    providerId: fieldText(f, 'messageId')?.trim() ?? null,
    media: [],
  };
  const concat = fieldText(f, 'concat');
  if (concat === 'true' || concat === '1') {
    const ref = requiredField(f, 'concat-ref').trim();
    const seq = Number(requiredField(f, 'concat-part'));
    const total = Number(requiredField(f, 'concat-total'));
    if (!Number.isInteger(seq) || !Number.isInteger(total) || total < 1 || total > 255 || seq < 1 || seq > total) {
      throw new RequestError(400, 'concat-part and concat-total must be whole numbers with 1 <= concat-part <= concat-total <= 255');
    }
    text.part = { ref, seq, total };
  }
  return { kind: 'texts', texts: [text] };
}

function inboundMessages(f: Record<string, unknown>): WebhookParse {
  const type = fieldText(f, 'message_type') ?? 'text';
  const text: InboundText = {
    from: plusDigits(requiredField(f, 'from').trim()),
    to: plusDigits(requiredField(f, 'to').trim()),
    body: '',
    providerId: fieldText(f, 'message_uuid')?.trim() ?? null,
    media: [],
  };
  if (type === 'text') text.body = requiredField(f, 'text');
  else if (type === 'image') {
    // MMS: the picture's URL, and its caption where there is one.
    const image = f.image && typeof f.image === 'object' ? (f.image as Record<string, unknown>) : {};
    const url = fieldText(image, 'url');
    if (!url) throw new RequestError(400, 'missing field image.url');
    text.body = fieldText(image, 'caption') ?? '';
    text.media.push({ url });
  } else return { kind: 'ignored', reason: `Messages API message_type ${cleanReason(type).slice(0, 40)}: not a text or picture` };
  return { kind: 'texts', texts: [text] };
}

function parseWebhook(req: WebhookRequest): WebhookParse {
  const f = req.fields;
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(f, k);
  if (has('message_uuid')) {
    if (has('status')) {
      const report = messagesStatus(f);
      if (!report) throw new RequestError(400, 'a Messages API status needs message_uuid and status');
      return { kind: 'status', reports: [report] };
    }
    return inboundMessages(f);
  }
  if (has('messageId') && has('status') && !has('text')) {
    const report = smsReceipt(f);
    if (!report) throw new RequestError(400, 'a delivery receipt needs messageId and status');
    return { kind: 'status', reports: [report] };
  }
  if (has('msisdn')) return inboundSms(f);
  throw new RequestError(400, 'neither a Vonage inbound SMS (msisdn, to, text) nor a delivery receipt (messageId, status)');
}

// ---- signatures ---------------------------------------------------------

const SIG_HASHES: Record<number, Array<'md5hash' | 'md5' | 'sha1' | 'sha256' | 'sha512'>> = {
  32: ['md5hash', 'md5'],
  40: ['sha1'],
  64: ['sha256'],
  128: ['sha512'],
};

/** The SMS API's signature over the parameters (all but sig), as @vonage/sms verifySignature computes it. */
export function smsSignature(params: Record<string, string>, secret: string, method: 'md5hash' | 'md5' | 'sha1' | 'sha256' | 'sha512'): string {
  let signed = '';
  for (const k of Object.keys(params).filter((k) => k !== 'sig').sort()) signed += `&${k}=${params[k]!.replace(/[&=]/g, '_')}`;
  if (method === 'md5hash') return crypto.createHash('md5').update(signed + secret).digest('hex');
  return hmac(method, secret, signed, 'hex');
}

function verifySig(req: WebhookRequest, secret: string, now: number): VerifyResult {
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.fields)) {
    if (typeof v === 'string') params[k] = v;
    else if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') params[k] = String(v);
    else return { ok: false, reason: `signed field ${k} is not a single value` };
  }
  const sig = (params.sig ?? '').toLowerCase();
  const methods = /^[0-9a-f]+$/.test(sig) ? SIG_HASHES[sig.length] : undefined;
  if (!methods) return { ok: false, reason: 'sig is not a hex MD5, SHA-1, SHA-256 or SHA-512 signature' };
  // Every candidate is computed and compared, so the time taken does not tell which one matched.
  const matches = methods.map((m) => safeEqual(smsSignature(params, secret, m), sig));
  if (!matches.includes(true)) return { ok: false, reason: 'sig does not match: wrong signature secret, or the parameters were changed' };
  const ts = Number(params.timestamp);
  if (!Number.isFinite(ts)) return { ok: false, reason: 'signed webhook without a timestamp' };
  if (Math.abs(now / 1000 - ts) > VONAGE_TOLERANCE_S) return { ok: false, reason: `timestamp is more than ${VONAGE_TOLERANCE_S} s from this host's clock (a replay, or a clock off)` };
  return { ok: true };
}

function verifyJwt(req: WebhookRequest, token: string, secret: string, now: number): VerifyResult {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'Authorization is not a JWT' };
  const [head, body, sig] = parts as [string, string, string];
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as Record<string, unknown>;
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'the JWT is not readable' };
  }
  if (!header || typeof header !== 'object' || header.alg !== 'HS256') return { ok: false, reason: `the JWT is not HS256-signed (alg ${cleanReason(String(header?.alg)).slice(0, 20)})` };
  if (!claims || typeof claims !== 'object') return { ok: false, reason: 'the JWT has no claims' };
  if (!safeEqual(hmac('sha256', secret, `${head}.${body}`, 'base64url'), sig)) {
    return { ok: false, reason: 'the JWT signature does not match: wrong signature secret, or the token was changed' };
  }
  const nowS = now / 1000;
  if (typeof claims.iat !== 'number') return { ok: false, reason: 'the JWT has no iat' };
  if (Math.abs(nowS - claims.iat) > VONAGE_TOLERANCE_S) return { ok: false, reason: `the JWT was issued more than ${VONAGE_TOLERANCE_S} s from this host's clock (a replay, or a clock off)` };
  if (typeof claims.exp === 'number' && nowS > claims.exp + 30) return { ok: false, reason: 'the JWT has expired' };
  if (typeof claims.nbf === 'number' && nowS + 30 < claims.nbf) return { ok: false, reason: 'the JWT is not valid yet' };
  const want = crypto.createHash('sha256').update(req.rawBody).digest('hex');
  if (typeof claims.payload_hash !== 'string') return { ok: false, reason: 'the JWT has no payload_hash' };
  if (!safeEqual(claims.payload_hash.toLowerCase(), want)) return { ok: false, reason: 'payload_hash does not match the body: the body was changed' };
  return { ok: true };
}

function verifyWebhook(req: WebhookRequest, iface: InterfaceConfig, now: number): VerifyResult {
  const secret = iface.signingSecret;
  if (secret === '') {
    return { ok: false, reason: 'no signing_secret: set it to the signature secret from the Vonage dashboard (API settings), or verify = no' };
  }
  const auth = /^Bearer\s+(\S+)$/i.exec(req.headers['authorization'] ?? '');
  if (auth) return verifyJwt(req, auth[1]!, secret, now);
  if (Object.prototype.hasOwnProperty.call(req.fields, 'sig')) return verifySig(req, secret, now);
  return { ok: false, reason: 'unsigned: neither a sig parameter (SMS API) nor a Bearer JWT (Messages API); turn on signed webhooks in the Vonage dashboard' };
}

function answer(): WebhookAnswer {
  // Any 2xx; a body is not read.
  return { status: 200, contentType: 'text/plain; charset=utf-8', body: '' };
}

// ---- configuration ------------------------------------------------------

function defaults(written: Readonly<Record<string, string>>): Record<string, string> {
  const base = (written['api_url'] || SMS_HOST).replace(/\/+$/, '');
  const messages = usesMessagesApi(written['send_url'] ?? '');
  const d: Record<string, string> = {
    send_url: `${base}/sms/json`,
    send_format: 'json',
    send_auth: 'basic',
    send_username_field: 'api_key',
    send_password_field: 'api_secret',
    send_number_format: 'digits',
    send_id_field: messages ? 'message_uuid' : 'messages.0.message-id',
    send_reference_field: messages ? 'client_ref' : 'client-ref',
    status_field_id: messages ? 'message_uuid' : 'messageId',
    status_field_status: 'status',
    status_delivered: messages ? 'delivered, read' : 'delivered',
    status_failed: messages ? 'rejected, undeliverable, failed' : 'failed, expired, rejected',
    field_from: messages ? 'from' : 'msisdn',
    field_to: 'to',
    field_body: 'text',
    field_id: messages ? 'message_uuid' : 'messageId',
    // The dashboard offers GET, POST and POST-JSON.
    methods: 'GET, POST',
    // Every webhook is signed: the signature, not the address, says it is Vonage.
    allow: 'any',
  };
  if (messages && written['send_auth'] === 'bearer') {
    // An application's JWT: the application id and its private key, which buildRequest signs with.
    if (written['account'] && written['secret']) d.send_bearer = `${written['account']}:${written['secret']}`;
    return d;
  }
  if (written['account']) d.send_username = written['account'];
  if (written['secret']) d.send_password = written['secret'];
  return d;
}

export const vonage: ProviderAdapter = {
  name: 'vonage',
  description: 'Vonage (Nexmo): SMS API or Messages API; signed webhooks (signature secret) checked',
  settings: [
    accountSetting('API key (Vonage dashboard, API settings); with send_auth = bearer on the Messages API: the application id'),
    secretSetting('API secret (API settings); with send_auth = bearer: the application\'s private key, PEM or its base64 body on one line'),
    signingSecretSetting('Signature secret (API settings, signed webhooks); needed to accept webhooks, which are all checked with it'),
    numberSetting('Your Vonage virtual number, the sender of texts that name none'),
    { key: 'send_url', doc: 'Only for the Messages API: https://api.nexmo.com/v1/messages', secret: false, required: false },
  ],
  defaults,
  buildRequest,
  parseResponse,
  parseStatus: (fields) => parseStatus(fields),
  parseWebhook: (req) => parseWebhook(req),
  verifyWebhook,
  answer,
};

