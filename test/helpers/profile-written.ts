// Named-profile test helpers: an interface loaded by the real configuration
// loader from what a user writes (the loader adds the profile's defaults),
// webhook requests as the listener hands them to a profile (raw bytes,
// lower-case headers, merged fields), and a phone's hand-off over FastAGI.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import type { WebhookRequest } from '../../providers/types.js';
import { loadConfig } from '../../src/config/load.js';
import type { InterfaceConfig } from '../../src/config/types.js';
import { runAgi, type AgiRun } from '../doubles/agi-client.js';
import type { Stack } from './stack.js';
import { tempDir } from './tmp.js';

/** A value as an ini line takes it: ';' starts a comment unless escaped. */
function iniValue(v: string): string {
  return v.replace(/;/g, '\\;');
}

/** The lines of an interface section: what the user wrote; the loader adds the profile's defaults. */
function sectionLines(written: Record<string, string>): string {
  return Object.entries(written)
    .map(([k, v]) => `${k} = ${iniValue(v)}`)
    .join('\n');
}

/**
 * The interface [gw] of a configuration in which the user wrote `written`
 * (plus any raw `lines`) for `provider`, loaded by the real loader, which
 * fills in the profile's defaults.
 */
export function profileInterface(provider: string, written: Record<string, string>, lines = ''): InterfaceConfig {
  const dir = tempDir();
  const file = path.join(dir, 'websms.conf');
  fs.writeFileSync(file, `[general]\ncountry_code = 1\ndefault_interface = gw\n\n${profileSection('gw', provider, written, lines)}`);
  return loadConfig({ file, env: {}, explicit: true }).interfaces.find((i) => i.name === 'gw')!;
}

/** A whole configuration text (a documented example) loaded as it is written. */
export function loadExample(text: string): InterfaceConfig[] {
  const file = path.join(tempDir(), 'websms.conf');
  fs.writeFileSync(file, text);
  return loadConfig({ file, env: {}, explicit: true }).interfaces;
}

export interface WebhookInput {
  method?: 'GET' | 'POST';
  /** The URL the provider called (with its query string). */
  url: string;
  headers?: Record<string, string>;
  body?: string;
  contentType?: string;
  /** Which of the interface's URLs was called. */
  route?: 'text' | 'status';
}

/** A webhook request as the listener builds it: query and body fields merged, the body winning. */
export function webhookRequest(o: WebhookInput): WebhookRequest {
  const method = o.method ?? (o.body === undefined ? 'GET' : 'POST');
  const rawBody = Buffer.from(o.body ?? '', 'utf8');
  const contentType = (o.contentType ?? (o.body === undefined ? '' : 'application/x-www-form-urlencoded')).split(';')[0]!.trim().toLowerCase();
  const fields: Record<string, unknown> = {};
  const q = o.url.indexOf('?');
  if (q >= 0) for (const [k, v] of new URLSearchParams(o.url.slice(q + 1))) fields[k] = v;
  if (contentType === 'application/x-www-form-urlencoded') {
    for (const [k, v] of new URLSearchParams(rawBody.toString('utf8'))) fields[k] = v;
  } else if (contentType === 'application/json' || contentType.endsWith('+json')) {
    const parsed = JSON.parse(rawBody.toString('utf8')) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) Object.assign(fields, parsed);
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.headers ?? {})) headers[k.toLowerCase()] = v;
  if (contentType !== '') headers['content-type'] ??= o.contentType!;
  return { method, url: o.url, headers, rawBody, contentType, fields, ...(o.route ? { route: o.route } : {}) };
}

/** An interface section for a whole configuration file: what the user writes, and any raw extra lines. */
export function profileSection(name: string, provider: string, written: Record<string, string>, lines = ''): string {
  return `[${name}]\nprovider = ${provider}\n${sectionLines(written)}\n${lines}\n`;
}

export interface OutboundRow {
  id: number;
  state: string;
  interface: string;
  provider_id: string | null;
  reason: string | null;
  attempts: number;
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

/** A phone's text handed to websms over FastAGI, as the dialplan does it. */
export function handOff(s: Stack, from: string, to: string, body: string): Promise<AgiRun> {
  return runAgi({
    port: s.daemon.agiPort,
    exten: to,
    variables: {
      'MESSAGE(body)': body,
      'MESSAGE(from)': `"Phone" <sip:${from}@pbx.example>`,
      'MESSAGE(to)': `pjsip:${to}@pbx.example`,
      WEBSMS_INDEX: '',
    },
  });
}
