// Asterisk configuration files read the way Asterisk reads them, and the
// dialplan pbx_config builds from extensions.conf. Two layers:
//
//   loadConfig     main/config.c: comments, [sections] with templates and
//                  (+), "name = value" / "name => value", #include and
//                  #tryinclude. Generic: also used for pjsip_wizard.conf.
//   buildDialplan  pbx/pbx_config.c: contexts, exten/same lines, priorities
//                  (n, s, hint, labels), include =>, switches.
//
// Every rule mirrors the Asterisk source, quirks included (they decide what a
// line really means), so that what this model says exists is what Asterisk
// would load. Problems are collected as findings, never thrown, so one run
// reports them all. The one deliberate departure: #include paths are relative
// to the including file's directory (Asterisk: to its config directory, which
// is the same thing for a flat /etc/asterisk), so a directory can be checked
// wherever it lives.

import fs from 'node:fs';
import path from 'node:path';

export interface Finding {
  /** Path relative to the checked directory, '/'-separated. */
  file: string;
  /** 1-based; 0 when the finding is about a whole file. */
  line: number;
  severity: 'error' | 'warning';
  message: string;
}

export interface SourceLocation {
  file: string;
  line: number;
}

// ---------------------------------------------------------------------------
// Configuration files (main/config.c)
// ---------------------------------------------------------------------------

export interface ConfigVariable extends SourceLocation {
  name: string;
  value: string;
  /** The category this line was copied from by inheritance ([x](tpl)). */
  inheritedFrom?: string;
}

export interface ConfigCategory extends SourceLocation {
  name: string;
  /** Declared with (!): only a base for others, never used by itself. */
  template: boolean;
  /** In file order; lines inherited from templates come first, as in Asterisk. */
  variables: ConfigVariable[];
}

export interface Config {
  categories: ConfigCategory[];
  /** Every file read, the top one first, relative to the checked directory. */
  files: string[];
  problems: Finding[];
}

/**
 * Reads `name` under `dir` with everything it #includes. A missing top file is
 * reported as a problem (line 0), not thrown.
 */
