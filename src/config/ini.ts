// A reader for the subset of Asterisk's config syntax websms.conf uses:
// [section] headers, "key = value" or "key => value", ';' comments ('\;' for a
// literal semicolon). A value in double quotes is read as PHP's ini reader
// reads it (PrivateDial's WebSMS wrote its websms.conf for PHP): the quotes go,
// ';' inside them is text, and \" \\ \$ stand for " \ $. Templates and
// #include are refused rather than half supported. Every key keeps its line so
// messages can point at it; syntax problems are collected, never thrown, so one
// run reports them all.

export interface IniEntry {
  key: string;
  value: string;
  line: number;
  /** The value was written in double quotes. */
  quoted?: boolean;
  /** For entries made from another format's keys: what they were made from, for check-config. */
  from?: string;
}

export interface IniSection {
  name: string;
  line: number;
  entries: IniEntry[];
}

export interface IniProblem {
  line: number;
  message: string;
}

export interface IniDocument {
  sections: IniSection[];
  problems: IniProblem[];
}

export function parseIni(text: string): IniDocument {
  const sections: IniSection[] = [];
  const problems: IniProblem[] = [];
  // undefined: before any header; null: after a broken header, whose keys are dropped quietly.
  let current: IniSection | null | undefined;
  let reportedOrphans = false;

  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const content = stripComment(raw).trim();
    if (content === '') return;

    if (content.startsWith('[')) {
      const m = /^\[([^\]]*)\]\s*(.*)$/.exec(content);
      if (!m) {
        problems.push({ line, message: 'section header without its closing "]"' });
        current = null;
        return;
      }
      const name = m[1]!.trim();
      const rest = m[2]!;
      if (rest.startsWith('(')) problems.push({ line, message: 'templates are not supported in websms.conf' });
      else if (rest !== '') problems.push({ line, message: 'unexpected text after the section header' });
      if (name === '') {
        problems.push({ line, message: 'empty section name' });
        current = null;
        return;
      }
      current = { name, line, entries: [] };
      sections.push(current);
      return;
    }

    if (content.startsWith('#')) {
      problems.push({ line, message: '#include, #exec and other directives are not supported in websms.conf' });
      return;
    }

    // Never quote the line itself: it may be a secret written without its key.
    const eq = raw.indexOf('=');
    if (eq < 0 || commentStart(raw) < eq) {
      problems.push({ line, message: 'expected "key = value"' });
      return;
    }
    const key = raw.slice(0, eq).trim();
    let rest = raw.slice(eq + 1);
    if (rest.startsWith('>')) rest = rest.slice(1);
    rest = rest.trimStart();
    let value: string;
    let quoted = false;
    if (rest.startsWith('"')) {
      const q = readQuoted(rest);
      if (q === undefined) {
        problems.push({ line, message: 'a value that starts with a double quote needs its closing quote (write \\" for a quote inside it)' });
        return;
      }
      if (stripComment(q.after).trim() !== '') {
        problems.push({ line, message: 'unexpected text after the closing double quote' });
        return;
      }
      value = q.value;
      quoted = true;
    } else {
      value = stripComment(rest).trim();
    }
    if (key === '') {
      problems.push({ line, message: 'missing key name before "="' });
      return;
    }
    if (current === undefined) {
      if (!reportedOrphans) problems.push({ line, message: 'settings before the first [section] header' });
      reportedOrphans = true;
      return;
    }
    current?.entries.push(quoted ? { key, value, line, quoted } : { key, value, line });
  });

  return { sections, problems };
}

/** Where the first unescaped ';' is, or Infinity. */
function commentStart(line: string): number {
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\' && line[i + 1] === ';') i++;
    else if (line[i] === ';') return i;
  }
  return Infinity;
}

/**
 * A double-quoted value as PHP's ini reader takes it: \" \\ and \$ stand for
 * the character itself, any other backslash stays. Undefined without the
 * closing quote.
 */
function readQuoted(text: string): { value: string; after: string } | undefined {
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length && '"\\$'.includes(text[i + 1]!)) {
      value += text[++i];
    } else if (c === '"') {
      return { value, after: text.slice(i + 1) };
    } else {
      value += c;
    }
  }
  return undefined;
}

/** The line up to its first unescaped ';', with '\;' turned into ';'. */
function stripComment(line: string): string {
  let out = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && line[i + 1] === ';') {
      out += ';';
      i++;
    } else if (c === ';') {
      break;
    } else {
      out += c;
    }
  }
  return out;
}
