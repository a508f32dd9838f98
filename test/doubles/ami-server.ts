// A fake Asterisk 22 speaking the real AMI wire protocol on a loopback port.
//
// It reproduces what /work/shared/asterisk-facts.md measured and what
// main/manager.c does, harshness included: the 1,024-byte input buffer
// (a line over 1,022 bytes loses its action), bare LF as a line end, the
// 128-header cap, Originate's comma/quote/backslash processing of Variable:
// headers, event classes filtered by read permission and event mask, the
// one-second sleep after a bad secret, and one session thread per connection
// (a slow or hung action holds every later answer and event on that socket).
//
// It also keeps an AstDB (main/db.c: DBGet, DBPut, DBDel, DBDelTree over AMI,
// with their write classes) and the dialplan's delivery record on it, as
// sub_text_term and sub_prune_delivered do: a message whose WEBSMS_RECORD is
// recorded is reported DELIVERED with "Repeat: yes" and never shown again.
// `phones` says what each fake phone (contact) was shown.
//
// Internally header text is kept as latin1 "binary" strings so every byte
// survives; what tests see (RecordedAction, OriginateRequest) is UTF-8.

import { EventEmitter } from 'node:events';
import net from 'node:net';

export type ContactStatus = 'NonQualified' | 'Reachable' | 'Unreachable';
export type ReportStatus = 'DELIVERED' | 'FAILED' | 'NO_CONTACTS' | 'BUSY';

export interface AmiDoubleOptions {
  username?: string; // 'websms' (matched case-insensitively, like Asterisk)
  secret?: string; // 'secret'
  readPerms?: string[]; // ['system', 'call', 'user']
  writePerms?: string[]; // ['originate']
  authFailDelayMs?: number; // 1000
  authTimeoutMs?: number; // 30000: unauthenticated sessions are closed after this
  originateDelayMs?: number; // 5: queued -> OriginateResponse
  contexts?: string[]; // text contexts: ['dp_entry_text_in']
  answerContexts?: string[]; // ['dp_entry_answer']
  extenPattern?: RegExp; // extensions that exist in the text contexts: /^\+?[0-9]+$/
  bannerVersion?: string; // '11.0.0'
  port?: number; // 0 = ephemeral
  onOriginate?: (o: OriginateRequest) => OriginatePlan | undefined;
  /** The loaded dialplan ShowDialPlan reports; default DEFAULT_DIALPLAN plus contexts and answerContexts. */
  dialplan?: Dialplan;
  /** Asterisk's clock (ms) for ${EPOCH}, the records' times and their pruning; default Date.now. */
  clock?: () => number;
}

/** One priority of an extension (ListDialplan with Extension/Priority/Application/AppData). */
export interface DialplanPriority {
  exten: string;
  priority: number | 'hint';
  app: string;
  appData?: string;
  label?: string;
}
/** An "include =>" line (ListDialplan with IncludeContext). */
export interface DialplanInclude {
  include: string;
}
export type DialplanEntry = DialplanPriority | DialplanInclude;
export type Dialplan = Record<string, DialplanEntry[]>;

/** The contexts websms relies on, shaped like dialplan/extensions.conf, so a default double has a complete dialplan. */
export const DEFAULT_DIALPLAN: Dialplan = {
  dp_entry_answer: [{ include: 'dp_lookup' }, { include: 'dp_answer' }],
  dp_entry_text_in: [{ include: 'dp_lookup' }, { include: 'dp_text_in' }],
  dp_entry_text_inout: [{ include: 'dp_lookup' }, { include: 'dp_text_inout' }],
  dp_lookup: [
    { exten: '_0ZXXXXXX.', priority: 1, app: 'Goto', appData: '${CONTEXT},+${GLOBAL(CONTRY_CODE)}${EXTEN:1},1' },
    { exten: '_ZXXXXXX.', priority: 1, app: 'Goto', appData: '${CONTEXT},+${EXTEN},1' },
  ],
  dp_answer: [
    { exten: '_[+0-9].', priority: 1, app: 'NoOp', appData: '' },
    { exten: '_[+0-9].', priority: 2, app: 'Answer', appData: '' },
    { exten: '_[+0-9].', priority: 3, app: 'Wait', appData: '${WEBSMS_HOLD}', label: 'hold' },
  ],
  dp_text_in: [
    { exten: '_[+0-9].', priority: 1, app: 'NoOp', appData: '' },
    { exten: '_[+0-9].', priority: 2, app: 'Gosub', appData: 'sub_decode_body,s,1' },
    { exten: '_[+0-9].', priority: 3, app: 'Gosub', appData: 'sub_text_term,s,1(${HINT})' },
    { exten: '_[+0-9].', priority: 4, app: 'Hangup', appData: '' },
  ],
  dp_text_inout: [
    { exten: '_X.', priority: 1, app: 'Gosub', appData: 'sub_text_trunk,s,1' },
    { exten: '_X.', priority: 2, app: 'Hangup', appData: '' },
  ],
  sub_decode_body: [
    { exten: 's', priority: 1, app: 'NoOp', appData: '' },
    { exten: 's', priority: 2, app: 'Return', appData: '' },
  ],
  sub_text_term: [
    { exten: 's', priority: 1, app: 'NoOp', appData: '' },
    { exten: 's', priority: 2, app: 'UserEvent', appData: 'WebSMS,Id: ${WEBSMS_ID},Status: ${WEBSMS_STATUS}' },
    { exten: 's', priority: 3, app: 'Return', appData: '' },
  ],
  sub_text_trunk: [
    { exten: 's', priority: 1, app: 'AGI', appData: 'agi://${GLOBAL(WEBSMS_AGI)}/outbound' },
    { exten: 's', priority: 2, app: 'Return', appData: '' },
  ],
};

export interface RecordedAction {
  session: number;
  name: string; // value of Action: ('' when missing)
  headers: Array<[string, string]>;
  raw: string; // every byte received for this action, line ends included
  rejected?: 'line too long' | 'too many headers';
}

