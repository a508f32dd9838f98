// Sinch SMS REST API (XMS).
//
// Sources: Sinch's documentation (developers.sinch.com: sms/api-reference batches,
// Webhooks, status codes, rate limits; the 2025-02-13 release notes for HMAC
// callbacks) and the official SDK in node_modules: @sinch/sms 1.4
// (rest/v1/batches/batches-api.js for the send request, models/v1 for the
// mo_text / mo_media / delivery report shapes, rest/v1/callbacks for the SMS
// callback check) with @sinch/sdk-client 1.5 (utils/authorization.helper.js:
// validateWebhookSignature, computeSignedData, calculateWebhookSignature), as
// summarised in ../shared/providers.md §13. Where that summary marks a detail
// unverified or third-party, websms follows the SDK:
//  - mo_media's body is {subject, message, media: [{url, content_type, status, code}]}
//    (the SDK's MmsMoBody), not smsconnector's {url, message};
//  - the signature: base64(HMAC(signing_secret, raw body + "." + nonce + "." + timestamp)).
//    The SDK computes SHA-256 only; Sinch's headers also name HmacSHA384 and
//    HmacSHA512, which are honoured when x-sinch-webhook-signature-algorithm says so;
//  - the timestamp: neither the SDK nor the docs bound its age, and Sinch retries a
//    callback for up to 22 h 45 min without saying whether a retry is signed anew;
//    a 403 is never retried by Sinch, so a legitimate retry refused would be lost.
//    websms therefore refuses timestamps more than 24 h away (old captures) and
//    relies on the message id for replays within that day;
//  - mo_binary (binary SMS, e.g. a part with a UDH) is no text for a phone and is
//    acknowledged without storing; long texts arrive as one mo_text.
//
// Send: POST {api_url|https://us.sms.api.sinch.com}/xms/v1/{service plan id}/batches,
// JSON {to: [number], from, body, type: mt_text, delivery_report: per_recipient_final,
// client_reference}, Authorization: Bearer <API token>; 201 with the batch id at `id`.
// Callbacks: the service plan's callback URL gets inbound texts (mo_text,
// mo_media) and delivery reports (recipient_delivery_report_sms/mms, or the
// batch-level delivery_report_sms/mms); any 2xx acknowledges.

