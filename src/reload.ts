// What a reload (SIGHUP, systemctl reload) can change in a running websms,
// and what only a restart can: the listeners are bound, the database is
// open and the AMI session is logged in, so their settings keep their old
// values until the next start. Everything else (interfaces, credentials,
// limits, retries, the log level) applies at once.

import type { Config } from './config/types.js';

/** Settings, as `[section] key`, that a running websms cannot take over. */
const RESTART_ONLY: Record<'general' | 'ami' | 'agi' | 'api' | 'media' | 'email', string[]> = {
  general: ['listenHost', 'listenPort', 'database', 'logFormat'],
  ami: ['host', 'port', 'username', 'secret', 'actionTimeoutMs', 'pingIntervalMs', 'reconnectMinMs', 'reconnectMaxMs'],
  agi: ['listenHost', 'listenPort', 'allow', 'handoffTimeoutMs'],
  api: ['listenHost', 'listenPort', 'token'],
  // Files already fetched stay where they are; a new directory waits for a restart.
  media: ['directory'],
  // The reply listener is bound; the rest of [email] (the SMTP server, the mailbox, who gets what) applies at once.
  email: ['replyListen'],
};

export interface ReloadPlan {
  /** The new configuration with every restart-only setting kept as it runs now. */
  merged: Config;
  /** What changes now, as `[section] key` or `[interface]`. */
  applied: string[];
  /** What changed in the file but waits for a restart. */
  needRestart: string[];
}

/** camelCase field back to the ini key people wrote: retryMinMs -> retry_min, listenHost -> listen. */
function keyName(field: string): string {
  if (field === 'listenHost' || field === 'listenPort') return 'listen';
  if (field === 'retentionMs') return 'retention';
  if (field === 'maxBytes') return 'max_size';
  if (field === 'users') return 'user';
  if (field === 'attachMaxBytes') return 'attach_max';
  if (field === 'minivmFile') return 'minivm';
  if (field === 'smtp' || field === 'imap') return `${field}_*`;
  return field.replace(/Ms$/, '').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export function reloadPlan(now: Config, next: Config): ReloadPlan {
  const applied = new Set<string>();
  const needRestart = new Set<string>();
  const merged: Config = structuredClone(next);

  for (const section of ['general', 'ami', 'agi', 'api', 'outbound', 'media', 'web', 'email'] as const) {
    const before = now[section] as unknown as Record<string, unknown>;
    const after = merged[section] as unknown as Record<string, unknown>;
    const fixed: string[] = section === 'outbound' || section === 'web' ? [] : RESTART_ONLY[section];
    for (const field of Object.keys(after)) {
      if (same(before[field], after[field])) continue;
      const name = `[${section}] ${keyName(field)}`;
      if (fixed.includes(field)) {
        needRestart.add(name);
        after[field] = before[field];
      } else applied.add(name);
    }
  }

  const old = new Map(now.interfaces.map((i) => [i.name, i]));
  for (const iface of merged.interfaces) {
    const was = old.get(iface.name);
    if (!was) applied.add(`[${iface.name}] (new)`);
    else if (!same(was, iface)) applied.add(`[${iface.name}]`);
    old.delete(iface.name);
  }
  for (const name of old.keys()) applied.add(`[${name}] (removed)`);

  return { merged, applied: [...applied], needRestart: [...needRestart] };
}