export interface OriginateRequest {
  session: number;
  actionId: string;
  channel: string;
  context: string;
  exten: string;
  priority: string;
  async: boolean;
  variableHeaders: string[]; // raw values of the Variable: headers
  variableList: Array<[string, string]>; // after Asterisk's argument parsing, in order
  variables: Record<string, string>; // the same as a map (first assignment wins, as on the channel)
  headers: Array<[string, string]>;
}

interface PlanBase {
  delayMs?: number; // hold the session (response and events) this long first
}
export type OriginatePlan = PlanBase &
  (
    | { kind: 'error'; message: string }
    | { kind: 'failure'; reason?: number }
    | { kind: 'noReport'; deliver?: boolean }
    | { kind: 'status'; status: ReportStatus }
    | { kind: 'silent' }
    | { kind: 'normal'; userEventFirst?: boolean }
  );

export interface Delivery {
  endpoint: string;
  contact: string;
  from: string;
  to: string;
  body: Buffer;
  websmsId: string;
  actionId: string;
}

export interface EmittedEvent {
  name: string;
  cls: string;
  fields: Array<[string, string]>; // UTF-8 view (binary values decoded)
  session?: number; // set when sent to one session only (FullyBooted)
}

export interface SessionInfo {
  id: number;
  authenticated: boolean;
  username: string;
  eventMask: string[]; // classes this session has asked for
  closed: boolean;
}

export type EventFields = Record<string, string> | Array<[string, string]>;

export interface AmiDouble {
  readonly host: string;
  readonly port: number;
  readonly actions: RecordedAction[];
  readonly originates: OriginateRequest[];
  readonly deliveries: Delivery[];
  readonly events: EmittedEvent[];
  readonly sessions: SessionInfo[];
  /**
   * What each fake phone was shown: contact URI -> bodies (UTF-8), in order.
   * A text shown once to a phone appears once in its list.
   */
  readonly phones: Record<string, string[]>;
  /** AstDB: "/family/key" -> value, as main/db.c keeps it. */
  readonly astdb: Map<string, string>;
  /**
   * Asterisk restarts: every session is closed and every call not yet run is
   * dropped; AstDB is kept. With crash, writes made in the last second are
   * lost too (main/db.c commits them from a sync thread that sleeps one
   * second between commits). The listener stays open.
   */
  restart(opts?: { crash?: boolean }): void;
  onOriginate?: (o: OriginateRequest) => OriginatePlan | undefined;
  queuePlan(...plans: OriginatePlan[]): void;
  addEndpoint(number: string, endpoint: string, contacts?: string[]): void;
  register(endpoint: string, contactUri: string, status?: ContactStatus): void;
  unregister(endpoint: string, contactUri: string): void;
  contactsOf(endpoint: string): string[];
  emit(event: EventFields, cls: string): void;
  dropConnections(opts?: { reset?: boolean }): void;
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
  /** The dialplan ShowDialPlan reports (a copy). */
  readonly dialplan: Dialplan;
  /** Loads (entries) or removes (undefined) one context, as a dialplan reload would. */
  setContext(name: string, entries: DialplanEntry[] | undefined): void;
  waitFor<T>(check: () => T | undefined | null | false, timeoutMs?: number): Promise<T>;
  waitForAction(pred: (a: RecordedAction) => boolean, timeoutMs?: number): Promise<RecordedAction>;
  waitForDelivery(pred: (d: Delivery) => boolean, timeoutMs?: number): Promise<Delivery>;
  on(ev: 'delivered', fn: (d: Delivery) => void): void;
  on(ev: 'action', fn: (a: RecordedAction) => void): void;
  on(ev: 'originate', fn: (o: OriginateRequest) => void): void;
  off(ev: string, fn: (...args: any[]) => void): void;
}

// Asterisk's event classes in bit order (EVENT_FLAG_SYSTEM = 1 << 0, ...).
const CLASSES = ['system', 'call', 'log', 'verbose', 'command', 'agent', 'user', 'config', 'dtmf', 'reporting', 'cdr', 'dialplan', 'originate', 'agi', 'cc', 'aoc', 'test', 'security', 'message'];
const ALL = (1 << CLASSES.length) - 1;
const MAXLEN = 1024; // sizeof(inbuf) - 1: a line needs its end inside this
const MAX_HEADERS = 128; // AST_MAX_MANHEADERS
const VAR_MAX = 4095; // VAR_BUF_SIZE - 1
const TRUE = ['yes', 'true', 'y', 't', '1', 'on'];
const FALSE = ['no', 'false', 'n', 'f', '0', 'off'];

const bit = (cls: string): number => {
  const i = CLASSES.indexOf(cls.toLowerCase());
  return i < 0 ? 0 : 1 << i;
};
const perms = (list: string[]): number => list.reduce((m, c) => m | (c === 'all' ? ALL : bit(c)), 0);
const classesOf = (mask: number): string[] => CLASSES.filter((c) => mask & bit(c));
/** manager.c strings_to_mask: digits, on/off, or a comma list of classes. */
function stringsToMask(s: string): number {
  if (s === '') return -1;
  if (/^[0-9]+$/.test(s)) return Number(s);
  if (FALSE.includes(s.toLowerCase())) return 0;
  if (TRUE.includes(s.toLowerCase())) return ALL;
  return perms(s.split(',').map((x) => x.trim().toLowerCase()));
}
const u8 = (bin: string): string => Buffer.from(bin, 'latin1').toString('utf8');
const bin = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

