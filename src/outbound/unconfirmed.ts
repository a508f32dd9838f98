// Hand-offs whose QUEUED Asterisk never confirmed: the text is committed, but
// websms stopped (or the connection broke) between writing QUEUED and
// Asterisk's answer, so the dialplan may have texted the sender "not sent".
//
// Such a text is sent after all, and the sender's phone is told so first:
// committed means acknowledged as far as websms knows (Asterisk may well have
// heard QUEUED, and then the sender was told nothing and expects it to go
// out), so dropping it could lose a text the sender believes sent; sending it
// without a word would contradict a "not sent" the phone may show. The notice
// is stored before the text may be sent: a crash in between leaves it
// unconfirmed, and the next start does the same again (the notice is not
// repeated). Why this and not the other way round: docs/outbound.md.

import type { Logger } from '../log.js';
import type { HandoffMarks } from '../store/handoffs.js';
import type { OutboundRow, OutboundStore } from '../store/outbound.js';
import type { Notifier } from './notify.js';

export interface Unconfirmed {
  /** This process wrote QUEUED for the text but never heard Asterisk's answer. */
  one(id: number): Promise<void>;
  /** At start: the texts a previous process left unconfirmed. Resolves with how many. */
  leftovers(): Promise<number>;
}

export function createUnconfirmed(deps: {
  store: Pick<OutboundStore, 'get'>;
  marks: HandoffMarks;
  notifier: Notifier;
  log: Logger;
  /** The texts may be sent now. */
  onQueued: () => void;
}): Unconfirmed {
  const { log } = deps;

  const sendAfterAll = async (rows: OutboundRow[]): Promise<void> => {
    const told = await Promise.all(rows.map((r) => deps.notifier.notify(r, 'after_all', null)));
    const ready = rows.filter((_, i) => told[i]);
    for (const r of rows.filter((_, i) => !told[i])) {
      log.error({ id: r.id }, 'text held: its sender could not be told it is sent after all; it is tried again at the next start');
    }
    try {
      deps.marks.settle(ready.map((r) => r.id));
    } catch (err) {
      log.error({ err }, 'could not mark unconfirmed hand-offs for sending; they are tried again at the next start');
      return;
    }
    for (const r of ready) log.warn({ id: r.id, from: r.sender, to: r.recipient }, 'hand-off never confirmed by Asterisk; text sent after all, and its sender told so');
    if (ready.length > 0) deps.onQueued();
  };

  return {
    async one(id) {
      const row = deps.store.get(id);
      if (row && row.handoff === 'unconfirmed' && (row.state === 'queued' || row.state === 'sending')) await sendAfterAll([row]);
    },
    async leftovers() {
      const rows = deps.marks.unconfirmed();
      if (rows.length > 0) await sendAfterAll(rows);
      return rows.length;
    },
  };
}
