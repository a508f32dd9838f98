// Helpers for the named provider profiles' tests: an interface loaded from a
// websms.conf section with the profile's defaults, and webhook requests as the
// listener hands them to an adapter.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { adapterFor } from '../../providers/index.js';
import type { WebhookRequest } from '../../providers/types.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config, InterfaceConfig } from '../../src/config/types.js';
import { runAgi } from '../doubles/agi-client.js';
import { startStack, type Stack } from './stack.js';
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
 * websms.conf text in which every interface section with a named provider has
 * the profile's defaults(written) for the keys it does not write, as the
 * loader does once it applies profiles (branch core); the user's keys win.
 * Secrets given in the environment (WEBSMS_<SECTION>_<KEY>) count as written.
 */
export function expandProfiles(text: string, env: NodeJS.ProcessEnv = {}): string {
  const sections = text.split(/^(?=\s*\[)/m);
  return sections
    .map((s) => {
      const head = /^\s*\[([^\]]+)\]/.exec(s);
      if (!head) return s;
      const written = keysOf(s.slice(head[0].length));
      const provider = written['provider'];
      if (!provider || provider === 'generic') return s;
      const prefix = `WEBSMS_${head[1]!.toUpperCase().replace(/-/g, '_')}_`;
      const fromEnv = Object.fromEntries(
        Object.entries(env).flatMap(([k, v]) => (k.startsWith(prefix) && v !== undefined ? [[k.slice(prefix.length).toLowerCase(), v]] : [])),
      );
      const defaults = adapterFor(provider).defaults?.({ ...fromEnv, ...written }) ?? {};
      const extra = Object.entries(defaults)
        .filter(([k]) => !(k in written) && !(k in fromEnv))
        .map(([k, v]) => `${k} = ${v}`)
        .join('\n');
      return `${s.replace(/\s*$/, '')}\n${extra}\n\n`;
    })
    .join('');
}

/** Loads websms.conf text with the profiles' defaults (expandProfiles). */
export function loadWithProfiles(text: string, env: NodeJS.ProcessEnv = {}): Config {
  const file = path.join(tempDir('websms-profile-'), 'websms.conf');
  fs.writeFileSync(file, expandProfiles(text, env));
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

// ---- a whole daemon with a profile interface ----------------------------------

export interface OutRow {
  id: number;
  state: string;
  provider_id: string | null;
  reason: string | null;
  recipient: string;
  body: string;
}

/** The outbound table straight from the file. */
export function outRows(dir: string): OutRow[] {
  const db = new Database(path.join(dir, 'var', 'websms.db'), { readonly: true });
  try {
    return db.prepare('SELECT * FROM outbound ORDER BY id').all() as OutRow[];
  } finally {
    db.close();
  }
}

/** A PBX user (an AMI double endpoint) that receives texts and sends them. */
export const ALICE = '+46812345678';

/**
 * A daemon (test/helpers/stack.ts) whose only interface is `section` with its
 * profile's defaults, sending at once (no rate limits), as the default
 * interface for hand-offs; ALICE is a registered endpoint.
 */
export async function profileStack(t: { teardown(fn: () => Promise<void>): void }, section: string): Promise<Stack> {
  const name = /^\s*\[([^\]]+)\]/.exec(section)![1]!;
  const s = await startStack({
    interfaces: expandProfiles(`${section.replace(/\s*$/, '')}\nrate = 0\nrate_per_number = 0\n`),
    general: `default_interface = ${name}`,
    outbound: 'retry_min = 50ms\nretry_max = 100ms\nmax_attempts = 3',
  });
  t.teardown(() => s.stop());
  s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  return s;
}

/** A text handed off by the dialplan (FastAGI) from ALICE to `to`. */
export function handOff(s: Stack, body: string, to: string): ReturnType<typeof runAgi> {
  return runAgi({
    port: s.daemon.agiPort,
    exten: to,
    variables: {
      'MESSAGE(body)': body,
      'MESSAGE(from)': `"Alice" <sip:${ALICE}@pbx.example>`,
      'MESSAGE(to)': `pjsip:${to}@pbx.example`,
      WEBSMS_INDEX: '',
    },
  });
}
