// Helpers for the named provider profiles' tests: an interface loaded from a
// websms.conf section with the profile's defaults, and webhook requests as the
// listener hands them to an adapter.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import type { WebhookRequest } from '../../providers/types.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config, InterfaceConfig } from '../../src/config/types.js';
import { runAgi } from '../doubles/agi-client.js';
import { startStack, type Stack } from './stack.js';
import { tempDir } from './tmp.js';

/** Loads websms.conf text as the daemon does: the loader applies each interface's profile defaults. */
export function loadWithProfiles(text: string, env: NodeJS.ProcessEnv = {}): Config {
  const file = path.join(tempDir('websms-profile-'), 'websms.conf');
  fs.writeFileSync(file, text);
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
