// A PrivateDial websms.conf written out as websms's own websms.conf: the
// sections privatedial.ts makes of it, each key with a comment saying which
// PHP key it comes from, and the notes on top. Loaded, the result is the same
// Config as the PHP file. Secrets stay out unless asked for: the file is
// meant to be 0644, and they belong in websms.env.

import type { IniSection } from './ini.js';
import type { Translation } from './privatedial.js';
import { FIXED_SECTIONS, INTERFACE_KEYS, secretEnvName, type Schema } from './schema.js';

export interface ConvertOptions {
  /** The PHP file, for the header. */
  source: string;
  /** Write secrets into the file instead of naming their environment variables. */
  secrets: boolean;
}

export function renderNativeConfig(t: Translation, opts: ConvertOptions): string {
  const out: string[] = wrap(
    `websms.conf made by "websms config convert" from PrivateDial's WebSMS configuration ${opts.source}. Loaded, it gives websms the same configuration as that file. The comment above each key says which PHP key it comes from, and on which line of ${opts.source}.`,
  ).map((l) => `; ${l}`);
  const env: string[] = [];
  const body: string[] = [];
  for (const s of t.doc.sections) body.push('', ...renderSection(s, opts, env));

  if (env.length > 0) {
    out.push(
      ';',
      '; Secrets are not in this file. Put them in the environment, as in',
      '; /etc/websms/websms.env (0600), one line each, with the value from the line named:',
      ...env.map((e) => `;   ${e}`),
    );
  }
  if (t.notes.length > 0) {
    out.push(';', '; What websms does differently from PHP WebSMS here, or does not need:');
    for (const n of t.notes) out.push(...wrap(`${n.line === undefined ? '' : `line ${n.line}: `}${n.message}`).map((l, i) => `;${i === 0 ? '   ' : '     '}${l}`));
  }
  return [...out, ...body, ''].join('\n');
}

function renderSection(s: IniSection, opts: ConvertOptions, env: string[]): string[] {
  const lower = s.name.toLowerCase();
  const schema: Schema = Object.hasOwn(FIXED_SECTIONS, lower) ? FIXED_SECTIONS[lower as keyof typeof FIXED_SECTIONS] : INTERFACE_KEYS;
  const lines = [`[${s.name}]`];
  for (const e of s.entries) {
    const key = e.key.trim();
    const spec = schema[key.toLowerCase()];
    if (e.from !== undefined) {
      const where = e.from.startsWith('[') ? ` (line ${e.line})` : '';
      lines.push(...wrap(`from ${e.from}${where}`).map((l) => `; ${l}`));
    }
    if (spec?.secret && !opts.secrets && e.value !== '') {
      const name = secretEnvName(s.name, key);
      env.push(`${name}=<${e.from === undefined ? `${key} of [${s.name}]` : `the value of ${e.from}`}, line ${e.line}>`);
      lines.push(`; ${key}: a secret, from the environment variable ${name}`);
      continue;
    }
    lines.push(`${key} = ${quote(e.value)}`.trimEnd());
  }
  return lines;
}

/** A value as websms.conf reads it back: in double quotes when it has a ";", a quote, or spaces at either end. */
export function quote(value: string): string {
  if (!/[;"]|^\s|\s$|\\/.test(value)) return value;
  return `"${value.replace(/["\\$]/g, (c) => `\\${c}`)}"`;
}

function wrap(text: string, width = 74): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  out.push(line);
  return out;
}
