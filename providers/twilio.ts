// Twilio Programmable Messaging, and SignalWire through its Twilio-compatible
// API (LaML, now cXML): the same requests, answers and webhooks on another
// host, with another signature header and signing key.
//
// Sources (../shared/providers.md §4 and §4.7 holds the wire facts):
// - Sending: POST {api}/2010-04-01/Accounts/{AccountSid}/Messages.json, form
//   (To, From, Body, StatusCallback), HTTP Basic AccountSid:AuthToken; 201 with
//   the Message resource (sid); errors {code, message, more_info, status}; 429
//   is code 20429, safe to retry. Twilio API reference "Message resource" and
//   errors/20429; the request checked against the twilio SDK's own client
//   (test/providers-twilio.test.ts).
// - Webhooks: form fields From, To, Body, MessageSid, NumMedia, MediaUrlN,
//   MediaContentTypeN; status callbacks MessageSid, MessageStatus, ErrorCode;
//   the answer is TwiML. Twilio docs "webhook request" and "outbound message
//   status in status callbacks".
// - X-Twilio-Signature: twilio-node 6.3 src/webhooks/webhooks.ts
//   (getExpectedTwilioSignature, validateRequest, validateRequestWithBody):
//   base64 HMAC-SHA1 with the Auth Token over the URL followed by the sorted
//   POST parameters, name then value (repeated values de-duplicated and
//   sorted); the URL tried with and without the scheme's default port, as
//   received and as normalised; JSON bodies: the URL carries bodySHA256, the
//   signature covers the URL alone and the body must hash to it. A webhook
//   rule signing with a SharedKey says so in
//   X-Twilio-Webhooks-Signature-Settings (algorithm=HMAC_SHA1|HMAC_SHA256):
//   then the key is signing_secret.
// - SignalWire: send POST {space}/api/laml/2010-04-01/Accounts/{ProjectId}/
//   Messages.json, Basic ProjectId:APIToken (developer.signalwire.com
//   compatibility-api/rest/create-a-message). Webhooks carry
//   X-SignalWire-Signature (and X-Twilio-Signature for compatibility), the
//   same algorithm as Twilio's for form requests: signalwire/
//   compatibility-api-js lib/webhooks/webhooks.js (validateExpressRequest
//   reads X-SignalWire-Signature, else X-Twilio-Signature; validateRequest is
//   Twilio's HMAC-SHA1 with both port forms; bodySHA256 as Twilio). The key is
//   the project's Signing Key from the API credentials page
//   (developer.signalwire.com/guides/webhook-security); older spaces signed
//   with the API token, so secret is tried too. JSON (RELAY) requests are
//   signed as hex HMAC-SHA1 over the URL followed by the raw body
//   (signalwire-ruby lib/signalwire/webhook/validate_request.rb).

import crypto from 'node:crypto';
import type { InterfaceConfig, SendConfig } from '../src/config/types.js';
import { RequestError } from '../src/errors.js';
import { hmac, safeEqual } from './auth.js';
import { cleanReason, failureOutcome, generic, providerMessage, webhookField } from './generic.js';
import { accountSetting, numberSetting, publicUrlSetting, secretSetting, signingSecretSetting } from './settings.js';
import type {
  HttpAnswer,
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

const TWILIO_API = 'https://api.twilio.com';

/** What Twilio and SignalWire expect back: TwiML that asks for nothing. */
const TWIML: WebhookAnswer = { status: 200, contentType: 'text/xml', body: '<?xml version="1.0" encoding="UTF-8"?><Response/>' };

/** Twilio sends at most 10 media items with a message. */
const MAX_MEDIA = 10;

// ---- sending -------------------------------------------------------------

function buildRequest(text: OutgoingText, cfg: SendConfig): SendRequest {
  // The delivery-report URL goes with every text, unless the user wrote their own StatusCallback.
  const extra = cfg.statusUrl !== undefined && !Object.hasOwn(cfg.extra, 'StatusCallback') ? { StatusCallback: cfg.statusUrl, ...cfg.extra } : cfg.extra;
  return generic.buildRequest(text, { ...cfg, extra });
}

/** Twilio's error body: {"code": 21211, "message": "...", "more_info": "...", "status": 400}. */
function twilioError(body: string): { code?: string; message?: string } {
  try {
    const v = JSON.parse(body) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const code = typeof o.code === 'number' || typeof o.code === 'string' ? String(o.code) : undefined;
      const message = typeof o.message === 'string' ? o.message : undefined;
      return { ...(code !== undefined ? { code } : {}), ...(message !== undefined ? { message } : {}) };
    }
  } catch {
    // not JSON: a proxy's page or plain text
  }
  return {};
}

