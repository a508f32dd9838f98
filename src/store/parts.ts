// Texts that arrive in parts (a long SMS the ITSP delivers piece by piece and
// does not join itself): each part is committed as it arrives, so the ITSP can
// be answered; the last part to arrive joins them, in order, into one inbound
// text in the same transaction. A text whose parts never all arrive is
// delivered as it is once its first part is older than the reassembly
// timeout, with the gaps marked (flushOlderThan). Nothing lives only in
// memory: a restart between two parts loses nothing.

import type { MediaRef } from '../../providers/types.js';
import type { Db } from './db.js';
import { hashBody, type EnqueueResult, type InboundWriter } from './inbound.js';

export interface NewPart {
  interface: string;
  /** Normalised numbers, as for inbound. */
  sender: string;
  recipient: string;
  /** The provider's reference shared by the parts of one text. */
  ref: string;
  seq: number;
  total: number;
  body: string;
  providerId: string | undefined;
  media: MediaRef[];
}

export type PartResult =
  /** This part was here already (the provider sent it again). */
  | { kind: 'duplicate' }
  /** Not stored: with it the joined text would be longer than the largest text taken. */
  | { kind: 'too_long'; bytes: number }
  /** Stored; the text waits for its other parts. */
  | { kind: 'waiting'; have: number; total: number }
  /** Stored, and it was the last one: the joined text is (or was already) in inbound. */
  | { kind: 'complete'; text: EnqueueResult };

/** A text delivered without all its parts, for the log. */
export interface FlushedText {
  text: EnqueueResult;
  interface: string;
  have: number;
  total: number;
}

export interface PartsStore {
  /** Stores a part and, when it completes its text, the joined text; committed when it returns. */
  add(part: NewPart, now: number): PartResult;
  /** Texts whose first part came before the cut-off are delivered with what they have. */
  flushOlderThan(cutoff: number, now: number): FlushedText[];
  /** When the first part of the longest-waiting text arrived; undefined when none waits. */
  oldestWaiting(): number | undefined;
}

interface PartRow {
  id: number;
  interface: string;
  sender: string;
  recipient: string;
  ref: string;
  seq: number;
  total: number;
  body: string;
  provider_id: string | null;
  media: string;
  received_at: number;
}

type GroupKey = [iface: string, sender: string, recipient: string, ref: string, total: number];

export interface PartsOptions {
  /** The same writer the webhook's commits use (createInboundWriter). */
  write: InboundWriter;
  /** SIP messages a body is delivered as (splitForDelivery(body).length). */
  countParts: (body: string) => number;
  /** Parts seen again within this window after their text was joined are the provider's retries. */
  dedupWindowMs: number;
  /** The largest joined text, in UTF-8 bytes ([general] max_body_bytes). */
  maxBytes: number;
}

