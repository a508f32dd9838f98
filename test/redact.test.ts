// The redactor (src/redact.ts): every secret key of the schema feeds it, and
// it finds each secret in the forms lines carry it in. The failure classes
// (src/outbound/failure.ts): what the sender of a failed text reads.

import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { AMI_KEYS, API_KEYS, EMAIL_KEYS, INTERFACE_KEYS, secretEnvName } from '../src/config/schema.js';
import { createLogger } from '../src/log.js';
import { answerFailure, FAILURE_KINDS, finalReason, shortReason } from '../src/outbound/failure.js';
import { noticeText } from '../src/outbound/notify.js';
import { createRedactor, REDACTED, redactorFor, secretsOf } from '../src/redact.js';
import { tempDir } from './helpers/tmp.js';

const secretKeys = (keys: Record<string, { secret: boolean }>): string[] => Object.entries(keys).filter(([, k]) => k.secret).map(([n]) => n);

test('every key the schema marks secret feeds the redactor, from the file and from the environment', (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'websms.conf');
  const planted = new Map<string, string>();
  const value = (where: string, prefix = ''): string => {
    const v = `${prefix}planted-${where.replace(/[^a-z]/gi, '')}-${planted.size}-Zq9`;
    planted.set(where, v);
    return v;
  };
  const ifaceSecrets = secretKeys(INTERFACE_KEYS);
  t.true(ifaceSecrets.length >= 6, ifaceSecrets.join(', '));
  // Interfaces from the file and from the environment, sending with Basic and with a bearer token.
  const env: Record<string, string> = {};
  let sections = '';
  for (const source of ['file', 'env'] as const) {
    for (const auth of ['basic', 'bearer'] as const) {
      const name = `${source}${auth}`;
      sections += `\n[${name}]\nusername = u\nsend_url = https://itsp.example/send\nsend_auth = ${auth}\n${auth === 'basic' ? 'send_username = su\n' : ''}`;
      for (const k of ifaceSecrets.filter((k) => k !== (auth === 'basic' ? 'send_bearer' : 'send_password'))) {
        const v = value(`${name}.${k}`, k === 'token' ? 'tok_' : '');
        if (source === 'file') sections += `${k} = ${v}\n`;
        else env[secretEnvName(name, k)] = v;
      }
    }
  }
  for (const k of secretKeys(AMI_KEYS)) env[secretEnvName('ami', k)] = value(`ami.${k}`);
  for (const k of secretKeys(API_KEYS)) env[secretEnvName('api', k)] = value(`api.${k}`);
  const emailSecrets = secretKeys(EMAIL_KEYS);
  t.deepEqual(emailSecrets, ['smtp_password', 'imap_password']);
  for (const k of emailSecrets) env[secretEnvName('email', k)] = value(`email.${k}`);
  fs.writeFileSync(file, `[general]\ndatabase = ${dir}/w.db\ndefault_interface = filebasic\n${sections}`);
  const config = loadConfig({ file, env, explicit: true });
  const secrets = secretsOf(config);
  for (const [where, v] of planted) t.true(secrets.some((s) => s.includes(v)), `${where} is redacted`);
  const redact = redactorFor(config);
  for (const [where, v] of planted) t.false(redact(`a line with ${v} in it`).includes(v), where);
});

test('secrets in URLs: userinfo and credential-like query values, not ordinary ones', (t) => {
  const redact = createRedactor([]);
  t.is(redact('x'), 'x');
  const config = loadConfig({ env: {}, explicit: false });
  const iface = config.interfaces[0]!;
  iface.send.url = 'https://api.example/send?api_key=KEY-in-the-query-1&format=json&user=bob';
  iface.apiUrl = 'https://u:p4ssw0rd-in-userinfo@api.example/';
  const r = redactorFor(config);
  t.is(r('sent to https://api.example/send?api_key=KEY-in-the-query-1&format=json'), `sent to https://api.example/send?api_key=${REDACTED}&format=json`);
  t.is(r('the password was p4ssw0rd-in-userinfo'), `the password was ${REDACTED}`);
});

