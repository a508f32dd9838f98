// For the provider profiles' tests: an interface configured as a user would
// write it (the profile's defaults under the user's keys, loaded by the real
// loader), webhook requests as the listener hands them over, and a send through
// the real HTTP client.

import fs from 'node:fs';
import path from 'node:path';
import type { OutgoingText, ProviderAdapter, SendOutcome, WebhookRequest } from '../../providers/types.js';
import { loadConfig } from '../../src/config/load.js';
import type { InterfaceConfig } from '../../src/config/types.js';
import { createHttpClient, type HttpResult } from '../../src/outbound/http.js';
import { tempDir } from './tmp.js';

/** The ini section a user of `provider` writes; the loader adds the profile's defaults. */
export function profileSection(name: string, provider: string, written: Record<string, string>): string {
  const lines = Object.entries(written).map(([k, v]) => `${k} = ${v.replaceAll(';', '\\;')}`);
  return `[${name}]\nprovider = ${provider}\n${lines.join('\n')}\n`;
}

/** Loads a whole configuration text with the real loader. */
export function loadText(text: string, env: NodeJS.ProcessEnv = {}): ReturnType<typeof loadConfig> {
  const file = path.join(tempDir(), 'websms.conf');
  fs.writeFileSync(file, text);
  return loadConfig({ file, env, explicit: true });
}

/** One interface of `provider` with the user's keys, as the daemon would see it. */
export function profileInterface(provider: string, written: Record<string, string>, name = 'itsp'): InterfaceConfig {
  const config = loadText(profileSection(name, provider, written));
  const iface = config.interfaces.find((i) => i.name === name);
  if (!iface) throw new Error(`interface ${name} not loaded`);
  return iface;
}

/** A webhook request as the listener hands it to an adapter: query and body fields merged, body winning. */
export function webhook(o: { method?: 'GET' | 'POST'; url: string; headers?: Record<string, string>; body?: string | Buffer; contentType?: string }): WebhookRequest {
  const method = o.method ?? 'POST';
  const rawBody = Buffer.from(o.body ?? '');
  const contentType = o.contentType ?? (rawBody.length ? 'application/x-www-form-urlencoded' : '');
  const fields: Record<string, unknown> = {};
  for (const [k, v] of new URL(o.url).searchParams) fields[k] = v;
  if (rawBody.length) {
    if (contentType === 'application/json') Object.assign(fields, JSON.parse(rawBody.toString('utf8')) as object);
    else for (const [k, v] of new URLSearchParams(rawBody.toString('utf8'))) fields[k] = v;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.headers ?? {})) headers[k.toLowerCase()] = v;
  return { method, url: o.url, headers, rawBody, contentType, fields };
}

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