/** __ast_app_separate_args(buf, ',', remove_chars=1, argv, 64) on a binary string. */
export function separateArgs(input: string, max = 64): string[] {
  const out: string[] = [];
  let i = 0;
  let paren = 0;
  let bracket = 0;
  let quote = false;
  let wasDelim = -1;
  while (i < input.length && out.length < max - 1) {
    let cur = '';
    for (; i < input.length; i++) {
      const c = input[i];
      if (c === '(') paren++;
      else if (c === ')') paren = Math.max(0, paren - 1);
      else if (c === '[') bracket++;
      else if (c === ']') bracket = Math.max(0, bracket - 1);
      else if (c === '"') {
        quote = !quote;
        continue; // the quote is removed
      } else if (c === '\\') {
        i++; // the backslash is removed, the next character taken literally
        if (i < input.length) cur += input[i];
        continue;
      } else if (c === ',' && !paren && !quote && !bracket) {
        wasDelim = i++;
        break;
      }
      cur += c;
    }
    out.push(cur);
  }
  // The 64th argument is the unparsed rest; a trailing comma adds an empty one.
  if (i < input.length || (i > 0 && wasDelim === i - 1)) out.push(input.slice(i));
  return out;
}

/** man_do_variable_value over every "Variable:" header line (binary strings). */
function parseVariables(lines: string[]): { raw: string[]; list: Array<[string, string]> } {
  const raw: string[] = [];
  const list: Array<[string, string]> = [];
  for (const line of lines) {
    if (line.slice(0, 9).toLowerCase() !== 'variable:') continue;
    const value = line.slice(9).replace(/^[\x00-\x20]+/, '');
    raw.push(value);
    for (const arg of separateArgs(value)) {
      const eq = arg.indexOf('=');
      if (eq <= 0) continue; // no '=' or empty name: dropped
      list.push([arg.slice(0, eq), arg.slice(eq + 1)]);
    }
  }
  return { raw, list };
}

/** ast_uri_decode(s, ast_uri_http_legacy) as URIDECODE uses it: '+' is a space, "%" + sscanf("%2x"). */
function uriDecode(s: Buffer): Buffer {
  const isHex = (b: number) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === 0x2b) out.push(0x20);
    else if (s[i] === 0x25 && i + 2 < s.length && isHex(s[i + 1])) {
      const n = isHex(s[i + 2]) ? 2 : 1;
      out.push(parseInt(s.subarray(i + 1, i + 1 + n).toString('latin1'), 16));
      i += 2; // two characters are skipped even when only one was a hex digit
    } else out.push(s[i]);
  }
  return Buffer.from(out);
}
const cutAtNul = (b: Buffer): Buffer => (b.indexOf(0) >= 0 ? b.subarray(0, b.indexOf(0)) : b);
/** Invalid UTF-8 in a decoded piece is replaced (Asterisk logs "invalid UTF-8 sequences which were replaced"). */
const utf8Clean = (b: Buffer): Buffer => Buffer.from(new TextDecoder('utf-8').decode(b), 'utf8');

type Val = string | Buffer; // strings are written as UTF-8, Buffers as they are

function serialize(fields: Array<[string, Val]>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of fields) parts.push(Buffer.from(`${k}: `), typeof v === 'string' ? Buffer.from(v) : v, Buffer.from('\r\n'));
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

interface Message {
  lines: string[]; // binary strings, line ends removed
  headers: Array<[string, string]>; // binary
  record: RecordedAction;
}

interface Session {
  id: number;
  socket: net.Socket;
  authenticated: boolean;
  username: string;
  read: number;
  write: number;
  mask: number;
  inbuf: Buffer;
  tooLong: boolean;
  hdrLoss: boolean;
  lines: string[];
  raw: Buffer[];
  queue: Message[];
  busy: boolean;
  pending: Array<{ cls: number; data: Buffer }>;
  closed: boolean;
  authTimer?: NodeJS.Timeout;
}

/** astman_get_header: first header whose name matches, value after ':' and leading blanks. */
function header(m: Message, name: string, skipEmpty = false): string {
  for (const [k, v] of m.headers) if (k.toLowerCase() === name.toLowerCase() && (v !== '' || !skipEmpty)) return v;
  return '';
}

