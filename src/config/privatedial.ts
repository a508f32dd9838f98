// PrivateDial's PHP WebSMS read its own websms.conf: [websms] for sending,
// [websmsd] for receiving, [astqueue] for handing texts to Asterisk through call
// files, written for PHP's ini reader. This module turns such a file into
// websms's own sections (interfaces, [general], [ami]), so that the loader
// validates it, check-config shows it and every feature reads it exactly as it
// reads a file written for websms. Nothing else knows the PHP format.
//
// The facts followed (PrivateDial's src/websms/doc/websms.md, its sample
// websms.conf and CHANGELOG in mlan/docker-asterisk):
// - A key may be written "key [index] = value" for one interface, "key [] =
//   value" for the next unnamed one (PHP numbers them 0, 1, ... per key, in
//   file order), or without an index for every interface. Outbound, the
//   endpoint's WEBSMS_INDEX picks the interface; inbound, remt_addr and/or
//   url_path do.
// - Unquoted yes/no/true/false/on/off/none/null are PHP booleans: "1" or "".
// - Defaults: auth_method basic; key_to/key_from/key_body To/From/Body;
//   url_path "/"; prox_addr 172.16.0.0/12,192.168.0.0/16; prox_header
//   HTTP_X_FORWARDED_FOR; any source address is permitted; websmsd answered
//   every request path.

import type { IniDocument, IniEntry, IniProblem, IniSection } from './ini.js';
import { INTERFACE_KEYS, INTERFACE_NAME } from './schema.js';

/** Something websms does differently from the PHP version, or does not need: logged at start, listed by check-config. */
export interface CompatNote {
  line?: number;
  message: string;
}

export interface Translation {
  /** websms's own sections: the file's native sections with the translated ones merged in. */
  doc: IniDocument;
  notes: CompatNote[];
}

export const PHP_SECTIONS = ['websms', 'websmsd', 'astqueue'] as const;
type PhpSection = (typeof PHP_SECTIONS)[number];

// The keys PrivateDial documents, per section; the value: may it carry an [index].
const KEYS: Record<PhpSection, Record<string, boolean>> = {
  websms: {
    auth_method: true,
    auth_secret: true,
    auth_user: true,
    key_body: true,
    key_from: true,
    key_secret: true,
    key_to: true,
    key_user: true,
    resp_check: true,
    url_host: true,
    url_path: true,
    val_numform: true,
    val_static: true,
    val_unicode: true,
  },
  websmsd: {
    key_body: true,
    key_echo: true,
    key_from: true,
    key_to: true,
    prox_addr: false,
    prox_header: false,
    remt_addr: true,
    resp_ack: true,
    url_path: true,
  },
  astqueue: {
    archive: false,
    channel_context: false,
    context: false,
    maxretries: false,
    message_encode: false,
    outgoingdir: false,
    priority: false,
    retrytime: false,
    stagingdir: false,
    waittime: false,
  },
};

// Names of releases before 0.8.0 ("harmonized configuration parameter names"), still in old files.
const OLD_NAMES: Record<PhpSection, Record<string, string>> = {
  websms: {
    host: 'url_host',
    path: 'url_path',
    auth_passwd: 'auth_secret',
    response_check: 'resp_check',
    responce_check: 'resp_check',
    number_format: 'val_numform',
    charset: 'val_unicode',
    val_charset: 'val_unicode',
  },
  websmsd: {
    report_success: 'resp_ack',
    permit_addr: 'remt_addr',
    permit: 'remt_addr',
    proxy_addr: 'prox_addr',
    proxy_header: 'prox_header',
  },
  astqueue: {},
};

/** Why websms does not need a key: the note given when it is written. */
const NOT_NEEDED: Record<string, string> = {
  'astqueue archive': 'websms hands texts to Asterisk over AMI, not through call files; every text and its outcome stay in its database',
  'astqueue outgoingdir': 'websms hands texts to Asterisk over AMI, not through call files',
  'astqueue stagingdir': 'websms hands texts to Asterisk over AMI, not through call files',
  'astqueue message_encode': 'websms passes the text to the dialplan in WEBSMS_BODY_* variables, not in a call file',
  'astqueue waittime': 'websms waits for the dialplan\'s report instead ([ami] report_timeout, default 60s)',
  'astqueue maxretries': 'websms retries delivery with backoff until the text is delivered or [ami] max_age (default 7d) has passed, and delivers texts to a phone as soon as it registers',
  'astqueue retrytime': 'websms retries delivery with backoff between [ami] retry_min and retry_max',
  'websmsd key_account': 'websms does not use it',
};

