// How texts look to a person: a table for lists, a block for one text.

import { cut, table } from './table.js';
import type { TextEventJson, TextJson } from '../store/texts.js';
import { localTime, nextStep } from './text.js';

const BODY_WIDTH = 40;

export function textTable(texts: TextJson[]): string {
  return table(
    ['ID', 'STATE', 'INTERFACE', 'FROM', 'TO', 'UPDATED', 'TRIES', 'TEXT'],
    texts.map((t) => [t.id, t.state, t.interface, t.from, t.to, localTime(t.updatedAt), String(t.attempts), bodyPreview(t.body)]),
  );
}

function bodyPreview(body: string | null): string {
  return body === null ? '(removed)' : cut(body.replace(/\s+/g, ' '), BODY_WIDTH);
}

export function textBlock(t: TextJson, events: TextEventJson[]): string {
  const unit = t.direction === 'in' ? 'SIP message(s)' : 'SMS segment(s)';
  const rows: [string, string][] = [
    ['id', `${t.id} (${t.direction === 'in' ? 'from an ITSP to a phone' : 'from a phone to an ITSP'})`],
    ['state', t.reason ? `${t.state}: ${t.reason}` : t.state],
    ['interface', t.interface],
    ['from', t.from],
    ['to', t.to],
    ['created', localTime(t.createdAt)],
    ['updated', localTime(t.updatedAt)],
    ['attempts', String(t.attempts)],
    ['next attempt', localTime(t.nextAttemptAt)],
    ['parts', `${t.parts} ${unit}`],
    ['provider id', t.providerId ?? '-'],
  ];
  const lines = rows.map(([k, v]) => `${k.padEnd(13)}${v}`);
  lines.push(`${'text'.padEnd(13)}${t.body === null ? '(removed by retention)' : indent(t.body)}`);
  lines.push('');
  if (events.length === 0) lines.push('events: none yet');
  else {
    lines.push('events:');
    for (const e of events) lines.push(`  ${localTime(e.at)}  ${e.kind}${e.detail ? `: ${e.detail}` : ''}`);
  }
  lines.push('');
  lines.push(`next: ${nextStep(t)}`);
  return lines.join('\n');
}

function indent(body: string): string {
  // eslint-disable-next-line no-control-regex
  return body.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, ' ').split('\n').join(`\n${' '.repeat(13)}`);
}
