import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeAddressMatcher, mappedIPv4, parseCidr } from '../src/config/cidr.js';
import { parseDuration, parseSize } from '../src/config/duration.js';
import { parseIni } from '../src/config/ini.js';
import { describeConfig, loadConfig, renderSampleConfig, resolveConfigPath } from '../src/config/load.js';
import { FIXED_SECTIONS, INTERFACE_KEYS, fieldOf, type Schema } from '../src/config/schema.js';
import type { Config, InterfaceConfig, SendConfig } from '../src/config/types.js';
import { ConfigError } from '../src/errors.js';
import { DEFAULT_MEDIA_TYPES } from '../src/media/content-types.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'websms-config-'));
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** Writes text to a fresh <tmp>/<n>/websms.conf and returns its path. */
function conf(text: string): string {
  const d = path.join(dir, String(n++));
  fs.mkdirSync(d);
  const file = path.join(d, 'websms.conf');
  fs.writeFileSync(file, text);
  return file;
}

function load(text: string, env: NodeJS.ProcessEnv = {}): Config {
  return loadConfig({ file: conf(text), env, explicit: true });
}

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  const err = assertConfigError(() => load(text, env));
  return err.problems;
}

function assertConfigError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

/** The send side of the built-in [default]; other interfaces differ in statusPath. */
const DEFAULT_SEND: SendConfig = {
  url: '',
  application: '',
  format: 'form',
  fieldTo: 'To',
  fieldFrom: 'From',
  fieldBody: 'Body',
  auth: 'none',
  username: '',
  password: '',
  bearer: '',
  usernameField: 'username',
  passwordField: 'password',
  extra: {},
  extraUnicode: {},
  numberFormat: 'e164',
  success: '',
  idField: '',
  referenceField: '',
  idempotencyHeader: '',
  charset: 'unicode',
  connectTimeoutMs: 5000,
  timeoutMs: 30_000,
  caFile: '',
  ratePerSecond: 10,
  ratePerNumber: 1,
  concurrency: 4,
  breakerFailures: 5,
  breakerCooldownMs: 30_000,
  failover: '',
  statusPath: '/sms/status/default',
  statusFieldId: 'MessageSid',
  statusFieldStatus: 'MessageStatus',
  statusFieldReason: 'ErrorCode',
  statusDelivered: ['delivered'],
  statusFailed: ['failed', 'undelivered'],
};

const DEFAULT_INTERFACE: InterfaceConfig = {
  name: 'default',
  provider: 'generic',
  path: '/sms/in/default',
  methods: ['POST'],
  fieldTo: 'To',
  fieldFrom: 'From',
  fieldBody: 'Body',
  fieldId: '',
  fieldPartRef: '',
  fieldPartSeq: '',
  fieldPartTotal: '',
  allow: ['127.0.0.1/32', '::1/128'],
  username: '',
  password: '',
  token: '',
  echoField: '',
  ackBody: '',
  ackContentType: 'text/plain',
  index: '',
  number: '',
  account: '',
  secret: '',
  signingSecret: '',
  publicKey: '',
  publicUrl: '',
  apiUrl: '',
  verify: true,
  send: DEFAULT_SEND,
};

/** The built-in interface as it would be under another section name. */
function defaultInterface(name: string): InterfaceConfig {
  return { ...DEFAULT_INTERFACE, name, path: `/sms/in/${name}`, send: { ...DEFAULT_SEND, statusPath: `/sms/status/${name}` } };
}

const DEFAULTS: Config = {
  file: undefined,
  general: {
    listenHost: '127.0.0.1',
    listenPort: 8080,
    database: './var/websms.db',
    countryCode: '46',
    defaultInterface: 'default',
    logLevel: 'info',
    logFormat: 'json',
    retentionMs: 90 * 86_400_000,
    trustedProxies: [],
    maxRequestBytes: 65536,
    maxBodyBytes: 8000,
    dedupWindowMs: 120_000,
    reassemblyTimeoutMs: 300_000,
  },
  ami: {
    host: '127.0.0.1',
    port: 5038,
    username: 'websms',
    secret: '',
    answerContext: 'dp_entry_answer',
    textContext: 'dp_entry_text_in',
    actionTimeoutMs: 10_000,
    pingIntervalMs: 20_000,
    reconnectMinMs: 500,
    reconnectMaxMs: 30_000,
    reportTimeoutMs: 60_000,
    partBytes: 1000,
    maxAgeMs: 7 * 86_400_000,
    retryMinMs: 30_000,
    retryMaxMs: 3_600_000,
    maxInFlight: 20,
  },
  agi: {
    listenHost: '127.0.0.1',
    listenPort: 4573,
    allow: ['127.0.0.1/32', '::1/128'],
    handoffTimeoutMs: 2000,
  },
  outbound: {
    maxAttempts: 10,
    maxAgeMs: 86_400_000,
    retryMinMs: 5000,
    retryMaxMs: 600_000,
    notify: 'failures',
    maxSegments: 10,
  },
  api: { listenHost: '127.0.0.1', listenPort: 8081, token: '' },
  media: {
    publicUrl: '',
    path: '/media',
    directory: 'var/media',
    maxBytes: 5 * 1024 * 1024,
    types: [...DEFAULT_MEDIA_TYPES],
    retentionMs: 30 * 86_400_000,
    maxHoldMs: 120_000,
    fetchTimeoutMs: 30_000,
    fetchAllow: [],
    attempts: 4,
    retryMinMs: 2000,
    retryMaxMs: 30_000,
  },
  web: { password: '', sessionLifetimeMs: 12 * 3_600_000 },
  email: {
    users: [],
    unreachedAfterMs: 15 * 60_000,
    copy: 'none',
    failures: true,
    from: '',
    fromName: 'websms',
    replyTo: '',
    replySubaddress: false,
    smtp: { host: '', port: 587, tls: 'starttls', username: '', password: '', timeoutMs: 30_000 },
    caFile: '',
    minivmFile: '/etc/asterisk/minivm.conf',
    attachMaxBytes: 10 * 1024 * 1024,
    retryMinMs: 30_000,
    retryMaxMs: 30 * 60_000,
    maxAgeMs: 3 * 86_400_000,
    replyListen: null,
    imap: { host: '', port: 993, tls: 'tls', username: '', password: '', mailbox: 'INBOX', pollMs: 60_000 },
  },
  interfaces: [DEFAULT_INTERFACE],
};

// ---- loading ------------------------------------------------------------

/** The values, without the record of where each came from (tested on its own below). */
function values(c: Config): Config {
  const { settings: _settings, ...rest } = c;
  return rest;
}

