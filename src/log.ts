// Structured logging: one line per event on stderr. By default a JSON object
// (fields first, a short message after), which systemd's journal keeps as it
// is; `[general] log_format = text` writes the same event as a line for people:
//   2025-01-31T12:00:00.000Z WARN  http: webhook refused iface=default ip=192.0.2.7 status=403 reason="..."
// Every line, whatever its level, goes through the logger's redactor
// (src/redact.ts) last: no call site has to remember which of its values could
// carry a secret.

import { noRedaction, type Redact } from './redact.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'text';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(fields: Fields, msg: string): void;
  info(fields: Fields, msg: string): void;
  warn(fields: Fields, msg: string): void;
  error(fields: Fields, msg: string): void;
  child(fields: Fields): Logger;
  level: Level;
  /** Applied to every finished line; shared by the logger and all its children, set when the configuration is known. */
  redact: Redact;
}

export type Sink = (line: string) => void;

// Lines are gathered and written once per turn of the event loop: under load a
// write per line costs a system call per webhook. A crash can lose at most the
// lines of the current turn; 'exit' writes them out on a normal exit.
let pending: string[] = [];
let scheduled = false;
function drain(): void {
  scheduled = false;
  if (pending.length === 0) return;
  const text = pending.join('\n') + '\n';
  pending = [];
  process.stderr.write(text);
}
process.on('exit', drain);
const stderrSink: Sink = (line) => {
  pending.push(line);
  if (!scheduled) {
    scheduled = true;
    setImmediate(drain);
  }
};

export function createLogger(level: Level = 'info', base: Fields = {}, sink: Sink = stderrSink, format: LogFormat = 'json', redact: Redact = noRedaction): Logger {
  return make({ level, redact }, base, sink, format);
}

/** A logger and all its children share one level and one redactor, so a reload's new log_level and secrets reach every module at once. */
function make(shared: { level: Level; redact: Redact }, base: Fields, sink: Sink, format: LogFormat): Logger {
  const baseFlat = flat(base);
  const emit = (lvl: Level, fields: Fields, msg: string): void => {
    if (ORDER[lvl] < ORDER[shared.level]) return;
    const time = isoNow();
    const line =
      format === 'text'
        ? textLine(time, lvl, { ...base, ...fields }, msg)
        : // The replacer only ever changes an Error, which can only sit under an
          // object value; a replacer makes JSON.stringify call back into JS for
          // every key, a third of a webhook's "text stored" line.
          JSON.stringify({ time, level: lvl, ...base, ...fields, msg }, baseFlat && flat(fields) ? undefined : errorReplacer);
    sink(shared.redact(line));
  };
  return {
    get level() {
      return shared.level;
    },
    set level(l: Level) {
      shared.level = l;
    },
    get redact() {
      return shared.redact;
    },
    set redact(r: Redact) {
      shared.redact = r;
    },
    debug: (f, m) => emit('debug', f, m),
    info: (f, m) => emit('info', f, m),
    warn: (f, m) => emit('warn', f, m),
    error: (f, m) => emit('error', f, m),
    child: (fields) => make(shared, { ...base, ...fields }, sink, format),
  };
}

/** True when no value is an object (so none is, or holds, an Error). */
function flat(fields: Fields): boolean {
  for (const k in fields) {
    const v = fields[k];
    if (typeof v === 'object' && v !== null) return false;
  }
  return true;
}

// The time of a line, made once per millisecond: under load many lines share
// one, and toISOString is a good part of a line's cost.
let isoMs = NaN;
let isoText = '';
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

/** `<time> <LEVEL> <mod>: <msg> key=value ...`; anything that could break the line is quoted as JSON. */
function textLine(time: string, lvl: Level, fields: Fields, msg: string): string {
  const { mod, ...rest } = fields;
  let line = `${time} ${lvl.toUpperCase().padEnd(5)} ${mod === undefined ? '' : `${textValue(mod)}: `}${oneLine(msg)}`;
  for (const [k, v] of Object.entries(rest)) {
    if (v === undefined) continue;
    line += ` ${oneLine(k)}=${textValue(v)}`;
  }
  return line;
}

function textValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=\\\p{Cc}]+$/u.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (v instanceof Error) {
    const code = (v as { code?: unknown }).code;
    return JSON.stringify(code !== undefined ? `${String(code)}: ${v.message}` : `${v.name}: ${v.message}`);
  }
  return JSON.stringify(v, errorReplacer) ?? String(v);
}

/** Control characters (a newline above all) escaped, so one event stays one line. */
function oneLine(s: string): string {
  return s.replace(/\p{Cc}/gu, (c) => JSON.stringify(c).slice(1, -1));
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const out: Fields = { name: value.name, message: value.message };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    return out;
  }
  return value;
}

export const silentLogger: Logger = createLogger('error', {}, () => {});
