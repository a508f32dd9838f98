// The outbound hand-off end to end: the Asterisk AGI double (test/doubles/
// agi-client.ts, as unkind as res_agi) against the real FastAGI server on an
// ephemeral loopback port, with a real SQLite file.

import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import net from 'node:net';
import path from 'node:path';
import {
  agiSafeText,
  createFastAgiServer,
  type FastAgiServer,
  parse200,
  quoteAgiValue,
  setVariableCommand,
  type AgiReply,
  type AgiSession,
} from '../src/asterisk/fastagi.js';
import { makeAddressMatcher } from '../src/config/cidr.js';
import type { Charset, Config, InterfaceConfig } from '../src/config/types.js';
import { StoreError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import {
  checkHandoff,
  createHandoff,
  EMPTY_REASON,
  HANDOFF_EXPRESSION,
  handoffAnswerLines,
  parseHandoffAnswer,
  pickInterface,
  refuseWhileStopping,
  STOPPING_REASON,
  STORE_REASON,
} from '../src/outbound/handoff.js';
import { openDatabase } from '../src/store/db.js';
import { createOutboundStore, type OutboundRow, type OutboundStore } from '../src/store/outbound.js';
import { runAgi, simulateTextTrunk, type AgiRun, type TextTrunkOptions } from './doubles/agi-client.js';
import { until } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

// --- Fixtures -------------------------------------------------------------------

const SENDER = '+46701234567';
const DEST = '+46812345678';
const URL = 'https://itsp.example/send';

function iface(name: string, index: string, url: string, charset: Charset): InterfaceConfig {
  // Only what the hand-off reads; the rest of an interface does not matter here.
  return { name, index, send: { url, charset } } as unknown as InterfaceConfig;
}

function makeConfig(o: { maxSegments?: number; defaultInterface?: string; maxBodyBytes?: number } = {}): Config {
  return {
    file: undefined,
    general: { countryCode: '46', defaultInterface: o.defaultInterface ?? 'default', maxBodyBytes: o.maxBodyBytes ?? 4095 },
    outbound: { maxSegments: o.maxSegments ?? 10 },
    interfaces: [
      iface('default', '1', URL, 'unicode'),
      iface('gsm', '2', URL, 'gsm'),
      iface('ucs2', '3', URL, 'ucs2'),
      iface('receive-only', '4', '', 'unicode'),
    ],
  } as unknown as Config;
}

const VARS = { 'MESSAGE(from)': SENDER, 'MESSAGE(to)': `pjsip:${DEST}@pbx.example`, WEBSMS_INDEX: '' };

interface Setup {
  port: number;
  file: string;
  store: OutboundStore;
  /** A second connection: it sees only what is committed. */
  reader: Database.Database;
  queued: number[];
  /** Texts whose QUEUED was written but never answered (onUnconfirmed). */
  unconfirmed: number[];
  server: FastAgiServer;
  logs: string[];
  rows(): OutboundRow[];
  row(id: number): OutboundRow | undefined;
  trunk(o?: Partial<TextTrunkOptions> & { body?: string; vars?: Record<string, string> }): Promise<{ run: AgiRun; notice?: string }>;
}

async function setup(
  t: ExecutionContext,
  o: {
    config?: Config;
    store?: OutboundStore;
    allow?: (ip: string) => boolean;
    timeoutMs?: number;
    scripts?: Record<string, (s: AgiSession) => Promise<void>>;
  } = {},
): Promise<Setup> {
  const dir = tempDir();
  const file = path.join(dir, 'websms.db');
  const db = openDatabase(file);
  const store = o.store ?? createOutboundStore(db);
  const queued: number[] = [];
  const unconfirmed: number[] = [];
  const logs: string[] = [];
  const log = createLogger('debug', {}, (l) => logs.push(l));
  const config = o.config ?? makeConfig();
  const server = await createFastAgiServer({
    host: '127.0.0.1',
    port: 0,
    allow: o.allow ?? makeAddressMatcher(['127.0.0.1/32', '::1/128']),
    // Long enough for a loaded CI machine; the test of the deadline sets its own.
    timeoutMs: o.timeoutMs ?? 15_000,
    log,
    scripts: { outbound: createHandoff({ store, config, log, onQueued: (id) => queued.push(id), onUnconfirmed: (id) => unconfirmed.push(id) }), ...o.scripts },
    whileClosing: refuseWhileStopping,
  });
  const reader = new Database(file, { readonly: true });
  t.teardown(async () => {
    await server.close();
    reader.close();
    db.close();
  });
  return {
    port: server.port,
    file,
    store,
    reader,
    queued,
    unconfirmed,
    server,
    logs,
    rows: () => reader.prepare('SELECT * FROM outbound ORDER BY id').all() as OutboundRow[],
    row: (id) => reader.prepare('SELECT * FROM outbound WHERE id = ?').get(id) as OutboundRow | undefined,
    trunk: (x = {}) => {
      const { body, vars, ...rest } = x;
      return simulateTextTrunk({
        port: server.port,
        maxWaitMs: 5000,
        variables: { ...VARS, ...(body === undefined ? {} : { 'MESSAGE(body)': body }), ...vars },
        ...rest,
      });
    },
  };
}

/** What every run must show: no AGI HANGUP, no command Asterisk did not understand, nothing odd on the wire. */
function wireIsClean(t: ExecutionContext, run: AgiRun): void {
  t.false(run.gaveUp, 'the server never closed');
  t.not(run.status, 'HANGUP');
  t.false(run.hungUp);
  for (const c of run.commands) {
    t.false(/^\s*hangup/i.test(c), `sent ${c}`);
    t.false(/[\r\0]/.test(c), `a command carried CR or NUL: ${JSON.stringify(c)}`);
    t.false(/BASE64|URIENCODE|\$\{[A-Z_]+\(\$\{/.test(c), `an expression wraps a value: ${c}`);
  }
  for (const r of run.responses) t.false(/^5\d\d/.test(r), `Asterisk answered ${r}`);
  t.deepEqual(run.warnings, []);
}

function queuedId(t: ExecutionContext, run: AgiRun): number {
  t.is(run.variables.get('WEBSMS_STATUS'), 'QUEUED', `reason: ${run.variables.get('WEBSMS_REASON')}`);
  const id = Number(run.variables.get('WEBSMS_ID'));
  t.true(Number.isInteger(id) && id > 0);
  return id;
}

// --- Pure helpers ---------------------------------------------------------------

test('quoteAgiValue quotes and escapes; CR, LF and NUL are refused', (t) => {
  t.is(quoteAgiValue('QUEUED'), '"QUEUED"');
  t.is(quoteAgiValue(''), '""');
  t.is(quoteAgiValue('say "hi" \\ bye'), '"say \\"hi\\" \\\\ bye"');
  t.is(quoteAgiValue('räksmörgås 😀 (a) :) 100%'), '"räksmörgås 😀 (a) :) 100%"');
  for (const bad of ['a\nb', 'a\rb', 'a\0b', '\r\n']) t.throws(() => quoteAgiValue(bad), { message: /CR, LF or NUL/ });
  t.throws(() => setVariableCommand('WEBSMS_REASON', 'x\ny'));
  t.throws(() => setVariableCommand('BAD NAME', 'x'), { message: /bad AGI variable name/ });
  t.is(setVariableCommand('WEBSMS_ID', '12'), 'SET VARIABLE WEBSMS_ID "12"');
});

test('agiSafeText turns control characters into spaces and caps the length', (t) => {
  t.is(agiSafeText('line one\r\nline two\0three\ttab'), 'line one line two three tab');
  t.is(agiSafeText('a\u2028b'), 'a b');
  const long = agiSafeText('x'.repeat(500), 50);
  t.is(long.length, 50);
  t.true(long.endsWith('...'));
  // A surrogate pair is not split at the cut: the text survives UTF-8 as it is.
  const emoji = agiSafeText('a' + '😀'.repeat(30), 10);
  t.true(emoji.endsWith('...'));
  t.is(Buffer.from(emoji, 'utf8').toString('utf8'), emoji);
});

test('parse200: values with parentheses, no value, trailing data', (t) => {
  t.deepEqual(parse200('result=1 (testvariable)'), { result: '1', value: 'testvariable' });
  t.deepEqual(parse200('result=1 ()'), { result: '1', value: '' });
  t.deepEqual(parse200('result=0'), { result: '0' });
  t.deepEqual(parse200('result=1 (f(x) = (y) :))'), { result: '1', value: 'f(x) = (y) :)' });
  t.deepEqual(parse200('result=1 (a\n)\nb)'), { result: '1', value: 'a\n)\nb' });
  t.deepEqual(parse200('result=0 (timeout) endpos=0'), { result: '0', value: 'timeout', extra: 'endpos=0' });
  t.deepEqual(parse200('result=-1'), { result: '-1' });
  t.throws(() => parse200('nonsense'), { message: /unexpected AGI answer/ });
});

test('checkHandoff and pickInterface (no I/O)', (t) => {
  const config = makeConfig();
  t.is(pickInterface(config, '')?.name, 'default');
  t.is(pickInterface(config, '2')?.name, 'gsm');
  t.is(pickInterface(config, 'ucs2')?.name, 'ucs2');
  t.is(pickInterface(config, ' 3 ')?.name, 'ucs2');
  t.is(pickInterface(config, '9'), undefined);
  const ok = checkHandoff({ exten: '0812345678', to: '', from: '"Alice" <sip:+46701234567@pbx>', index: '', body: 'hi' }, config);
  t.deepEqual(ok, {
    ok: true,
    text: { interface: 'default', sender: SENDER, recipient: DEST, body: 'hi', encoding: 'GSM-7', segments: 1 },
  });
  // No extension (should not happen from sub_text_trunk): MESSAGE(to) is used.
  const viaTo = checkHandoff({ exten: '', to: `pjsip:${DEST}@pbx`, from: SENDER, index: '', body: 'hi' }, config);
  t.true(viaTo.ok && viaTo.text.recipient === DEST);
});

// --- The hand-off -----------------------------------------------------------------

test('QUEUED only once the row is committed: the answer is checked from another connection', async (t) => {
  const s = await setup(t);
  // A proxy between "Asterisk" and websms that looks at the database the
  // moment `SET VARIABLE WEBSMS_STATUS "QUEUED"` passes through it.
  let seenAtQueued: OutboundRow[] | undefined;
  const proxy = net.createServer((client) => {
    const upstream = net.connect(s.port, '127.0.0.1');
    let text = '';
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      if (seenAtQueued === undefined && text.includes('SET VARIABLE WEBSMS_STATUS "QUEUED"')) seenAtQueued = s.rows();
      client.write(d);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((res) => proxy.listen(0, '127.0.0.1', res));
  t.teardown(() => void proxy.close());
  const port = (proxy.address() as net.AddressInfo).port;

  const { run, notice } = await simulateTextTrunk({ port, maxWaitMs: 5000, variables: { ...VARS, 'MESSAGE(body)': 'Hi :) see you at 10:30' } });
  wireIsClean(t, run);
  const id = queuedId(t, run);
  t.is(notice, undefined);
  t.truthy(seenAtQueued, 'QUEUED passed the proxy');
  t.is(seenAtQueued!.length, 1);
  t.is(seenAtQueued![0]!.id, id);
  t.is(seenAtQueued![0]!.body, 'Hi :) see you at 10:30');
  t.is(seenAtQueued![0]!.state, 'queued');
  // QUEUED first, then the id; nothing else.
  t.deepEqual(run.setOrder, [
    ['WEBSMS_STATUS', 'QUEUED'],
    ['WEBSMS_ID', String(id)],
  ]);
  t.deepEqual(s.queued, [id]);
});

test('the row holds the normalised numbers, interface, encoding and segments', async (t) => {
  const s = await setup(t);
  const { run } = await s.trunk({ body: 'Hello', exten: '0812345678', vars: { 'MESSAGE(from)': '"Alice" <sip:+46701234567@pbx.example>' } });
  wireIsClean(t, run);
  const row = s.row(queuedId(t, run))!;
  t.like(row, { interface: 'default', origin: 'default', sender: SENDER, recipient: DEST, body: 'Hello', encoding: 'GSM-7', segments: 1, state: 'queued' });
  // Three round trips: one question for everything (the body read by line
  // count, never through an expression that wraps it), then the two answers.
  t.deepEqual(run.commands.slice(0, 1), [`GET FULL VARIABLE ${quoteAgiValue(HANDOFF_EXPRESSION)}`]);
  t.true(run.commands[0]!.includes('${FIELDQTY(MESSAGE(body),\\\\n)}'), 'two backslashes on the wire');
  t.true(run.commands[0]!.endsWith('|${MESSAGE(body)}"'));
  t.is(run.commands.length, 3, run.commands.join(' | '));
  // The log says who, where and how much, but never the text.
  const line = s.logs.find((l) => l.includes('outbound text queued'));
  t.truthy(line);
  const rec = JSON.parse(line!) as Record<string, unknown>;
  t.like(rec, { level: 'info', from: SENDER, to: DEST, interface: 'default', segments: 1, encoding: 'GSM-7' });
  t.is(typeof rec.id, 'number');
  t.false(s.logs.some((l) => l.includes('Hello')));
});

const BODIES: Array<[string, string]> = [
  ['newlines', 'line one\nline two\nline three'],
  ['smiley', ':)'],
  ['smiley and time', 'Hi :) see you at 10:30'],
  ['open parenthesis', '('],
  ['parentheses', 'f(x) = (a, b) :) )('],
  ['commas', 'a,b,,c,'],
  ['quotes', 'say "hi" and "bye"'],
  ['backslashes', 'C:\\path\\n not a newline \\\\ \\'],
  ['percent', '100% sure %s %d %% %n'],
  ['emoji', '👍 ok 😀 👨‍👩‍👧 🇸🇪'],
  ['one line', 'x'],
  ['trailing newline', 'ends with a newline\n'],
  ['only a newline', '\n'],
  ['CRLF', 'windows\r\nline\r\n'],
  ['a line that is only )', 'a\n)\nb'],
  ['looks like an answer', 'result=1 (fake)\n200 result=1 (x)\n520 End of proper usage.'],
  ['HANGUP lines', 'HANGUP\nHANGUP'],
  ['dollar and braces', '${MESSAGE(body)} $[1+1] ${EXTEN}'],
  ['tabs and spaces', '\t  spaced  \t'],
  ['mixed', 'Räksmörgås, "quoted" (paren) :) 50% \\ 😀\nnext: line'],
];

for (const [name, body] of BODIES) {
  test(`byte-exact body: ${name}`, async (t) => {
    const s = await setup(t);
    const { run, notice } = await s.trunk({ body });
    wireIsClean(t, run);
    const row = s.row(queuedId(t, run));
    t.is(notice, undefined);
    t.is(row?.body, body);
    t.is(Buffer.compare(Buffer.from(row!.body!, 'utf8'), Buffer.from(body, 'utf8')), 0);
  });
}

test('a body of 1,023 bytes arrives whole; 1,024 bytes arrive empty and are refused', async (t) => {
  const s = await setup(t);
  const max = 'abc\n'.repeat(255) + 'xyz'; // 1,023 bytes, 256 lines
  t.is(Buffer.byteLength(max), 1023);
  const ok = await s.trunk({ body: max });
  wireIsClean(t, ok.run);
  t.is(s.row(queuedId(t, ok.run))?.body, max);

  const over = await s.trunk({ body: max + 'z' });
  t.is(over.run.variables.get('WEBSMS_STATUS'), 'REJECTED');
  t.is(over.run.variables.get('WEBSMS_REASON'), EMPTY_REASON);
  t.is(over.notice, `Your message to ${DEST} was not sent: ${EMPTY_REASON}`);
  t.is(s.rows().length, 1);
});

/** A refused hand-off: REJECTED, the reason, a notice, nothing stored. */
async function refused(t: ExecutionContext, s: Setup, o: Parameters<Setup['trunk']>[0], reason: RegExp): Promise<string> {
  const { run, notice } = await s.trunk(o);
  wireIsClean(t, run);
  t.is(run.variables.get('WEBSMS_STATUS'), 'REJECTED');
  const why = run.variables.get('WEBSMS_REASON') ?? '';
  t.regex(why, reason);
  t.false(/[\r\n\0]/.test(why));
  t.is(run.variables.get('WEBSMS_ID'), undefined);
  t.is(notice, `Your message to ${run.exten} was not sent: ${why}`);
  t.deepEqual(
    run.setOrder.map(([k]) => k),
    ['WEBSMS_STATUS', 'WEBSMS_REASON'],
  );
  return why;
}

test('an empty body is refused', async (t) => {
  const s = await setup(t);
  t.is(await refused(t, s, { body: '' }, /empty or too long/), EMPTY_REASON);
  t.is(await refused(t, s, {}, /empty or too long/), EMPTY_REASON); // MESSAGE(body) never set
  t.deepEqual(s.rows(), []);
  t.deepEqual(s.queued, []);
});

test('an invalid destination is refused with the normaliser reason', async (t) => {
  const s = await setup(t);
  t.regex(await refused(t, s, { body: 'hi', exten: '+4612' }, /^not a valid number: /), /too short/);
  await refused(t, s, { body: 'hi', exten: '+999123456789' }, /not a valid number: unknown country code/);
  await refused(t, s, { body: 'hi', exten: '1234567' }, /not a valid number: 1234567 is too long for a short code/);
  t.deepEqual(s.rows(), []);
  // A short code is a destination.
  const { run } = await s.trunk({ body: 'STOP', exten: '72456' });
  t.is(s.row(queuedId(t, run))?.recipient, '72456');
});

test('a sender without a number is refused', async (t) => {
  const s = await setup(t);
  // sub_rewrite_from did not find the endpoint's number: From is still the endpoint URI.
  await refused(t, s, { body: 'hi', vars: { 'MESSAGE(from)': '<sip:alice@192.0.2.1>' } }, /no number to send texts from/);
  await refused(t, s, { body: 'hi', vars: { 'MESSAGE(from)': '' } }, /no number/);
  await refused(t, s, { body: 'hi', vars: { 'MESSAGE(from)': '12345' } }, /no number/); // a short code is not a sender
  t.deepEqual(s.rows(), []);
  // The forms sub_rewrite_from may leave, all understood.
  for (const from of ['+46701234567', '0701234567', '<sip:+46701234567@pbx.example>', '"Alice" <sip:+46701234567@pbx.example>']) {
    const { run } = await s.trunk({ body: 'hi', vars: { 'MESSAGE(from)': from } });
    t.is(s.row(queuedId(t, run))?.sender, SENDER, from);
  }
});

test('interface choice by WEBSMS_INDEX: default, index, name; unknown and send-less refused', async (t) => {
  const s = await setup(t);
  const via = async (index: string): Promise<string | undefined> => {
    const { run } = await s.trunk({ body: 'hi', vars: { WEBSMS_INDEX: index } });
    wireIsClean(t, run);
    return s.row(queuedId(t, run))?.interface;
  };
  t.is(await via(''), 'default');
  t.is(await via('1'), 'default');
  t.is(await via('2'), 'gsm');
  t.is(await via('ucs2'), 'ucs2');
  // WEBSMS_INDEX not set on the channel at all: the default too.
  const unset = await simulateTextTrunk({ port: s.port, variables: { 'MESSAGE(from)': SENDER, 'MESSAGE(to)': `pjsip:${DEST}@pbx`, 'MESSAGE(body)': 'hi' } });
  t.is(s.row(queuedId(t, unset.run))?.interface, 'default');

  await refused(t, s, { body: 'hi', vars: { WEBSMS_INDEX: '9' } }, /^no SMS interface for WEBSMS_INDEX 9$/);
  await refused(t, s, { body: 'hi', vars: { WEBSMS_INDEX: '4' } }, /^SMS interface receive-only cannot send texts$/);
  await refused(t, s, { body: 'hi', vars: { WEBSMS_INDEX: 'receive-only' } }, /cannot send/);

  const noDefault = await setup(t, { config: makeConfig({ defaultInterface: 'gone' }) });
  await refused(t, noDefault, { body: 'hi' }, /^no SMS interface for default interface gone$/);
});

test('charset refusals: GSM-7 only, UCS-2 without emoji', async (t) => {
  const s = await setup(t);
  const gsm = { WEBSMS_INDEX: '2' };
  const ucs2 = { WEBSMS_INDEX: '3' };
  t.regex(await refused(t, s, { body: 'garçon', vars: gsm }, /cannot send \(GSM letters only\): ç$/), /ç/);
  await refused(t, s, { body: 'Hi 😀', vars: gsm }, /GSM letters only\): 😀$/);
  await refused(t, s, { body: 'tab\there', vars: gsm }, /: U\+0009$/);
  await refused(t, s, { body: 'ok 😀 and 👍', vars: ucs2 }, /emoji or other characters .*: 😀 👍$/);

  const g = await s.trunk({ body: 'Räksmörgås {ok} [x] €5', vars: gsm });
  t.like(s.row(queuedId(t, g.run)), { interface: 'gsm', encoding: 'GSM-7', segments: 1 });
  const u = await s.trunk({ body: 'Привет, мир', vars: ucs2 });
  t.like(s.row(queuedId(t, u.run)), { interface: 'ucs2', encoding: 'UCS-2', segments: 1 });
  const e = await s.trunk({ body: 'emoji fine here 😀' });
  t.like(s.row(queuedId(t, e.run)), { interface: 'default', encoding: 'UCS-2' });
  // Charset refusals quote the text's characters: those are not logged.
  t.false(s.logs.some((l) => l.includes('garçon') || l.includes('😀')));
});

test('more segments than allowed are refused, saying how many', async (t) => {
  const s = await setup(t, { config: makeConfig({ maxSegments: 2 }) });
  t.is(await refused(t, s, { body: 'a'.repeat(307) }, /too long/), 'the text is too long: 3 SMS segments, at most 2');
  const ok = await s.trunk({ body: 'a'.repeat(306) });
  t.is(s.row(queuedId(t, ok.run))?.segments, 2);
  await refused(t, s, { body: 'ж'.repeat(135) }, /^the text is too long: 3 SMS segments, at most 2$/);
});

test('a store that cannot commit: REJECTED "temporary failure; try again", never QUEUED', async (t) => {
  const s = await setup(t);
  // The real store on a real file, made to fail the way a full or broken disk does.
  const db = new Database(s.file);
  db.exec(`CREATE TRIGGER boom BEFORE INSERT ON outbound BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
  t.teardown(() => db.close());
  t.is(await refused(t, s, { body: 'hi' }, /temporary/), STORE_REASON);
  t.deepEqual(s.rows(), []);
  t.deepEqual(s.queued, []);
  t.true(s.logs.some((l) => l.includes('"level":"error"') && l.includes('outbound text not stored')));
});

test('websms down (connection refused): AGISTATUS=FAILURE and the notice', async (t) => {
  const srv = net.createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((res) => srv.close(() => res()));
  const { run, notice } = await simulateTextTrunk({ port, variables: { ...VARS, 'MESSAGE(body)': 'hi' } });
  t.is(run.status, 'FAILURE');
  t.is(run.variables.get('AGISTATUS'), 'FAILURE');
  t.is(notice, `Your message to ${DEST} was not sent: the SMS gateway is not reachable`);
});

test('a peer that stops talking is closed within timeoutMs', async (t) => {
  const s = await setup(t, { timeoutMs: 300 });
  const closedAfter = (send: (sock: net.Socket) => void): Promise<number> =>
    new Promise((resolve) => {
      const started = Date.now();
      const sock = net.connect(s.port, '127.0.0.1', () => send(sock));
      sock.on('data', () => undefined); // read commands, never answer
      sock.on('error', () => undefined);
      sock.on('close', () => resolve(Date.now() - started));
    });
  // Silent from the start; half an environment; a whole environment and then nothing.
  const silent = await closedAfter(() => undefined);
  const half = await closedAfter((c) => c.write('agi_network: yes\nagi_network_script: outbound\n'));
  const mute = await closedAfter((c) => c.write('agi_network: yes\nagi_network_script: outbound\nagi_extension: +46812345678\n\n'));
  for (const ms of [silent, half, mute]) t.true(ms >= 250 && ms < 300 + 2000, `closed after ${ms} ms`);
  t.deepEqual(s.rows(), []);
});

test('a connection from an address not allowed is closed at once; nothing stored', async (t) => {
  const s = await setup(t, { allow: makeAddressMatcher(['192.0.2.0/24']) });
  const { run, notice } = await s.trunk({ body: 'hi' });
  t.deepEqual(run.commands, []);
  t.is(run.status, 'SUCCESS'); // Asterisk: the server closed
  t.true(run.heldMs < 200, `held ${run.heldMs} ms`);
  t.is(notice, `Your message to ${DEST} was not sent: the SMS gateway is not reachable`);
  t.deepEqual(s.rows(), []);
  t.true(s.logs.some((l) => l.includes('"level":"warn"') && l.includes('not allowed')));
});

test('an unknown script is closed after logging', async (t) => {
  const s = await setup(t);
  const run = await runAgi({ port: s.port, script: 'nope', variables: { ...VARS, 'MESSAGE(body)': 'hi' }, maxWaitMs: 20_000 });
  t.deepEqual(run.commands, []);
  t.false(run.gaveUp);
  t.true(s.logs.some((l) => l.includes('unknown AGI script') && l.includes('"script":"nope"')));
  t.deepEqual(s.rows(), []);
});

test('CR/LF in what Asterisk hands over never reaches the wire', async (t) => {
  const s = await setup(t);
  // Values with newlines come back across several lines and are still read whole.
  const why = await refused(t, s, { body: 'hi', vars: { WEBSMS_INDEX: 'x\r\ny' } }, /^no SMS interface for WEBSMS_INDEX x y$/);
  t.false(/[\r\n]/.test(why));
  const from = await refused(t, s, { body: 'hi', vars: { 'MESSAGE(from)': '+46701234567\r\nX-Evil: 1' } }, /no number/);
  t.false(/[\r\n]/.test(from));
});

test('50 concurrent hand-offs are all QUEUED, each body exact', async (t) => {
  const s = await setup(t);
  const started = Date.now();
  const runs = await Promise.all(Array.from({ length: 50 }, (_, i) => s.trunk({ body: `text ${i} :) (${i}),\n"${i}"` })));
  const elapsed = Date.now() - started;
  t.true(elapsed < 15_000, `took ${elapsed} ms`); // speed is measured in bench/
  const ids = new Set<number>();
  runs.forEach(({ run }, i) => {
    wireIsClean(t, run);
    const id = queuedId(t, run);
    ids.add(id);
    t.is(s.row(id)?.body, `text ${i} :) (${i}),\n"${i}"`);
  });
  t.is(ids.size, 50);
  t.is(s.rows().length, 50);
  t.is(s.queued.length, 50);
});

// --- The protocol layer -----------------------------------------------------------

test('protocol against the double: 510, multi-line 520, result=0, parentheses in values', async (t) => {
  const got: Record<string, unknown> = {};
  const s = await setup(t, {
    scripts: {
      probe: async (a) => {
        got.script = a.script;
        got.exten = a.env.agi_extension;
        got.unknown = await a.command('FOO BAR');
        got.usage = await a.command('SET VARIABLE X');
        got.paren = await a.getVariable('PAREN');
        got.fullParen = await a.getFullVariable('${PAREN}');
        got.unsetFull = await a.getFullVariable('${NOT_SET}');
        got.unset = await a.getVariable('NOT_SET');
        got.otherChannel = await a.command('GET FULL VARIABLE ${PAREN} SIP/other-0001');
        got.multi = await a.getVariable('MULTI'); // two lines, not announced: read to the line that ends in ')'
        got.after = await a.getVariable('PAREN'); // still in step
        await a.setVariable('BACK', 'say "hi" \\ (x) :)');
        await t.throwsAsync(a.setVariable('BAD', 'a\nb'), { message: /CR, LF or NUL/ });
        await t.throwsAsync(a.command('NOOP\nHANGUP'), { message: /CR, LF or NUL/ });
        await t.throwsAsync(a.command('VERBOSE "' + 'x'.repeat(2100) + '" 1'), { message: /limited to 2046 bytes/ });
        // Unannounced, a value whose first line ends in ')' cannot be told
        // apart from a one-line value; the stray line is caught as a protocol
        // error on the next answer instead of passing for a value.
        got.ambiguous = await a.getVariable('AMBIG');
        await t.throwsAsync(a.getVariable('PAREN'), { message: /unexpected line from Asterisk/ });
      },
    },
  });
  const run = await runAgi({ port: s.port, script: 'probe', variables: { PAREN: 'f(x) = (y) :)', MULTI: 'one (1\ntwo (2)', AMBIG: 'one)\ntwo' }, maxWaitMs: 20_000 });
  t.false(run.gaveUp);
  t.is(got.script, 'probe');
  t.like(got.unknown as AgiReply, { code: 510, lines: ['510 Invalid or unknown command'] });
  const usage = got.usage as AgiReply;
  t.is(usage.code, 520);
  t.is(usage.lines.length, 3);
  t.is(usage.lines[2], '520 End of proper usage.');
  t.is(got.paren, 'f(x) = (y) :)');
  t.is(got.fullParen, 'f(x) = (y) :)');
  t.is(got.unsetFull, '');
  t.is(got.unset, undefined);
  t.like(got.otherChannel as AgiReply, { code: 200, result: '0' });
  t.is(got.multi, 'one (1\ntwo (2)');
  t.is(got.after, 'f(x) = (y) :)');
  t.is(got.ambiguous, 'one');
  t.is(run.set.get('BACK'), 'say "hi" \\ (x) :)');
  t.false(run.commands.some((c) => /hangup/i.test(c)));
});

/**
 * A scripted "Asterisk": sends an environment, then answers each command the
 * server sends with the next canned answer (raw text, newlines included).
 */
function scriptedAsterisk(port: number, script: string, answers: string[]): Promise<{ commands: string[]; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const commands: string[] = [];
    const started = Date.now();
    let buf = '';
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(`agi_network: yes\nagi_network_script: ${script}\nagi_request: agi://127.0.0.1:${port}/${script}\nagi_extension: ${DEST}\n\n`);
    });
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        commands.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        const a = answers.shift();
        if (a !== undefined) sock.write(a);
      }
    });
    sock.on('end', () => {
      sock.end('HANGUP\n');
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve({ commands, closedAfterMs: Date.now() - started }));
  });
}

