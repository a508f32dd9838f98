// A reader for the subset of Asterisk's config syntax websms.conf uses:
// [section] headers, "key = value" or "key => value", ';' comments ('\;' for a
// literal semicolon). Templates and #include are refused rather than half
// supported. Every key keeps its line so messages can point at it; syntax
// problems are collected, never thrown, so one run reports them all.

export interface IniEntry {
  key: string;
  value: string;
  line: number;
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
    const eq = content.indexOf('=');
    if (eq < 0) {
      problems.push({ line, message: 'expected "key = value"' });
      return;
    }
    const key = content.slice(0, eq).trim();
    let value = content.slice(eq + 1);
    if (value.startsWith('>')) value = value.slice(1);
    value = value.trim();
    if (key === '') {
      problems.push({ line, message: 'missing key name before "="' });
      return;
    }
    if (current === undefined) {
      if (!reportedOrphans) problems.push({ line, message: 'settings before the first [section] header' });
      reportedOrphans = true;
      return;
    }
    current?.entries.push({ key, value, line });
  });

  return { sections, problems };
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
