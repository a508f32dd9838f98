// Shared by the profiles that check webhook signatures: comparisons that take
// the same time whatever the inputs hold, so a forger learns nothing from how
// fast a wrong signature is refused.

import crypto from 'node:crypto';

/**
 * True when a and b are the same bytes. Both sides are hashed first so that
 * timingSafeEqual always compares equal lengths: the length of the expected
 * value is not leaked either.
 */
export function sameBytes(a: string | Buffer, b: string | Buffer): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

/** HMAC of data under key, in the given encoding. */
export function hmac(algorithm: string, key: string | Buffer, data: string | Buffer, encoding: 'hex' | 'base64' | 'base64url'): string {
  return crypto.createHmac(algorithm, key).update(data).digest(encoding);
}