test('protocol: HANGUP lines before an answer are skipped; 511 and 520 are errors, not values', async (t) => {
  const got: Record<string, unknown> = {};
  const s = await setup(t, {
    scripts: {
      probe: async (a) => {
        got.first = await a.getVariable('A');
        got.dead = await a.command('EXEC Playback x');
        got.usage = await a.command('GET FULL VARIABLE');
        got.second = await a.getFullVariable('${B}', { lines: 2 });
        await t.throwsAsync(a.getVariable('C'), { message: /Asterisk answered 511/ });
      },
    },
  });
  const r = await scriptedAsterisk(s.port, 'probe', [
    'HANGUP\n200 result=1 (a (1))\n',
    '511 Command Not Permitted on a dead channel or intercept routine\n',
    '520-Invalid command syntax.  Proper usage follows:\nReturns 1 if set.\nExample return code: 200 result=1 (testvariable)\n520 End of proper usage.\n',
    'HANGUP\nHANGUP\n200 result=1 (HANGUP\nline two)\n',
    '511 Command Not Permitted on a dead channel or intercept routine\n',
  ]);
  t.is(got.first, 'a (1)');
  t.like(got.dead as AgiReply, { code: 511 });
  const usage = got.usage as AgiReply;
  t.is(usage.code, 520);
  t.is(usage.lines.length, 4);
  t.is(usage.value, undefined);
  t.is(got.second, 'HANGUP\nline two');
  t.deepEqual(r.commands, ['GET VARIABLE A', 'EXEC Playback x', 'GET FULL VARIABLE', 'GET FULL VARIABLE "${B}"', 'GET VARIABLE C']);
  t.true(r.closedAfterMs < 2000 - 1, `closed after ${r.closedAfterMs} ms: before the 2 s deadline`); // ended by the script, not the deadline
});

