// Plain text tables for people: columns padded to the widest cell, the last
// column left to run on. Cells are cleaned of control characters first, so a
// text body cannot move the cursor or fake a line.

export function table(head: string[], rows: string[][]): string {
  const cells = [head, ...rows.map((r) => r.map(clean))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

/** Control characters and newlines as spaces; the rest as it is. */
export function clean(s: string): string {
  return s.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ');
}

/** At most n characters, with "…" when cut. */
export function cut(s: string, n: number): string {
  const chars = Array.from(s);
  return chars.length <= n ? s : `${chars.slice(0, n - 1).join('')}…`;
}