test('settings: every key as the file spells it, where it came from, secrets hidden', (t) => {
  const file = conf('[general]\ncountry_code = 47\n\n[ami]\nsecret = file-secret-xyz\n[itsp]\nallow = 10.0.0.0/8\nallow = any\nusername = itsp\n');
  const c = loadConfig({ file, env: { WEBSMS_ITSP_PASSWORD: 'env-pass-xyz', WEBSMS_ITSP_SEND_BEARER: '' }, explicit: true });
  const by = (name: string) => c.settings!.find((s) => s.name === name)!;
  t.deepEqual(c.settings!.map((s) => [s.name, s.interface]), [['general', false], ['ami', false], ['agi', false], ['outbound', false], ['api', false], ['media', false], ['web', false], ['email', false], ['itsp', true]]);
  t.deepEqual(by('general').keys.country_code, { value: '47', source: 'file', line: 2 });
  t.deepEqual(by('general').keys.listen, { value: '127.0.0.1:8080', source: 'default' });
  t.deepEqual(by('ami').keys.secret, { value: '(set)', source: 'file', line: 5 });
  t.deepEqual(by('itsp').keys.password, { value: '(set)', source: 'env', env: 'WEBSMS_ITSP_PASSWORD' });
  t.deepEqual(by('itsp').keys.send_bearer, { value: '(not set)', source: 'default' }, 'an empty variable is unset');
  t.deepEqual(by('itsp').keys.allow, { value: '10.0.0.0/8, any', source: 'file', line: 7 });
  t.deepEqual(by('itsp').keys.path, { value: '/sms/in/itsp', source: 'default' });
  t.deepEqual(Object.keys(by('itsp').keys), Object.keys(INTERFACE_KEYS));
  t.false(JSON.stringify(c.settings).includes('xyz'), 'no secret in the settings');
});

test('no file at all: the default config', (t) => {
  t.deepEqual(values(loadConfig({ env: {}, explicit: false })), DEFAULTS);
});

test('a missing default-path file: the default config', (t) => {
  const file = path.join(dir, 'absent', 'websms.conf');
  t.deepEqual(values(loadConfig({ file, env: {}, explicit: false })), DEFAULTS);
});

test('a missing explicit file is an error', (t) => {
  const file = path.join(dir, 'absent', 'websms.conf');
  const err = assertConfigError(() => loadConfig({ file, env: {}, explicit: true }));
  t.is(err.problems.length, 1);
  t.true(err.problems[0]!.includes(file));
  t.true(err.problems[0]!.includes('no such file'));
});

test('an empty file: the default config, with its path', (t) => {
  const file = conf('; nothing here\n');
  t.deepEqual(values(loadConfig({ file, env: {}, explicit: true })), { ...DEFAULTS, file });
});

test('a full valid file', (t) => {
  const file = conf(`
[general]
listen = [::1]:9090
database = /var/lib/websms/websms.db
country_code = 1
default_interface = itsp2
log_level = debug
trusted_proxies = 10.0.0.0/8, 192.168.1.1
trusted_proxies = fd00::/8
max_request_size = 1m
max_body_bytes = 4000
dedup_window = 5m

[ami]
host = pbx.example.com
port = 5039
username = sms
secret = s3cr3t-ami
answer_context = my_answer
text_context = my-text
action_timeout = 5
ping_interval = 1m
reconnect_min = 1s
reconnect_max = 2m
report_timeout = 90s
part_bytes = 3500
max_age = 2d
retry_min = 10s
retry_max = 2h
max_in_flight = 5

[agi]
listen = 0.0.0.0:0
allow = 192.0.2.10, 2001:db8::10
allow = 10.1.0.0/16
handoff_timeout = 500ms

[outbound]
max_attempts = 3
max_age = 6h
retry_min = 1s
retry_max = 1m
notify = all
max_segments = 4

[media]
public_url = https://sms.example.org/pics/
path = /pics
directory = /srv/websms-media
max_size = 2m
types = image/jpeg, IMAGE/PNG
types = video/mp4, image/jpeg
retention = 7d
max_hold = 30s
fetch_timeout = 10s
attempts = 2
retry_min = 1s
retry_max = 5s

[web]
session_lifetime = 2h

[itsp1]
provider = generic
path = /hooks/itsp1
methods = post, GET
field_to => to
field_from => from
field_body => data.payload.text
field_id = id
allow = 203.0.113.0/24
allow = 2001:db8::/32
username = itsp
password = pass\\;word
echo_field = echo
ack_body = <Response/>
ack_content_type = application/xml\\;charset=utf-8

[itsp2]
allow = any
token = abcdefghijklmnop_-.~
`);
  const c = loadConfig({ file, env: {}, explicit: true });
  t.deepEqual(values(c), {
    file,
    general: {
      listenHost: '::1',
      listenPort: 9090,
      database: '/var/lib/websms/websms.db',
      countryCode: '1',
      defaultInterface: 'itsp2',
      logLevel: 'debug',
      logFormat: 'json',
      retentionMs: 90 * 86_400_000,
      trustedProxies: ['10.0.0.0/8', '192.168.1.1/32', 'fd00::/8'],
      maxRequestBytes: 1024 * 1024,
      maxBodyBytes: 4000,
      dedupWindowMs: 300_000,
      reassemblyTimeoutMs: 300_000,
    },
    ami: {
      host: 'pbx.example.com',
      port: 5039,
      username: 'sms',
      secret: 's3cr3t-ami',
      answerContext: 'my_answer',
      textContext: 'my-text',
      actionTimeoutMs: 5000,
      pingIntervalMs: 60_000,
      reconnectMinMs: 1000,
      reconnectMaxMs: 120_000,
      reportTimeoutMs: 90_000,
      partBytes: 3500,
      maxAgeMs: 2 * 86_400_000,
      retryMinMs: 10_000,
      retryMaxMs: 7_200_000,
      maxInFlight: 5,
    },
    agi: {
      listenHost: '0.0.0.0',
      listenPort: 0,
      allow: ['192.0.2.10/32', '2001:db8::10/128', '10.1.0.0/16'],
      handoffTimeoutMs: 500,
    },
    outbound: {
      maxAttempts: 3,
      maxAgeMs: 6 * 3_600_000,
      retryMinMs: 1000,
      retryMaxMs: 60_000,
      notify: 'all',
      maxSegments: 4,
    },
    api: { listenHost: '127.0.0.1', listenPort: 8081, token: '' },
    media: {
      publicUrl: 'https://sms.example.org/pics',
      path: '/pics',
      directory: '/srv/websms-media',
      maxBytes: 2 * 1024 * 1024,
      types: ['image/jpeg', 'image/png', 'video/mp4'],
      retentionMs: 7 * 86_400_000,
      maxHoldMs: 30_000,
      fetchTimeoutMs: 10_000,
      fetchAllow: [],
      attempts: 2,
      retryMinMs: 1000,
      retryMaxMs: 5000,
    },
    web: { password: '', sessionLifetimeMs: 2 * 3_600_000 },
    email: DEFAULTS.email,
    interfaces: [
      {
        name: 'itsp1',
        provider: 'generic',
        path: '/hooks/itsp1',
        methods: ['POST', 'GET'],
        fieldTo: 'to',
        fieldFrom: 'from',
        fieldBody: 'data.payload.text',
        fieldId: 'id',
        fieldPartRef: '',
        fieldPartSeq: '',
        fieldPartTotal: '',
        allow: ['203.0.113.0/24', '2001:db8::/32'],
        username: 'itsp',
        password: 'pass;word',
        token: '',
        echoField: 'echo',
        ackBody: '<Response/>',
        ackContentType: 'application/xml;charset=utf-8',
        index: '',
        number: '',
        account: '',
        secret: '',
        signingSecret: '',
        publicKey: '',
        publicUrl: '',
        apiUrl: '',
        verify: true,
        send: { ...DEFAULT_SEND, statusPath: '/sms/status/itsp1' },
      },
      {
        ...defaultInterface('itsp2'),
        allow: ['0.0.0.0/0', '::/0'],
        token: 'abcdefghijklmnop_-.~',
      },
    ],
  });
});

