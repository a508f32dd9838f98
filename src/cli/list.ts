// `websms queue` and `websms history`: texts in a table, newest first.

import { normalizeNumber } from '../numbers/normalize.js';
import { NumberError } from '../errors.js';
import type { Config } from '../config/types.js';
import { ACTIVE_STATES, ALL_STATES, STATES, textJson, type Direction, type TextJson, type TextState } from '../store/texts.js';
import { apiRequest, type ApiTarget } from './api-client.js';
import { UsageError } from './args.js';
import { out, parseCommand, printJson, usageError, type CommandSpec } from './command.js';
import { readConfig } from './config.js';
import { exitCodes } from './exit.js';
import { textTable } from './text-format.js';
import { failure, readTexts, type TextReader } from './texts-source.js';
import type { CommandContext } from './types.js';
import { parseWhen } from './when.js';

const DEFAULT_LIMIT = 50;

const READ_EXITS = exitCodes([
  [0, 'listed (also when there is nothing to list)'],
  [64, 'usage error: an unknown option, direction or state, a bad number or time'],
  [66, 'the daemon is not running and there is no database yet, or one made by an older websms (starting the daemon once updates it) or a newer one'],
  [74, 'the daemon is not running and the database cannot be read'],
  [77, 'the daemon refused the API token'],
  [78, 'configuration errors'],
]);

const QUEUE_USAGE = `usage: websms [--config PATH] queue [--direction in|out] [--state S]
                                  [--interface I] [--limit N] [--json]

Lists the texts that are not done yet, newest first: texts from ITSPs
waiting to reach a phone (in: queued, sending, waiting) and texts waiting to
go out to an ITSP (out: queued, sending). Asks the running daemon; when it
does not run, reads the database read-only.
  --direction in|out  only texts from ITSPs (in) or to ITSPs (out)
  --state S           only this state, also a finished one:
                      in: ${STATES.in.join(', ')}
                      out: ${STATES.out.join(', ')}
  --interface I       only texts of the interface I (its section name)
  --limit N           at most N texts (1-500, default ${DEFAULT_LIMIT})
  --json              {"texts": [...], "more": true|false}; each text as the
                      API gives it (id, direction, state, from, to, body, ...)

${READ_EXITS}`;

const HISTORY_USAGE = `usage: websms [--config PATH] history [NUMBER] [--since WHEN] [--direction in|out]
                                    [--interface I] [--limit N] [--json]

Lists texts in any state, newest first: all of them, or those from or to
NUMBER (written as you would dial it; national numbers use [general]
country_code). Asks the running daemon; when it does not run, reads the
database read-only.
  --since WHEN        only texts created since WHEN: an age (30m, 2h, 7d) or a
                      date (2024-05-01, 2024-05-01T14:00, local time)
  --direction in|out  only texts from ITSPs (in) or to ITSPs (out)
  --interface I       only texts of the interface I
  --limit N           at most N texts (1-500, default ${DEFAULT_LIMIT})
  --json              {"texts": [...], "more": true|false}

${READ_EXITS}`;

const QUEUE: CommandSpec = { name: 'queue', usage: QUEUE_USAGE, values: ['--direction', '--state', '--interface', '--limit'], flags: ['--json'] };
const HISTORY: CommandSpec = {
  name: 'history',
  usage: HISTORY_USAGE,
  values: ['--since', '--direction', '--interface', '--limit'],
  flags: ['--json'],
  positionals: { min: 0, max: 1 },
};

interface Query {
  direction?: Direction;
  /** One request per state; undefined: any state. */
  states?: TextState[];
  interface?: string;
  number?: string;
  since?: number;
  limit: number;
}

export async function queueCommand(ctx: CommandContext): Promise<number> {
  return listCommand(ctx, QUEUE, (o) => {
    const direction = directionOf(o.values['--direction']);
    const state = o.values['--state'];
    let states: TextState[];
    if (state !== undefined) {
      const valid = direction ? STATES[direction] : ALL_STATES;
      const known = valid.find((s) => s === state);
      if (!known) throw new UsageError(`--state: "${state}" is not a state${direction ? ` of ${direction} texts` : ''}; known: ${valid.join(', ')}`);
      states = [known];
    } else states = [...new Set(direction ? ACTIVE_STATES[direction] : [...ACTIVE_STATES.in, ...ACTIVE_STATES.out])];
    return { direction, states, interface: o.values['--interface'], limit: limitOf(o.values['--limit']) };
  });
}

