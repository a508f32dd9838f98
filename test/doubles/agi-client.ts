// A fake Asterisk 22 running `AGI(agi://127.0.0.1:4573/outbound)` from the
// message channel (context sub_text_trunk): it connects to the FastAGI server
// under test, sends the AGI environment and answers commands the way
// res/res_agi.c, main/pbx_variables.c and the dialplan functions do.
//
// It is deliberately as unkind as Asterisk (see /work/shared/asterisk-facts.md,
// "Messages from phones (outbound)"), because a kinder double proves nothing:
//  - commands are split by res_agi's parse_args (quotes, one level of
//    backslash escaping removed); `\r` is not whitespace, so a CRLF line end
//    makes the last argument end in `\r`;
//  - `GET FULL VARIABLE` substitutes variables inside a function's argument
//    *before* parsing the expression for `:offset:length` and the function
//    call, so `${BASE64_ENCODE(${MESSAGE(body)})}` is mangled by a body such
//    as `Hi :) see you at 10:30`; values are written raw, newlines included;
//  - a command line is read with fgets into AGI_BUF_LEN (2048) bytes: a longer
//    line is handled as several commands (its first 2047 bytes, then the rest);
//  - the control socket is read through stdio: after one command Asterisk
//    polls the socket again, so commands that arrived together with it wait in
//    the stdio buffer until more bytes (or the close) arrive - a server that
//    pipelines commands stalls exactly as on a real Asterisk;
//  - there is no read timeout: a server that never answers holds the message
//    queue until it closes, and that still ends in AGISTATUS=SUCCESS;
//  - at the end of every FastAGI session (and right after the channel hangs
//    up) Asterisk writes `HANGUP\n` to the server (AGISIGHUP defaults to yes);
//  - a line starting with "failure" ends the AGI with AGISTATUS=FAILURE.
//
// Byte semantics: Asterisk works on C strings of bytes. Internally every text
// is a latin1 "binary" string (one char = one byte); what tests see in AgiRun
// is decoded as UTF-8.

import net from 'node:net';

export type AgiStatus = 'SUCCESS' | 'FAILURE' | 'HANGUP';

export interface AgiClientOptions {
  port: number;
  host?: string; // '127.0.0.1'
  /** The path after the host in the AGI URL: sent as agi_network_script. */
  script?: string; // 'outbound'
  /** agi_request; default `agi://<host>:<port>/<script>`. */
  request?: string;
  /** Extra AGI() arguments: AGI(url,a,b) sends agi_arg_1: a, agi_arg_2: b. */
  args?: string[];
  /**
   * Channel variables and message fields, UTF-8. `MESSAGE(body)`, `MESSAGE(to)`
   * and `MESSAGE(from)` fill the MESSAGE() function (unset = empty); every
   * other key is a channel variable.
   */
  variables?: Record<string, string>;
  /** ${EXTEN}, the Request-URI user; default: the user part of MESSAGE(to). */
  exten?: string;
  context?: string; // 'sub_text_trunk'
  priority?: number; // 2 (the AGI() line of the context)
  /** agi_callerid; default: the endpoint, the user part of MESSAGE(from). */
  callerId?: string;
  uniqueId?: string; // '1700000000.0': the same for every message
  threadId?: string;
  version?: string; // '22.10.1'
  /** Test safety only: give up (and close) after this long; gaveUp is then true. */
  maxWaitMs?: number; // 10000
  /** launch_netscript waits this long for the TCP connect (MAX_AGI_CONNECT). */
  connectTimeoutMs?: number; // 2000
  /**
   * A SIP MESSAGE body over 1,023 bytes arrives in the dialplan empty (PJSIP,
   * measured). Set Infinity to hand the body through as given.
   */
  phoneBodyLimit?: number; // 1023
}

export interface AgiRun {
  /** AGISTATUS as the dialplan would see it after AGI() returned. */
  status: AgiStatus;
  /** SET VARIABLE assignments (unescaped, UTF-8), last one wins. Names lose leading `_`/`__` like Asterisk's. */
  set: Map<string, string>;
  /** The same assignments in the order they came. */
  setOrder: Array<[string, string]>;
  /** Every command line received, without its `\n` (UTF-8). */
  commands: string[];
  /** Every answer written, without its final `\n` (multi-line answers stay one entry); `HANGUP` notices included. */
  responses: string[];
  /** How long the server held the connection (connect to close), ms. */
  heldMs: number;
  /** True when maxWaitMs ran out before the server closed: a test failure, Asterisk would still be waiting. */
  gaveUp: boolean;
  /** True once the channel was hung up by the AGI HANGUP command (nothing after AGI() runs). */
  hungUp: boolean;
  /** The environment block sent, blank line included. */
  env: string;
  /** ${EXTEN} (agi_extension) of this message. */
  exten: string;
  /** Channel variables at the end (UTF-8), AGISTATUS included. */
  variables: Map<string, string>;
  /** VERBOSE messages. */
  verbose: string[];
  /** What Asterisk would have logged as warnings/errors (unknown function, bad argument...), plus the double's own notes. */
  warnings: string[];
}

// --- Sizes from the Asterisk source ------------------------------------------------------
const AGI_BUF_LEN = 2048; // res_agi.c run_agi: char buf[AGI_BUF_LEN]; fgets keeps 2047 bytes
const STDIO_BUF = 4096; // what one read() of the stdio FILE pulls from the socket
const VAR_BUF_SIZE = 4096; // legacy function buffers: values hold at most 4,095 bytes
const GETVAR_BUF = 1024; // handle_getvariable: char tempstr[1024]
const MAX_ARGS = 128; // res_agi.c
const INT_MAX = 2147483647;
const CHANNEL_NAME = 'Message/ast_msg_queue';

