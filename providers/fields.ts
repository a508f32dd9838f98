// Reading webhook fields, JSON values and numbers the way several profiles
// need it, without trusting the shape of what a provider sent.

import { RequestError } from '../src/errors.js';

/** A field as text: strings as they are, finite numbers and booleans written out; absent, null or empty: undefined. */
export function fieldText(fields: Record<string, unknown>, name: string): string | undefined {
  const v = Object.prototype.hasOwnProperty.call(fields, name) ? fields[name] : undefined;
  if (typeof v === 'string') return v === '' ? undefined : v;
  if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) throw new RequestError(400, `field ${name} is given more than once`);
  return undefined;
}

/** A field that must be there; a 400 naming it otherwise. */
export function requiredField(fields: Record<string, unknown>, name: string): string {
  const v = fieldText(fields, name);
  if (v === undefined || v.trim() === '') throw new RequestError(400, `missing field ${name}`);
  return v;
}

/** A string, or a finite number as text; anything else (null, objects, booleans) is absent. */
export function textOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** A non-empty string, or a finite number as text; else undefined. */
export function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** A plain object (not an array, not null), else undefined. */
export function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** An array, else an empty one. */
export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
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

/**
 * A number in international digits without '+' (Vonage, Plivo) as E.164 with
 * '+'. Short codes and alphanumeric senders are left as they are: only a
 * '+' in front tells websms's normaliser that the digits are international.
 */
export function plusDigits(n: string): string {
  return /^[1-9]\d{6,14}$/.test(n) ? `+${n}` : n;
}

/**
 * The delivery-report URL to give the provider with every text, worked out
 * from the inbound webhook's public URL (…/sms/in/<name> → …/sms/status/<name>,
 * or the written status_path on the same host), with the interface's token
 * (the ${token} placeholder the loader fills in) when withToken. Undefined when
 * it cannot be worked out: the user then writes the provider's callback field
 * into send_extra.
 */
export function statusUrl(written: Readonly<Record<string, string>>, withToken: boolean): string | undefined {
  const pub = written['public_url'];
  if (!pub) return undefined;
  let url: URL;
  try {
    url = new URL(pub);
  } catch {
    return undefined;
  }
  let path = written['status_path'];
  if (!path) {
    const m = /^(.*)\/sms\/in\/([A-Za-z0-9_-]{1,32})\/?$/.exec(url.pathname);
    if (!m) return undefined;
    path = `${m[1]}/sms/status/${m[2]}`;
  }
  return `${url.origin}${path}${withToken ? '/${token}' : ''}`;
}
