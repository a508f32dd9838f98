// Every key of websms.conf in one place: how it is parsed, its default as it
// would be written in the file, whether it is a secret, and a one-line doc.
// The loader, describeConfig and the sample file are all driven by this, so
// the docs cannot drift from the code.

import net from 'node:net';
import type { Level } from '../log.js';
import { parseCidr } from './cidr.js';
import { formatDuration, formatSize, parseDuration, parseSize } from './duration.js';
import type { HttpMethod } from './types.js';

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
}

// The values are heterogeneous; Values<S> recovers each key's type.
export type Schema = Record<string, KeySpec<any>>;
export type Values<S extends Schema> = { [K in keyof S]: S[K] extends KeySpec<infer T> ? T : never };

interface KeyOptions {
  secret?: boolean;
  list?: boolean;
  example?: string;
}

function key<T>(parse: Parser<T>, def: KeySpec['default'], doc: string, opts: KeyOptions = {}): KeySpec<T> {
  return { parse, default: def, doc, secret: opts.secret ?? false, list: opts.list ?? false, example: opts.example };
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
function cidrs(opts: { any: boolean }): Parser<string[]> {
  return (raw) => {
    const items = list(raw);
    if (items.length === 0 && opts.any) return bad('needs at least one address or CIDR, or "any"');
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

export const PROVIDERS = ['generic'] as const;

const path: Parser<string> = (raw) => {
  if (!/^\/[A-Za-z0-9/_.-]*$/.test(raw)) return bad(`"${raw}" must start with "/" and use only letters, digits and / _ - .`);
  // Routes are matched exactly, and a token is appended after one more '/'.
  if (raw.length > 1 && raw.endsWith('/')) return bad(`"${raw}" must not end with "/"`);
  if (raw.split('/').some((seg, i) => (i > 0 && seg === '' && raw !== '/') || seg === '.' || seg === '..')) {
    return bad(`"${raw}" must not contain empty, "." or ".." segments`);
  }
  if (raw === '/health') return bad('"/health" is websms\'s own health endpoint');
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
  reconnect_min: key(duration(1, TIMER_MAX), '500ms', 'First wait before reconnecting to Asterisk; it doubles on each failure, with jitter.'),
  reconnect_max: key(duration(1, TIMER_MAX), '30s', 'Longest wait between reconnection attempts.'),
  report_timeout: key(duration(1, TIMER_MAX), '60s', 'A text the dialplan has not reported on within this time is delivered again later.'),
  part_bytes: key(
    integer(200, 3500),
    '1000',
    'A text longer than this many UTF-8 bytes goes as several SIP messages. 200-3500: a dialplan variable holds at most 4095 bytes, and a marker like "(12/12) " is added.',
  ),
  max_age: key(duration(1, 365 * 86_400_000), '7d', 'A text not delivered within this age is given up and marked expired.'),
  retry_min: key(duration(1, TIMER_MAX), '30s', 'First wait before delivering a text again; it doubles on each attempt.'),
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
} satisfies Schema;

/** Sections with fixed names; every other section is an interface. */
export const FIXED_SECTIONS = { general: GENERAL_KEYS, ami: AMI_KEYS } as const;

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
  'Secrets are commented out below: keep them out of this file if you can. Each can come from the environment variable WEBSMS_<SECTION>_<KEY> (upper case, other characters as "_"), which wins over the file: WEBSMS_AMI_SECRET, WEBSMS_MYITSP_PASSWORD, WEBSMS_MYITSP_TOKEN.',
];

const INTERFACES_INTRO = [
  'Every other section is an interface: one ITSP account that posts texts to websms. The section name (1-32 letters, digits, _ or -) is the interface name. Without any interface section websms runs the built-in [default] shown here.',
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
  section('general', GENERAL_KEYS);
  section('ami', AMI_KEYS);
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
