// The `outbound` FastAGI script: a text from a local phone, handed over by the
// dialplan's sub_text_trunk. It reads the text, checks it, commits it to the
// outbound queue and only then tells the dialplan QUEUED; anything it refuses
// gets REJECTED and a short reason that the dialplan texts back to the phone
// (the phone got 202 Accepted long before and learns nothing otherwise).
//
// It never waits on the network or the ITSP: one commit (group-committed with
// every other hand-off of the same moment) is all that stands between the
// question and the answer, because Asterisk handles one message at a time and
// the whole PBX's message queue waits for us.
//
// The body is read only through expressions that name MESSAGE(body) and never
// wrap its value: Asterisk substitutes a value inside a function argument
// before parsing it, so `${BASE64_ENCODE(${MESSAGE(body)})}` is mangled by a
// text such as `Hi :) see you at 10:30`. FIELDQTY takes a variable *name*, so
// it counts the lines without ever parsing the text, and the answer that
// carries the body is read over exactly that many lines (HANDOFF_EXPRESSION).

import type { AgiSession } from '../asterisk/fastagi.js';
import { AgiError, agiSafeText } from '../asterisk/fastagi.js';
import type { Config, InterfaceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { OutboundStore } from '../store/outbound.js';
import { checkBody, checkRecipient, checkSends, senderNumber, type Checked } from './checks.js';

export interface HandoffDeps {
  store: OutboundStore;
  config: Config;
  log: Logger;
  /**
   * Asterisk confirmed QUEUED for this committed text (it answered the SET
   * VARIABLE): the sender was not told "not sent", and the text may go.
   */
  onQueued(id: number): void;
  /**
   * QUEUED was written for this committed text but Asterisk's answer never
   * came (the connection broke, the deadline or a stop cut the session): the
   * sender may have been told "not sent" (src/outbound/unconfirmed.ts).
   */
  onUnconfirmed(id: number): void;
  metrics?: Pick<Metrics, 'handoffSeconds' | 'handoffRefusals'>;
}

/** What the dialplan handed over, as read from the AGI session. */
export interface HandoffInput {
  /** agi_extension: the number the phone texted (after dp_lookup's rewrite). */
  exten: string;
  /** MESSAGE(to), used only when agi_extension is empty. */
  to: string;
  /** MESSAGE(from): the sender's number, put there by sub_rewrite_from. */
  from: string;
  /** WEBSMS_INDEX: which interface this endpoint sends through; '' = the default. */
  index: string;
  body: string;
}

export type { Checked, RefusalCode } from './checks.js';

/** Sent as WEBSMS_REASON when a phone's text arrived empty: PJSIP empties bodies over 1,023 bytes. */
export const EMPTY_REASON = 'the text was empty or too long for the phone to send (over about 1,000 bytes)';
export const STORE_REASON = 'temporary failure; try again';
/** Sent as WEBSMS_REASON to a hand-off that arrives while websms stops. */
export const STOPPING_REASON = 'the SMS gateway is restarting; send it again in a minute';

/**
 * WEBSMS_INDEX empty: the configured default interface; otherwise the
 * interface whose `index` equals it, else the one whose name equals it.
 */
export function pickInterface(config: Config, index: string): InterfaceConfig | undefined {
  const want = index.trim();
  if (want === '') return config.interfaces.find((i) => i.name === config.general.defaultInterface);
  return config.interfaces.find((i) => i.index !== '' && i.index === want) ?? config.interfaces.find((i) => i.name === want);
}

/** Validates and normalises a hand-off (the checks in checks.ts, fed from the dialplan's values). Pure: no I/O. */
export function checkHandoff(input: HandoffInput, config: Config): Checked {
  // Destination: ${EXTEN} of sub_text_trunk (E.164 after dp_lookup, or a short code).
  const to = checkRecipient(input.exten !== '' && input.exten !== 's' ? input.exten : input.to, config);
  if (!to.ok) return to;

  // Sender: sub_rewrite_from puts the endpoint's own number into MESSAGE(from).
  const sender = senderNumber(input.from, config);
  if (sender === undefined) {
    return { ok: false, code: 'sender', reason: 'your phone has no number to send texts from (its callerid carries none)' };
  }

  const iface = pickInterface(config, input.index);
  if (!iface) {
    const which = input.index.trim() === '' ? `default interface ${config.general.defaultInterface}` : `WEBSMS_INDEX ${input.index.trim()}`;
    return { ok: false, code: 'interface', reason: `no SMS interface for ${which}` };
  }
  const cannot = checkSends(iface);
  if (cannot) return { ...cannot, reason: `SMS interface ${iface.name} cannot send texts` };

  const body = checkBody(input.body, iface, config, EMPTY_REASON);
  if (!body.ok) return body;
  return { ok: true, text: { interface: iface.name, sender, recipient: to.number, body: input.body, encoding: body.encoding, segments: body.segments } };
}

/** The values read before the body, in the order of the answer. */
const HEAD = ['WEBSMS_INDEX', 'MESSAGE(from)', 'MESSAGE(to)'] as const;

/**
 * Everything a hand-off reads, in one GET FULL VARIABLE: every round trip
 * holds Asterisk's one message queue, so five questions become one.
 *
 * The answer is `<counts>|<WEBSMS_INDEX>|<MESSAGE(from)>|<MESSAGE(to)>|<MESSAGE(body)>`.
 * The values are substituted at the top level of the expression, which
 * copies them as they are: none is wrapped in a function, so no value is
 * ever parsed. What makes the answer readable whatever the values hold are
 * the counts in front, each a FIELDQTY over a variable *name*: first the
 * lines of the body and of each other value (so that we know from the first
 * line how many lines the answer spans), then the `|` inside each value but
 * the body (so that we know which `|` separate them). The body comes last
 * and needs no `|` count.
 *
 * The `\\n` in the code below is a backslash and an n: quoted by the session
 * it reaches the wire as `\\n` (two backslashes), parse_args leaves `\n`,
 * and FIELDQTY decodes a newline.
 */
export const HANDOFF_EXPRESSION =
  [...['MESSAGE(body)', ...HEAD].map((v) => `\${FIELDQTY(${v},\\n)}`), ...HEAD.map((v) => `\${FIELDQTY(${v},|)}`)].join(',') +
  [...HEAD, 'MESSAGE(body)'].map((v) => `|\${${v}}`).join('');

export interface HandoffValues {
  index: string;
  from: string;
  to: string;
  body: string;
}

const COUNT_FIELDS = 1 + 2 * HEAD.length;
const COUNTS = new RegExp(`^(\\d{1,5}(?:,\\d{1,5}){${COUNT_FIELDS - 1}})\\|`);

/** FIELDQTY counts fields: 0 for an empty value, else separators + 1. */
const separators = (fields: number): number => Math.max(0, fields - 1);

function counts(text: string): { lines: number[]; pipes: number[]; length: number } | undefined {
  const m = COUNTS.exec(text);
  if (!m) return undefined;
  const n = m[1]!.split(',').map((c) => separators(Number(c)));
  return { lines: n.slice(0, 1 + HEAD.length), pipes: n.slice(1 + HEAD.length), length: m[0].length };
}

/**
 * Only what comes before the first `|` is quoted: past it are the sender's
 * number and the text, which are not for the log.
 */
function noCounts(answer: string): AgiError {
  const head = answer.split('|')[0]!.slice(0, 40);
  return new AgiError(
    'agi_protocol',
    `unexpected answer to the hand-off question (counts ${JSON.stringify(head)}); ` +
      'check that Asterisk has func_strings loaded (FIELDQTY) and that the dialplan calls AGI(agi://.../outbound)',
  );
}

/** The lines an answer to HANDOFF_EXPRESSION spans, from its first line. */
export function handoffAnswerLines(firstLine: string): number {
  const c = counts(firstLine.replace(/^200 result=1 \(/, ''));
  if (!c) throw noCounts(firstLine.replace(/^200 result=1 \(/, ''));
  return 1 + c.lines.reduce((sum, n) => sum + n, 0);
}

/** Splits an answer to HANDOFF_EXPRESSION (the value inside the parentheses). */
export function parseHandoffAnswer(value: string): HandoffValues {
  const c = counts(value);
  if (!c) throw noCounts(value);
  let at = c.length;
  /** The text up to the `|` that follows `pipes` of the value's own. */
  const field = (pipes: number): string => {
    let end = at - 1;
    for (let i = 0; i <= pipes; i++) {
      end = value.indexOf('|', end + 1);
      if (end < 0) throw new AgiError('agi_protocol', 'the hand-off answer has fewer separators than its counts say');
    }
    const text = value.slice(at, end);
    at = end + 1;
    return text;
  };
  const [index, from, to] = c.pipes.map(field) as [string, string, string];
  const body = value.slice(at);
  const newlines = (text: string): number => text.split('\n').length - 1;
  if ([body, index, from, to].some((v, i) => newlines(v) !== c.lines[i])) {
    throw new AgiError('agi_protocol', 'the hand-off answer has another number of lines than its counts say');
  }
  return { index, from, to, body };
}

/** Reads WEBSMS_INDEX, MESSAGE(from), MESSAGE(to) and the body, byte-exact, in one round trip. */
export async function readHandoff(s: AgiSession): Promise<HandoffValues> {
  const value = await s.getFullVariable(HANDOFF_EXPRESSION, { lines: handoffAnswerLines });
  return parseHandoffAnswer(value ?? '');
}

export function createHandoff(deps: HandoffDeps): (s: AgiSession) => Promise<void> {
  const { store, config, log } = deps;

  const refuse = async (s: AgiSession, reason: string): Promise<void> => {
    await s.setVariable('WEBSMS_STATUS', 'REJECTED');
    await s.setVariable('WEBSMS_REASON', agiSafeText(reason));
  };

  return async (s) => {
    const started = Date.now();
    const timer = deps.metrics?.handoffSeconds.startTimer();
    // Commands go one at a time: Asterisk polls its socket, not its stdio
    // buffer, so a pipelined command would stall until the next bytes came.
    const { index, from, to, body } = await readHandoff(s);
    const exten = s.env.agi_extension ?? '';

    const checked = checkHandoff({ exten, to, from, index, body }, config);
    if (!checked.ok) {
      // The reason is logged except for charset refusals, which quote characters of the body.
      const fields = { from, to: exten || to, index, interface: checked.iface, refusal: checked.code };
      log.info(checked.code === 'charset' ? fields : { ...fields, reason: checked.reason }, 'outbound text refused');
      deps.metrics?.handoffRefusals.inc({ reason: checked.code });
      await refuse(s, checked.reason);
      return;
    }

    const t = checked.text;
    let id: number;
    try {
      // Not to be sent before Asterisk confirms QUEUED (db/015_handoff_confirmed.sql).
      id = await store.enqueue({ ...t, handoff: 'unconfirmed' });
    } catch (err) {
      log.error({ err, from: t.sender, to: t.recipient, interface: t.interface }, 'outbound text not stored');
      deps.metrics?.handoffRefusals.inc({ reason: 'store' });
      if (!s.signal.aborted) await refuse(s, STORE_REASON);
      return;
    }
    if (s.signal.aborted) {
      // The deadline closed the connection while the commit was under way:
      // Asterisk never heard QUEUED and texts the sender that it was not sent.
      // Keep the two sides telling the same story: the text is not sent.
      log.warn({ id, from: t.sender, to: t.recipient, ms: Date.now() - started }, 'text committed after the hand-off timed out; marked failed');
      deps.metrics?.handoffRefusals.inc({ reason: 'timeout' });
      try {
        store.fail(id, 'failed', 'hand-off timed out before Asterisk heard QUEUED', Date.now());
      } catch (err) {
        log.error({ err, id }, 'could not mark a timed-out hand-off failed');
      }
      return;
    }
    const fields = { id, from: t.sender, to: t.recipient, interface: t.interface, segments: t.segments, encoding: t.encoding };
    try {
      await s.setVariable('WEBSMS_STATUS', 'QUEUED');
    } catch (err) {
      // Written, perhaps heard: the dialplan may have told the sender "not
      // sent". Nothing tells which, so the text goes after all and the
      // sender is told that (src/outbound/unconfirmed.ts).
      log.warn({ ...fields, ms: Date.now() - started }, 'Asterisk did not confirm QUEUED for a stored text; it is sent after all and the sender told so');
      deps.onUnconfirmed(id);
      throw err;
    }
    timer?.();
    log.info({ ...fields, ms: Date.now() - started }, 'outbound text queued');
    deps.onQueued(id);
    await s.setVariable('WEBSMS_ID', String(id));
  };
}

/** The hand-off while websms stops: refused at once, so the dialplan tells the sender to try again. */
export async function refuseWhileStopping(s: AgiSession): Promise<void> {
  await s.setVariable('WEBSMS_STATUS', 'REJECTED');
  await s.setVariable('WEBSMS_REASON', agiSafeText(STOPPING_REASON));
}