const u8 = (b: string): string => Buffer.from(b, 'latin1').toString('utf8');
const bin = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
/** A C string: ends at the first NUL. */
const cstr = (s: string): string => {
  const i = s.indexOf('\0');
  return i < 0 ? s : s.slice(0, i);
};
/** ast_copy_string into a buffer of len bytes. */
const cut = (s: string, len: number): string => (s.length > len - 1 ? s.slice(0, Math.max(0, len - 1)) : s);

// --- The channel ------------------------------------------------------------------------

interface Chan {
  vars: Map<string, string>; // binary; names without leading underscores
  msg: Map<string, string>; // MESSAGE(): to, from, body (binary)
  exten: string;
  context: string;
  priority: number;
  uniqueid: string;
  hungUp: boolean;
  warn(text: string): void;
}

/** ast_var_name: the name without the inheritance prefix `_` or `__`. */
const varName = (name: string): string => (name.startsWith('__') ? name.slice(2) : name.startsWith('_') ? name.slice(1) : name);

// --- res_agi.c parse_args ---------------------------------------------------------------

/**
 * res_agi.c parse_args on a binary string: arguments split at spaces and tabs,
 * double quotes group (and are dropped), a backslash makes the next character
 * literal (one level of escaping removed: `\\` -> `\`, `\"` -> `"`, `\x` -> `x`).
 */
export function parseAgiArgs(line: string): string[] {
  const argv: string[] = [];
  let quoted = false;
  let escaped = false;
  let whitespace = true;
  for (const c of line) {
    let normal = false;
    if (c === '"') {
      if (escaped) normal = true;
      else {
        quoted = !quoted;
        // Starting a quote coming off white space starts a new word (possibly empty: "").
        if (quoted && whitespace) {
          argv.push('');
          whitespace = false;
        }
        escaped = false;
      }
    } else if (c === ' ' || c === '\t') {
      if (!quoted && !escaped) whitespace = true;
      else normal = true;
    } else if (c === '\\') {
      if (escaped) normal = true;
      else escaped = true;
    } else normal = true;
    if (!normal) continue;
    if (whitespace) {
      // "Too many arguments, truncating": the character is dropped, not appended.
      if (argv.length >= MAX_ARGS - 1) continue;
      argv.push('');
      whitespace = false;
    }
    argv[argv.length - 1] += c;
    escaped = false;
  }
  return argv;
}

// --- main/app.c __ast_app_separate_args(buf, ',', remove_chars=1, argv, arraylen) -------------

/**
 * AST_STANDARD_APP_ARGS: split at top-level commas (parentheses, brackets and
 * quotes group), removing quotes and one level of backslashes - but only the
 * first arraylen-1 arguments are parsed: the last declared argument gets the
 * unparsed rest, backslashes and all. That is why FIELDQTY(var,\n) (2 declared
 * args) sees `\n` and decodes a newline, while CUT(var,\\n,1) (3 args) needs
 * the doubled backslash.
 */
function separateArgs(buf: string | null, arraylen: number): string[] {
  if (buf === null) return [];
  const out: string[] = [];
  let scan = 0;
  let paren = 0;
  let bracket = 0;
  let quote = false;
  let wasDelim = -1;
  for (let argc = 0; scan < buf.length && argc < arraylen - 1; argc++) {
    let cur = '';
    for (; scan < buf.length; scan++) {
      const c = buf[scan];
      if (c === '(') paren++;
      else if (c === ')') {
        if (paren) paren--;
      } else if (c === '[') bracket++;
      else if (c === ']') {
        if (bracket) bracket--;
      } else if (c === '"') {
        quote = !quote;
        continue; // the quote is removed
      } else if (c === '\\') {
        scan++; // the backslash is removed; the next character is taken as is, unparsed
        if (scan < buf.length) cur += buf[scan];
        continue;
      } else if (c === ',' && !paren && !quote && !bracket) {
        wasDelim = scan++;
        break;
      }
      cur += c;
    }
    out.push(cur);
  }
  // The last declared argument is the raw rest; a trailing comma adds an empty one.
  if (scan < buf.length || (scan > 0 && scan - 1 === wasDelim)) out.push(buf.slice(scan));
  return out;
}

/** main/utils.c ast_get_encoded_char: `\n`, `\r`, `\t`, `\xHH`, `\0ooo`, `\c` -> c. '' = NUL (an empty delimiter). */
function getEncodedChar(s: string | undefined): string {
  if (!s) return '';
  if (s[0] !== '\\') return s[0];
  const n = s[1];
  if (n === undefined) return '';
  if (n === 'n') return '\n';
  if (n === 'r') return '\r';
  if (n === 't') return '\t';
  if (n === 'x') {
    const m = /^[0-9A-Fa-f]{1,2}/.exec(s.slice(2));
    return m ? String.fromCharCode(parseInt(m[0], 16)) : ''; // illegal hex: error, result stays 0
  }
  if (n === '0') {
    const m = /^[0-7]*/.exec(s.slice(2));
    let v = 0;
    for (const d of m ? m[0] : '') v = ((v << 3) + Number(d)) & 0xff;
    return v ? String.fromCharCode(v) : '';
  }
  return n;
}

