// The generic adapter: what PrivateDial's old WebSMS websms.conf offered, field
// names and all from the configuration. POST to send.url, as a form or as JSON,
// numbers as E.164 or bare digits, auth none | basic | bearer | form.
//
// The helpers below (valueAt, retryAfterMs, providerMessage, cleanReason) are
// exported because the named profiles will read ITSP answers the same way.

import http from 'node:http';
import { basicAuthorization } from './auth.js';
import type { InterfaceConfig, SendConfig } from '../src/config/types.js';
import { RequestError, WebsmsError } from '../src/errors.js';
import { tokenSetting } from './settings.js';
import type {
  HttpAnswer,
  OutgoingText,
  ProviderAdapter,
  SendOutcome,
  SendRequest,
  StatusReport,
  WebhookAnswer,
  WebhookParse,
  WebhookRequest,
} from './types.js';

/** Retry-After larger than this is cut down to it: an ITSP asking for a day would stall the queue. */
export const RETRY_AFTER_CAP_MS = 3_600_000;
/** Longest provider reason we pass on (log lines, texts back to the sender). */
export const REASON_MAX = 200;

const FORM_TYPE = 'application/x-www-form-urlencoded; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

// ---- building the request ------------------------------------------------

/** 'digits' drops the '+' of an E.164 number; short codes and alphanumeric senders never had one. */
export function formatNumber(number: string, format: SendConfig['numberFormat']): string {
  return format === 'digits' && /^\+\d+$/.test(number) ? number.slice(1) : number;
}

/**
 * Our fields in order: to, from, body, reference, credentials. Static extras
 * come after and never replace one of ours: a collision is a configuration
 * mistake, and sending the text to the address the user asked for matters more
 * than the extra (sendFieldProblems reports it for config validation; here ours
 * simply win).
 */
function fieldsOf(text: OutgoingText, cfg: SendConfig): { ours: Array<[string, string]>; extras: Array<[string, string]> } {
  const ours: Array<[string, string]> = [
    [cfg.fieldTo, formatNumber(text.to, cfg.numberFormat)],
    [cfg.fieldFrom, formatNumber(text.from, cfg.numberFormat)],
    [cfg.fieldBody, text.body],
  ];
  if (cfg.referenceField) ours.push([cfg.referenceField, text.reference]);
  if (cfg.auth === 'form') {
    ours.push([cfg.usernameField, cfg.username], [cfg.passwordField, cfg.password]);
  }
  const taken = new Set(ours.map(([k]) => k));
  const extras = Object.entries(cfg.extra);
  // Some ITSPs take characters outside the BMP (most emoji) only with a flag of their own.
  if (/[\u{10000}-\u{10FFFF}]/u.test(text.body)) extras.push(...Object.entries(cfg.extraUnicode).filter(([k]) => !(k in cfg.extra)));
  return { ours, extras: extras.filter(([k]) => !taken.has(k)) };
}

function ownNames(cfg: SendConfig): string[] {
  const names = [cfg.fieldTo, cfg.fieldFrom, cfg.fieldBody];
  if (cfg.referenceField) names.push(cfg.referenceField);
  if (cfg.auth === 'form') names.push(cfg.usernameField, cfg.passwordField);
  return names;
}

/**
 * What makes our own send fields impossible to build, for config validation:
 * empty or repeated names and, in JSON, one name inside another ("a" and "a.b").
 * buildRequest throws the first of these. Extras that collide are not listed.
 */
export function sendFieldProblems(cfg: SendConfig): string[] {
  const names = ownNames(cfg);
  const problems: string[] = [];
  names.forEach((n, i) => {
    if (n === '' || (cfg.format === 'json' && n.split('.').includes(''))) problems.push(`send field name "${n}" is empty or has an empty part`);
    for (const m of names.slice(0, i)) {
      if (m === n) problems.push(`send field "${n}" is used twice`);
      else if (cfg.format === 'json' && (m.startsWith(n + '.') || n.startsWith(m + '.'))) problems.push(`send fields "${m}" and "${n}" overlap in JSON`);
    }
  });
  return problems;
}