test('section and key names are case-insensitive for [general] and [ami]', (t) => {
  const c = load('[General]\nListen = 0.0.0.0:80\n[AMI]\nPORT = 1234\n');
  t.is(c.general.listenHost, '0.0.0.0');
  t.is(c.general.listenPort, 80);
  t.is(c.ami.port, 1234);
});

test('a file without interface sections gets the built-in default interface', (t) => {
  const c = load('[general]\nlog_level = warn\n');
  t.deepEqual(c.interfaces, [DEFAULT_INTERFACE]);
  t.is(c.general.defaultInterface, 'default');
});

test('a single interface is the default one when default_interface is not set', (t) => {
  const c = load('[myitsp]\n');
  t.is(c.general.defaultInterface, 'myitsp');
  t.is(c.interfaces.length, 1);
  t.is(c.interfaces[0]!.path, '/sms/in/myitsp');
});

// ---- each kind of problem -----------------------------------------------

test('unknown key: did you mean', (t) => {
  const p = problems('[general]\nlistn = 127.0.0.1:80\n');
  t.is(p.length, 1);
  t.regex(p[0]!, /websms\.conf:2: unknown key "listn" in \[general\]; did you mean "listen"\?$/);
});

test('unknown key: belongs in another section', (t) => {
  const p = problems('[myitsp]\nlisten = 127.0.0.1:80\n[ami]\nfield_to = x\n[general]\nwhatever = 1\n');
  t.is(p.length, 3);
  t.true(p[0]!.endsWith(':2: unknown key "listen" in [myitsp]; "listen" belongs in [general] or [agi] or [api]'));
  t.true(p[1]!.endsWith(':4: unknown key "field_to" in [ami]; "field_to" belongs in an interface section'));
  t.true(p[2]!.endsWith(':6: unknown key "whatever" in [general]'));
});

test('bad port', (t) => {
  const p = problems('[general]\n\n\n[ami]\nport = abc\n');
  t.is(p.length, 1);
  t.regex(p[0]!, /websms\.conf:5: \[ami\] port: "abc" is not a port number \(1-65535\)$/);
  t.is(problems('[ami]\nport = 70000\n').length, 1);
  t.is(problems('[ami]\nport = 0\n').length, 1);
});

test('bad values of each type', (t) => {
  const p = problems(`[general]
listen = localhost
country_code = +46
log_level = verbose
max_request_size = 64x
max_body_bytes = -1
dedup_window = 2 weeks
[ami]
host = 300.1.1.1
answer_context = dp entry
text_context = ctx\\;bad
part_bytes = 100
max_in_flight = 0
action_timeout = 0
[itsp]
provider = nosuch
path = sms/in
methods = PUT
field_to =
`);
  const expected = [
    ':2: [general] listen: "localhost" is not host:port',
    ':3: [general] country_code: "+46" is not a country calling code',
    ':4: [general] log_level: unknown log level "verbose"; known log levels: debug, info, warn, error',
    ':5: [general] max_request_size: "64x" is not a size',
    ':6: [general] max_body_bytes: "-1" is not a whole number from 1 to 1000000',
    ':7: [general] dedup_window: "2 weeks" is not a duration',
    ':9: [ami] host: "300.1.1.1" is not an IP address or host name',
    ':10: [ami] answer_context: "dp entry" is not valid: letters, digits, _ and - only',
    ':11: [ami] text_context: "ctx;bad" is not valid: letters, digits, _ and - only',
    ':12: [ami] part_bytes: "100" is not a whole number from 200 to 3500',
    ':13: [ami] max_in_flight: "0" is not a whole number from 1 to 1000',
    ':14: [ami] action_timeout: "0" is out of range',
    ':16: [itsp] provider: unknown provider "nosuch"; known providers: generic, ',
    ':17: [itsp] path: "sms/in" must start with "/"',
    ':18: [itsp] methods: "PUT" is not a supported method (POST, GET)',
    ':19: [itsp] field_to: must not be empty',
  ];
  t.is(p.length, expected.length, p.join('\n'));
  expected.forEach((e, i) => t.true(p[i]!.includes(`websms.conf${e}`), `${p[i]} should include ${e}`));
});

test('bad CIDRs are refused with a reason', (t) => {
  const p = problems('[general]\ntrusted_proxies = 10.0.0.0/33\n[itsp]\nallow = 127.0.0.1\nallow = abc\nallow =\n');
  t.is(p.length, 3);
  t.true(p[0]!.includes(':2: [general] trusted_proxies: "10.0.0.0/33": the prefix length must be 0-32'));
  t.true(p[1]!.includes(':5: [itsp] allow: "abc" is not an IPv4 or IPv6 address or CIDR'));
  t.true(p[2]!.includes(':6: [itsp] allow: needs at least one address or CIDR, or "any"'));
  // "any" is for interfaces only: trusting every proxy would let anyone pick their address.
  t.is(problems('[general]\ntrusted_proxies = any\n').length, 1);
});

test('HTTP Basic: username without password, password without username', (t) => {
  const p = problems('[itsp]\nusername = me\n[other]\npassword = pw-value-123\n[general]\ndefault_interface = itsp\n');
  t.is(p.length, 2);
  t.true(p[0]!.endsWith(':2: missing secret: [itsp] password (or environment variable WEBSMS_ITSP_PASSWORD)'));
  t.true(p[1]!.endsWith(':4: [other] password is set but username is not; HTTP Basic needs both'));
  t.false(p.join('\n').includes('pw-value-123'));
  t.deepEqual(
    problems('[ami]\nsecret hunter2 = x\n').map((m) => m.slice(m.indexOf(':2:'))),
    [':2: [ami]: not a key name before "="'],
  );
  // The password from the environment completes the pair.
  const c = load('[itsp]\nusername = me\n', { WEBSMS_ITSP_PASSWORD: 'from-env' });
  t.is(c.interfaces[0]!.password, 'from-env');
});

test('[ami] without a secret loads, written user or built-in one alike (the daemon warns at start)', (t) => {
  t.is(load('[ami]\nusername = websms\n').ami.secret, '');
  t.is(load('[ami]\nport = 5038\n').ami.secret, '');
  t.is(load('[ami]\nusername = websms\n', { WEBSMS_AMI_SECRET: 'x' }).ami.secret, 'x');
  t.is(load('[ami]\nusername = websms\nsecret = y\n').ami.secret, 'y');
});

test('two interfaces with the same path', (t) => {
  const p = problems('[a]\npath = /sms/x\n[b]\npath = /sms/x\n[general]\ndefault_interface = a\n');
  t.is(p.length, 1);
  t.true(p[0]!.endsWith(':4: [b] path: "/sms/x" is already used by [a]; interfaces share a path only when their allow lists tell them apart, and none of them has a token'));
});

test('default_interface must name an interface', (t) => {
  const p = problems('[general]\ndefault_interface = nope\n[a]\n[b]\n');
  t.is(p.length, 1);
  t.true(p[0]!.endsWith(':2: [general] default_interface: "nope" is not an interface; the interfaces are: a, b'));
  const q = problems('[a]\n[b]\n');
  t.is(q.length, 1);
  t.regex(q[0]!, /websms\.conf: \[general\] default_interface is not set and there is no \[default\] interface; set it to one of: a, b$/);
});

test('a single-valued key set twice', (t) => {
  const p = problems('[ami]\nport = 1\nhost = h\nport = 2\n');
  t.is(p.length, 1);
  t.true(p[0]!.endsWith(':4: [ami] port is set more than once (first on line 2)'));
});

