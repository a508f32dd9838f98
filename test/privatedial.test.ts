// PrivateDial's PHP WebSMS websms.conf, read unchanged: the examples of its own
// documentation (test/fixtures/privatedial/), PHP's ini rules, the notes,
// `websms config convert`, and a daemon started on such a file.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { parseIni } from '../src/config/ini.js';
import { loadConfig } from '../src/config/load.js';
import { translatePrivateDial } from '../src/config/privatedial.js';
import { renderNativeConfig } from '../src/config/convert.js';
import { PROVIDERS } from '../src/config/schema.js';
import type { Config } from '../src/config/types.js';
import { configWarnings } from '../src/config/warnings.js';
import { ConfigError } from '../src/errors.js';
import { runAgi } from './doubles/agi-client.js';
import { startItspDouble, twilioLike } from './doubles/itsp-server.js';
import { runCli } from './helpers/cli.js';
import { rows, startStack, until } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../../test/fixtures/privatedial/${name}.conf`, import.meta.url));

function loadText(text: string, env: NodeJS.ProcessEnv = {}): Config {
  const file = path.join(tempDir(), 'websms.conf');
  fs.writeFileSync(file, text);
  return loadConfig({ file, env, explicit: true });
}

function problemsOf(text: string): string[] {
  try {
    loadText(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

/** What a loaded configuration is, apart from where it was read and how. */
function essence(c: Config): Omit<Config, 'file' | 'settings' | 'notes' | 'format'> {
  const { file: _f, settings: _s, notes: _n, format: _fmt, ...rest } = c;
  return rest;
}

const notesOf = (c: Config): string[] => (c.notes ?? []).map((n) => `${n.line ?? '-'}: ${n.message}`);

// ---- websms's own ini reader: double quotes the PHP way --------------------

test('ini: a value in double quotes loses its quotes; ";" inside is text; \\" \\\\ \\$ are escapes', (t) => {
  const doc = parseIni('[a]\nx = "status=created"\ny = "a;b" ; comment\nz = "say \\"hi\\" \\\\ \\$5 \\n"\nw = plain "mid" quotes\nv = ""\n');
  t.deepEqual(doc.problems, []);
  t.deepEqual(
    doc.sections[0]!.entries.map((e) => [e.key, e.value, e.quoted ?? false]),
    [
      ['x', 'status=created', true],
      ['y', 'a;b', true],
      ['z', 'say "hi" \\ $5 \\n', true],
      ['w', 'plain "mid" quotes', false],
      ['v', '', true],
    ],
  );
});

test('ini: an unclosed quote and text after the closing quote are problems, without the value', (t) => {
  const doc = parseIni('[a]\nx = "s3cret\ny = "ok" s3cret\n');
  t.deepEqual(doc.problems.map((p) => p.line), [2, 3]);
  t.false(doc.problems.some((p) => p.message.includes('s3cret')));
  t.deepEqual(doc.sections[0]!.entries, []);
});

test('send_success = "status=created" in websms.conf matches status=created, quotes gone', (t) => {
  const c = loadText('[itsp]\nsend_url = https://api.example.test/send\nsend_success = "status=created"\nack_body = "<Response></Response>"\n');
  t.is(c.interfaces[0]!.send.success, 'status=created');
  t.is(c.interfaces[0]!.ackBody, '<Response></Response>');
  t.is(c.format, undefined);
});

// ---- the examples of PrivateDial's documentation ---------------------------

test('one interface (PrivateDial\'s default configuration): sends with Basic, takes webhooks on /', (t) => {
  const c = loadConfig({ file: fixture('one-interface'), env: { WEBSMS_DEFAULT_SEND_PASSWORD: 'from-env' }, explicit: true });
  t.is(c.format, 'privatedial');
  t.is(c.interfaces.length, 1);
  const i = c.interfaces[0]!;
  t.is(i.name, 'default');
  t.is(i.send.url, 'http://api.example.com/sms/send/');
  t.is(i.send.auth, 'basic');
  t.is(i.send.username, 'user');
  t.is(i.send.password, 'from-env', 'the environment wins over auth_secret, as for any secret');
  t.deepEqual([i.fieldTo, i.fieldFrom, i.fieldBody, i.send.fieldTo, i.send.fieldFrom, i.send.fieldBody], ['To', 'From', 'Body', 'To', 'From', 'Body']);
  t.is(i.path, '/');
  t.deepEqual(i.allow, ['0.0.0.0/0', '::/0'], 'PHP WebSMS permitted any source address');
  t.is(c.ami.answerContext, 'dp_entry_answer');
  t.is(c.ami.textContext, 'dp_entry_text_in');
  t.deepEqual(c.general.trustedProxies, ['172.16.0.0/12', '192.168.0.0/16'], 'PrivateDial\'s default prox_addr');
  const secretless = loadConfig({ file: fixture('one-interface'), env: {}, explicit: true });
  t.is(secretless.interfaces[0]!.send.password, 'secret');
  const notes = notesOf(secretless);
  t.true(notes.some((n) => n.startsWith('4: [websms] url_host "api.example.com" has no scheme')));
  t.true(notes.some((n) => /^9: \[websmsd\] has no url_path/.test(n)));
  const codes = configWarnings(secretless).map((w) => w.code);
  t.true(codes.includes('privatedial_note'));
  t.true(codes.includes('webhook_open'), 'an open webhook is still warned about');
});

test('two interfaces with indexes: WEBSMS_INDEX names them, url_path and remt_addr select them inbound', (t) => {
  const c = loadConfig({ file: fixture('two-interfaces'), env: {}, explicit: true });
  t.deepEqual(c.interfaces.map((i) => i.name), ['api-1', 'api-2']);
  t.is(c.general.defaultInterface, 'api-1');
  const [a, b] = c.interfaces as [Config['interfaces'][0], Config['interfaces'][0]];
  t.deepEqual([a.send.url, a.send.username, a.send.password], ['http://api.example1.com/sms/send/', 'user1', 'secret1']);
  t.deepEqual([b.send.url, b.send.username, b.send.password], ['http://api.example2.com/sms/send/', 'user2', 'secret2'], 'url_path without an index applies to both');
  t.deepEqual([a.path, a.allow, a.fieldBody], ['/incomming1', ['1.2.3.4/24'], 'Body']);
  t.deepEqual([b.path, b.allow, b.fieldBody], ['/incomming2', ['5.6.7.8/32', '5.6.7.9/32'], 'text']);
  const api2 = c.settings!.find((s) => s.name === 'api-2')!.keys;
  t.is(api2.field_body!.from, '[websmsd] key_body [api-2]');
  t.is(api2.field_body!.line, 19);
  t.is(api2.send_url!.from, '[websms] url_host [api-2] + [websms] url_path');
});

test('the indexless order-based form: PHP numbers "key []" per key, and says so where that differs', (t) => {
  const c = loadConfig({ file: fixture('order-based'), env: {}, explicit: true });
  t.deepEqual(c.interfaces.map((i) => [i.name, i.index]), [['sms0', '0'], ['sms1', '1']]);
  t.deepEqual(c.interfaces.map((i) => [i.send.url, i.send.username, i.path, i.allow.join(' ')]), [
    ['http://api.example1.com/sms/send/', 'user1', '/incomming1', '1.2.3.4/24'],
    ['http://api.example2.com/sms/send/', 'user2', '/incomming2', '5.6.7.8/32 5.6.7.9/32'],
  ]);
  // key_body [] is the first of its kind: index 0, as PHP's parse_ini_file gives it.
  t.deepEqual(c.interfaces.map((i) => i.fieldBody), ['text', 'Body']);
  t.true(notesOf(c).some((n) => n.startsWith('17: [websmsd] key_body [] is written 1 time(s), other keys 2 times')));
  // WEBSMS_INDEX=0 / 1 pick them, as the PHP version's numbers did.
  const named = loadConfig({ file: fixture('two-interfaces'), env: {}, explicit: true });
  t.deepEqual(essence(c).interfaces.map((i) => i.send.url), essence(named).interfaces.map((i) => i.send.url));
});

test('Zadarma: auth_method = zadarma is provider = zadarma with the account, its secret, and the zd_echo check', (t) => {
  const php = parseIni(fs.readFileSync(fixture('zadarma'), 'utf8'));
  const tr = translatePrivateDial(php);
  t.deepEqual(tr.doc.problems, []);
  const iface = tr.doc.sections.find((s) => s.name === 'default')!;
  const keys = Object.fromEntries(iface.entries.map((e) => [e.key, e.value]));
  t.like(keys, {
    provider: 'zadarma',
    account: 'a1b2c3d4e5',
    secret: 's3cr3t',
    send_to: 'number',
    send_from: 'caller_id',
    send_body: 'message',
    send_success: 'status=success',
    send_number_format: 'digits',
    field_to: 'caller_did',
    field_from: 'caller_id',
    field_body: 'text',
    echo_field: 'zd_echo',
    methods: 'POST, GET',
    allow: '185.45.152.42,3.104.90.0/24,3.1.77.0/24',
  });
  t.false('send_url' in keys, 'the profile knows Zadarma\'s URL and signs the request');
  t.false('api_url' in keys, 'api.zadarma.com is the profile\'s own');
  const problems = (() => {
    try {
      loadConfig({ file: fixture('zadarma'), env: {}, explicit: true });
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  })();
  if (PROVIDERS.includes('zadarma' as never)) t.deepEqual(problems, []);
  else t.deepEqual(problems, [`${fixture('zadarma')}:9: [default] provider: unknown provider "zadarma"; known providers: ${PROVIDERS.join(', ')}`]);
});

// ---- PHP's rules, key by key -------------------------------------------------

const SEND = '[websms]\nurl_host = https://api.example.test\nurl_path = /send\n';

test('PHP booleans and null: auth_method = none unquoted is empty, "no" quoted stays no', (t) => {
  const none = loadText(`${SEND}auth_method = none\n`);
  t.is(none.interfaces[0]!.send.auth, 'none');
  const quoted = problemsOf(`${SEND}auth_method = "none-such"\n`);
  t.true(quoted[0]!.endsWith(':4: [websms] auth_method: unknown method "none-such"; PrivateDial\'s are none, plain, basic and zadarma'));
  const single = loadText(`${SEND}auth_user = 'u'\nauth_secret = 'p;x'\n`);
  t.is(single.interfaces[0]!.send.username, 'u');
});

test('auth_method = plain: the credentials as fields key_user and key_secret', (t) => {
  const c = loadText(`${SEND}auth_method = plain\nauth_user = acc\nauth_secret = pw\nkey_user = api_user\nkey_secret = api_key\n`);
  const s = c.interfaces[0]!.send;
  t.deepEqual([s.auth, s.username, s.password, s.usernameField, s.passwordField], ['form', 'acc', 'pw', 'api_user', 'api_key']);
  const p = problemsOf(`${SEND}auth_method = plain\nauth_user = acc\nauth_secret = pw\n`);
  t.true(p[0]!.endsWith(':4: [websms] auth_method = plain needs key_user and key_secret, the names of the fields that carry auth_user and auth_secret'));
});

test('resp_check, val_numform, val_static, val_unicode', (t) => {
  const c = loadText(`${SEND}auth_method = none\nresp_check = "status=success"\nval_numform = "E164"\nval_static = "channel=sms,type=text"\nval_unicode = "coding=8"\n`);
  const s = c.interfaces[0]!.send;
  t.is(s.success, 'status=success');
  t.is(s.numberFormat, 'digits');
  t.deepEqual(s.extra, { channel: 'sms', type: 'text' });
  t.deepEqual(s.extraUnicode, { coding: '8' });
  t.is(loadText(`${SEND}auth_method = none\nval_unicode = UCS-2\nval_numform = E.123\n`).interfaces[0]!.send.charset, 'ucs2');
  const p = problemsOf(`${SEND}auth_method = none\nresp_check = "/success/"\nval_numform = E.999\n`);
  t.is(p.length, 2);
  t.regex(p[0]!, /:5: \[websms\] resp_check "\/success\/": websms checks a key=value/);
  t.regex(p[1]!, /:6: \[websms\] val_numform: unknown format "E.999"/);
});

test('keys websms does not need, old names and unknown keys: notes, never errors', (t) => {
  const c = loadText(
    `${SEND}auth_method = none\nhost = https://old.example.test\ncolour = blue\n[websmsd]\nkey_account = x\npermit_addr = 10.0.0.1\n[astqueue]\nwaittime = 45\nmaxretries = 0\nretrytime = 300\narchive = no\noutgoingdir = /var/spool/asterisk/outgoing\nstagingdir = /var/spool/asterisk/staging\nmessage_encode = rfc3986\npriority = 1\n`,
  );
  t.is(c.interfaces[0]!.send.url, 'https://old.example.test/send', 'host is the old name of url_host, and the later line counts');
  t.deepEqual(c.interfaces[0]!.allow, ['10.0.0.1/32']);
  const notes = notesOf(c);
  t.true(notes.some((n) => n.startsWith('5: [websms] host is the name PrivateDial WebSMS used before 0.8.0 for url_host')));
  t.true(notes.some((n) => n.startsWith('5: [websms] host is set more than once; the last one counts, as in PHP (first on line 2)')));
  t.true(notes.some((n) => n.startsWith('6: [websms] colour is not a key of PrivateDial WebSMS; ignored')));
  t.true(notes.some((n) => n.startsWith('8: [websmsd] key_account is not needed')));
  for (const [line, key] of [[11, 'waittime'], [12, 'maxretries'], [13, 'retrytime'], [14, 'archive'], [15, 'outgoingdir'], [16, 'stagingdir'], [17, 'message_encode']] as const) {
    t.true(notes.some((n) => n.startsWith(`${line}: [astqueue] ${key} is not needed`)), key);
  }
  t.false(notes.some((n) => n.includes('priority')), 'priority 1 is what websms does');
  const warnings = configWarnings(c).filter((w) => w.code === 'privatedial_note');
  t.is(warnings.length, notes.length);
  t.regex(warnings[0]!.message, /^line \d+: /);
});

