// Sign-ins to the web page: a random session id in an HTTP-only, SameSite
// cookie, and a CSRF token that every change must carry in a header (a form
// or a script on another site can send the cookie, never the header).
//
// Sessions live in memory: a restart signs everyone out, which costs one
// password entry and keeps no credential on disk. A session ends at its
// lifetime, at sign-out, or when the configured password changes.

import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const SESSION_COOKIE = 'websms_session';
/** Holds the nonce the sign-in form's CSRF token is made from (double submit, signed). */
export const SIGN_IN_COOKIE = 'websms_sign_in';
/** Beyond this, the oldest session is ended: a page left open on a few devices, not a crowd. */
const MAX_SESSIONS = 64;

export interface Session {
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

interface Entry extends Session {
  /** The password hash it was opened with: a new password ends it. */
  password: string;
}

export interface Sessions {
  /** A new session; returns the cookie value (the only copy of the id). */
  open(password: string, lifetimeMs: number, now: number): { cookie: string; session: Session };
  /** The session of this cookie, if it is still good. */
  find(cookie: string | undefined, password: string, now: number): Session | undefined;
  close(cookie: string | undefined): void;
  /** The CSRF token of the sign-in form that goes with this nonce. */
  signInToken(nonce: string): string;
  count(): number;
}

const random = (): string => crypto.randomBytes(32).toString('base64url');
/** Sessions are kept by the hash of their id: a heap dump holds no usable cookie. */
const keyOf = (cookie: string): string => crypto.createHash('sha256').update(cookie).digest('base64url');

export function createSessions(): Sessions {
  const byKey = new Map<string, Entry>();
  const signing = crypto.randomBytes(32);

  return {
    open(password, lifetimeMs, now) {
      for (const [k, e] of byKey) if (e.expiresAt <= now) byKey.delete(k);
      // A Map iterates in insertion order: the first is the oldest.
      while (byKey.size >= MAX_SESSIONS) byKey.delete(byKey.keys().next().value!);
      const cookie = random();
      const entry: Entry = { csrf: random(), createdAt: now, expiresAt: now + lifetimeMs, password };
      byKey.set(keyOf(cookie), entry);
      return { cookie, session: { csrf: entry.csrf, createdAt: entry.createdAt, expiresAt: entry.expiresAt } };
    },
    find(cookie, password, now) {
      if (cookie === undefined || !/^[A-Za-z0-9_-]{43}$/.test(cookie)) return undefined;
      const k = keyOf(cookie);
      const e = byKey.get(k);
      if (!e) return undefined;
      if (e.expiresAt <= now || e.password !== password) {
        byKey.delete(k);
        return undefined;
      }
      return { csrf: e.csrf, createdAt: e.createdAt, expiresAt: e.expiresAt };
    },
    close(cookie) {
      if (cookie !== undefined) byKey.delete(keyOf(cookie));
    },
    signInToken: (nonce) => crypto.createHmac('sha256', signing).update(nonce).digest('base64url'),
    count: () => byKey.size,
  };
}

export const newNonce = random;

/** Equal strings, in time independent of where they differ. */
export function sameToken(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const h = (s: string): Buffer => crypto.createHash('sha256').update(s, 'utf8').digest();
  return crypto.timingSafeEqual(h(a), h(b));
}

/** One cookie's value from the Cookie header. */
export function cookieOf(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Whether the browser reached us over TLS: a reverse proxy says so in
 * X-Forwarded-Proto or Forwarded. Believed from anyone: it only makes the
 * cookie stricter (Secure), which a client that lies about it only harms
 * for itself.
 */
export function overTls(req: IncomingMessage): boolean {
  const xfp = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(xfp) ? xfp[0] : xfp)?.split(',')[0]?.trim().toLowerCase();
  if (first !== undefined) return first === 'https';
  const fwd = req.headers.forwarded;
  return fwd !== undefined && /(?:^|[;,\s])proto="?https"?(?:[;,\s]|$)/i.test(fwd.split(',')[0] ?? '');
}

/**
 * Sets a cookie for the page. No Path: the browser scopes it to the page's
 * own directory, whatever prefix a reverse proxy put in front of it, and no
 * Domain: this host only.
 */
export function setCookie(res: ServerResponse, req: IncomingMessage, name: string, value: string, maxAgeMs: number): void {
  const attrs = [`${name}=${value}`, `Max-Age=${Math.max(0, Math.floor(maxAgeMs / 1000))}`, 'HttpOnly', 'SameSite=Strict'];
  if (overTls(req)) attrs.push('Secure');
  const prev = res.getHeader('set-cookie');
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)];
  res.setHeader('set-cookie', [...list, attrs.join('; ')]);
}