export function loadConfig(dir: string, name: string): Config {
  const root = path.resolve(dir);
  const config: Config = { categories: [], files: [], problems: [] };
  const rel = (abs: string) => path.relative(root, abs).split(path.sep).join('/');
  const report = (at: SourceLocation, severity: Finding['severity'], message: string) =>
    config.problems.push({ file: at.file, line: at.line, severity, message });
  // What Asterisk does on a broken header or a missing #include: it gives up
  // on the configuration as a whole.
  const refused = `Asterisk refuses to load ${name} at all`;

  // Asterisk's cfg->current: the category last created or appended to. A file
  // starts adding to it, but after an #include returns, the including file
  // goes on with its own category, not with the one the included file ended
  // in (config_text_file_load keeps its own "cat").
  let current: ConfigCategory | undefined;
  const open: string[] = [];

  // undefined: no category yet (a line there is an error); null: after a
  // broken header, whose lines are dropped without further noise.
  type Cat = ConfigCategory | null | undefined;

  const findCategory = (catName: string, templatesToo: boolean) =>
    config.categories.find((c) => c.name.toLowerCase() === catName.toLowerCase() && (templatesToo || !c.template));

  const header = (text: string, at: SourceLocation): Cat => {
    const close = text.indexOf(']');
    if (close < 0) {
      report(at, 'error', `section header without its closing "]": ${refused}`);
      return null;
    }
    const catName = text.slice(1, close);
    let created: ConfigCategory | undefined = { name: catName, file: at.file, line: at.line, template: false, variables: [] };
    let cat: ConfigCategory = created;
    if (text[close + 1] === '(') {
      const end = text.indexOf(')', close + 2);
      if (end < 0) {
        report(at, 'error', `[${catName}]: options without their closing ")": ${refused}`);
        return null;
      }
      for (const option of text.slice(close + 2, end).split(',')) {
        if (option === '!') {
          cat.template = true;
        } else if (option.startsWith('+')) {
          const existing = findCategory(catName, false);
          if (!existing) {
            // Kept as a new section so the rest can still be checked.
            report(at, 'error', `[${catName}](+) adds to a section not defined before this line: ${refused}`);
            continue;
          }
          if (created) {
            existing.template ||= created.template;
            existing.variables.push(...created.variables);
            created = undefined;
          }
          cat = existing;
          current = existing;
        } else {
          const base = findCategory(option, true);
          if (!base) {
            report(at, 'error', `[${catName}] inherits from ${option}, which is not defined before this line: ${refused}`);
            continue;
          }
          for (const v of base.variables) cat.variables.push({ ...v, inheritedFrom: v.inheritedFrom ?? base.name });
        }
      }
    }
    if (created) {
      config.categories.push(created);
      current = created;
    }
    return cat;
  };

  const directive = (text: string, at: SourceLocation, abs: string) => {
    const m = /^#([^\s]*)\s*(.*)$/.exec(text)!;
    const kind = m[1]!.toLowerCase();
    let arg = m[2]!.trim();
    if (kind === 'exec') {
      report(at, 'warning', '#exec is not followed by the checker: what it would add is not checked');
      return;
    }
    if (kind !== 'include' && kind !== 'tryinclude') {
      report(at, 'error', `unknown directive #${m[1]}: Asterisk ignores this line`);
      return;
    }
    if (arg === '') {
      report(at, 'error', `#${kind} without a file name: Asterisk ignores this line`);
      return;
    }
    const quote = arg[0] === '"' ? '"' : arg[0] === '<' ? '>' : undefined;
    if (quote && arg.length > 1 && arg.endsWith(quote)) arg = arg.slice(1, -1);
    const matches = expandInclude(path.resolve(path.dirname(abs), arg));
    if (matches.length === 0) {
      if (kind === 'include') report(at, 'error', `#include ${arg}: file ${rel(path.resolve(path.dirname(abs), arg))} does not exist: ${refused}`);
      return;
    }
    for (const file of matches) {
      if (open.includes(file)) report(at, 'error', `#${kind} ${arg}: ${rel(file)} includes itself`);
      else loadFile(file);
    }
  };

  const variable = (text: string, at: SourceLocation, cat: ConfigCategory) => {
    // A leading backslash lets a name start with '[', '#' or ';'.
    const escaped = text[0] === '\\';
    const body = escaped ? text.slice(1) : text;
    const eq = body.indexOf('=', escaped ? 1 : 0);
    if (eq < 0) {
      report(at, 'error', 'no "=" in this line: Asterisk ignores it');
      return;
    }
    if (eq > 0 && body[eq - 1] === '+') {
      // "name += more" appends to the last "name" of the category.
      const varName = body.slice(0, eq - 1).trim();
      const last = cat.variables.findLast((v) => v.name === varName);
      if (last) {
        last.value = (last.value + body.slice(eq + 1)).trim();
        return;
      }
      cat.variables.push({ name: varName, value: body.slice(eq + 1).trim(), ...at });
      return;
    }
    const varName = body.slice(0, eq).trim();
    let value = body.slice(eq + 1);
    if (value.startsWith('>')) value = value.slice(1);
    if (varName === '') {
      report(at, 'error', 'no name before "=": Asterisk ignores this line');
      return;
    }
    cat.variables.push({ name: varName, value: value.trim(), ...at });
  };

  function loadFile(abs: string): void {
    const file = rel(abs);
    let text: string;
    try {
      text = fs.readFileSync(abs, 'utf8');
    } catch (err) {
      report({ file, line: 0 }, 'error', `cannot read ${file}: ${(err as Error).message}`);
      return;
    }
    open.push(abs);
    config.files.push(file);
    let cat: Cat = current;
    for (const { line, text: content } of liveLines(text, file, config.problems)) {
      const at = { file, line };
      if (content[0] === '[') cat = header(content, at);
      else if (content[0] === '#') directive(content, at, abs);
      else if (cat === undefined) report(at, 'error', `line before the first [section]: ${refused}`);
      else if (cat !== null) variable(content, at, cat);
    }
    open.pop();
  }

  const top = path.join(root, name);
  if (expandInclude(top).length === 0) report({ file: name, line: 0 }, 'error', `${name} does not exist`);
  else loadFile(top);
  return config;
}

