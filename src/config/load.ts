// Turns websms.conf plus secret environment variables into a validated Config.
// Every problem is collected and reported at once, with file and line, so an
// administrator fixes the file in one pass instead of one restart per typo.
// No message ever contains a secret's value.

import fs from 'node:fs';
import nodePath from 'node:path';
import { ConfigError } from '../errors.js';
import { parseIni, type IniSection } from './ini.js';
import { isPrivateDial, translatePrivateDial, type CompatNote } from './privatedial.js';
import { makeAddressMatcher } from './cidr.js';
import {
  AGI_KEYS,
  AMI_KEYS,
  FIXED_SECTIONS,
  GENERAL_KEYS,
  API_KEYS,
  INTERFACE_KEYS,
  INTERFACE_NAME,
  MEDIA_KEYS,
  EMAIL_KEYS,
  OUTBOUND_KEYS,
  WEB_KEYS,
  defaultOf,
  fieldOf,
  secretEnvName,
  type Schema,
  type Values,
} from './schema.js';
import type { Config, InterfaceConfig, SectionSettings, Setting } from './types.js';
import { publicStatusUrl } from './public-url.js';
import { readMinivm, type MinivmKey } from './minivm.js';
import { adapterFor, PROVIDER_NAMES } from '../../providers/index.js';

export { renderSampleConfig } from './schema.js';

export interface ConfigPath {
  file: string;
  /** Named by --config or WEBSMS_CONFIG: then the file must exist. */
  explicit: boolean;
}

/** --config PATH / --config=PATH, else WEBSMS_CONFIG, else ./websms.conf. */
export function resolveConfigPath(argv: readonly string[], env: NodeJS.ProcessEnv): ConfigPath {
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    let value: string | undefined;
    if (arg === '--config') value = argv[++i];
    else if (arg.startsWith('--config=')) value = arg.slice('--config='.length);
    else continue;
    if (value === undefined || value === '' || value.startsWith('--')) throw new ConfigError(['--config needs a file path']);
    file = value;
  }
  if (file !== undefined) return { file, explicit: true };
  if (env.WEBSMS_CONFIG) return { file: env.WEBSMS_CONFIG, explicit: true };
  return { file: './websms.conf', explicit: false };
}

export interface LoadOptions {
  /** Without a file, or with a missing non-explicit one, the defaults apply. */
  file?: string;
  env: NodeJS.ProcessEnv;
  explicit: boolean;
}

