// The wait before a retry: doubling from a minimum, capped, with jitter so that
// texts (or reconnects) that failed together do not retry together. The
// documented minimum is a floor: the jitter only ever adds to it.

/**
 * The wait before retry number `n` (1 for the first retry): drawn at random
 * between minMs × 2^(n-1) and twice that, then capped at maxMs. Never below
 * minMs, never above maxMs (minMs ≤ maxMs is the configuration's rule).
 */
export function retryDelay(n: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const floor = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(0, n - 1), 40));
  return Math.max(minMs, Math.min(maxMs, Math.round(floor * (1 + random()))));
}
