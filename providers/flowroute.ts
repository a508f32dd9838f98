// Flowroute Messaging v2.1 and v2.2: send with HTTP Basic (access key and
// secret key) as a JSON:API document, read delivery receipts and inbound texts.
//
// The two versions differ in numbers: v2.1 takes and gives 11-digit North
// American numbers without '+' (12025550161), v2.2 E.164 with '+'. The version
// sent to is the one in send_url (v2.2 by default); inbound callbacks are read
// in either form whatever send_url says, since Flowroute posts in the format
// of the API the callback URL was set with, and the legacy flat callback
// ({"to","from","body","id"}) that the portal's older "SMS Call-Back" field
// still produces is read too: a gateway that expected only one of the forms
// left its users with texts that arrived and were never delivered.
//
// Sources: developer.flowroute.com (Messages v2.1 and v2.2: send an SMS/MMS,
// receive an SMS/MMS, receive a DLR; "Setting up inbound messages" for the flat
// form) as summarised in providers.md §9; media in `included[]` as in
// simontelephonics/smsconnector providers/provider-Flowroute.php. Flowroute
// does not sign its callbacks: the interface relies on its URL token.

import type { SendConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { cleanReason, EMPTY_OK, generic } from './generic.js';
import { basicAuthorization } from './auth.js';
import { asObject, own, plusInternational, textOf, withoutPlus } from './fields.js';
import { accountSetting, numberSetting, secretSetting, tokenSetting } from './settings.js';
import type {
  HttpAnswer,
  InboundText,
  MediaRef,
  OutgoingText,
  ProviderAdapter,
  SendOutcome,
  SendRequest,
  StatusReport,
  WebhookParse,
  WebhookRequest,
} from './types.js';

export const FLOWROUTE_API = 'https://api.flowroute.com';
const JSON_API = 'application/vnd.api+json';

/** v2.1 when send_url names it; every other URL gets v2.2's E.164 numbers. */
export function flowrouteVersion(url: string): '2.1' | '2.2' {
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    // a URL the loader let through is valid; keep the raw text otherwise
  }
  return /\/v2\.1(\/|$)/.test(path) ? '2.1' : '2.2';
}

function buildRequest(text: OutgoingText, cfg: SendConfig): SendRequest {
  const v21 = flowrouteVersion(cfg.url) === '2.1';
  const number = (n: string): string => (v21 ? withoutPlus(n) : n);
  // The receipts of this text to websms's delivery-report URL when public_url
  // tells where that is; a dlr_callback in send_extra, or none at all (the
  // account-level DLR callback then), otherwise. Other extras (is_mms, ...) go
  // beside ours in the attributes; ours win.
  const callback: Record<string, string> = cfg.statusUrl ? { dlr_callback: cfg.statusUrl } : {};
  const attributes: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, callback, cfg.extra, {
    [cfg.fieldTo]: number(text.to),
    [cfg.fieldFrom]: number(text.from),
    [cfg.fieldBody]: text.body,
  });
  return {
    method: 'POST',
    url: cfg.url,
    headers: { 'Content-Type': JSON_API, Accept: JSON_API, Authorization: basicAuthorization(cfg.username, cfg.password) },
    body: JSON.stringify({ data: { type: 'message', attributes } }),
  };
}

function parseResponse(answer: HttpAnswer, cfg: SendConfig): SendOutcome {
  // 202 with data.id (mdr2-...); errors as a JSON:API errors[] whose detail the
  // generic reader finds; 429 and 5xx are retried, with Retry-After when sent.
  return generic.parseResponse(answer, { ...cfg, success: '', idField: 'data.id' });
}

// ---- delivery receipts -----------------------------------------------------------

/** Statuses that end a text undelivered (providers.md §9.3; the list itself is unverified, so failure words are matched loosely). */
const FAILED = new Set(['smsc reject', 'smsc_reject', 'expired', 'deleted', 'undeliverable', 'undelivered', 'rejected', 'failed', 'failure']);

/** The message id of a receipt: data.id, which the docs call the message's mdr2 id. */
function receiptOf(data: Record<string, unknown>): StatusReport | undefined {
  const attributes = asObject(own(data, 'attributes'));
  const id = textOf(own(data, 'id'))?.trim();
  const status = textOf(own(attributes, 'status'))?.trim().toLowerCase();
  if (!id || !status) return undefined;
  const level = textOf(own(attributes, 'level'));
  // Level 1 is the hand-off to the carrier: "delivered" there is not the handset yet.
  const state = FAILED.has(status) ? 'failed' : status === 'delivered' && level !== '1' ? 'delivered' : 'sent';
  const code = textOf(own(attributes, 'status_code'));
  const words = textOf(own(attributes, 'status_code_description'));
  const reason = state === 'failed' ? cleanReason([words ?? status, code ? `(code ${code})` : ''].filter(Boolean).join(' ')) : null;
  return { providerId: id, state, reason: reason === '' ? null : reason };
}

