// A point in time as a person types it on the command line: an age ("90d",
// "2h": that long ago) or a date ("2024-05-01", local midnight) or a date and
// time ("2024-05-01T14:00", local unless it names a zone).

import { UsageError } from './args.js';
import { parseDuration } from '../config/duration.js';

export function parseWhen(option: string, input: string, now = Date.now()): number {
  const s = input.trim();
  if (/^\d+\s*(ms|s|m|h|d)$/i.test(s)) return now - parseDuration(s);
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  const t = day ? new Date(Number(day[1]), Number(day[2]) - 1, Number(day[3])).getTime() : /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(s) ? Date.parse(s.replace(' ', 'T')) : NaN;
  if (!Number.isFinite(t)) {
    throw new UsageError(`${option}: "${input}" is neither an age (such as 30m, 2h, 90d) nor a date (2024-05-01, or 2024-05-01T14:00)`);
  }
  return t;
}