/** Files an #include names: itself if it exists, or what its last component's glob matches, sorted. */
function expandInclude(abs: string): string[] {
  const isFile = (p: string) => {
    try {
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  const base = path.basename(abs);
  if (!/[*?[]/.test(base)) return isFile(abs) ? [abs] : [];
  const re = new RegExp(
    `^${base.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.').replace(/\[!/g, '[^')}$`,
  );
  let names: string[];
  try {
    names = fs.readdirSync(path.dirname(abs));
  } catch {
    return [];
  }
  return names
    .filter((n) => re.test(n))
    .sort()
    .map((n) => path.join(path.dirname(abs), n))
    .filter(isFile);
}

/**
 * The text of each line that Asterisk processes, comments removed, trimmed,
 * empty lines left out. ';' starts a comment, '\;' is a literal ';', ";--"
 * opens a block comment (but ";---" is an ordinary comment) and "--;" closes
 * it; block comments nest and may end mid-line, the text on both sides of
 * them joining up.
 */
export function liveLines(text: string, file: string, problems: Finding[]): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const opened: number[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((raw, i) => {
    const line = i + 1;
    let live = '';
    let segment = 0; // start of the not yet copied live text
    let scan = 0; // where the search for the next ';' starts
    for (;;) {
      const k = raw.indexOf(';', scan);
      if (k < 0) {
        if (opened.length === 0) live += raw.slice(segment);
        break;
      }
      if (k > scan && raw[k - 1] === '\\') {
        if (opened.length === 0) {
          live += `${raw.slice(segment, k - 1)};`;
          segment = k + 1;
        }
        scan = k + 1;
      } else if (raw[k + 1] === '-' && raw[k + 2] === '-' && raw[k + 3] !== '-') {
        if (opened.length === 0) live += raw.slice(segment, k);
        opened.push(line);
        scan = k + 3;
      } else if (k >= scan + 2 && raw[k - 1] === '-' && raw[k - 2] === '-') {
        if (opened.length === 0) {
          // Asterisk's nesting counter goes negative here and every later
          // line of the file is skipped as a comment.
          problems.push({ file, line, severity: 'error', message: '"--;" closes a block comment that was never opened: Asterisk skips the rest of the file' });
          live += raw.slice(segment, k);
          break;
        }
        opened.pop();
        scan = k + 1;
        segment = k + 1;
      } else if (opened.length === 0) {
        live += raw.slice(segment, k);
        break;
      } else {
        scan = k + 1;
      }
    }
    const content = live.trim();
    if (content !== '') out.push({ line, text: content });
  });
  if (opened.length > 0) {
    problems.push({ file, line: opened[0]!, severity: 'error', message: 'block comment ";--" is never closed with "--;": the rest of the file is a comment' });
  }
  return out;
}

// ---------------------------------------------------------------------------
// The dialplan (pbx/pbx_config.c, main/pbx.c)
// ---------------------------------------------------------------------------

/** The priority number of "exten => x,hint,...". */
export const PRIORITY_HINT = -1;

export interface Priority extends SourceLocation {
  number: number;
  label?: string;
  /** Application name as written (for a hint: the hinted devices). */
  app: string;
  /** Application data: between the first "(" and the last ")". */
  data: string;
  inheritedFrom?: string;
}

export interface Extension extends SourceLocation {
  /** As Asterisk stores it: blanks removed, "_" for a pattern; without "/callerid". */
  name: string;
  /** Caller id match, from "exten => name/cid,...". */
  cid?: string;
  /** Equal for names Asterisk treats as the same extension (_X. and _[0-9].). */
  key: string;
  /** The name holds a ${...} that global variables do not resolve: it may match anything. */
  dynamic: boolean;
  priorities: Map<number, Priority>;
  labels: Map<string, Priority>;
}

export interface ContextInclude extends SourceLocation {
  context: string;
  /** Holds a ${...} that global variables do not resolve. */
  dynamic: boolean;
}

export interface Context {
  name: string;
  /** The sections defining it: a name may head several ([name](+) adds to the one before instead). */
  sections: SourceLocation[];
  extensions: Extension[];
  includes: ContextInclude[];
  /** switch/lswitch/eswitch lines: lookups may succeed through them. */
  switches: SourceLocation[];
}

export interface Dialplan {
  contexts: Map<string, Context>;
  globals: Map<string, string>;
  problems: Finding[];
}

/** The dialplan pbx_config would build from an extensions.conf read by loadConfig. */
export function buildDialplan(config: Config): Dialplan {
  const dp: Dialplan = { contexts: new Map(), globals: new Map(), problems: [] };

  // pbx_config sets [globals] before it reads any context, so extension names
  // and includes may use them.
  const globals = config.categories.find((c) => !c.template && c.name.toLowerCase() === 'globals');
  for (const v of globals?.variables ?? []) dp.globals.set(v.name, substituteGlobals(v.value, dp.globals).text);

  for (const cat of config.categories) {
    const lower = cat.name.toLowerCase();
    if (cat.template || lower === 'general' || lower === 'globals') continue;
    let ctx = dp.contexts.get(cat.name);
    if (!ctx) {
      ctx = { name: cat.name, sections: [], extensions: [], includes: [], switches: [] };
      dp.contexts.set(cat.name, ctx);
    }
    ctx.sections.push({ file: cat.file, line: cat.line });
    const section: Section = {
      dp,
      ctx,
      byKey: new Map(ctx.extensions.map((e) => [`${e.key}/${e.cid ?? ''}`, e])),
      lastExten: '',
      lastPri: -2,
    };
    for (const v of cat.variables) {
      const key = v.name.toLowerCase();
      if (key === 'exten' || key.startsWith('same')) extensionLine(section, v, key === 'exten');
      else if (key === 'include') includeLine(section, v);
      else if (key === 'switch' || key === 'lswitch' || key === 'eswitch') ctx.switches.push({ file: v.file, line: v.line });
      else if (key !== 'ignorepat') report(dp, v, 'error', `unknown directive ${v.name} in context ${ctx.name}${inherited(v)}: Asterisk ignores this line`);
    }
  }
  return dp;
}

/** One section of a context being read. */
interface Section {
  dp: Dialplan;
  ctx: Context;
  byKey: Map<string, Extension>;
  // "same" and "n" continue from the previous line of the section, even when
  // that line belongs to another extension.
  lastExten: string;
  lastPri: number;
}

const report = (dp: Dialplan, at: SourceLocation, severity: Finding['severity'], message: string) =>
  dp.problems.push({ file: at.file, line: at.line, severity, message });

const inherited = (v: ConfigVariable) => (v.inheritedFrom ? ` (inherited from ${v.inheritedFrom})` : '');

/** "exten => name[/cid],priority[(label)],App(data)" or "same => priority[(label)],App(data)". */
function extensionLine(section: Section, v: ConfigVariable, isExten: boolean): void {
  const { dp, ctx, byKey } = section;
  const where = inherited(v);
  let realExt = section.lastExten;
  let rest: string | undefined = v.value;
  if (isExten) {
    [realExt, rest] = splitExtension(v.value);
    section.lastExten = realExt;
  } else if (realExt === '') {
    report(dp, v, 'error', `same => without a preceding exten => in context ${ctx.name}${where}: Asterisk ignores this line`);
    return;
  }
  const slash = realExt.indexOf('/');
  const name = storedName(substituteGlobals(slash < 0 ? realExt : realExt.slice(0, slash), dp.globals).text);
  const cid = slash < 0 ? undefined : realExt.slice(slash + 1);
  const dynamic = name.includes('${') || name.includes('$[');
  const nameKey = dynamic ? name : extensionKey(name);
  const extKey = `${nameKey}/${cid ?? ''}`;

  const [priField, appField] = splitFirst(rest ?? '', ',');
  let pri = priField.trim();
  let label: string | undefined;
  const paren = pri.indexOf('(');
  if (paren >= 0) {
    const close = pri.indexOf(')', paren + 1);
    if (close < 0) {
      report(dp, v, 'error', `label without its closing ")" in "${pri}": Asterisk ignores this line`);
      return;
    }
    label = pri.slice(paren + 1, close);
    pri = pri.slice(0, paren);
  }
  let plus = 0;
  const plusAt = pri.indexOf('+');
  if (plusAt >= 0) {
    plus = parseInt(pri.slice(plusAt + 1), 10) || 0;
    pri = pri.slice(0, plusAt);
  }

  let number: number;
  if (pri === 'hint') {
    number = PRIORITY_HINT;
  } else if (pri === 'n' || pri === 'next' || pri === 's' || pri === 'same') {
    if (section.lastPri === -2) {
      report(dp, v, 'error', `priority ${pri} on the first line of context ${ctx.name}${where}: Asterisk ignores this line`);
      return;
    }
    number = pri === 'n' || pri === 'next' ? section.lastPri + 1 : section.lastPri;
  } else if (/^\s*[+-]?\d/.test(pri)) {
    number = parseInt(pri, 10);
    if (number < 1) {
      report(dp, v, 'error', `invalid priority ${pri}${where}: Asterisk ignores this line`);
      return;
    }
  } else {
    // A label of this extension, usually with "+1": "exten => x,foo+1,...".
    const target = byKey.get(extKey)?.labels.get(pri);
    if (!target) {
      report(dp, v, 'error', `invalid priority or unknown label ${pri || '""'} for extension ${name} in context ${ctx.name}${where}: Asterisk ignores this line`);
      return;
    }
    number = target.number;
  }
  if (number === 0) {
    // "n" right after a hint line: the hint is -1, so this is priority 0.
    report(dp, v, 'error', `priority ${pri} after a hint line is priority 0: Asterisk drops this line without a word`);
    return;
  }
  number += plus;
  section.lastPri = number;

  const { app, data, unclosed } = splitApplication(appField ?? '');
  if (unclosed && number !== PRIORITY_HINT) report(dp, v, 'warning', `${app}: no closing ")" for the application's arguments`);
  if (name === '_.' || name === '_!') {
    report(dp, v, 'warning', `extension ${name} matches everything, also h, i, t and the like: Asterisk advises _X${name[1]}`);
  }

  let ext = byKey.get(extKey);
  if (!ext) {
    ext = { name, key: nameKey, dynamic, priorities: new Map(), labels: new Map(), file: v.file, line: v.line };
    if (cid !== undefined) ext.cid = cid;
    ctx.extensions.push(ext);
    byKey.set(extKey, ext);
  }
  const first = ext.priorities.get(number);
  if (first) {
    const priName = number === PRIORITY_HINT ? 'hint' : String(number);
    report(dp, v, 'error', `duplicate priority ${priName} of extension ${name} in context ${ctx.name}${where}, first defined at ${first.file}:${first.line}: Asterisk ignores this line`);
    return;
  }
  const entry: Priority = { number, app, data, file: v.file, line: v.line };
  if (label !== undefined) entry.label = label;
  if (v.inheritedFrom) entry.inheritedFrom = v.inheritedFrom;
  ext.priorities.set(number, entry);
  if (label !== undefined && label !== '') {
    const same = ext.labels.get(label);
    if (same) report(dp, v, 'warning', `label ${label} already used at ${same.file}:${same.line} in extension ${name} of context ${ctx.name}: jumps to it go there`);
    else ext.labels.set(label, entry);
  }
}

/** "include => context[,time spec]" (older: "context|time spec"). */
function includeLine({ dp, ctx }: Section, v: ConfigVariable): void {
  const value = substituteGlobals(v.value, dp.globals).text;
  const cut = value.search(/[|,]/);
  const name = cut < 0 ? value : value.slice(0, cut);
  if (ctx.includes.some((i) => i.context === name)) {
    report(dp, v, 'warning', `context ${name} is already included in ${ctx.name}: Asterisk ignores this line`);
    return;
  }
  ctx.includes.push({ context: name, dynamic: name.includes('${') || name.includes('$['), file: v.file, line: v.line });
}

/**
 * The extension field of an exten line and the rest: the first ',' outside
 * [...] ends it, and a backslash protects the next character (pbx_strsep).
 */
function splitExtension(value: string): [string, string | undefined] {
  let square = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '[') square++;
    else if (c === ']') square = Math.max(0, square - 1);
    else if (c === '\\') i++;
    else if (c === ',' && square === 0) return [value.slice(0, i), value.slice(i + 1)];
  }
  return [value, undefined];
}

function splitFirst(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** Application and data as pbx_config splits them: "App(data)"; no "(": no data. */
function splitApplication(field: string): { app: string; data: string; unclosed: boolean } {
  const open = field.indexOf('(');
  if (open < 0) return { app: field.trim(), data: '', unclosed: false };
  const app = field.slice(0, open);
  // A hint like "DAHDI/g0/${GLOBAL(x)}" has no application at all.
  if (app.includes('${') || app.includes('$[')) return { app: field.trim(), data: '', unclosed: false };
  const rest = field.slice(open + 1);
  const close = rest.lastIndexOf(')');
  return { app: app.trim(), data: close < 0 ? rest : rest.slice(0, close), unclosed: close < 0 };
}

/** ${NAME} replaced by its [globals] value, the rest left as it is; `complete` when nothing is left to substitute. */
export function substituteGlobals(s: string, globals: Map<string, string>): { text: string; complete: boolean } {
  const text = s.replace(/\$\{([A-Za-z0-9_]+)\}/g, (all, name: string) => globals.get(name) ?? all);
  return { text, complete: !text.includes('${') && !text.includes('$[') };
}

/** An extension name as Asterisk stores it: blanks dropped, except inside a pattern's [...]. */
function storedName(name: string): string {
  if (!name.startsWith('_')) return name.replace(/ /g, '');
  let out = '';
  let square = false;
  for (const c of name) {
    if (c === '[') square = true;
    else if (c === ']') square = false;
    else if (c === ' ' && !square) continue;
    out += c;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Extension names and patterns (main/pbx.c: ext_cmp, _extension_match_core)
// ---------------------------------------------------------------------------

/**
 * A key equal for names Asterisk treats as one extension: '-' is ignored, and
 * in a pattern each position is the set of characters it takes, so _X. and
 * _[0-9]. are the same extension, and so are _NXX and _[2-9]XX.
 */
export function extensionKey(name: string): string {
  if (!name.startsWith('_')) return name.replace(/-/g, '');
  const sets: string[] = [];
  for (let i = 1; i < name.length; ) {
    const c = name[i++]!;
    if (c === '-') continue;
    if (c !== '[') {
      sets.push(patternSet(c));
      continue;
    }
    const end = name.indexOf(']', i);
    if (end < 0) {
      sets.push(`?${name.slice(i - 1)}`);
      break;
    }
    const chars = new Set<string>();
    for (let j = i; j < end; j++) {
      if (j + 2 < end && name[j + 1] === '-') {
        for (let code = name.charCodeAt(j); code <= name.charCodeAt(j + 2); code++) chars.add(String.fromCharCode(code));
        j += 2;
      } else {
        chars.add(name[j]!);
      }
    }
    i = end + 1;
    if (chars.size > 0) sets.push([...chars].sort().join(''));
  }
  return `_${sets.join('\u0000')}`;
}

function patternSet(c: string): string {
  switch (c) {
    case 'N':
    case 'n':
      return '23456789';
    case 'X':
    case 'x':
      return '0123456789';
    case 'Z':
    case 'z':
      return '123456789';
    case '.':
      return '\u0001.';
    case '!':
      return '\u0001!';
    default:
      return c;
  }
}

/**
 * Does the extension `pattern` (a name as stored: "100" or "_0ZXXXXXX.")
 * match the dialled `exten`? Asterisk's E_MATCH: '-' is ignored on both
 * sides, X/Z/N are 0-9/1-9/2-9, [...] a set with ranges, '.' one or more
 * characters, '!' zero or more. A dialled "_..." is also compared as a pattern.
 */
export function extensionMatches(pattern: string, exten: string): boolean {
  if (!pattern.startsWith('_')) return pattern.replace(/-/g, '') === exten.replace(/-/g, '');
  if (exten.startsWith('_') && extensionKey(pattern) === extensionKey(exten)) return true;
  let p = 1;
  let d = 0;
  for (;;) {
    while (exten[d] === '-') d++;
    while (pattern[p] === '-') p++;
    if (d >= exten.length || p >= pattern.length || pattern[p] === '/') break;
    const c = exten[d]!;
    switch (pattern[p]) {
      case '[': {
        const end = pattern.indexOf(']', p + 1);
        if (end < 0) return false;
        if (end === p + 1) {
          p = end + 1; // an empty set is skipped without using up a character
          continue;
        }
        let hit = false;
        for (let q = p + 1; q < end; q++) {
          if (q + 2 < end && pattern[q + 1] === '-') {
            if (c >= pattern[q]! && c <= pattern[q + 2]!) hit = true;
            q += 2;
          } else if (c === pattern[q]) {
            hit = true;
          }
          if (hit) break;
        }
        if (!hit) return false;
        p = end;
        break;
      }
      case 'N':
      case 'n':
        if (c < '2' || c > '9') return false;
        break;
      case 'X':
      case 'x':
        if (c < '0' || c > '9') return false;
        break;
      case 'Z':
      case 'z':
        if (c < '1' || c > '9') return false;
        break;
      case '.':
      case '!':
        return true;
      default:
        if (c !== pattern[p]) return false;
    }
    d++;
    p++;
  }
  if (d < exten.length) return false;
  // The dialled string ran out: only the end of the pattern or a '!' (zero
  // or more) still matches; anything else, '.' included, wants more.
  return p >= pattern.length || pattern[p] === '/' || pattern[p] === '!';
}

/** extensions.conf under `dir`, read and built. */
export function loadDialplan(dir: string, name = 'extensions.conf'): { config: Config; dialplan: Dialplan } {
  const config = loadConfig(dir, name);
  return { config, dialplan: buildDialplan(config) };
}
