// Constant-time comparison of secrets and signatures, for every profile that
// checks one. Both sides are hashed first, so the comparison runs on equal
// lengths and neither the content nor the length of the expected value leaks
// through timing.

import crypto from 'node:crypto';

export function safeEqual(a: string, b: string): boolean {
  const da = crypto.createHash('sha256').update(a, 'utf8').digest();
  const db = crypto.createHash('sha256').update(b, 'utf8').digest();
  return crypto.timingSafeEqual(da, db);
}