test('the hand-off against a scripted Asterisk that sends HANGUP mid-way still answers', async (t) => {
  const s = await setup(t);
  const r = await scriptedAsterisk(s.port, 'outbound', [
    // counts | WEBSMS_INDEX (empty) | MESSAGE(from) | MESSAGE(to) | body of two lines
    `HANGUP\n200 result=1 (2,0,1,1,0,1,2||${SENDER}|pjsip:${DEST}|x@pbx|two\nlines)\n`,
    '200 result=1\n',
    '200 result=1\n',
  ]);
  t.is(r.commands[0], `GET FULL VARIABLE ${quoteAgiValue(HANDOFF_EXPRESSION)}`);
  t.is(r.commands[1], 'SET VARIABLE WEBSMS_STATUS "QUEUED"');
  t.regex(r.commands[2]!, /^SET VARIABLE WEBSMS_ID "\d+"$/);
  t.is(r.commands.length, 3);
  t.is(s.rows()[0]?.body, 'two\nlines');
});

test('an answer to the hand-off question that does not add up is a protocol error: nothing stored, never QUEUED', async (t) => {
  const s = await setup(t);
  for (const answer of [
    '200 result=1 (hello)\n', // no counts
    `200 result=1 (1,0,1,0,0,1,0||${SENDER})\n`, // a separator missing
    `200 result=1 (1,0,1,0,0,3,0||${SENDER}||hi)\n`, // the sender's | count is wrong
    `200 result=1 (1,0,1,0,0,1,0||${SENDER}||a\nb\n)\n`, // more lines than counted
    `200 result=1 (99999,0,1,0,0,1,0||${SENDER}||hi)\n`, // more lines than an answer can hold
  ]) {
    const r = await scriptedAsterisk(s.port, 'outbound', [answer, '200 result=1\n', '200 result=1\n']);
    t.is(r.commands.length, 1, answer);
    t.true(r.closedAfterMs < 1500, 'closed at once, not by the deadline');
  }
  t.deepEqual(s.rows(), []);
  t.deepEqual(s.queued, []);
  t.is(s.logs.filter((l) => l.includes('AGI session failed')).length, 5);
});