export function loadConfig(opts: LoadOptions): Config {
  const { env } = opts;
  let file: string | undefined;
  let text = '';
  if (opts.file !== undefined) {
    try {
      text = fs.readFileSync(opts.file, 'utf8');
      file = opts.file;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || opts.explicit) {
        const why = code === 'ENOENT' ? 'no such file' : (err as Error).message;
        throw new ConfigError([`${opts.file}: cannot read the configuration file: ${why}`]);
      }
    }
  }

  const report = reporter(file);
  let doc = parseIni(text);
  // PrivateDial's PHP WebSMS websms.conf: read as the websms sections it stands for.
  let notes: CompatNote[] | undefined;
  if (isPrivateDial(doc)) {
    const t = translatePrivateDial(doc);
    doc = t.doc;
    notes = t.notes;
  }
  for (const p of doc.problems) report.at(p.line, p.message);

  const fixed = new Map<string, IniSection>();
  const ifaceSections: IniSection[] = [];
  const seen = new Map<string, IniSection>();
  for (const s of doc.sections) {
    // [General] is [general], as in Asterisk; interface names keep their case (they are in URLs).
    const lower = s.name.toLowerCase();
    const id = Object.hasOwn(FIXED_SECTIONS, lower) ? lower : s.name;
    const first = seen.get(id);
    if (first) {
      report.at(s.line, `section [${s.name}] appears more than once (first on line ${first.line})`);
      continue;
    }
    seen.set(id, s);
    if (Object.hasOwn(FIXED_SECTIONS, id)) {
      fixed.set(id, s);
      continue;
    }
    if (!INTERFACE_NAME.test(s.name)) report.at(s.line, `[${s.name}]: an interface name must be 1-32 letters, digits, _ or -`);
    ifaceSections.push(s);
  }

  const general = readSection('general', GENERAL_KEYS, fixed.get('general'), env, report);
  const ami = readSection('ami', AMI_KEYS, fixed.get('ami'), env, report);
  const agi = readSection('agi', AGI_KEYS, fixed.get('agi'), env, report);
  const outbound = readSection('outbound', OUTBOUND_KEYS, fixed.get('outbound'), env, report);
  const api = readSection('api', API_KEYS, fixed.get('api'), env, report);
  const media = readSection('media', MEDIA_KEYS, fixed.get('media'), env, report);
  const web = readSection('web', WEB_KEYS, fixed.get('web'), env, report);
  const email = readSection('email', EMAIL_KEYS, fixed.get('email'), env, report);
  const ifaces =
    ifaceSections.length > 0
      ? ifaceSections.map((s) => readSection(s.name, INTERFACE_KEYS, s, env, report))
      : [readSection('default', INTERFACE_KEYS, undefined, env, report)];

  for (const r of ifaces) applyProfile(r, report);

  checkAmi(ami, report);
  checkAgi(agi, general, report);
  checkOutbound(outbound, report);
  checkApi(api, general, agi, report);
  checkInterfaces(ifaces, report);
  checkMedia(media, ifaces, report);
  checkEmail(email, [general.values.listen, agi.values.listen, api.values.listen], report);
  const defaultInterface = pickDefaultInterface(general, ifaces, report);

  const problems = report.list();
  if (problems.length > 0) throw new ConfigError(problems);

  const settings = [general, ami, agi, outbound, api, media, web, email].map((r) => settingsOf(r, false));
  settings.push(...ifaces.map((r) => settingsOf(r, true)));

  const g = general.values;
  const a = ami.values;
  const x = agi.values;
  const o = outbound.values;
  const m = media.values;
  const e = email.values;
  return {
    file,
    settings,
    ...(notes === undefined ? {} : { format: 'privatedial' as const, notes }),
    general: {
      listenHost: g.listen.host,
      listenPort: g.listen.port,
      database: g.database,
      countryCode: g.country_code,
      defaultInterface,
      logLevel: g.log_level,
      logFormat: g.log_format,
      retentionMs: g.retention,
      trustedProxies: g.trusted_proxies,
      maxRequestBytes: g.max_request_size,
      maxBodyBytes: g.max_body_bytes,
      dedupWindowMs: g.dedup_window,
      reassemblyTimeoutMs: g.reassembly_timeout,
    },
    ami: {
      host: a.host,
      port: a.port,
      username: a.username,
      secret: a.secret,
      answerContext: a.answer_context,
      textContext: a.text_context,
      actionTimeoutMs: a.action_timeout,
      pingIntervalMs: a.ping_interval,
      reconnectMinMs: a.reconnect_min,
      reconnectMaxMs: a.reconnect_max,
      reportTimeoutMs: a.report_timeout,
      partBytes: a.part_bytes,
      maxAgeMs: a.max_age,
      retryMinMs: a.retry_min,
      retryMaxMs: a.retry_max,
      maxInFlight: a.max_in_flight,
    },
    agi: {
      listenHost: x.listen.host,
      listenPort: x.listen.port,
      allow: x.allow,
      handoffTimeoutMs: x.handoff_timeout,
    },
    outbound: {
      maxAttempts: o.max_attempts,
      maxAgeMs: o.max_age,
      retryMinMs: o.retry_min,
      retryMaxMs: o.retry_max,
      notify: o.notify,
      maxSegments: o.max_segments,
    },
    api: {
      listenHost: api.values.listen.host,
      listenPort: api.values.listen.port,
      token: api.values.token,
    },
    media: {
      publicUrl: m.public_url,
      path: m.path,
      directory: m.directory !== '' ? m.directory : nodePath.join(nodePath.dirname(g.database), 'media'),
      maxBytes: m.max_size,
      types: [...new Set(m.types)],
      retentionMs: m.retention,
      maxHoldMs: m.max_hold,
      fetchTimeoutMs: m.fetch_timeout,
      fetchAllow: m.fetch_allow,
      attempts: m.attempts,
      retryMinMs: m.retry_min,
      retryMaxMs: m.retry_max,
    },
    web: {
      password: web.values.password,
      sessionLifetimeMs: web.values.session_lifetime,
    },
    email: {
      users: e.user,
      unreachedAfterMs: e.unreached_after,
      copy: e.copy,
      failures: e.failures === 'yes',
      from: e.from,
      fromName: e.from_name,
      replyTo: e.reply_to,
      replySubaddress: e.reply_subaddress === 'yes',
      smtp: {
        host: e.smtp_host,
        // The usual port of the TLS mode when none was chosen: submission 587, implicit TLS 465 (RFC 8314), plain 25.
        port: e.smtp_port !== 0 ? e.smtp_port : e.smtp_tls === 'tls' ? 465 : e.smtp_tls === 'none' ? 25 : 587,
        tls: e.smtp_tls === '' ? 'starttls' : e.smtp_tls,
        username: e.smtp_username,
        password: e.smtp_password,
        timeoutMs: e.smtp_timeout,
      },
      caFile: e.ca_file,
      minivmFile: e.minivm,
      attachMaxBytes: e.attach_max,
      retryMinMs: e.retry_min,
      retryMaxMs: e.retry_max,
      maxAgeMs: e.max_age,
      replyListen: e.reply_listen ?? null,
      imap: {
        host: e.imap_host,
        port: e.imap_port !== 0 ? e.imap_port : e.imap_tls === 'tls' ? 993 : 143,
        tls: e.imap_tls,
        username: e.imap_username,
        password: e.imap_password,
        mailbox: e.imap_mailbox,
        pollMs: e.imap_poll,
      },
    },
    interfaces: ifaces.map((r): InterfaceConfig => {
      const i = r.values;
      return {
        name: r.name,
        provider: i.provider,
        path: i.path,
        methods: i.methods,
        fieldTo: i.field_to,
        fieldFrom: i.field_from,
        fieldBody: i.field_body,
        fieldId: i.field_id,
        fieldPartRef: i.field_part_ref,
        fieldPartSeq: i.field_part_seq,
        fieldPartTotal: i.field_part_total,
        allow: i.allow,
        username: i.username,
        password: i.password,
        token: i.token,
        echoField: i.echo_field,
        ackBody: i.ack_body,
        ackContentType: i.ack_content_type,
        index: i.index,
        number: i.number,
        account: i.account,
        secret: i.secret,
        signingSecret: i.signing_secret,
        publicKey: i.public_key,
        publicUrl: i.public_url,
        apiUrl: i.api_url,
        verify: i.verify === 'yes',
        send: {
          url: i.send_url,
          application: i.application,
          format: i.send_format,
          fieldTo: i.send_to,
          fieldFrom: i.send_from,
          fieldBody: i.send_body,
          auth: i.send_auth,
          username: i.send_username,
          password: i.send_password,
          bearer: i.send_bearer,
          usernameField: i.send_username_field,
          passwordField: i.send_password_field,
          // fromEntries defines own properties, so even a field named __proto__ stays data.
          extra: Object.fromEntries(i.send_extra.map(([k, v]) => [k, v.replaceAll(TOKEN_PLACEHOLDER, i.token)])),
          extraUnicode: Object.fromEntries(i.send_extra_unicode),
          numberFormat: i.send_number_format,
          success: i.send_success,
          idField: i.send_id_field,
          referenceField: i.send_reference_field,
          idempotencyHeader: i.send_idempotency_header,
          charset: i.charset,
          connectTimeoutMs: i.connect_timeout,
          timeoutMs: i.send_timeout,
          caFile: i.ca_file,
          ratePerSecond: i.rate,
          ratePerNumber: i.rate_per_number,
          concurrency: i.concurrency,
          breakerFailures: i.breaker_failures,
          breakerCooldownMs: i.breaker_cooldown,
          failover: i.failover,
          statusPath: i.status_path,
          ...statusUrlOf(i),
          statusFieldId: i.status_field_id,
          statusFieldStatus: i.status_field_status,
          statusFieldReason: i.status_field_reason,
          statusDelivered: i.status_delivered,
          statusFailed: i.status_failed,
        },
      };
    }),
  };
}