const PHP_DEFAULT_PROXIES = '172.16.0.0/12, 192.168.0.0/16';
const ZADARMA_HOST = 'https://api.zadarma.com';
const ZADARMA_PATH = '/v1/sms/send/';

/**
 * Whether a parsed file is PrivateDial's: it has [websmsd] or [astqueue], or a
 * [websms] section without any key of a websms interface (an interface may be
 * called websms).
 */
export function isPrivateDial(doc: IniDocument): boolean {
  return doc.sections.some((s) => {
    const name = s.name.toLowerCase();
    if (name === 'websmsd' || name === 'astqueue') return true;
    return name === 'websms' && !s.entries.some((e) => Object.hasOwn(INTERFACE_KEYS, e.key.trim().toLowerCase()));
  });
}

// ---- reading the PHP keys --------------------------------------------------

interface PhpValue {
  value: string;
  line: number;
  /** As written, for check-config: "[websms] url_host [api-1]". */
  label: string;
}

/** One PHP section: each key's value for every interface (''), and per index. */
interface PhpKeys {
  plain: Map<string, PhpValue>;
  indexed: Map<string, Map<string, PhpValue>>;
  /** How many "key []" lines each key has. */
  appended: Map<string, number>;
  line: number | undefined;
}

/** PHP's ini reader: booleans and null unquoted, single quotes taken off. */
function phpValue(e: IniEntry): string {
  if (e.quoted) return e.value;
  const v = e.value;
  if (/^'.*'$/s.test(v)) return v.slice(1, -1);
  const lower = v.toLowerCase();
  if (['yes', 'true', 'on'].includes(lower)) return '1';
  if (['no', 'false', 'off', 'none', 'null'].includes(lower)) return '';
  return v;
}

function readPhpSection(section: PhpSection, sections: IniSection[], notes: CompatNote[], problems: IniProblem[]): PhpKeys {
  const keys: PhpKeys = { plain: new Map(), indexed: new Map(), appended: new Map(), line: sections[0]?.line };
  const next = new Map<string, number>();
  for (const s of sections) {
    for (const e of s.entries) {
      const m = /^([^[\]]*?)\s*(?:\[\s*([^\]]*?)\s*\])?$/.exec(e.key);
      if (!m || m[1] === '') {
        problems.push({ line: e.line, message: `[${section}]: not a key name before "="` });
        continue;
      }
      const written = m[1]!;
      let key = written.toLowerCase();
      const old = OLD_NAMES[section][key];
      if (old !== undefined) {
        notes.push({ line: e.line, message: `[${section}] ${written} is the name PrivateDial WebSMS used before 0.8.0 for ${old}; read as ${old}` });
        key = old;
      }
      const value = phpValue(e);
      const why = NOT_NEEDED[`${section} ${key}`];
      if (why !== undefined) {
        notes.push({ line: e.line, message: `[${section}] ${written} is not needed: ${why}` });
        continue;
      }
      if (!Object.hasOwn(KEYS[section], key)) {
        notes.push({ line: e.line, message: `[${section}] ${written} is not a key of PrivateDial WebSMS; ignored, as PHP WebSMS ignored it${nearKey(key, section)}` });
        continue;
      }
      const label = `[${section}] ${written}${m[2] === undefined ? '' : ` [${m[2]}]`}`;
      if (m[2] === undefined) {
        if (keys.plain.has(key)) notes.push({ line: e.line, message: `[${section}] ${written} is set more than once; the last one counts, as in PHP (first on line ${keys.plain.get(key)!.line})` });
        keys.plain.set(key, { value, line: e.line, label });
        continue;
      }
      if (!KEYS[section][key]) {
        problems.push({ line: e.line, message: `[${section}] ${written} takes no [index]: it applies to every interface${section === 'websmsd' ? ', before the interface of a request is known' : ''}` });
        continue;
      }
      // PHP numbers "key []" per key: one more than the largest number used so far.
      let index = m[2]!;
      if (index === '') {
        index = String(next.get(key) ?? 0);
        keys.appended.set(key, (keys.appended.get(key) ?? 0) + 1);
      }
      if (/^(0|[1-9]\d{0,8})$/.test(index)) next.set(key, Math.max(next.get(key) ?? 0, Number(index) + 1));
      const byIndex = keys.indexed.get(key) ?? new Map<string, PhpValue>();
      keys.indexed.set(key, byIndex);
      if (byIndex.has(index)) notes.push({ line: e.line, message: `[${section}] ${written} [${index}] is set more than once; the last one counts, as in PHP (first on line ${byIndex.get(index)!.line})` });
      byIndex.set(index, { value, line: e.line, label });
    }
  }
  return keys;
}

