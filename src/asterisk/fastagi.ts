// A FastAGI server: the dialplan runs AGI(agi://host:port/<script>) and we
// speak res_agi's protocol on the connection.
//
// Why it is so careful about time: Asterisk runs incoming SIP MESSAGEs one at
// a time, on one task processor, and has no read timeout on a FastAGI socket.
// While we hold a connection the whole PBX's message queue waits (at 500
// waiting messages PJSIP drops every new UDP request, REGISTERs included). So
// every session has one deadline for its whole life; when it passes, the
// socket is destroyed whatever the script is doing.
//
// Protocol facts this follows (res_agi.c, measured on Asterisk 22.10):
//  - Asterisk first sends the environment, `agi_<key>: <value>` lines ending
//    in a blank line.
//  - Asterisk reads commands with fgets into 2,048 bytes and polls the socket,
//    not its stdio buffer: commands must go one at a time, each after the
//    previous answer, or they stall. A line over 2,047 bytes would be split
//    into two commands.
//  - Arguments are split by parse_args: double quotes group, a backslash
//    makes the next character literal. So every value we send is quoted with
//    `\` and `"` escaped; a CR, LF or NUL can never be sent (LF ends the
//    command, NUL ends the C string, CR is kept in the value).
//  - Answers: `200 result=<n>` with an optional ` (<value>)`; the value is
//    written raw, so it may contain parentheses and newlines (a multi-line
//    value arrives across several lines). `510`/`511` single lines; `520`
//    either one line or `520-...` up to `520 End of proper usage.`.
//  - Asterisk writes a bare `HANGUP` line whenever the channel hangs up and at
//    the end of every session; it only ever comes between answers.
//  - We end a session by closing the socket. The AGI `HANGUP` command would
//    end the dialplan (AGISTATUS=HANGUP), so nothing after AGI() would run.

import net from 'node:net';
import { WebsmsError } from '../errors.js';
import type { Logger } from '../log.js';

export type AgiErrorCode = 'agi_closed' | 'agi_timeout' | 'agi_protocol' | 'agi_command' | 'agi_encoding';

export class AgiError extends WebsmsError {
  constructor(code: AgiErrorCode, message: string) {
    super(code, message);
  }
}

/** One answer from Asterisk. */
export interface AgiReply {
  /** 200, 510, 511, 520 ... */
  code: number;
  /** The n of `result=<n>` (200 only). */
  result?: string;
  /** The text inside the parentheses of a 200 answer, decoded from UTF-8; newlines kept. */
  value?: string;
  /** Whatever followed the value or the result (`endpos=...`). */
  extra?: string;
  /** Every line of the answer as received (UTF-8), without their `\n`. */
  lines: string[];
}

export interface CommandOptions {
  /**
   * The answer spans exactly this many lines (a value with lines-1 newlines),
   * or as many as the function computes from the answer's first line (for a
   * value that announces its own line count). Without it, a
   * `200 result=1 (` answer is read until a line ends in `)`.
   */
  lines?: number | ((firstLine: string) => number);
}

export interface AgiSession {
  /** The environment block as sent: keys keep their `agi_` prefix (`agi_extension`). */
  env: Record<string, string>;
  /** The script named in the AGI URL (`outbound` for agi://host/outbound). */
  script: string;
  remoteAddress: string;
  /** Aborted when the session's deadline passed or the connection closed. */
  signal: AbortSignal;
  /**
   * GET FULL VARIABLE <expr>. `expr` is the expression as Asterisk should
   * evaluate it (`${MESSAGE(body)}`); it is quoted and escaped here, so a
   * backslash in it reaches the wire doubled. Undefined on `result=0`.
   */
  getFullVariable(expr: string, opts?: CommandOptions): Promise<string | undefined>;
  /** GET VARIABLE <name> (no substitution). Undefined when unset. */
  getVariable(name: string): Promise<string | undefined>;
  /** SET VARIABLE <name> "<value>". Throws AgiError for a value with CR, LF or NUL. */
  setVariable(name: string, value: string): Promise<void>;
  /** Sends one raw command line (without its `\n`) and reads its answer. */
  command(line: string, opts?: CommandOptions): Promise<AgiReply>;
}

