// Bandwidth Messaging API v2.
//
// Sources: Bandwidth's documentation (dev.bandwidth.com: messaging/createMessage,
// messaging/webhooks, account/applications, v2-messaging/codes) and the
// documented examples in ../shared/providers.md §12; no Bandwidth SDK is
// installed here, so the tests use those examples. Where that summary marks a
// detail unverified or third-party:
//  - authentication: HTTP Basic with an API user, as the sources document; the
//    OAuth2 client-credentials variant of newer docs is not used (its token URL is unverified);
//  - Retry-After on 429: not documented; honoured when present;
//  - long inbound texts: taken to arrive as one message-received (segmentCount counts them);
//  - MMS media: the message.media URLs need the API credentials (HTTP Basic);
//    `.smil` and `.xml` parts are layout, not pictures, and are skipped (as third-party integrations do).
//
// Send: POST {api_url|https://messaging.bandwidth.com}/api/v2/users/{account}/messages,
// JSON {applicationId, to: [number], from, text, tag}, HTTP Basic with the API
// user; 202 with the message id at `id`. `tag` carries websms's reference and
// comes back in every callback.
// Callbacks: the Application's inbound and status callback URLs get a JSON
// array of events (message-received, message-sending, message-delivered,
// message-failed). They are not signed: Bandwidth sends the callback
// credentials set on the Application as HTTP Basic, which websms checks
// (username/password of the interface). At-least-once: duplicates carry the
// same message.id.

