// Every key of websms.conf in one place: how it is parsed, its default as it
// would be written in the file, whether it is a secret, and a one-line doc.
// The loader, describeConfig and the sample file are all driven by this, so
// the docs cannot drift from the code.

import net from 'node:net';
import type { Level, LogFormat } from '../log.js';
import { parseCidr } from './cidr.js';
import { formatDuration, formatSize, parseDuration, parseSize } from './duration.js';
import type { Charset, EmailCopy, EmailTls, EmailUser, HttpMethod, NotifyMode, NumberFormat, SendAuth, SendFormat } from './types.js';
import { DEFAULT_MEDIA_TYPES, unservableReason } from '../media/content-types.js';
import { parsePasswordHash } from '../web/password.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };
/** Parsers of secret keys must never put the value into their reason. */
export type Parser<T> = (raw: string) => Parsed<T>;

export interface KeySpec<T = unknown> {
  parse: Parser<T>;
  /** As written in the file; a function of the section name where it depends on it. */
  default: string | ((section: string) => string);
  doc: string;
  /** Never logged or echoed; may come from WEBSMS_<SECTION>_<KEY>. Empty means not set. */
  secret: boolean;
  /** The key may repeat; the lists of all its lines are joined. */
  list: boolean;
  /** Shown commented out in the sample when the default is empty. */
  example?: string;
  /** Where the value lands in Config when not fieldOf(key); a dot for a nested object (send.password). */
  field?: string;
}

// The values are heterogeneous; Values<S> recovers each key's type.
export type Schema = Record<string, KeySpec<any>>;
export type Values<S extends Schema> = { [K in keyof S]: S[K] extends KeySpec<infer T> ? T : never };

interface KeyOptions {
  secret?: boolean;
  list?: boolean;
  example?: string;
  field?: string;
}