function nearKey(key: string, section: PhpSection): string {
  for (const [other, keys] of Object.entries(KEYS)) {
    if (other !== section && Object.hasOwn(keys, key)) return `; it belongs in [${other}]`;
  }
  const near = Object.keys(KEYS[section]).find((k) => editDistance(k, key) <= 2);
  return near === undefined ? '' : `; did you mean ${near}?`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The value of a key for one interface: its own, else the one for all. */
function valueFor(keys: PhpKeys, key: string, index: string | undefined): PhpValue | undefined {
  return (index === undefined ? undefined : keys.indexed.get(key)?.get(index)) ?? keys.plain.get(key);
}

function indexesOf(keys: PhpKeys): string[] {
  const out: string[] = [];
  for (const byIndex of keys.indexed.values()) for (const i of byIndex.keys()) if (!out.includes(i)) out.push(i);
  return out;
}

// ---- building websms's sections ------------------------------------------

class SectionBuilder {
  readonly entries: IniEntry[] = [];
  constructor(
    readonly name: string,
    readonly line: number,
  ) {}
  set(key: string, value: string, from: PhpValue | { line: number; label: string }): void {
    this.entries.push({ key, value, line: from.line, from: from.label });
  }
}

/** An interface name for a PHP index: itself where it is a good name; sms<n> for PHP's numbers. */
function interfaceName(index: string, taken: Set<string>): string {
  let base = /^\d+$/.test(index) ? `sms${index}` : index.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 32) || 'sms';
  if (!INTERFACE_NAME.test(base)) base = 'sms';
  let name = base;
  for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${base.slice(0, 28)}-${n}`;
  taken.add(name.toLowerCase());
  return name;
}

/**
 * A PrivateDial websms.conf as websms's own sections. The file's native
 * sections ([general], [ami], ... and interfaces) are kept; what they set wins
 * over what is translated.
 */
export function translatePrivateDial(input: IniDocument): Translation {
  const notes: CompatNote[] = [];
  const problems: IniProblem[] = [...input.problems];
  const bySection = new Map<PhpSection, IniSection[]>();
  const native: IniSection[] = [];
  for (const s of input.sections) {
    const lower = s.name.toLowerCase() as PhpSection;
    if ((PHP_SECTIONS as readonly string[]).includes(lower)) bySection.set(lower, [...(bySection.get(lower) ?? []), s]);
    else native.push(s);
  }
  const out = readPhpSection('websms', bySection.get('websms') ?? [], notes, problems);
  const inb = readPhpSection('websmsd', bySection.get('websmsd') ?? [], notes, problems);
  const queue = readPhpSection('astqueue', bySection.get('astqueue') ?? [], notes, problems);

  orderNotes('websms', out, notes);
  orderNotes('websmsd', inb, notes);

  // Interfaces: every index used, in file order; without any, one for all.
  const indexes = [...indexesOf(out), ...indexesOf(inb)].filter((v, i, a) => a.indexOf(v) === i);
  const lines = [out.line, inb.line, queue.line].filter((l): l is number => l !== undefined);
  const sectionLine = lines.length > 0 ? Math.min(...lines) : 1;
  const taken = new Set(native.map((s) => s.name.toLowerCase()));
  const ifaces = (indexes.length === 0 ? [undefined] : indexes).map((index) => ({
    index,
    section: new SectionBuilder(index === undefined ? interfaceName('default', taken) : interfaceName(index, taken), sectionLine),
  }));
  // Inbound keys belong to the interfaces [websmsd] names by index; without any index, to the first.
  const inboundIndexes = indexesOf(inb);
  const receives = (index: string | undefined, n: number): boolean => (inboundIndexes.length === 0 ? n === 0 : index !== undefined && inboundIndexes.includes(index));

  ifaces.forEach(({ index, section }, n) => {
    if (index !== undefined && index !== section.name) section.set('index', index, { line: sectionLine, label: `[${index}], the index in the PrivateDial file` });
    sending(section, out, index, bySection.has('websms'), notes, problems);
    if (receives(index, n)) receiving(section, inb, index, notes, problems);
  });

  // [general] and [ami]: merged under what the file's own sections say.
  const general = new SectionBuilder('general', inb.line ?? sectionLine);
  const prox = inb.plain.get('prox_addr');
  general.set('trusted_proxies', prox === undefined ? PHP_DEFAULT_PROXIES : prox.value, prox ?? { line: inb.line ?? sectionLine, label: 'PrivateDial\'s default prox_addr' });
  const header = inb.plain.get('prox_header');
  if (header !== undefined && !/^(HTTP_)?X[-_]FORWARDED[-_]FOR$/i.test(header.value.trim())) {
    problems.push({ line: header.line, message: `[websmsd] prox_header: websms reads the client address that proxies add in X-Forwarded-For only, not in "${header.value}"; have the proxy set X-Forwarded-For` });
  }
  if (ifaces.length > 1) general.set('default_interface', ifaces[0]!.section.name, { line: sectionLine, label: 'the first interface of the PrivateDial file (texts with an empty WEBSMS_INDEX)' });
  const generalNative = native.find((s) => s.name.toLowerCase() === 'general');
  if (!generalNative?.entries.some((e) => e.key.trim().toLowerCase() === 'listen')) {
    notes.push({
      line: inb.line,
      message: 'PHP WebSMS took webhooks on every address of the host (port WEBSMSD_PORT); websms listens on [general] listen, 127.0.0.1:8080 unless set: put it behind your reverse proxy, or add [general] listen = 0.0.0.0:<port> to this file',
    });
  }

  const ami = new SectionBuilder('ami', queue.line ?? sectionLine);
  const cc = queue.plain.get('channel_context');
  if (cc !== undefined) ami.set('answer_context', cc.value, cc);
  const ctx = queue.plain.get('context');
  if (ctx !== undefined) ami.set('text_context', ctx.value, ctx);
  const prio = queue.plain.get('priority');
  if (prio !== undefined && prio.value.trim() !== '1') {
    notes.push({ line: prio.line, message: `[astqueue] priority = ${prio.value}: websms starts the text at priority 1 of the context, as PrivateDial's dialplan expects` });
  }

  const sections = mergeFixed(native, [general, ami], notes);
  sections.push(...ifaces.map(({ section }) => ({ name: section.name, line: section.line, entries: section.entries })));
  // In file order, as the loader lists problems.
  notes.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
  return { doc: { sections, problems }, notes };
}