// --- main/pbx_variables.c ---------------------------------------------------------------

/** sscanf(s, "%30d") at position i: returns [value, next] or null when no number. */
function scanInt(s: string, i: number): [number, number] | null {
  while (i < s.length && ' \t\n\v\f\r'.includes(s[i])) i++;
  const m = /^[+-]?[0-9]+/.exec(s.slice(i, i + 30));
  if (!m) return null;
  const v = Math.max(-INT_MAX - 1, Math.min(INT_MAX, Number(m[0])));
  return [v, i + m[0].length];
}

interface ParsedName {
  name: string; // the text before a depth-0 ':' (the rest is cut off, as the C code writes a NUL there)
  offset: number;
  length: number;
  needSubstring: boolean;
  isfunc: number;
}

/**
 * parse_variable_name: scan the (already substituted) text tracking
 * parenthesis depth; the first ':' at depth 0 starts `offset:length`
 * (sscanf "%30d:%30d", so `30)` gives offset 30 and no length). A `)` that
 * closes early, as in `Hi :)`, brings the depth back to 0.
 */
function parseVariableName(v: string): ParsedName {
  let parens = 0;
  let isfunc = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c === '(') {
      isfunc++;
      parens++;
    } else if (c === ')') parens--;
    else if (c === ':' && parens === 0) {
      let offset = 0;
      let length = INT_MAX;
      const a = scanInt(v, i + 1);
      if (a) {
        offset = a[0];
        if (v[a[1]] === ':') {
          const b = scanInt(v, a[1] + 1);
          if (b) length = b[0];
        }
      }
      return { name: v.slice(0, i), offset, length, needSubstring: true, isfunc };
    }
  }
  return { name: v, offset: 0, length: INT_MAX, needSubstring: false, isfunc };
}

/** ast_str_substring: offset < 0 counts from the end, length < 0 leaves that many off the end. */
function strSubstring(value: string, offset: number, length: number): string {
  let lr = value.length;
  if (offset === 0 && length >= lr) return value;
  if (offset < 0) {
    offset = lr + offset;
    if (offset < 0) offset = 0;
  }
  if (offset >= lr) return '';
  let s = value;
  if (offset > 0) {
    s = s.slice(offset);
    lr -= offset;
  }
  if (length >= 0 && length < lr) return s.slice(0, length);
  if (length < 0) return lr > -length ? s.slice(0, lr + length) : '';
  return s;
}

/** ast_str_retrieve_variable: builtins, then channel variables (case-sensitive). null = not found. */
function retrieveVariable(ch: Chan, v: string): string | null {
  const p = parseVariableName(v); // on a copy: the lookups below still use the whole name
  let s: string | undefined;
  switch (v) {
    case 'EXTEN':
      s = ch.exten;
      break;
    case 'CONTEXT':
      s = ch.context;
      break;
    case 'PRIORITY':
      s = String(ch.priority);
      break;
    case 'CHANNEL':
      s = CHANNEL_NAME;
      break;
    case 'UNIQUEID':
      s = ch.uniqueid;
      break;
    case 'HANGUPCAUSE':
      s = ch.hungUp ? '16' : '0';
      break;
    case 'EPOCH':
      s = String(Math.floor(Date.now() / 1000));
      break;
    default:
      s = ch.vars.get(v);
  }
  if (s === undefined) return null;
  return p.needSubstring ? strSubstring(s, p.offset, p.length) : s;
}

/**
 * ast_str_substitute_variables (what GET FULL VARIABLE runs), step by step:
 *  1. copy text up to the next `${` (or `$[`);
 *  2. find the matching `}` counting nested `${`/`{`/`}`;
 *  3. if the name contains `${`, substitute it FIRST (recursively) - the
 *     values of inner variables become part of the text parsed next;
 *  4. parse_variable_name on the substituted text: a depth-0 `:` cuts the
 *     name and starts `:offset:length`;
 *  5. if the name contains `(`, it is a function call: name up to the first
 *     `(`, argument up to the LAST `)` of the (possibly cut) text;
 *  6. on success, apply offset/length and append.
 */
function substitute(ch: Chan, templ: string): string {
  let buf = '';
  let w = 0;
  while (w < templ.length) {
    let kind: '{' | '[' | null = null;
    const d = templ.indexOf('$', w);
    let pos: number;
    if (d >= 0) {
      pos = d - w;
      const n = templ[d + 1];
      if (n === '{' || n === '[') kind = n;
      else pos++; // a '$' that starts nothing is copied too
    } else pos = templ.length - w;
    if (pos) {
      buf += templ.slice(w, w + pos);
      w += pos;
    }
    if (!kind) continue;
    const open = kind;
    const close = kind === '{' ? '}' : ']';
    const other = kind === '{' ? '[' : '{';
    const vars = w + 2;
    let vare = vars;
    let brackets = 1;
    let needsub = 0;
    while (brackets && vare < templ.length) {
      if (templ[vare] === '$' && templ[vare + 1] === open) {
        needsub++;
        brackets++;
        vare++;
      } else if (templ[vare] === open) brackets++;
      else if (templ[vare] === close) brackets--;
      else if (templ[vare] === '$' && templ[vare + 1] === other) {
        needsub++;
        vare++;
      }
      vare++;
    }
    let len = vare - vars;
    if (brackets) ch.warn(`Error in extension logic (missing '${close}')`);
    else len--; // don't count the closing bracket
    w = vare;
    const inner = templ.substr(vars, len);
    const finalvars = needsub ? substitute(ch, inner) : inner; // step 3
    if (kind === '[') {
      ch.warn(`expression $[${u8(finalvars)}] is not modelled by the double: empty`);
      continue;
    }
    const p = parseVariableName(finalvars); // step 4
    let res: Read;
    if (p.isfunc) res = funcRead2(ch, p.name); // step 5
    else res = { res: 0, out: retrieveVariable(ch, p.name) ?? '' };
    if (!res.res) buf += strSubstring(res.out, p.offset, p.length); // step 6
  }
  return buf;
}

