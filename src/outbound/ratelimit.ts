// Token buckets: ITSPs throttle per account and per sending number (a US long
// code takes about one segment per second), so a text costs one token per
// segment from both its interface's bucket and its sender's.

export interface TokenBucket {
  /** 0 when n tokens can be taken now; otherwise ms until they can. Takes nothing. */
  wait(n: number, now: number): number;
  /** Takes n tokens (after wait() said 0). */
  take(n: number, now: number): void;
  /**
   * How many one-token texts could be taken now (Infinity without a limit):
   * the sender asks the queue for no more candidates than this.
   */
  available(now: number): number;
}

/** rate: tokens per second (0: unlimited); burst: the most that can be saved up. */
export function createTokenBucket(rate: number, burst = Math.max(1, rate)): TokenBucket {
  if (rate <= 0) return { wait: () => 0, take: () => undefined, available: () => Infinity };
  let tokens = burst;
  let at = -Infinity;
  const refill = (now: number): void => {
    tokens = at === -Infinity ? burst : Math.min(burst, tokens + ((now - at) / 1000) * rate);
    at = now;
  };
  return {
    wait(n, now) {
      refill(now);
      // A text longer than the burst still goes, once the bucket is full.
      const need = Math.min(n, burst);
      if (tokens >= need) return 0;
      return Math.max(1, Math.ceil(((need - tokens) / rate) * 1000 - 1e-6));
    },
    take(n, now) {
      refill(now);
      tokens -= n;
    },
    available(now) {
      refill(now);
      return Math.max(0, Math.floor(tokens + 1e-9));
    },
  };
}
