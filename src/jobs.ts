// The scheduled jobs (node-cron): expiry every minute, retention every hour,
// and one summary line a day. Each job is also a plain function, so tests and
// `websms` commands can run it at a chosen time without waiting for the clock.

import cron from 'node-cron';
import type { Config } from './config/types.js';
import type { Logger } from './log.js';
import { finalReason } from './outbound/failure.js';
import type { Notifier } from './outbound/notify.js';
import type { MediaRetention } from './media/retention.js';
import type { Housekeeping } from './store/housekeeping.js';
import type { InboundStore } from './store/inbound.js';
import type { OutboundStore } from './store/outbound.js';

export interface JobDeps {
  inbound: InboundStore;
  outbound: OutboundStore;
  housekeeping: Housekeeping;
  notifier: Notifier;
  /** Read at each run, so a reload's new limits apply from the next run on. */
  config: () => Config;
  log: Logger;
  /** Something became due or finished: the queues look again. */
  kick: () => void;
  /** Media past [media] retention, and stray media files, go with the hourly retention. */
  media?: MediaRetention;
  /** The bodies of e-mails done, and the reply threads, go after [general] retention too. */
  email?: { retain(cutoff: number): { emails: number; threads: number } };
  /** The recordings of voicemail e-mails done go with those bodies: before them, while the outbox still names the files. */
  voicemail?: { retain(cutoff: number): number };
}

export interface Jobs {
  expire(now: number): { inbound: number; outbound: number };
  /** Texts whose bodies were removed; with media, how many media items went (past retention, or stray files). */
  retain(now: number): { inbound: number; outbound: number; media?: number };
  summarize(now: number): void;
  stop(): Promise<void>;
}

const DAY = 86_400_000;

export function startJobs(deps: JobDeps): Jobs {
  const { inbound, outbound, housekeeping, notifier, log } = deps;

  // Expiry is also checked when a text is picked up; this catches texts that
  // wait behind an earlier one of their conversation, or for an ITSP whose
  // circuit stays open, and would otherwise never be looked at.
  const expire = (now: number): { inbound: number; outbound: number } => {
    const config = deps.config();
    const gone = inbound.expireOlderThan(now - config.ami.maxAgeMs, now);
    for (const r of gone) log.warn({ id: r.id, to: r.recipient }, 'inbound text expired: not delivered within [ami] max_age');
    const stale = housekeeping.outboundPastAge(now - config.outbound.maxAgeMs);
    for (const row of stale) {
      const reason = finalReason('expired');
      outbound.fail(row.id, 'expired', reason, now, 'no ITSP accepted it within [outbound] max_age');
      const fresh = outbound.get(row.id);
      if (fresh?.state === 'expired') {
        notifier.notify(fresh, 'expired', reason);
        log.warn({ id: row.id, to: row.recipient }, 'outbound text expired: not sent within [outbound] max_age');
      }
    }
    if (gone.length + stale.length > 0) deps.kick();
    return { inbound: gone.length, outbound: stale.length };
  };

  const retain = (now: number): { inbound: number; outbound: number; media?: number } => {
    const config = deps.config();
    const { retentionMs } = config.general;
    const removed = housekeeping.removeBodies(now - retentionMs);
    if (removed.inbound + removed.outbound > 0) {
      log.info({ inbound: removed.inbound, outbound: removed.outbound, retentionDays: Math.round(retentionMs / DAY) }, 'retention: removed the bodies of finished texts');
    }
    const recordings = deps.voicemail?.retain(now - retentionMs) ?? 0;
    if (recordings > 0) log.info({ recordings, retentionDays: Math.round(retentionMs / DAY) }, 'retention: removed the recordings of voicemail e-mails not sent');
    // E-mails hold copies of texts: they go with them; so do the threads, and with them the replies they would map.
    const mails = deps.email?.retain(now - retentionMs);
    if (mails && mails.emails + mails.threads > 0) {
      log.info({ emails: mails.emails, threads: mails.threads, retentionDays: Math.round(retentionMs / DAY) }, 'retention: removed the bodies of e-mails sent, and old reply threads');
    }
    if (!deps.media) return removed;
    const media = deps.media.retain(now);
    if (media.removed + media.stray > 0) {
      log.info({ media: media.removed, strayFiles: media.stray, retentionDays: Math.round(config.media.retentionMs / DAY) }, 'retention: removed media past [media] retention');
    }
    return { ...removed, media: media.removed + media.stray };
  };

  const summarize = (now: number): void => {
    const s = housekeeping.summary(now - DAY, now);
    log.info(
      {
        inbound: s.inbound,
        outbound: s.outbound,
        waiting: s.waiting,
        oldestWaitingMin: s.oldestWaitingMs === null ? null : Math.round(s.oldestWaitingMs / 60_000),
      },
      'daily summary: texts that changed state in the last 24 hours, and what still waits',
    );
  };

  // A job that throws must not take the daemon down, nor stop the next run.
  const guarded = (name: string, fn: (now: number) => unknown) => () => {
    try {
      fn(Date.now());
    } catch (err) {
      log.error({ err, job: name }, `scheduled job failed: ${name}; it runs again at its next time`);
    }
  };
  const tasks = [
    cron.schedule('* * * * *', guarded('expiry', expire)),
    // Minute 7, not 0: clear of the hour's other cron jobs on a small server.
    cron.schedule('7 * * * *', guarded('retention', retain)),
    cron.schedule('5 0 * * *', guarded('summary', summarize)),
  ];

  return {
    expire,
    retain,
    summarize,
    async stop() {
      for (const t of tasks) await t.stop();
    },
  };
}