test('bad sections: duplicate, bad interface name, templates, env-name clash', (t) => {
  const p = problems('[general]\ndefault_interface = t\n[general]\n[my itsp]\n[t](!)\n[my-itsp]\n[MY_ITSP]\n');
  t.is(p.length, 5, p.join('\n'));
  t.true(p[0]!.endsWith(':3: section [general] appears more than once (first on line 1)'));
  t.true(p[1]!.endsWith(':4: [my itsp]: an interface name must be 1-32 letters, digits, _ or -'));
  t.true(p[2]!.endsWith(':5: templates are not supported in websms.conf'));
  t.true(p[3]!.endsWith(':6: interfaces [my itsp] and [my-itsp] would share the environment variables WEBSMS_MY_ITSP_*; rename one'));
  t.true(p[4]!.endsWith(':7: interfaces [my itsp] and [MY_ITSP] would share the environment variables WEBSMS_MY_ITSP_*; rename one'));
});

test('min above max', (t) => {
  const p = problems('[ami]\nretry_min = 2h\nretry_max = 1h\nreconnect_min = 1m\n');
  t.is(p.length, 2);
  t.true(p[0]!.endsWith(':2: [ami] retry_min must not be longer than retry_max'));
  t.true(p[1]!.endsWith(':4: [ami] reconnect_min must not be longer than reconnect_max'));
});

test('several problems are all reported in one ConfigError, in line order', (t) => {
  const err = assertConfigError(() =>
    load(`[general]
listn = 1
country_code = x
[ami]
port = abc
port = 1
this line is broken
[itsp]
allow = 300.0.0.0/8
token = short
`),
  );
  t.is(err.problems.length, 7, err.problems.join('\n'));
  const lines = err.problems.map((m) => Number(/websms\.conf:(\d+):/.exec(m)![1]));
  t.deepEqual(lines, [2, 3, 5, 6, 7, 9, 10]);
  t.is(err.message, err.problems.join('\n'));
});

test('ini syntax problems carry their line', (t) => {
  const p = problems('key = before any section\n[general\n[ami]\n#include other.conf\n= value\njust words\n');
  t.is(p.length, 5);
  t.true(p[0]!.endsWith(':1: settings before the first [section] header'));
  t.true(p[1]!.endsWith(':2: section header without its closing "]"'));
  t.true(p[2]!.endsWith(':4: #include, #exec and other directives are not supported in websms.conf'));
  t.true(p[3]!.endsWith(':5: missing key name before "="'));
  t.true(p[4]!.endsWith(':6: expected "key = value"'));
});

// ---- secrets ------------------------------------------------------------

test('secrets from the environment win over the file', (t) => {
  const c = load('[ami]\nusername = u\nsecret = file-secret\n[my-itsp]\nusername = me\npassword = file-pw\n', {
    WEBSMS_AMI_SECRET: 'env-secret',
    WEBSMS_MY_ITSP_PASSWORD: 'env-pw',
    WEBSMS_MY_ITSP_TOKEN: 'tok_0123456789abcdef',
  });
  t.is(c.ami.secret, 'env-secret');
  t.is(c.interfaces[0]!.password, 'env-pw');
  t.is(c.interfaces[0]!.token, 'tok_0123456789abcdef');
  // An empty variable counts as unset.
  t.is(load('[ami]\nsecret = file-secret\n', { WEBSMS_AMI_SECRET: '' }).ami.secret, 'file-secret');
});

test('the environment also supplies secrets of the built-in default interface, without a file', (t) => {
  const c = loadConfig({ env: { WEBSMS_DEFAULT_TOKEN: 'A'.repeat(20), WEBSMS_AMI_SECRET: 's' }, explicit: false });
  t.is(c.interfaces[0]!.token, 'A'.repeat(20));
  t.is(c.ami.secret, 's');
});

test('secret values never appear in messages or in describeConfig', (t) => {
  const badToken = 'short!tok';
  const p = problems(`[itsp]\ntoken = ${badToken}\n[other]\ntoken = abc\n[general]\ndefault_interface = itsp\n`);
  t.is(p.length, 2);
  t.true(p[0]!.endsWith(':2: [itsp] token: may only contain the URL-safe characters A-Z a-z 0-9 _ - . ~'));
  t.true(p[1]!.endsWith(':4: [other] token: must be at least 16 characters long (it has 3)'));
  t.false(p.join('\n').includes(badToken));

  const envErr = assertConfigError(() => loadConfig({ env: { WEBSMS_DEFAULT_TOKEN: 'tiny-env-token' }, explicit: false }));
  t.deepEqual(envErr.problems, [
    'environment variable WEBSMS_DEFAULT_TOKEN: [default] token: must be at least 16 characters long (it has 14)',
  ]);

  const c = load('[ami]\nusername = u\nsecret = ami-SECRET-1\n[itsp]\nusername = me\npassword = pw-SECRET-2\ntoken = tok-SECRET-3-xxxxxxxx\n');
  const d = describeConfig(c);
  const text = JSON.stringify(d);
  for (const s of ['ami-SECRET-1', 'pw-SECRET-2', 'tok-SECRET-3-xxxxxxxx']) t.false(text.includes(s));
  t.is((d.ami as Record<string, unknown>).secret, '(set)');
  const iface = (d.interfaces as Record<string, unknown>[])[0]!;
  t.is(iface.password, '(set)');
  t.is(iface.token, '(set)');
  t.is(iface.username, 'me');
  const none = describeConfig(DEFAULTS);
  t.is((none.ami as Record<string, unknown>).secret, '(not set)');
  t.is((none.interfaces as Record<string, unknown>[])[0]!.token, '(not set)');
  // describeConfig leaves the config itself alone.
  t.is(c.ami.secret, 'ami-SECRET-1');
});

// ---- [agi] and [outbound] -----------------------------------------------

test('[agi]: bad values, a world-open FastAGI port, a port shared with HTTP', (t) => {
  const p = problems('[agi]\nlisten = 4573\nhandoff_timeout = 50ms\nallow = 10.0.0.0/33\n');
  t.is(p.length, 3, p.join('\n'));
  t.true(p[0]!.includes(':2: [agi] listen: "4573" is not host:port'));
  t.true(p[1]!.includes(':3: [agi] handoff_timeout: "50ms" is out of range (100ms to 30s)'));
  t.true(p[2]!.includes(':4: [agi] allow: "10.0.0.0/33": the prefix length must be 0-32'));
  t.true(problems('[agi]\nhandoff_timeout = 31s\n')[0]!.includes('[agi] handoff_timeout: "31s" is out of range'));

  const open = problems('[agi]\nlisten = 192.0.2.1:4573\nallow = any\n');
  t.is(open.length, 1);
  t.true(open[0]!.includes(':3: [agi] allow: the FastAGI port must not be open to the world'), open[0]);
  // An explicit /0 is "any" too.
  t.is(problems('[agi]\nlisten = 0.0.0.0:4573\nallow = 10.0.0.0/8, ::/0\n').length, 1);
  // On a loopback address "any" is harmless.
  for (const host of ['127.0.0.1', '127.0.0.2', '[::1]', 'localhost']) {
    t.deepEqual(load(`[agi]\nlisten = ${host}:4573\nallow = any\n`).agi.allow, ['0.0.0.0/0', '::/0'], host);
  }
  // Port 0 (any free port) is allowed, for tests.
  t.is(load('[agi]\nlisten = 127.0.0.1:0\n').agi.listenPort, 0);

  const clash = problems('[general]\nlisten = 0.0.0.0:8080\n[agi]\nlisten = 127.0.0.1:8080\n');
  t.is(clash.length, 1);
  t.true(clash[0]!.endsWith(':4: [agi] listen: port 8080 is already the HTTP port ([general] listen)'));
  t.is(load('[general]\nlisten = 127.0.0.1:8080\n[agi]\nlisten = 127.0.0.2:8080\n').agi.listenPort, 8080);
});