type JsonObject = { [k: string]: JsonValue };
type JsonValue = string | JsonObject;

/**
 * Dotted names become nested objects ("message.content.text"). Objects have no
 * prototype so a name such as "__proto__.x" from the configuration is just a key.
 * Our fields do not overlap (sendFieldProblems); an extra that overlaps one of
 * ours ("message" as an extra beside "message.to") is dropped: ours win.
 */
function nest(fields: Array<[string, string]>): JsonObject {
  const root: JsonObject = Object.create(null) as JsonObject;
  for (const [name, value] of fields) {
    const keys = name.split('.');
    const parents = keys.slice(0, -1);
    let at: JsonObject | undefined = root;
    for (const key of parents) {
      const here: JsonValue | undefined = Object.prototype.hasOwnProperty.call(at, key) ? at[key] : undefined;
      if (typeof here === 'string') {
        at = undefined;
        break;
      }
      at = here ?? (at[key] = Object.create(null) as JsonObject);
    }
    const leaf = keys[keys.length - 1]!;
    if (at && !Object.prototype.hasOwnProperty.call(at, leaf)) at[leaf] = value;
  }
  return root;
}

function buildRequest(text: OutgoingText, cfg: SendConfig): SendRequest {
  const problem = sendFieldProblems(cfg)[0];
  if (problem) throw new WebsmsError('config', problem);
  const { ours, extras } = fieldsOf(text, cfg);
  const headers: Record<string, string> = { 'Content-Type': cfg.format === 'json' ? JSON_TYPE : FORM_TYPE };
  if (cfg.auth === 'basic') {
    headers['Authorization'] = basicAuthorization(cfg.username, cfg.password);
  } else if (cfg.auth === 'bearer') {
    headers['Authorization'] = `Bearer ${cfg.bearer}`;
  }
  if (cfg.idempotencyHeader) headers[cfg.idempotencyHeader] = text.reference;
  // URLSearchParams is the WHATWG form serializer: UTF-8, space as '+', every
  // byte outside A-Z a-z 0-9 * - . _ percent-encoded: what a form parser expects.
  const body = cfg.format === 'json' ? JSON.stringify(nest([...ours, ...extras])) : new URLSearchParams([...ours, ...extras]).toString();
  return { method: 'POST', url: cfg.url, headers, body };
}

// ---- reading the answer --------------------------------------------------

type Parsed = { json: unknown } | { text: string };

function parseBody(body: string): Parsed {
  const s = body.trim();
  if (s.startsWith('{') || s.startsWith('[') || s.startsWith('"')) {
    try {
      return { json: JSON.parse(s) as unknown };
    } catch {
      // not JSON after all: read it as text
    }
  }
  return { text: body };
}

/** A string, number or boolean as text; anything else (null, objects) counts as absent. */
function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') return String(v);
  return undefined;
}

/**
 * The value at a dotted path (sid, data.id, messages.0.message-id); a key
 * that itself contains dots ("a.b" sent as a form field name) is tried first.
 */
export function valueAt(root: unknown, path: string): unknown {
  if (!path) return undefined;
  if (root && typeof root === 'object' && !Array.isArray(root) && Object.prototype.hasOwnProperty.call(root, path)) {
    return (root as Record<string, unknown>)[path];
  }
  let at: unknown = root;
  for (const key of path.split('.')) {
    if (Array.isArray(at)) at = /^\d+$/.test(key) ? at[Number(key)] : undefined;
    else if (at && typeof at === 'object' && Object.prototype.hasOwnProperty.call(at, key)) at = (at as Record<string, unknown>)[key];
    else return undefined;
  }
  return at;
}

/**
 * A key in a text answer: a form body (a=1&b=2) or lines of key=value, as
 * plain-text SMS APIs answer ("status=ok\nid=123"). A line with '&' is read as
 * a form (percent-decoded); a line without is taken literally, so a value with
 * '+' or '%' in plain text is not mangled.
 */
