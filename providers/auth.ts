// Authentication shared by the profiles: constant-time comparison (so a
// forger learns nothing from how fast a wrong signature is refused), HMAC,
// HTTP Basic credentials both ways, timestamps against replay, strict base64.
// Node's own crypto throughout.

import crypto from 'node:crypto';
import type { InterfaceConfig } from '../src/config/types.js';
import type { VerifyResult, WebhookRequest } from './types.js';

/** Constant-time comparison that does not leak the expected length either: both sides are hashed first. */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

/** HMAC of data (strings as UTF-8) under key, in the given encoding. */
export function hmac(algorithm: string, key: string | Buffer, data: string | Buffer, encoding: 'hex' | 'base64' | 'base64url'): string {
  return crypto.createHmac(algorithm, key).update(data).digest(encoding);
}

/** HTTP Basic (RFC 7617): user and password joined with ':' in UTF-8, base64. */
export function basicAuthorization(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
}

/** Whether an Authorization header carries exactly these HTTP Basic credentials. */
export function basicMatches(header: string | undefined, username: string, password: string): boolean {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  const given = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
  return safeEqual(given, `${username}:${password}`);
}

/** Padded standard base64 of exactly `bytes` bytes, else undefined (Buffer.from would skip bad characters silently). */
export function strictBase64(value: string, bytes?: number): Buffer | undefined {
  if (value.length === 0 || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return undefined;
  const buf = Buffer.from(value, 'base64');
  return bytes === undefined || buf.length === bytes ? buf : undefined;
}

/**
 * Why a Unix-seconds timestamp header is unusable or outside the tolerance
 * (replay protection), or undefined when it is fine. `now` in ms.
 */
export function staleTimestamp(value: string | undefined, now: number, toleranceS: number, header: string): string | undefined {
  if (value === undefined || value === '') return `no ${header} header`;
  if (!/^\d{1,12}$/.test(value)) return `${header} is not a Unix time in seconds`;
  const skew = Math.abs(Math.floor(now / 1000) - Number(value));
  return skew > toleranceS ? `${header} is ${skew}s away from now (more than ${toleranceS}s): a stale or replayed webhook, or a wrong clock` : undefined;
}

/**
 * For a provider that does not sign this webhook: the interface must have
 * HTTP Basic credentials (checked here, in constant time) or a secret URL
 * token (already checked by the listener's guard before the adapter runs).
 * Without either, anyone who can reach the URL could make up texts.
 */
export function credentialsCheck(req: WebhookRequest, iface: InterfaceConfig, what: string): VerifyResult {
  if (iface.username !== '') {
    return basicMatches(req.headers['authorization'], iface.username, iface.password)
      ? { ok: true }
      : { ok: false, reason: `wrong or missing HTTP Basic credentials (username/password of interface ${iface.name})` };
  }
  if (iface.token !== '') return { ok: true };
  return {
    ok: false,
    reason: `interface ${iface.name} has no ${what}: set username and password (the credentials you gave the provider for its callbacks) or a token`,
  };
}