test('[outbound]: bad values and retry_min above retry_max', (t) => {
  const p = problems('[outbound]\nmax_attempts = 0\nmax_age = 1w\nnotify = some\nmax_segments = 101\nretry_min = 1h\nretry_max = 1m\n');
  const expected = [
    ':2: [outbound] max_attempts: "0" is not a whole number from 1 to 1000',
    ':3: [outbound] max_age: "1w" is not a duration',
    ':4: [outbound] notify: unknown notify mode "some"; known notify modes: failures, all, none',
    ':5: [outbound] max_segments: "101" is not a whole number from 1 to 100',
    ':6: [outbound] retry_min must not be longer than retry_max',
  ];
  t.is(p.length, expected.length, p.join('\n'));
  expected.forEach((e, i) => t.true(p[i]!.includes(`websms.conf${e}`), `${p[i]} should include ${e}`));
  t.is(problems('[outbound]\nmax_attempts = 1001\n').length, 1);
  t.deepEqual(load('[OUTBOUND]\nNotify = none\n').outbound, { ...DEFAULTS.outbound, notify: 'none' });
});

test('unknown keys in the new sections; keys that live in several sections', (t) => {
  const p = problems('[agi]\nalow = any\n[outbound]\nretry_mn = 1s\n[general]\nmax_age = 1d\n');
  t.is(p.length, 3, p.join('\n'));
  t.true(p[0]!.endsWith(':2: unknown key "alow" in [agi]; did you mean "allow"?'));
  t.true(p[1]!.endsWith(':4: unknown key "retry_mn" in [outbound]; did you mean "retry_min"?'));
  t.true(p[2]!.endsWith(':6: unknown key "max_age" in [general]; "max_age" belongs in [ami] or [outbound] or [email]'));
});

// ---- interfaces: sending ------------------------------------------------

test('a sending interface: every send key', (t) => {
  const ca = path.join(dir, 'ca.pem');
  fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const c = load(`[itsp]
index = 1
send_url = https://api.example-itsp.test/v1/sms?x=1
send_format = json
send_to = data.to
send_from = data.from
send_body = data.text
send_auth = form
send_username = key-123
send_password = pw\\;x
send_username_field = api_key
send_password_field = api_secret
send_extra = channel=sms
send_extra = note = a=b, c\\;d
send_extra = empty=
send_number_format = digits
send_success = status = success
send_id_field = messages.0.message-id
send_reference_field = client-ref
send_idempotency_header = Idempotency-Key
charset = gsm
connect_timeout = 2s
send_timeout = 2s
ca_file = ${ca}
rate = 0.5
rate_per_number = 0.125
concurrency = 256
breaker_failures = 3
breaker_cooldown = 1m
failover = backup
status_path = /dlr/itsp
status_field_id = id
status_field_status = status
status_field_reason =
status_delivered = DELIVRD, Delivered
status_delivered = ok
status_failed = UNDELIV, rejectd, UNDELIV
[backup]
send_url = http://127.0.0.1:9999/send
[general]
default_interface = itsp
`);
  t.deepEqual(c.interfaces[0], {
    ...defaultInterface('itsp'),
    index: '1',
    send: {
      url: 'https://api.example-itsp.test/v1/sms?x=1',
      application: '',
      format: 'json',
      fieldTo: 'data.to',
      fieldFrom: 'data.from',
      fieldBody: 'data.text',
      auth: 'form',
      username: 'key-123',
      password: 'pw;x',
      bearer: '',
      usernameField: 'api_key',
      passwordField: 'api_secret',
      extra: { channel: 'sms', note: 'a=b, c;d', empty: '' },
      extraUnicode: {},
      numberFormat: 'digits',
      success: 'status=success',
      idField: 'messages.0.message-id',
      referenceField: 'client-ref',
      idempotencyHeader: 'Idempotency-Key',
      charset: 'gsm',
      connectTimeoutMs: 2000,
      timeoutMs: 2000,
      caFile: ca,
      ratePerSecond: 0.5,
      ratePerNumber: 0.125,
      concurrency: 256,
      breakerFailures: 3,
      breakerCooldownMs: 60_000,
      failover: 'backup',
      statusPath: '/dlr/itsp',
      statusFieldId: 'id',
      statusFieldStatus: 'status',
      statusFieldReason: '',
      statusDelivered: ['delivrd', 'delivered', 'ok'],
      statusFailed: ['undeliv', 'rejectd'],
    },
  });
  t.deepEqual(c.interfaces[1]!.send, { ...DEFAULT_SEND, url: 'http://127.0.0.1:9999/send', statusPath: '/sms/status/backup' });
  // Rates of 0 mean no limit.
  const z = load('[itsp]\nrate = 0\nrate_per_number = 0\n').interfaces[0]!.send;
  t.is(z.ratePerSecond, 0);
  t.is(z.ratePerNumber, 0);
});

test('send_extra: "\\;" for a semicolon, name=value, no empty name, no repeats', (t) => {
  const c = load('[itsp]\nsend_extra = msg=a\\;b ; a comment\nsend_extra = url=https://x.test/?a=1&b=2\n');
  t.deepEqual(c.interfaces[0]!.send.extra, { msg: 'a;b', url: 'https://x.test/?a=1&b=2' });
  // A field named __proto__ stays an ordinary field.
  const proto = load('[itsp]\nsend_extra = __proto__=x\n').interfaces[0]!.send.extra;
  t.deepEqual(Object.keys(proto), ['__proto__']);
  t.is(Object.getPrototypeOf(proto), Object.prototype);

  const p = problems('[itsp]\nsend_extra = novalue\nsend_extra = =value\nsend_extra = a b=c\nsend_extra = k=1\nsend_extra = k=2\n');
  t.is(p.length, 4, p.join('\n'));
  t.true(p[0]!.endsWith(':2: [itsp] send_extra: "novalue" is not name=value'));
  t.true(p[1]!.endsWith(':3: [itsp] send_extra: "=value" has an empty name before "="'));
  t.true(p[2]!.includes(':4: [itsp] send_extra: "a b" is not a field name'));
  t.true(p[3]!.endsWith(':6: [itsp] send_extra: "k" is given more than once'));
});