// --- Dialplan functions (main/pbx_functions.c and funcs/) ---------------------------------

interface Read {
  res: number; // 0 ok, -1 error (nothing is appended)
  out: string;
}

interface Func {
  /** Has a char-buffer .read callback (filled up to len bytes). */
  legacy: boolean;
  /** Has an ast_str .read2 callback (no size limit). */
  modern: boolean;
  readMax?: number;
  /** Computes the value; len is the buffer size of a legacy read, Infinity for read2. */
  read(ch: Chan, data: string | null, len: number, name: string): Read;
  write?(ch: Chan, data: string | null, value: string): number;
}

const fail = (ch: Chan, text: string): Read => {
  ch.warn(text);
  return { res: -1, out: '' };
};

const URI_MARK = "-_.!~*'()";
/** ast_uri_encode(..., ast_uri_http): alphanumerics and the RFC 2396 marks stay, the rest is %XX; an escape is never split at the end of the buffer. */
function uriEncode(s: string, buflen: number): string {
  let out = '';
  for (const c of s) {
    if (out.length >= buflen - 1) break;
    if (/[0-9A-Za-z]/.test(c) || URI_MARK.includes(c)) out += c;
    else {
      if (out.length >= buflen - 3) break;
      out += '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** ast_base64decode: stops at '=' or the end; a character outside the alphabet counts as 63. */
function base64Decode(s: string): string {
  let out = '';
  let byte = 0;
  let bits = 0;
  for (const c of s) {
    if (c === '=') break;
    const v = B64.indexOf(c);
    byte = ((byte << 6) | (v < 0 ? 63 : v)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((byte >> bits) & 0xff);
    }
  }
  return cstr(out);
}

/** function_fieldqty_helper: counts strsep fields of ${varname}; empty value -> 0; no delimiter argument -> 1. */
function fieldqty(ch: Chan, data: string | null): Read {
  const args = separateArgs(data, 2);
  if (args.length < 2) return { res: 0, out: '1' };
  const delim = getEncodedChar(args[1]);
  const value = substitute(ch, '${' + args[0] + '}');
  const n = value === '' ? 0 : delim === '' ? 1 : value.split(delim).length;
  return { res: 0, out: String(n) };
}

/** func_cut.c cut_internal: CUT(varname,delimiter,field-spec); an invalid delimiter becomes '-'. */
function cutFunc(ch: Chan, data: string | null): Read {
  const args = separateArgs(data, 3);
  if (args.length < 3) return fail(ch, 'Syntax: CUT(<varname>,<char-delim>,<range-spec>) - missing argument!');
  const ds = getEncodedChar(args[1]) || '-';
  const value = substitute(ch, '${' + args[0] + '}');
  if (value === '') return { res: 0, out: '' };
  const fields = value.split(ds);
  let cur = 0; // index of the next field (curfieldnum - 1)
  const out: string[] = [];
  for (const range of args[2].split('&')) {
    let m: RegExpExecArray | null;
    let start: number;
    let stop: number;
    if ((m = /^\s*([+-]?\d+)-\s*([+-]?\d+)/.exec(range))) [start, stop] = [Number(m[1]), Number(m[2])];
    else if ((m = /^-\s*([+-]?\d+)/.exec(range))) [start, stop] = [1, Number(m[1])];
    else if ((m = /^\s*([+-]?\d+)-/.exec(range))) [start, stop] = [Number(m[1]), INT_MAX];
    else if ((m = /^\s*([+-]?\d+)/.exec(range))) [start, stop] = [Number(m[1]), Number(m[1])];
    else return fail(ch, 'Syntax: CUT(<varname>,<char-delim>,<range-spec>) - invalid field spec');
    if (cur + 1 > start) ch.warn("We're already past the field you wanted?");
    cur = Math.max(cur, start - 1);
    for (; cur < fields.length && cur + 1 <= stop; cur++) out.push(fields[cur]);
  }
  return { res: 0, out: out.join(ds) };
}

const FUNCS: Record<string, Func> = {
  // main/message.c msg_func_read/msg_func_write (.read only: 4,095 bytes at most).
  MESSAGE: {
    legacy: true,
    modern: false,
    read(ch, data, len) {
      const k = (data ?? '').toLowerCase();
      if (k === 'to' || k === 'from' || k === 'body') return { res: 0, out: cut(ch.msg.get(k) ?? '', len) };
      ch.warn(`Invalid argument to MESSAGE(): '${u8(data ?? '')}'`);
      return { res: 0, out: '' };
    },
    write(ch, data, value) {
      const k = (data ?? '').toLowerCase();
      if (k === 'to' || k === 'from' || k === 'body') ch.msg.set(k, value);
      else ch.warn(`MESSAGE(${u8(data ?? '')}) write is not modelled by the double`);
      return 0;
    },
  },
  // funcs/func_base64.c: an empty argument is an error (nothing appended).
  BASE64_ENCODE: {
    legacy: true,
    modern: true,
    read(ch, data, len, name) {
      if (!data) return fail(ch, `Syntax: ${name}(<data>) - missing argument!`);
      const out = Buffer.from(data, 'latin1').toString('base64');
      return { res: 0, out: len === Infinity ? out : out.slice(0, Math.floor((len - 1) / 4) * 4) };
    },
  },
  BASE64_DECODE: {
    legacy: true,
    modern: true,
    read(ch, data, len, name) {
      if (!data) return fail(ch, `Syntax: ${name}(<base_64 string>) - missing argument!`);
      return { res: 0, out: cut(base64Decode(data), len) };
    },
  },
  // funcs/func_uri.c (.read only).
  URIENCODE: {
    legacy: true,
    modern: false,
    read(_ch, data, len) {
      return { res: 0, out: data ? uriEncode(data, len) : '' };
    },
  },
  // funcs/func_strings.c quote (.read only).
  QUOTE: {
    legacy: true,
    modern: false,
    read(ch, data, len) {
      if (len < 3) return fail(ch, 'Not enough buffer');
      if (!data) {
        ch.warn('No argument specified!');
        return { res: 0, out: '""' };
      }
      let out = '"';
      for (let i = 0; out.length < len - 3 && i < data.length; i++) {
        const c = data[i];
        out += c === '\\' ? '\\\\' : c === '"' ? '\\"' : c;
      }
      return { res: 0, out: out + '"' };
    },
  },
  LEN: {
    legacy: true,
    modern: false,
    readMax: 12,
    read(_ch, data, len) {
      return { res: 0, out: cut(String(data ? data.length : 0), len) };
    },
  },
  FIELDQTY: {
    legacy: true,
    modern: true,
    read(ch, data, len) {
      const r = fieldqty(ch, data);
      return { res: r.res, out: cut(r.out, len) };
    },
  },
  CUT: {
    legacy: true,
    modern: true,
    read(ch, data, len) {
      const r = cutFunc(ch, data);
      return { res: r.res, out: cut(r.out, len) };
    },
  },
};

/** func_args: the name ends at the first '(', the argument at the LAST ')'. */
function funcArgs(ch: Chan, fn: string): { name: string; args: string | null } {
  const i = fn.indexOf('(');
  if (i < 0) {
    ch.warn(`Function '${u8(fn)}' doesn't contain parentheses.  Assuming null argument.`);
    return { name: fn, args: null };
  }
  let args = fn.slice(i + 1);
  const p = args.lastIndexOf(')');
  if (p >= 0) args = args.slice(0, p);
  else ch.warn(`Can't find trailing parenthesis for function '${u8(fn.slice(0, i))}(${u8(args)}'?`);
  return { name: fn.slice(0, i), args };
}

function findFunc(ch: Chan, name: string): Func | undefined {
  const f = Object.prototype.hasOwnProperty.call(FUNCS, name) ? FUNCS[name] : undefined; // strcmp: case-sensitive
  if (!f) ch.warn(`Function ${u8(name)} not registered`);
  return f;
}

/** ast_func_read2(chan, fn, &str, 0): read2 when the function has one, else .read into VAR_BUF_SIZE (or read_max) bytes. */
function funcRead2(ch: Chan, fn: string): Read {
  const { name, args } = funcArgs(ch, fn);
  const f = findFunc(ch, name);
  if (!f) return { res: -1, out: '' };
  return f.read(ch, args, f.modern ? Infinity : (f.readMax ?? VAR_BUF_SIZE), name);
}

/** ast_func_read(chan, fn, workspace, len): .read into len bytes when there is one, else read2 copied into len bytes. */
function funcRead(ch: Chan, fn: string, len: number): Read {
  const { name, args } = funcArgs(ch, fn);
  const f = findFunc(ch, name);
  if (!f) return { res: -1, out: '' };
  if (f.legacy) return f.read(ch, args, len, name);
  const r = f.read(ch, args, Infinity, name);
  return { res: r.res, out: cut(r.out, len) };
}

/** pbx_builtin_setvar_helper: a name ending in ')' writes a function; otherwise a channel variable. */
function setVar(ch: Chan, name: string, value: string): string {
  if (name.endsWith(')')) {
    const { name: fname, args } = funcArgs(ch, name);
    const f = findFunc(ch, fname);
    if (f && f.write) f.write(ch, args, value);
    else if (f) ch.warn(`Function ${u8(fname)} cannot be written to`);
    return name;
  }
  const n = varName(name);
  ch.vars.set(n, value);
  return n;
}

// --- AGI commands (res_agi.c) -----------------------------------------------------------

const USAGE = Symbol('usage');
type Result = string[] | typeof USAGE;

interface Command {
  words: string[];
  dead: boolean; // may run once the channel is hung up
  run?: (argv: string[]) => Result;
  /** c->usage: the XML documentation's description, paragraphs on their own lines, markup kept. Approximate. */
  usage?: string;
}

interface Engine {
  env: string[];
  exten: string;
  chan: Chan;
  dead: boolean;
  sighup: boolean;
  exitOnHangup: boolean;
  handle(line: string): { out: string[]; hungUpNow: boolean };
  set: Map<string, string>;
  setOrder: Array<[string, string]>;
  verbose: string[];
  warnings: string[];
}

const userPart = (uri: string | undefined): string | undefined => /(?:^|[<:])([^:<>@;]+)@/.exec(uri ?? '')?.[1];
const isFalse = (v: string | undefined): boolean => ['no', 'false', 'n', 'f', '0', 'off'].includes((v ?? '').toLowerCase());
const isTrue = (v: string | undefined): boolean => ['yes', 'true', 'y', 't', '1', 'on'].includes((v ?? '').toLowerCase());

function createEngine(opts: AgiClientOptions): Engine {
  const host = opts.host ?? '127.0.0.1';
  const script = opts.script ?? 'outbound';
  const warnings: string[] = [];
  const vars = new Map<string, string>();
  const msg = new Map<string, string>();
  for (const [k, v] of Object.entries(opts.variables ?? {})) {
    const m = /^MESSAGE\((to|from|body)\)$/i.exec(k);
    if (m) msg.set(m[1].toLowerCase(), cstr(bin(v)));
    else vars.set(varName(bin(k)), cstr(bin(v)));
  }
  const limit = opts.phoneBodyLimit ?? 1023;
  if ((msg.get('body') ?? '').length > limit) {
    warnings.push(`double: a ${msg.get('body')!.length}-byte body arrives in the dialplan empty (PJSIP drops bodies over ${limit} bytes)`);
    msg.set('body', '');
  }
  const exten = opts.exten ?? userPart(u8(msg.get('to') ?? '')) ?? 's';
  const callerId = opts.callerId ?? userPart(u8(msg.get('from') ?? '')) ?? 'unknown';
  const chan: Chan = {
    vars,
    msg,
    exten: bin(exten),
    context: bin(opts.context ?? 'sub_text_trunk'),
    priority: opts.priority ?? 2,
    uniqueid: opts.uniqueId ?? '1700000000.0',
    hungUp: false,
    warn: (t) => warnings.push(t),
  };
  const request = opts.request ?? `agi://${host}:${opts.port}/${script}`;
  // launch_netscript sends the first two lines, setup_env the rest (agi_request first).
  const env = [
    'agi_network: yes',
    ...(script ? [`agi_network_script: ${script}`] : []),
    `agi_request: ${request}`,
    `agi_channel: ${CHANNEL_NAME}`,
    'agi_language: en',
    'agi_type: Message',
    `agi_uniqueid: ${chan.uniqueid}`,
    `agi_version: ${opts.version ?? '22.10.1'}`,
    `agi_callerid: ${callerId}`,
    'agi_calleridname: unknown',
    'agi_callingpres: 0',
    'agi_callingani2: 0',
    'agi_callington: 0',
    'agi_callingtns: 0',
    'agi_dnid: unknown',
    'agi_rdnis: unknown',
    `agi_context: ${opts.context ?? 'sub_text_trunk'}`,
    `agi_extension: ${exten}`,
    `agi_priority: ${chan.priority}`,
    'agi_enhanced: 0.0',
    'agi_accountcode: ',
    `agi_threadid: ${opts.threadId ?? '140181541926592'}`,
    ...(opts.args ?? []).map((a, i) => `agi_arg_${i + 1}: ${a}`),
    '',
  ].map(bin);

  const set = new Map<string, string>();
  const setOrder: Array<[string, string]> = [];
  const verbose: string[] = [];
  const isOurs = (name: string): boolean => name.toLowerCase() === CHANNEL_NAME.toLowerCase() || name === chan.uniqueid;
  let hangupNow = false;

  const commands: Command[] = [
    ...[
      'answer',
      'asyncagi break',
      'channel status',
      'database del',
      'database deltree',
      'database get',
      'database put',
      'exec',
      'get data',
    ].map((w) => ({ words: w.split(' '), dead: true })),
    {
      words: ['get', 'full', 'variable'],
      dead: true,
      usage:
        'Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set or channel does not exist. Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the variable in parenthesis. Understands complex variable names and builtin variables, unlike GET VARIABLE.\nExample return code: 200 result=1 (testvariable)',
      run: (argv) => {
        if (argv.length !== 4 && argv.length !== 5) return USAGE;
        if (argv.length === 5 && !isOurs(argv[4])) return ['200 result=0'];
        // Written raw: a value with a newline goes out across several lines.
        return [`200 result=1 (${substitute(chan, argv[3])})`];
      },
    },
    { words: ['get', 'option'], dead: false },
    {
      words: ['get', 'variable'],
      dead: true,
      usage:
        'Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the variable in parentheses.\nExample return code: 200 result=1 (testvariable)',
      run: (argv) => {
        if (argv.length !== 3) return USAGE;
        const name = argv[2];
        let ret: string | null;
        if (name.endsWith(')')) {
          // No substitution: the function reads into a 1,024-byte buffer.
          const r = funcRead(chan, name, GETVAR_BUF);
          ret = r.res === 0 ? r.out : null;
        } else {
          const v = retrieveVariable(chan, name);
          ret = v === null ? null : cut(v, GETVAR_BUF);
        }
        return [ret === null ? '200 result=0' : `200 result=1 (${ret})`];
      },
    },
    {
      words: ['hangup'],
      dead: false,
      usage: 'Hangs up the specified channel. If no channel name is given, hangs up the current channel',
      run: (argv) => {
        if (argv.length > 2) return USAGE;
        if (argv.length === 2 && !isOurs(argv[1])) return ['200 result=-1'];
        chan.hungUp = true;
        hangupNow = true;
        return ['200 result=1'];
      },
    },
    { words: ['noop'], dead: true, run: () => ['200 result=0'] },
    ...['receive char', 'receive text', 'record file', 'say alpha', 'say digits', 'say number', 'say phonetic', 'say date', 'say time', 'say datetime', 'send image', 'send text', 'set autohangup', 'set callerid', 'set context', 'set extension', 'set music', 'set priority'].map(
      (w) => ({ words: w.split(' '), dead: false }),
    ),
    {
      words: ['set', 'variable'],
      dead: true,
      usage: 'Sets a variable to the current channel.',
      run: (argv) => {
        if (argv.length !== 4) return USAGE; // an unquoted value with a space is 5 arguments
        const name = setVar(chan, argv[2], argv[3]);
        set.set(u8(name), u8(argv[3]));
        setOrder.push([u8(name), u8(argv[3])]);
        return ['200 result=1'];
      },
    },
    ...['stream file', 'control stream file', 'tdd mode'].map((w) => ({ words: w.split(' '), dead: false })),
    {
      words: ['verbose'],
      dead: true,
      usage:
        'Sends <replaceable>message</replaceable> to the console via verbose message system. <replaceable>level</replaceable> is the verbose level (1-4). Always returns <literal>1</literal>.',
      run: (argv) => {
        if (argv.length < 2) return USAGE;
        verbose.push(u8(argv[1]));
        return ['200 result=1'];
      },
    },
    ...['wait for digit', 'speech create', 'speech set', 'speech destroy', 'speech load grammar', 'speech unload grammar', 'speech activate grammar', 'speech deactivate grammar', 'speech recognize', 'gosub'].map((w) => ({
      words: w.split(' '),
      dead: false,
    })),
  ];

  /** find_command(argv, 0): every word of the command must match (case-insensitively); extra words are arguments. */
  const findCommand = (argv: string[]): Command | undefined =>
    commands.find((c) => {
      let y = 0;
      for (; y < argv.length; y++) {
        if (c.words[y] === undefined) break;
        if (c.words[y].toLowerCase() !== argv[y].toLowerCase()) return false;
      }
      return c.words[y] === undefined;
    });

  const engine: Engine = {
    env,
    exten,
    chan,
    dead: false,
    sighup: !isFalse(vars.get('AGISIGHUP')),
    exitOnHangup: isTrue(vars.get('AGIEXITONHANGUP')),
    set,
    setOrder,
    verbose,
    warnings,
    handle(line) {
      hangupNow = false;
      const argv = parseAgiArgs(line);
      const c = findCommand(argv);
      let out: string[];
      if (c && (!engine.dead || c.dead)) {
        if (!c.run) {
          warnings.push(`double: AGI command not modelled, answered 510: ${u8(line)}`);
          out = ['510 Invalid or unknown command'];
        } else {
          const r = c.run(argv);
          if (r !== USAGE) out = r;
          else if (!c.usage) out = ['520 Invalid command syntax.  Proper usage not available.'];
          else out = ['520-Invalid command syntax.  Proper usage follows:\n' + c.usage + '\n520 End of proper usage.'];
        }
      } else if (c) out = ['511 Command Not Permitted on a dead channel or intercept routine'];
      else out = ['510 Invalid or unknown command'];
      return { out, hungUpNow: hangupNow };
    },
  };
  return engine;
}

/** Evaluates a dialplan expression the way GET FULL VARIABLE (ast_str_substitute_variables) does, for unit tests. */
export function evaluateExpression(expr: string, variables: Record<string, string> = {}, exten = ''): { value: string; warnings: string[] } {
  const e = createEngine({ port: 0, variables, exten, phoneBodyLimit: Infinity });
  return { value: u8(substitute(e.chan, bin(expr))), warnings: e.warnings };
}

// --- The connection ---------------------------------------------------------------------

/**
 * Runs one AGI(agi://host:port/script) from the message channel against the
 * FastAGI server under test and resolves when Asterisk would return from AGI().
 */
export function runAgi(opts: AgiClientOptions): Promise<AgiRun> {
  const engine = createEngine(opts);
  const maxWaitMs = opts.maxWaitMs ?? 10_000;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 2000;
  const run: AgiRun = {
    status: 'SUCCESS',
    set: engine.set,
    setOrder: engine.setOrder,
    commands: [],
    responses: [],
    heldMs: 0,
    gaveUp: false,
    hungUp: false,
    env: u8(engine.env.join('\n') + '\n'),
    exten: engine.exten,
    variables: new Map(),
    verbose: engine.verbose,
    warnings: engine.warnings,
  };

  return new Promise<AgiRun>((resolve) => {
    let kernel = ''; // bytes the server sent that Asterisk has not read() yet
    let stdio = ''; // bytes read() into the FILE buffer, not yet returned by fgets
    let eof = false;
    let inFgets = false; // blocked inside fgets waiting for the rest of a line
    let done = false;
    let connectedAt = 0;
    let status: AgiStatus = 'SUCCESS'; // run_agi's returnstatus

    const socket = net.connect({ host: opts.host ?? '127.0.0.1', port: opts.port, allowHalfOpen: true });
    socket.setNoDelay(true);

    const send = (text: string, record = true): void => {
      if (record) run.responses.push(u8(text));
      if (!socket.destroyed && socket.writable) socket.write(Buffer.from(text + '\n', 'latin1'));
    };

    const finish = (final: AgiStatus, opt: { notify?: boolean; destroy?: boolean } = {}): void => {
      if (done) return;
      done = true;
      clearTimeout(connectTimer);
      clearTimeout(giveUpTimer);
      run.status = final;
      run.hungUp = engine.chan.hungUp;
      run.heldMs = connectedAt ? Date.now() - connectedAt : 0;
      engine.chan.vars.set('AGISTATUS', final);
      for (const [k, v] of engine.chan.vars) run.variables.set(u8(k), u8(v));
      // run_agi's "Notify process": a FastAGI server is told HANGUP before the socket closes.
      if (opt.notify && engine.sighup) send('HANGUP');
      if (opt.destroy) socket.destroy();
      else socket.end(() => socket.destroy());
      resolve(run);
    };

    // launch_netscript: nothing answering within MAX_AGI_CONNECT is a FAILURE too.
    const connectTimer = setTimeout(() => {
      if (!connectedAt) finish('FAILURE', { destroy: true });
    }, connectTimeoutMs);
    // Not Asterisk: a test must not hang forever on a server that never closes.
    const giveUpTimer = setTimeout(() => {
      run.gaveUp = true;
      finish(status, { destroy: true });
    }, maxWaitMs);

    /** fgets(buf, AGI_BUF_LEN): a whole line, or 2047 bytes of a longer one, from the stdio buffer. */
    const takeLine = (): string | null => {
      const nl = stdio.indexOf('\n');
      let n = -1;
      if (nl >= 0 && nl < AGI_BUF_LEN - 1) n = nl + 1;
      else if (stdio.length >= AGI_BUF_LEN - 1) n = AGI_BUF_LEN - 1;
      if (n < 0) return null;
      const line = stdio.slice(0, n);
      stdio = stdio.slice(n);
      return line;
    };

    /** run_agi's loop: poll the socket, read one command with fgets, handle it, poll again. */
    const pump = (): void => {
      while (!done) {
        if (!inFgets) {
          // ast_waitfor_nandfds polls the fd, not the FILE: lines already in the
          // stdio buffer do not wake it. Only new bytes or the close do.
          if (!kernel && !eof) return;
          inFgets = true;
        }
        let line: string | null;
        for (;;) {
          line = takeLine();
          if (line !== null) break;
          if (kernel) {
            const n = Math.min(STDIO_BUF, kernel.length);
            stdio += kernel.slice(0, n);
            kernel = kernel.slice(n);
            continue;
          }
          if (eof) {
            line = stdio; // what is left, a last line without '\n' included
            stdio = '';
            break;
          }
          return; // fgets blocks until more bytes come
        }
        inFgets = false;
        let buf = cstr(line); // strlen(): a NUL ends the command
        if (!buf) return finish(status, { notify: true }); // "AGI Script ... completed": the server closed
        if (buf.slice(0, 7).toLowerCase() === 'failure') return finish('FAILURE', { notify: true });
        if (buf.endsWith('\n')) buf = buf.slice(0, -1);
        run.commands.push(u8(buf));
        const r = engine.handle(buf);
        for (const text of r.out) send(text);
        if (r.hungUpNow) {
          // Next turn of run_agi: ast_read() on the hung-up channel gives NULL,
          // the AGI goes on "dead", AGISTATUS will be HANGUP, and a FastAGI
          // server is sent HANGUP at once.
          if (status === 'SUCCESS') status = 'HANGUP';
          engine.dead = true;
          if (engine.sighup) send('HANGUP');
          if (engine.exitOnHangup) return finish(status, { notify: true });
        }
      }
    };

    socket.on('connect', () => {
      connectedAt = Date.now();
      clearTimeout(connectTimer);
      // One write per line, as ast_agi_send does.
      for (const l of engine.env) socket.write(Buffer.from(l + '\n', 'latin1'));
    });
    socket.on('data', (d: Buffer) => {
      if (done) return;
      kernel += d.toString('latin1');
      pump();
    });
    socket.on('end', () => {
      eof = true;
      pump();
    });
    socket.on('error', () => {
      // Nothing listening: AGISTATUS=FAILURE at once. Later errors (a reset)
      // end fgets like a close does.
      if (!connectedAt) return finish('FAILURE', { destroy: true });
      eof = true;
      pump();
    });
    socket.on('close', () => {
      if (done) return;
      if (!connectedAt) return finish('FAILURE');
      eof = true;
      pump();
    });
  });
}

// --- What the dialplan does after AGI() --------------------------------------------------

export interface TextTrunkOptions extends AgiClientOptions {
  /** The notice text; the real one lives in dialplan/extensions.conf. */
  notice?: (to: string, reason: string) => string;
  /** The reason when websms set none (down, refused, closed without a status). */
  unreachableReason?: string;
}

export interface TextTrunkResult {
  run: AgiRun;
  /** The text sent back to the phone, when the message was not queued. */
  notice?: string;
}

/**
 * The contract of context sub_text_trunk after AGI(): unless WEBSMS_STATUS is
 * QUEUED (websms down, AGISTATUS=FAILURE, included), the sender gets a notice.
 * After an AGI HANGUP nothing runs, so no notice either.
 */
export async function simulateTextTrunk(opts: TextTrunkOptions): Promise<TextTrunkResult> {
  const run = await runAgi(opts);
  if (run.status === 'HANGUP') return { run };
  if (run.variables.get('WEBSMS_STATUS') === 'QUEUED') return { run };
  const reason = run.variables.get('WEBSMS_REASON') || (opts.unreachableReason ?? 'the SMS gateway is not reachable');
  const text = opts.notice ?? ((to: string, why: string) => `Your message to ${to} was not sent: ${why}`);
  return { run, notice: text(run.exten, reason) };
}
