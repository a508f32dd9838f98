// A text as the management API describes it (the contract in the brief), and
// the words the CLI uses for it. The CLI reads texts from the API, or straight
// from the database when the daemon is not running; both end up as this.

export type Direction = 'in' | 'out';

export interface Text {
  id: string;
  direction: Direction;
  interface: string;
  from: string;
  to: string;
  /** null once removed by retention. */
  body: string | null;
  state: string;
  reason: string | null;
  attempts: number;
  parts: number;
  providerId: string | null;
  createdAt: string;
  updatedAt: string;
  nextAttemptAt: string | null;
}

export interface TextEvent {
  at: string;
  kind: string;
  detail: string | null;
}

export const STATES: Record<Direction, readonly string[]> = {
  in: ['queued', 'sending', 'waiting', 'delivered', 'undeliverable', 'expired', 'cancelled'],
  out: ['queued', 'sending', 'sent', 'delivered', 'failed', 'expired', 'cancelled'],
};

/** Not done yet: what `websms queue` shows. */
export const PENDING: Record<Direction, readonly string[]> = {
  in: ['queued', 'sending', 'waiting'],
  out: ['queued', 'sending'],
};

const ID = /^(in|out)-([1-9]\d{0,15})$/;

export function parseId(id: string): { direction: Direction; n: number } | undefined {
  const m = ID.exec(id);
  return m ? { direction: m[1] as Direction, n: Number(m[2]) } : undefined;
}

export const ID_RULE = 'a text id is in-N (a text from an ITSP) or out-N (a text to one), as listed by websms queue or websms history';

/** What can be done about a text in this state, as a command line. */
export function nextStep(t: Pick<Text, 'id' | 'state' | 'direction'>): string {
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
