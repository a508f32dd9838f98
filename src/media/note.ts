// What a text with media says on the phone: its words, then one line per item,
// a link to it or a note that it could not be fetched.

import { extensionOf, labelOf } from './content-types.js';
import type { MediaRow } from './store.js';

/** The link to a stored item: the public base URL, its token, and an extension phones recognise. */
export function mediaLink(publicUrl: string, token: string, contentType: string): string {
  const ext = extensionOf(contentType);
  return `${publicUrl}/${token}${ext === '' ? '' : `.${ext}`}`;
}

/** What is appended to the body (with a line break before it when there are words). */
export function mediaNote(body: string, items: readonly MediaRow[], publicUrl: string): string {
  const lines = items.map((m) =>
    m.state === 'stored' && m.token !== null && m.content_type !== null && publicUrl !== ''
      ? `${labelOf(m.content_type)}: ${mediaLink(publicUrl, m.token, m.content_type)}`
      : `${labelOf(m.content_type ?? m.announced_type)}: could not be fetched`,
  );
  return (body === '' ? '' : '\n') + lines.join('\n');
}

/** One line for the text's history: what came of its media. */
export function mediaSummary(items: readonly MediaRow[]): string {
  const stored = items.filter((m) => m.state === 'stored').length;
  const missing = items.filter((m) => m.state !== 'stored');
  const why = [...new Set(missing.map((m) => m.reason ?? 'unknown reason'))].join('; ');
  return missing.length === 0 ? `${stored} of ${items.length} media fetched` : `${stored} of ${items.length} media fetched; not fetched: ${why}`;
}
