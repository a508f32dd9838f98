// Structured logging: one JSON object per line on stderr, fields first, a short
// message after. systemd's journal keeps the lines as they are.

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

export function createLogger(level: Level = 'info', base: Fields = {}, sink: Sink = stderrSink): Logger {
  return make({ level }, base, sink);
}

/** A logger and all its children share one level, so a reload's new log_level reaches every module at once. */
function make(shared: { level: Level }, base: Fields, sink: Sink): Logger {
  const emit = (lvl: Level, fields: Fields, msg: string): void => {
    if (ORDER[lvl] < ORDER[shared.level]) return;
    const rec: Fields = { time: new Date().toISOString(), level: lvl, ...base, ...fields, msg };
    sink(JSON.stringify(rec, errorReplacer));
  };
  return {
    get level() {
      return shared.level;
    },
    set level(l: Level) {
      shared.level = l;
    },
    debug: (f, m) => emit('debug', f, m),
    info: (f, m) => emit('info', f, m),
    warn: (f, m) => emit('warn', f, m),
    error: (f, m) => emit('error', f, m),
    child: (fields) => make(shared, { ...base, ...fields }, sink),
  };
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