test('parseHandoffAnswer: the counts say which | and which lines belong to which value', (t) => {
  t.deepEqual(parseHandoffAnswer('1,1,1,1,1,1,1|2|+46701234567|pjsip:x@y|hi'), { index: '2', from: '+46701234567', to: 'pjsip:x@y', body: 'hi' });
  t.deepEqual(parseHandoffAnswer('0,0,0,0,0,0,0||||'), { index: '', from: '', to: '', body: '' });
  t.deepEqual(parseHandoffAnswer('3,2,1,2,2,2,3|a|b\nc|"A|B" <sip:x>|t\no|o||x|\n|y\n'), {
    index: 'a|b\nc',
    from: '"A|B" <sip:x>',
    to: 't\no|o|',
    body: 'x|\n|y\n',
  });
  t.is(handoffAnswerLines('200 result=1 (3,2,1,2,2,2,3|a|b'), 5); // 2 + 1 + 0 + 1 newlines
  t.is(handoffAnswerLines('200 result=1 (0,0,0,0,0,0,0||||)'), 1);
  t.throws(() => handoffAnswerLines('200 result=1 (x)'), { message: /unexpected answer to the hand-off question/ });
  // func_strings missing: empty counts. The error says what to check and quotes nothing past the counts.
  const e = t.throws(() => handoffAnswerLines(`200 result=1 (,,,,,,|1|${SENDER}|pjsip:x|secret text`));
  t.regex(e.message, /counts ",,,,,,".*func_strings/);
  t.false(e.message.includes(SENDER) || e.message.includes('secret'));
  t.throws(() => handoffAnswerLines('200 result=1 (1,1,1,1,1|a|b|c)'), { message: /unexpected answer/ }); // five counts: not ours
  t.throws(() => parseHandoffAnswer('1,0,0,0,0,0,0|only'), { message: /fewer separators/ });
  t.throws(() => parseHandoffAnswer('1,0,1,0,0,1,0||||a\nb'), { message: /number of lines/ });
  t.throws(() => parseHandoffAnswer('1,1,1,1,0,0,0|a\n|b|c|d'), { message: /number of lines/ }); // a newline where the counts say none
});

