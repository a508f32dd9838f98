// The e-mails websms writes about texts: one that no phone took, a copy, a
// failure notice. Each carries a fresh token in its Message-ID (and, if asked,
// in its Reply-To), kept with the conversation it is about, so that a reply
// can be mapped back to it; each refers to the earlier e-mails of the same
// conversation, so mail programs show them as one thread. Pure functions.

import crypto from 'node:crypto';
import path from 'node:path';
import type { EmailConfig } from '../config/types.js';
import { extensionOf, labelOf } from '../media/content-types.js';
import type { MediaRow } from '../media/store.js';
import type { InboundRow } from '../store/inbound.js';
import type { OutboundRow } from '../store/outbound.js';
import type { EmailAttachment, NewEmail } from './message.js';
import { textRef, type NewThread, type ThreadRow } from './store.js';

export interface ComposeContext {
  email: EmailConfig;
  /** Where the media files are ([media] directory). */
  mediaDir: string;
  /** Replies are read (a mailbox or the listener): the e-mail says how to answer. */
  repliesOn: boolean;
  /** Message-IDs of the earlier e-mails of this conversation to this address, oldest first. */
  previous: string[];
  /** A fresh token; tests pass their own. */
  token?: string;
}

export interface TextEmail {
  email: NewEmail;
  thread: NewThread;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** 128 random bits as 26 base32 letters: safe in a Message-ID and in an address's local part, in any case. */
export function newToken(): string {
  const bytes = crypto.randomBytes(17);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5 && out.length < 26) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** The token of one of our Message-IDs, if it is one: <token.websms@domain>. */
export function tokenOfMessageId(id: string): string | undefined {
  return /^<?([a-z2-7]{26})\.websms@[^>\s]+>?$/i.exec(id.trim())?.[1]?.toLowerCase();
}

/** The token of a Reply-To subaddress: local+token@domain. */
export function tokenOfAddress(address: string): string | undefined {
  return /\+([a-z2-7]{26})@/i.exec(address)?.[1]?.toLowerCase();
}

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1);

