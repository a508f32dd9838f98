// Where the dialplan records that one SIP message of an inbound text reached
// the phones (AstDB, see sub_text_term in dialplan/extensions.conf and
// docs/dialplan.md "Exactly once to the phone").
//
// The record outlives websms's own state: a text handed over again after a
// crash, a lost report or an AMI disconnect is found there and not shown
// again. So its key must name one SIP message of one text for as long as the
// text can be handed over, and never a later text:
//  - <received_at ms>-<id>.<part>: the row id alone repeats when the database
//    is replaced (a new install, a restored backup) while Asterisk keeps its
//    records; together with the arrival time to the millisecond it does not.
//    Both stay the same across retries, restarts and a retry by hand.
//  - under <day>/, the UTC day the text arrived (Unix seconds of its
//    midnight): the dialplan removes a whole day at once once no text of that
//    day can be handed over any more (sub_prune_delivered).

import type { InboundRow } from '../store/inbound.js';

const DAY_MS = 86_400_000;

/** Two days past the maximum age: one for the width of a day, one for a clock difference between websms and Asterisk. */
export const RECORD_MARGIN_MS = 2 * DAY_MS;

export interface DeliveryRecordVariables {
  /** "<day>/<received_at ms>-<id>.<part>": digits, '/', '-', '.'; safe on the AMI wire. */
  WEBSMS_RECORD: string;
  /** Seconds a day's records are kept after its midnight. */
  WEBSMS_KEEP: string;
}

export function deliveryRecord(row: Pick<InboundRow, 'id' | 'received_at'>, part: number, maxAgeMs: number): DeliveryRecordVariables {
  const day = Math.floor(row.received_at / DAY_MS) * (DAY_MS / 1000);
  return {
    WEBSMS_RECORD: `${day}/${row.received_at}-${row.id}.${part}`,
    WEBSMS_KEEP: String(Math.ceil((maxAgeMs + RECORD_MARGIN_MS) / 1000)),
  };
}