import type { InterfaceConfig, SendConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { formatNumber } from './generic.js';
import { asArray, asObject, str } from './fields.js';
import { checkByGet, classify, jsonBodyOf, jsonHeaders, webhookJson, words } from './json-api.js';
import { accountSetting, numberSetting, secretSetting, signingSecretSetting } from './settings.js';
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
import { credentialsCheck, hmac, safeEqual, staleTimestamp } from './auth.js';

export const SINCH_API = 'https://us.sms.api.sinch.com';
/** Longer than Sinch's whole retry schedule (81920 s), see the header comment. */
export const SINCH_TOLERANCE_S = 86_400;
const ALGORITHMS: Readonly<Record<string, string>> = { hmacsha256: 'sha256', hmacsha384: 'sha384', hmacsha512: 'sha512' };

function buildRequest(text: OutgoingText, cfg: SendConfig): SendRequest {
  const headers = jsonHeaders(cfg);
  if (cfg.idempotencyHeader) headers[cfg.idempotencyHeader] = text.reference;
  // Final reports only: the text is already 'sent' once the batch is accepted.
  const optional = { type: 'mt_text', delivery_report: 'per_recipient_final', client_reference: text.reference };
  const ours = { to: [formatNumber(text.to, cfg.numberFormat)], from: formatNumber(text.from, cfg.numberFormat), body: text.body };
  return { method: 'POST', url: cfg.url, headers, body: jsonBodyOf(optional, cfg.extra, ours) };
}

/** {"code":"syntax_invalid_parameter_format","text":"..."}, or problem+json {"title","detail"} on newer answers. */
function errorWords(json: unknown): string | undefined {
  const o = asObject(json);
  if (!o) return undefined;
  const code = str(o['code']);
  const said = words(str(o['text'])) ?? words(str(o['title']), str(o['detail']));
  return said === undefined ? code : code ? `${said} (${code})` : said;
}

function parseResponse(answer: HttpAnswer): SendOutcome {
  return classify(answer, (json) => ({ kind: 'accepted', providerId: str(asObject(json)?.['id']) ?? null }), errorWords);
}

// ---- callbacks -------------------------------------------------------------

const DELIVERED = new Set(['delivered']);
/** Final failures; Queued, Dispatched and Unknown leave the text sent. */
const FAILED = new Set(['failed', 'expired', 'rejected', 'aborted', 'cancelled', 'deleted']);

function stateOf(status: string): StatusReport['state'] {
  const s = status.toLowerCase();
  return DELIVERED.has(s) ? 'delivered' : FAILED.has(s) ? 'failed' : 'sent';
}

function failureReason(status: string, code: string | undefined): string {
  return code !== undefined && code !== '0' ? `${status} (code ${code})` : status;
}

function reportOf(event: Record<string, unknown>): StatusReport | undefined {
  const providerId = str(event['batch_id']);
  const type = str(event['type']) ?? '';
  if (!providerId) return undefined;
  if (type.startsWith('recipient_delivery_report_')) {
    const status = str(event['status']) ?? 'Unknown';
    const state = stateOf(status);
    return { providerId, state, reason: state === 'delivered' ? null : failureReason(status, str(event['code'])) };
  }
  if (type.startsWith('delivery_report_')) {
    // A batch-level summary. websms sends one recipient per batch, so one status;
    // should there be several, a failure outweighs a delivery, which outweighs "on its way".
    const statuses = asArray(event['statuses']).map(asObject).filter((s): s is Record<string, unknown> => s !== undefined);
    const ranked = statuses
      .map((s) => ({ status: str(s['status']) ?? 'Unknown', code: str(s['code']) }))
      .map((s) => ({ ...s, state: stateOf(s.status) }));
    const pick = ranked.find((s) => s.state === 'failed') ?? ranked.find((s) => s.state === 'delivered') ?? ranked[0];
    if (!pick) return undefined;
    return { providerId, state: pick.state, reason: pick.state === 'delivered' ? null : failureReason(pick.status, pick.code) };
  }
  return undefined;
}

function inboundOf(event: Record<string, unknown>, type: string): InboundText {
  const from = str(event['from']);
  const to = str(event['to']);
  if (!from || !to) throw new RequestError(400, `${type} without from or to`);
  const providerId = str(event['id']) ?? null;
  if (type === 'mo_text') return { from, to, body: typeof event['body'] === 'string' ? event['body'] : '', providerId, media: [] };
  // mo_media: {subject, message, media: [{url, content_type, status, code}]}; items that failed to upload have no url.
  const body = asObject(event['body']) ?? {};
  const text = [str(body['subject']), str(body['message'])].filter((s): s is string => s !== undefined).join('\n');
  const media: MediaRef[] = asArray(body['media']).flatMap((m) => {
    const o = asObject(m);
    const url = str(o?.['url']);
    if (!url) return [];
    const type = str(o?.['content_type']);
    return [type ? { url, contentType: type, auth: 'none' as const } : { url, auth: 'none' as const }];
  });
  return { from, to, body: text, providerId, media };
}

function parseWebhook(req: WebhookRequest): WebhookParse {
  const event = asObject(webhookJson(req));
  const type = str(event?.['type']);
  if (!event || !type) throw new RequestError(400, 'not a Sinch callback: no type');
  if (type === 'mo_text' || type === 'mo_media') return { kind: 'texts', texts: [inboundOf(event, type)] };
  if (type === 'mo_binary') return { kind: 'ignored', reason: 'a binary SMS (mo_binary) is not a text for a phone' };
  const report = reportOf(event);
  if (report) return { kind: 'status', reports: [report] };
  if (type.includes('delivery_report')) throw new RequestError(400, `${type} without batch_id or status`);
  return { kind: 'ignored', reason: `Sinch callback ${type} is not about texts websms handles` };
}

/**
 * With a signing_secret: the HMAC of x-sinch-webhook-signature, as the SDK's
 * validateWebhookSignature computes it. Without one (the account has no HMAC
 * callbacks): the Basic credentials or URL token arranged with Sinch.
 */
function verifyWebhook(req: WebhookRequest, iface: InterfaceConfig, now: number): VerifyResult {
  if (!iface.verify) return { ok: true };
  if (iface.signingSecret === '') return credentialsCheck(req, iface, 'signing_secret (Sinch HMAC callbacks)');
  const h = req.headers;
  const given = h['x-sinch-webhook-signature'];
  const nonce = h['x-sinch-webhook-signature-nonce'];
  const timestamp = h['x-sinch-webhook-signature-timestamp'];
  if (!given) return { ok: false, reason: 'no x-sinch-webhook-signature header (is HMAC signing enabled on the service plan?)' };
  if (!nonce) return { ok: false, reason: 'no x-sinch-webhook-signature-nonce header' };
  const stale = staleTimestamp(timestamp, now, SINCH_TOLERANCE_S, 'x-sinch-webhook-signature-timestamp');
  if (stale) return { ok: false, reason: stale };
  const named = h['x-sinch-webhook-signature-algorithm'];
  const algorithm = ALGORITHMS[(named ?? 'HmacSHA256').toLowerCase()];
  if (!algorithm) return { ok: false, reason: `x-sinch-webhook-signature-algorithm ${JSON.stringify(named).slice(0, 40)} is not HmacSHA256, HmacSHA384 or HmacSHA512` };
  const expected = hmac(algorithm, iface.signingSecret, Buffer.concat([req.rawBody, Buffer.from(`.${nonce}.${timestamp}`, 'utf8')]), 'base64');
  return safeEqual(given, expected)
    ? { ok: true }
    : { ok: false, reason: 'x-sinch-webhook-signature does not match (wrong signing_secret, or the body was changed)' };
}

function answer(): WebhookAnswer {
  return { status: 200, contentType: 'text/plain; charset=utf-8', body: '' };
}

function parseStatus(fields: Record<string, unknown>): StatusReport | undefined {
  return reportOf(fields);
}

export const sinch: ProviderAdapter = {
  name: 'sinch',
  description: 'Sinch SMS REST API: batches with a service plan\'s bearer token; callbacks (texts, pictures, delivery reports) with the HMAC signature where the account has it',
  settings: [
    accountSetting('Service plan id from the Sinch dashboard (SMS, Service APIs)'),
    secretSetting('That service plan\'s API token'),
    { key: 'api_url', doc: 'The region of the service plan: https://us.sms.api.sinch.com (default), https://eu.sms.api.sinch.com, au, br or ca', secret: false, required: false },
    signingSecretSetting('Webhook secret of HMAC-signed callbacks, when Sinch has enabled them on the service plan'),
    numberSetting('Your Sinch number in E.164 (+12025550160), or a short code'),
  ],
  defaults(written) {
    const base = (written['api_url'] || SINCH_API).replace(/\/+$/, '');
    const plan = encodeURIComponent(written['account'] ?? '');
    const d: Record<string, string> = {
      send_url: `${base}/xms/v1/${plan}/batches`,
      send_format: 'json',
      send_auth: 'bearer',
      send_to: 'to',
      send_from: 'from',
      send_body: 'body',
      send_id_field: 'id',
      send_reference_field: 'client_reference',
      send_number_format: 'e164',
      allow: 'any',
      field_to: 'to',
      field_from: 'from',
      field_body: 'body',
      field_id: 'id',
      status_field_id: 'batch_id',
      status_field_status: 'status',
      status_field_reason: 'code',
      status_delivered: 'Delivered',
      status_failed: 'Failed, Expired, Rejected, Aborted, Cancelled, Deleted',
    };
    if (written['secret']) d['send_bearer'] = written['secret'];
    return d;
  },
  // GET .../batches?page_size=1: lists the service plan's batches, which needs its token.
  checkCredentials: (cfg, timeoutMs) =>
    checkByGet(cfg, `${cfg.url}${cfg.url.includes('?') ? '&' : '?'}page_size=1`, timeoutMs, (json) => {
      const count = str(asObject(json)?.['count']);
      return count ? `the service plan lists ${count} batches` : 'the service plan\'s batches were listed';
    }, errorWords),
  buildRequest,
  parseResponse,
  parseStatus,
  parseWebhook,
  verifyWebhook,
  answer,
};