export interface FastAgiOptions {
  host: string;
  port: number;
  /** Remote addresses allowed to connect; others are closed at once. */
  allow: (ip: string) => boolean;
  /** Upper bound of a session's whole life, connect to close (ms). */
  timeoutMs: number;
  log: Logger;
  scripts: Record<string, (s: AgiSession) => Promise<void>>;
  /**
   * Runs instead of the named script for a session that sent its environment
   * after close() began (accepted just before the listener closed): it should
   * answer quickly, so that the dialplan tells the sender at once.
   */
  whileClosing?: (s: AgiSession) => Promise<void>;
}

export interface FastAgiServer {
  port: number;
  /**
   * Stops accepting at once; sessions under way finish, each within its
   * deadline and all within graceMs, after which the ones left are cut.
   */
  close(graceMs?: number): Promise<void>;
  /** Sessions in progress right now. */
  active(): number;
  /** Whether it takes new connections (false once closing). */
  listening(): boolean;
}

/** Longest command line without its `\n`: fgets(buf, 2048) keeps 2,047 bytes, `\n` included. */
export const MAX_COMMAND_BYTES = 2046;
/** Bytes buffered from Asterisk without a complete answer before we give up (a value holds at most 4,095). */
const MAX_PENDING_BYTES = 64 * 1024;
/** The most lines one answer may announce: a few values of 4,095 bytes, each all newlines. */
export const MAX_ANSWER_LINES = 4 * 4096;
const MAX_ENV_LINES = 256;
/** A variable name, or a function call on a plain argument (`MESSAGE(body)`). */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_.\-]*\))?$/;

// --- Pure helpers -------------------------------------------------------------

/**
 * A value as one argument of an AGI command: in double quotes, with `\` and
 * `"` escaped for parse_args. CR, LF and NUL cannot be carried: throws.
 */
export function quoteAgiValue(value: string): string {
  if (/[\r\n\0]/.test(value)) throw new AgiError('agi_encoding', 'an AGI value cannot carry CR, LF or NUL');
  return '"' + value.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

/**
 * Free text (a reason) made safe for quoteAgiValue: control characters
 * (CR/LF/NUL included) become spaces, runs of spaces collapse, and the text
 * is cut to at most maxChars characters without splitting a surrogate pair.
 */
export function agiSafeText(text: string, maxChars = 200): string {
  let s = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, ' ').replace(/ {2,}/g, ' ').trim();
  if (s.length > maxChars) {
    let end = maxChars - 3;
    const c = s.charCodeAt(end - 1);
    if (c >= 0xd800 && c <= 0xdbff) end--;
    s = s.slice(0, end) + '...';
  }
  return s;
}

/** `SET VARIABLE <name> "<value>"`, checked. */
export function setVariableCommand(name: string, value: string): string {
  if (!NAME.test(name)) throw new AgiError('agi_encoding', `bad AGI variable name ${JSON.stringify(name)}`);
  return `SET VARIABLE ${name} ${quoteAgiValue(value)}`;
}

/**
 * Parses the text of a 200 answer after `200 ` (lines joined with `\n`):
 * `result=1 (value)`, `result=0`, `result=0 (timeout) endpos=0`.
 * When the text ends in `)`, the value runs from the first ` (` to that last
 * `)`: a value may hold any parentheses of its own.
 */
export function parse200(text: string): { result: string; value?: string; extra?: string } {
  const m = /^result=(-?\d+)/.exec(text);
  if (!m) throw new AgiError('agi_protocol', `unexpected AGI answer: 200 ${JSON.stringify(text.slice(0, 80))}`);
  const result = m[1]!;
  const rest = text.slice(m[0].length);
  if (rest === '') return { result };
  if (rest.startsWith(' (')) {
    if (rest.endsWith(')')) return { result, value: rest.slice(2, -1) };
    const close = rest.indexOf(')');
    if (close >= 0) return { result, value: rest.slice(2, close), extra: rest.slice(close + 1).trim() };
  }
  return { result, extra: rest.trim() };
}

