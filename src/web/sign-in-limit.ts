// How often the web page's password may be tried: a few attempts per client
// address, and a ceiling over all addresses (a reverse proxy makes every
// client 127.0.0.1 unless it is in [general] trusted_proxies, and someone
// guessing from many addresses meets the ceiling). Attempts are counted when
// they start, before the password is hashed, so guessing cannot burn the CPU
// either. A sign-in that succeeds clears its address.

export interface SignInLimit {
  /** Takes one attempt, or says how long to wait (ms). */
  take(address: string, now: number): { ok: true } | { ok: false; retryAfterMs: number };
  succeeded(address: string): void;
}

export interface SignInLimitOptions {
  perAddress: number;
  overall: number;
  windowMs: number;
}

export const SIGN_IN_LIMIT: SignInLimitOptions = { perAddress: 5, overall: 30, windowMs: 15 * 60_000 };

export function createSignInLimit(o: SignInLimitOptions = SIGN_IN_LIMIT): SignInLimit {
  const byAddress = new Map<string, number[]>();
  let all: number[] = [];
  const recent = (times: number[], now: number): number[] => times.filter((t) => t > now - o.windowMs);
  const waitFor = (times: number[], now: number): number => times[0]! + o.windowMs - now;

  return {
    take(address, now) {
      all = recent(all, now);
      const mine = recent(byAddress.get(address) ?? [], now);
      if (mine.length >= o.perAddress) return { ok: false, retryAfterMs: waitFor(mine, now) };
      if (all.length >= o.overall) return { ok: false, retryAfterMs: waitFor(all, now) };
      mine.push(now);
      all.push(now);
      byAddress.set(address, mine);
      // Addresses that stopped trying are forgotten, so the map cannot grow without bound.
      if (byAddress.size > 1000) for (const [a, t] of byAddress) if (recent(t, now).length === 0) byAddress.delete(a);
      return { ok: true };
    },
    succeeded(address) {
      byAddress.delete(address);
    },
  };
}