export function createPartsStore(db: Db, opts: PartsOptions): PartsStore {
  // A part's id in either table: the joined text carries its first part's id
  // for good, the parts their own ids for the duplicate window.
  const byProviderId = db.prepare<[string, string, string, string], { id: number }>(
    `SELECT id FROM inbound_parts WHERE interface = ? AND provider_id = ?
     UNION ALL SELECT id FROM inbound WHERE interface = ? AND provider_id = ? LIMIT 1`,
  );
  const waitingPart = db.prepare<[...GroupKey, number], { id: number; body_hash: string }>(
    `SELECT id, body_hash FROM inbound_parts
      WHERE interface = ? AND sender = ? AND recipient = ? AND ref = ? AND total = ? AND seq = ? AND text_id IS NULL`,
  );
  const joinedPart = db.prepare<[...GroupKey, number, string, number], { id: number }>(
    `SELECT id FROM inbound_parts
      WHERE interface = ? AND sender = ? AND recipient = ? AND ref = ? AND total = ? AND seq = ? AND body_hash = ?
        AND text_id IS NOT NULL AND received_at >= ? LIMIT 1`,
  );
  const insert = db.prepare(
    `INSERT INTO inbound_parts (interface, sender, recipient, ref, seq, total, body, body_hash, provider_id, media, received_at)
     VALUES (@interface, @sender, @recipient, @ref, @seq, @total, @body, @hash, @providerId, @media, @t)`,
  );
  const groupRows = db.prepare<GroupKey, PartRow>(
    `SELECT * FROM inbound_parts
      WHERE interface = ? AND sender = ? AND recipient = ? AND ref = ? AND total = ? AND text_id IS NULL ORDER BY seq`,
  );
  const markJoined = db.prepare<[number, ...GroupKey]>(
    `UPDATE inbound_parts SET text_id = ?, body = NULL, media = '[]'
      WHERE interface = ? AND sender = ? AND recipient = ? AND ref = ? AND total = ? AND text_id IS NULL`,
  );
  const forget = db.prepare<[number]>('DELETE FROM inbound_parts WHERE text_id IS NOT NULL AND received_at < ?');
  const stale = db.prepare<[number], { interface: string; sender: string; recipient: string; ref: string; total: number }>(
    `SELECT interface, sender, recipient, ref, total FROM inbound_parts WHERE text_id IS NULL
      GROUP BY interface, sender, recipient, ref, total HAVING MIN(received_at) < ?`,
  );
  const groupBytes = db.prepare<GroupKey, { n: number | null }>(
    `SELECT SUM(LENGTH(CAST(body AS BLOB))) AS n FROM inbound_parts
      WHERE interface = ? AND sender = ? AND recipient = ? AND ref = ? AND total = ? AND text_id IS NULL`,
  );
  const oldest = db.prepare<[], { t: number | null }>('SELECT MIN(received_at) AS t FROM inbound_parts WHERE text_id IS NULL');

  /** Joins the waiting parts of a text into one inbound text and marks them joined. */
  function join(key: GroupKey, now: number): { text: EnqueueResult; have: number } {
    const rows = groupRows.all(...key);
    const [iface, sender, recipient, , total] = key;
    const body = joinBodies(rows, total);
    const first = rows[0]!;
    const media = rows.flatMap((r) => JSON.parse(r.media) as MediaRef[]);
    const [text] = opts.write(
      [{
        interface: iface,
        // The first part's id names the whole text (the API's providerId); later parts are matched by their own ids here.
        providerId: first.provider_id ?? undefined,
        sender,
        recipient,
        body,
        parts: opts.countParts(body),
        ...(media.length > 0 ? { media } : {}),
      }],
      now,
    );
    markJoined.run(text!.id, ...key);
    return { text: text!, have: rows.length };
  }

  const add = db.transaction((p: NewPart, now: number): PartResult => {
    // Parts of joined texts are kept only as long as the ITSP may still send them again.
    forget.run(now - opts.dedupWindowMs);
    const key: GroupKey = [p.interface, p.sender, p.recipient, p.ref, p.total];
    const hash = hashBody(p.body);
    if (p.providerId !== undefined && byProviderId.get(p.interface, p.providerId, p.interface, p.providerId)) return { kind: 'duplicate' };
    const here = waitingPart.get(...key, p.seq);
    if (here && here.body_hash === hash) return { kind: 'duplicate' };
    // The same reference and number with other words while the first text still
    // waits: the sender's phone has reused the reference (it has only 256). The
    // older text will not get this part; it goes as it is.
    if (here) join(key, now);
    else if (joinedPart.get(...key, p.seq, hash, now - opts.dedupWindowMs)) return { kind: 'duplicate' };
    const bytes = (here ? 0 : (groupBytes.get(...key)?.n ?? 0)) + Buffer.byteLength(p.body, 'utf8');
    if (bytes > opts.maxBytes) return { kind: 'too_long', bytes };
    insert.run({
      interface: p.interface,
      sender: p.sender,
      recipient: p.recipient,
      ref: p.ref,
      seq: p.seq,
      total: p.total,
      body: p.body,
      hash,
      providerId: p.providerId ?? null,
      media: JSON.stringify(p.media),
      t: now,
    });
    const have = groupRows.all(...key).length;
    if (have < p.total) return { kind: 'waiting', have, total: p.total };
    return { kind: 'complete', text: join(key, now).text };
  });

  const flushOlderThan = db.transaction((cutoff: number, now: number): FlushedText[] =>
    stale.all(cutoff).map((g) => {
      const { text, have } = join([g.interface, g.sender, g.recipient, g.ref, g.total], now);
      return { text, interface: g.interface, have, total: g.total };
    }),
  );

  return {
    add: (p, now) => add(p, now),
    flushOlderThan: (cutoff, now) => flushOlderThan(cutoff, now),
    oldestWaiting: () => oldest.get()?.t ?? undefined,
  };
}

/**
 * The parts in order, without separators (an SMS is cut anywhere, even inside
 * a word); where parts are missing, a marker says which, so the reader knows
 * that words are gone and where.
 */
export function joinBodies(rows: ReadonlyArray<{ seq: number; body: string }>, total: number): string {
  let out = '';
  let next = 1;
  const gap = (from: number, to: number): string =>
    from === to ? `[part ${from} of ${total} missing]` : `[parts ${from}-${to} of ${total} missing]`;
  for (const r of rows) {
    if (r.seq > next) out += gap(next, r.seq - 1);
    out += r.body;
    next = r.seq + 1;
  }
  if (next <= total) out += gap(next, total);
  return out;
}
