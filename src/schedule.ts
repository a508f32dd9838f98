// Runs a function at times of the wall clock (every minute, minute 7 of every
// hour, 00:05 every day), in the host's time zone.
//
// Why not node-cron: it formats every date with Intl.DateTimeFormat, which
// pages about 5 MB of ICU data out of Node's binary into the daemon's resident
// memory; three fixed schedules need none of it.

/** When the job runs next, strictly after `now` (ms since epoch). */
export type NextRun = (now: number) => number;

/** At second 0 of every minute. */
export const everyMinute: NextRun = (now) => Math.floor(now / 60_000) * 60_000 + 60_000;

/** At minute `minute` of every hour of the local clock. */
export function everyHourAt(minute: number): NextRun {
  return (now) => {
    const d = new Date(now);
    d.setMinutes(minute, 0, 0);
    const t = d.getTime();
    return t > now ? t : t + 3_600_000;
  };
}

/** At hour:minute of every day, local time; on a day the clock skips that time, at the moment it skips to. */
export function everyDayAt(hour: number, minute: number): NextRun {
  return (now) => {
    const d = new Date(now);
    d.setHours(hour, minute, 0, 0);
    if (d.getTime() <= now) {
      d.setDate(d.getDate() + 1);
      d.setHours(hour, minute, 0, 0);
    }
    return d.getTime();
  };
}

/**
 * A timer is armed for at most this long: after a suspend or a clock change
 * the next run is worked out again from the clock, not from a stale delay.
 */
const MAX_SLEEP_MS = 60_000;

export interface Scheduled {
  stop(): void;
}

/** Calls run(now) at each time next() gives; the timer does not keep the process alive. */
export function schedule(next: NextRun, run: (now: number) => void, clock: () => number = Date.now): Scheduled {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let due = next(clock());
  const arm = (): void => {
    if (stopped) return;
    const t = clock();
    if (t >= due) {
      due = next(t);
      run(t);
      if (stopped) return;
    }
    timer = setTimeout(arm, Math.min(Math.max(due - clock(), 0), MAX_SLEEP_MS));
    timer.unref();
  };
  arm();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