function key<T>(parse: Parser<T>, def: KeySpec['default'], doc: string, opts: KeyOptions = {}): KeySpec<T> {
  const spec: KeySpec<T> = { parse, default: def, doc, secret: opts.secret ?? false, list: opts.list ?? false, example: opts.example };
  if (opts.field !== undefined) spec.field = opts.field;
  return spec;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (reason: string): Parsed<never> => ({ ok: false, reason });

// ---- value types --------------------------------------------------------

function integer(min: number, max: number): Parser<number> {
  return (raw) => {
    const n = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
    return n >= min && n <= max ? ok(n) : bad(`"${raw}" is not a whole number from ${min} to ${max}`);
  };
}

const port: Parser<number> = (raw) => {
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  return n >= 1 && n <= 65535 ? ok(n) : bad(`"${raw}" is not a port number (1-65535)`);
};

// setTimeout cannot wait longer than 2^31-1 ms (about 24.8 days).
const TIMER_MAX = 24 * 86_400_000;

function duration(min: number, max: number): Parser<number> {
  return (raw) => {
    let ms: number;
    try {
      ms = parseDuration(raw);
    } catch (err) {
      return bad((err as Error).message);
    }
    if (ms < min || ms > max) return bad(`"${raw}" is out of range (${formatDuration(min)} to ${formatDuration(max)})`);
    return ok(ms);
  };
}

function size(min: number, max: number): Parser<number> {
  return (raw) => {
    let n: number;
    try {
      n = parseSize(raw);
    } catch (err) {
      return bad((err as Error).message);
    }
    if (n < min || n > max) return bad(`"${raw}" is out of range (${formatSize(min)} to ${formatSize(max)})`);
    return ok(n);
  };
}

function oneOf<T extends string>(values: readonly T[], what: string): Parser<T> {
  return (raw) =>
    (values as readonly string[]).includes(raw) ? ok(raw as T) : bad(`unknown ${what} "${raw}"; known ${what}s: ${values.join(', ')}`);
}

function text(opts: { empty: boolean; pattern?: RegExp; rule?: string }): Parser<string> {
  return (raw) => {
    if (raw === '') return opts.empty ? ok(raw) : bad('must not be empty');
    if (opts.pattern && !opts.pattern.test(raw)) return bad(`"${raw}" is not valid: ${opts.rule}`);
    return ok(raw);
  };
}

function list(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Comma-separated CIDRs, normalised to address/prefix; "any" only where allowed. */
function cidrs(opts: { any: boolean; empty?: boolean }): Parser<string[]> {
  return (raw) => {
    const items = list(raw);
    if (items.length === 0 && opts.any && !opts.empty) return bad('needs at least one address or CIDR, or "any"');
    const out: string[] = [];
    for (const item of items) {
      if (opts.any && item.toLowerCase() === 'any') {
        out.push('0.0.0.0/0', '::/0');
        continue;
      }
      const r = parseCidr(item);
      if (!r.ok) return bad(r.reason);
      out.push(r.cidr);
    }
    return ok(out);
  };
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** An IP address or a host name (not a dotted-number lookalike such as 300.1.1.1). */
function isHost(s: string): boolean {
  return net.isIP(s) !== 0 || (HOSTNAME.test(s) && !/^[\d.]+$/.test(s));
}

const host: Parser<string> = (raw) => (isHost(raw) ? ok(raw) : bad(`"${raw}" is not an IP address or host name`));
const hostOrEmpty: Parser<string> = (raw) => (raw === '' ? ok(raw) : host(raw));

export interface Listen {
  host: string;
  port: number;
}

const listen: Parser<Listen> = (raw) => {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(raw) ?? /^([^:[\]]+):(\d{1,5})$/.exec(raw);
  if (!m) return bad(`"${raw}" is not host:port (an IPv6 address is written [::1]:8080)`);
  const [, h, p] = m as unknown as [string, string, string];
  const bracketed = raw.startsWith('[');
  if (bracketed ? !net.isIPv6(h) : !isHost(h)) return bad(`"${raw}": "${h}" is not an IP address or host name`);
  // Port 0 (any free port) is useful for tests.
  if (Number(p) > 65535) return bad(`"${raw}": "${p}" is not a port number (1-65535)`);
  return ok({ host: h, port: Number(p) });
};

/** host:port, or empty for "off". */
const listenOrOff: Parser<Listen | undefined> = (raw) => (raw === '' ? ok(undefined) : listen(raw));

const countryCode: Parser<string> = (raw) =>
  /^[1-9]\d{0,2}$/.test(raw) ? ok(raw) : bad(`"${raw}" is not a country calling code (1-3 digits, without "+" or a leading 0)`);

// Context names go onto the AMI wire and into a Local/ channel name; Asterisk caps them at 79 characters.
const context = text({ empty: false, pattern: /^[A-Za-z0-9_-]{1,79}$/, rule: 'letters, digits, _ and - only' });

const methods: Parser<HttpMethod[]> = (raw) => {
  const out: HttpMethod[] = [];
  const items = list(raw).map((m) => m.toUpperCase());
  if (items.length === 0) return bad('needs at least one of POST, GET');
  for (const m of items) {
    if (m !== 'POST' && m !== 'GET') return bad(`"${m}" is not a supported method (POST, GET)`);
    if (!out.includes(m)) out.push(m);
  }
  return ok(out);
};

export const PROVIDERS = [
  'generic',
  '46elks',
  'bandwidth',
  'clicksend',
  'flowroute',
  'plivo',
  'signalwire',
  'sinch',
  'telnyx',
  'twilio',
  'vonage',
  'voipms',
  'zadarma',
] as const;

const path: Parser<string> = (raw) => {
  if (!/^\/[A-Za-z0-9/_.-]*$/.test(raw)) return bad(`"${raw}" must start with "/" and use only letters, digits and / _ - .`);
  // Routes are matched exactly, and a token is appended after one more '/'.
  if (raw.length > 1 && raw.endsWith('/')) return bad(`"${raw}" must not end with "/"`);
  if (raw.split('/').some((seg, i) => (i > 0 && seg === '' && raw !== '/') || seg === '.' || seg === '..')) {
    return bad(`"${raw}" must not contain empty, "." or ".." segments`);
  }
  return ok(raw);
};

const fieldName = (empty: boolean): Parser<string> =>
  text({ empty, pattern: /^[\x21-\x7e]{1,128}$/, rule: 'printable ASCII without spaces, at most 128 characters' });

// HTTP Basic joins user and password with ':' (RFC 7617), so a user cannot contain one.
const basicUser = text({ empty: true, pattern: /^[^:\p{Cc}]+$/u, rule: 'must not contain ":" or control characters' });

const secret: Parser<string> = (raw) => ok(raw);

const token: Parser<string> = (raw) => {
  if (raw === '') return ok(raw);
  if (!/^[A-Za-z0-9_.~-]+$/.test(raw)) return bad('may only contain the URL-safe characters A-Z a-z 0-9 _ - . ~');
  if (raw.length < 16) return bad(`must be at least 16 characters long (it has ${raw.length})`);
  return ok(raw);
};

const contentType = text({
  empty: false,
  pattern: /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(\s*;\s*[A-Za-z0-9_.-]+=\S+)*$/,
  rule: 'a media type such as text/plain or application/json (parameters after "\\;")',
});

/** A number with at most 3 decimals, such as 10, 0.5 or 2.125. */
function decimal(min: number, max: number): Parser<number> {
  return (raw) => {
    const n = /^\d{1,9}(\.\d{1,3})?$/.test(raw) ? Number(raw) : NaN;
    return n >= min && n <= max ? ok(n) : bad(`"${raw}" is not a number from ${min} to ${max} (at most 3 decimals)`);
  };
}

// The sender's PJSIP endpoint carries WEBSMS_INDEX (set_var = WEBSMS_INDEX=1); the dialplan hands it over.
const index = text({ empty: true, pattern: /^[A-Za-z0-9_.-]{1,32}$/, rule: '1-32 letters, digits, _ - or .' });

const sendUrl: Parser<string> = (raw) => {
  if (raw === '') return ok(raw);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // A broken URL may still hold credentials: quote it only when it cannot.
    return bad(raw.includes('@') ? 'is not a valid URL' : `"${raw}" is not a valid URL`);
  }
  if (url.username !== '' || url.password !== '') {
    return bad('must not contain credentials; put credentials in send_username/send_password');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return bad(`"${raw}" is not an http:// or https:// URL`);
  if (url.hostname === '') return bad(`"${raw}" has no host`);
  return ok(raw);
};

// No spaces or control characters: they would break the Authorization header.
const bearer: Parser<string> = (raw) => (/^[^\s\p{Cc}]*$/u.test(raw) ? ok(raw) : bad('must not contain spaces or control characters'));

const sendUser = text({ empty: true, pattern: /^[^\p{Cc}]+$/u, rule: 'must not contain control characters' });

/** One name=value per line; the value may hold "=" and ",". */
const extraField: Parser<[string, string][]> = (raw) => {
  if (raw === '') return ok([]);
  const eq = raw.indexOf('=');
  if (eq < 0) return bad(`"${raw}" is not name=value`);
  const name = raw.slice(0, eq).trim();
  if (name === '') return bad(`"${raw}" has an empty name before "="`);
  if (!/^[\x21-\x7e]{1,128}$/.test(name)) return bad(`"${name}" is not a field name: printable ASCII without spaces, at most 128 characters`);
  return ok([[name, raw.slice(eq + 1).trim()]]);
};

/** key=value, the key a field name or dotted path; the value may be empty. */
const success: Parser<string> = (raw) => {
  if (raw === '') return ok(raw);
  const eq = raw.indexOf('=');
  const name = eq < 0 ? '' : raw.slice(0, eq).trim();
  if (!/^[\x21-\x7e]{1,128}$/.test(name)) return bad(`"${raw}" is not key=value (such as status=success)`);
  return ok(`${name}=${raw.slice(eq + 1).trim()}`);
};

// RFC 9110 token.
const headerName = text({ empty: true, pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, rule: 'an HTTP header name such as Idempotency-Key' });

/** Comma-separated provider status values, compared case-insensitively. */
const statuses: Parser<string[]> = (raw) => {
  const out: string[] = [];
  for (const item of list(raw).map((s) => s.toLowerCase())) {
    if (/\p{Cc}/u.test(item)) return bad(`"${item}" must not contain control characters`);
    if (!out.includes(item)) out.push(item);
  }
  return ok(out);
};

// ---- sections -----------------------------------------------------------

export const GENERAL_KEYS = {
  listen: key(listen, '127.0.0.1:8080', 'Address the HTTP server for ITSP webhooks listens on, host:port; an IPv6 address as [::1]:8080.'),
  database: key(text({ empty: false }), './var/websms.db', 'SQLite database file, relative to the working directory; its directory is created at start-up.'),
  country_code: key(
    countryCode,
    '46',
    'Your country calling code without "+" (like PrivateDial\'s CONTRY_CODE); national numbers are read as numbers of this country. Set it: 46 is Sweden.',
  ),
  default_interface: key(
    text({ empty: false }),
    'default',
    'Interface for texts that name none. When not set: [default] if there is one, else the only interface.',
  ),
  log_level: key(oneOf<Level>(['debug', 'info', 'warn', 'error'], 'log level'), 'info', 'debug, info, warn or error.'),
  log_format: key(
    oneOf<LogFormat>(['json', 'text'], 'log format'),
    'json',
    'json: one JSON object per line, as journald keeps it; text: one human-readable line per event.',
  ),
  retention: key(
    duration(86_400_000, 100 * 365 * 86_400_000),
    '90d',
    'Message bodies and media of texts that are done (delivered, sent, failed, expired) are removed after this long; who, when and the outcome are kept.',
  ),
  trusted_proxies: key(
    cidrs({ any: false }),
    '',
    'Reverse proxies whose X-Forwarded-For header is believed: comma-separated addresses or CIDRs; the key may repeat. Empty: none.',
    { list: true, example: '127.0.0.1/32' },
  ),
  max_request_size: key(size(1024, 16 * 1024 * 1024), '64k', 'Largest HTTP request body accepted, in bytes (or with k or m).'),
  max_body_bytes: key(integer(1, 1_000_000), '8000', 'Largest text accepted, in UTF-8 bytes; a longer one is refused.'),
  dedup_window: key(
    duration(0, 30 * 86_400_000),
    '120s',
    'The same interface, sender, recipient and text again within this time is taken as an ITSP retry and stored once.',
  ),
  reassembly_timeout: key(
    duration(1000, 86_400_000),
    '5m',
    'A long text that the ITSP delivers in parts waits this long (from its first part) for the others; then it is delivered with what came, the missing parts marked as such.',
  ),
} satisfies Schema;

export const AMI_KEYS = {
  host: key(host, '127.0.0.1', 'Host of the Asterisk manager interface (AMI).'),
  port: key(port, '5038', 'AMI port.'),
  username: key(text({ empty: false, pattern: /^[^\s\p{Cc}]+$/u, rule: 'no spaces or control characters' }), 'websms', 'AMI user: a [section] of Asterisk\'s manager.conf.'),
  secret: key(secret, '', 'Its secret; better kept in the environment variable WEBSMS_AMI_SECRET.', { secret: true }),
  answer_context: key(context, 'dp_entry_answer', 'Context of the Local channel websms originates for a text: Local/<to>@<answer_context>.'),
  text_context: key(context, 'dp_entry_text_in', 'Context the text is handed to in the dialplan.'),
  action_timeout: key(duration(1, TIMER_MAX), '10s', 'An AMI action without a response within this time fails.'),
  ping_interval: key(duration(1, TIMER_MAX), '20s', 'Ping Asterisk this often on an idle connection, to notice a dead one.'),
  reconnect_min: key(duration(1, TIMER_MAX), '500ms', 'Shortest wait before reconnecting to Asterisk: the n-th wait is drawn between reconnect_min × 2^(n-1) and twice that, capped at reconnect_max.'),
  reconnect_max: key(duration(1, TIMER_MAX), '30s', 'Longest wait between reconnection attempts.'),
  report_timeout: key(duration(1, TIMER_MAX), '60s', 'A text the dialplan has not reported on within this time is delivered again later.'),
  part_bytes: key(
    integer(200, 3500),
    '1000',
    'A text longer than this many UTF-8 bytes goes as several SIP messages. 200-3500: a dialplan variable holds at most 4095 bytes, and a marker like "(12/12) " is added.',
  ),
  max_age: key(duration(1, 365 * 86_400_000), '7d', 'A text not delivered within this age is given up and marked expired.'),
  retry_min: key(duration(1, TIMER_MAX), '30s', 'Shortest wait before delivering a text again: the n-th wait is drawn between retry_min × 2^(n-1) and twice that (jitter), capped at retry_max.'),
  retry_max: key(duration(1, TIMER_MAX), '1h', 'Longest wait between delivery attempts.'),
  max_in_flight: key(integer(1, 1000), '20', 'Texts being delivered (originates in flight) at once.'),
} satisfies Schema;

export const INTERFACE_KEYS = {
  provider: key(oneOf(PROVIDERS, 'provider'), 'generic', `Provider profile. Known: ${PROVIDERS.join(', ')} (the fields named below, from a form, query string or JSON body).`),
  path: key(path, (name) => `/sms/in/${name}`, 'URL path of this interface\'s webhook; the default is /sms/in/<name>, <name> being the section name.'),
  methods: key(methods, 'POST', 'HTTP methods the ITSP uses: POST, GET or both, comma-separated.'),
  field_to: key(fieldName(false), 'To', 'Field holding the recipient; a dotted path reads into JSON (data.payload.to).'),
  field_from: key(fieldName(false), 'From', 'Field holding the sender.'),
  field_body: key(fieldName(false), 'Body', 'Field holding the text.'),
  field_id: key(fieldName(true), '', 'Field holding the ITSP\'s own message id, used to spot its retries. Empty: none.', { example: 'MessageId' }),
  field_part_ref: key(
    fieldName(true),
    '',
    'For an ITSP that delivers a long text in parts: the field holding the reference its parts share (as Vonage\'s concat-ref); with field_part_seq and field_part_total. The parts are joined before delivery ([general] reassembly_timeout). Empty: texts come whole.',
    { example: 'concat-ref' },
  ),
  field_part_seq: key(fieldName(true), '', 'The field holding the number of this part, from 1.', { example: 'concat-part' }),
  field_part_total: key(fieldName(true), '', 'The field holding how many parts the text has.', { example: 'concat-total' }),
  allow: key(
    cidrs({ any: true }),
    '127.0.0.1/32, ::1/128',
    'Addresses allowed to post here: comma-separated addresses or CIDRs, or "any"; the key may repeat.',
    { list: true },
  ),
  username: key(basicUser, '', 'HTTP Basic user the ITSP must send, together with password. Empty: no HTTP Basic.', { example: 'itsp' }),
  password: key(secret, '', 'HTTP Basic password; better kept in the environment variable WEBSMS_<INTERFACE>_PASSWORD.', { secret: true }),
  token: key(
    token,
    '',
    'Secret path token: the webhook URL becomes <path>/<token>. At least 16 of A-Z a-z 0-9 _ - . ~; better kept in WEBSMS_<INTERFACE>_TOKEN.',
    { secret: true },
  ),
  echo_field: key(fieldName(true), '', 'Echo handshake: a request with this field and no text is answered with the field\'s value. Empty: none.', {
    example: 'echo',
  }),
  ack_body: key(text({ empty: true }), '', 'Response body once a text is stored. Empty: none.', { example: 'OK' }),
  ack_content_type: key(contentType, 'text/plain', 'Content-Type of that response; write "\\;" for a ";", as in text/plain\\;charset=utf-8.'),
  index: key(
    index,
    '',
    'PrivateDial\'s WEBSMS_INDEX value (set_var on the sending users\' endpoints) that selects this interface for outbound texts; its name always does too. Empty: only the name.',
    { example: '1' },
  ),  number: key(
    text({ empty: true, pattern: /^\+?[0-9]{2,15}$/, rule: 'a phone number such as +46701234567' }),
    '',
    'This account\'s own number at the ITSP: texts sent from the management API or `websms send` without a sender go out from it.',
    { example: '+46701234567' },
  ),  account: key(
    text({ empty: true, pattern: /^[^\s\p{Cc}]{1,128}$/u, rule: 'no spaces or control characters' }),
    '',
    'Named providers: the account id from the provider\'s console (Twilio Account SID, Telnyx/Plivo/Vonage API key or auth id, 46elks API username, ...); `websms providers` says which one.',
  ),
  secret: key(bearer, '', 'Named providers: the account\'s secret (auth token, API secret or password); better kept in WEBSMS_<INTERFACE>_SECRET.', { secret: true }),
  signing_secret: key(
    bearer,
    '',
    'Named providers that sign webhooks with a secret of their own (Vonage signature secret, Sinch, Plivo when not the auth token); empty: the profile\'s default, usually `secret`.',
    { secret: true },
  ),
  public_key: key(
    text({ empty: true, pattern: /^[A-Za-z0-9+/=_-]{16,512}$/, rule: 'a base64 key as the provider\'s console shows it' }),
    '',
    'Named providers that sign webhooks with a key pair (Telnyx): the public key from the provider\'s console.',
  ),
  application: key(
    text({ empty: true, pattern: /^[^\s\p{Cc}]{1,128}$/u, rule: 'no spaces or control characters' }),
    '',
    'Named providers that send through an application of the account (Bandwidth applicationId): its id from the provider\'s console.',
    { field: 'send.application' },
  ),
  public_url: key(
    sendUrl,
    '',
    'The URL of this interface\'s webhook as the provider calls it (https://sms.example.org/sms/in/<name>), when websms is behind a reverse proxy: signatures cover the URL. Empty: worked out from the request.',
  ),
  api_url: key(
    sendUrl,
    '',
    'Named providers: the base URL of the provider\'s API, when not its usual one (SignalWire: https://<space>.signalwire.com).',
  ),
  verify: key(
    oneOf(['yes', 'no'] as const, 'value'),
    'yes',
    'Check the provider\'s webhook signature where it signs (yes); no only for testing.',
  ),



  // Sending: texts from Asterisk to the ITSP.
  send_url: key(sendUrl, '', 'URL of the ITSP\'s send API, http:// or https://, without credentials. Empty: this interface does not send.', {
    example: 'https://api.example-itsp.test/sms/send',
    field: 'send.url',
  }),
  send_format: key(oneOf<SendFormat>(['form', 'json'], 'send format'), 'form', 'Request body: form (application/x-www-form-urlencoded) or json.', {
    field: 'send.format',
  }),
  send_to: key(fieldName(false), 'To', 'Field carrying the recipient; a dotted path nests in JSON (data.to).', { field: 'send.fieldTo' }),
  send_from: key(fieldName(false), 'From', 'Field carrying the sender.', { field: 'send.fieldFrom' }),
  send_body: key(fieldName(false), 'Body', 'Field carrying the text.', { field: 'send.fieldBody' }),
  send_auth: key(
    oneOf<SendAuth>(['none', 'basic', 'bearer', 'form'], 'send auth method'),
    'none',
    'How websms authenticates to send_url: none; basic (HTTP Basic with send_username and send_password); bearer (Authorization: Bearer <send_bearer>); form (send_username and send_password as fields of the body).',
    { field: 'send.auth' },
  ),
  send_username: key(sendUser, '', 'User, account id or API key for send_auth = basic or form.', { example: 'AC123', field: 'send.username' }),
  send_password: key(secret, '', 'Its password or API secret; better kept in the environment variable WEBSMS_<INTERFACE>_SEND_PASSWORD.', {
    secret: true,
    field: 'send.password',
  }),
  send_bearer: key(bearer, '', 'Token for send_auth = bearer; better kept in the environment variable WEBSMS_<INTERFACE>_SEND_BEARER.', {
    secret: true,
    field: 'send.bearer',
  }),
  send_username_field: key(fieldName(false), 'username', 'With send_auth = form: the field carrying send_username.', { field: 'send.usernameField' }),
  send_password_field: key(fieldName(false), 'password', 'With send_auth = form: the field carrying send_password.', { field: 'send.passwordField' }),
  send_extra: key(
    extraField,
    '',
    'A fixed field sent with every text, as name=value (the value may contain "=" and ","; write "\\;" for a ";"). One per line; the key may repeat. Not a secret, unless its name looks like a credential (with key, token, secret, pass, pwd, auth, sig, cred or session in it): such a value is hidden by check-config and in logs, like a credential in a send_url query. ${token} in the value stands for the interface\'s token, as in a status callback URL: StatusCallback=https://sms.example.org/sms/status/myitsp/${token}.',
    { list: true, example: 'channel=sms', field: 'send.extra' },
  ),
  send_extra_unicode: key(
    extraField,
    '',
    'A fixed field sent only with texts that have characters outside the BMP (most emoji), as name=value; some ITSPs need one to take them (PrivateDial\'s val_unicode = "key=value"). One per line; the key may repeat.',
    { list: true, example: 'unicode=1', field: 'send.extraUnicode' },
  ),
  send_number_format: key(
    oneOf<NumberFormat>(['e164', 'digits'], 'number format'),
    'e164',
    'How numbers are sent: e164 (+46701234567) or digits (46701234567, without the "+").',
    { field: 'send.numberFormat' },
  ),
  send_success: key(
    success,
    '',
    'key=value the response must contain for a text to count as sent (a JSON path or form key, as in status=success). Empty: any 2xx response.',
    { example: 'status=success', field: 'send.success' },
  ),
  send_id_field: key(fieldName(true), '', 'Where the ITSP\'s message id is in the response: a key or dotted path (sid, data.id, messages.0.message-id). Empty: none.', {
    example: 'sid',
    field: 'send.idField',
  }),
  send_reference_field: key(fieldName(true), '', 'Field carrying websms\'s own reference for the text (client reference), so that retries can be recognised. Empty: none.', {
    example: 'client_ref',
    field: 'send.referenceField',
  }),
  send_idempotency_header: key(headerName, '', 'HTTP header carrying an idempotency key, the same on every attempt of a text. Empty: none.', {
    example: 'Idempotency-Key',
    field: 'send.idempotencyHeader',
  }),
  charset: key(
    oneOf<Charset>(['unicode', 'ucs2', 'gsm'], 'charset'),
    'unicode',
    'What the ITSP can carry: unicode (any text), ucs2 (no characters outside the BMP, such as most emoji) or gsm (the GSM 7-bit alphabet only).',
    { field: 'send.charset' },
  ),
  connect_timeout: key(duration(100, 600_000), '5s', 'Give up connecting to the ITSP after this long.', { field: 'send.connectTimeoutMs' }),
  send_timeout: key(duration(100, 600_000), '30s', 'Give up on a send request (connecting included) after this long; not shorter than connect_timeout.', {
    field: 'send.timeoutMs',
  }),
  ca_file: key(text({ empty: true }), '', 'PEM file of extra CA certificates to trust for send_url; certificates are always verified. Empty: the system CAs.', {
    example: '/etc/websms/itsp-ca.pem',
    field: 'send.caFile',
  }),
  rate: key(decimal(0, 10_000), '10', 'SMS segments per second for the whole interface, up to 3 decimals. 0: no limit.', { field: 'send.ratePerSecond' }),
  rate_per_number: key(decimal(0, 1000), '1', 'SMS segments per second from one sending number, up to 3 decimals (0.5: one every 2s). 0: no limit.', {
    field: 'send.ratePerNumber',
  }),
  concurrency: key(integer(1, 256), '4', 'Send requests in flight at once.', { field: 'send.concurrency' }),
  breaker_failures: key(integer(1, 1000), '5', 'This many failed requests in a row stop sending on this interface for breaker_cooldown.', {
    field: 'send.breakerFailures',
  }),
  breaker_cooldown: key(duration(100, 86_400_000), '30s', 'How long sending stops before one probe request.', { field: 'send.breakerCooldownMs' }),
  failover: key(text({ empty: true }), '', 'Interface (section name) that gets a text when this one has used up its attempts; it must send. Empty: none.', {
    example: 'backup',
    field: 'send.failover',
  }),

  // Delivery reports: status callbacks from the ITSP about texts sent.
  status_path: key(path, (name) => `/sms/status/${name}`, 'URL path of this interface\'s delivery-report webhook; the default is /sms/status/<name>.', {
    field: 'send.statusPath',
  }),
  status_field_id: key(fieldName(false), 'MessageSid', 'Delivery report field holding the ITSP\'s message id (the defaults are Twilio\'s).', {
    field: 'send.statusFieldId',
  }),
  status_field_status: key(fieldName(false), 'MessageStatus', 'Delivery report field holding the status.', { field: 'send.statusFieldStatus' }),
  status_field_reason: key(fieldName(true), 'ErrorCode', 'Delivery report field holding the reason of a failure. Empty: none.', {
    field: 'send.statusFieldReason',
  }),
  status_delivered: key(statuses, 'delivered', 'Status values meaning delivered, comma-separated, in any case; the key may repeat.', {
    list: true,
    field: 'send.statusDelivered',
  }),
  status_failed: key(
    statuses,
    'failed, undelivered',
    'Status values meaning failed; any other value counts as sent (on its way).',
    { list: true, field: 'send.statusFailed' },
  ),
} satisfies Schema;

export const AGI_KEYS = {
  listen: key(
    listen,
    '127.0.0.1:4573',
    'Address the FastAGI server the dialplan hands outbound texts to listens on, host:port (4573 is the FastAGI port).',
  ),
  allow: key(
    cidrs({ any: true }),
    '127.0.0.1/32, ::1/128',
    'Asterisk addresses allowed to connect: comma-separated addresses or CIDRs; the key may repeat. "any" only with a loopback listen address.',
    { list: true },
  ),
  handoff_timeout: key(duration(100, 30_000), '2s', 'A hand-off is answered and closed within this time, whatever happens (100ms to 30s).'),
} satisfies Schema;

export const OUTBOUND_KEYS = {
  max_attempts: key(integer(1, 1000), '10', 'Send attempts per text on one interface before it goes to the failover interface or fails.'),
  max_age: key(duration(1, 365 * 86_400_000), '1d', 'A text no ITSP has accepted within this age fails as expired.'),
  retry_min: key(duration(1, TIMER_MAX), '5s', 'Shortest wait before sending a text again: the n-th wait is drawn between retry_min × 2^(n-1) and twice that (jitter), capped at retry_max. A Retry-After from the ITSP is followed instead.'),
  retry_max: key(duration(1, TIMER_MAX), '10m', 'Longest wait between send attempts.'),
  notify: key(
    oneOf<NotifyMode>(['failures', 'all', 'none'], 'notify mode'),
    'failures',
    'Which outcomes are texted back to the sender: failures, all (delivered too) or none.',
  ),
  max_segments: key(integer(1, 100), '10', 'A text longer than this many SMS segments is refused at hand-off.'),
} satisfies Schema;

export const API_KEYS = {
  listen: key(
    listen,
    '127.0.0.1:8081',
    'Address of the management listener (the HTTP API, /healthz, /readyz, /metrics), host:port. Keep it on loopback unless a token is set.',
  ),
  token: key(
    bearer,
    '',
    'Bearer token for the management API; better kept in WEBSMS_API_TOKEN. Always accepted; required when listen is not a loopback address.',
    { secret: true },
  ),
} satisfies Schema;

/** A scrypt hash as `websms web-password` prints it; empty: the web page is off. */
const passwordHash: Parser<string> = (raw) => {
  if (raw === '') return ok(raw);
  const r = parsePasswordHash(raw);
  return r.ok ? ok(raw) : bad(r.reason);
};

export const WEB_KEYS = {
  password: key(
    passwordHash,
    '',
    'The web page of conversations (on the management listener, [api] listen, at /web/): the hash of its password or token, as "websms web-password" prints it; better kept in WEBSMS_WEB_PASSWORD. Empty: the page is off.',
    { secret: true },
  ),
  session_lifetime: key(duration(5 * 60_000, 30 * 86_400_000), '12h', 'A sign-in on the web page lasts this long; then the page asks for the password again.'),
} satisfies Schema;

/** The base of the media links: http(s), no credentials, query or fragment; a trailing "/" is dropped. */
const mediaUrl: Parser<string> = (raw) => {
  const r = sendUrl(raw);
  if (!r.ok || raw === '') return r;
  const url = new URL(raw);
  if (url.search !== '' || url.hash !== '') return bad(`"${raw}" must not have a query (?) or fragment (#): a token is appended to it`);
  return ok(raw.replace(/\/+$/, ''));
};

const mediaPath: Parser<string> = (raw) => {
  const r = path(raw);
  if (r.ok && raw === '/') return bad('must not be "/": the media would hide every webhook');
  return r;
};

/** Comma-separated media types, each an image/, audio/ or video/ type that cannot carry scripts. */
const mediaTypes: Parser<string[]> = (raw) => {
  const out: string[] = [];
  for (const item of list(raw).map((s) => s.toLowerCase())) {
    const why = unservableReason(item);
    if (why !== undefined) return bad(why);
    if (!out.includes(item)) out.push(item);
  }
  if (out.length === 0) return bad('needs at least one media type, such as image/jpeg');
  return ok(out);
};

export const MEDIA_KEYS = {
  public_url: key(
    mediaUrl,
    '',
    'Base URL of the links to pictures and other media (MMS) that websms appends to inbound texts, as phones reach it through your reverse proxy; each link is this plus "/" and an unguessable token. The proxy passes it to the webhook listener ([general] listen) at path. Empty: media are not fetched and the text says that a picture could not be shown.',
    { example: 'https://sms.example.org/media' },
  ),
  path: key(mediaPath, '/media', 'Path on the webhook listener the media are served under (<path>/<token>); it must not be or contain an interface\'s path.'),
  directory: key(
    text({ empty: true }),
    '',
    'Directory the fetched media are kept in (created 0700, files 0600). Empty: "media" beside the database file.',
    { example: '/var/lib/websms/media' },
  ),
  max_size: key(size(1024, 100 * 1024 * 1024), '5m', 'Largest media item fetched, in bytes (or with k or m); a larger one is noted in the text instead of linked.'),
  types: key(
    mediaTypes,
    DEFAULT_MEDIA_TYPES.join(', '),
    'Media types fetched and served, comma-separated; the key may repeat. Only image/, audio/ and video/ types; SVG and anything with XML or HTML is never served.',
    { list: true },
  ),
  retention: key(duration(3_600_000, 100 * 365 * 86_400_000), '30d', 'A fetched media item is removed this long after it was fetched; its link then answers 404.'),
  max_hold: key(
    duration(1000, 86_400_000),
    '2m',
    'A text with media waits at most this long for them; then it is delivered with a note for each item not fetched yet.',
  ),
  fetch_timeout: key(duration(100, 600_000), '30s', 'One attempt to fetch a media item, all of it, within this time.'),
  fetch_allow: key(
    cidrs({ any: true, empty: true }),
    '',
    'Addresses outside the public internet media may be fetched from (a provider or media server on your own network): addresses or CIDRs, comma-separated, or "any"; the key may repeat. Empty: media are fetched from public addresses only, so that whoever can post a webhook cannot make websms request loopback, private or link-local addresses (docs/media.md).',
    { list: true, example: '10.20.0.0/16' },
  ),
  attempts: key(integer(1, 100), '4', 'Attempts to fetch a media item before the text notes that it could not be fetched (never beyond max_hold).'),
  retry_min: key(duration(1, TIMER_MAX), '2s', 'Shortest wait before fetching a media item again; doubling with jitter up to retry_max.'),
  retry_max: key(duration(1, TIMER_MAX), '30s', 'Longest wait between fetch attempts.'),
} satisfies Schema;

// ---- [email] -------------------------------------------------------------

/** local@domain: a dot-atom local part (RFC 5322) and a host name; no display name, no spaces. */
const ADDRESS = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export function isEmailAddress(s: string): boolean {
  return s.length <= 254 && ADDRESS.test(s) && s.indexOf('@') <= 64;
}

/** The domain in lower case: addresses are compared that way (the local part as written). */
export function normalizeAddress(s: string): string {
  const at = s.lastIndexOf('@');
  return `${s.slice(0, at)}@${s.slice(at + 1).toLowerCase()}`;
}

const address = (empty: boolean): Parser<string> => (raw) => {
  if (raw === '') return empty ? ok(raw) : bad('must not be empty');
  return isEmailAddress(raw) ? ok(normalizeAddress(raw)) : bad(`"${raw}" is not an e-mail address such as sms@example.org (no name, no <>)`);
};

/** "+12025550160 john.doe@example.com": a user's number (E.164, as PrivateDial's hint_exten) and its address. */
const emailUser: Parser<EmailUser[]> = (raw) => {
  if (raw === '') return ok([]);
  const m = /^([^\s,]+)[\s,]+([^\s,]+)$/.exec(raw.trim());
  if (!m) return bad(`"${raw}" is not "<number> <address>", such as +12025550160 john.doe@example.com`);
  const [, number, addr] = m as unknown as [string, string, string];
  if (!/^\+[1-9][0-9]{1,14}$/.test(number)) return bad(`"${number}" is not a number in E.164 with "+" (as the user's hint_exten), such as +12025550160`);
  if (!isEmailAddress(addr)) return bad(`"${addr}" is not an e-mail address such as john.doe@example.com`);
  return ok([{ number, address: normalizeAddress(addr) }]);
};

/** A duration, or 0 / off / never for "never". */
function durationOrOff(min: number, max: number): Parser<number> {
  const on = duration(min, max);
  return (raw) => (['0', 'off', 'never', 'no'].includes(raw.toLowerCase()) ? ok(0) : on(raw));
}

const yesNo = oneOf(['yes', 'no'] as const, 'value');

/** A port, or empty (0) for "the usual one". */
const portOrEmpty: Parser<number> = (raw) => (raw === '' ? ok(0) : port(raw));

function emptyOr<T extends string>(p: Parser<T>): Parser<T | ''> {
  return (raw) => (raw === '' ? ok('' as const) : p(raw));
}

export const EMAIL_KEYS = {
  user: key(
    emailUser,
    '',
    'A user\'s number and the e-mail address its texts go to when no phone takes them: "<number> <address>", the number in E.164 as the user\'s hint_exten. One per line; the key may repeat. No user: websms sends no e-mail.',
    { list: true, example: '+12025550160 john.doe@example.com', field: 'users' },
  ),
  unreached_after: key(
    durationOrOff(1000, 30 * 86_400_000),
    '15m',
    'A text that no phone of the user has taken within this time (no phone registered, or every phone refused it) is e-mailed too, with its pictures; it stays queued for the phone. One the dialplan gives up on is e-mailed at once. 0 or off: never.',
  ),
  copy: key(
    oneOf<EmailCopy>(['none', 'received', 'all'], 'copy mode'),
    'none',
    'Copies by e-mail of every text: none; received (texts to the user, as they arrive, with their pictures); all (those and the texts the user sends).',
  ),
  failures: key(yesNo, 'yes', 'E-mail the user when a text it sent finally fails or expires (besides the notice [outbound] notify texts to the phone).'),
  from: key(address(true), '', 'The From address of the e-mails. Empty: the -f of minivm.conf\'s mailcmd, or its fromemail.', { example: 'sms@example.org' }),
  from_name: key(text({ empty: true, pattern: /^[^\p{Cc}"<>]{1,64}$/u, rule: 'at most 64 characters, without control characters, quotes or <>' }), 'websms', 'The name shown with the From address.'),
  reply_to: key(
    address(true),
    '',
    'Where replies go (Reply-To), the mailbox websms reads replies from (imap_*) or the address your mail server hands to reply_listen. Empty: the From address.',
    { example: 'sms-reply@example.org' },
  ),
  reply_subaddress: key(
    yesNo,
    'no',
    'yes: the Reply-To carries a token after "+" (sms-reply+<token>@example.org), for mail servers that deliver subaddresses; replies are matched by their In-Reply-To or References header either way.',
  ),
  smtp_host: key(
    hostOrEmpty,
    '',
    'SMTP server the e-mails are sent through. Empty: the one in minivm.conf\'s mailcmd (minivm-send -H host:port, or sendmail: this host\'s own mail server on 127.0.0.1:25).',
    { example: 'mail.example.org', field: 'smtp.host' },
  ),
  smtp_port: key(portOrEmpty, '', 'Its port. Empty: 587 (submission) with smtp_tls = starttls, 465 with tls, 25 with none (or minivm.conf\'s).', { example: '587', field: 'smtp.port' }),
  smtp_tls: key(
    emptyOr(oneOf<EmailTls>(['starttls', 'tls', 'none'], 'TLS mode')),
    '',
    'starttls (the connection must be upgraded to TLS), tls (TLS from the start) or none (only to a loopback address). Certificates are always verified. Empty: starttls (or minivm.conf\'s).',
    { example: 'starttls', field: 'smtp.tls' },
  ),
  smtp_username: key(text({ empty: true, pattern: /^[^\s\p{Cc}]{1,256}$/u, rule: 'no spaces or control characters' }), '', 'SMTP user. Empty: no login.', {
    example: 'sms@example.org',
    field: 'smtp.username',
  }),
  smtp_password: key(secret, '', 'Its password; better kept in the environment variable WEBSMS_EMAIL_SMTP_PASSWORD.', { secret: true, field: 'smtp.password' }),
  smtp_timeout: key(duration(1000, 600_000), '30s', 'Give up on one SMTP connection (connect, TLS, login, the message) after this long.', { field: 'smtp.timeoutMs' }),
  ca_file: key(
    text({ empty: true }),
    '',
    'PEM file of extra CA certificates to trust for the SMTP and IMAP servers; certificates are always verified. Empty: the system CAs.',
    { example: '/etc/websms/mail-ca.pem', field: 'caFile' },
  ),
  minivm: key(
    text({ empty: false }),
    '/etc/asterisk/minivm.conf',
    'PrivateDial\'s minivm.conf: when smtp_host is not set, the SMTP server, port, TLS, user, password and From address of its mailcmd are used for every one of those keys not set here. Read only when there is a user.',
    { field: 'minivmFile' },
  ),
  attach_max: key(
    size(0, 50 * 1024 * 1024),
    '10m',
    'Pictures are attached to the e-mail up to this size in all; beyond it (or 0) they are linked only ([media] public_url).',
    { field: 'attachMaxBytes' },
  ),
  retry_min: key(duration(1000, TIMER_MAX), '30s', 'Shortest wait before trying an e-mail again: the n-th wait is drawn between retry_min × 2^(n-1) and twice that, capped at retry_max.'),
  retry_max: key(duration(1000, TIMER_MAX), '30m', 'Longest wait between attempts to send an e-mail.'),
  max_age: key(duration(60_000, 365 * 86_400_000), '3d', 'An e-mail the SMTP server has not taken within this age is given up (the text itself is not affected).'),
  reply_listen: key(
    listenOrOff,
    '',
    'Take replies from your mail server over SMTP on this loopback address, host:port (a transport of your MTA delivers reply_to here). Empty: no listener.',
    { example: '127.0.0.1:2525', field: 'replyListen' },
  ),
  imap_host: key(hostOrEmpty, '', 'Read replies from this IMAP server\'s mailbox (the one reply_to delivers to). Empty: not read.', {
    example: 'mail.example.org',
    field: 'imap.host',
  }),
  imap_port: key(portOrEmpty, '', 'Its port. Empty: 993 with imap_tls = tls, 143 with starttls or none.', { example: '993', field: 'imap.port' }),
  imap_tls: key(oneOf<EmailTls>(['tls', 'starttls', 'none'], 'TLS mode'), 'tls', 'tls, starttls, or none (only to a loopback address). Certificates are always verified.', {
    field: 'imap.tls',
  }),
  imap_username: key(text({ empty: true, pattern: /^[^\s\p{Cc}]{1,256}$/u, rule: 'no spaces or control characters' }), '', 'IMAP user.', {
    example: 'sms-reply@example.org',
    field: 'imap.username',
  }),
  imap_password: key(secret, '', 'Its password; better kept in the environment variable WEBSMS_EMAIL_IMAP_PASSWORD.', { secret: true, field: 'imap.password' }),
  imap_mailbox: key(text({ empty: false, pattern: /^[^\p{Cc}]{1,200}$/u, rule: 'a mailbox name' }), 'INBOX', 'The mailbox replies arrive in. Replies read are marked seen.', {
    field: 'imap.mailbox',
  }),
  imap_poll: key(duration(1000, 86_400_000), '60s', 'Look for new replies this often (and at once when the server says one came, IMAP IDLE).', { field: 'imap.pollMs' }),
} satisfies Schema;

/** Sections with fixed names, in file order; every other section is an interface. */
export const FIXED_SECTIONS = {
  general: GENERAL_KEYS,
  ami: AMI_KEYS,
  agi: AGI_KEYS,
  outbound: OUTBOUND_KEYS,
  api: API_KEYS,
  media: MEDIA_KEYS,
  web: WEB_KEYS,
  email: EMAIL_KEYS,
} as const;
export type FixedSection = keyof typeof FIXED_SECTIONS;

export const INTERFACE_NAME = /^[A-Za-z0-9_-]{1,32}$/;

/** WEBSMS_<SECTION>_<KEY>, upper-cased, every other character as '_'. */
export function secretEnvName(section: string, key: string): string {
  return `WEBSMS_${section}_${key}`.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

export function defaultOf(spec: KeySpec, section: string): string {
  return typeof spec.default === 'function' ? spec.default(section) : spec.default;
}

/** snake_case file key → camelCase Config field. */
export function fieldOf(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

// ---- sample file --------------------------------------------------------

const HEADER = [
  'websms.conf: configuration of websms, the SMS gateway between Asterisk (PrivateDial dialplan) and ITSP HTTP SMS APIs.',
  '',
  'Generated by renderSampleConfig() from src/config/schema.ts: every key with its default. A test keeps this file in step with the code.',
  '',
  'Syntax as in Asterisk: [section], key = value (or key => value), ";" starts a comment; write "\\;" for a literal semicolon. Durations: 500ms, 30s, 5m, 2h, 7d, or a bare number of seconds. Sizes: 65536, 64k, 1m.',
  '',
  'Secrets are commented out below: keep them out of this file if you can. Each can come from the environment variable WEBSMS_<SECTION>_<KEY> (upper case, other characters as "_"), which wins over the file: WEBSMS_AMI_SECRET, WEBSMS_MYITSP_PASSWORD, WEBSMS_MYITSP_TOKEN, WEBSMS_MYITSP_SEND_PASSWORD, WEBSMS_MYITSP_SEND_BEARER, WEBSMS_EMAIL_SMTP_PASSWORD.',
];

const INTERFACES_INTRO = [
  'Every other section is an interface for one ITSP account. The ITSP posts texts to websms there; with send_url set, websms also sends texts through it. The section name (1-32 letters, digits, _ or -) is the interface name. Without any interface section websms runs the built-in [default] shown here.',
];

/** A commented websms.conf with every key, its default and its doc line. */
export function renderSampleConfig(): string {
  const out: string[] = [...comment(HEADER), ''];
  const section = (name: string, schema: Schema): void => {
    out.push(`[${name}]`);
    for (const [k, spec] of Object.entries(schema)) {
      out.push(...comment([spec.doc]));
      const def = defaultOf(spec, name);
      if (spec.secret) out.push(`;${k} =`);
      else if (def === '') out.push(spec.example === undefined ? `${k} =` : `;${k} = ${spec.example}`);
      else out.push(`${k} = ${def}`);
    }
    out.push('');
  };
  for (const [name, schema] of Object.entries(FIXED_SECTIONS)) section(name, schema);
  out.push(...comment(INTERFACES_INTRO), '');
  section('default', INTERFACE_KEYS);
  return out.join('\n');
}

/** Paragraphs as ';' comment lines wrapped at 78 columns. */
function comment(paragraphs: string[]): string[] {
  const lines: string[] = [];
  for (const p of paragraphs) {
    if (p === '') {
      lines.push(';');
      continue;
    }
    let line = ';';
    for (const word of p.split(' ')) {
      if (line.length > 1 && line.length + 1 + word.length > 78) {
        lines.push(line);
        line = ';';
      }
      line += ' ' + word;
    }
    lines.push(line);
  }
  return lines;
}
