// Telnyx Messaging API v2.
//
// Sources: Telnyx's documentation (developers.telnyx.com: send-a-message,
// receiving-webhooks, callbacks/inbound-message and delivery-update,
// rate-limiting, api-fundamentals/idempotency) and the official SDK `telnyx`
// 7.24 in node_modules (src/lib/webhooks.ts for the signature, client.ts and
// resources/messages for the send request), as summarised with test vectors in
// ../shared/providers.md §5. Where that summary marks a detail unverified:
//  - the inbound `to[].status` value: not read at all; the recipient is `to[i].phone_number`;
//  - how a long inbound text arrives: as one event (`parts` counts the segments), so no reassembly;
//  - an idempotency key: Telnyx honours Idempotency-Key only on endpoints whose
//    reference declares it, and POST /v2/messages does not (the SDK's
//    MessageSendParams has none, unlike email-validations or ai), so none is
//    sent; send_idempotency_header still adds one if a user wants it.
//
// Send: POST {api_url|https://api.telnyx.com}/v2/messages, JSON {from, to, text},
// Authorization: Bearer <API key>; 200 with the message id at data.id.
// Webhooks: one URL on the messaging profile gets inbound texts
// (message.received) and delivery events (message.sent, then
// message.finalized with the outcome in payload.to[].status); each is signed
// with Ed25519 over "<telnyx-timestamp>|<raw body>" and must be answered with a
// 2xx within 2 s (websms answers as soon as the text is committed).