/**
 * In a send_extra value, the interface's token: a status callback URL the ITSP
 * is given with every text must carry it (<status_path>/<token>), and the token
 * itself belongs in the environment, not in the file.
 */
export const TOKEN_PLACEHOLDER = '${token}';

/** The delivery-report URL the provider is given with each text: from public_url, with the token. */
function statusUrlOf(i: Values<typeof INTERFACE_KEYS>): { statusUrl?: string } {
  const base = publicStatusUrl(i.public_url, i.path, i.status_path);
  return base === '' ? {} : { statusUrl: i.token === '' ? base : `${base}/${i.token}` };
}

/** The config for a start-up log line: every secret replaced by '(set)' or '(not set)'. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    file: config.file ?? '(none: defaults)',
    general: mask(config.general, GENERAL_KEYS),
    ami: mask(config.ami, AMI_KEYS),
    agi: mask(config.agi, AGI_KEYS),
    outbound: mask(config.outbound, OUTBOUND_KEYS),
    api: mask(config.api, API_KEYS),
    media: mask(config.media, MEDIA_KEYS),
    web: mask(config.web, WEB_KEYS),
    email: mask(config.email, EMAIL_KEYS),
    interfaces: config.interfaces.map((i) => {
      const m = mask(i, INTERFACE_KEYS);
      if (i.token === '') return m;
      // The token went into send_extra through ${token}, and into the status URL: show the placeholder again.
      const send = m.send as Record<string, unknown>;
      const extra = Object.fromEntries(Object.entries(i.send.extra).map(([k, v]) => [k, v.replaceAll(i.token, TOKEN_PLACEHOLDER)]));
      const statusUrl = i.send.statusUrl?.replaceAll(i.token, TOKEN_PLACEHOLDER);
      return { ...m, send: { ...send, extra, ...(statusUrl === undefined ? {} : { statusUrl }) } };
    }),
  };
}

/** A copy with every secret field replaced; nested objects on a secret's path (send.password) are copied too. */
function mask(obj: object, schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = { ...obj };
  for (const [key, spec] of Object.entries(schema)) {
    if (!spec.secret) continue;
    const path = (spec.field ?? fieldOf(key)).split('.');
    const last = path.pop()!;
    let target = out;
    for (const p of path) {
      const copy: Record<string, unknown> = { ...(target[p] as object) };
      target[p] = copy;
      target = copy;
    }
    target[last] = target[last] ? '(set)' : '(not set)';
  }
  return out;
}

// ---- reading one section ------------------------------------------------

interface Reporter {
  /** A problem at a file line, or about the file as a whole. */
  at(line: number | undefined, message: string): void;
  env(name: string, message: string): void;
  list(): string[];
}

function reporter(file: string | undefined): Reporter {
  const items: { order: number; text: string }[] = [];
  const where = (line: number | undefined): string =>
    file === undefined ? '' : line === undefined ? `${file}: ` : `${file}:${line}: `;
  return {
    at: (line, message) => items.push({ order: line ?? Infinity, text: where(line) + message }),
    env: (name, message) => items.push({ order: Infinity, text: `environment variable ${name}: ${message}` }),
    // Array#sort is stable: problems without a line keep the order they were found in.
    list: () => items.sort((x, y) => x.order - y.order).map((i) => i.text),
  };
}

interface SectionRead<S extends Schema> {
  name: string;
  values: Values<S>;
  /** Line of each key written in the file (the first, for list keys). */
  line: Partial<Record<keyof S, number>>;
  /** For list keys written in the file: the line of each item of the joined value. */
  itemLines: Partial<Record<keyof S, number[]>>;
  sectionLine: number | undefined;
  /** Each key's value as written in the file (list keys: every line's value); secrets excluded. */
  raw: Partial<Record<keyof S, string[]>>;
  /** Keys whose value came from the environment, with the variable's name. */
  env: Partial<Record<keyof S, string>>;
  /** Keys whose value is the default of the interface's provider profile, as the profile wrote it. */
  profile: Partial<Record<keyof S, string>>;
  /** Keys translated from another format (PrivateDial's websms.conf): what they were made from. */
  from: Partial<Record<keyof S, string>>;
  /** Keys read from PrivateDial's minivm.conf ([email]): the value as written there (secrets excluded) and where. */
  minivm: Partial<Record<keyof S, { value: string; from: string }>>;
  schema: S;
}

/** A section as websms.conf spells it, for check-config; secrets hidden. */
function settingsOf(r: SectionRead<Schema>, isInterface: boolean): SectionSettings {
  const keys: Record<string, Setting> = {};
  for (const [k, spec] of Object.entries(r.schema)) {
    const envName = r.env[k];
    const line = r.line[k];
    const raw = r.raw[k];
    let s: Setting;
    if (envName !== undefined) s = { value: '', source: 'env', env: envName };
    else if (line !== undefined) s = { value: raw?.join(', ') ?? '', source: 'file', line };
    else if (r.profile[k] !== undefined) s = { value: r.profile[k]!.split('\n').join(', '), source: 'profile' };
    else if (r.minivm[k] !== undefined) s = { value: r.minivm[k]!.value, source: 'minivm', from: r.minivm[k]!.from };
    else s = { value: defaultOf(spec, r.name), source: 'default' };
    const from = r.from[k];
    if (from !== undefined && s.source === 'file') s.from = from;
    if (spec.secret) s.value = envName !== undefined || r.values[k] ? '(set)' : '(not set)';
    keys[k] = s;
  }
  return { name: r.name, interface: isInterface, keys };
}