// --- The connection -----------------------------------------------------------

interface LineReader {
  /** The next `\n`-terminated line, without the `\n` (CR kept). */
  next(): Promise<Buffer>;
  fail(err: Error): void;
}

function createLineReader(socket: net.Socket, onOverflow: () => void): LineReader {
  let buf: Buffer = Buffer.alloc(0);
  let failure: Error | undefined;
  let waiter: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;

  const take = (): Buffer | undefined => {
    const i = buf.indexOf(0x0a);
    if (i < 0) return undefined;
    const line = buf.subarray(0, i);
    buf = buf.subarray(i + 1);
    return line;
  };
  const pump = (): void => {
    if (!waiter) return;
    const line = take();
    if (line) {
      const w = waiter;
      waiter = undefined;
      w.resolve(line);
    } else if (failure) {
      const w = waiter;
      waiter = undefined;
      w.reject(failure);
    }
  };
  socket.on('data', (d: Buffer) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    if (buf.length > MAX_PENDING_BYTES && buf.indexOf(0x0a) < 0) onOverflow();
    pump();
  });
  const closed = (): void => {
    failure ??= new AgiError('agi_closed', 'Asterisk closed the AGI connection');
    pump();
  };
  socket.on('end', closed);
  socket.on('close', closed);

  return {
    next() {
      const line = take();
      if (line) return Promise.resolve(line);
      if (failure) return Promise.reject(failure);
      if (waiter) return Promise.reject(new AgiError('agi_protocol', 'one AGI read at a time'));
      return new Promise<Buffer>((resolve, reject) => (waiter = { resolve, reject }));
    },
    fail(err) {
      failure ??= err;
      pump();
    },
  };
}

async function readEnv(reader: LineReader): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (let n = 0; ; n++) {
    if (n > MAX_ENV_LINES) throw new AgiError('agi_protocol', 'AGI environment too long');
    const line = (await reader.next()).toString('utf8');
    if (line === '' || line === '\r') return env;
    const i = line.indexOf(':');
    if (i <= 0) throw new AgiError('agi_protocol', `bad AGI environment line ${JSON.stringify(line.slice(0, 60))}`);
    env[line.slice(0, i)] = line.slice(i + 1).replace(/^ /, '').replace(/\r$/, '');
  }
}

/** The script of `agi://host:port/<script>?args`: agi_network_script, else the path of agi_request. */
export function scriptName(env: Record<string, string>): string {
  let s = env.agi_network_script;
  if (s === undefined) {
    const m = /^agi:\/\/[^/]*\/(.*)$/i.exec(env.agi_request ?? '');
    s = m ? m[1]! : '';
  }
  return s.split('?')[0]!.replace(/^\/+|\/+$/g, '');
}