test('each form a secret travels in is found: raw, JSON-escaped, percent-encoded, form-encoded, Basic; longer first; short ones left', (t) => {
  const secret = 'pa ss"wo/rd+1~';
  const r = createRedactor([secret, 'abc', `${Buffer.from(`user:${secret}`).toString('base64')}`]);
  t.is(r(`raw ${secret}.`), `raw ${REDACTED}.`);
  t.is(r(JSON.stringify({ v: `x${secret}y` })), JSON.stringify({ v: `x${REDACTED}y` }));
  t.is(r(`q=${encodeURIComponent(secret)}&`), `q=${REDACTED}&`);
  t.is(r(new URLSearchParams({ q: secret }).toString()), `q=${REDACTED}`);
  t.is(r(`Authorization: Basic ${Buffer.from(`user:${secret}`).toString('base64')}`), `Authorization: Basic ${REDACTED}`);
  t.is(r('abc stays: too short to search for'), 'abc stays: too short to search for');
  // A multi-line secret (a PEM key from the environment) is found a line at a time.
  const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';
  t.is(createRedactor([pem])('echoed MIIEvQIBADANBgkqhkiG9w0BAQEFAASC back'), `echoed ${REDACTED} back`);
});

test('the logger redacts every line at every level and in both formats, children included, and takes a new redactor at once', (t) => {
  const lines: string[] = [];
  const log = createLogger('debug', {}, (l) => lines.push(l), 'json', createRedactor(['s3cr3t-value']));
  log.child({ mod: 'x' }).debug({ url: 'https://h/p?k=s3cr3t-value', err: new Error('boom s3cr3t-value') }, 'debug s3cr3t-value');
  const text = createLogger('info', {}, (l) => lines.push(l), 'text', createRedactor(['s3cr3t-value']));
  text.warn({ header: 'Bearer s3cr3t-value' }, 'warn');
  log.redact = createRedactor(['an0ther-one']);
  log.info({ v: 'an0ther-one' }, 'after');
  t.is(lines.length, 3);
  t.false(lines.some((l) => l.includes('s3cr3t-value') || l.includes('an0ther-one')), lines.join('\n'));
  t.notThrows(() => JSON.parse(lines[0]!));
});

test('failure classes: whose problem it is, from the status and the ITSP\'s words', (t) => {
  t.is(answerFailure('permanent', 400, "400: The 'To' number +12025550160 is not a valid phone number."), 'number');
  t.is(answerFailure('permanent', 400, "400: The 'From' number +12025550160 is not a valid message-capable phone number"), 'account');
  t.is(answerFailure('permanent', 401, 'Twilio error 20003: Authenticate'), 'account');
  t.is(answerFailure('permanent', 402, 'Payment Required'), 'account');
  t.is(answerFailure('permanent', 200, 'Insufficient balance'), 'account');
  t.is(answerFailure('permanent', 400, 'Trial accounts cannot send to unverified numbers'), 'account');
  t.is(answerFailure('permanent', 404, 'Not Found'), 'account');
  t.is(answerFailure('permanent', 400, 'INVALID_RECIPIENT: the recipient is not a valid number'), 'number');
  t.is(answerFailure('permanent', 400, 'Attempt to send to unsubscribed recipient'), 'number');
  t.is(answerFailure('permanent', 400, 'message body too long'), 'refused');
  t.is(answerFailure('retry', 429, 'Too Many Requests'), 'busy');
  t.is(answerFailure('retry', 503, 'Service Unavailable'), 'provider');
  t.is(answerFailure('retry', 500, 'Internal error: credentials store down'), 'provider', 'a retry is the provider\'s problem, whatever it says');
});

test('every reason a sender can get is short, says what to do, and carries no ITSP words', (t) => {
  for (const kind of FAILURE_KINDS) {
    const r = finalReason(kind);
    t.true(r.startsWith(shortReason(kind)), kind);
    t.true(r.length <= 90, `${kind}: ${r.length} characters`);
    t.regex(r, /; (check|send|tell)/, kind);
  }
  const notice = noticeText({ recipient: '+12025550160', body: 'hello there' }, 'failed', finalReason('unreachable'));
  t.is(notice, 'Not sent to +12025550160: "hello there": the provider could not be reached; send it again later');
});