function textValue(body: string, key: string): string | undefined {
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.includes('&')) {
      const v = new URLSearchParams(line).get(key);
      if (v !== null) return v.trim();
      continue;
    }
    const eq = line.indexOf('=');
    if (eq > 0 && line.slice(0, eq).trim() === key) return line.slice(eq + 1).trim();
  }
  return undefined;
}

function lookup(doc: Parsed, path: string): string | undefined {
  return 'json' in doc ? scalar(valueAt(doc.json, path)) : textValue(doc.text, path);
}

/** No control characters (a reason ends up in one-line logs and in texts), at most REASON_MAX characters. */
export function cleanReason(s: string): string {
  const one = s.replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, ' ').replace(/\s+/g, ' ').trim();
  const chars = Array.from(one); // code points: never cut a surrogate pair in half
  return chars.length <= REASON_MAX ? one : chars.slice(0, REASON_MAX - 1).join('') + '…';
}

/** Where ITSPs put their error message; the specific names before the catch-all "message". */
const MESSAGE_PATHS = [
  'error_text', 'error-text', 'errorText', 'error_message', 'errorMessage', 'error_description',
  'error.message', 'error.description', 'error.detail', 'error',
  'errors.0.detail', 'errors.0.message', 'errors.0.title', 'errors.0',
  'messages.0.error-text', 'messages.0.error_text',
  'detail', 'message', 'description', 'reason', 'title', 'status_message',
];
const TEXT_KEYS = ['error_text', 'error', 'message', 'reason', 'detail', 'description'];

function stringAt(root: unknown, path: string): string | undefined {
  const v = valueAt(root, path);
  return typeof v === 'string' ? v : undefined;
}

/** The ITSP's own words about a failure, when its answer has any; cleaned. */
export function providerMessage(body: string): string | undefined {
  const doc = parseBody(body);
  let msg: string | undefined;
  if ('json' in doc) {
    if (typeof doc.json === 'string') msg = doc.json;
    // Strings only: {"error": false, "message": "..."} must not give "false".
    else for (const p of MESSAGE_PATHS) if ((msg = stringAt(doc.json, p)?.trim())) break;
  } else {
    const text = doc.text.trim();
    // An HTML error page (proxy, load balancer) says nothing the status doesn't.
    if (text === '' || text.startsWith('<')) return undefined;
    for (const k of TEXT_KEYS) if ((msg = textValue(text, k))) break;
    msg ||= text.split(/\r?\n/).find((l) => l.trim() !== '');
  }
  const clean = msg === undefined ? '' : cleanReason(msg);
  return clean === '' ? undefined : clean;
}

/**
 * Retry-After (RFC 9110 §10.2.3): delta-seconds or an HTTP-date, in ms from now,
 * capped at RETRY_AFTER_CAP_MS; a date in the past is 0; anything else undefined.
 */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, RETRY_AFTER_CAP_MS);
  // Date.parse takes nearly anything ("1.5", "2"); an HTTP-date has a weekday or month name and a year.
  if (!/[A-Za-z]{3}/.test(v) || !/\d{4}/.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), RETRY_AFTER_CAP_MS);
}

function statusReason(answer: HttpAnswer): string {
  const words = providerMessage(answer.body) ?? http.STATUS_CODES[answer.status] ?? 'unexpected status';
  return cleanReason(`${answer.status}: ${words}`);
}

/** cfg.success as [path, expected value]; undefined when no check is configured. */
function successCheck(cfg: SendConfig): [string, string] | undefined {
  const eq = cfg.success.indexOf('=');
  if (cfg.success.trim() === '' || eq <= 0) return undefined;
  return [cfg.success.slice(0, eq).trim(), cfg.success.slice(eq + 1).trim()];
}

