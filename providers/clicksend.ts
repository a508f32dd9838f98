// ClickSend REST v3: send with HTTP Basic (username and API key) as a JSON
// messages[] batch of one; read its answer, which says SUCCESS per message
// inside a 200 that can still carry a refusal; inbound texts and delivery
// receipts from its "URL" inbound and delivery-report rules (form, query
// string or JSON, all read the same way).
//
// Sources: ClickSend's OpenAPI 1.0.0 (APIs-guru openapi-directory
// APIs/clicksend.com/1.0.0/openapi.yaml) for the send request, its answer and
// the per-message status values; the inbound and delivery-receipt field names
// come from third-party handlers (nyaruka/courier handlers/clicksend) as
// summarised in providers.md §7, and are unverified by ClickSend's own
// documentation: websms reads the documented names and a few alternatives.
// ClickSend does not sign its webhooks: the interface relies on its URL token.

import http from 'node:http';
import type { InterfaceConfig, SendConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { cleanReason, EMPTY_OK, retryAfterMs, valueAt } from './generic.js';
import { parseJson } from './json-api.js';
import { basicAuthorization } from './auth.js';
import { asObject, own, plusInternational, textOf } from './fields.js';
import { accountSetting, numberSetting, secretSetting, tokenSetting } from './settings.js';
import type { HttpAnswer, InboundText, OutgoingText, ProviderAdapter, SendOutcome, SendRequest, StatusReport, WebhookParse, WebhookRequest } from './types.js';

export const CLICKSEND_API = 'https://rest.clicksend.com';

function buildRequest(text: OutgoingText, cfg: SendConfig): SendRequest {
  const message: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, { source: 'websms' }, cfg.extra, {
    [cfg.fieldFrom]: text.from,
    [cfg.fieldTo]: text.to,
    [cfg.fieldBody]: text.body,
    // Echoed in delivery receipts and replies.
    custom_string: text.reference,
  });
  return {
    method: 'POST',
    url: cfg.url,
    headers: { 'Content-Type': 'application/json; charset=utf-8', Authorization: basicAuthorization(cfg.username, cfg.password) },
    body: JSON.stringify({ messages: [message] }),
  };
}

// ---- the answer ------------------------------------------------------------------

/** What a per-message status means to the person whose text it was; ClickSend's own code follows. */
const MEANING: Readonly<Record<string, string>> = {
  INVALID_RECIPIENT: 'the recipient is not a valid number',
  INSUFFICIENT_CREDIT: 'the ClickSend account has no credit left',
  INVALID_SENDER_ID: 'this sender is not allowed on the ClickSend account',
  EMPTY_MESSAGE: 'the text is empty',
  INVALID_CREDENTIALS: 'the username or API key is wrong',
  ACCOUNT_NOT_ACTIVATED: 'the ClickSend account is not activated',
  THROTTLED: 'the same text went to this number moments ago; ClickSend asks to wait',
  INTERNAL_ERROR: 'ClickSend had an internal error',
};
/** Per-message statuses worth another attempt: THROTTLED means "same text to the same number just now, later". */
const RETRY = new Set(['THROTTLED', 'INTERNAL_ERROR', 'QUEUE_FULL']);

/** "INVALID_RECIPIENT: the recipient is not a valid number"; unknown codes as ClickSend wrote them. */
function statusReason(code: string): string {
  const safe = cleanReason(code).slice(0, 60);
  return MEANING[safe] ? `${safe}: ${MEANING[safe]}` : `ClickSend refused the text: ${safe}`;
}

/** The envelope's own words: response_msg, else response_code, else the HTTP status text. */
function envelopeReason(answer: HttpAnswer, doc: unknown): string {
  const msg = textOf(valueAt(doc, 'response_msg'))?.trim();
  const code = textOf(valueAt(doc, 'response_code'))?.trim();
  const words = [code, msg].filter((s): s is string => !!s).join(': ') || (http.STATUS_CODES[answer.status] ?? 'unexpected status');
  return cleanReason(`${answer.status}: ${words}`);
}

function parseAccepted(answer: HttpAnswer, doc: unknown): SendOutcome {
  const first = asObject(valueAt(doc, 'data.messages.0'));
  if (!first) {
    // No per-message part: the envelope decides.
    const code = textOf(valueAt(doc, 'response_code'))?.toUpperCase();
    return code === 'SUCCESS' ? { kind: 'accepted', providerId: null } : { kind: 'permanent', reason: envelopeReason(answer, doc) };
  }
  const status = (textOf(own(first, 'status')) ?? '').trim().toUpperCase();
  if (status === 'SUCCESS') {
    const id = textOf(own(first, 'message_id'))?.trim();
    return { kind: 'accepted', providerId: id ? id : null };
  }
  if (RETRY.has(status)) return { kind: 'retry', reason: statusReason(status) };
  return { kind: 'permanent', reason: statusReason(status || '(no status)') };
}