const ALL_SECTIONS: [string, Schema][] = [
  ...Object.entries(FIXED_SECTIONS).map(([name, schema]): [string, Schema] => [`[${name}]`, schema]),
  ['an interface section', INTERFACE_KEYS],
];

function readSection<S extends Schema>(
  name: string,
  schema: S,
  section: IniSection | undefined,
  env: NodeJS.ProcessEnv,
  report: Reporter,
): SectionRead<S> {
  // Keys are case-insensitive, as in most Asterisk config files.
  const given = new Map<string, { value: string; line: number; from?: string }[]>();
  for (const e of section?.entries ?? []) {
    const k = e.key.toLowerCase();
    if (!Object.hasOwn(schema, k)) {
      report.at(e.line, unknownKey(e.key, name, schema));
      continue;
    }
    given.set(k, [...(given.get(k) ?? []), e]);
  }

  const values: Record<string, unknown> = {};
  const raw: Record<string, string[]> = {};
  const envUsed: Record<string, string> = {};
  const line: Record<string, number> = {};
  const itemLines: Record<string, number[]> = {};
  const from: Record<string, string> = {};
  for (const [k, spec] of Object.entries(schema)) {
    let found = given.get(k) ?? [];
    if (!spec.list && found.length > 1) {
      for (const dup of found.slice(1)) report.at(dup.line, `[${name}] ${k} is set more than once (first on line ${found[0]!.line})`);
      found = found.slice(0, 1);
    }
    // Only a default built from a bad section name (already reported) can fail to parse.
    const fallback = spec.parse(defaultOf(spec, name));
    if (fallback.ok) values[k] = fallback.value;

    // The environment wins over the file for secrets; an empty variable counts as unset.
    const envName = spec.secret ? secretEnvName(name, k) : undefined;
    const fromEnv = envName === undefined ? undefined : env[envName];
    if (envName !== undefined && fromEnv) {
      const r = spec.parse(fromEnv);
      if (r.ok) values[k] = r.value;
      else report.env(envName, `[${name}] ${k}: ${r.reason}`);
      envUsed[k] = envName;
      continue;
    }

    if (found.length === 0) continue;
    line[k] = found[0]!.line;
    const origins = [...new Set(found.map((e) => e.from).filter((f): f is string => f !== undefined))];
    if (origins.length > 0) from[k] = origins.join('; ');
    if (!spec.secret) raw[k] = found.map((e) => e.value);
    const joined: unknown[] = [];
    const lines: number[] = [];
    for (const e of found) {
      const r = spec.parse(e.value);
      if (!r.ok) report.at(e.line, `[${name}] ${k}: ${r.reason}`);
      else if (spec.list) {
        const items = r.value as unknown[];
        joined.push(...items);
        lines.push(...items.map(() => e.line));
      } else values[k] = r.value;
    }
    if (spec.list) {
      values[k] = joined;
      itemLines[k] = lines;
    }
  }
  return {
    name,
    values: values as Values<S>,
    line: line as SectionRead<S>['line'],
    itemLines: itemLines as SectionRead<S>['itemLines'],
    sectionLine: section?.line,
    raw: raw as SectionRead<S>['raw'],
    env: envUsed as SectionRead<S>['env'],
    profile: {},
    minivm: {},
    from: from as SectionRead<S>['from'],
    schema,
  };
}

// ---- provider profiles --------------------------------------------------

/**
 * The interface's provider profile fills in what the user did not write
 * (src/config: the defaults of an interface depend on its provider), once the
 * settings it needs are there: without them its defaults would only produce
 * follow-on problems (a send URL without an account). The user's keys win.
 */
function applyProfile(r: InterfaceRead, report: Reporter): void {
  const provider = r.values.provider;
  if (!PROVIDER_NAMES.includes(provider)) return; // reported by the schema's check
  const adapter = adapterFor(provider);
  const schema = r.schema as Schema;
  const values = r.values as Record<string, unknown>;
  const written: Record<string, string> = {};
  for (const [k, spec] of Object.entries(schema)) {
    const key = k as keyof typeof INTERFACE_KEYS;
    if (r.env[key] !== undefined || (spec.secret && r.line[key] !== undefined)) {
      // Secrets are parsed as written; their text is the value itself.
      if (typeof values[k] === 'string' && values[k] !== '') written[k] = values[k] as string;
    } else if (r.raw[key] !== undefined) written[k] = r.raw[key]!.join('\n');
  }
  const line = r.line.provider ?? r.sectionLine;
  const missing = (adapter.settings ?? []).filter((s) => s.required && (written[s.key] ?? '') === '');
  for (const s of missing) {
    const env = schema[s.key]?.secret ? `, or the environment variable ${secretEnvName(r.name, s.key)}` : '';
    report.at(line, `[${r.name}] provider ${provider} needs ${s.key} (${s.doc})${env}`);
  }
  if (missing.length > 0 || !adapter.defaults) return;
  for (const [k, v] of Object.entries(adapter.defaults(written))) {
    const spec = Object.hasOwn(schema, k) ? schema[k] : undefined;
    // A profile naming a key websms does not have is a bug in the profile, not the user's mistake.
    if (spec === undefined) throw new Error(`provider profile ${provider} gives a default for unknown key ${k}`);
    if (Object.hasOwn(written, k)) continue;
    const items = spec.list ? v.split('\n') : [v];
    const parsed: unknown[] = [];
    let failed = false;
    for (const item of items) {
      const p = spec.parse(item);
      if (p.ok) parsed.push(p.value);
      else {
        failed = true;
        const shown = spec.secret ? '' : ` "${item}"`;
        report.at(line, `[${r.name}] ${k}: the ${provider} profile's default${shown} is not valid (${p.reason}); check the settings it is made from, or set ${k} yourself`);
      }
    }
    if (failed) continue;
    values[k] = spec.list ? parsed.flat() : parsed[0];
    (r.profile as Record<string, string>)[k] = v;
  }
}

