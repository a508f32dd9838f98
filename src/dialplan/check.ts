// `websms dialplan check`: finds what would break at run time in a dialplan
// directory before Asterisk loads it. The model comes from parse.ts; here
// every reference in it is resolved with Asterisk's own rules:
//
//   - Goto, GotoIf, GotoIfTime, Gosub and GosubIf targets,
//   - include => lines,
//   - contexts that pjsip_wizard.conf (and what it #includes) hands to
//     endpoints: endpoint/context, endpoint/message_context,
//     endpoint/subscribe_context and hint_context of type=wizard sections,
//     context, message_context and subscribe_context of type=endpoint ones.
//
// A target is resolved as far as it is literal: ${...} and $[...] are only
// known at run time, so a part holding one is skipped and the rest is still
// checked (Gosub(sub_x,${EXTEN},1): sub_x must exist and some extension in
// it, or in what it includes, must have priority 1).

import fs from 'node:fs';
import path from 'node:path';
import {
  buildDialplan,
  extensionMatches,
  loadConfig,
  PRIORITY_HINT,
  type Config,
  type Context,
  type Dialplan,
  type Extension,
  type Finding,
  type Priority,
} from './parse.js';

export type { Finding } from './parse.js';

/**
 * Checks extensions.conf under `dir` and, when there is one,
 * pjsip_wizard.conf, each with what it #includes. Findings are sorted by file
 * and line; files are named relative to `dir`.
 */
export function checkDialplan(dir: string): Finding[] {
  const config = loadConfig(dir, 'extensions.conf');
  const dialplan = buildDialplan(config);
  const findings = [...config.problems, ...dialplan.problems, ...checkReferences(dialplan)];
  if (fs.existsSync(path.join(dir, 'pjsip_wizard.conf'))) {
    const wizard = loadConfig(dir, 'pjsip_wizard.conf');
    findings.push(...wizard.problems, ...checkWizard(wizard, dialplan));
  }
  return sortFindings(findings);
}

/** One line per finding: "file:line: severity: message". */
export function formatFindings(findings: Finding[]): string {
  return findings.map((f) => `${f.file}:${f.line}: ${f.severity}: ${f.message}`).join('\n');
}

/** Includes and jump targets of a built dialplan, unsorted. */
export function checkReferences(dp: Dialplan): Finding[] {
  const findings: Finding[] = [];
  for (const ctx of dp.contexts.values()) {
    for (const inc of ctx.includes) {
      if (!inc.dynamic && !dp.contexts.has(inc.context)) {
        findings.push({ file: inc.file, line: inc.line, severity: 'error', message: `include => ${inc.context}: context ${inc.context} does not exist` });
      }
    }
    for (const ext of ctx.extensions) {
      const numbers = [...ext.priorities.keys()];
      if (numbers.some((n) => n > 0) && !ext.priorities.has(1)) {
        findings.push({ file: ext.file, line: ext.line, severity: 'warning', message: `extension ${ext.name} in context ${ctx.name} has no priority 1: a call to it finds nothing to run` });
      }
      for (const pri of ext.priorities.values()) {
        if (pri.number === PRIORITY_HINT) continue;
        for (const jump of jumps(pri)) {
          const problem = jump.problem ?? resolve(dp, { ctx, ext, pri }, jump.target);
          if (problem) findings.push({ file: pri.file, line: pri.line, severity: jump.severity ?? 'error', message: `${pri.app} target ${jump.target}: ${problem}` });
        }
      }
    }
  }
  return findings;
}

// ---------------------------------------------------------------------------
// Jump targets in application data
// ---------------------------------------------------------------------------

interface Jump {
  /** As written: "ctx,s,1", "label"; for Gosub without its "(args)". */
  target: string;
  /** Set when the target cannot be resolved at all. */
  problem?: string;
  severity?: Finding['severity'];
}

/** The targets an application line may jump to. */
function jumps(pri: Priority): Jump[] {
  const data = pri.data;
  const mask = substitutions(data);
  switch (pri.app.toLowerCase()) {
    case 'goto':
      return data.trim() === '' ? [{ target: '', problem: 'no target given' }] : [{ target: data }];
    case 'gosub':
      return data.trim() === '' ? [{ target: '', problem: 'no target given' }] : [{ target: gosubLabel(data) }];
    case 'gotoif':
    case 'gotoiftime': {
      // Both split the data as plain strings after substitution: the
      // condition ends at the first '?', the true branch at the next ':'.
      const q = indexOf(data, mask, '?');
      if (q < 0) return [{ target: data, problem: 'no "?": it never jumps', severity: 'warning' }];
      const c = indexOf(data, mask, ':', q + 1);
      const branches = c < 0 ? [data.slice(q + 1)] : [data.slice(q + 1, c), data.slice(c + 1)];
      return branches.filter((b) => b !== '').map((target) => ({ target }));
    }
    case 'gosubif': {
      // GosubIf splits like any application's arguments: not inside
      // (...), [...] or "...", so a branch's "(args)" may hold ':' and '?'.
      const q = indexOfArg(data, mask, '?');
      if (q < 0) return [{ target: data, problem: 'no "?": it never calls', severity: 'warning' }];
      const labels = data.slice(q + 1);
      const c = indexOfArg(labels, substitutions(labels), ':');
      const branches = c < 0 ? [labels] : [labels.slice(0, c), labels.slice(c + 1)];
      return branches.filter((b) => b !== '').map((b) => ({ target: gosubLabel(b) }));
    }
    default:
      return [];
  }
}