test('send: bad values of each type', (t) => {
  const p = problems(`[itsp]
index = a b
send_url = ftp://files.example.test/
send_format = xml
send_to = data to
send_auth = digest
send_number_format = national
send_success = success
send_idempotency_header = Idempotency Key
charset = utf-8
connect_timeout = 0
send_timeout = 11m
rate = 0.0001
rate_per_number = 1001
concurrency = 0
breaker_failures = 0
breaker_cooldown = 50ms
status_path = /a/../b
status_field_id =
status_field_status = a b
status_delivered = ok
status_failed = OK
`);
  const expected = [
    ':2: [itsp] index: "a b" is not valid: 1-32 letters, digits, _ - or .',
    ':3: [itsp] send_url: "ftp://files.example.test/" is not an http:// or https:// URL',
    ':4: [itsp] send_format: unknown send format "xml"; known send formats: form, json',
    ':5: [itsp] send_to: "data to" is not valid',
    ':6: [itsp] send_auth: unknown send auth method "digest"; known send auth methods: none, basic, bearer, form',
    ':7: [itsp] send_number_format: unknown number format "national"; known number formats: e164, digits',
    ':8: [itsp] send_success: "success" is not key=value (such as status=success)',
    ':9: [itsp] send_idempotency_header: "Idempotency Key" is not valid: an HTTP header name',
    ':10: [itsp] charset: unknown charset "utf-8"; known charsets: unicode, ucs2, gsm',
    ':11: [itsp] connect_timeout: "0" is out of range (100ms to 10m)',
    ':12: [itsp] send_timeout: "11m" is out of range (100ms to 10m)',
    ':13: [itsp] rate: "0.0001" is not a number from 0 to 10000 (at most 3 decimals)',
    ':14: [itsp] rate_per_number: "1001" is not a number from 0 to 1000 (at most 3 decimals)',
    ':15: [itsp] concurrency: "0" is not a whole number from 1 to 256',
    ':16: [itsp] breaker_failures: "0" is not a whole number from 1 to 1000',
    ':17: [itsp] breaker_cooldown: "50ms" is out of range (100ms to 1d)',
    ':18: [itsp] status_path: "/a/../b" must not contain empty, "." or ".." segments',
    ':19: [itsp] status_field_id: must not be empty',
    ':20: [itsp] status_field_status: "a b" is not valid',
    ':22: [itsp] status "ok" is in both status_delivered and status_failed',
  ];
  t.is(p.length, expected.length, p.join('\n'));
  expected.forEach((e, i) => t.true(p[i]!.includes(`websms.conf${e}`), `${p[i]} should include ${e}`));
  t.true(problems('[itsp]\nrate = 10001\n')[0]!.includes('[itsp] rate: "10001" is not a number from 0 to 10000'));
  t.true(problems('[itsp]\nconcurrency = 257\n')[0]!.includes('[itsp] concurrency: "257" is not a whole number from 1 to 256'));
});

test('send_url: a valid http(s) URL without credentials', (t) => {
  const p = problems('[itsp]\nsend_url = not a url\n[b]\nsend_url = https://AC123:hunter2@api.example.test/send\n[general]\ndefault_interface = b\n');
  t.is(p.length, 2, p.join('\n'));
  t.true(p[0]!.endsWith(':2: [itsp] send_url: "not a url" is not a valid URL'));
  t.true(p[1]!.endsWith(':4: [b] send_url: must not contain credentials; put credentials in send_username/send_password'));
  // A broken URL that may hold credentials is not quoted either.
  const q = problems('[itsp]\nsend_url = https://user:hunter3@bad host/\n');
  t.deepEqual(q.length, 1);
  t.true(q[0]!.endsWith(':2: [itsp] send_url: is not a valid URL'));
  t.false([...p, ...q].join('\n').includes('hunter'));
  t.is(problems('[itsp]\nsend_url = https://only-user@api.example.test/\n').length, 1);
  t.is(load('[itsp]\nsend_url = http://[::1]:8081/send\n').interfaces[0]!.send.url, 'http://[::1]:8081/send');
});

test('send_auth: basic and form need send_username and send_password, bearer needs send_bearer', (t) => {
  const p = problems(`[a]
send_auth = basic
[b]
send_auth = form
send_username = key
[c]
send_auth = bearer
[d]
send_auth = basic
send_username = us:er
send_password = pw-SECRET
[e]
send_username = u
send_password = pw-SECRET
send_bearer = tok-SECRET
[general]
default_interface = a
`);
  const expected = [
    ':2: [a] send_auth = basic needs send_username',
    ':2: missing secret: [a] send_password (or environment variable WEBSMS_A_SEND_PASSWORD)',
    ':4: missing secret: [b] send_password (or environment variable WEBSMS_B_SEND_PASSWORD)',
    ':7: missing secret: [c] send_bearer (or environment variable WEBSMS_C_SEND_BEARER)',
    ':10: [d] send_username must not contain ":" with send_auth = basic',
    ':13: [e] send_username is set but send_auth is none; it is used with basic or form',
    ':14: [e] send_password is set but send_auth is none; it is used with basic or form',
    ':15: [e] send_bearer is set but send_auth is none; it is used with bearer',
  ];
  t.is(p.length, expected.length, p.join('\n'));
  expected.forEach((e, i) => t.true(p[i]!.endsWith(e), `${p[i]} should end with ${e}`));
  t.false(p.join('\n').includes('SECRET'));
  // A form user may contain ':'; only HTTP Basic cannot carry one.
  t.is(load('[a]\nsend_auth = form\nsend_username = us:er\nsend_password = x\n').interfaces[0]!.send.username, 'us:er');
  // Spaces would break the Authorization header; the message does not repeat the token.
  const b = problems('[a]\nsend_auth = bearer\nsend_bearer = tok SECRET\n');
  t.deepEqual(
    b.map((m) => m.slice(m.indexOf('.conf:') + 6)),
    ['2: missing secret: [a] send_bearer (or environment variable WEBSMS_A_SEND_BEARER)', '3: [a] send_bearer: must not contain spaces or control characters'],
  );
  t.false(b.join('\n').includes('SECRET'));
});

test('send_password and send_bearer from the environment', (t) => {
  const c = load('[my-itsp]\nsend_auth = basic\nsend_username = AC123\nsend_password = file-pw\n[tok]\nsend_auth = bearer\n[general]\ndefault_interface = tok\n', {
    WEBSMS_MY_ITSP_SEND_PASSWORD: 'env-pw',
    WEBSMS_TOK_SEND_BEARER: 'env-bearer',
  });
  t.is(c.interfaces[0]!.send.password, 'env-pw');
  t.is(c.interfaces[1]!.send.bearer, 'env-bearer');
  // The built-in [default] does not authenticate, so a bearer for it is a mistake.
  const e = assertConfigError(() => loadConfig({ env: { WEBSMS_DEFAULT_SEND_BEARER: 'b' }, explicit: false }));
  t.deepEqual(e.problems, ['[default] send_bearer is set but send_auth is none; it is used with bearer']);
  const f = assertConfigError(() => load('[tok]\nsend_auth = bearer\n', { WEBSMS_TOK_SEND_BEARER: 'has SECRET space' }));
  t.deepEqual(f.problems.map((m) => m.replace(/^.*\.conf:/, '')), [
    '2: missing secret: [tok] send_bearer (or environment variable WEBSMS_TOK_SEND_BEARER)',
    'environment variable WEBSMS_TOK_SEND_BEARER: [tok] send_bearer: must not contain spaces or control characters',
  ]);
  t.false(f.problems.join('\n').includes('SECRET'));
});