function unknownKey(key: string, section: string, schema: Schema): string {
  // Something that is not a key name may be a pasted secret: do not repeat it.
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(key)) return `[${section}]: not a key name before "="`;
  const lower = key.toLowerCase();
  const head = `unknown key "${key}" in [${section}]`;
  const near = closest(lower.replace(/-/g, '_'), Object.keys(schema));
  if (near !== undefined) return `${head}; did you mean "${near}"?`;
  const homes = ALL_SECTIONS.filter(([, other]) => other !== schema && Object.hasOwn(other, lower)).map(([label]) => label);
  if (homes.length > 0) return `${head}; "${lower}" belongs in ${homes.join(' or ')}`;
  return head;
}

/** The candidate within edit distance 2, if any; short words need a closer match. */
function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word, c);
    if (d <= 2 && d * 2 < Math.max(word.length, c.length) && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

// ---- rules across keys and sections -------------------------------------

function missingSecret(section: string, key: string): string {
  return `missing secret: [${section}] ${key} (or environment variable ${secretEnvName(section, key)})`;
}

function checkAmi(ami: SectionRead<typeof AMI_KEYS>, report: Reporter): void {
  const a = ami.values;
  // No secret is not an error, written user or not: websms then stores texts and
  // retries the login until one is set, and says so at start (src/daemon.ts).
  // The sample, copied as it is, must start like the built-in defaults do.
  const pairs = [
    ['reconnect_min', 'reconnect_max'],
    ['retry_min', 'retry_max'],
  ] as const;
  for (const [lo, hi] of pairs) {
    if (a[lo] > a[hi]) {
      report.at(ami.line[lo] ?? ami.line[hi] ?? ami.sectionLine, `[ami] ${lo} must not be longer than ${hi}`);
    }
  }
}

const isLoopback = makeAddressMatcher(['127.0.0.0/8', '::1/128']);
const WILDCARD = new Set(['0.0.0.0', '::']);

function checkAgi(agi: SectionRead<typeof AGI_KEYS>, general: SectionRead<typeof GENERAL_KEYS>, report: Reporter): void {
  const { listen, allow } = agi.values;
  const loopback = listen.host.toLowerCase() === 'localhost' || isLoopback(listen.host);
  // FastAGI has no authentication: whoever connects can make websms send texts.
  if (!loopback && allow.some((c) => c.endsWith('/0'))) {
    report.at(
      agi.line.allow ?? agi.line.listen ?? agi.sectionLine,
      `[agi] allow: the FastAGI port must not be open to the world; with listen = ${listen.host} name the Asterisk addresses instead of "any"`,
    );
  }
  const web = general.values.listen;
  const sameHost = listen.host === web.host || WILDCARD.has(listen.host) || WILDCARD.has(web.host);
  if (listen.port !== 0 && listen.port === web.port && sameHost) {
    report.at(agi.line.listen ?? agi.sectionLine, `[agi] listen: port ${listen.port} is already the HTTP port ([general] listen)`);
  }
}

function checkApi(
  api: SectionRead<typeof API_KEYS>,
  general: SectionRead<typeof GENERAL_KEYS>,
  agi: SectionRead<typeof AGI_KEYS>,
  report: Reporter,
): void {
  const { listen, token } = api.values;
  const loopback = listen.host.toLowerCase() === 'localhost' || isLoopback(listen.host);
  // The management API sends texts and reads every stored text: never without a token off loopback.
  if (!loopback && token === '') {
    report.at(api.line.listen ?? api.sectionLine, `[api] listen: ${listen.host} is not a loopback address, so a token is required (${missingSecret('api', 'token')})`);
  }
  if (listen.port === 0) return;
  for (const [other, label] of [[general.values.listen, '[general] listen'], [agi.values.listen, '[agi] listen']] as const) {
    const sameHost = listen.host === other.host || WILDCARD.has(listen.host) || WILDCARD.has(other.host);
    if (listen.port === other.port && sameHost) report.at(api.line.listen ?? api.sectionLine, `[api] listen: port ${listen.port} is already used by ${label}`);
  }
}

function checkOutbound(outbound: SectionRead<typeof OUTBOUND_KEYS>, report: Reporter): void {
  const o = outbound.values;
  if (o.retry_min > o.retry_max) {
    const line = outbound.line.retry_min ?? outbound.line.retry_max ?? outbound.sectionLine;
    report.at(line, '[outbound] retry_min must not be longer than retry_max');
  }
}

type InterfaceRead = SectionRead<typeof INTERFACE_KEYS>;

function checkInterfaces(ifaces: InterfaceRead[], report: Reporter): void {
  const byPath = new Map<string, string>();
  const byEnv = new Map<string, string>();
  const byIndex = new Map<string, string>();
  const byName = new Map(ifaces.map((r) => [r.name, r]));
  for (const r of ifaces) {
    const i = r.values;
    if (i.username !== '' && i.password === '') report.at(r.line.username, missingSecret(r.name, 'password'));
    const partKeys = (['field_part_ref', 'field_part_seq', 'field_part_total'] as const).filter((k) => i[k] !== '');
    if (partKeys.length > 0 && partKeys.length < 3) {
      report.at(r.line[partKeys[0]!] ?? r.sectionLine, `[${r.name}] field_part_ref, field_part_seq and field_part_total go together; set all three or none`);
    }
    if (i.username === '' && i.password !== '') {
      report.at(r.line.password ?? r.sectionLine, `[${r.name}] password is set but username is not; HTTP Basic needs both`);
    }

    if (i.path !== undefined) {
      const other = byPath.get(i.path);
      // Interfaces may share a webhook path when the sender's address tells them apart
      // (PrivateDial selects its interface by remt_addr): see sharedPathProblem.
      const why = other === undefined ? undefined : sharedPathProblem(r, ifaces.filter((x) => x !== r && x.values.path === i.path && ifaces.indexOf(x) < ifaces.indexOf(r)));
      if (other !== undefined && why !== undefined) report.at(r.line.path ?? r.sectionLine, `[${r.name}] path: "${i.path}" is already used by [${other}]; ${why}`);
      else if (other === undefined) byPath.set(i.path, r.name);
    }

    // [my-itsp] and [MY_ITSP] would read the same WEBSMS_MY_ITSP_* secrets.
    const prefix = secretEnvName(r.name, '');
    const clash = byEnv.get(prefix);
    if (clash !== undefined) {
      report.at(r.sectionLine, `interfaces [${clash}] and [${r.name}] would share the environment variables ${prefix}*; rename one`);
    } else byEnv.set(prefix, r.name);

    // WEBSMS_INDEX selects an interface by its index or its name: either must point at one interface only.
    if (i.index !== '') {
      const other = byIndex.get(i.index);
      const named = byName.get(i.index);
      if (other !== undefined) {
        report.at(r.line.index, `[${r.name}] index: "${i.index}" is already used by [${other}]`);
      } else if (named !== undefined && named !== r) {
        report.at(r.line.index, `[${r.name}] index: "${i.index}" is the name of the interface [${named.name}]`);
      } else byIndex.set(i.index, r.name);
    }

    checkSend(r, report);
  }

  // Delivery reports need their own routes, apart from every webhook path. A clash is
  // reported at the line written in the file: defaults are taken first.
  const byStatusPath = new Map<string, string>();
  const written = (r: InterfaceRead): boolean => r.line.status_path !== undefined;
  for (const r of [...ifaces.filter((x) => !written(x)), ...ifaces.filter(written)]) {
    const sp = r.values.status_path;
    if (sp === undefined) continue;
    const inbound = byPath.get(sp);
    const other = byStatusPath.get(sp);
    const inboundLine = inbound === undefined ? undefined : byName.get(inbound)!.line.path;
    if (inbound !== undefined && !written(r) && inboundLine !== undefined) {
      report.at(inboundLine, `[${inbound}] path: "${sp}" is already the status_path of [${r.name}]`);
    } else if (inbound !== undefined) {
      report.at(r.line.status_path ?? r.sectionLine, `[${r.name}] status_path: "${sp}" is already the path of [${inbound}]`);
    } else if (other !== undefined) {
      report.at(r.line.status_path ?? r.sectionLine, `[${r.name}] status_path: "${sp}" is already the status_path of [${other}]`);
    } else byStatusPath.set(sp, r.name);
  }

  checkFailover(ifaces, byName, report);
}

const ANY_ADDRESS = (allow: string[]): boolean => allow.some((c) => c.endsWith('/0'));

/**
 * Why an interface cannot share its webhook path with the ones before it, if
 * it cannot: a request on a shared path goes to the first of them (in file
 * order, one that takes any address last) whose allow list has the sender's
 * address, so the lists must differ, at most one may take any address, and a
 * token (which belongs to one interface) cannot be used.
 */
function sharedPathProblem(r: InterfaceRead, before: InterfaceRead[]): string | undefined {
  const rule = 'interfaces share a path only when their allow lists tell them apart, and none of them has a token';
  if (r.values.token !== '' || before.some((b) => b.values.token !== '')) return rule;
  const same = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x) => b.includes(x));
  if (before.some((b) => same(b.values.allow, r.values.allow))) return rule;
  if (ANY_ADDRESS(r.values.allow) && before.some((b) => ANY_ADDRESS(b.values.allow))) return rule;
  return undefined;
}

