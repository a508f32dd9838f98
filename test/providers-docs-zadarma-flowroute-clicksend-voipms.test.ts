// The Zadarma, Flowroute, ClickSend and VoIP.ms sections of docs/providers.md:
// every ini example loads (with the profile's defaults) into an interface that
// sends where the section says, and the URLs to paste are the interface's own.
// A fragment (an example without a section header) is added to the example
// before it.

import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { voipmsCallbackUrl } from '../providers/voipms.js';
import type { InterfaceConfig } from '../src/config/types.js';
import { loadText } from './helpers/profile.js';

const DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/providers.md');
const HOST = 'https://sms.example.org';

function section(title: string): string {
  const text = fs.readFileSync(DOC, 'utf8');
  const start = text.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`docs/providers.md has no section ${title}`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

/** The section's ini blocks, in order. */
function blocks(title: string): string[] {
  return [...section(title).matchAll(/```ini\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** The section's examples: a fragment (no section header) is added to the example before it. */
function examples(title: string): string[] {
  const out: string[] = [];
  for (const b of blocks(title)) {
    if (/^\s*\[/.test(b) || out.length === 0) out.push(b);
    else out[out.length - 1] += b;
  }
  return out;
}

function load(example: string): InterfaceConfig {
  const interfaces = loadText(`[general]\ncountry_code = 1\n\n${example}`).interfaces;
  if (interfaces.length !== 1) throw new Error(`an example holds one interface, not ${interfaces.length}`);
  return interfaces[0]!;
}

/** Every `https://sms.example.org/...` URL the section tells the user to paste. */
function pasted(title: string): string[] {
  return [...section(title).matchAll(/`(https:\/\/sms\.example\.org\/[^`]*)`/g)].map((m) => m[1]!);
}

test('Zadarma: the example signs with the API key and secret and checks notifications with the same secret; the URL is the interface\'s', (t) => {
  const [one, ...rest] = examples('Zadarma');
  t.is(rest.length, 0);
  const i = load(one!);
  t.is(i.provider, 'zadarma');
  t.is(i.send.url, 'https://api.zadarma.com/v1/sms/send/');
  t.deepEqual([i.send.username, i.send.password], ['a1b2c3d4e5', 'zadarma_api_secret_placeholder']);
  t.is(i.secret, 'zadarma_api_secret_placeholder');
  t.true(i.verify);
  t.deepEqual(i.allow, ['0.0.0.0/0', '::/0']);
  t.deepEqual(pasted('Zadarma'), [`${HOST}${i.path}`]);
});

test('Flowroute: the example sends v2.2 with Basic; the send_url line it names switches to v2.1; the callback URLs carry the token', (t) => {
  const [base, ...rest] = blocks('Flowroute');
  t.is(rest.length, 0);
  const i = load(base!);
  t.is(i.send.url, 'https://api.flowroute.com/v2.2/messages');
  t.deepEqual([i.send.auth, i.send.username, i.send.password], ['basic', '12345678', 'flowroute_secret_key_placeholder']);
  const line = /`(send_url = [^`]*)`/.exec(section('Flowroute'))![1]!;
  const v21 = load(`${base!}${line}\n`);
  t.is(v21.send.url, 'https://api.flowroute.com/v2.1/messages');
  t.deepEqual(pasted('Flowroute'), [`${HOST}${i.path}/${i.token}`, `${HOST}${i.send.statusPath}/${i.token}`]);
});

test('ClickSend: the example sends JSON with Basic username:API key; the rule URLs carry the token', (t) => {
  const [one, ...rest] = examples('ClickSend');
  t.is(rest.length, 0);
  const i = load(one!);
  t.is(i.send.url, 'https://rest.clicksend.com/v3/sms/send');
  t.deepEqual([i.send.auth, i.send.format, i.send.username, i.send.password], ['basic', 'json', 'ops@example.com', 'CLICKSEND-API-KEY-PLACEHOLDER']);
  t.deepEqual(pasted('ClickSend'), [`${HOST}${i.path}/${i.token}`, `${HOST}${i.send.statusPath}/${i.token}`]);
});

test('VoIP.ms: the example sends with the API username and password as form fields; the URL to paste is voipmsCallbackUrl\'s', (t) => {
  const [one, ...rest] = examples('VoIP.ms');
  t.is(rest.length, 0);
  const i = load(one!);
  t.is(i.send.url, 'https://voip.ms/api/v1/rest.php');
  t.deepEqual([i.send.auth, i.send.username, i.send.password], ['form', 'ops@example.com', 'voipms_api_password_placeholder']);
  const [url] = pasted('VoIP.ms');
  t.is(url, voipmsCallbackUrl({ ...i, publicUrl: `${HOST}${i.path}` }, { revealToken: true }));
});