/** "key []" lines are numbered per key: a key with fewer of them than another lands on the first interfaces. */
function orderNotes(section: PhpSection, keys: PhpKeys, notes: CompatNote[]): void {
  const most = Math.max(0, ...keys.appended.values());
  for (const [key, count] of keys.appended) {
    if (count >= most) continue;
    const last = [...keys.indexed.get(key)!.values()].at(-1)!;
    notes.push({
      line: last.line,
      message: `[${section}] ${key} [] is written ${count} time(s), other keys ${most} times: PHP numbers "key []" per key, so it belongs to the first ${count} interface(s) (index 0${count > 1 ? `-${count - 1}` : ''}), and websms reads it the same way; write ${key} [<index>] to give it to another`,
    });
  }
}

function sending(s: SectionBuilder, keys: PhpKeys, index: string | undefined, hasSection: boolean, notes: CompatNote[], problems: IniProblem[]): void {
  const get = (k: string): PhpValue | undefined => valueFor(keys, k, index);
  const host = get('url_host');
  const method = get('auth_method');
  const auth = (method?.value ?? 'basic').trim().toLowerCase();
  const user = get('auth_user');
  const secret = get('auth_secret');
  const path = get('url_path');

  if (host === undefined || host.value.trim() === '') {
    if (hasSection) {
      notes.push({
        line: host?.line ?? keys.line,
        message: `[websms] has no url_host for interface ${s.name}: websms does not send through it (PHP WebSMS would have posted to http://localhost/)`,
      });
    }
    return;
  }
  let base = host.value.trim();
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(base)) {
    notes.push({ line: host.line, message: `[websms] url_host "${base}" has no scheme; read as http://${base}, as PHP's curl did: write https:// if the ITSP takes it` });
    base = `http://${base}`;
  }

  for (const [php, ours] of [
    ['key_to', 'send_to'],
    ['key_from', 'send_from'],
    ['key_body', 'send_body'],
  ] as const) {
    const v = get(php);
    if (v !== undefined) s.set(ours, v.value, v);
  }

  const methodFrom = method ?? { line: host.line, label: 'PrivateDial\'s default auth_method (basic)' };
  if (auth === 'zadarma') {
    s.set('provider', 'zadarma', methodFrom);
    if (user !== undefined) s.set('account', user.value, user);
    if (secret !== undefined) s.set('secret', secret.value, secret);
    if (base.replace(/\/+$/, '') !== ZADARMA_HOST) s.set('api_url', base, host);
    if (path !== undefined && path.value.trim() !== ZADARMA_PATH) {
      notes.push({ line: path.line, message: `[websms] url_path "${path.value}": the zadarma profile sends to Zadarma's ${ZADARMA_PATH}` });
    }
  } else {
    const url = joinUrl(base, path?.value.trim() || '/');
    s.set('send_url', url, { line: host.line, label: path === undefined ? host.label : `${host.label} + ${path.label}` });
    if (auth === 'basic') {
      if ((user?.value ?? '') === '' && (secret?.value ?? '') === '') {
        notes.push({ line: method?.line ?? host.line, message: `[websms] auth_method basic without auth_user or auth_secret for interface ${s.name}: websms sends without credentials` });
        s.set('send_auth', 'none', methodFrom);
      } else {
        s.set('send_auth', 'basic', methodFrom);
        if (user !== undefined) s.set('send_username', user.value, user);
        if (secret !== undefined) s.set('send_password', secret.value, secret);
      }
    } else if (auth === 'plain') {
      s.set('send_auth', 'form', methodFrom);
      const ku = get('key_user');
      const ks = get('key_secret');
      if (ku === undefined || ku.value === '' || ks === undefined || ks.value === '') {
        problems.push({ line: method!.line, message: `[websms] auth_method = plain needs key_user and key_secret, the names of the fields that carry auth_user and auth_secret` });
      } else {
        s.set('send_username_field', ku.value, ku);
        s.set('send_password_field', ks.value, ks);
      }
      if (user !== undefined) s.set('send_username', user.value, user);
      if (secret !== undefined) s.set('send_password', secret.value, secret);
    } else if (auth === 'none' || auth === '') {
      s.set('send_auth', 'none', methodFrom);
      for (const v of [user, secret]) if (v !== undefined) notes.push({ line: v.line, message: `${v.label} is not needed with auth_method none` });
    } else {
      problems.push({ line: method!.line, message: `[websms] auth_method: unknown method "${method!.value}"; PrivateDial's are none, plain, basic and zadarma` });
    }
  }
  if (auth !== 'plain') {
    for (const k of ['key_user', 'key_secret']) {
      const v = get(k);
      if (v !== undefined) notes.push({ line: v.line, message: `${v.label} is only used with auth_method plain; ignored` });
    }
  }

  const check = get('resp_check');
  if (check !== undefined && check.value !== '') {
    if (check.value.includes('=')) s.set('send_success', check.value, check);
    else problems.push({ line: check.line, message: `[websms] resp_check "${check.value}": websms checks a key=value of the answer (such as status=success), not a pattern` });
  }

  const numform = get('val_numform');
  if (numform !== undefined) {
    const f = numform.value.trim().toUpperCase().replace(/\./g, '');
    if (f === 'E164' || f === 'OMIT+' || f === 'NO+') s.set('send_number_format', 'digits', numform);
    else if (f === 'E123' || f === '') s.set('send_number_format', 'e164', numform);
    else problems.push({ line: numform.line, message: `[websms] val_numform: unknown format "${numform.value}"; PrivateDial's are E.164 (no leading +) and E.123` });
  }

  const statics = get('val_static');
  if (statics !== undefined) {
    for (const pair of statics.value.split(',').map((p) => p.trim()).filter(Boolean)) s.set('send_extra', pair, statics);
  }

  const unicode = get('val_unicode');
  if (unicode !== undefined && unicode.value.trim() !== '') {
    const u = unicode.value.trim();
    if (/^UCS-?2$/i.test(u)) s.set('charset', 'ucs2', unicode);
    else if (u.includes('=')) s.set('send_extra_unicode', u, unicode);
    else problems.push({ line: unicode.line, message: `[websms] val_unicode "${u}": PrivateDial's values are UCS-2, or key=value to send when a text has characters outside the BMP` });
  }
}