/** Gosub's target: everything before the first "(" (the arguments). */
function gosubLabel(data: string): string {
  const open = indexOf(data, substitutions(data), '(');
  return open < 0 ? data : data.slice(0, open);
}

/**
 * For each character: is it inside a ${...} or $[...]? Asterisk substitutes
 * those before an application splits its data, so their ',', '?', ':' and
 * '(' are not delimiters. Nesting is counted as Asterisk counts it: braces
 * inside ${...}, square brackets inside $[...].
 */
function substitutions(s: string): boolean[] {
  const mask = new Array<boolean>(s.length).fill(false);
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '$' || (s[i + 1] !== '{' && s[i + 1] !== '[')) continue;
    const [open, close] = s[i + 1] === '{' ? ['{', '}'] : ['[', ']'];
    let depth = 1;
    let j = i + 2;
    for (; j < s.length && depth > 0; j++) {
      if (s[j] === open) depth++;
      else if (s[j] === close) depth--;
    }
    for (let k = i; k < j; k++) mask[k] = true;
    i = j - 1;
  }
  return mask;
}

function indexOf(s: string, mask: boolean[], ch: string, from = 0): number {
  for (let i = from; i < s.length; i++) if (s[i] === ch && !mask[i]) return i;
  return -1;
}

/** indexOf as ast_app_separate_args sees it: not inside (), [] or quotes; '\' protects the next character. */
function indexOfArg(s: string, mask: boolean[], ch: string): number {
  let paren = 0;
  let square = 0;
  let quote = false;
  for (let i = 0; i < s.length; i++) {
    if (mask[i]) continue;
    const c = s[i];
    if (c === ch && paren === 0 && square === 0 && !quote) return i;
    if (c === '(') paren++;
    else if (c === ')') paren = Math.max(0, paren - 1);
    else if (c === '[') square++;
    else if (c === ']') square = Math.max(0, square - 1);
    else if (c === '"') quote = !quote;
    else if (c === '\\') i++;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// Resolution (main/pbx.c: pbx_parseable_goto, pbx_find_extension)
// ---------------------------------------------------------------------------

interface Here {
  ctx: Context;
  ext: Extension;
  pri: Priority;
}

/** What a target asks for in the extension it reaches; undefined: not known before run time. */
type Wanted = { priority: number } | { label: string } | undefined;

const isDynamic = (s: string) => s.includes('${') || s.includes('$[');

/**
 * Why `target` ("[[context,]exten,]priority|label", as Goto and Gosub take
 * it) does not resolve from `here`; undefined if it does, or if too much of
 * it is only known at run time.
 */
function resolve(dp: Dialplan, here: Here, target: string): string | undefined {
  const mask = substitutions(target);
  // Split like pbx_parseable_goto (strsep on ','): a third ',' and what
  // follows it are ignored.
  const parts: string[] = [];
  for (let from = 0; parts.length < 3; ) {
    const comma = indexOf(target, mask, ',', from);
    parts.push(target.slice(from, comma < 0 ? undefined : comma));
    if (comma < 0) break;
    from = comma + 1;
  }
  // A lone ${...} may hold a whole "context,exten,priority".
  if (parts.length === 1 && isDynamic(parts[0]!)) return undefined;
  const [context, exten, priority] =
    parts.length === 3 ? parts : parts.length === 2 ? [undefined, parts[0], parts[1]] : [undefined, undefined, parts[0]];

  if (context !== undefined && isDynamic(context)) return undefined;
  const ctxName = context ?? here.ctx.name;
  if (!dp.contexts.has(ctxName)) return `context ${ctxName} does not exist`;

  const wanted = wantedOf(priority!, here.pri.number);
  const what = wanted === undefined ? '' : 'priority' in wanted ? `priority ${wanted.priority}` : `label ${wanted.label}`;

  if (exten === undefined) {
    // The extension running now: its own priorities first, then whatever
    // else in the context matches the same name.
    if (provides(here.ext, wanted) || here.ext.dynamic) return undefined;
    const found = search(dp, ctxName, here.ext.name, wanted);
    if (found === 'found' || found === 'unknown') return undefined;
    return `${what} does not exist in extension ${here.ext.name} of context ${ctxName}`;
  }
  if (isDynamic(exten)) {
    const found = search(dp, ctxName, undefined, wanted);
    if (found === 'found' || found === 'unknown') return undefined;
    return found === 'no extension' ? `context ${ctxName} has no extensions` : `no extension in context ${ctxName} has ${what}`;
  }
  const found = search(dp, ctxName, exten, wanted);
  if (found === 'found' || found === 'unknown') return undefined;
  const orIncludes = dp.contexts.get(ctxName)!.includes.length > 0 ? ' or what it includes' : '';
  if (found === 'no extension') return `extension ${exten} does not exist in context ${ctxName}${orIncludes}`;
  return `${what} does not exist in extension ${exten} of context ${ctxName}${orIncludes}`;
}

/**
 * The priority part as pbx_parseable_goto reads it: a leading '+' or '-'
 * makes a number relative to the current priority, a number (sscanf "%d")
 * is a priority, anything else a label.
 */
function wantedOf(priority: string, current: number): Wanted {
  if (isDynamic(priority)) return undefined;
  const sign = priority[0] === '+' ? 1 : priority[0] === '-' ? -1 : 0;
  const rest = sign ? priority.slice(1) : priority;
  const m = /^\s*[+-]?\d+/.exec(rest);
  if (!m) return { label: rest };
  const n = parseInt(m[0], 10);
  return { priority: sign ? current + sign * n : n };
}

function provides(ext: Extension, wanted: Wanted): boolean {
  if (wanted === undefined) return true;
  return 'priority' in wanted ? ext.priorities.has(wanted.priority) : ext.labels.has(wanted.label);
}

/**
 * Looks for `exten` (undefined: any extension) providing `wanted` in the
 * context and, depth first in order, in what it includes, each context once,
 * as Asterisk's default (old) matcher does: every matching extension counts,
 * not only the best match. 'unknown' when a switch or an include only known
 * at run time could supply it.
 */
function search(dp: Dialplan, ctxName: string, exten: string | undefined, wanted: Wanted): 'found' | 'no extension' | 'not provided' | 'unknown' {
  const seen = new Set<string>();
  let matched = false;
  let unknown = false;
  const visit = (name: string): boolean => {
    if (seen.has(name)) return false;
    seen.add(name);
    const ctx = dp.contexts.get(name);
    if (!ctx) return false;
    for (const ext of ctx.extensions) {
      if (exten !== undefined && !ext.dynamic && !extensionMatches(ext.name, exten)) continue;
      matched = true;
      if (provides(ext, wanted)) return true;
    }
    if (ctx.switches.length > 0) unknown = true;
    for (const inc of ctx.includes) {
      if (inc.dynamic) unknown = true;
      else if (visit(inc.context)) return true;
    }
    return false;
  };
  if (visit(ctxName)) return 'found';
  if (unknown) return 'unknown';
  return matched ? 'not provided' : 'no extension';
}

// ---------------------------------------------------------------------------
// pjsip_wizard.conf
// ---------------------------------------------------------------------------

/** Keys naming a dialplan context, by section type. */
const CONTEXT_KEYS: Record<string, string[]> = {
  wizard: ['endpoint/context', 'endpoint/message_context', 'endpoint/subscribe_context', 'hint_context'],
  endpoint: ['context', 'message_context', 'subscribe_context'],
};

/**
 * Contexts the wizard's sections (or endpoint sections) name that the
 * dialplan lacks. Templates are checked too: a shipped pjsip_wizard.conf
 * often has nothing but templates, its user sections being examples in
 * comments. A template without a type of its own is checked through the
 * sections using it. Of a key set more than once (template and section) the
 * last one counts, and a finding is reported at the line that sets it, once.
 */
export function checkWizard(wizard: Config, dp: Dialplan): Finding[] {
  const findings: Finding[] = [];
  for (const cat of wizard.categories) {
    const last = (key: string) => cat.variables.findLast((v) => v.name.toLowerCase() === key);
    const type = last('type')?.value.toLowerCase();
    for (const key of CONTEXT_KEYS[type ?? ''] ?? []) {
      const v = last(key);
      if (!v || v.value === '' || dp.contexts.has(v.value)) continue;
      findings.push({ file: v.file, line: v.line, severity: 'error', message: `${v.name} = ${v.value}: context ${v.value} does not exist in extensions.conf` });
    }
  }
  return findings;
}

/** Sorted by file, then line; exact repeats (a template's line seen through every section using it) dropped. */
function sortFindings(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  const unique = findings.filter((f) => {
    const key = `${f.file}\u0000${f.line}\u0000${f.severity}\u0000${f.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return unique.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
}