function parseAccepted(answer: HttpAnswer, cfg: SendConfig): SendOutcome {
  const doc = parseBody(answer.body);
  const check = successCheck(cfg);
  if (check) {
    const [path, want] = check;
    const got = lookup(doc, path);
    // Case-insensitive: "OK" for "ok" is a success; failing a sent text for good over case would lose it.
    if (got?.trim().toLowerCase() !== want.toLowerCase()) {
      const seen = got === undefined ? '' : ` (${path}=${got})`;
      return { kind: 'permanent', reason: providerMessage(answer.body) ?? cleanReason(`response lacks ${path}=${want}${seen}`) };
    }
  }
  const id = cfg.idField ? lookup(doc, cfg.idField)?.trim() : undefined;
  return { kind: 'accepted', providerId: id ? id : null };
}

/** The reason for a status no class covers (1xx/3xx): the number and its HTTP phrase. */
export function unexpectedStatus(s: number): string {
  return cleanReason(`unexpected HTTP status ${s}${http.STATUS_CODES[s] ? ' ' + http.STATUS_CODES[s] : ''}`);
}

/**
 * The classes every profile shares for an answer that is not 2xx: 429 and 503
 * are retried after the ITSP's Retry-After when it gives one; 408 and other
 * 5xx are retried; any other 4xx is permanent, all with `reason`; 1xx/3xx (we
 * follow no redirects) are retried with `unexpected`, since nothing says the
 * text was refused.
 */
export function failureOutcome(answer: HttpAnswer, reason: string, unexpected = unexpectedStatus(answer.status)): SendOutcome {
  const s = answer.status;
  if (s === 429 || s === 503) {
    const after = retryAfterMs(answer.headers['retry-after']);
    return after === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs: after };
  }
  if (s === 408 || (s >= 500 && s < 600)) return { kind: 'retry', reason };
  if (s >= 400 && s < 500) return { kind: 'permanent', reason };
  return { kind: 'retry', reason: unexpected };
}

function parseResponse(answer: HttpAnswer, cfg: SendConfig): SendOutcome {
  const s = answer.status;
  if (s >= 200 && s < 300) return parseAccepted(answer, cfg);
  return failureOutcome(answer, statusReason(answer));
}

// ---- delivery reports ----------------------------------------------------

function parseStatus(fields: Record<string, unknown>, cfg: SendConfig): StatusReport | undefined {
  const providerId = scalar(valueAt(fields, cfg.statusFieldId))?.trim();
  const status = scalar(valueAt(fields, cfg.statusFieldStatus))?.trim().toLowerCase();
  if (!providerId || !status) return undefined;
  const has = (list: string[]) => list.some((v) => v.toLowerCase() === status);
  const state = has(cfg.statusDelivered) ? 'delivered' : has(cfg.statusFailed) ? 'failed' : 'sent';
  const why = cfg.statusFieldReason ? scalar(valueAt(fields, cfg.statusFieldReason)) : undefined;
  const reason = why === undefined ? '' : cleanReason(why);
  return { providerId, state, reason: reason === '' ? null : reason };
}

// ---- inbound webhooks ----------------------------------------------------

/**
 * A webhook field by name, or by a dotted path into JSON (data.payload.text;
 * a number indexes an array: data.payload.to.0.phone_number). A name that is
 * itself a key (a form field "a.b") is taken first. A repeated form field is
 * refused rather than guessed at; a number is read as its decimal text.
 */
export function webhookField(fields: Record<string, unknown>, name: string): string | undefined {
  const v = Object.prototype.hasOwnProperty.call(fields, name) ? fields[name] : name.includes('.') ? valueAt(fields, name) : undefined;
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) throw new RequestError(400, `field ${name} is given more than once`);
  throw new RequestError(400, `field ${name} must be a string`);
}

function requiredField(fields: Record<string, unknown>, name: string): string {
  const v = webhookField(fields, name);
  if (v === undefined || v.trim() === '') throw new RequestError(400, `missing field ${name}`);
  return v;
}

