// A reply to one of websms's e-mails becomes a text to the other party of the
// conversation, sent from the user's number through the same durable path as
// every other text (the checks of src/outbound/checks.ts, the outbound table,
// the sender with its retries), whether it came from the mailbox (imap.ts) or
// the loopback listener (listener.ts).
//
// Trust: websms does not check SPF or DKIM; your mail server does that before
// it delivers. A reply is taken only when (1) it answers an e-mail websms sent
// (its In-Reply-To or References name one of our Message-IDs, or it was sent
// to the Reply-To subaddress: either carries 128 random bits only the
// e-mail's recipient saw), and (2) its From is the very address that e-mail
// went to, still configured for that number. Anything else is refused and
// logged. Auto-replies (out of office) are dropped. One reply read twice is
// one text: its Message-ID is recorded in the commit that queues the text.

import crypto from 'node:crypto';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import type { Config } from '../config/types.js';
import { normalizeAddress } from '../config/schema.js';
import type { Logger } from '../log.js';
import { checkApiText } from '../outbound/checks.js';
import type { Db } from '../store/db.js';
import { createEventLog } from '../store/events.js';
import type { OutboundWriter } from '../store/outbound.js';
import { refusedReplyEmail, tokenOfAddress, tokenOfMessageId } from './compose.js';
import { replyText } from './reply-body.js';
import type { EmailStore, ThreadRow } from './store.js';

export type ReplyStatus =
  /** Queued as a text (or it was before: a duplicate). */
  | 'queued'
  | 'duplicate'
  /** An auto-reply: taken and dropped. */
  | 'ignored'
  /** Not taken: not a reply to us, not from the address, nothing to send, or a text the checks refuse. */
  | 'refused'
  /** Could not be stored now: try again later (SMTP 451, the mailbox message stays unread). */
  | 'retry';

export interface ReplyOutcome {
  status: ReplyStatus;
  /** For people: the SMTP reply text, the log, the notice e-mail. Never the body. */
  reason: string;
  /** The text it became. */
  textId?: number;
  /**
   * A refusal of a reply that is authentic (a known thread, from its
   * address): the user should hear why (a bounce, or a notice e-mail).
   */
  authentic?: boolean;
  /** Why it was refused, for metrics: a fixed set. */
  refusal?: ReplyRefusal;
}

export type ReplyRefusal = 'not_a_reply' | 'wrong_sender' | 'empty' | 'text_refused' | 'unparsable';

export interface ReplyIntake {
  /** A whole message as received (RFC 5322 bytes). */
  take(raw: Buffer, via: 'imap' | 'smtp', envelopeTo?: string[]): Promise<ReplyOutcome>;
}

/** Auto-Submitted other than "no", or the bulk/list markers vacation programs use. */
function automatic(mail: ParsedMail): boolean {
  const h = (name: string): string => String(mail.headers.get(name) ?? '').toLowerCase().trim();
  const auto = h('auto-submitted');
  if (auto !== '' && auto !== 'no') return true;
  if (['bulk', 'junk', 'list', 'auto_reply'].includes(h('precedence'))) return true;
  return mail.headers.has('x-autoreply') || mail.headers.has('x-autorespond');
}

function addresses(a: AddressObject | AddressObject[] | undefined): string[] {
  const list = a === undefined ? [] : Array.isArray(a) ? a : [a];
  return list.flatMap((o) => o.value.flatMap((v) => [v.address ?? '', ...(v.group ?? []).map((g) => g.address ?? '')])).filter((x) => x !== '');
}

/** Tokens the reply carries, most specific first: the subaddress it was sent to, then In-Reply-To, then References (newest first). */
function tokensOf(mail: ParsedMail, envelopeTo: string[]): string[] {
  const refs = mail.references === undefined ? [] : Array.isArray(mail.references) ? mail.references : mail.references.split(/\s+/);
  const found = [
    ...[...envelopeTo, ...addresses(mail.to), ...addresses(mail.cc), String(mail.headers.get('delivered-to') ?? '')].map(tokenOfAddress),
    ...(mail.inReplyTo ?? '').split(/\s+/).map(tokenOfMessageId),
    ...[...refs].reverse().map(tokenOfMessageId),
  ];
  return [...new Set(found.filter((t): t is string => t !== undefined))];
}

