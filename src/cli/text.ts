// The words the CLI uses about a text. A text is the management API's JSON
// (TextJson in src/store/texts.ts), whether it came from the daemon or was read
// from the database by the store's own functions.

import type { TextJson } from '../store/texts.js';

export const ID_RULE = 'a text id is in-N (a text from an ITSP) or out-N (a text to one), as listed by websms queue or websms history';

/** What can be done about a text in this state, as a command line. */
export function nextStep(t: Pick<TextJson, 'id' | 'state' | 'direction'>): string {
  switch (t.state) {
    case 'queued':
    case 'waiting':
      return `it will be ${t.direction === 'in' ? 'delivered' : 'sent'} by the daemon; to stop it: websms cancel ${t.id}`;
    case 'sending':
      return `it is being ${t.direction === 'in' ? 'delivered' : 'sent'} right now; look again with: websms status ${t.id}`;
    case 'failed':
    case 'expired':
    case 'undeliverable':
    case 'cancelled':
      return `to try it again: websms retry ${t.id}`;
    default:
      return t.direction === 'out' && t.state === 'sent'
        ? 'the ITSP took it; a delivery report may still come'
        : 'nothing left to do';
  }
}

/** "2024-05-01 14:03:05" in local time: what a person reads in a table. */
export function localTime(iso: string | null): string {
  if (iso === null) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
