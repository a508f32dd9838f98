// Small readers and writers shared by the named profiles: values out of a
// provider's webhook payload, numbers in the forms providers use, the plain
// answers most of them expect, and keeping a secret out of a reason.

import type { WebhookAnswer } from './types.js';

/** A string, or a finite number as text; anything else (null, objects, booleans) is absent. */
export function textOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** A plain object (not an array), or undefined. */
export function objectOf(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** An own property of an object, never one from its prototype ("__proto__", "constructor"). */
export function own(o: Record<string, unknown> | undefined, key: string): unknown {
  return o !== undefined && Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;
}

/** E.164 with '+' to the digits alone (Zadarma, Flowroute v2.1); anything else as it is. */
export function withoutPlus(n: string): string {
  return /^\+\d+$/.test(n) ? n.slice(1) : n;
}

/**
 * International digits without '+' (12025550160) as E.164, so that websms does
 * not read them as a national number. Values with '+', short codes and names
 * are left for websms's own normalisation.
 */
export function plusInternational(n: string): string {
  const t = n.trim();
  return /^[1-9]\d{7,14}$/.test(t) ? `+${t}` : t;
}

/** An empty 200: what the providers that ignore the answer body get. */
export const EMPTY_OK: WebhookAnswer = Object.freeze({ status: 200, contentType: 'text/plain; charset=utf-8', body: '' });

/**
 * A reason with a secret taken out, raw and percent-encoded, for the profiles
 * whose secret travels where an answer could echo it (VoIP.ms puts the API
 * password in the URL). Secrets shorter than 4 characters are not searched
 * for: they would blank out ordinary words.
 */
export function withoutSecret(reason: string, secret: string): string {
  if (secret.length < 4) return reason;
  let out = reason;
  for (const form of new Set([secret, encodeURIComponent(secret), encodeURIComponent(secret).replace(/%20/g, '+')])) {
    out = out.split(form).join('(secret)');
  }
  return out;
}