function checkSend(r: InterfaceRead, report: Reporter): void {
  const i = r.values;
  const at = (k: keyof typeof INTERFACE_KEYS): number | undefined => r.line[k] ?? r.sectionLine;
  const auth = i.send_auth;
  const authLine = r.line.send_auth ?? r.sectionLine;
  if (auth === 'basic' || auth === 'form') {
    if (i.send_username === '') report.at(authLine, `[${r.name}] send_auth = ${auth} needs send_username`);
    if (i.send_password === '') report.at(authLine, missingSecret(r.name, 'send_password'));
    // HTTP Basic joins user and password with ':' (RFC 7617).
    if (auth === 'basic' && i.send_username.includes(':')) {
      report.at(at('send_username'), `[${r.name}] send_username must not contain ":" with send_auth = basic`);
    }
  } else {
    for (const k of ['send_username', 'send_password'] as const) {
      if (i[k] !== '') report.at(at(k), `[${r.name}] ${k} is set but send_auth is ${auth}; it is used with basic or form`);
    }
  }
  if (auth === 'bearer') {
    if (i.send_bearer === '') report.at(authLine, missingSecret(r.name, 'send_bearer'));
  } else if (i.send_bearer !== '') {
    report.at(at('send_bearer'), `[${r.name}] send_bearer is set but send_auth is ${auth}; it is used with bearer`);
  }

  checkSendFields(r, report);

  if (i.connect_timeout > i.send_timeout) {
    report.at(r.line.connect_timeout ?? at('send_timeout'), `[${r.name}] connect_timeout must not be longer than send_timeout`);
  }

  for (const v of i.status_delivered) {
    if (i.status_failed.includes(v)) report.at(at('status_failed'), `[${r.name}] status "${v}" is in both status_delivered and status_failed`);
  }

  if (i.ca_file !== '') {
    const problem = caFileProblem(i.ca_file);
    if (problem !== undefined) report.at(at('ca_file'), `[${r.name}] ca_file: ${problem}`);
  }
}

