// Helpers for the named provider profiles' tests: an interface loaded from a
// websms.conf section with the profile's defaults, and webhook requests as the
// listener hands them to an adapter.

import fs from 'node:fs';
import path from 'node:path';
import { adapterFor } from '../../providers/index.js';
import type { WebhookRequest } from '../../providers/types.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config, InterfaceConfig } from '../../src/config/types.js';
import { tempDir } from './tmp.js';

/** The key = value lines of an ini section body (no continuation, no templates: what the examples use). */
function keysOf(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of body.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=>?\s*(.*?)\s*$/.exec(line.replace(/;.*$/, ''));
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * Loads websms.conf text. Every interface section with a named provider gets
 * the profile's defaults(written) for the keys it does not write, as the
 * loader does once it applies profiles (branch core); the user's keys win.
 */
export function loadWithProfiles(text: string, env: NodeJS.ProcessEnv = {}): Config {
  const sections = text.split(/^(?=\s*\[)/m);
  const out = sections.map((s) => {
    const head = /^\s*\[([^\]]+)\]/.exec(s);
    if (!head) return s;
    const written = keysOf(s.slice(head[0].length));
    const provider = written['provider'];
    if (!provider || provider === 'generic') return s;
    const env1 = Object.fromEntries(
      Object.entries(env).flatMap(([k, v]) => {
        const m = new RegExp(`^WEBSMS_${head[1]!.toUpperCase().replace(/-/g, '_')}_([A-Z_]+)$`).exec(k);
        return m && v !== undefined ? [[m[1]!.toLowerCase(), v]] : [];
      }),
    );
    const defaults = adapterFor(provider).defaults?.({ ...env1, ...written }) ?? {};
    const extra = Object.entries(defaults)
      .filter(([k]) => !(k in written) && !(k in env1))
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n');
    return `${s.replace(/\s*$/, '')}\n${extra}\n\n`;
  });
  const file = path.join(tempDir('websms-profile-'), 'websms.conf');
  fs.writeFileSync(file, out.join(''));
  return loadConfig({ file, env, explicit: true });
}

/** The one interface of websms.conf text that has a named provider. */
export function profileInterface(text: string, env: NodeJS.ProcessEnv = {}): InterfaceConfig {
  const found = loadWithProfiles(text, env).interfaces.find((i) => i.provider !== 'generic');
  if (!found) throw new Error('no interface with a named provider in the configuration');
  return found;
}

/** A webhook request as the listener hands it to an adapter: JSON body, lower-case headers. */
export function jsonWebhook(url: string, body: string | Buffer, headers: Record<string, string> = {}): WebhookRequest {
  const rawBody = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  let fields: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(rawBody.toString('utf8')) as unknown;
    if (parsed !== null && typeof parsed === 'object') fields = parsed as Record<string, unknown>;
  } catch {
    // not JSON: no fields
  }
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method: 'POST', url, headers: { 'content-type': 'application/json', ...lower }, rawBody, contentType: 'application/json', fields };
}