function createSession(
  socket: net.Socket,
  reader: LineReader,
  env: Record<string, string>,
  signal: AbortSignal,
): AgiSession {
  let busy = false;

  /**
   * The first line of an answer. `HANGUP` notices before it are skipped: they
   * say the phone side is gone, which changes nothing for a message channel
   * (its variables still work, and we answer and close as always).
   */
  const firstLine = async (): Promise<string> => {
    for (;;) {
      const line = (await reader.next()).toString('utf8');
      if (line !== 'HANGUP' && line !== 'HANGUP\r') return line;
    }
  };

  const readReply = async (opts: CommandOptions): Promise<AgiReply> => {
    const first = await firstLine();
    const m = /^(\d{3})([ -])([\s\S]*)$/.exec(first);
    if (!m) throw new AgiError('agi_protocol', `unexpected line from Asterisk: ${JSON.stringify(first.slice(0, 80))}`);
    const code = Number(m[1]);
    const lines = [first];
    if (m[2] === '-') {
      // 520-Invalid command syntax. Proper usage follows: ... 520 End of proper usage.
      for (;;) {
        const l = (await reader.next()).toString('utf8');
        lines.push(l);
        if (l.startsWith(`${m[1]} `)) break;
      }
      return { code, lines };
    }
    if (code !== 200) return { code, lines };
    if (opts.lines !== undefined) {
      const n = typeof opts.lines === 'number' ? opts.lines : opts.lines(first);
      if (!(Number.isInteger(n) && n >= 1 && n <= MAX_ANSWER_LINES)) {
        throw new AgiError('agi_protocol', `an AGI answer announced ${n} lines: ${JSON.stringify(first.slice(0, 80))}`);
      }
      for (let i = 1; i < n; i++) lines.push((await reader.next()).toString('utf8'));
    } else if (/^result=-?\d+ \(/.test(m[3]!)) {
      // A value with newlines we were not told about: read on until a line
      // ends the parenthesis. Only a guess for such values, which is why the
      // body is read with an exact line count.
      // (A first line like `result=0 (timeout) endpos=0` is complete as it is.)
      let last = lines[0]!;
      if (/\) [a-z]+=\S*$/.test(last)) last += ')';
      while (!last.endsWith(')')) {
        last = (await reader.next()).toString('utf8');
        lines.push(last);
      }
    }
    const text = lines.join('\n').slice(4);
    return { code, ...parse200(text), lines };
  };

  const command = async (line: string, opts: CommandOptions = {}): Promise<AgiReply> => {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new AgiError('agi_closed', 'AGI session is over');
    if (busy) throw new AgiError('agi_protocol', 'one AGI command at a time');
    if (/[\r\n\0]/.test(line)) throw new AgiError('agi_encoding', 'an AGI command cannot carry CR, LF or NUL');
    if (Buffer.byteLength(line, 'utf8') > MAX_COMMAND_BYTES) {
      throw new AgiError('agi_encoding', `an AGI command is limited to ${MAX_COMMAND_BYTES} bytes`);
    }
    if (typeof opts.lines === 'number' && !(Number.isInteger(opts.lines) && opts.lines >= 1)) {
      throw new AgiError('agi_encoding', 'lines must be a whole number >= 1');
    }
    busy = true;
    try {
      socket.write(line + '\n');
      return await readReply(opts);
    } finally {
      busy = false;
    }
  };

  const failed = (line: string, r: AgiReply): AgiError =>
    new AgiError('agi_command', `${line.split(' ').slice(0, 3).join(' ')}: Asterisk answered ${r.lines[0]}`);

  const session: AgiSession = {
    env,
    script: scriptName(env),
    remoteAddress: socket.remoteAddress ?? '',
    signal,
    command,
    async getFullVariable(expr, opts = {}) {
      const line = `GET FULL VARIABLE ${quoteAgiValue(expr)}`;
      const r = await command(line, opts);
      if (r.code !== 200) throw failed(line, r);
      return r.result === '1' ? (r.value ?? '') : undefined;
    },
    async getVariable(name) {
      if (!NAME.test(name)) throw new AgiError('agi_encoding', `bad AGI variable name ${JSON.stringify(name)}`);
      const line = `GET VARIABLE ${name}`;
      const r = await command(line);
      if (r.code !== 200) throw failed(line, r);
      return r.result === '1' ? (r.value ?? '') : undefined;
    },
    async setVariable(name, value) {
      const line = setVariableCommand(name, value);
      const r = await command(line);
      if (r.code !== 200 || r.result !== '1') throw failed(line, r);
    },
  };
  return session;
}

// --- The server ---------------------------------------------------------------

