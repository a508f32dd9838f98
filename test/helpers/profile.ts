// For the provider profiles' tests: an interface configured as a user would
// write it (the profile's defaults under the user's keys, loaded by the real
// loader), webhook requests as the listener hands them over (raw bytes,
// lower-case headers, query and body fields merged), a send through the real
// HTTP client, and a whole daemon with a profile interface that a phone hands
// texts to over FastAGI.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import type { OutgoingText, ProviderAdapter, SendOutcome, WebhookRequest } from '../../providers/types.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config, InterfaceConfig } from '../../src/config/types.js';
import { createHttpClient, type HttpResult } from '../../src/outbound/http.js';
import { runAgi, type AgiRun } from '../doubles/agi-client.js';
import { startStack, type Stack } from './stack.js';
import { tempDir } from './tmp.js';

// ---- configuration --------------------------------------------------------

/** The ini section a user of `provider` writes (plus any raw `lines`); the loader adds the profile's defaults. ';' is escaped. */
export function profileSection(name: string, provider: string, written: Record<string, string>, lines = ''): string {
  const keys = Object.entries(written).map(([k, v]) => `${k} = ${v.replaceAll(';', '\\;')}`);
  return `[${name}]\nprovider = ${provider}\n${keys.join('\n')}\n${lines}\n`;
}

/** Loads a whole configuration text (a documented example, say) with the real loader, as the daemon does. */
export function loadText(text: string, env: NodeJS.ProcessEnv = {}): Config {
  const file = path.join(tempDir(), 'websms.conf');
  fs.writeFileSync(file, text);
  return loadConfig({ file, env, explicit: true });
}

/**
 * One interface `name` of `provider` with the user's keys, as the daemon
 * would see it; `general` is written into a [general] section first, `lines`
 * (raw) into the interface section after the user's keys.
 */
export function profileInterface(provider: string, written: Record<string, string>, name = 'itsp', general = '', lines = ''): InterfaceConfig {
  const head = general === '' ? '' : `[general]\n${general}\n\n`;
  const iface = loadText(head + profileSection(name, provider, written, lines)).interfaces.find((i) => i.name === name);
  if (!iface) throw new Error(`interface ${name} not loaded`);
  return iface;
}

/** The one interface of a configuration text that has a named provider. */
export function sectionInterface(text: string, env: NodeJS.ProcessEnv = {}): InterfaceConfig {
  const found = loadText(text, env).interfaces.find((i) => i.provider !== 'generic');
  if (!found) throw new Error('no interface with a named provider in the configuration');
  return found;
}

// ---- webhooks -------------------------------------------------------------

export interface WebhookInput {
  /** Default: POST with a body, GET without. */
  method?: 'GET' | 'POST';
  /** The URL the provider called (with its query string). */
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Default: form fields with a body. */
  contentType?: string;
  /** Which of the interface's URLs was called. */
  route?: 'text' | 'status';
}

/** A webhook request as the listener builds it: query and body fields merged, the body winning; a body that is not JSON gives no fields. */
export function webhook(o: WebhookInput): WebhookRequest {
  const method = o.method ?? (o.body === undefined ? 'GET' : 'POST');
  const rawBody = Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body ?? '', 'utf8');
  const contentType = (o.contentType ?? (o.body === undefined ? '' : 'application/x-www-form-urlencoded')).split(';')[0]!.trim().toLowerCase();
  const fields: Record<string, unknown> = {};
  const q = o.url.indexOf('?');
  if (q >= 0) for (const [k, v] of new URLSearchParams(o.url.slice(q + 1))) fields[k] = v;
  if (contentType === 'application/x-www-form-urlencoded') {
    for (const [k, v] of new URLSearchParams(rawBody.toString('utf8'))) fields[k] = v;
  } else if (contentType === 'application/json' || contentType.endsWith('+json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawBody.toString('utf8')) as unknown;
    } catch {
      parsed = undefined;
    }
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) Object.assign(fields, parsed);
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.headers ?? {})) headers[k.toLowerCase()] = v;
  if (contentType !== '') headers['content-type'] ??= o.contentType!;
  return { method, url: o.url, headers, rawBody, contentType, fields, ...(o.route ? { route: o.route } : {}) };
}

/** A POSTed JSON webhook. */
export function jsonWebhook(url: string, body: string | Buffer, headers: Record<string, string> = {}): WebhookRequest {
  return webhook({ method: 'POST', url, body, headers, contentType: 'application/json' });
}

// ---- sending --------------------------------------------------------------

/** Builds the request with the adapter, sends it with the real HTTP client, and reads the answer. */
export async function sendThrough(
  adapter: ProviderAdapter,
  iface: InterfaceConfig,
  text: OutgoingText,
): Promise<{ res: HttpResult; outcome: SendOutcome | undefined }> {
  const cfg = { ...iface.send, ratePerSecond: 0, ratePerNumber: 0 };
  const client = createHttpClient(cfg);
  try {
    const res = await client.send(adapter.buildRequest(text, cfg));
    return { res, outcome: res.ok ? adapter.parseResponse(res.answer, cfg) : undefined };
  } finally {
    client.close();
  }
}

// ---- a whole daemon with a profile interface ------------------------------

export interface OutboundRow {
  id: number;
  state: string;
  interface: string;
  provider_id: string | null;
  reason: string | null;
  attempts: number;
  recipient: string;
  body: string;
}

/** The outbound table, read from the file as another process would. */
export function outboundRows(dir: string): OutboundRow[] {
  const db = new Database(path.join(dir, 'var', 'websms.db'), { readonly: true });
  try {
    return db.prepare('SELECT * FROM outbound ORDER BY id').all() as OutboundRow[];
  } finally {
    db.close();
  }
}

/** A PBX user (an AMI double endpoint) that receives texts and sends them. */
export const ALICE = '+46812345678';

/**
 * A daemon (test/helpers/stack.ts) whose only interface is `section` (its
 * profile fills in the rest), sending at once (no rate limits), as the default
 * interface for hand-offs; ALICE is a registered endpoint.
 */
export async function profileStack(t: { teardown(fn: () => Promise<void>): void }, section: string): Promise<Stack> {
  const name = /^\s*\[([^\]]+)\]/.exec(section)![1]!;
  const s = await startStack({
    interfaces: `${section.replace(/\s*$/, '')}\nrate = 0\nrate_per_number = 0\n`,
    general: `default_interface = ${name}`,
    outbound: 'retry_min = 50ms\nretry_max = 100ms\nmax_attempts = 3',
  });
  t.teardown(() => s.stop());
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  return s;
}

/** A phone's text handed to websms over FastAGI, as the dialplan does it; `display` is the caller's name. */
export function handOff(s: Stack, from: string, to: string, body: string, display = 'Phone'): Promise<AgiRun> {
  return runAgi({
    port: s.daemon.agiPort,
    exten: to,
    variables: {
      'MESSAGE(body)': body,
      'MESSAGE(from)': `"${display}" <sip:${from}@pbx.example>`,
      'MESSAGE(to)': `pjsip:${to}@pbx.example`,
      WEBSMS_INDEX: '',
    },
  });
}