test('prox_addr and prox_header take no index; a prox_header other than X-Forwarded-For is refused', (t) => {
  const p = problemsOf('[websmsd]\nprox_addr [a] = 10.0.0.0/8\nprox_header = HTTP_X_REAL_IP\n[astqueue]\nwaittime [a] = 3\n');
  t.is(p.length, 2);
  t.regex(p[0]!, /:2: \[websmsd\] prox_addr takes no \[index\]/);
  t.regex(p[1]!, /:3: \[websmsd\] prox_header: websms reads the client address .* X-Forwarded-For only/);
  t.is(loadText('[websmsd]\nprox_addr = 10.0.0.0/8\nprox_header = HTTP_X_FORWARDED_FOR\n').general.trustedProxies.join(), '10.0.0.0/8');
});

test('the file\'s own websms sections win over what is translated, with a note', (t) => {
  const c = loadText('[general]\ntrusted_proxies = 127.0.0.1\n[ami]\ntext_context = my_text_in\n[websmsd]\nprox_addr = 10.0.0.0/8\n[astqueue]\ncontext = dp_entry_text_in\nchannel_context = my_answer\n');
  t.deepEqual(c.general.trustedProxies, ['127.0.0.1/32']);
  t.is(c.ami.textContext, 'my_text_in');
  t.is(c.ami.answerContext, 'my_answer');
  t.true(notesOf(c).some((n) => n.startsWith('6: [websmsd] prox_addr is overridden by [general] trusted_proxies on line 2')));
});

