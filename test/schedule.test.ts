// The wall-clock schedules of the jobs: when each runs next, and that a
// scheduled function runs and stops running.
import test from 'ava';
import { everyDayAt, everyHourAt, everyMinute, schedule } from '../src/schedule.js';

// Local times, so that the expectations hold in any time zone the tests run in.
const at = (h: number, m: number, s = 0, day = 15): number => new Date(2026, 5, day, h, m, s).getTime();

test('every minute: the next whole minute, strictly after now', (t) => {
  t.is(everyMinute(at(12, 0, 30)), at(12, 1));
  t.is(everyMinute(at(12, 1)), at(12, 2));
  t.is(everyMinute(at(12, 1) - 1), at(12, 1));
});

test('minute 7 of every hour: later this hour, else in the next', (t) => {
  const next = everyHourAt(7);
  t.is(next(at(9, 0)), at(9, 7));
  t.is(next(at(9, 7)), at(10, 7));
  t.is(next(at(9, 59, 59)), at(10, 7));
  t.is(next(at(23, 30)), at(0, 7, 0, 16));
});

test('00:05 every day: today if still ahead, else tomorrow', (t) => {
  const next = everyDayAt(0, 5);
  t.is(next(at(0, 4, 59)), at(0, 5));
  t.is(next(at(0, 5)), at(0, 5, 0, 16));
  t.is(next(at(23, 59)), at(0, 5, 0, 16));
});

test('schedule: runs at each time given, with that time, and not after stop', async (t) => {
  const runs: number[] = [];
  const start = Date.now();
  const job = schedule((now) => now + 20, (now) => runs.push(now));
  await new Promise((r) => setTimeout(r, 200));
  job.stop();
  const seen = runs.length;
  t.true(seen >= 2, `ran ${seen} times in 200 ms at 20 ms intervals`);
  t.true(runs.every((r, i) => r >= start + 20 && (i === 0 || r >= runs[i - 1]! + 20)), 'never before its time');
  await new Promise((r) => setTimeout(r, 100));
  t.is(runs.length, seen, 'no run after stop');
});