export async function historyCommand(ctx: CommandContext): Promise<number> {
  return listCommand(ctx, HISTORY, (o, config) => {
    const raw = o.positionals[0];
    let number: string | undefined;
    if (raw !== undefined) {
      try {
        number = normalizeNumber(raw, { countryCode: config.general.countryCode }).number;
      } catch (e) {
        if (!(e instanceof NumberError)) throw e;
        throw new UsageError(`"${raw}" is not a phone number: ${e.reason}`);
      }
    }
    const since = o.values['--since'];
    return {
      direction: directionOf(o.values['--direction']),
      interface: o.values['--interface'],
      number,
      since: since === undefined ? undefined : parseWhen('--since', since),
      limit: limitOf(o.values['--limit']),
    };
  });
}

function directionOf(v: string | undefined): Direction | undefined {
  if (v === undefined || v === 'in' || v === 'out') return v;
  throw new UsageError(`--direction: "${v}" is neither in (texts from ITSPs) nor out (texts to ITSPs)`);
}

function limitOf(v: string | undefined): number {
  if (v === undefined) return DEFAULT_LIMIT;
  const n = /^\d{1,3}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= 500)) throw new UsageError(`--limit: "${v}" is not a whole number from 1 to 500`);
  return n;
}

type Options = Extract<ReturnType<typeof parseCommand>, { ok: true }>['opts'];

async function listCommand(
  { args, argv }: CommandContext,
  spec: CommandSpec,
  build: (o: Options, config: Config) => Query,
): Promise<number> {
  const p = parseCommand(args, spec);
  if (!p.ok) return p.code;
  // Options are checked before the configuration is read: a usage error is a usage error.
  const r = readConfig(argv, 'nothing was read');
  if (!r.ok) return r.code;
  let q: Query;
  try {
    q = build(p.opts, r.config);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return usageError(spec, e.message).code;
  }
  let texts: TextJson[];
  let more: boolean;
  try {
    const read = await readTexts(r.config, (t) => viaApi(t, q), (reader) => viaDb(reader, q));
    ({ texts, more } = read.value);
  } catch (e) {
    return failure(e, spec.name, p.json);
  }
  if (p.json) {
    printJson({ texts, more });
    return 0;
  }
  if (texts.length === 0) {
    out(`No texts ${describe(q)}.`);
    return 0;
  }
  out(textTable(texts));
  out();
  out(`${texts.length} text(s)${more ? ` shown, more left: narrow it down (--since, --state, --interface) or raise --limit (now ${q.limit})` : ''}.`);
  out('websms status ID shows one with its events; websms retry ID or websms cancel ID steer it.');
  return 0;
}

function describe(q: Query): string {
  const parts: string[] = [];
  parts.push(q.states ? `in state ${q.states.join(', ')}` : 'at all');
  if (q.direction) parts.push(q.direction === 'in' ? 'from ITSPs' : 'to ITSPs');
  if (q.interface) parts.push(`on interface ${q.interface}`);
  if (q.number) parts.push(`from or to ${q.number}`);
  if (q.since !== undefined) parts.push(`since ${new Date(q.since).toLocaleString()}`);
  return parts.join(' ');
}

/** What one request (the API's or the store's) can filter on: one direction or both, one state or any. */
interface Slice {
  direction?: Direction;
  state?: TextState;
}

function slices(q: Query): Slice[] {
  return (q.states ?? [undefined]).map((state) => ({ direction: q.direction, state }));
}

interface Page {
  texts: TextJson[];
  more: boolean;
}

/** The slices' pages as one list, newest first, at most q.limit long. */
function merge(q: Query, pages: Page[]): Page {
  const all = pages.flatMap((p) => p.texts);
  all.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  return { texts: all.slice(0, q.limit), more: all.length > q.limit || pages.some((p) => p.more) };
}

async function viaApi(t: ApiTarget, q: Query): Promise<Page> {
  const pages = await Promise.all(
    slices(q).map(async (s) => {
      const params = new URLSearchParams();
      if (s.direction) params.set('direction', s.direction);
      if (s.state) params.set('state', s.state);
      if (q.interface !== undefined) params.set('interface', q.interface);
      if (q.number !== undefined) params.set('number', q.number);
      if (q.since !== undefined) params.set('since', new Date(q.since).toISOString());
      params.set('limit', String(q.limit));
      const a = await apiRequest<{ texts: TextJson[]; next: string | null }>(t, `/api/texts?${params}`);
      return { texts: a.texts, more: a.next !== null };
    }),
  );
  return merge(q, pages);
}

function viaDb(reader: TextReader, q: Query): Page {
  return merge(
    q,
    slices(q).map((s) => {
      const r = reader.list({ ...s, interface: q.interface, number: q.number, since: q.since, limit: q.limit });
      return { texts: r.texts.map(textJson), more: r.next !== null };
    }),
  );
}
