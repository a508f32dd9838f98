// 46elks: the /a1/sms API, its inbound SMS/MMS webhook and delivery reports.
//
// Sources followed: ../shared/providers.md §3 (46elks.com/docs: send-sms,
// receive-sms, sms-delivery-reports, ip-addresses). 46elks has no SDK for Node
// and does not sign its webhooks, so this profile has no verifyWebhook: an
// interface relies on a secret URL token (required, see settings) and on
// 46elks's published source addresses, the default allowlist. The error body
// of a refused send is not documented: it is read as text, its first line
// being the reason. A non-empty answer to an inbound webhook would be texted
// back to the sender as an auto-reply, so the answer is always empty.

import type { SendConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { basicAuthorization } from './auth.js';
import { fieldText, requiredField, statusUrl } from './fields.js';
import { formatNumber, generic } from './generic.js';
import { accountSetting, numberSetting, publicUrlSetting, secretSetting, tokenSetting } from './settings.js';
import type { HttpAnswer, InboundText, OutgoingText, ProviderAdapter, SendOutcome, SendRequest, StatusReport, WebhookAnswer, WebhookParse, WebhookRequest } from './types.js';

const API = 'https://api.46elks.com';

/** Where 46elks's webhooks come from (46elks.se/docs/ip-addresses, as in providers.md §3.5). */
export const ELKS_ADDRESSES = ['176.10.154.199', '85.24.146.132', '185.39.146.243', '2001:9b0:2:902::199'];

function buildRequest(text: OutgoingText, cfg: SendConfig): SendRequest {
  const ours: Array<[string, string]> = [
    ['from', formatNumber(text.from, cfg.numberFormat)],
    ['to', formatNumber(text.to, cfg.numberFormat)],
    ['message', text.body],
  ];
  const taken = new Set(ours.map(([k]) => k));
  const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' };
  if (cfg.auth === 'basic') headers['Authorization'] = basicAuthorization(cfg.username, cfg.password);
  const body = new URLSearchParams([...ours, ...Object.entries(cfg.extra).filter(([k]) => !taken.has(k))]).toString();
  return { method: 'POST', url: cfg.url, headers, body };
}

function parseResponse(answer: HttpAnswer, cfg: SendConfig): SendOutcome {
  if (answer.status < 200 || answer.status >= 300) return generic.parseResponse(answer, cfg);
  let id: string | undefined;
  try {
    const doc = JSON.parse(answer.body) as { id?: unknown };
    if (typeof doc?.id === 'string') id = doc.id.trim();
  } catch {
    // A 200 is 46elks taking the text, whatever its body.
  }
  return { kind: 'accepted', providerId: id ? id : null };
}

function parseStatus(fields: Record<string, unknown>): StatusReport | undefined {
  const providerId = fieldText(fields, 'id')?.trim();
  const status = fieldText(fields, 'status')?.trim().toLowerCase();
  if (!providerId || !status) return undefined;
  const state = status === 'delivered' ? 'delivered' : status === 'failed' ? 'failed' : 'sent';
  // 46elks says no more than "failed".
  return { providerId, state, reason: state === 'failed' ? 'failed' : null };
}

function parseWebhook(req: WebhookRequest): WebhookParse {
  const f = req.fields;
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(f, k);
  if (has('status') && !has('message') && !has('from')) {
    const report = parseStatus(f);
    if (!report) throw new RequestError(400, 'a 46elks delivery report needs id and status');
    return { kind: 'status', reports: [report] };
  }
  const text: InboundText = {
    from: requiredField(f, 'from').trim(),
    to: requiredField(f, 'to').trim(),
    body: fieldText(f, 'message') ?? '',
    providerId: fieldText(f, 'id')?.trim() ?? null,
    media: [],
  };
  const image = fieldText(f, 'image')?.trim();
  if (image) {
    let host: string;
    try {
      host = new URL(image).hostname;
    } catch {
      throw new RequestError(400, 'field image is not a URL');
    }
    // 46elks's own media URLs want the API credentials; no one else gets them.
    text.media.push({ url: image, auth: host === '46elks.com' || host.endsWith('.46elks.com') ? 'basic' : 'none' });
  }
  if (text.body === '' && text.media.length === 0) throw new RequestError(400, 'missing field message');
  return { kind: 'texts', texts: [text] };
}

function answer(): WebhookAnswer {
  // Empty: 46elks would send any body back to the sender as an SMS.
  return { status: 200, contentType: 'text/plain; charset=utf-8', body: '' };
}

function defaults(written: Readonly<Record<string, string>>): Record<string, string> {
  const base = (written['api_url'] || API).replace(/\/+$/, '');
  const d: Record<string, string> = {
    send_url: `${base}/a1/sms`,
    send_format: 'form',
    send_auth: 'basic',
    send_number_format: 'e164',
    send_id_field: 'id',
    status_field_id: 'id',
    status_field_status: 'status',
    status_delivered: 'delivered',
    status_failed: 'failed',
    field_from: 'from',
    field_to: 'to',
    field_body: 'message',
    field_id: 'id',
    methods: 'POST',
    allow: ELKS_ADDRESSES.join(', '),
  };
  if (written['account']) d.send_username = written['account'];
  if (written['secret']) d.send_password = written['secret'];
  // Delivery reports are asked for per text; 46elks does not sign them, so they carry the token.
  const callback = statusUrl(written, true);
  if (callback) d.send_extra = `whendelivered=${callback}`;
  return d;
}

export const elks: ProviderAdapter = {
  name: '46elks',
  description: '46elks: SMS and MMS; unsigned webhooks, so a URL token and 46elks\'s source addresses',
  settings: [
    accountSetting('API username (46elks dashboard, API credentials; starts with u)'),
    secretSetting('API password (same page)'),
    tokenSetting('A long random string of your own (16+ of A-Z a-z 0-9 _ - . ~): 46elks does not sign its webhooks, so their URLs carry it'),
    numberSetting('Your 46elks number, the sender of texts that name none'),
    publicUrlSetting('This interface\'s webhook URL as 46elks calls it (without the token); also gives the delivery report URL sent with each text'),
  ],
  defaults,
  buildRequest,
  parseResponse,
  parseStatus: (fields) => parseStatus(fields),
  parseWebhook: (req) => parseWebhook(req),
  answer,
};