/** Never pass a credential on, even where the provider's message quotes the request. */
function redact(s: string, cfg: SendConfig): string {
  let out = s;
  for (const [value, label] of [[cfg.password, '(secret)'], [cfg.bearer, '(secret)'], [cfg.username, '(account)']] as const) {
    if (value.length >= 4) out = out.split(value).join(label);
  }
  return out;
}

function reasonOf(answer: HttpAnswer, cfg: SendConfig, who: string): string {
  const e = twilioError(answer.body);
  const words = e.message ?? providerMessage(answer.body);
  const head = e.code !== undefined ? `${who} error ${e.code}` : `${who} answered ${answer.status}`;
  return cleanReason(redact(words !== undefined ? `${head}: ${words}` : head, cfg));
}

function parseResponseAs(who: string) {
  return (answer: HttpAnswer, cfg: SendConfig): SendOutcome => {
    const s = answer.status;
    if (s >= 200 && s < 300) {
      let sid: unknown;
      try {
        sid = (JSON.parse(answer.body) as Record<string, unknown>).sid;
      } catch {
        sid = undefined;
      }
      return { kind: 'accepted', providerId: typeof sid === 'string' && sid !== '' ? sid : null };
    }
    if (s === 401) return { kind: 'permanent', reason: cleanReason(`${reasonOf(answer, cfg, who)} (check account and secret)`) };
    return failureOutcome(answer, reasonOf(answer, cfg, who), cleanReason(`unexpected HTTP status ${s} from ${who}`));
  };
}

// ---- delivery reports ----------------------------------------------------

/** Twilio's words for the error codes its status callbacks carry most (Twilio error dictionary, 300xx). */
const DELIVERY_ERRORS: Record<string, string> = {
  '30001': 'queue overflow',
  '30002': 'account suspended',
  '30003': 'unreachable destination handset',
  '30004': 'message blocked',
  '30005': 'unknown destination handset',
  '30006': 'landline or unreachable carrier',
  '30007': 'message filtered by the carrier',
  '30008': 'unknown error',
  '30034': 'message from an unregistered number (A2P 10DLC)',
};

function str(fields: Record<string, unknown>, name: string): string | undefined {
  const v = webhookField(fields, name)?.trim();
  return v === '' ? undefined : v;
}

function parseStatusAs(who: string) {
  return (fields: Record<string, unknown>, cfg: SendConfig): StatusReport | undefined => {
    const providerId = str(fields, cfg.statusFieldId) ?? str(fields, 'MessageSid') ?? str(fields, 'SmsSid');
    const status = (str(fields, cfg.statusFieldStatus) ?? str(fields, 'MessageStatus') ?? str(fields, 'SmsStatus'))?.toLowerCase();
    if (providerId === undefined || status === undefined) return undefined;
    const state = cfg.statusDelivered.includes(status) ? 'delivered' : cfg.statusFailed.includes(status) ? 'failed' : 'sent';
    const code = cfg.statusFieldReason === '' ? undefined : str(fields, cfg.statusFieldReason);
    const words = str(fields, 'ErrorMessage') ?? (code !== undefined ? DELIVERY_ERRORS[code] : undefined);
    const reason = code === undefined ? (words ?? null) : cleanReason(`${who} error ${code}${words ? `: ${words}` : ''}`);
    return { providerId, state, reason: state === 'sent' ? null : reason };
  };
}