test('| and newlines in WEBSMS_INDEX, MESSAGE(from) and the body are told apart', async (t) => {
  const s = await setup(t);
  const body = '|a|b|\n||\n|';
  const ok = await s.trunk({ body, vars: { 'MESSAGE(from)': `"A|B|C" <sip:${SENDER}@pbx.example>` } });
  wireIsClean(t, ok.run);
  t.like(s.row(queuedId(t, ok.run)), { sender: SENDER, body, interface: 'default' });
  // The whole index, pipes and all, is what was looked up.
  await refused(t, s, { body: 'x|y', vars: { WEBSMS_INDEX: '2|3', 'MESSAGE(from)': `"x|y" <sip:${SENDER}@pbx.example>` } }, /^no SMS interface for WEBSMS_INDEX 2\|3$/);
  // No number in ${EXTEN}: the destination comes from MESSAGE(to), read in the same question.
  const viaTo = await s.trunk({ body: 'a|b', exten: 's', vars: { 'MESSAGE(to)': `pjsip:${DEST}@pbx.example;x=|` } });
  wireIsClean(t, viaTo.run);
  t.is(viaTo.run.commands.length, 3);
  t.like(s.row(queuedId(t, viaTo.run)), { recipient: DEST, body: 'a|b' });
});

// --- Stops and broken answers ----------------------------------------------------

