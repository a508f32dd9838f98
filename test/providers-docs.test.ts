// Every configuration example in docs/providers.md loads as it is written,
// with its secrets from the environment as the document says, and means what
// the text around it says.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { adapterFor, PROVIDER_NAMES } from '../providers/index.js';
import { loadConfig } from '../src/config/load.js';
import { secretEnvName } from '../src/config/schema.js';
import type { Config } from '../src/config/types.js';
import { tempDir } from './helpers/tmp.js';

const DOC = fileURLToPath(new URL('../../docs/providers.md', import.meta.url));
const examples = [...fs.readFileSync(DOC, 'utf8').matchAll(/```ini\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** Loads an example, its provider's required secrets given as environment variables. */
function load(ini: string): Config {
  const env: NodeJS.ProcessEnv = {};
  const section = /^\[([^\]]+)\]/m.exec(ini)![1]!;
  const provider = /^provider\s*=\s*(\S+)/m.exec(ini)?.[1] ?? 'generic';
  for (const s of adapterFor(provider).settings ?? []) {
    if (s.secret && s.required && !new RegExp(`^${s.key}\\s*=`, 'm').test(ini)) env[secretEnvName(section, s.key)] = `example-${s.key}-0123456789`;
  }
  const file = path.join(tempDir(), 'websms.conf');
  fs.writeFileSync(file, `[general]\ncountry_code = 1\n\n${ini}`);
  return loadConfig({ file, env, explicit: true });
}

test('docs/providers.md has an example for each of its providers, and every example loads', (t) => {
  t.true(examples.length >= 2);
  for (const ini of examples) {
    const provider = /^provider\s*=\s*(\S+)/m.exec(ini)?.[1];
    t.true(provider !== undefined && PROVIDER_NAMES.includes(provider), `known provider in:\n${ini}`);
    t.notThrows(() => load(ini), ini);
  }
});

test('the Twilio example sends to Twilio with the account, and gives Twilio the delivery-report URL', (t) => {
  const tw = load(examples.find((e) => /provider = twilio/.test(e))!).interfaces[0]!;
  t.is(tw.send.url, 'https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json');
  t.is(tw.send.statusUrl, 'https://sms.example.org/sms/status/twilio');
  t.is(tw.path, '/sms/in/twilio', 'the URL the document says to paste into the console');
  t.true(tw.verify);
});

test('the SignalWire example sends to the Space\'s LaML API and checks signatures with the Signing Key', (t) => {
  const sw = load(examples.find((e) => /provider = signalwire/.test(e))!).interfaces[0]!;
  t.is(sw.send.url, 'https://example.signalwire.com/api/laml/2010-04-01/Accounts/5a8e1b0c-0000-4000-8000-000000000000/Messages.json');
  t.is(sw.signingSecret, 'example-signing_secret-0123456789');
  t.is(sw.path, '/sms/in/signalwire');
});