function parseStatus(fields: Record<string, unknown>): StatusReport | undefined {
  const data = asObject(own(fields, 'data'));
  if (!data || textOf(own(data, 'type')) !== 'delivery_receipt') return undefined;
  return receiptOf(data);
}

// ---- inbound ---------------------------------------------------------------------

function mediaOf(root: Record<string, unknown>, attributes: Record<string, unknown>): MediaRef[] {
  const out: MediaRef[] = [];
  const included = own(root, 'included');
  if (Array.isArray(included)) {
    for (const item of included) {
      const o = asObject(item);
      if (textOf(own(o, 'type')) !== 'media') continue;
      const a = asObject(own(o, 'attributes'));
      const url = textOf(own(a, 'url'))?.trim();
      if (!url) continue;
      const type = textOf(own(a, 'mime_type'))?.trim();
      out.push(type ? { url, contentType: type, auth: 'none' } : { url, auth: 'none' });
    }
  }
  const urls = own(attributes, 'media_urls');
  if (Array.isArray(urls)) {
    for (const u of urls) {
      const url = textOf(u)?.trim();
      if (url && !out.some((m) => m.url === url)) out.push({ url, auth: 'none' });
    }
  }
  return out;
}

function required(o: Record<string, unknown>, name: string, where: string): string {
  const v = textOf(own(o, name))?.trim();
  if (!v) throw new RequestError(400, `Flowroute ${where} without ${name}`);
  return v;
}

function textFrom(attributes: Record<string, unknown>, id: string | undefined, media: MediaRef[], where: string): InboundText {
  const body = textOf(own(attributes, 'body')) ?? '';
  if (body === '' && media.length === 0) throw new RequestError(400, `Flowroute ${where} without body or media`);
  return {
    // v2.1 and the flat form: 11 digits; v2.2: E.164 with '+'. Both end up E.164.
    from: plusInternational(required(attributes, 'from', where)),
    to: plusInternational(required(attributes, 'to', where)),
    body,
    providerId: id ? id : null,
    media,
  };
}

function parseWebhook(req: WebhookRequest): WebhookParse {
  const root = req.fields;
  const data = asObject(own(root, 'data'));
  if (data) {
    const type = textOf(own(data, 'type'));
    if (type === 'delivery_receipt') {
      const report = receiptOf(data);
      if (!report) throw new RequestError(400, 'Flowroute delivery receipt without id or status');
      return { kind: 'status', reports: [report] };
    }
    if (type !== 'message') return { kind: 'ignored', reason: `Flowroute callback of type ${cleanReason(type ?? '(none)').slice(0, 40)}` };
    const attributes = asObject(own(data, 'attributes')) ?? {};
    const direction = textOf(own(attributes, 'direction'));
    if (direction !== undefined && direction !== 'inbound') return { kind: 'ignored', reason: `Flowroute ${cleanReason(direction).slice(0, 20)} message record` };
    const id = textOf(own(data, 'id'))?.trim();
    return { kind: 'texts', texts: [textFrom(attributes, id, mediaOf(root, attributes), 'message')] };
  }
  // The legacy flat callback: {"to","from","body","id"}.
  if (own(root, 'from') !== undefined || own(root, 'body') !== undefined) {
    return { kind: 'texts', texts: [textFrom(root, textOf(own(root, 'id'))?.trim(), mediaOf(root, root), 'message')] };
  }
  throw new RequestError(400, 'not a Flowroute callback: neither a JSON:API data object nor to/from/body');
}

function baseUrl(written: Readonly<Record<string, string>>): string {
  const api = written['api_url']?.trim();
  return (api ? api : FLOWROUTE_API).replace(/\/+$/, '');
}

export const flowroute: ProviderAdapter = {
  name: 'flowroute',
  description: 'Flowroute Messaging v2.2 (or v2.1 through send_url): JSON:API with HTTP Basic; inbound and delivery receipts in either version',
  settings: [
    accountSetting('Your API access key (Flowroute Manage portal: Preferences → API Control)'),
    secretSetting('The API secret key shown with it'),
    numberSetting('Your Flowroute number that texts go out from (E.164, +1...)'),
    tokenSetting('A long random string: Flowroute does not sign its callbacks, so the callback URL carries it (<path>/<token>)'),
  ],
  defaults(written) {
    const d: Record<string, string> = {
      // The URL token is the check; Flowroute's published addresses date from 2016.
      allow: 'any',
      send_url: `${baseUrl(written)}/v2.2/messages`,
      send_format: 'json',
      send_auth: 'basic',
      send_to: 'to',
      send_from: 'from',
      send_body: 'body',
      send_id_field: 'data.id',
      methods: 'POST',
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
