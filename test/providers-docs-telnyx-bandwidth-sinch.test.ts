// The Telnyx, Bandwidth and Sinch sections of docs/providers.md: every ini
// example loads (with the profile's defaults) into an interface that sends
// where the section says and checks what it says it checks.

import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InterfaceConfig } from '../src/config/types.js';
import { sectionInterface } from './helpers/profile.js';

const DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/providers.md');

/** The ini examples of one "## Title" section, in order. */
function examples(title: string): string[] {
  const text = fs.readFileSync(DOC, 'utf8');
  const start = text.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`docs/providers.md has no section ${title}`);
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```ini\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function load(block: string, env: NodeJS.ProcessEnv = {}): InterfaceConfig {
  return sectionInterface(block, env);
}

test('Telnyx: the example sends to Telnyx with the API key and verifies with the public key; the second narrows allow to Telnyx\'s addresses', (t) => {
  const [basic, narrowed, ...rest] = examples('Telnyx');
  t.is(rest.length, 0);
  const i = load(basic!);
  t.is(i.provider, 'telnyx');
  t.is(i.send.url, 'https://api.telnyx.com/v2/messages');
  t.is(i.send.bearer, 'KEY0123456789ABCDEF_placeholder');
  t.is(i.publicKey, '6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=');
  t.true(i.verify);
  t.deepEqual(i.allow, ['0.0.0.0/0', '::/0']);
  t.is(i.path, '/sms/in/telnyx');
  const n = load(narrowed!);
  t.is(n.allow.length, 8);
  t.true(n.allow.includes('192.76.120.128/29'));
  t.false(n.allow.includes('0.0.0.0/0'));
  t.is(n.send.url, i.send.url);
});

test('Bandwidth: the example sends to the account with the API user and checks the callback credentials', (t) => {
  const [one, ...rest] = examples('Bandwidth');
  t.is(rest.length, 0);
  const i = load(one!);
  t.is(i.provider, 'bandwidth');
  t.is(i.send.url, 'https://messaging.bandwidth.com/api/v2/users/9900000/messages');
  t.is(i.send.auth, 'basic');
  t.is(i.send.username, 'websms-api');
  t.is(i.send.password, 'API-user-password-placeholder');
  t.is(i.send.application, '93de2206-9669-4e07-948d-329f4b722ee2');
  t.is(i.username, 'callback-user');
  t.is(i.password, 'callback-password-placeholder');
  t.is(i.path, '/sms/in/bandwidth');
  t.is(i.send.statusPath, '/sms/status/bandwidth');
});

test('Sinch: the HMAC example sends to the EU region; the example without HMAC takes its token from the environment', (t) => {
  const [signed, unsigned, ...rest] = examples('Sinch');
  t.is(rest.length, 0);
  const i = load(signed!);
  t.is(i.provider, 'sinch');
  t.is(i.send.url, 'https://eu.sms.api.sinch.com/xms/v1/a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4/batches');
  t.is(i.send.bearer, '0123456789abcdef0123456789abcdef');
  t.is(i.signingSecret, 'sinch_webhook_secret_placeholder');
  const u = load(unsigned!, { WEBSMS_SINCH_TOKEN: 'Sinch-callback-token-0123' });
  t.is(u.send.url, 'https://us.sms.api.sinch.com/xms/v1/a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4/batches');
  t.is(u.signingSecret, '');
  t.is(u.token, 'Sinch-callback-token-0123');
});