test('send fields: distinct, not nested in JSON, not taken by send_extra', (t) => {
  const p = problems(`[a]
send_to = Text
send_reference_field = From
send_extra = Text=x
[b]
send_format = json
send_to = msg
send_from = msg.from
send_body = msg..text
send_auth = form
send_username = u
send_password = p
send_username_field = auth.user
send_extra = auth=x
send_extra = other.deep=ok
[general]
default_interface = a
`);
  const expected = [
    ':3: [a] send_reference_field: "From" is already the send_from field',
    ':4: [a] send_extra: "Text" collides with send_to "Text", which websms fills in',
    ':8: [b] send_from: "msg.from" and send_to "msg" overlap in JSON',
    ':9: [b] send_body: "msg..text" has an empty part; with send_format = json a dotted name is a path',
    ':9: [b] send_body: "msg..text" and send_to "msg" overlap in JSON',
    ':14: [b] send_extra: "auth" collides with send_username_field "auth.user", which websms fills in',
  ];
  t.is(p.length, expected.length, p.join('\n'));
  expected.forEach((e, i) => t.true(p[i]!.includes(e), `${p[i]} should include ${e}`));
  // In a form, dotted names are plain names.
  t.is(load('[a]\nsend_to = msg\nsend_from = msg.from\n').interfaces[0]!.send.fieldFrom, 'msg.from');
});

test('connect_timeout must not be longer than send_timeout', (t) => {
  const p = problems('[itsp]\nconnect_timeout = 1m\nsend_timeout = 10s\n');
  t.is(p.length, 1);
  t.true(p[0]!.endsWith(':2: [itsp] connect_timeout must not be longer than send_timeout'));
  t.true(problems('[itsp]\nsend_timeout = 1s\n')[0]!.endsWith(':2: [itsp] connect_timeout must not be longer than send_timeout'));
});

test('ca_file must exist and hold a PEM certificate', (t) => {
  const missing = path.join(dir, 'absent', 'ca.pem');
  const notPem = path.join(dir, 'not.pem');
  fs.writeFileSync(notPem, 'just text\n');
  const p = problems(`[itsp]\nca_file = ${missing}\n[other]\nca_file = ${notPem}\n[third]\nca_file = ${dir}\n[general]\ndefault_interface = itsp\n`);
  t.is(p.length, 3, p.join('\n'));
  t.true(p[0]!.endsWith(`:2: [itsp] ca_file: cannot read "${missing}": no such file`));
  t.true(p[1]!.endsWith(`:4: [other] ca_file: "${notPem}" holds no PEM certificate (-----BEGIN CERTIFICATE-----)`));
  t.true(p[2]!.endsWith(`:6: [third] ca_file: cannot read "${dir}": it is a directory`));
});

test('failover: an existing sending interface, not itself, without cycles', (t) => {
  const p = problems(`[a]
send_url = https://a.test/
failover = nope
[b]
send_url = https://b.test/
failover = b
[c]
send_url = https://c.test/
failover = d
[d]
failover = a
[general]
default_interface = a
`);
  const expected = [
    ':3: [a] failover: "nope" is not an interface; the interfaces are: a, b, c, d',
    ':6: [b] failover: must name another interface, not itself',
    ':9: [c] failover: [d] does not send (it has no send_url)',
    ':11: [d] failover is set but send_url is not; only a sending interface fails over',
  ];
  t.is(p.length, expected.length, p.join('\n'));
  expected.forEach((e, i) => t.true(p[i]!.endsWith(e), `${p[i]} should end with ${e}`));

  const cycle = problems(`[x]
send_url = https://x.test/
failover = a
[a]
send_url = https://a.test/
failover = b
[b]
send_url = https://b.test/
failover = c
[c]
send_url = https://c.test/
failover = a
[p]
send_url = https://p.test/
failover = q
[q]
send_url = https://q.test/
failover = p
[general]
default_interface = x
`);
  t.deepEqual(
    cycle.map((m) => m.slice(m.indexOf('.conf:') + 6)),
    ['6: [a] failover: a cycle: [a] -> [b] -> [c] -> [a]', '15: [p] failover: a cycle: [p] -> [q] -> [p]'],
  );
  // A chain is fine.
  const ok = load('[a]\nsend_url = https://a.test/\nfailover = b\n[b]\nsend_url = https://b.test/\nfailover = c\n[c]\nsend_url = https://c.test/\n[general]\ndefault_interface = a\n');
  t.deepEqual(
    ok.interfaces.map((i) => i.send.failover),
    ['b', 'c', ''],
  );
});

test('status_path must differ from every path and every other status_path', (t) => {
  const p = problems(`[a]
path = /hook
status_path = /sms/in/b
[b]
status_path = /hook
[c]
status_path = /sms/status/d
[d]
[e]
path = /sms/status/f
[f]
[g]
status_path = /dlr
[h]
status_path = /dlr
[general]
default_interface = a
`);
  const expected = [
    ':3: [a] status_path: "/sms/in/b" is already the path of [b]',
    ':5: [b] status_path: "/hook" is already the path of [a]',
    ':7: [c] status_path: "/sms/status/d" is already the status_path of [d]',
    ':10: [e] path: "/sms/status/f" is already the status_path of [f]',
    ':15: [h] status_path: "/dlr" is already the status_path of [g]',
  ];
  t.is(p.length, expected.length, p.join('\n'));
  expected.forEach((e, i) => t.true(p[i]!.endsWith(e), `${p[i]} should end with ${e}`));
});

test('index: unique, and not the name of another interface', (t) => {
  const p = problems('[a]\nindex = 1\n[b]\nindex = 1\n[c]\nindex = a\n[general]\ndefault_interface = a\n');
  t.is(p.length, 2, p.join('\n'));
  t.true(p[0]!.endsWith(':4: [b] index: "1" is already used by [a]'));
  t.true(p[1]!.endsWith(':6: [c] index: "a" is the name of the interface [a]'));
  t.deepEqual(
    load('[a]\nindex = a\n[b]\nindex = 2\n[general]\ndefault_interface = a\n').interfaces.map((i) => i.index),
    ['a', '2'],
  );
});

test('describeConfig hides the send secrets', (t) => {
  const c = load('[itsp]\nsend_auth = basic\nsend_username = AC123\nsend_password = pw-SECRET-4\n[tok]\nsend_auth = bearer\nsend_bearer = tok-SECRET-5\n[general]\ndefault_interface = itsp\n');
  const d = describeConfig(c);
  const text = JSON.stringify(d);
  for (const s of ['pw-SECRET-4', 'tok-SECRET-5']) t.false(text.includes(s));
  const ifaces = d.interfaces as { send: Record<string, unknown> }[];
  t.like(ifaces[0]!.send, { username: 'AC123', password: '(set)', bearer: '(not set)', auth: 'basic' });
  t.like(ifaces[1]!.send, { password: '(not set)', bearer: '(set)' });
  t.truthy(d.agi);
  t.truthy(d.outbound);
  // The config itself keeps them.
  t.is(c.interfaces[0]!.send.password, 'pw-SECRET-4');
  t.is(c.interfaces[1]!.send.bearer, 'tok-SECRET-5');
});

test('every schema key with a field override lands where it says', (t) => {
  // describeConfig finds secrets through the field paths; a wrong one would leak a secret.
  const at = (obj: unknown, p: string): unknown => p.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], obj);
  const check = (schema: Schema, obj: unknown, label: string): void => {
    for (const [k, spec] of Object.entries(schema)) {
      if (spec.field !== undefined || spec.secret) t.not(at(obj, spec.field ?? fieldOf(k)), undefined, `${label} ${k}`);
    }
  };
  for (const [name, schema] of Object.entries(FIXED_SECTIONS)) check(schema, DEFAULTS[name as keyof typeof FIXED_SECTIONS], `[${name}]`);
  check(INTERFACE_KEYS, DEFAULT_INTERFACE, 'interface');
});

// ---- config path --------------------------------------------------------

