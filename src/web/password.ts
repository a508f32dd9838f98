// The web page's password (or token), kept only as a scrypt hash: websms.conf
// or websms.env holds `scrypt:LN:R:P:SALT:HASH` as `websms web-password`
// prints it, never the password itself.
//
// The format has no "$" (systemd's EnvironmentFile and a shell sourcing
// websms.env would expand it) and no ";" (a comment in websms.conf).

import crypto from 'node:crypto';

/** 2^15 x 8 x 128 bytes = 32 MiB and about 100 ms per check on a small server: costly to guess, cheap to sign in. */
const DEFAULT_LN = 15;
const DEFAULT_R = 8;
const DEFAULT_P = 1;
const SALT_BYTES = 16;
const HASH_BYTES = 32;

const FORMAT = /^scrypt:(\d{1,2}):(\d{1,2}):(\d{1,2}):([A-Za-z0-9_-]{16,64}):([A-Za-z0-9_-]{32,128})$/;

export interface PasswordHash {
  ln: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** The hash's parts; a reason when it is not one (never quoting the value: it may be a password pasted by mistake). */
export function parsePasswordHash(text: string): { ok: true; value: PasswordHash } | { ok: false; reason: string } {
  const m = FORMAT.exec(text);
  if (!m) return { ok: false, reason: 'is not a password hash made by "websms web-password" (scrypt:...); the password itself is never written here' };
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return { ok: false, reason: 'has scrypt parameters out of range; make it again with "websms web-password"' };
  return { ok: true, value: { ln, r, p, salt: Buffer.from(m[4]!, 'base64url'), hash: Buffer.from(m[5]!, 'base64url') } };
}

function derive(password: string, salt: Buffer, ln: number, r: number, p: number, length: number): Promise<Buffer> {
  const N = 2 ** ln;
  return new Promise((resolve, reject) => {
    crypto.scrypt(password.normalize('NFC'), salt, length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** A new hash of the password with a random salt. */
export async function hashPassword(password: string, opts: { ln?: number } = {}): Promise<string> {
  const ln = opts.ln ?? DEFAULT_LN;
  const salt = crypto.randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, ln, DEFAULT_R, DEFAULT_P, HASH_BYTES);
  return `scrypt:${ln}:${DEFAULT_R}:${DEFAULT_P}:${salt.toString('base64url')}:${hash.toString('base64url')}`;
}

/** Whether the password is the one hashed; in time independent of where they differ. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const given = await derive(password, stored.salt, stored.ln, stored.r, stored.p, stored.hash.length);
  return crypto.timingSafeEqual(given, stored.hash);
}