export function createReplyIntake(deps: {
  db: Db;
  store: EmailStore;
  write: OutboundWriter;
  config: () => Config;
  log: Logger;
  /** A text was queued: the sender looks now. */
  onQueued: () => void;
  /** An e-mail was queued (the notice of a refused reply read from the mailbox). */
  onNotice?: () => void;
  /** Counts each reply's outcome. */
  onOutcome?: (o: ReplyOutcome) => void;
  now?: () => number;
}): ReplyIntake {
  const { db, store, log } = deps;
  const now = deps.now ?? Date.now;
  const events = createEventLog(db);

  const finish = (o: ReplyOutcome, fields: Record<string, unknown>): ReplyOutcome => {
    deps.onOutcome?.(o);
    const line = { ...fields, status: o.status, reason: o.reason, ...(o.textId === undefined ? {} : { id: o.textId }) };
    if (o.status === 'refused') log.warn(line, 'e-mail reply refused');
    else if (o.status === 'retry') log.error(line, 'e-mail reply not stored; it is taken again later');
    else log.info(line, o.status === 'queued' ? 'e-mail reply queued as a text' : o.status === 'duplicate' ? 'e-mail reply seen before; nothing sent again' : 'automatic e-mail reply dropped');
    return o;
  };

  const refuse = (via: 'imap' | 'smtp', messageId: string, thread: ThreadRow | undefined, o: ReplyOutcome, fields: Record<string, unknown>): ReplyOutcome => {
    try {
      store.refuseReply({ messageId, token: thread?.token ?? null, reason: o.reason }, now());
    } catch (err) {
      log.error({ err }, 'could not record a refused e-mail reply');
    }
    // The mailbox has no bounce: a user whose own reply was refused hears why by e-mail.
    if (via === 'imap' && o.authentic && thread !== undefined) {
      try {
        const notice = refusedReplyEmail(thread, o.reason, messageId, deps.config().email);
        if (store.queue(notice, undefined, now()) !== undefined) deps.onNotice?.();
      } catch (err) {
        log.error({ err }, 'could not queue the e-mail saying why a reply was refused');
      }
    }
    return finish(o, fields);
  };

  // One transaction: the text and the record that this reply became it, or neither.
  const queueText = db.transaction((messageId: string, thread: ThreadRow, text: Parameters<OutboundWriter>[0], t: number): number | undefined => {
    if (store.replySeen(messageId)) return undefined;
    const id = deps.write(text, t);
    store.recordReplyIn({ messageId, token: thread.token, outboundId: id, outcome: 'queued', reason: null }, t);
    events.add('out', id, t, 'email_reply', `from an e-mail reply by ${thread.address}`);
    return id;
  });

  return {
    async take(raw, via, envelopeTo = []) {
      let mail: ParsedMail;
      try {
        mail = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true });
      } catch (err) {
        return finish({ status: 'refused', refusal: 'unparsable', reason: `not a readable e-mail: ${(err as Error).message.slice(0, 100)}` }, { via });
      }
      // Without a Message-ID, the bytes themselves tell one reply from another.
      const messageId = mail.messageId ?? `sha256:${crypto.createHash('sha256').update(raw).digest('hex')}`;
      const from = addresses(mail.from);
      const fields = { via, from: from[0] ?? null, messageId: messageId.slice(0, 120) };
      try {
        if (store.replySeen(messageId)) return finish({ status: 'duplicate', reason: 'this reply was taken before' }, fields);
      } catch (err) {
        return finish({ status: 'retry', reason: `the database cannot be read: ${(err as Error).message}` }, fields);
      }
      if (automatic(mail)) return refuse(via, messageId, undefined, { status: 'ignored', reason: 'an automatic reply (Auto-Submitted, Precedence or X-Autoreply): not texted' }, fields);

      const thread = tokensOf(mail, envelopeTo).map((t) => store.thread(t)).find((r) => r !== undefined);
      if (thread === undefined) {
        return refuse(via, messageId, undefined, { status: 'refused', refusal: 'not_a_reply', reason: 'not a reply to an e-mail from websms (no In-Reply-To, References or reply address websms knows)' }, fields);
      }
      const config = deps.config();
      const user = config.email.users.find((u) => u.number === thread.number);
      const sender = from.length === 1 ? normalizeAddress(from[0]!) : undefined;
      if (sender === undefined || sender.toLowerCase() !== thread.address.toLowerCase() || user?.address.toLowerCase() !== thread.address.toLowerCase()) {
        const why =
          from.length !== 1 ? `it has ${from.length} From addresses, not one`
            : user === undefined ? `${thread.number} has no e-mail address in [email] any more`
              : sender!.toLowerCase() !== thread.address.toLowerCase() ? `it is from ${from[0]}, not from ${thread.address}, the address the e-mail went to`
                : `${thread.number}'s address in [email] is now ${user.address}, not ${thread.address}`;
        return refuse(via, messageId, thread, { status: 'refused', refusal: 'wrong_sender', reason: `not texted: ${why}` }, { ...fields, number: thread.number });
      }

      const body = replyText(mail.text ?? '');
      const tFields = { ...fields, number: thread.number, to: thread.remote, attachments: mail.attachments.length };
      if (body === '') {
        return refuse(via, messageId, thread, { status: 'refused', refusal: 'empty', authentic: true, reason: 'the reply has no words of its own to text (only the quoted message or a signature)' }, tFields);
      }
      const iface = config.interfaces.find((i) => i.name === thread.interface && i.send.url !== '');
      const checked = checkApiText({ to: thread.remote, body, from: thread.number, ...(iface ? { interface: iface.name } : {}) }, config);
      if (!checked.ok) {
        return refuse(via, messageId, thread, { status: 'refused', refusal: 'text_refused', authentic: true, reason: `the reply cannot be texted to ${thread.remote}: ${checked.reason}` }, tFields);
      }
      let id: number | undefined;
      try {
        id = queueText(messageId, thread, checked.text, now());
      } catch (err) {
        return finish({ status: 'retry', reason: `the text could not be stored: ${(err as Error).message}` }, tFields);
      }
      if (id === undefined) return finish({ status: 'duplicate', reason: 'this reply was taken before' }, tFields);
      deps.onQueued();
      return finish({ status: 'queued', textId: id, reason: `queued as text out-${id} to ${thread.remote}` }, { ...tFields, segments: checked.text.segments, interface: checked.text.interface });
    },
  };
}