/** The interface's field keys: field_to, field_from, field_body, field_id, echo_field; status_field_* on the status URL. */
function parseWebhook(req: WebhookRequest, iface: InterfaceConfig): WebhookParse {
  const fields = req.fields;
  if (req.route === 'status') {
    const report = parseStatus(fields, iface.send);
    if (!report) throw new RequestError(400, 'not a delivery report: the id or status field is missing');
    return { kind: 'status', reports: [report] };
  }
  if (iface.echoField !== '') {
    const echo = webhookField(fields, iface.echoField);
    if (echo !== undefined && webhookField(fields, iface.fieldBody) === undefined) {
      if (!/^[\x20-\x7e]{1,256}$/.test(echo)) throw new RequestError(400, `field ${iface.echoField} must be 1-256 printable characters`);
      return { kind: 'echo', body: echo };
    }
  }
  const to = requiredField(fields, iface.fieldTo);
  const from = requiredField(fields, iface.fieldFrom);
  const body = webhookField(fields, iface.fieldBody);
  if (body === undefined) throw new RequestError(400, `missing field ${iface.fieldBody}`);
  if (body.length === 0) throw new RequestError(400, `field ${iface.fieldBody} is empty`);
  // An empty id is no id: duplicate detection falls back to the content.
  const providerId = iface.fieldId === '' ? null : webhookField(fields, iface.fieldId) || null;
  const part = iface.fieldPartRef === '' ? undefined : partOf(fields, iface);
  return { kind: 'texts', texts: [{ from, to, body, providerId, media: [], ...(part ? { part } : {}) }] };
}

/** The part fields, when this request carries one part of a longer text; absent fields: a text that came whole. */
function partOf(fields: Record<string, unknown>, iface: InterfaceConfig): { ref: string; seq: number; total: number } | undefined {
  const ref = webhookField(fields, iface.fieldPartRef);
  const seq = webhookField(fields, iface.fieldPartSeq);
  const total = webhookField(fields, iface.fieldPartTotal);
  if (ref === undefined && seq === undefined && total === undefined) return undefined;
  if (ref === undefined || ref === '') throw new RequestError(400, `missing field ${iface.fieldPartRef} (the request has part fields)`);
  for (const [name, v] of [[iface.fieldPartSeq, seq], [iface.fieldPartTotal, total]] as const) {
    if (v === undefined || !/^\d{1,3}$/.test(v)) throw new RequestError(400, `field ${name} must be a whole number`);
  }
  return { ref, seq: Number(seq), total: Number(total) };
}

/** An empty 200: what the providers that ignore the answer body get. */
export const EMPTY_OK: WebhookAnswer = Object.freeze({ status: 200, contentType: 'text/plain; charset=utf-8', body: '' });

/**
 * A reason with a secret taken out, raw and percent-encoded, for the profiles
 * whose secret travels where an answer could echo it (VoIP.ms puts the API
 * password in the URL). Secrets shorter than 4 characters are not searched
 * for: they would blank out ordinary words.
 */
export function withoutSecret(reason: string, secret: string): string {
  if (secret.length < 4) return reason;
  let out = reason;
  for (const form of new Set([secret, encodeURIComponent(secret), encodeURIComponent(secret).replace(/%20/g, '+')])) {
    out = out.split(form).join('(secret)');
  }
  return out;
}

export const generic: ProviderAdapter = {
  name: 'generic',
  description: 'Any ITSP with an HTTP API: the request, its authentication and the answer are described by send_* keys',
  settings: [
    { key: 'send_url', doc: 'the URL of the ITSP\'s send API (empty: the interface only receives)', secret: false, required: false },
    { key: 'send_username', doc: 'the user or API key for the send API, with send_auth = basic or form', secret: false, required: false },
    { key: 'send_password', doc: 'its password or API secret', secret: true, required: false },
    tokenSetting('a secret token for the webhook URL (<path>/<token>), when the ITSP does not sign its webhooks', false),
  ],
  buildRequest,
  parseResponse,
  parseStatus,
  parseWebhook,
};