export function createFastAgiServer(opts: FastAgiOptions): Promise<FastAgiServer> {
  const { log } = opts;
  const sockets = new Set<net.Socket>();
  const running = new Set<Promise<void>>();
  let closing = false;

  const handle = async (socket: net.Socket): Promise<void> => {
    const started = Date.now();
    const remote = socket.remoteAddress ?? '';
    const controller = new AbortController();
    let finished = false;
    let script = '';
    const reader = createLineReader(socket, () => {
      const err = new AgiError('agi_protocol', 'too many bytes from Asterisk without a complete answer');
      controller.abort(err);
      reader.fail(err);
      socket.destroy();
    });
    // The one deadline of the whole session: whatever the peer or the script
    // does (a silent peer, a slow disk), the socket is gone after timeoutMs.
    const deadline = setTimeout(() => {
      const err = new AgiError('agi_timeout', `AGI session not done within ${opts.timeoutMs} ms`);
      if (!finished) log.warn({ remote, script, ms: Date.now() - started }, 'AGI session timed out; closing it');
      controller.abort(err);
      reader.fail(err);
      socket.destroy();
    }, opts.timeoutMs);
    deadline.unref();
    socket.on('close', () => {
      clearTimeout(deadline);
      if (!controller.signal.aborted) controller.abort(new AgiError('agi_closed', 'the AGI connection closed'));
    });

    try {
      const env = await readEnv(reader);
      const session = createSession(socket, reader, env, controller.signal);
      script = session.script;
      const named = Object.prototype.hasOwnProperty.call(opts.scripts, script) ? opts.scripts[script] : undefined;
      const run = closing && named && opts.whileClosing ? opts.whileClosing : named;
      if (!run) {
        log.warn({ remote, script, request: env.agi_request }, 'unknown AGI script; closing');
        return;
      }
      log.debug({ remote, script, exten: env.agi_extension }, 'AGI session');
      await run(session);
    } catch (err) {
      const code = err instanceof AgiError ? err.code : undefined;
      // A timeout was logged by the deadline; a peer that went away is normal enough for debug.
      if (code === 'agi_closed') log.debug({ remote, script, err }, 'AGI connection closed early');
      else if (code !== 'agi_timeout') log.warn({ remote, script, err }, 'AGI session failed');
    } finally {
      finished = true;
      // Closing (not the AGI HANGUP command) ends AGI() with AGISTATUS=SUCCESS
      // and lets the dialplan go on. Asterisk answers our FIN with its own
      // HANGUP line and close; the deadline destroys the socket if it does not.
      if (!socket.destroyed) socket.end();
      if (!controller.signal.aborted) controller.abort(new AgiError('agi_closed', 'AGI session is over'));
    }
  };

  const server = net.createServer((socket) => {
    const remote = socket.remoteAddress;
    socket.on('error', (err) => log.debug({ remote, err }, 'AGI socket error'));
    if (!remote || !opts.allow(remote)) {
      log.warn({ remote }, 'AGI connection from an address not allowed; closed');
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const p = handle(socket);
    running.add(p);
    void p.finally(() => running.delete(p));
  });

  return new Promise<FastAgiServer>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      server.on('error', (err) => log.error({ err }, 'AGI server error'));
      const port = (server.address() as net.AddressInfo).port;
      log.info({ host: opts.host, port }, 'FastAGI server listening');
      let closed: Promise<void> | undefined;
      resolve({
        port,
        active: () => running.size,
        listening: () => server.listening,
        close(graceMs = Infinity) {
          closing = true;
          closed ??= (async () => {
            const stopped = new Promise<void>((res) => server.close(() => res()));
            // Sessions under way end within their own deadline, or when the
            // grace is over: a session cut then either had its text
            // committed and QUEUED confirmed, or it is handled like a
            // deadline that passed (src/outbound/handoff.ts).
            let cut: NodeJS.Timeout | undefined;
            const over = new Promise<void>((res) => {
              if (Number.isFinite(graceMs)) cut = setTimeout(res, graceMs);
            });
            await Promise.race([Promise.allSettled([...running]), over]);
            clearTimeout(cut);
            for (const s of sockets) s.destroy();
            await Promise.allSettled([...running]);
            await stopped;
          })();
          return closed;
        },
      });
    });
  });
}
