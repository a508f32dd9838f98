// Texts back to the sender's phone about their outbound texts. A notice is an
// inbound text like any other (same store, same AMI delivery path), from the
// number the original went to, so it lands in that conversation on the phone.

import { splitForDelivery } from '../asterisk/encode.js';
import type { NotifyMode } from '../config/types.js';
import type { Logger } from '../log.js';
import type { InboundStore } from '../store/inbound.js';
import type { OutboundRow, OutboundStore } from '../store/outbound.js';

export type NoticeState = 'sent' | 'delivered' | 'failed' | 'expired';

export interface Notifier {
  notify(row: OutboundRow, state: NoticeState, reason: string | null): void;
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
    notify(row, state, reason) {
      if (mode === 'none') return;
      if (mode === 'failures' && state !== 'failed' && state !== 'expired') return;
      if (row.notified === state) return;
      const body = noticeText(row, state, reason);
      deps.inbound
        .enqueue({
          interface: row.origin,
          // One notice per text and outcome, however often this is called.
          providerId: `websms-notice:${row.id}:${state}`,
          sender: row.recipient,
          recipient: row.sender,
          body,
          parts: splitForDelivery(body, deps.partBytes).length,
        })
        .then(
          () => {
            deps.outbound.markNotified(row.id, state);
            log.info({ id: row.id, to: row.sender, state }, 'notice to the sender queued');
            deps.onQueued();
          },
          (err: Error) => log.error({ id: row.id, err }, 'could not queue a notice to the sender'),
        );
    },
  };
}
