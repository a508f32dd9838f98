// Turns websms.conf plus secret environment variables into a validated Config.
// Every problem is collected and reported at once, with file and line, so an
// administrator fixes the file in one pass instead of one restart per typo.
// No message ever contains a secret's value.

import fs from 'node:fs';
import { ConfigError } from '../errors.js';
import { parseIni, type IniSection } from './ini.js';
import {
  AMI_KEYS,
  GENERAL_KEYS,
  INTERFACE_KEYS,
  INTERFACE_NAME,
  defaultOf,
  fieldOf,
  secretEnvName,
  type Schema,
  type Values,
} from './schema.js';
import type { Config, InterfaceConfig } from './types.js';

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
  const doc = parseIni(text);
  for (const p of doc.problems) report.at(p.line, p.message);

  const fixed = new Map<string, IniSection>();
  const ifaceSections: IniSection[] = [];
  const seen = new Map<string, IniSection>();
  for (const s of doc.sections) {
    // [General] is [general], as in Asterisk; interface names keep their case (they are in URLs).
    const lower = s.name.toLowerCase();
    const id = lower === 'general' || lower === 'ami' ? lower : s.name;
    const first = seen.get(id);
    if (first) {
      report.at(s.line, `section [${s.name}] appears more than once (first on line ${first.line})`);
      continue;
    }
    seen.set(id, s);
    if (id === 'general' || id === 'ami') {
      fixed.set(id, s);
      continue;
    }
    if (!INTERFACE_NAME.test(s.name)) report.at(s.line, `[${s.name}]: an interface name must be 1-32 letters, digits, _ or -`);
    ifaceSections.push(s);
  }

  const general = readSection('general', GENERAL_KEYS, fixed.get('general'), env, report);
  const ami = readSection('ami', AMI_KEYS, fixed.get('ami'), env, report);
  const ifaces =
    ifaceSections.length > 0
      ? ifaceSections.map((s) => readSection(s.name, INTERFACE_KEYS, s, env, report))
      : [readSection('default', INTERFACE_KEYS, undefined, env, report)];

  checkAmi(ami, report);
  checkInterfaces(ifaces, report);
  const defaultInterface = pickDefaultInterface(general, ifaces, report);

  const problems = report.list();
  if (problems.length > 0) throw new ConfigError(problems);

  const g = general.values;
  const a = ami.values;
  return {
    file,
    general: {
      listenHost: g.listen.host,
      listenPort: g.listen.port,
      database: g.database,
      countryCode: g.country_code,
      defaultInterface,
      logLevel: g.log_level,
      trustedProxies: g.trusted_proxies,
      maxRequestBytes: g.max_request_size,
      maxBodyBytes: g.max_body_bytes,
      dedupWindowMs: g.dedup_window,
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
        allow: i.allow,
        username: i.username,
        password: i.password,
        token: i.token,
        echoField: i.echo_field,
        ackBody: i.ack_body,
        ackContentType: i.ack_content_type,
      };
    }),
  };
}

/** The config for a start-up log line: every secret replaced by '(set)' or '(not set)'. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    file: config.file ?? '(none: defaults)',
    general: mask(config.general, GENERAL_KEYS),
    ami: mask(config.ami, AMI_KEYS),
    interfaces: config.interfaces.map((i) => mask(i, INTERFACE_KEYS)),
  };
}

function mask(obj: object, schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = { ...obj };
  for (const [key, spec] of Object.entries(schema)) {
    if (!spec.secret) continue;
    const field = fieldOf(key);
    out[field] = out[field] ? '(set)' : '(not set)';
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
  sectionLine: number | undefined;
}

const ALL_SECTIONS: [string, Schema][] = [
  ['[general]', GENERAL_KEYS],
  ['[ami]', AMI_KEYS],
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
  const given = new Map<string, { value: string; line: number }[]>();
  for (const e of section?.entries ?? []) {
    const k = e.key.toLowerCase();
    if (!Object.hasOwn(schema, k)) {
      report.at(e.line, unknownKey(e.key, name, schema));
      continue;
    }
    given.set(k, [...(given.get(k) ?? []), e]);
  }

  const values: Record<string, unknown> = {};
  const line: Record<string, number> = {};
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
      continue;
    }

    if (found.length === 0) continue;
    line[k] = found[0]!.line;
    const joined: unknown[] = [];
    for (const e of found) {
      const r = spec.parse(e.value);
      if (!r.ok) report.at(e.line, `[${name}] ${k}: ${r.reason}`);
      else if (spec.list) joined.push(...(r.value as unknown[]));
      else values[k] = r.value;
    }
    if (spec.list) values[k] = joined;
  }
  return { name, values: values as Values<S>, line: line as SectionRead<S>['line'], sectionLine: section?.line };
}

function unknownKey(key: string, section: string, schema: Schema): string {
  // Something that is not a key name may be a pasted secret: do not repeat it.
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(key)) return `[${section}]: not a key name before "="`;
  const lower = key.toLowerCase();
  const head = `unknown key "${key}" in [${section}]`;
  const near = closest(lower.replace(/-/g, '_'), Object.keys(schema));
  if (near !== undefined) return `${head}; did you mean "${near}"?`;
  for (const [label, other] of ALL_SECTIONS) {
    if (other !== schema && Object.hasOwn(other, lower)) return `${head}; "${lower}" belongs in ${label}`;
  }
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
  // A user written in the file means AMI is meant to be used; the built-in default only warns at start-up.
  if (ami.line.username !== undefined && a.secret === '') report.at(ami.line.username, missingSecret('ami', 'secret'));
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

function checkInterfaces(ifaces: SectionRead<typeof INTERFACE_KEYS>[], report: Reporter): void {
  const byPath = new Map<string, string>();
  const byEnv = new Map<string, string>();
  for (const r of ifaces) {
    const i = r.values;
    if (i.username !== '' && i.password === '') report.at(r.line.username, missingSecret(r.name, 'password'));
    if (i.username === '' && i.password !== '') {
      report.at(r.line.password ?? r.sectionLine, `[${r.name}] password is set but username is not; HTTP Basic needs both`);
    }

    if (i.path !== undefined) {
      const other = byPath.get(i.path);
      if (other !== undefined) report.at(r.line.path ?? r.sectionLine, `[${r.name}] path: "${i.path}" is already used by [${other}]`);
      else byPath.set(i.path, r.name);
    }

    // [my-itsp] and [MY_ITSP] would read the same WEBSMS_MY_ITSP_* secrets.
    const prefix = secretEnvName(r.name, '');
    const clash = byEnv.get(prefix);
    if (clash !== undefined) {
      report.at(r.sectionLine, `interfaces [${clash}] and [${r.name}] would share the environment variables ${prefix}*; rename one`);
    } else byEnv.set(prefix, r.name);
  }
}

function pickDefaultInterface(
  general: SectionRead<typeof GENERAL_KEYS>,
  ifaces: SectionRead<typeof INTERFACE_KEYS>[],
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