test('an interface of websms called [websms] is not taken for PrivateDial\'s section', (t) => {
  const c = loadText('[websms]\nsend_url = https://api.example.test/send\n');
  t.is(c.format, undefined);
  t.is(c.interfaces[0]!.name, 'websms');
});

// ---- check-config and convert ----------------------------------------------

test('check-config shows a PrivateDial file with the PHP key of each value and its notes as warnings', async (t) => {
  const r = await runCli(['--config', fixture('two-interfaces'), 'check-config']);
  t.is(r.code, 0, r.stderr);
  t.true(r.stdout.includes("; read as PrivateDial's PHP WebSMS websms.conf"));
  t.regex(r.stdout, /send_url = http:\/\/api\.example2\.com\/sms\/send\/\s+; line 9: \[websms\] url_host \[api-2\] \+ \[websms\] url_path/);
  t.regex(r.stdout, /send_password = \(set\)\s+; line 11: \[websms\] auth_secret \[api-2\]/);
  t.false(r.stdout.includes('secret2'), 'secrets hidden');
  t.regex(r.stdout, /;   warning: line 4: \[websms\] url_host "api\.example1\.com" has no scheme/);
  const j = JSON.parse((await runCli(['--config', fixture('two-interfaces'), 'check-config', '--json'])).stdout) as { format: string; warnings: { code: string }[] };
  t.is(j.format, 'privatedial');
  t.true(j.warnings.some((w) => w.code === 'privatedial_note'));
});