// ---- inbound webhooks ----------------------------------------------------

function parseWebhookAs(who: string, parseStatus: ProviderAdapter['parseStatus']) {
  return (req: WebhookRequest, iface: InterfaceConfig): WebhookParse => {
    const f = req.fields;
    const status = str(f, 'MessageStatus')?.toLowerCase();
    // An inbound message says received; anything else about a message is a report on one we sent.
    if (req.route === 'status' || (status !== undefined && status !== 'received' && status !== 'receiving')) {
      const report = parseStatus(f, iface.send);
      if (!report) throw new RequestError(400, `not a ${who} status callback: MessageSid or MessageStatus is missing`);
      return { kind: 'status', reports: [report] };
    }
    const from = str(f, 'From');
    const to = str(f, 'To');
    if (from === undefined) throw new RequestError(400, 'missing field From');
    if (to === undefined) throw new RequestError(400, 'missing field To');
    const numMedia = str(f, 'NumMedia') ?? '0';
    if (!/^\d{1,2}$/.test(numMedia) || Number(numMedia) > MAX_MEDIA) throw new RequestError(400, `field NumMedia must be 0 to ${MAX_MEDIA}`);
    const media: MediaRef[] = [];
    for (let i = 0; i < Number(numMedia); i++) {
      const url = str(f, `MediaUrl${i}`);
      if (url === undefined) throw new RequestError(400, `missing field MediaUrl${i} (NumMedia is ${numMedia})`);
      const contentType = str(f, `MediaContentType${i}`);
      // With "HTTP Basic authentication for media" on, Twilio's media URLs need the account's credentials.
      media.push({ url, ...(contentType !== undefined ? { contentType } : {}), auth: 'basic' });
    }
    const providerId = str(f, 'MessageSid') ?? str(f, 'SmsMessageSid') ?? str(f, 'SmsSid') ?? null;
    return { kind: 'texts', texts: [{ from, to, body: webhookField(f, 'Body') ?? '', providerId, media }] };
  };
}

// ---- signatures ----------------------------------------------------------

/** The URL with the scheme's default port written out and without any port: Twilio may have signed either. */
function portForms(url: string): string[] {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(url);
  if (!m) return [url];
  const [, scheme, authority, rest] = m as unknown as [string, string, string, string];
  const at = authority.lastIndexOf('@');
  const user = authority.slice(0, at + 1);
  const hostPort = authority.slice(at + 1);
  const colon = hostPort.indexOf(':', hostPort.lastIndexOf(']') + 1);
  const host = colon < 0 ? hostPort : hostPort.slice(0, colon);
  const port = scheme.toLowerCase() === 'https://' ? ':443' : ':80';
  const without = scheme + user + host + rest;
  const withPort = colon < 0 ? scheme + user + host + port + rest : url;
  return [without, withPort];
}

function candidateUrls(url: string): string[] {
  const out = new Set(portForms(url));
  try {
    // Some back ends signed the URL as a WHATWG parser writes it (' as %27 and the like).
    for (const u of portForms(new URL(url).toString())) out.add(u);
  } catch {
    // not a URL we can parse: the form as received only
  }
  return [...out];
}

/** The POST body's parameters, each with all its values, as the signature covers them. */
function formParams(raw: Buffer): Map<string, string[]> {
  const params = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) params.set(k, [...(params.get(k) ?? []), v]);
  return params;
}

function signatureBase(url: string, params: Map<string, string[]>, dedupe: boolean): string {
  let data = url;
  for (const name of [...params.keys()].sort()) {
    const values = params.get(name)!;
    for (const v of dedupe ? [...new Set(values)].sort() : values) data += name + v;
  }
  return data;
}