import crypto from 'node:crypto';
import type { InterfaceConfig, SendConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { formatNumber } from './generic.js';
import { asArray, asObject, str } from './fields.js';
import { checkByGet, classify, jsonBodyOf, jsonHeaders, webhookJson, words } from './json-api.js';
import { numberSetting, secretSetting } from './settings.js';
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
import { staleTimestamp, strictBase64 } from './auth.js';

export const TELNYX_API = 'https://api.telnyx.com';
/** The SDK's tolerance between telnyx-timestamp and our clock, in seconds. */
export const TELNYX_TOLERANCE_S = 300;
/** DER prefix that makes a raw 32-byte Ed25519 public key an SPKI structure Node can import. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function buildRequest(text: OutgoingText, cfg: SendConfig): SendRequest {
  const headers = jsonHeaders(cfg);
  if (cfg.idempotencyHeader) headers[cfg.idempotencyHeader] = text.reference;
  const ours = { from: formatNumber(text.from, cfg.numberFormat), to: formatNumber(text.to, cfg.numberFormat), text: text.body };
  return { method: 'POST', url: cfg.url, headers, body: jsonBodyOf({}, cfg.extra, ours) };
}

/** Telnyx errors: {"errors":[{"code":"10011","title":"...","detail":"..."}]}. */
function errorWords(json: unknown): string | undefined {
  const first = asObject(asArray(asObject(json)?.['errors'])[0]);
  if (!first) return undefined;
  const said = words(str(first['title']), str(first['detail']));
  const code = str(first['code']);
  return said === undefined ? (code ? `error ${code}` : undefined) : code ? `${said} (${code})` : said;
}

function parseResponse(answer: HttpAnswer): SendOutcome {
  return classify(
    answer,
    (json) => ({ kind: 'accepted', providerId: str(asObject(asObject(json)?.['data'])?.['id']) ?? null }),
    errorWords,
  );
}

// ---- webhooks --------------------------------------------------------------

/** Final recipient states; queued, sending, sent and delivery_unconfirmed leave the text sent. */
const DELIVERED = new Set(['delivered']);
const FAILED = new Set(['delivery_failed', 'sending_failed']);

/** The outcome of message.finalized (or of any message event read as a report). */
function reportOf(payload: Record<string, unknown>): StatusReport | undefined {
  const providerId = str(payload['id']);
  if (!providerId) return undefined;
  // One text, one recipient: the first entry is ours.
  const status = str(asObject(asArray(payload['to'])[0])?.['status'])?.toLowerCase() ?? '';
  const state = DELIVERED.has(status) ? 'delivered' : FAILED.has(status) ? 'failed' : 'sent';
  const why = state === 'delivered' ? undefined : (errorWords(payload) ?? (status ? status : undefined));
  return { providerId, state, reason: why ?? null };
}

function phone(v: unknown): string | undefined {
  return str(asObject(v)?.['phone_number']) ?? str(v);
}

function inboundOf(payload: Record<string, unknown>, iface: InterfaceConfig): InboundText {
  const from = phone(payload['from']);
  const recipients = asArray(payload['to']).map(phone).filter((n): n is string => n !== undefined);
  // `to` is a list (group MMS has several): ours is the interface's number when it is among them.
  const own = iface.number.replace(/^\+/, '');
  const to = recipients.find((n) => own !== '' && n.replace(/^\+/, '') === own) ?? recipients[0];
  if (!from || !to) throw new RequestError(400, 'message.received without data.payload.from or data.payload.to');
  const media: MediaRef[] = asArray(payload['media']).flatMap((m) => {
    const o = asObject(m);
    const url = str(o?.['url']);
    if (!url) return [];
    const type = str(o?.['content_type']);
    // Telnyx media links are pre-signed and time-limited: fetched without credentials.
    return [type ? { url, contentType: type, auth: 'none' as const } : { url, auth: 'none' as const }];
  });
  return { from, to, body: typeof payload['text'] === 'string' ? payload['text'] : '', providerId: str(payload['id']) ?? null, media };
}

function eventOf(req: WebhookRequest): { type: string; payload: Record<string, unknown> } {
  const data = asObject(asObject(webhookJson(req))?.['data']);
  const type = str(data?.['event_type']);
  const payload = asObject(data?.['payload']);
  if (!type || !payload) throw new RequestError(400, 'not a Telnyx event: no data.event_type or data.payload');
  return { type, payload };
}

function parseWebhook(req: WebhookRequest, iface: InterfaceConfig): WebhookParse {
  const { type, payload } = eventOf(req);
  if (type === 'message.received') {
    if (str(payload['direction']) === 'outbound') return { kind: 'ignored', reason: 'message.received about an outbound message' };
    return { kind: 'texts', texts: [inboundOf(payload, iface)] };
  }
  if (type === 'message.finalized') {
    const report = reportOf(payload);
    if (!report) throw new RequestError(400, 'message.finalized without data.payload.id');
    return { kind: 'status', reports: [report] };
  }
  if (type === 'message.sent') return { kind: 'ignored', reason: 'message.sent: handed to the carrier; the outcome comes with message.finalized' };
  return { kind: 'ignored', reason: `Telnyx event ${type} is not about texts websms handles` };
}

/** Ed25519 over "<telnyx-timestamp>|<raw body>" with the account's public key, as the SDK's TelnyxWebhook.verify checks it. */
function verifyWebhook(req: WebhookRequest, iface: InterfaceConfig, now: number): VerifyResult {
  if (!iface.verify) return { ok: true };
  const raw = strictBase64(iface.publicKey, 32);
  if (!raw) {
    return {
      ok: false,
      reason: iface.publicKey === ''
        ? `interface ${iface.name} has no public_key: copy it from the Telnyx portal (Keys & Credentials, Public Key)`
        : `public_key of interface ${iface.name} is not a base64 32-byte Ed25519 key`,
    };
  }
  const timestamp = req.headers['telnyx-timestamp'];
  const stale = staleTimestamp(timestamp, now, TELNYX_TOLERANCE_S, 'telnyx-timestamp');
  if (stale) return { ok: false, reason: stale };
  const given = req.headers['telnyx-signature-ed25519'];
  if (!given) return { ok: false, reason: 'no telnyx-signature-ed25519 header' };
  const signature = strictBase64(given, 64);
  if (!signature) return { ok: false, reason: 'telnyx-signature-ed25519 is not a base64 64-byte signature' };
  const signed = Buffer.concat([Buffer.from(`${timestamp}|`, 'utf8'), req.rawBody]);
  let good = false;
  try {
    const key = crypto.createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    good = crypto.verify(null, signed, key, signature);
  } catch {
    // 32 bytes that are no point on the curve: nothing verifies with them.
    good = false;
  }
  return good ? { ok: true } : { ok: false, reason: 'telnyx-signature-ed25519 does not match the body and timestamp (wrong public_key, or the body was changed)' };
}

/** Telnyx reads only the status: an empty 200. */
function answer(): WebhookAnswer {
  return { status: 200, contentType: 'text/plain; charset=utf-8', body: '' };
}

function parseStatus(fields: Record<string, unknown>): StatusReport | undefined {
  const data = asObject(fields['data']);
  const payload = asObject(data?.['payload']);
  if (str(data?.['event_type']) !== 'message.finalized' || !payload) return undefined;
  return reportOf(payload);
}

export const telnyx: ProviderAdapter = {
  name: 'telnyx',
  description: 'Telnyx Messaging API v2: JSON with a bearer API key, Ed25519-signed webhooks (inbound texts, pictures and delivery events)',
  settings: [
    secretSetting('API key (KEY...) from the Telnyx portal, Keys & Credentials, API Keys'),
    { key: 'public_key', doc: 'Public key from the Telnyx portal, Keys & Credentials, Public Key: verifies the webhooks', secret: false, required: true },
    numberSetting('Your Telnyx number in E.164 (+12025550160), assigned to a messaging profile'),
  ],
  defaults(written) {
    const base = (written['api_url'] || TELNYX_API).replace(/\/+$/, '');
    const d: Record<string, string> = {
      send_url: `${base}/v2/messages`,
      send_format: 'json',
      send_auth: 'bearer',
      send_to: 'to',
      send_from: 'from',
      send_body: 'text',
      send_id_field: 'data.id',
      send_number_format: 'e164',
      allow: 'any',
      field_to: 'data.payload.to.0.phone_number',
      field_from: 'data.payload.from.phone_number',
      field_body: 'data.payload.text',
      field_id: 'data.payload.id',
      status_field_id: 'data.payload.id',
      status_field_status: 'data.payload.to.0.status',
      status_field_reason: 'data.payload.errors.0.detail',
      status_delivered: 'delivered',
      status_failed: 'delivery_failed, sending_failed',
    };
    if (written['secret']) d['send_bearer'] = written['secret'];
    return d;
  },
  // GET /v2/balance: the account balance, readable with any valid API key.
  checkCredentials: (cfg, timeoutMs) =>
    checkByGet(cfg, cfg.url.replace(/\/messages\/?$/, '/balance'), timeoutMs, (json) => {
      const d = asObject(asObject(json)?.['data']);
      const balance = str(d?.['balance']);
      return balance ? `balance ${balance} ${str(d?.['currency']) ?? ''}`.trim() : 'the balance was read';
    }, errorWords),
  buildRequest,
  parseResponse,
  parseStatus,
  parseWebhook,
  verifyWebhook,
  answer,
};