function when(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function minutes(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} day(s)`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} hour(s)`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} minute(s)`;
  return `${Math.round(ms / 1000)} second(s)`;
}

/** The stored pictures of a text as attachments, when they fit in attach_max together; else none (the links are in the text). */
export function pictureAttachments(items: readonly MediaRow[], mediaDir: string, maxBytes: number): EmailAttachment[] {
  const stored = items.filter((m) => m.state === 'stored' && m.file !== null && m.content_type !== null);
  const total = stored.reduce((n, m) => n + (m.size ?? 0), 0);
  if (stored.length === 0 || total > maxBytes) return [];
  return stored.map((m) => {
    const ext = extensionOf(m.content_type!);
    return {
      filename: `${labelOf(m.content_type).toLowerCase()}-${m.seq}${ext === '' ? '' : `.${ext}`}`,
      contentType: m.content_type!,
      path: path.join(mediaDir, m.file!),
    };
  });
}

function envelope(ctx: ComposeContext, to: string, thread: Omit<NewThread, 'token' | 'message_id' | 'address'>): { token: string; headers: NewEmail['headers']; thread: NewThread } {
  const e = ctx.email;
  const token = ctx.token ?? newToken();
  const messageId = `${token}.websms@${domainOf(e.from)}`;
  const replyBase = e.replyTo !== '' ? e.replyTo : e.from;
  const at = replyBase.lastIndexOf('@');
  const replyTo = e.replySubaddress ? `${replyBase.slice(0, at)}+${token}@${replyBase.slice(at + 1)}` : e.replyTo !== '' ? e.replyTo : undefined;
  const last = ctx.previous[ctx.previous.length - 1];
  return {
    token,
    headers: {
      messageId: `<${messageId}>`,
      ...(last === undefined ? {} : { inReplyTo: `<${last}>`, references: ctx.previous.map((m) => `<${m}>`).join(' ') }),
      ...(replyTo === undefined ? {} : { replyTo }),
    },
    thread: { ...thread, token, message_id: messageId, address: to },
  };
}

function replyLine(ctx: ComposeContext, remote: string): string {
  return ctx.repliesOn
    ? `Reply to this e-mail to text ${remote} (only your own words go; the quoted message and your signature are left out).`
    : 'Replies to this e-mail are not read.';
}

const bodyOf = (row: { body: string | null }): string => row.body ?? '(the words of this text are no longer kept)';

/** A text to the user that no phone has taken (still waiting, or given up by the dialplan). */
export function unreachedEmail(row: InboundRow, to: string, media: readonly MediaRow[], ctx: ComposeContext): TextEmail {
  const env = envelope(ctx, to, { number: row.recipient, remote: row.sender, interface: row.interface });
  const finished = row.state === 'undeliverable' || row.state === 'expired';
  const why = finished
    ? `Your phones could not take this text${row.reason ? ` (${row.reason})` : ''}; it will not reach them.`
    : `No phone has taken this text for ${minutes(ctx.email.unreachedAfterMs)}${row.reason ? ` (${row.reason})` : ''}; it stays queued and reaches your phone when one can take it.`;
  const text = [
    `${bodyOf(row)}${row.media_note ?? ''}`,
    '',
    `-- `,
    `From ${row.sender} to your number ${row.recipient}, received ${when(row.received_at)}.`,
    why,
    replyLine(ctx, row.sender),
  ].join('\n');
  return {
    email: {
      kind: 'unreached',
      ref: textRef('in', row.id),
      to,
      subject: `Text from ${row.sender}${finished ? ' (not delivered to your phone)' : ' (not on your phone yet)'}`,
      text,
      headers: env.headers,
      attachments: pictureAttachments(media, ctx.mediaDir, ctx.email.attachMaxBytes),
    },
    thread: env.thread,
  };
}

/** A copy of a text the user received. */
export function receivedCopyEmail(row: InboundRow, to: string, media: readonly MediaRow[], ctx: ComposeContext): TextEmail {
  const env = envelope(ctx, to, { number: row.recipient, remote: row.sender, interface: row.interface });
  const text = [`${bodyOf(row)}${row.media_note ?? ''}`, '', '-- ', `From ${row.sender} to your number ${row.recipient}, received ${when(row.received_at)}.`, replyLine(ctx, row.sender)].join('\n');
  return {
    email: {
      kind: 'copy',
      ref: textRef('in', row.id),
      to,
      subject: `Text from ${row.sender}`,
      text,
      headers: env.headers,
      attachments: pictureAttachments(media, ctx.mediaDir, ctx.email.attachMaxBytes),
    },
    thread: env.thread,
  };
}

/** A copy of a text the user sent. */
export function sentCopyEmail(row: OutboundRow, to: string, ctx: ComposeContext): TextEmail {
  const env = envelope(ctx, to, { number: row.sender, remote: row.recipient, interface: row.origin });
  const text = [bodyOf(row), '', '-- ', `You texted ${row.recipient} from your number ${row.sender}, ${when(row.created_at)}.`, replyLine(ctx, row.recipient)].join('\n');
  return {
    email: { kind: 'copy', ref: textRef('out', row.id), to, subject: `Text to ${row.recipient}`, text, headers: env.headers },
    thread: env.thread,
  };
}

/** A text the user sent that finally failed or expired. */
export function failureEmail(row: OutboundRow, to: string, ctx: ComposeContext): TextEmail {
  const env = envelope(ctx, to, { number: row.sender, remote: row.recipient, interface: row.origin });
  const what = row.state === 'expired' ? 'no SMS provider took it in time' : 'it failed';
  const quoted = bodyOf(row).split('\n').map((l) => `> ${l}`).join('\n');
  const text = [
    `Your text to ${row.recipient}, written ${when(row.created_at)}, was not sent: ${what}${row.reason ? ` (${row.reason})` : ''}.`,
    '',
    quoted,
    '',
    '-- ',
    ctx.repliesOn ? `Reply to this e-mail to try again: your reply is texted to ${row.recipient}.` : 'Replies to this e-mail are not read.',
  ].join('\n');
  return {
    email: { kind: 'failure', ref: textRef('out', row.id), to, subject: `Not sent: your text to ${row.recipient}`, text, headers: env.headers },
    thread: env.thread,
  };
}

/** To the user: its reply (read from the mailbox, which has no bounce) was not texted, and why. */
export function refusedReplyEmail(thread: ThreadRow, reason: string, replyMessageId: string, email: EmailConfig): NewEmail {
  const ref = `reply-${crypto.createHash('sha256').update(replyMessageId).digest('hex').slice(0, 32)}`;
  const id = replyMessageId.startsWith('<') ? replyMessageId : `<${replyMessageId}>`;
  return {
    kind: 'refused',
    ref,
    to: thread.address,
    subject: `Not texted: your reply to ${thread.remote}`,
    text: [`Your reply was not texted to ${thread.remote}: ${reason}.`, '', 'Nothing was sent. Reply to the original e-mail again with the text to send.'].join('\n'),
    headers: {
      messageId: `<${newToken()}.notice.websms@${domainOf(email.from)}>`,
      ...(replyMessageId.startsWith('sha256:') ? {} : { inReplyTo: id, references: `<${thread.message_id}> ${id}` }),
    },
  };
}