for (const name of ['one-interface', 'two-interfaces', 'order-based']) {
  test(`convert ${name}: the native file loads to the same configuration, secrets from the environment or written with --secrets`, async (t) => {
    const php = loadConfig({ file: fixture(name), env: {}, explicit: true });
    const dir = tempDir();
    const r = await runCli(['config', 'convert', fixture(name)]);
    t.is(r.code, 0, r.stderr);
    t.false(/secret[12]?\b(?!_)/.test(r.stdout.replace(/auth_secret|send_password|a secret|Secrets/g, '')), 'no secret value in the output');
    t.true(r.stdout.includes('; from [websms] url_host'));
    const native = path.join(dir, 'native.conf');
    fs.writeFileSync(native, r.stdout);
    const env = Object.fromEntries(php.interfaces.map((i) => [`WEBSMS_${i.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_SEND_PASSWORD`, i.send.password]));
    const fromNative = loadConfig({ file: native, env, explicit: true });
    t.is(fromNative.format, undefined);
    t.deepEqual(essence(fromNative), essence(php));

    const withSecrets = await runCli(['config', 'convert', '--secrets', fixture(name)]);
    fs.writeFileSync(native, withSecrets.stdout);
    t.deepEqual(essence(loadConfig({ file: native, env: {}, explicit: true })), essence(php));
  });
}