test('resolveConfigPath: --config, --config=, WEBSMS_CONFIG, default', (t) => {
  t.deepEqual(resolveConfigPath(['--config', '/a.conf'], { WEBSMS_CONFIG: '/b.conf' }), { file: '/a.conf', explicit: true });
  t.deepEqual(resolveConfigPath(['--config=/c.conf'], {}), { file: '/c.conf', explicit: true });
  t.deepEqual(resolveConfigPath([], { WEBSMS_CONFIG: '/b.conf' }), { file: '/b.conf', explicit: true });
  t.deepEqual(resolveConfigPath([], { WEBSMS_CONFIG: '' }), { file: './websms.conf', explicit: false });
  t.deepEqual(resolveConfigPath(['--other'], {}), { file: './websms.conf', explicit: false });
  t.throws(() => resolveConfigPath(['--config'], {}), { instanceOf: ConfigError });
  t.throws(() => resolveConfigPath(['--config='], {}), { instanceOf: ConfigError });
});

// ---- ini ----------------------------------------------------------------

test('ini: comments, =>, escaped semicolons, line numbers, repeated keys', (t) => {
  const doc = parseIni(
    '\uFEFF; a comment\r\n\r\n[one] ; header comment\r\n  a = 1 ; trailing\r\nb => two words \r\nc = x\\;y;z\r\nb=3\r\nempty =\r\n[two]\r\nd = e = f\r\n',
  );
  t.deepEqual(doc.problems, []);
  t.deepEqual(doc.sections, [
    {
      name: 'one',
      line: 3,
      entries: [
        { key: 'a', value: '1', line: 4 },
        { key: 'b', value: 'two words', line: 5 },
        { key: 'c', value: 'x;y', line: 6 },
        { key: 'b', value: '3', line: 7 },
        { key: 'empty', value: '', line: 8 },
      ],
    },
    { name: 'two', line: 9, entries: [{ key: 'd', value: 'e = f', line: 10 }] },
  ]);
});

test('ini: templates and stray text after a header', (t) => {
  const doc = parseIni('[a](tmpl)\nx = 1\n[b] junk\n[]\ny = 2\n');
  t.deepEqual(doc.problems, [
    { line: 1, message: 'templates are not supported in websms.conf' },
    { line: 3, message: 'unexpected text after the section header' },
    { line: 4, message: 'empty section name' },
  ]);
  // Keys after an unusable header are dropped without more noise.
  t.deepEqual(
    doc.sections.map((s) => [s.name, s.entries.length]),
    [
      ['a', 1],
      ['b', 0],
    ],
  );
});

// ---- cidr ---------------------------------------------------------------

test('parseCidr accepts IPv4, IPv6 and bare addresses', (t) => {
  t.like(parseCidr('10.0.0.0/8'), { ok: true, family: 'ipv4', prefix: 8, cidr: '10.0.0.0/8' });
  t.like(parseCidr('192.0.2.1'), { ok: true, family: 'ipv4', prefix: 32, cidr: '192.0.2.1/32' });
  t.like(parseCidr(' fe80::/10 '), { ok: true, family: 'ipv6', prefix: 10, cidr: 'fe80::/10' });
  t.like(parseCidr('::1'), { ok: true, family: 'ipv6', prefix: 128 });
  t.like(parseCidr('0.0.0.0/0'), { ok: true, prefix: 0 });
});

test('parseCidr refuses bad CIDRs with a reason', (t) => {
  for (const s of ['10.0.0.0/33', '300.1.1.1', 'fe80::/129', 'abc', '10.0.0.0/', '10.0.0.0/8x', 'fe80::1%eth0', '']) {
    const r = parseCidr(s);
    t.false(r.ok, s);
    if (!r.ok) t.true(r.reason.length > 0);
  }
  const r = parseCidr('10.0.0.0/33');
  t.deepEqual(r, { ok: false, reason: '"10.0.0.0/33": the prefix length must be 0-32 for an IPv4 address' });
});

test('address matcher: IPv4, IPv6 and IPv4-mapped IPv6', (t) => {
  const m = makeAddressMatcher(['127.0.0.1/32', '203.0.113.0/24', '2001:db8::/32']);
  t.true(m('127.0.0.1'));
  t.true(m('203.0.113.77'));
  t.false(m('203.0.114.1'));
  t.true(m('2001:db8::5'));
  t.false(m('2001:db9::5'));
  t.true(m('::ffff:127.0.0.1'));
  t.true(m('::FFFF:203.0.113.9'));
  t.true(m('::ffff:cb00:7105')); // 203.0.113.5 in hex groups
  t.false(m('::ffff:10.0.0.1'));
  t.false(m('::1'));
  t.false(m(''));
  t.false(m('not an address'));
  t.false(makeAddressMatcher([])('127.0.0.1'));
  t.true(makeAddressMatcher(['::1'])('::1'));
  t.throws(() => makeAddressMatcher(['abc']));
});

test('mappedIPv4', (t) => {
  t.is(mappedIPv4('::ffff:1.2.3.4'), '1.2.3.4');
  t.is(mappedIPv4('0:0:0:0:0:ffff:0102:0304'), '1.2.3.4');
  t.is(mappedIPv4('::1'), undefined);
  t.is(mappedIPv4('1.2.3.4'), undefined);
  t.is(mappedIPv4('64:ff9b::1.2.3.4'), undefined);
});

// ---- durations and sizes ------------------------------------------------

test('parseDuration', (t) => {
  t.is(parseDuration('30s'), 30_000);
  t.is(parseDuration('500ms'), 500);
  t.is(parseDuration('5m'), 300_000);
  t.is(parseDuration('2h'), 7_200_000);
  t.is(parseDuration('7d'), 604_800_000);
  t.is(parseDuration('45'), 45_000);
  t.is(parseDuration('0'), 0);
  for (const s of ['', 'abc', '1.5s', '-1s', '5 minutes', '10w', 's', '99999999999999999d']) {
    t.throws(() => parseDuration(s), undefined, s);
  }
});

test('parseSize', (t) => {
  t.is(parseSize('64k'), 65_536);
  t.is(parseSize('1m'), 1_048_576);
  t.is(parseSize('65536'), 65_536);
  t.is(parseSize('2K'), 2048);
  for (const s of ['', 'k', '1g', '1.5k', '-1', '64 kb']) t.throws(() => parseSize(s), undefined, s);
});

// ---- sample file --------------------------------------------------------

const SAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/websms.conf.sample');

test('docs/websms.conf.sample is renderSampleConfig() (regenerate it when the schema changes)', (t) => {
  t.is(fs.readFileSync(SAMPLE, 'utf8'), renderSampleConfig());
});

test('the sample loads as the defaults, with its secret from the environment or without one', (t) => {
  const c = loadConfig({ file: SAMPLE, env: { WEBSMS_AMI_SECRET: 's' }, explicit: true });
  t.deepEqual(values(c), { ...DEFAULTS, file: SAMPLE, ami: { ...DEFAULTS.ami, secret: 's' } });
  // Copied as it is, without a secret, it loads too: the daemon warns, as on the built-in defaults.
  t.deepEqual(values(loadConfig({ file: SAMPLE, env: {}, explicit: true })), { ...DEFAULTS, file: SAMPLE });
});

test('every secret in the sample is commented out', (t) => {
  const active = renderSampleConfig()
    .split('\n')
    .filter((l) => /^(secret|password|token|send_password|send_bearer)\s*=/.test(l));
  t.deepEqual(active, []);
});