/** url_host and url_path as PHP joined them, without doubling the "/" between them. */
function joinUrl(base: string, path: string): string {
  if (base.endsWith('/') && path.startsWith('/')) return base + path.slice(1);
  return base + path;
}

function receiving(s: SectionBuilder, keys: PhpKeys, index: string | undefined, notes: CompatNote[], problems: IniProblem[]): void {
  const get = (k: string): PhpValue | undefined => valueFor(keys, k, index);
  const at = { line: keys.line ?? s.line, label: '' };
  for (const [php, ours] of [
    ['key_to', 'field_to'],
    ['key_from', 'field_from'],
    ['key_body', 'field_body'],
  ] as const) {
    const v = get(php);
    if (v !== undefined) s.set(ours, v.value, v);
  }

  const path = get('url_path');
  const paths = (path?.value ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  if (paths.length > 1) {
    problems.push({ line: path!.line, message: `[websmsd] url_path lists ${paths.length} paths; websms takes an interface's webhooks on one path: keep one, or give each its own [index]` });
  } else if (paths.length === 1) {
    // websms matches paths exactly and takes one trailing "/" as the same path.
    s.set('path', paths[0]!.length > 1 ? paths[0]!.replace(/\/+$/, '') : paths[0]!, path!);
  } else {
    s.set('path', '/', { ...at, label: 'PrivateDial WebSMS answered every path; websms takes this interface\'s webhooks on /' });
    notes.push({
      line: keys.line,
      message: `[websmsd] has no url_path for interface ${s.name}: PHP WebSMS took webhooks on any path, websms takes them on / (http://<host>/); point the ITSP there, or set url_path`,
    });
  }

  const remt = get('remt_addr');
  if (remt !== undefined && remt.value.trim() !== '') s.set('allow', remt.value, remt);
  else s.set('allow', 'any', { ...at, label: 'PrivateDial\'s default: any source address (remt_addr not set)' });

  const echo = get('key_echo');
  if (echo !== undefined && echo.value !== '') {
    s.set('echo_field', echo.value, echo);
    // The echo check (Zadarma's zd_echo) comes as a GET with the field in the query string.
    s.set('methods', 'POST, GET', { ...echo, label: `${echo.label} (the echo check comes as a GET)` });
  }

  const ack = get('resp_ack');
  if (ack !== undefined && ack.value !== '') {
    s.set('ack_body', ack.value, ack);
    s.set('ack_content_type', 'text/html', { ...ack, label: `${ack.label} (PHP's web server answered text/html)` });
  }
}

/** [general] and [ami] from the translation, under the keys the file's own sections set. */
function mergeFixed(native: IniSection[], built: SectionBuilder[], notes: CompatNote[]): IniSection[] {
  const sections = native.map((s) => ({ ...s, entries: [...s.entries] }));
  const added: IniSection[] = [];
  for (const b of built) {
    if (b.entries.length === 0) continue;
    const own = sections.find((s) => s.name.toLowerCase() === b.name);
    if (own === undefined) {
      added.push({ name: b.name, line: b.line, entries: b.entries });
      continue;
    }
    for (const e of b.entries) {
      const mine = own.entries.find((o) => o.key.trim().toLowerCase() === e.key);
      if (mine === undefined) own.entries.push(e);
      // Only a key written in the PHP sections is worth a note; implied values quietly give way.
      else if (e.from!.startsWith('[')) notes.push({ line: e.line, message: `${e.from} is overridden by [${b.name}] ${e.key} on line ${mine.line}` });
    }
  }
  return [...added, ...sections];
}