test('convert: quoting survives the round trip; the rendered notes name the lines', (t) => {
  const text = `${SEND}auth_method = none\nresp_check = "ok=a;b"\nval_static = "note= spaced ,x=\\"q\\""\n[websmsd]\nresp_ack = "<Response></Response>"\n`;
  const php = loadText(text);
  const rendered = renderNativeConfig(translatePrivateDial(parseIni(text)), { source: 'php.conf', secrets: false });
  t.true(rendered.includes('send_success = "ok=a;b"'));
  t.deepEqual(essence(loadText(rendered)), essence(php));
  t.is(php.interfaces[0]!.ackBody, '<Response></Response>');
  t.is(php.interfaces[0]!.ackContentType, 'text/html');
});

test('convert: not a PrivateDial file 65, no file 66, a broken one 78 with its problems, no subcommand 64', async (t) => {
  const dir = tempDir();
  const native = path.join(dir, 'native.conf');
  fs.writeFileSync(native, '[itsp]\nsend_url = https://api.example.test/send\n');
  const broken = path.join(dir, 'broken.conf');
  fs.writeFileSync(broken, `${SEND}auth_method = kerberos\n`);
  const a = await runCli(['config', 'convert', native]);
  t.is(a.code, 65);
  t.regex(a.stderr, /is not PrivateDial's WebSMS websms\.conf/);
  t.is((await runCli(['config', 'convert', path.join(dir, 'nope.conf')])).code, 66);
  const b = await runCli(['config', 'convert', broken]);
  t.is(b.code, 78);
  t.regex(b.stderr, /broken\.conf:4: \[websms\] auth_method: unknown method "kerberos"/);
  t.is(b.stdout, '');
  t.is((await runCli(['config'])).code, 64);
  const help = await runCli(['config', 'convert', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /usage: websms config convert FILE/);
});

// ---- a daemon on a PrivateDial file -------------------------------------------

const DEST = '+12025550183';
const ALICE = '+12025550160';

test('a daemon started on a PrivateDial file takes webhooks per interface and hands off texts by WEBSMS_INDEX', async (t) => {
  const itsp1 = await startItspDouble({ default: twilioLike(), requireBasic: { username: 'user1', password: 'secret1' } });
  const itsp2 = await startItspDouble({ default: twilioLike(), requireBasic: { username: 'user2', password: 'secret2' } });
  t.teardown(() => itsp1.stop());
  t.teardown(() => itsp2.stop());
  // PrivateDial's two-interface example, pointed at the doubles; both interfaces on
  // one path, told apart by the sender's address (X-Forwarded-For from the proxy at 127.0.0.1).
  const s = await startStack({
    interfaces: `[websms]
url_host     [api-1] = ${itsp1.url}
url_path             = /sms/send/
auth_user    [api-1] = user1
auth_secret  [api-1] = "secret1"
url_host     [api-2] = ${itsp2.url}
auth_user    [api-2] = user2
auth_secret  [api-2] = secret2
val_numform  [api-2] = "E.164"

[websmsd]
remt_addr    [api-1] = 1.2.3.4/24
remt_addr    [api-2] = 5.6.7.8,5.6.7.9
url_path             = /incoming
key_body     [api-2] = text
resp_ack             = "<Response></Response>"
prox_addr            = 127.0.0.1

[astqueue]
channel_context = dp_entry_answer
context         = dp_entry_text_in
waittime        = 45
`,
  });
  t.teardown(() => s.stop());
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  t.true(s.logs.some((l) => l.includes('"code":"privatedial_note"') && l.includes('waittime is not needed')), 'the notes are logged at start');

  const one = await s.post('/incoming', { To: ALICE, From: DEST, Body: 'to api-1' }, { 'x-forwarded-for': '1.2.3.9' });
  t.is(one.status, 200);
  t.is(one.text, '<Response></Response>');
  t.regex(one.headers.get('content-type') ?? '', /^text\/html/);
  const two = await s.post('/incoming/', { To: ALICE, From: DEST, text: 'to api-2' }, { 'x-forwarded-for': '5.6.7.8' });
  t.is(two.status, 200);
  const stranger = await s.post('/incoming', { To: ALICE, From: DEST, Body: 'from elsewhere' }, { 'x-forwarded-for': '9.9.9.9' });
  t.is(stranger.status, 403);
  t.deepEqual(rows(s.dir).map((r) => [r.interface, r.body]), [['api-1', 'to api-1'], ['api-2', 'to api-2']]);
  const delivered = await s.ami.waitForDelivery((d) => d.body.toString() === 'to api-2', 5000);
  t.is(delivered.endpoint, 'alice');

  for (const [index, double, to] of [['api-1', itsp1, DEST], ['api-2', itsp2, DEST.slice(1)]] as const) {
    const run = await runAgi({
      port: s.daemon.agiPort,
      exten: DEST,
      variables: { 'MESSAGE(body)': `via ${index}`, 'MESSAGE(from)': `"Alice" <sip:${ALICE}@pbx.example>`, 'MESSAGE(to)': `pjsip:${DEST}@pbx.example`, WEBSMS_INDEX: index },
    });
    t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED');
    const [req] = await double.waitForRequests(1);
    t.is(req!.path, '/sms/send/');
    t.true(req!.authorized);
    t.deepEqual(req!.body, { To: to, From: index === 'api-2' ? ALICE.slice(1) : ALICE, Body: `via ${index}` });
  }
  await until(() => s.logs.filter((l) => l.includes('text accepted by the ITSP')).length === 2);
  t.false(s.logs.some((l) => l.includes('secret1') || l.includes('secret2')), 'no secret logged');
});

test('interfaces may share a webhook path when their allow lists tell them apart, without tokens', (t) => {
  const ok = loadText('[a]\npath = /in\nallow = 10.0.0.1\n[b]\npath = /in\nallow = any\n[general]\ndefault_interface = a\n');
  t.deepEqual(ok.interfaces.map((i) => i.path), ['/in', '/in']);
  const rule = 'interfaces share a path only when their allow lists tell them apart, and none of them has a token';
  const same = problemsOf('[a]\npath = /in\nallow = 10.0.0.1\n[b]\npath = /in\nallow = 10.0.0.1\n[general]\ndefault_interface = a\n');
  t.deepEqual(same.map((p) => p.replace(/^.*?:\d+: /, '')), [`[b] path: "/in" is already used by [a]; ${rule}`]);
  const twoAny = problemsOf('[a]\npath = /in\nallow = any\ntoken = 0123456789abcdefXYZ\n[b]\npath = /in\nallow = 10.0.0.1\n[general]\ndefault_interface = a\n');
  t.is(twoAny.length, 1);
  t.true(twoAny[0]!.endsWith(rule));
});
