// What a person or a program may do to texts, whichever way they ask: the
// management API (bearer token) and the web page (cookie session) both call
// these, so a text sent from the page takes the same checks, the same commit
// before the answer and the same sender with its retries as one sent with
// `websms send` or from a phone.

import type { Config } from '../config/types.js';
import { TextError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkApiText, type Refusal } from '../outbound/checks.js';
import type { InterfaceHealth } from '../outbound/sender.js';
import type { OutboundStore } from '../store/outbound.js';
import type { StatsReader } from '../store/stats.js';
import { parseTextId, type Direction, type TextRecord, type TextStore } from '../store/texts.js';
import { ApiError, type ApiErrorCode } from './errors.js';

export interface TextActionDeps {
  config: () => Config;
  texts: TextStore;
  outbound: OutboundStore;
  /** A text was queued (or queued again) in that direction: look for work now. */
  onQueued: (direction: Direction) => void;
  log: Logger;
  now: () => number;
}

/** Who asked, for the log line: "the API", "the web page". */
export type Via = string;

const REFUSAL_CODES: Record<Refusal['code'], ApiErrorCode> = {
  destination: 'invalid_number',
  sender: 'invalid_sender',
  interface: 'unknown_interface',
  empty: 'empty_body',
  too_long: 'too_long',
  charset: 'charset',
  segments: 'too_many_segments',
  store: 'unavailable',
};

export interface SendInput {
  to: string;
  body: string;
  from?: string;
  interface?: string;
}

/** Checks, stores (committed before it returns) and hands the text to the sender. Throws ApiError. */
export async function sendText(deps: TextActionDeps, input: SendInput, via: Via): Promise<TextRecord> {
  const { log } = deps;
  const checked = checkApiText(input, deps.config());
  if (!checked.ok) {
    const code = checked.code === 'interface' && checked.iface !== undefined ? 'unknown_interface' : REFUSAL_CODES[checked.code];
    const fields = { to: input.to, interface: checked.iface, refusal: checked.code };
    // Charset reasons quote characters of the body: not for the log.
    log.info(checked.code === 'charset' ? fields : { ...fields, reason: checked.reason }, `${via} text refused`);
    throw new ApiError(422, code, checked.reason);
  }
  const t = checked.text;
  let id: number;
  try {
    id = await deps.outbound.enqueue(t);
  } catch (err) {
    log.error({ err, to: t.recipient, interface: t.interface }, `${via} text not stored`);
    throw new ApiError(503, 'unavailable', 'the text could not be stored; nothing was queued, try again');
  }
  log.info({ id, from: t.sender, to: t.recipient, interface: t.interface, segments: t.segments, encoding: t.encoding }, `outbound text queued through ${via}`);
  deps.onQueued('out');
  return deps.texts.get('out', id)!;
}

/** `in-12` / `out-7` as row coordinates; ApiError 404 for anything else. */
export function textIdOf(raw: string): { direction: Direction; rowId: number } {
  const id = parseTextId(raw);
  if (!id) throw new ApiError(404, 'not_found', `no text ${JSON.stringify(raw.slice(0, 40))}: ids look like in-12 or out-7`);
  return id;
}

/** Retry or cancel a text by its id. Throws ApiError (404, or 409 with the reason it is not allowed now). */
export function steerText(deps: TextActionDeps, action: 'retry' | 'cancel', rawId: string, via: Via): TextRecord {
  const { direction, rowId } = textIdOf(rawId);
  let text;
  try {
    text = deps.texts[action](direction, rowId, deps.now());
  } catch (err) {
    if (err instanceof TextError) throw new ApiError(err.code === 'not_found' ? 404 : 409, err.code as ApiErrorCode, err.reason);
    throw err;
  }
  deps.log.info({ id: rawId }, action === 'retry' ? `text queued again through ${via}` : `text cancelled through ${via}`);
  if (action === 'retry') deps.onQueued(direction);
  return text;
}

export interface InterfaceStatus {
  name: string;
  provider: string;
  sends: boolean;
  webhookPath: string;
  queued: number;
  circuit: InterfaceHealth['circuit'] | null;
  lastError: string | null;
  lastErrorAt: string | null;
  rate: { perSecond: number; perNumber: number; pausedUntil: string | null };
}

export interface InterfacesDeps {
  config: () => Config;
  stats: Pick<StatsReader, 'queues'>;
  sender: { health(): InterfaceHealth[] };
  ami: { readonly connected: boolean };
}

/** Each interface with what it waits on and how its sending goes; and whether AMI is logged in. */
export function interfacesStatus(deps: InterfacesDeps): { interfaces: InterfaceStatus[]; ami: { connected: boolean } } {
  const health = new Map(deps.sender.health().map((h) => [h.name, h]));
  const queued = new Map(deps.stats.queues().filter((q) => q.direction === 'out').map((q) => [q.interface, q.depth]));
  const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
  return {
    interfaces: deps.config().interfaces.map((i) => {
      const h = health.get(i.name);
      return {
        name: i.name,
        provider: i.provider,
        sends: i.send.url !== '',
        webhookPath: i.path,
        queued: queued.get(i.name) ?? 0,
        circuit: h?.circuit ?? null,
        lastError: h?.lastError?.reason ?? null,
        lastErrorAt: iso(h?.lastError?.at),
        rate: { perSecond: i.send.ratePerSecond, perNumber: i.send.ratePerNumber, pausedUntil: iso(h?.rate.pausedUntil) },
      };
    }),
    ami: { connected: deps.ami.connected },
  };
}