function parseResponse(answer: HttpAnswer): SendOutcome {
  const s = answer.status;
  const doc = parseJson(answer.body);
  if (s >= 200 && s < 300) return parseAccepted(answer, doc);
  const reason = envelopeReason(answer, doc);
  if (s === 429 || s === 503) {
    const after = retryAfterMs(answer.headers['retry-after']);
    return after === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs: after };
  }
  if (s === 408 || s >= 500) return { kind: 'retry', reason };
  if (s >= 400) return { kind: 'permanent', reason };
  return { kind: 'retry', reason: cleanReason(`unexpected HTTP status ${s}`) };
}

// ---- delivery receipts -----------------------------------------------------------

const DELIVERED = new Set(['delivered']);
const FAILED = new Set(['failed', 'undelivered', 'undeliverable', 'expired', 'rejected', 'cancelled', 'canceled', 'bounced']);

/** A receipt's fields, flat or inside a "data" object (JSON rules). */
function receiptOf(fields: Record<string, unknown>): StatusReport | undefined {
  const f = asObject(own(fields, 'data')) ?? fields;
  const id = (textOf(own(f, 'message_id')) ?? textOf(own(f, 'messageid')))?.trim();
  const status = textOf(own(f, 'status'))?.trim().toLowerCase();
  if (!id || !status) return undefined;
  const state = DELIVERED.has(status) ? 'delivered' : FAILED.has(status) ? 'failed' : 'sent';
  const why = [textOf(own(f, 'status_text')), textOf(own(f, 'error_text'))].find((s) => s !== undefined && s.trim() !== '');
  const reason = state === 'failed' ? cleanReason(why ?? status) : null;
  return { providerId: id, state, reason: reason === '' ? null : reason };
}

function parseStatus(fields: Record<string, unknown>): StatusReport | undefined {
  return receiptOf(fields);
}

// ---- inbound ---------------------------------------------------------------------

function field(fields: Record<string, unknown>, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = textOf(valueAt(fields, n));
    if (v !== undefined) return v;
  }
  return undefined;
}

function parseWebhook(req: WebhookRequest, iface: InterfaceConfig): WebhookParse {
  const f = req.fields;
  // ClickSend's delivery-report rule may point at either URL: the payload decides, the URL breaks a tie.
  if (req.route === 'status') {
    const report = receiptOf(f);
    if (report) return { kind: 'status', reports: [report] };
  }
  // The body is "body" in ClickSend's rules and "message" in older ones: either.
  const body = field(f, iface.fieldBody, 'body', 'message');
  const from = field(f, iface.fieldFrom, 'from');
  if (body === undefined || from === undefined) {
    const report = receiptOf(f);
    if (report) return { kind: 'status', reports: [report] };
    throw new RequestError(400, `not a ClickSend inbound text (no ${body === undefined ? iface.fieldBody : iface.fieldFrom}) nor a delivery receipt (no message_id and status)`);
  }
  if (body === '') throw new RequestError(400, `ClickSend inbound text with an empty ${iface.fieldBody}`);
  const to = field(f, iface.fieldTo, 'to')?.trim() || iface.number;
  if (!to) throw new RequestError(400, `ClickSend inbound text without ${iface.fieldTo}, and the interface has no number`);
  const id = (iface.fieldId !== '' ? field(f, iface.fieldId) : undefined)?.trim();
  const text: InboundText = { from: plusInternational(from), to: plusInternational(to), body, providerId: id ? id : null, media: [] };
  return { kind: 'texts', texts: [text] };
}

function baseUrl(written: Readonly<Record<string, string>>): string {
  const api = written['api_url']?.trim();
  return (api ? api : CLICKSEND_API).replace(/\/+$/, '');
}

export const clicksend: ProviderAdapter = {
  name: 'clicksend',
  description: 'ClickSend REST v3: JSON with HTTP Basic (username and API key), per-message status; inbound and delivery receipts from its URL rules',
  settings: [
    accountSetting('Your ClickSend username (dashboard: Developers → API Credentials)'),
    secretSetting('The API key shown with it (not your login password)'),
    numberSetting('Your dedicated ClickSend number that texts go out from and come in to'),
    tokenSetting('A long random string: ClickSend does not sign its webhooks, so the rule\'s URL carries it (<path>/<token>)'),
  ],
  defaults(written) {
    const d: Record<string, string> = {
      // The URL token is the check; ClickSend publishes no addresses.
      allow: 'any',
      send_url: `${baseUrl(written)}/v3/sms/send`,
      send_format: 'json',
      send_auth: 'basic',
      send_to: 'to',
      send_from: 'from',
      send_body: 'body',
      send_reference_field: 'custom_string',
      send_id_field: 'data.messages.0.message_id',
      field_to: 'to',
      field_from: 'from',
      field_body: 'body',
      field_id: 'message_id',
      methods: 'POST, GET',
      status_field_id: 'message_id',
      status_field_status: 'status',
      status_field_reason: 'status_text',
      status_delivered: 'Delivered',
      status_failed: 'Failed, Undelivered, Expired, Rejected, Cancelled',
    };
    if (written['account']) d['send_username'] = written['account'];
    if (written['secret']) d['send_password'] = written['secret'];
    return d;
  },
  buildRequest,
  parseResponse,
  parseStatus,
  parseWebhook,
  answer: () => EMPTY_OK,
};