import type { InterfaceConfig, SendConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { formatNumber } from './generic.js';
import { asArray, asObject, str } from './fields.js';
import { checkByGet, classify, jsonBodyOf, jsonHeaders, webhookJson, words } from './json-api.js';
import { accountSetting, numberSetting, secretSetting } from './settings.js';
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
import { credentialsCheck } from './auth.js';

export const BANDWIDTH_API = 'https://messaging.bandwidth.com';

function buildRequest(text: OutgoingText, cfg: SendConfig): SendRequest {
  const headers = jsonHeaders(cfg);
  if (cfg.idempotencyHeader) headers[cfg.idempotencyHeader] = text.reference;
  const ours: Record<string, unknown> = {
    applicationId: cfg.application,
    to: [formatNumber(text.to, cfg.numberFormat)],
    from: formatNumber(text.from, cfg.numberFormat),
    text: text.body,
  };
  return { method: 'POST', url: cfg.url, headers, body: jsonBodyOf({ tag: text.reference }, cfg.extra, ours) };
}

/** {"type":"request-validation","description":"...","fieldErrors":[{"fieldName":"to","description":"..."}]} */
function errorWords(json: unknown): string | undefined {
  const o = asObject(json);
  if (!o) return undefined;
  const field = asObject(asArray(o['fieldErrors'])[0]);
  return words(str(o['type']), str(o['description']), str(field?.['description']));
}

function parseResponse(answer: HttpAnswer): SendOutcome {
  return classify(answer, (json) => ({ kind: 'accepted', providerId: str(asObject(json)?.['id']) ?? null }), errorWords);
}

// ---- callbacks -------------------------------------------------------------

/** Layout parts of an MMS, not content a person wants a link to. */
const LAYOUT = /\.(smil|xml)(\?|$)/i;

function inboundOf(event: Record<string, unknown>, message: Record<string, unknown>): InboundText {
  const from = str(message['from']);
  // `to` of the event is the number it concerns (ours); message.to lists every recipient of a group MMS.
  const to = str(event['to']) ?? str(asArray(message['to'])[0]);
  if (!from || !to) throw new RequestError(400, 'message-received without message.from or to');
  const media: MediaRef[] = asArray(message['media'])
    .map((m) => str(m))
    .filter((u): u is string => u !== undefined && !LAYOUT.test(u))
    .map((url) => ({ url, auth: 'basic' as const }));
  return { from, to, body: typeof message['text'] === 'string' ? message['text'] : '', providerId: str(message['id']) ?? null, media };
}

function reportOf(event: Record<string, unknown>, message: Record<string, unknown>): StatusReport | undefined {
  const providerId = str(message['id']);
  const type = str(event['type']);
  if (!providerId || !type) return undefined;
  if (type === 'message-delivered') return { providerId, state: 'delivered', reason: null };
  if (type === 'message-failed') {
    const code = str(event['errorCode']);
    return { providerId, state: 'failed', reason: words(code, str(event['description'])) ?? 'failed' };
  }
  if (type === 'message-sending') return { providerId, state: 'sent', reason: null };
  return undefined;
}

function eventsOf(json: unknown): Array<{ event: Record<string, unknown>; message: Record<string, unknown> }> {
  // Bandwidth posts an array; a single object is taken as an array of one.
  const list = Array.isArray(json) ? json : [json];
  return list.map((e) => {
    const event = asObject(e);
    const message = asObject(event?.['message']);
    if (!event || !str(event['type']) || !message) throw new RequestError(400, 'not a Bandwidth callback: an event without type or message');
    return { event, message };
  });
}

function parseWebhook(req: WebhookRequest): WebhookParse {
  const events = eventsOf(webhookJson(req));
  if (events.length === 0) return { kind: 'ignored', reason: 'an empty list of Bandwidth events' };
  const texts = events.filter(({ event }) => event['type'] === 'message-received').map(({ event, message }) => inboundOf(event, message));
  // Inbound and status callbacks go to separate URLs, so one array never mixes them in practice;
  // if one did, the texts matter more than the reports.
  if (texts.length > 0) return { kind: 'texts', texts };
  const reports = events.flatMap(({ event, message }) => {
    const r = reportOf(event, message);
    return r ? [r] : [];
  });
  if (reports.length > 0) return { kind: 'status', reports };
  return { kind: 'ignored', reason: `Bandwidth event ${String(events[0]!.event['type'])} is not about texts websms handles` };
}

/** Bandwidth does not sign; it sends the Application's callback credentials as HTTP Basic. */
function verifyWebhook(req: WebhookRequest, iface: InterfaceConfig): VerifyResult {
  if (!iface.verify) return { ok: true };
  return credentialsCheck(req, iface, 'callback credentials');
}

function answer(): WebhookAnswer {
  return { status: 200, contentType: 'text/plain; charset=utf-8', body: '' };
}

function parseStatus(fields: Record<string, unknown>): StatusReport | undefined {
  // A JSON array reaches the generic path as an object with keys "0", "1", ...; take the first event.
  const first = asObject(Array.isArray(fields) ? fields[0] : (fields['0'] ?? fields));
  const message = asObject(first?.['message']);
  return first && message ? reportOf(first, message) : undefined;
}

export const bandwidth: ProviderAdapter = {
  name: 'bandwidth',
  description: 'Bandwidth Messaging API v2: JSON with an API user over HTTP Basic; callbacks (texts, pictures, delivery) checked by their Basic credentials',
  settings: [
    accountSetting('Account id from the Bandwidth dashboard (the number in /users/{accountId}/messages)'),
    { key: 'application', doc: 'Messaging Application id (applicationId) that holds the callback URLs', secret: false, required: true },
    { key: 'send_username', doc: 'API user with the Messaging role (not the dashboard login)', secret: false, required: true },
    secretSetting('That API user\'s password'),
    { key: 'username', doc: 'Callback user id you set on the Application (InboundCallbackCreds / OutboundCallbackCreds); without it, a token', secret: false, required: false },
    { key: 'password', doc: 'Callback password you set on the Application', secret: true, required: false },
    numberSetting('Your Bandwidth number in E.164 (+12025550160)'),
  ],
  defaults(written) {
    const base = (written['api_url'] || BANDWIDTH_API).replace(/\/+$/, '');
    const account = encodeURIComponent(written['account'] ?? '');
    const d: Record<string, string> = {
      send_url: `${base}/api/v2/users/${account}/messages`,
      send_format: 'json',
      send_auth: 'basic',
      send_to: 'to',
      send_from: 'from',
      send_body: 'text',
      send_id_field: 'id',
      send_reference_field: 'tag',
      send_number_format: 'e164',
      allow: 'any',
      field_to: '0.to',
      field_from: '0.message.from',
      field_body: '0.message.text',
      field_id: '0.message.id',
      status_field_id: '0.message.id',
      status_field_status: '0.type',
      status_field_reason: '0.description',
      status_delivered: 'message-delivered',
      status_failed: 'message-failed',
    };
    if (written['secret']) d['send_password'] = written['secret'];
    return d;
  },
  // GET /api/v2/users/{account}/media lists the account's uploaded media
  // (dev.bandwidth.com/docs/messaging/media): it needs the API user and sends nothing.
  checkCredentials: (cfg, timeoutMs) =>
    checkByGet(cfg, cfg.url.replace(/\/messages\/?$/, '/media'), timeoutMs, (json) =>
      Array.isArray(json) ? `the account's media list was read (${json.length} files)` : 'the account\'s media list was read', errorWords),
  buildRequest,
  parseResponse,
  parseStatus,
  parseWebhook,
  verifyWebhook,
  answer,
};