interface SignatureStyle {
  who: string;
  /** Headers carrying the signature, the first found wins. */
  headers: string[];
  /** Twilio de-duplicates and sorts the values of a repeated parameter; SignalWire's validator takes them in order. */
  dedupe: boolean;
  /** SignalWire signs JSON (RELAY) requests over URL + raw body, hex. */
  jsonOverBody: boolean;
  /** What the user should check when no key matches. */
  keyHint: string;
}

function verifyAs(style: SignatureStyle) {
  return (req: WebhookRequest, iface: InterfaceConfig): VerifyResult => {
    const header = style.headers.map((h) => req.headers[h]).find((v) => v !== undefined && v !== '');
    if (header === undefined) return { ok: false, reason: `no ${style.headers.map(titleCase).join(' or ')} header` };
    const keys = [...new Set([iface.signingSecret, iface.secret].filter((k) => k !== ''))];
    if (keys.length === 0) return { ok: false, reason: `no key to check the signature with (${style.keyHint})` };
    const settings = req.headers['x-twilio-webhooks-signature-settings'];
    const algorithm = /(?:^|,)\s*algorithm\s*=\s*([^,\s]+)/i.exec(settings ?? '')?.[1]?.toUpperCase() ?? 'HMAC_SHA1';
    const hash = algorithm === 'HMAC_SHA1' ? 'sha1' : algorithm === 'HMAC_SHA256' ? 'sha256' : undefined;
    if (hash === undefined) return { ok: false, reason: `unsupported signature algorithm ${cleanReason(algorithm).slice(0, 40)}` };
    const sign = (key: string, data: string, enc: 'base64' | 'hex'): string => hmac(hash, key, data, enc);
    const urls = candidateUrls(req.url);

    const bodyHash = /[?&]bodySHA256=([^&#]*)/.exec(req.url)?.[1];
    if (bodyHash !== undefined) {
      // JSON webhooks: the signature covers the URL (with bodySHA256), the hash covers the body.
      const signed = keys.some((k) => urls.some((u) => safeEqual(header, sign(k, u, 'base64'))));
      if (!signed) return { ok: false, reason: mismatch(style) };
      const actual = crypto.createHash('sha256').update(req.rawBody).digest('hex');
      // A hex digest needs no unescaping; what is not hex cannot match.
      return safeEqual(bodyHash.toLowerCase(), actual) ? { ok: true } : { ok: false, reason: 'the body does not match the bodySHA256 the signature covers' };
    }
    if (style.jsonOverBody && req.contentType === 'application/json') {
      const body = req.rawBody.toString('utf8');
      const signed = keys.some((k) => urls.some((u) => safeEqual(header, sign(k, u + body, 'hex'))));
      return signed ? { ok: true } : { ok: false, reason: mismatch(style) };
    }
    const params = req.method === 'POST' && req.contentType === 'application/x-www-form-urlencoded' ? formParams(req.rawBody) : new Map<string, string[]>();
    const signed = keys.some((k) => urls.some((u) => safeEqual(header, sign(k, signatureBase(u, params, style.dedupe), 'base64'))));
    return signed ? { ok: true } : { ok: false, reason: mismatch(style) };
  };
}

function mismatch(style: SignatureStyle): string {
  return `${titleCase(style.headers[0]!)} does not match this request: ${style.keyHint}, and the URL must be the one ${style.who} calls (set public_url behind a reverse proxy)`;
}

function titleCase(h: string): string {
  return h.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase()).replace('Signalwire', 'SignalWire');
}

// ---- the two profiles ----------------------------------------------------

const base = (u: string): string => (u.endsWith('/') ? u.slice(0, -1) : u);

/** The keys both profiles fill in the same way; the user's own keys win (src/config/load.ts). */
function commonDefaults(written: Readonly<Record<string, string>>, sendUrl: string): Record<string, string> {
  const d: Record<string, string> = {
    send_url: sendUrl,
    send_format: 'form',
    send_auth: 'basic',
    send_username: written.account ?? '',
    send_to: 'To',
    send_from: 'From',
    send_body: 'Body',
    send_number_format: 'e164',
    send_id_field: 'sid',
    field_to: 'To',
    field_from: 'From',
    field_body: 'Body',
    field_id: 'MessageSid',
    methods: 'POST, GET',
    status_field_id: 'MessageSid',
    status_field_status: 'MessageStatus',
    status_field_reason: 'ErrorCode',
    status_delivered: 'delivered\nread',
    status_failed: 'failed\nundelivered',
  };
  if (written.secret !== undefined) d.send_password = written.secret;
  // The provider posts from addresses it does not publish; its signature is the check.
  // Without the check (verify = no) the allowlist stays loopback only.
  if (written.verify !== 'no') d.allow = 'any';
  return d;
}

const NUMBER = numberSetting('your phone number there in E.164 (+15551234567): the sender of texts sent without one');

export const twilio: ProviderAdapter = {
  name: 'twilio',
  description: 'Twilio Programmable Messaging: form API with the Account SID and Auth Token, X-Twilio-Signature on webhooks, TwiML answers',
  settings: [
    accountSetting('the Account SID (AC...) from the Twilio console'),
    secretSetting('the Auth Token from the Twilio console; it also signs Twilio\'s webhooks'),
    NUMBER,
    publicUrlSetting('this interface\'s webhook URL as you paste it into the Twilio console (https://sms.example.org/sms/in/<name>); needed for delivery reports and behind a reverse proxy'),
    signingSecretSetting('the SharedKey secret, only when a Twilio webhook rule signs with a shared key'),
  ],
  defaults: (w) => commonDefaults(w, `${base(w.api_url || TWILIO_API)}/2010-04-01/Accounts/${encodeURIComponent(w.account ?? '')}/Messages.json`),
  buildRequest,
  parseResponse: parseResponseAs('Twilio'),
  parseStatus: parseStatusAs('Twilio'),
  parseWebhook: parseWebhookAs('Twilio', parseStatusAs('Twilio')),
  verifyWebhook: verifyAs({
    who: 'Twilio',
    headers: ['x-twilio-signature'],
    dedupe: true,
    jsonOverBody: false,
    keyHint: 'secret must be the account\'s Auth Token (signing_secret the SharedKey secret)',
  }),
  answer: () => TWIML,
};

export const signalwire: ProviderAdapter = {
  name: 'signalwire',
  description: 'SignalWire through its Twilio-compatible API: your Space URL, Project ID and API token, X-SignalWire-Signature with the Signing Key',
  settings: [
    { key: 'api_url', doc: 'your Space URL (https://<space>.signalwire.com) from the SignalWire dashboard', secret: false, required: true },
    accountSetting('the Project ID from the API page of your Space'),
    secretSetting('an API token (PT...) from the same page, allowed to send messages'),
    signingSecretSetting('the Signing Key from the same page; SignalWire signs its webhooks with it', true),
    NUMBER,
    publicUrlSetting('this interface\'s webhook URL as you set it on the phone number in SignalWire (https://sms.example.org/sms/in/<name>); needed for delivery reports and behind a reverse proxy'),
  ],
  defaults: (w) => commonDefaults(w, `${base(w.api_url ?? '')}/api/laml/2010-04-01/Accounts/${encodeURIComponent(w.account ?? '')}/Messages.json`),
  buildRequest,
  parseResponse: parseResponseAs('SignalWire'),
  parseStatus: parseStatusAs('SignalWire'),
  parseWebhook: parseWebhookAs('SignalWire', parseStatusAs('SignalWire')),
  verifyWebhook: verifyAs({
    who: 'SignalWire',
    headers: ['x-signalwire-signature', 'x-twilio-signature'],
    dedupe: false,
    jsonOverBody: true,
    keyHint: 'signing_secret must be the project\'s Signing Key',
  }),
  answer: () => TWIML,
};