export async function startAmiDouble(opts: AmiDoubleOptions = {}): Promise<AmiDouble> {
  const cfg = {
    username: opts.username ?? 'websms',
    secret: opts.secret ?? 'secret',
    read: perms(opts.readPerms ?? ['system', 'call', 'user']),
    write: perms(opts.writePerms ?? ['originate']),
    authFailDelayMs: opts.authFailDelayMs ?? 1000,
    authTimeoutMs: opts.authTimeoutMs ?? 30000,
    originateDelayMs: opts.originateDelayMs ?? 5,
    contexts: opts.contexts ?? ['dp_entry_text_in'],
    answerContexts: opts.answerContexts ?? ['dp_entry_answer'],
    extenPattern: opts.extenPattern ?? /^\+?[0-9]+$/,
    banner: `Asterisk Call Manager/${opts.bannerVersion ?? '11.0.0'}\r\n`,
    clock: opts.clock ?? Date.now,
  };
  const dialplan = new Map<string, DialplanEntry[]>(Object.entries(opts.dialplan ?? DEFAULT_DIALPLAN));
  if (!opts.dialplan) {
    for (const c of [...cfg.contexts, ...cfg.answerContexts]) {
      if (!dialplan.has(c)) dialplan.set(c, [{ exten: '_[+0-9].', priority: 1, app: 'NoOp', appData: '' }]);
    }
  }
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  const sessions: Session[] = [];
  const actions: RecordedAction[] = [];
  const originates: OriginateRequest[] = [];
  const deliveries: Delivery[] = [];
  const astdb = new Map<string, string>();
  const astdbWrittenAt = new Map<string, number>(); // for a crash: what the sync thread had not committed
  let prunedAt: number | undefined; // GLOBAL(WEBSMS_PRUNED_AT), seconds
  const events: EmittedEvent[] = [];
  const plans: OriginatePlan[] = [];
  const numbers = new Map<string, string>(); // number -> endpoint
  const aors = new Map<string, Map<string, ContactStatus>>(); // endpoint -> contact -> status
  const timers = new Set<NodeJS.Timeout>();
  const startedAt = Math.floor(Date.now() / 1000);
  let nextSession = 1;
  let nextChannel = 1;
  let nextUnique = 1;
  let stopped = false;
  let server: net.Server;
  let port = opts.port ?? 0;

  const changed = () => bus.emit('change');
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };
  const sleep = (ms: number) => new Promise<void>((r) => later(ms, r));

  // ---- output -------------------------------------------------------------
  function write(s: Session, data: Buffer | string): void {
    if (!s.closed && !s.socket.destroyed) s.socket.write(data);
  }
  function respond(s: Session, m: Message | undefined, response: string, message?: string, extra: Array<[string, Val]> = []): void {
    const id = m ? header(m, 'ActionID') : '';
    const f: Array<[string, Val]> = [['Response', response]];
    if (id) f.push(['ActionID', Buffer.from(id, 'latin1')]);
    if (message !== undefined) f.push(['Message', message]);
    write(s, serialize([...f, ...extra]));
  }
  function deliverEvent(s: Session, cls: number, data: Buffer): void {
    if (s.busy) s.pending.push({ cls, data });
    else if (s.authenticated && (s.read & cls) === cls && (s.mask & cls) === cls) write(s, data);
  }
  function flush(s: Session): void {
    const p = s.pending.splice(0);
    for (const e of p) deliverEvent(s, e.cls, e.data);
  }
  /** manager_event(): "Event", "Privilege: <class>,all", then the fields, to every eligible session. */
  function broadcast(name: string, cls: string, fields: Array<[string, Val]>): void {
    const all: Array<[string, Val]> = [['Event', name], ['Privilege', `${cls},all`], ...fields];
    const data = serialize(all);
    events.push({ name, cls, fields: all.map(([k, v]) => [k, typeof v === 'string' ? v : v.toString('utf8')]) });
    for (const s of sessions) deliverEvent(s, bit(cls), data);
    changed();
  }

  // ---- input: manager.c get_input()/do_message() ---------------------------
  function feed(s: Session, data: Buffer): void {
    let pos = 0;
    for (;;) {
      let line: Buffer | undefined;
      while (!s.closed && (line = takeLine(s)) !== undefined) onLine(s, line);
      if (s.inbuf.length >= MAXLEN) {
        // No line end within the buffer: "Line too long", the bytes are dropped.
        s.raw.push(s.inbuf);
        s.inbuf = Buffer.alloc(0);
        s.tooLong = true;
      }
      if (pos >= data.length || s.closed) return;
      const n = Math.min(MAXLEN - s.inbuf.length, data.length - pos);
      s.inbuf = Buffer.concat([s.inbuf, data.subarray(pos, pos + n)]);
      pos += n;
    }
  }
  function takeLine(s: Session): Buffer | undefined {
    const b = s.inbuf;
    for (let x = 0; x < b.length; x++) {
      let cr = 0;
      if (b[x] === 13 && x + 1 < b.length && b[x + 1] === 10) cr = 2;
      else if (b[x] === 10) cr = 1;
      else continue;
      s.raw.push(b.subarray(0, x + cr));
      s.inbuf = b.subarray(x + cr);
      return b.subarray(0, x);
    }
    return undefined;
  }
  function onLine(s: Session, bytes: Buffer): void {
    const nul = bytes.indexOf(0);
    const line = (nul < 0 ? bytes : bytes.subarray(0, nul)).toString('latin1'); // a C string
    if (line.length > 0) {
      if (s.lines.length < MAX_HEADERS) s.lines.push(line);
      else s.hdrLoss = true;
      return;
    }
    const lines = s.lines;
    const headers = lines.map((l): [string, string] => {
      const i = l.indexOf(':');
      return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1).replace(/^[\x00-\x20]+/, '')];
    });
    const record: RecordedAction = {
      session: s.id,
      name: '',
      headers: headers.map(([k, v]) => [u8(k), u8(v)]),
      raw: Buffer.concat(s.raw).toString('utf8'),
    };
    const m: Message = { lines, headers, record };
    record.name = u8(header(m, 'Action', true));
    if (s.hdrLoss) record.rejected = 'too many headers';
    else if (s.tooLong) record.rejected = 'line too long';
    s.lines = [];
    s.raw = [];
    actions.push(record);
    bus.emit('action', record);
    changed();
    s.queue.push(m);
    if (s.hdrLoss) s.hdrLoss = false; // (s.parsing stays LINE_TOO_LONG here, as in manager.c)
    else s.tooLong = false;
    void pump(s);
  }

  /** The session thread: one action at a time; events wait while it is busy. */
  async function pump(s: Session): Promise<void> {
    if (s.busy) return;
    s.busy = true;
    while (s.queue.length && !s.closed) {
      const m = s.queue.shift()!;
      const keep = await handle(s, m);
      if (!keep) {
        s.closed = true;
        s.socket.end();
        break;
      }
      s.busy = false;
      flush(s);
      s.busy = true;
    }
    s.busy = false;
    flush(s);
  }

  async function handle(s: Session, m: Message): Promise<boolean> {
    const r = m.record.rejected;
    if (r === 'too many headers') return respond(s, m, 'Error', 'Too many lines in message or allocation failure'), true;
    if (r === 'line too long') return respond(s, m, 'Error', 'Failed to parse message: line too long'), true;
    const action = header(m, 'Action', true);
    const lc = action.toLowerCase();
    if (!action) return respond(s, m, 'Error', 'Missing action in request'), true;
    if (!s.authenticated && !['login', 'logoff', 'challenge'].includes(lc)) return respond(s, m, 'Error', 'Permission denied'), true;
    switch (lc) {
      case 'login':
        return login(s, m);
      case 'logoff':
        respond(s, m, 'Goodbye', 'Thanks for all the fish.');
        return false;
      case 'ping': {
        const now = Date.now();
        const ts = `${Math.floor(now / 1000)}.${String((now % 1000) * 1000).padStart(6, '0')}`;
        respond(s, m, 'Success', undefined, [['Ping', 'Pong'], ['Timestamp', ts]]);
        return true;
      }
      case 'events': {
        const mask = stringsToMask(header(m, 'EventMask'));
        if (mask < 0) respond(s, m, 'Error', 'Invalid event mask');
        else {
          s.mask = mask;
          respond(s, m, 'Success', undefined, [['Events', mask ? 'On' : 'Off']]);
        }
        return true;
      }
      case 'originate':
        if (!(s.write & bit('originate'))) return respond(s, m, 'Error', 'Permission denied'), true;
        await originate(s, m);
        return true;
      case 'dbget':
        // main/db.c registers DBGet with system|reporting, the others with system.
        if (!(s.write & (bit('system') | bit('reporting')))) return respond(s, m, 'Error', 'Permission denied'), true;
        dbGet(s, m);
        return true;
      case 'dbput':
      case 'dbdel':
      case 'dbdeltree':
        if (!(s.write & bit('system'))) return respond(s, m, 'Error', 'Permission denied'), true;
        dbChange(s, m, lc);
        return true;
      case 'showdialplan':
        // pbx.c registers it with EVENT_FLAG_CONFIG | EVENT_FLAG_REPORTING: either write class will do.
        if (!(s.write & (bit('config') | bit('reporting')))) return respond(s, m, 'Error', 'Permission denied'), true;
        showDialPlan(s, m);
        return true;
      default:
        respond(s, m, 'Error', `Invalid/unknown command: ${u8(action)}. Use Action: ListCommands to show available commands.`);
        return true;
    }
  }

  async function login(s: Session, m: Message): Promise<boolean> {
    if (s.authenticated) return respond(s, m, 'Success', 'Already authenticated'), true;
    const user = header(m, 'Username');
    if (!user || user.toLowerCase() !== bin(cfg.username).toLowerCase() || header(m, 'Secret') !== bin(cfg.secret)) {
      await sleep(cfg.authFailDelayMs);
      respond(s, m, 'Error', 'Authentication failed');
      return false;
    }
    s.authenticated = true;
    s.username = u8(user);
    clearTimeout(s.authTimer);
    s.read = cfg.read;
    s.write = cfg.write;
    const ev = header(m, 'Events'); // "Event:" (asterisk-manager's) is ignored
    if (ev) {
      const mask = stringsToMask(ev);
      if (mask >= 0) s.mask = mask;
    }
    respond(s, m, 'Success', 'Authentication accepted');
    const sys = bit('system');
    if (s.mask & sys && s.read & sys) {
      const up = Math.floor(Date.now() / 1000) - startedAt;
      const f: Array<[string, string]> = [['Event', 'FullyBooted'], ['Privilege', 'system'], ['Uptime', String(up)], ['LastReload', String(up)], ['Status', 'Fully Booted']];
      events.push({ name: 'FullyBooted', cls: 'system', fields: f, session: s.id });
      write(s, serialize(f));
    }
    changed();
    return true;
  }

  // ---- AstDB (main/db.c) ----------------------------------------------------
  const dbKey = (family: string, key: string): string => `/${family}/${key}`;
  function dbPut(full: string, value: string): void {
    astdb.set(full, value);
    astdbWrittenAt.set(full, cfg.clock());
  }
  /** ast_db_deltree: the key itself and everything below it; returns how many went. */
  function dbDeltree(prefix: string): number {
    let n = 0;
    for (const k of [...astdb.keys()]) {
      if (k === prefix || k.startsWith(`${prefix}/`)) {
        astdb.delete(k);
        n++;
      }
    }
    return n;
  }
  /** DB_KEYS(family): the names one level below, sorted as the SQL ORDER BY key gives them. */
  function dbKeys(family: string): string[] {
    const prefix = `/${family}/`;
    const out = new Set<string>();
    for (const k of [...astdb.keys()].sort()) if (k.startsWith(prefix)) out.add(k.slice(prefix.length).split('/')[0]!);
    return [...out];
  }
  function dbGet(s: Session, m: Message): void {
    const family = u8(header(m, 'Family'));
    const key = u8(header(m, 'Key'));
    if (!family) return respond(s, m, 'Error', 'No family specified.');
    if (!key) return respond(s, m, 'Error', 'No key specified.');
    const v = astdb.get(dbKey(family, key));
    if (v === undefined) return respond(s, m, 'Error', 'Database entry not found');
    const id = header(m, 'ActionID');
    const idf: Array<[string, Val]> = id ? [['ActionID', Buffer.from(id, 'latin1')]] : [];
    write(
      s,
      Buffer.concat([
        serialize([['Response', 'Success'], ...idf, ['EventList', 'start'], ['Message', 'Result will follow']]),
        serialize([['Event', 'DBGetResponse'], ['Family', family], ['Key', key], ['Val', v], ...idf]),
        serialize([['Event', 'DBGetComplete'], ...idf, ['EventList', 'Complete'], ['ListItems', '1']]),
      ]),
    );
  }
  function dbChange(s: Session, m: Message, action: string): void {
    const family = u8(header(m, 'Family'));
    const key = u8(header(m, 'Key'));
    if (!family) return respond(s, m, 'Error', action === 'dbput' ? 'No family specified' : 'No family specified.');
    if (action === 'dbdeltree') {
      const n = dbDeltree(key ? dbKey(family, key) : `/${family}`);
      return respond(s, m, n > 0 ? 'Success' : 'Error', n > 0 ? 'Key tree deleted successfully' : 'Database entry not found');
    }
    if (!key) return respond(s, m, 'Error', action === 'dbput' ? 'No key specified' : 'No key specified.');
    if (action === 'dbput') {
      dbPut(dbKey(family, key), u8(header(m, 'Val')));
      return respond(s, m, 'Success', 'Updated database successfully');
    }
    if (!astdb.delete(dbKey(family, key))) return respond(s, m, 'Error', 'Database entry not found');
    respond(s, m, 'Success', 'Key deleted successfully');
  }

  // ---- ShowDialPlan (pbx.c manager_show_dialplan) ---------------------------
  /**
   * The list is the action's own answer (astman_append): it reaches this session
   * whatever its event mask or read permission, and no other session. No
   * Privilege: header. Simplified: Extension: matches extension names exactly and
   * does not follow includes.
   */
  function showDialPlan(s: Session, m: Message): void {
    const id = header(m, 'ActionID');
    const idf: Array<[string, Val]> = id ? [['ActionID', Buffer.from(id, 'latin1')]] : [];
    const context = u8(header(m, 'Context'));
    const exten = u8(header(m, 'Extension'));
    const out: Buffer[] = [];
    let items = 0;
    let extens = 0;
    let prios = 0;
    let contexts = 0;
    let extenFound = false;
    // manager_dpsendack: before the first item, or alone before Complete when there is none.
    const ackMsg = () => serialize([['Response', 'Success'], ...idf, ['EventList', 'start'], ['Message', 'DialPlan list will follow']]);
    const ack = () => {
      if (items++ === 0) out.push(ackMsg());
    };
    for (const [name, entries] of dialplan) {
      if (context && name !== context) continue;
      contexts++;
      const seen = new Set<string>();
      for (const e of entries) {
        if ('include' in e || (exten && e.exten !== exten)) continue;
        extenFound = true;
        if (!seen.has(e.exten)) {
          seen.add(e.exten);
          extens++;
        }
        prios++;
        ack();
        const f: Array<[string, Val]> = [['Event', 'ListDialplan'], ...idf, ['Context', name], ['Extension', e.exten]];
        if (e.label) f.push(['ExtensionLabel', e.label]);
        if (e.priority === 'hint') f.push(['Priority', 'hint'], ['Application', e.app]);
        else f.push(['Priority', String(e.priority)], ['Application', e.app], ['AppData', e.appData ?? '']);
        f.push(['Registrar', 'pbx_config']);
        out.push(serialize(f));
      }
      if (exten) continue; // with Extension:, includes are searched, not listed
      for (const e of entries) {
        if (!('include' in e)) continue;
        ack();
        out.push(serialize([['Event', 'ListDialplan'], ...idf, ['Context', name], ['IncludeContext', e.include], ['Registrar', 'pbx_config']]));
      }
    }
    if (context && contexts === 0) return respond(s, m, 'Error', `Did not find context ${u8(header(m, 'Context'))}`);
    if (exten && !extenFound) {
      return respond(s, m, 'Error', context ? `Did not find extension ${exten}@${context}` : `Did not find extension ${exten} in any context`);
    }
    if (items === 0) out.push(ackMsg());
    out.push(
      serialize([
        ['Event', 'ShowDialPlanComplete'],
        ...idf,
        ['EventList', 'Complete'],
        ['ListItems', String(items)],
        ['ListExtensions', String(extens)],
        ['ListPriorities', String(prios)],
        ['ListContexts', String(contexts)],
      ]),
    );
    write(s, Buffer.concat(out));
  }

  // ---- Originate and the dialplan model -----------------------------------
  async function originate(s: Session, m: Message): Promise<void> {
    const channel = header(m, 'Channel');
    const context = header(m, 'Context');
    const exten = header(m, 'Exten');
    const priority = header(m, 'Priority');
    if (!channel) return respond(s, m, 'Error', 'Channel not specified');
    const pi = priority === '' ? 0 : /^\s*[-+]?\d/.test(priority) ? parseInt(priority, 10) : -1;
    if (pi < 0) return respond(s, m, 'Error', 'Invalid priority');
    const timeout = header(m, 'Timeout');
    if (timeout && !/^\s*[-+]?\d/.test(timeout)) return respond(s, m, 'Error', 'Invalid timeout');
    if (!channel.includes('/')) return respond(s, m, 'Error', 'Invalid channel');
    if (pi && !(cfg.contexts.includes(u8(context)) && cfg.extenPattern.test(u8(exten)))) {
      return respond(s, m, 'Error', 'Extension does not exist.');
    }
    const vars = parseVariables(m.lines);
    const varBytes = new Map<string, Buffer>();
    const variables: Record<string, string> = {};
    for (const [k, v] of vars.list) {
      if (varBytes.has(k)) continue; // the list is applied in reverse: the first assignment wins
      varBytes.set(k, Buffer.from(v, 'latin1'));
      variables[u8(k)] = u8(v);
    }
    const o: OriginateRequest = {
      session: s.id,
      actionId: u8(header(m, 'ActionID')),
      channel: u8(channel),
      context: u8(context),
      exten: u8(exten),
      priority: u8(priority),
      async: TRUE.includes(header(m, 'Async').toLowerCase()),
      variableHeaders: vars.raw.map(u8),
      variableList: vars.list.map(([k, v]) => [u8(k), u8(v)]),
      variables,
      headers: m.record.headers,
    };
    originates.push(o);
    bus.emit('originate', o);
    changed();
    const plan: OriginatePlan = plans.shift() ?? api.onOriginate?.(o) ?? { kind: 'normal' };
    if (plan.delayMs) await sleep(plan.delayMs);
    if (plan.kind === 'silent') return new Promise<void>(() => {}); // a hung Asterisk: this session never answers again
    if (plan.kind === 'error') return respond(s, m, 'Error', plan.message);
    if (o.async) {
      respond(s, m, 'Success', 'Originate successfully queued');
      later(cfg.originateDelayMs, () => runCall(o, plan, varBytes));
    } else {
      // Synchronous Originate: the answer waits for the call; no OriginateResponse event.
      await sleep(cfg.originateDelayMs);
      const ok = runCall(o, plan, varBytes, false);
      if (ok) respond(s, m, 'Success', 'Originate successfully queued');
      else respond(s, m, 'Error', 'Originate failed');
    }
  }

  /** Places the call; returns whether it was answered. */
  function runCall(o: OriginateRequest, plan: OriginatePlan, vars: Map<string, Buffer>, report = true): boolean {
    const idf: Array<[string, Val]> = o.actionId ? [['ActionID', o.actionId]] : [];
    const local = /^Local\/([^@/]+)@([^/]+)(\/.*)?$/i.exec(o.channel);
    const failed = (reason: number) => {
      if (report) {
        broadcast('OriginateResponse', 'call', [...idf, ['Response', 'Failure'], ['Channel', o.channel], ['Context', o.context], ['Exten', o.exten], ['Reason', String(reason)], ['Uniqueid', '<unknown>'], ['CallerIDNum', '<unknown>'], ['CallerIDName', '<unknown>']]);
      }
      return false;
    };
    // A Local channel whose answer context does not exist fails when it is called.
    if (!local || !cfg.answerContexts.includes(local[2])) return failed(0);
    const name = `Local/${local[1]}@${local[2]}-${(nextChannel++).toString(16).padStart(8, '0')}`;
    const uid = `${startedAt}.${nextUnique++}`;
    const chan: Array<[string, Val]> = [['Channel', `${name};1`], ['Uniqueid', uid], ['Linkedid', uid]];
    if (plan.kind === 'failure') {
      // The answer context saw no contact and ran Hangup(20) without answering.
      broadcast('Hangup', 'call', [['Channel', `${name};2`], ['Uniqueid', `${startedAt}.${nextUnique++}`], ['Linkedid', uid], ['Cause', '20'], ['Cause-txt', 'Subscriber absent']]);
      return failed(plan.reason ?? 0);
    }
    const answered = () => {
      if (report) {
        broadcast('OriginateResponse', 'call', [...idf, ['Response', 'Success'], ['Channel', `${name};1`], ['Context', o.context], ['Exten', o.exten], ['Reason', '4'], ['Uniqueid', uid], ['CallerIDNum', '<unknown>'], ['CallerIDName', '<unknown>']]);
      }
    };
    const first = plan.kind === 'normal' && plan.userEventFirst; // the text context races OriginateResponse
    if (!first) answered();
    if (cfg.contexts.includes(o.context)) textContext(o, plan, vars, chan);
    if (first) answered();
    broadcast('Hangup', 'call', [...chan, ['Cause', '16'], ['Cause-txt', 'Normal Clearing']]);
    return true;
  }

  /** What PrivateDial's text context does: sub_decode_body, MessageSend per contact, UserEvent. */
  function textContext(o: OriginateRequest, plan: OriginatePlan, vars: Map<string, Buffer>, chan: Array<[string, Val]>): void {
    const get = (k: string) => vars.get(k) ?? Buffer.alloc(0);
    let body: Buffer;
    const parts = parseInt(get('WEBSMS_BODY_PARTS').toString('latin1'), 10);
    if (parts > 0) {
      // Set(acc=${acc}${BASE64_DECODE(${WEBSMS_BODY_${i}})}) in a While loop.
      body = Buffer.alloc(0);
      for (let i = 1; i <= parts; i++) {
        const b64 = get(`WEBSMS_BODY_${i}`).toString('latin1').split('=')[0];
        body = Buffer.concat([body, utf8Clean(cutAtNul(Buffer.from(b64, 'base64')))]);
      }
    } else if (get('MESSAGE_ENCODE').toString('latin1') === 'rfc3986') {
      body = cutAtNul(uriDecode(get('MESSAGE(body)')));
    } else body = get('MESSAGE(body)');
    body = body.subarray(0, VAR_MAX); // silently, as Asterisk does
    const ctx: Array<[string, Val]> = [...chan.slice(0, 1), ['Context', o.context], ['Exten', o.exten]];
    broadcast('Newexten', 'dialplan', [...ctx, ['Priority', '2'], ['Application', 'Set'], ['AppData', Buffer.concat([Buffer.from('MESSAGE(body)='), body])], ...chan.slice(1)]);
    const from = get('MESSAGE(from)');
    const endpoint = numbers.get(o.exten);
    const websmsId = u8(get('WEBSMS_ID').toString('latin1'));
    const report = (fields: Array<[string, Val]>): void => {
      if (plan.kind === 'noReport') return;
      broadcast('UserEvent', 'user', [...chan.slice(0, 1), ['ChannelState', '6'], ['ChannelStateDesc', 'Up'], ['Context', o.context], ['Exten', o.exten], ...chan.slice(1), ['UserEvent', 'WebSMS'], ['Id', websmsId], ...fields]);
    };
    // sub_text_term: a message recorded as delivered is reported, not sent.
    const recordVar = u8(get('WEBSMS_RECORD').toString('latin1'));
    const record = websmsId && recordVar && endpoint ? dbKey('websms_delivered', recordVar) : undefined;
    if (record !== undefined && astdb.has(record) && plan.kind !== 'status') {
      changed();
      return report([['Status', 'DELIVERED'], ['Endpoint', endpoint!], ['Contacts', '0'], ['Repeat', 'yes'], ['FirstDelivered', astdb.get(record)!]]);
    }
    const contacts = endpoint ? contactsOf(endpoint) : [];
    let status: ReportStatus = !endpoint ? 'FAILED' : contacts.length ? 'DELIVERED' : 'NO_CONTACTS';
    if (plan.kind === 'status') status = plan.status;
    const deliver = plan.kind === 'noReport' ? plan.deliver === true : status === 'DELIVERED';
    const sent = deliver && endpoint ? contacts : [];
    for (const contact of sent) {
      broadcast('Newexten', 'dialplan', [...ctx, ['Priority', '5'], ['Application', 'MessageSend'], ['AppData', Buffer.concat([Buffer.from(`pjsip:${endpoint}/${contact},`), from])], ...chan.slice(1)]);
      const d: Delivery = { endpoint: endpoint!, contact, from: from.toString('utf8'), to: o.exten, body, websmsId, actionId: o.actionId };
      deliveries.push(d);
      bus.emit('delivered', d);
    }
    const epoch = String(Math.floor(cfg.clock() / 1000));
    if (record !== undefined && sent.length > 0) {
      dbPut(dbKey('websms_delivered_days', recordVar.split('/')[0]!), epoch);
      dbPut(record, epoch);
    }
    changed();
    report([['Status', status], ['Endpoint', endpoint ?? ''], ['Contacts', String(sent.length)]]);
    if (record !== undefined && sent.length > 0) pruneDelivered(get('WEBSMS_KEEP').toString('latin1'));
  }

  /** sub_prune_delivered: at most once an hour, every day whose records can no longer be asked for. */
  function pruneDelivered(keepVar: string): void {
    const now = Math.floor(cfg.clock() / 1000);
    const keep = /^[0-9]+$/.test(keepVar) ? Number(keepVar) : 777_600;
    if (prunedAt !== undefined && now - prunedAt < 3600) return;
    prunedAt = now;
    for (const day of dbKeys('websms_delivered_days')) {
      if (!/^[0-9]+$/.test(day) || Number(day) + keep >= now) continue;
      dbDeltree(dbKey('websms_delivered', day));
      astdb.delete(dbKey('websms_delivered_days', day));
    }
    changed();
  }

  function contactsOf(endpoint: string): string[] {
    // PJSIP_DIAL_CONTACTS leaves out contacts that qualify found unreachable.
    return [...(aors.get(endpoint) ?? new Map<string, ContactStatus>())].filter(([, st]) => st !== 'Unreachable').map(([uri]) => uri);
  }
  function contactEvent(endpoint: string, uri: string, status: string): void {
    broadcast('ContactStatus', 'system', [['URI', uri], ['ContactStatus', status], ['AOR', endpoint], ['EndpointName', endpoint], ['RoundtripUsec', '0']]);
  }

  // ---- connections --------------------------------------------------------
  function onConnection(socket: net.Socket): void {
    if (stopped) return void socket.destroy();
    socket.setNoDelay(true);
    const s: Session = { id: nextSession++, socket, authenticated: false, username: '', read: 0, write: 0, mask: ALL, inbuf: Buffer.alloc(0), tooLong: false, hdrLoss: false, lines: [], raw: [], queue: [], busy: false, pending: [], closed: false };
    sessions.push(s);
    s.authTimer = setTimeout(() => {
      if (!s.authenticated) socket.destroy();
    }, cfg.authTimeoutMs);
    s.authTimer.unref();
    socket.on('data', (d: Buffer) => feed(s, d));
    socket.on('error', () => {});
    socket.on('close', () => {
      s.closed = true;
      clearTimeout(s.authTimer);
      changed();
    });
    socket.write(cfg.banner);
    changed();
  }
  function listen(): Promise<void> {
    server = net.createServer(onConnection);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }
  function closeListener(): Promise<void> {
    return new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close();
      // close() only calls back once every connection has ended: do not wait for that.
      setImmediate(resolve);
    });
  }

  /** Resolves with the first truthy value of check(), re-run on every change in the double and every 10 ms. */
  function waitFor<T>(check: () => T | undefined | null | false, timeoutMs = 2000): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        clearInterval(poll);
        bus.off('change', test);
      };
      const test = () => {
        let v: T | undefined | null | false;
        try {
          v = check();
        } catch (e) {
          done();
          return reject(e);
        }
        if (v) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`ami double: condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      bus.on('change', test);
      const poll = setInterval(test, 10); // also sees state outside the double (a client's, a store's)
      test();
    });
  }

  const api: AmiDouble = {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    actions,
    originates,
    deliveries,
    events,
    get phones() {
      const out: Record<string, string[]> = {};
      for (const d of deliveries) (out[d.contact] ??= []).push(d.body.toString('utf8'));
      return out;
    },
    astdb,
    restart({ crash = false } = {}) {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      if (crash) {
        const since = cfg.clock() - 1000;
        for (const [k, at] of astdbWrittenAt) if (at > since) astdb.delete(k);
      }
      prunedAt = undefined; // globals do not survive a restart
      api.dropConnections();
    },
    get sessions() {
      return sessions.map((s) => ({ id: s.id, authenticated: s.authenticated, username: s.username, eventMask: classesOf(s.mask), closed: s.closed }));
    },
    onOriginate: opts.onOriginate,
    queuePlan: (...p) => void plans.push(...p),
    addEndpoint(number, endpoint, contacts = []) {
      numbers.set(number, endpoint);
      const aor = aors.get(endpoint) ?? new Map<string, ContactStatus>();
      aors.set(endpoint, aor);
      for (const c of contacts) aor.set(c, 'NonQualified');
    },
    register(endpoint, uri, status = 'NonQualified') {
      const aor = aors.get(endpoint) ?? new Map<string, ContactStatus>();
      aors.set(endpoint, aor);
      if (aor.get(uri) === status) return; // a refresh gives nothing
      aor.set(uri, status);
      contactEvent(endpoint, uri, status);
    },
    unregister(endpoint, uri) {
      if (aors.get(endpoint)?.delete(uri)) contactEvent(endpoint, uri, 'Removed');
    },
    contactsOf,
    emit(event, cls) {
      const f: Array<[string, string]> = Array.isArray(event) ? event : Object.entries(event);
      const name = f.find(([k]) => k.toLowerCase() === 'event')?.[1] ?? 'Unknown';
      broadcast(name, cls, f.filter(([k]) => !['event', 'privilege'].includes(k.toLowerCase())));
    },
    dropConnections({ reset = false } = {}) {
      for (const s of sessions) {
        s.closed = true;
        if (reset) s.socket.resetAndDestroy();
        else s.socket.destroy();
      }
      changed();
    },
    pause: closeListener,
    async resume() {
      if (!server.listening && !stopped) await listen();
    },
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      api.dropConnections();
      await closeListener();
    },
    get dialplan() {
      return Object.fromEntries([...dialplan].map(([k, v]) => [k, v.map((e) => ({ ...e }))]));
    },
    setContext(name, entries) {
      if (entries) dialplan.set(name, entries.map((e) => ({ ...e })));
      else dialplan.delete(name);
    },
    waitFor,
    waitForAction: (pred, ms) => waitFor(() => actions.find(pred), ms),
    waitForDelivery: (pred, ms) => waitFor(() => deliveries.find(pred), ms),
    on(ev: string, fn: (...args: any[]) => void) {
      bus.on(ev, fn);
    },
    off(ev, fn) {
      bus.off(ev, fn);
    },
  };
  await listen();
  return api;
}