/**
 * The fields websms fills in must be distinct and, in JSON, not nest in one
 * another ("a" and "a.b"); a fixed extra must not take the place of one of them.
 */
function checkSendFields(r: InterfaceRead, report: Reporter): void {
  const i = r.values;
  const json = i.send_format === 'json';
  const own: [keyof typeof INTERFACE_KEYS, string][] = [
    ['send_to', i.send_to],
    ['send_from', i.send_from],
    ['send_body', i.send_body],
  ];
  if (i.send_reference_field !== '') own.push(['send_reference_field', i.send_reference_field]);
  if (i.send_auth === 'form') own.push(['send_username_field', i.send_username_field], ['send_password_field', i.send_password_field]);
  const overlap = (a: string, b: string): boolean => json && (a.startsWith(b + '.') || b.startsWith(a + '.'));
  const lineOf = (k: keyof typeof INTERFACE_KEYS): number | undefined => r.line[k] ?? r.line.send_format ?? r.sectionLine;

  own.forEach(([k, name], n) => {
    if (json && name.split('.').includes('')) {
      report.at(lineOf(k), `[${r.name}] ${k}: "${name}" has an empty part; with send_format = json a dotted name is a path`);
    }
    for (const [k2, name2] of own.slice(0, n)) {
      if (name === name2) report.at(lineOf(k), `[${r.name}] ${k}: "${name}" is already the ${k2} field`);
      else if (overlap(name, name2)) report.at(lineOf(k), `[${r.name}] ${k}: "${name}" and ${k2} "${name2}" overlap in JSON`);
    }
  });

  const seen = new Set<string>();
  i.send_extra.forEach(([name, value], n) => {
    const line = r.itemLines.send_extra?.[n] ?? r.line.send_extra ?? r.sectionLine;
    if (value.includes(TOKEN_PLACEHOLDER) && i.token === '') {
      report.at(line, `[${r.name}] send_extra: "${name}" uses ${TOKEN_PLACEHOLDER}, but the interface has no token (token, or ${secretEnvName(r.name, 'token')})`);
    }
    if (seen.has(name)) report.at(line, `[${r.name}] send_extra: "${name}" is given more than once`);
    seen.add(name);
    const taken = own.find(([, o]) => o === name || overlap(name, o));
    if (taken !== undefined) report.at(line, `[${r.name}] send_extra: "${name}" collides with ${taken[0]} "${taken[1]}", which websms fills in`);
  });
}

function caFileProblem(file: string): string | undefined {
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a directory' };
    return `cannot read "${file}": ${code !== undefined && Object.hasOwn(why, code) ? why[code] : (err as Error).message}`;
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) return `"${file}" holds no PEM certificate (-----BEGIN CERTIFICATE-----)`;
  return undefined;
}

function checkFailover(ifaces: InterfaceRead[], byName: Map<string, InterfaceRead>, report: Reporter): void {
  const next = new Map<string, string>();
  for (const r of ifaces) {
    const target = r.values.failover;
    if (target === '') continue;
    const line = r.line.failover ?? r.sectionLine;
    const t = byName.get(target);
    if (r.values.send_url === '') report.at(line, `[${r.name}] failover is set but send_url is not; only a sending interface fails over`);
    if (target === r.name) report.at(line, `[${r.name}] failover: must name another interface, not itself`);
    else if (t === undefined) {
      report.at(line, `[${r.name}] failover: "${target}" is not an interface; the interfaces are: ${ifaces.map((x) => x.name).join(', ')}`);
    } else {
      if (t.values.send_url === '') report.at(line, `[${r.name}] failover: [${target}] does not send (it has no send_url)`);
      next.set(r.name, target);
    }
  }

  // Each interface has at most one failover, so a cycle is found by walking from each one.
  const reported = new Set<string>();
  for (const r of ifaces) {
    const chain = [r.name];
    for (let n = next.get(r.name); n !== undefined; n = next.get(n)) {
      const start = chain.indexOf(n);
      if (start >= 0) {
        const cycle = chain.slice(start);
        const id = [...cycle].sort().join('\n');
        // Report a cycle once, at the interface of it that comes first in the file.
        if (start === 0 && !reported.has(id)) {
          reported.add(id);
          const first = byName.get(r.name)!;
          report.at(
            first.line.failover ?? first.sectionLine,
            `[${r.name}] failover: a cycle: ${[...cycle, n].map((x) => `[${x}]`).join(' -> ')}`,
          );
        }
        break;
      }
      chain.push(n);
    }
  }
}

/**
 * The media are served on the webhook listener beside the interfaces: their
 * path must not take an interface's webhook or delivery-report path, nor a
 * path under it (a token interface is called at <path>/<token>).
 */
function checkMedia(media: SectionRead<typeof MEDIA_KEYS>, ifaces: InterfaceRead[], report: Reporter): void {
  const mp = media.values.path;
  const under = (a: string, b: string): boolean => a === b || a.startsWith(b + '/') || b.startsWith(a + '/');
  for (const r of ifaces) {
    for (const k of ['path', 'status_path'] as const) {
      const p = r.values[k];
      if (p !== undefined && under(p, mp)) {
        report.at(media.line.path ?? r.line[k] ?? media.sectionLine ?? r.sectionLine, `[media] path: "${mp}" overlaps the ${k} "${p}" of [${r.name}]; choose another`);
      }
    }
  }
  const m = media.values;
  if (m.retry_min > m.retry_max) report.at(media.line.retry_min ?? media.line.retry_max ?? media.sectionLine, '[media] retry_min must not be longer than retry_max');
}