/**
 * A TCP proxy between the AGI double ("Asterisk") and websms. `held`: what
 * Asterisk sends waits until it resolves (the session is accepted but has no
 * environment yet). `answerDelayMs`: each of Asterisk's writes reaches websms
 * that much later. `cutAfter`: once websms has sent a match, it is passed on
 * to Asterisk and websms's side is cut before Asterisk's answer comes back.
 */
async function agiProxy(t: ExecutionContext, port: number, o: { held?: Promise<void>; answerDelayMs?: number; cutAfter?: RegExp } = {}): Promise<number> {
  const proxy = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    let cut = false;
    let fromWebsms = '';
    let released = o.held === undefined;
    const waiting: Buffer[] = [];
    const forward = (d: Buffer): void => {
      if (cut) return;
      if (o.answerDelayMs) setTimeout(() => !cut && upstream.write(d), o.answerDelayMs);
      else upstream.write(d);
    };
    void o.held?.then(() => {
      released = true;
      for (const d of waiting.splice(0)) forward(d);
    });
    client.on('data', (d: Buffer) => (released ? forward(d) : waiting.push(d)));
    upstream.on('data', (d: Buffer) => {
      if (cut) return;
      client.write(d);
      fromWebsms += d.toString('utf8');
      if (o.cutAfter?.test(fromWebsms)) {
        cut = true;
        upstream.destroy();
        client.end();
      }
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((res) => proxy.listen(0, '127.0.0.1', res));
  t.teardown(() => void proxy.close());
  return (proxy.address() as net.AddressInfo).port;
}

test('QUEUED written but never answered: the text is stored unconfirmed and goes to onUnconfirmed, never to onQueued', async (t) => {
  const s = await setup(t);
  const port = await agiProxy(t, s.port, { cutAfter: /SET VARIABLE WEBSMS_STATUS "QUEUED"\n/ });
  const { run, notice } = await simulateTextTrunk({ port, maxWaitMs: 5000, variables: { ...VARS, 'MESSAGE(body)': 'cut after QUEUED' } });
  // Asterisk heard QUEUED here, so the phone was told nothing; websms cannot know that.
  t.is(run.variables.get('WEBSMS_STATUS'), 'QUEUED');
  t.is(notice, undefined);
  await until(() => s.unconfirmed.length > 0, 5000, 'onUnconfirmed');
  const rows = s.rows();
  t.is(rows.length, 1);
  t.like(rows[0], { body: 'cut after QUEUED', state: 'queued', handoff: 'unconfirmed' });
  t.deepEqual(s.unconfirmed, [rows[0]!.id]);
  t.deepEqual(s.queued, [], 'not confirmed, so not handed to the sender as queued');
  t.true(s.logs.some((l) => l.includes('Asterisk did not confirm QUEUED')));
});

test('a confirmed hand-off: onQueued once Asterisk answered QUEUED; the row waits unconfirmed until the daemon records it', async (t) => {
  const s = await setup(t);
  const { run } = await s.trunk({ body: 'confirmed' });
  const id = queuedId(t, run);
  t.deepEqual(s.queued, [id]);
  t.deepEqual(s.unconfirmed, []);
  t.is(s.row(id)!.handoff, 'unconfirmed', 'src/store/handoffs.ts records the confirmation (wired in the daemon)');
});

test('a hand-off accepted just as the server closes is answered REJECTED "restarting" at once; nothing stored; new ones are refused', async (t) => {
  const s = await setup(t, { timeoutMs: 10_000 });
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const port = await agiProxy(t, s.port, { held });
  const trunk = simulateTextTrunk({ port, maxWaitMs: 5000, variables: { ...VARS, 'MESSAGE(body)': 'during the stop' } });
  await until(() => s.server.active() === 1, 5000, 'the session accepted');
  const closed = s.server.close();
  const releasedAt = Date.now();
  release();
  const { run, notice } = await trunk;
  const answeredIn = Date.now() - releasedAt;
  await closed;
  t.is(run.variables.get('WEBSMS_STATUS'), 'REJECTED');
  t.is(notice, `Your message to ${DEST} was not sent: ${STOPPING_REASON}`);
  t.true(answeredIn < 3000, `answered in ${answeredIn} ms, not at the 10 s deadline`);
  t.deepEqual(s.rows(), []);
  const after = await simulateTextTrunk({ port: s.port, maxWaitMs: 5000, variables: { ...VARS, 'MESSAGE(body)': 'after the stop' } });
  t.is(after.run.status, 'FAILURE', 'the listener is closed: Asterisk cannot connect, and the dialplan says so at once');
  t.truthy(after.notice);
});

test('close(grace): a hand-off under way finishes with QUEUED; one still open when the grace is over is cut', async (t) => {
  const s = await setup(t, { timeoutMs: 5000 });
  const port = await agiProxy(t, s.port, { answerDelayMs: 150 });
  const slow = simulateTextTrunk({ port, maxWaitMs: 8000, variables: { ...VARS, 'MESSAGE(body)': 'slow but under way' } });
  await until(() => s.server.active() === 1, 5000, 'the session accepted');
  await new Promise((r) => setTimeout(r, 200)); // its environment is in: the script runs
  // A peer that sends its environment and then never answers.
  const mute = net.connect(s.port, '127.0.0.1', () => mute.write('agi_network: yes\nagi_network_script: outbound\nagi_extension: +46812345678\n\n'));
  mute.on('data', () => undefined);
  mute.on('error', () => undefined);
  const muteClosed = new Promise<void>((r) => mute.on('close', () => r()));
  await until(() => s.server.active() === 2, 5000, 'both sessions open');
  const began = Date.now();
  await s.server.close(1500);
  const took = Date.now() - began;
  await muteClosed;
  const { run } = await slow;
  t.is(run.variables.get('WEBSMS_STATUS'), 'QUEUED', 'the session under way finished');
  t.true(took >= 1400 && took < 3000, `closed after ${took} ms, not after the 5 s deadline`);
  t.is(s.rows().length, 1);
});
