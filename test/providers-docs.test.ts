// Every configuration example in docs/providers.md loads with the real loader
// and gives the interface it describes.

import test from 'ava';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadText } from './helpers/profile.js';

const DOC = fs.readFileSync(fileURLToPath(new URL('../../docs/providers.md', import.meta.url)), 'utf8');

/** The ini blocks under a "## <title>" heading, in order. */
function blocks(title: string): string[] {
  const section = DOC.split(/^## /m).find((s) => s.startsWith(`${title}\n`));
  if (!section) throw new Error(`no section ${title} in docs/providers.md`);
  return [...section.matchAll(/```ini\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

test('Vonage: the SMS API example, and the Messages API with its send_url', (t) => {
  const [base, messages] = blocks('Vonage');
  const sms = loadText((base!)).interfaces.find((i) => i.name === 'vonage')!;
  t.is(sms.provider, 'vonage');
  t.is(sms.send.url, 'https://rest.nexmo.com/sms/json');
  t.is(sms.signingSecret, 'signature_secret_placeholder');
  const msg = loadText((base! + messages!)).interfaces.find((i) => i.name === 'vonage')!;
  t.is(msg.send.url, 'https://api.nexmo.com/v1/messages');
  t.is(msg.send.idField, 'message_uuid');
});

test('Plivo: the example sends to the account\'s Message URL with its status callback', (t) => {
  const [ini] = blocks('Plivo');
  const i = loadText((ini!)).interfaces.find((x) => x.name === 'plivo')!;
  t.is(i.send.url, 'https://api.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/');
  t.deepEqual(i.send.extra, { url: 'https://sms.example.org/sms/status/plivo' });
});

test('46elks: the example has its token, the addresses allowlist and whendelivered', (t) => {
  const [ini] = blocks('46elks');
  const i = loadText((ini!)).interfaces.find((x) => x.name === 'elks')!;
  t.is(i.token, 'tok_abcdefghijklmnop1234');
  t.true(i.allow.includes('176.10.154.199/32'));
  t.deepEqual(i.send.extra, { whendelivered: 'https://sms.example.org/sms/status/elks/tok_abcdefghijklmnop1234' });
  t.true(DOC.includes('https://sms.example.org/sms/in/elks/tok_abcdefghijklmnop1234'));
});
