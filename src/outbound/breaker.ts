// Circuit breaker per interface: after N failures in a row it stops sending
// for a cool-down, then lets one probe through; the probe's outcome closes it
// again or starts a new cool-down.

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface Breaker {
  /** 0 when a request may go now; otherwise ms until the breaker lets the next probe through. */
  wait(now: number): number;
  /** Call when a request starts (a half-open breaker admits one probe at a time). */
  started(): void;
  success(): void;
  failure(now: number): void;
  /** A request that started() but was never sent: frees the probe slot. */
  abandoned(): void;
  state(now: number): BreakerState;
}

export function createBreaker(threshold: number, cooldownMs: number, onChange?: (s: BreakerState) => void): Breaker {
  let failures = 0;
  let openedAt = 0;
  let open = false;
  let probing = false;
  const state = (now: number): BreakerState => (!open ? 'closed' : now - openedAt >= cooldownMs ? 'half-open' : 'open');
  return {
    wait(now) {
      const s = state(now);
      if (s === 'closed') return 0;
      if (s === 'open') return cooldownMs - (now - openedAt);
      return probing ? cooldownMs : 0;
    },
    started() {
      if (open) probing = true;
    },
    success() {
      failures = 0;
      probing = false;
      if (open) {
        open = false;
        onChange?.('closed');
      }
    },
    abandoned() {
      probing = false;
    },
    failure(now) {
      failures++;
      probing = false;
      if (open || failures >= threshold) {
        if (!open) onChange?.('open');
        open = true;
        openedAt = now;
      }
    },
    state,
  };
}