function pickDefaultInterface(
  general: SectionRead<typeof GENERAL_KEYS>,
  ifaces: InterfaceRead[],
  report: Reporter,
): string {
  const names = ifaces.map((r) => r.name);
  const chosen = general.values.default_interface;
  const line = general.line.default_interface;
  if (line !== undefined) {
    if (!names.includes(chosen)) {
      report.at(line, `[general] default_interface: "${chosen}" is not an interface; the interfaces are: ${names.join(', ')}`);
    }
    return chosen;
  }
  if (names.includes(chosen)) return chosen;
  if (names.length === 1) return names[0]!;
  report.at(
    general.sectionLine,
    `[general] default_interface is not set and there is no [${chosen}] interface; set it to one of: ${names.join(', ')}`,
  );
  return chosen;
}

type EmailRead = SectionRead<typeof EMAIL_KEYS>;

const MINIVM_KEYS: readonly MinivmKey[] = ['smtp_host', 'smtp_port', 'smtp_tls', 'smtp_username', 'smtp_password', 'from'];

/**
 * PrivateDial's minivm.conf fills in the SMTP settings not written in
 * [email], when smtp_host is not: MiniVM already sends voicemail through that
 * server. Read only when e-mail is used (there is a user).
 */
function applyMinivm(r: EmailRead, report: Reporter): void {
  const written = (k: MinivmKey): boolean => r.line[k] !== undefined || r.env[k] !== undefined;
  if (written('smtp_host')) return;
  const at = r.line.user ?? r.sectionLine;
  const read = readMinivm(r.values.minivm);
  if (!read.ok) {
    report.at(at, `[email] smtp_host is not set, and PrivateDial's minivm.conf cannot supply it: ${read.reason}`);
    return;
  }
  const values = r.values as Record<string, unknown>;
  for (const k of MINIVM_KEYS) {
    const v = read.values[k];
    if (v === undefined || written(k)) continue;
    const spec = EMAIL_KEYS[k] as KeySpecLike;
    const p = spec.parse(v.value);
    const where = `${read.file} line ${v.line}, ${v.what}`;
    if (!p.ok) {
      report.at(at, `[email] ${k} from ${where}: ${spec.secret ? 'not a valid value' : p.reason}; set ${k} in [email]`);
      continue;
    }
    values[k] = p.value;
    (r.minivm as Record<string, { value: string; from: string }>)[k] = { value: spec.secret ? '' : v.value, from: where };
  }
}

interface KeySpecLike {
  parse: (raw: string) => { ok: true; value: unknown } | { ok: false; reason: string };
  secret: boolean;
}

function checkEmail(r: EmailRead, listeners: { host: string; port: number }[], report: Reporter): void {
  const e = r.values;
  const at = (k: keyof typeof EMAIL_KEYS): number | undefined => r.line[k] ?? r.sectionLine;
  const seen = new Map<string, number>();
  e.user.forEach((u, n) => {
    const line = r.itemLines.user?.[n];
    const first = seen.get(u.number);
    if (first !== undefined) report.at(line, `[email] user: ${u.number} is given more than once (first on line ${first})`);
    else seen.set(u.number, line ?? 0);
  });
  if (e.retry_min > e.retry_max) report.at(r.line.retry_min ?? at('retry_max'), '[email] retry_min must not be longer than retry_max');

  const replies = e.reply_listen !== undefined || e.imap_host !== '';
  // Without a user nothing is e-mailed; the rest is checked only when it is used.
  if (e.user.length === 0) {
    if (replies) report.at(r.line.reply_listen ?? at('imap_host'), '[email] replies are read (reply_listen or imap_host), but there is no [email] user to send e-mail to; add user = <number> <address>');
    return;
  }
  applyMinivm(r, report);
  if (e.smtp_host === '') return; // reported by applyMinivm
  if (e.from === '') report.at(at('from'), '[email] from is not set (nor minivm.conf\'s -f or fromemail): the e-mails need a From address, such as sms@example.org');
  const loopback = (h: string): boolean => h.toLowerCase() === 'localhost' || isLoopback(h);
  if (e.smtp_tls === 'none' && !loopback(e.smtp_host)) {
    const from = r.minivm.smtp_tls !== undefined ? ` (${r.minivm.smtp_tls.from})` : '';
    report.at(at('smtp_tls'), `[email] smtp_tls = none${from}: e-mail goes without TLS only to a loopback address, not to ${e.smtp_host}; set smtp_tls = starttls or tls`);
  }
  if (e.smtp_username === '' && e.smtp_password !== '') report.at(at('smtp_password'), '[email] smtp_password is set but smtp_username is not');
  if (e.smtp_username !== '' && e.smtp_password === '') report.at(at('smtp_username'), missingSecret('email', 'smtp_password'));
  if (e.ca_file !== '') {
    const problem = caFileProblem(e.ca_file);
    if (problem !== undefined) report.at(at('ca_file'), `[email] ca_file: ${problem}`);
  }

  const l = e.reply_listen;
  if (l !== undefined) {
    // The listener has no authentication: only the local mail server may reach it.
    if (!loopback(l.host)) report.at(at('reply_listen'), `[email] reply_listen: ${l.host} is not a loopback address; replies are taken from this host's mail server only (127.0.0.1 or ::1)`);
    const clash = listeners.find((o) => l.port !== 0 && o.port === l.port && (o.host === l.host || WILDCARD.has(o.host)));
    if (clash) report.at(at('reply_listen'), `[email] reply_listen: port ${l.port} is already used by another listener of websms`);
  }
  if (e.imap_host !== '') {
    if (e.imap_username === '') report.at(at('imap_host'), '[email] imap_host is set but imap_username is not');
    if (e.imap_password === '') report.at(at('imap_host'), missingSecret('email', 'imap_password'));
    if (e.imap_tls === 'none' && !loopback(e.imap_host)) {
      report.at(at('imap_tls'), `[email] imap_tls = none: a mailbox is read without TLS only on a loopback address, not on ${e.imap_host}; set imap_tls = tls or starttls`);
    }
  }
}
