// Durations and sizes as an administrator writes them in websms.conf.
// A bare number of seconds matches what Asterisk's own config files use.

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  k: 1024,
  m: 1024 * 1024,
};

/** '30s', '500ms', '5m', '2h', '7d', or '45' (seconds) → milliseconds. Throws Error with a reason. */
export function parseDuration(input: string): number {
  const m = /^(\d+)\s*(ms|s|m|h|d)?$/i.exec(input.trim());
  const value = m ? Number(m[1]) * DURATION_UNITS[(m[2] ?? 's').toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new Error(`"${input}" is not a duration (a whole number with ms, s, m, h or d; a bare number is seconds)`);
  }
  return value;
}

/** '64k', '1m' or '65536' → bytes (k = 1024). Throws Error with a reason. */
export function parseSize(input: string): number {
  const m = /^(\d+)\s*([km]?)$/i.exec(input.trim());
  const value = m ? Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new Error(`"${input}" is not a size (a whole number of bytes, or with k or m for KiB or MiB)`);
  }
  return value;
}

/** The shortest exact way to write ms back, for the sample file and messages. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const n = DURATION_UNITS[unit]!;
    if (ms >= n && ms % n === 0) return `${ms / n}${unit}`;
  }
  return `${ms}ms`;
}

export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)}m`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024}k`;
  return String(bytes);
}
