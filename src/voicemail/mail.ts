// One voicemail e-mail as MiniVM writes it (app_minivm.c, sendmail()):
// headers with bare LF line ends, a text part and the recording as a base64
// attachment. Read here to check it before it is stored, to make its To:
// proper, and to know the recording it carries.
//
// MiniVM writes `To: "<fullname>" <address>`, and for the accounts it makes
// on the fly (no section in minivm.conf, the suite's usual case) the full
// name is empty: `To: "" <bob@example.com>`. That header becomes
// `To: bob@example.com`, or `To: "Name" <address>` when there is a name.

import { createHash } from 'node:crypto';
import { VoicemailError } from './errors.js';

export interface VoicemailMail {
  /** The address from To:. */
  recipient: string;
  subject: string;
  /** The whole message with its To: made proper. */
  message: Buffer;
  /** The attached recording, decoded; undefined when the template attaches none. */
  recording?: Buffer;
}

/** The largest e-mail taken: maxmessage 180 s in wav49 is about 300 KB, base64 400 KB. */
export const MAX_MAIL_BYTES = 20 * 1024 * 1024;

const ADDRESS = /^[^\s@<>"(),;:]+@[^\s@<>"(),;:]+$/;

export function readVoicemailMail(raw: Buffer): VoicemailMail {
  if (raw.length === 0) throw new VoicemailError('empty', 'the e-mail is empty (nothing on standard input)');
  if (raw.length > MAX_MAIL_BYTES) throw new VoicemailError('too_large', `the e-mail is ${raw.length} bytes, more than ${MAX_MAIL_BYTES}`);
  const text = raw.toString('latin1'); // byte for byte: the attachment is base64, the rest is re-encoded as it was
  const end = /\r?\n\r?\n/.exec(text);
  if (!end) throw new VoicemailError('no_headers', 'no blank line after the headers: this is not an e-mail');
  const head = text.slice(0, end.index);
  const headers = unfold(head);
  const to = headers.find((h) => /^to:/i.test(h));
  if (!to) throw new VoicemailError('no_recipient', 'the e-mail has no To: header');
  const { address, name } = parseTo(to.slice(3).trim());
  if (!ADDRESS.test(address)) throw new VoicemailError('no_recipient', `To: ${JSON.stringify(to.slice(3, 100).trim())} holds no e-mail address`);
  const subject = headers.find((h) => /^subject:/i.test(h))?.slice(8).trim() ?? '';
  const properTo = name === '' ? `To: ${address}` : `To: "${name}" <${address}>`;
  // Only the To: header changes; every other byte stays as MiniVM wrote it.
  const newHead = head.replace(/^to:[^\n]*(?:\n[ \t][^\n]*)*/im, properTo);
  const message = Buffer.from(newHead + text.slice(end.index), 'latin1');
  return { recipient: address, subject, message, recording: attachment(text.slice(end.index + end[0].length)) };
}

/** The e-mail's headers alone (with the blank line that ends them): who it went to and when, without the message and recording. */
export function headersOnly(message: Buffer): Buffer {
  const end = /\r?\n\r?\n/.exec(message.toString('latin1'));
  return end ? message.subarray(0, end.index + end[0].length) : message;
}

/** Header lines, continuation lines joined. */
function unfold(head: string): string[] {
  return head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
}

function parseTo(value: string): { address: string; name: string } {
  const m = /^(?:"((?:[^"\\]|\\.)*)"|([^<]*?))\s*<([^>]*)>\s*$/.exec(value);
  if (!m) return { address: value, name: '' };
  const name = (m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1').trim();
  return { address: m[3]!.trim(), name };
}

/** The first base64 part with a Content-Disposition of attachment: MiniVM's recording. */
function attachment(body: string): Buffer | undefined {
  const boundary = /^--([^\r\n]+)\r?\n((?:[^\r\n]+\r?\n)*?)\r?\n/gm;
  for (let m = boundary.exec(body); m; m = boundary.exec(body)) {
    const partHeaders = m[2]!;
    if (!/content-disposition:\s*attachment/i.test(partHeaders) || !/content-transfer-encoding:\s*base64/i.test(partHeaders)) continue;
    const start = m.index + m[0].length;
    const next = body.indexOf(`--${m[1]!.replace(/--$/, '')}`, start);
    const encoded = body.slice(start, next < 0 ? undefined : next);
    return Buffer.from(encoded.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  }
  return undefined;
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
