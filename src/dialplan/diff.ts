// A unified diff of two texts, line by line, for `websms dialplan install` to
// show what changed in a file it will not overwrite. Files here are a few
// thousand lines at most; the common head and tail are cut off first and the
// rest compared by longest common subsequence.

export interface DiffOptions {
  /** Unchanged lines shown around each change. */
  context?: number;
}

type Op = { kind: ' ' | '-' | '+'; line: string; a: number; b: number };

// Beyond this many cells the table would cost real memory: report the middle
// as replaced wholesale instead.
const MAX_CELLS = 16_000_000;

/** `--- a` / `+++ b` and @@ hunks, as `diff -u` writes them; '' when the texts are equal. */
export function unifiedDiff(a: string, b: string, labelA: string, labelB: string, opts: DiffOptions = {}): string {
  if (a === b) return '';
  const context = opts.context ?? 3;
  const ops = edits(lines(a), lines(b));
  const out = [`--- ${labelA}`, `+++ ${labelB}`];
  let i = 0;
  while (i < ops.length) {
    if (ops[i]!.kind === ' ') {
      i++;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` lines after
    // the last change that is at most 2 × context lines further on.
    const start = Math.max(0, i - context);
    let end = i;
    for (let j = i; j < ops.length; j++) {
      if (ops[j]!.kind !== ' ') end = j;
      else if (j - end > 2 * context) break;
    }
    const stop = Math.min(ops.length, end + context + 1);
    const hunk = ops.slice(start, stop);
    const aLines = hunk.filter((o) => o.kind !== '+').length;
    const bLines = hunk.filter((o) => o.kind !== '-').length;
    const aStart = aLines === 0 ? hunk[0]!.a : hunk[0]!.a + 1;
    const bStart = bLines === 0 ? hunk[0]!.b : hunk[0]!.b + 1;
    const range = (start: number, count: number): string => (count === 1 ? `${start}` : `${start},${count}`);
    out.push(`@@ -${range(aStart, aLines)} +${range(bStart, bLines)} @@`);
    for (const o of hunk) out.push(`${o.kind}${o.line}`);
    i = stop;
  }
  return `${out.join('\n')}\n`;
}

/** Lines without their ends; a missing final newline does not add an empty line. */
function lines(s: string): string[] {
  const l = s.split('\n');
  if (l[l.length - 1] === '') l.pop();
  return l;
}

/** The edit script; a and b of each op are the 0-based positions before it in each text. */
function edits(a: string[], b: string[]): Op[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);

  const ops: Op[] = [];
  for (let k = 0; k < head; k++) ops.push({ kind: ' ', line: a[k]!, a: k, b: k });
  let ai = head;
  let bi = head;
  const push = (kind: Op['kind'], line: string): void => {
    ops.push({ kind, line, a: ai, b: bi });
    if (kind !== '+') ai++;
    if (kind !== '-') bi++;
  };

  const n = am.length;
  const m = bm.length;
  if (n * m > MAX_CELLS) {
    for (const l of am) push('-', l);
    for (const l of bm) push('+', l);
  } else {
    // lcs[i][j]: the longest common subsequence of am[i..] and bm[j..].
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] = am[i] === bm[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && am[i] === bm[j]) {
        push(' ', am[i]!);
        i++;
        j++;
      } else if (i < n && (j === m || lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!)) {
        push('-', am[i]!);
        i++;
      } else {
        push('+', bm[j]!);
        j++;
      }
    }
  }
  for (let k = 0; k < tail; k++) push(' ', a[a.length - tail + k]!);
  return ops;
}
