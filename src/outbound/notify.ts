// Texts back to the sender's phone about their outbound texts. A notice is an
// inbound text like any other (same store, same AMI delivery path), from the
// number the original went to, so it lands in that conversation on the phone.

import { splitForDelivery } from '../asterisk/encode.js';
import type { NotifyMode } from '../config/types.js';
import type { Logger } from '../log.js';
import type { InboundStore } from '../store/inbound.js';
import type { OutboundRow, OutboundStore } from '../store/outbound.js';

/**
 * What the sender is told about their text. `after_all`: the dialplan may
 * have said "not sent" (websms stopped before Asterisk confirmed QUEUED), but
 * the text is in the queue and goes out (src/outbound/unconfirmed.ts).
 */
export type NoticeState = 'sent' | 'delivered' | 'failed' | 'expired' | 'after_all';

export interface Notifier {
  /**
   * Queues the notice, if `[outbound] notify` asks for it. Resolves with
   * whether a notice of this state is stored (now or earlier); never rejects
   * (a failure is logged), so callers may leave it.
   */
  notify(row: OutboundRow, state: NoticeState, reason: string | null): Promise<boolean>;
}

const EXCERPT = 40;

export function noticeText(row: Pick<OutboundRow, 'recipient' | 'body'>, state: NoticeState, reason: string | null): string {
  const chars = [...(row.body ?? '').replace(/\s+/g, ' ').trim()];
  const excerpt = chars.length > EXCERPT ? `${chars.slice(0, EXCERPT).join('')}…` : chars.join('');
  const why = reason ? `: ${reason}` : '';
  switch (state) {
    case 'failed':
      return `Not sent to ${row.recipient}: "${excerpt}"${why}`;
    case 'expired':
      return `Not sent to ${row.recipient}, gave up after retrying: "${excerpt}"${why}`;
    case 'sent':
      return `Sent to ${row.recipient}: "${excerpt}"`;
    case 'delivered':
      return `Delivered to ${row.recipient}: "${excerpt}"`;
    case 'after_all':
      return `Will be sent to ${row.recipient} after all: "${excerpt}" (the SMS gateway restarted while taking it; ignore any "not sent" about it)`;
  }
}

export function createNotifier(deps: {
  mode: NotifyMode;
  inbound: InboundStore;
  outbound: OutboundStore;
  partBytes: number;
  log: Logger;
  onQueued: () => void;
}): Notifier {
  const { mode, log } = deps;
  return {
    async notify(row, state, reason) {
      // A correction of what the dialplan said goes out whatever `notify` asks for.
      if (mode === 'none' && state !== 'after_all') return false;
      if (mode === 'failures' && state !== 'failed' && state !== 'expired' && state !== 'after_all') return false;
      if (row.notified === state) return true;
      const body = noticeText(row, state, reason);
      try {
        await deps.inbound.enqueue({
          interface: row.origin,
          // One notice per text and outcome, however often this is called.
          providerId: `websms-notice:${row.id}:${state}`,
          sender: row.recipient,
          recipient: row.sender,
          body,
          parts: splitForDelivery(body, deps.partBytes).length,
        });
        deps.outbound.markNotified(row.id, state);
      } catch (err) {
        log.error({ id: row.id, err }, 'could not queue a notice to the sender');
        return false;
      }
      log.info({ id: row.id, to: row.sender, state }, 'notice to the sender queued');
      deps.onQueued();
      return true;
    },
  };
}
