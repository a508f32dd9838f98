// The management API (docs in the OpenAPI document, openapi.ts): look at and
// steer texts, send one from a local program, health and readiness for
// systemd and monitoring, and the Prometheus metrics.
//
// A text sent here takes the same path as a phone's hand-off: the same
// checks (outbound/checks.ts), committed before the 201, then sent by the
// sender with its retries and limits.

import crypto from 'node:crypto';
import express from 'express';
import { makeAddressMatcher } from '../config/cidr.js';
import type { Config } from '../config/types.js';
import { NumberError } from '../errors.js';
import type { Logger } from '../log.js';
import { normalizeNumber } from '../numbers/normalize.js';
import { loggablePath } from '../http/paths.js';
import { redactorFor } from '../redact.js';
import type { InterfaceHealth } from '../outbound/sender.js';
import type { OutboundStore } from '../store/outbound.js';
import type { StatsReader } from '../store/stats.js';
import {
  ALL_STATES,
  decodeCursor,
  encodeCursor,
  eventJson,
  STATES,
  textJson,
  type ListQuery,
  type TextState,
  type TextStore,
} from '../store/texts.js';
import { providerList } from '../../providers/index.js';
import { interfacesStatus, sendText, steerText, textIdOf } from './actions.js';
import { ApiError, sendError } from './errors.js';
import type { EmailStatus } from '../email/status.js';
import { openApiDocument } from './openapi.js';
import { MAX_MAIL_BYTES } from '../voicemail/mail.js';
import { VoicemailError } from '../voicemail/errors.js';
import type { VoicemailIntake } from '../voicemail/intake.js';

export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

export interface ApiDeps {
  /** The configuration in force: a reload replaces it (the token and listen address need a restart). */
  config: () => Config;
  texts: TextStore;
  /** The queues' depth by interface, the same numbers /metrics gives. */
  stats: Pick<StatsReader, 'queues'>;
  outbound: OutboundStore;
  voicemail: VoicemailIntake;
  /** A real write to the database; throws when it cannot be done. */
  probe: (now: number) => void;
  sender: { health(): InterfaceHealth[] };
  ami: { readonly connected: boolean };
  fastagiListening: () => boolean;
  /** Something was queued (or queued again) in that direction: look for work now. */
  onQueued: (direction: 'in' | 'out') => void;
  log: Logger;
  metrics: MetricsSource;
  /** Texts by e-mail: configuration, outbox, replies (src/email/status.ts). */
  email?: () => EmailStatus;
  now?: () => number;
}

const isLoopback = makeAddressMatcher(['127.0.0.0/8', '::1/128']);
/** Open on loopback even when a token is set: local probes should not need the secret. */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
const LIST_LIMIT_DEFAULT = 50;
const LIST_LIMIT_MAX = 500;

const bad = (reason: string): ApiError => new ApiError(400, 'bad_request', reason);

/** Equal-length digests, so the comparison takes the same time whatever the token. */
function sameSecret(a: string, b: string): boolean {
  const h = (s: string): Buffer => crypto.createHash('sha256').update(s, 'utf8').digest();
  return crypto.timingSafeEqual(h(a), h(b));
}

/** An ISO 8601 date or date-time; ms since the epoch. */
function parseTime(name: string, raw: string): number {
  const ok = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i.test(raw);
  const ms = ok ? Date.parse(raw) : NaN;
  if (Number.isNaN(ms)) throw bad(`${name}: "${raw.slice(0, 40)}" is not an ISO 8601 time such as 2025-01-31T12:00:00Z`);
  return ms;
}

/** The JSON object of a request, with only the fields allowed. */
function jsonObject(req: express.Request, allowed: readonly string[]): Record<string, unknown> {
  if (!req.is('application/json')) throw new ApiError(415, 'unsupported_media_type', 'send the request body as JSON with Content-Type: application/json');
  const body: unknown = req.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the request body must be a JSON object');
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw bad(`unknown field ${unknown.map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}; allowed: ${allowed.join(', ')}`);
  return body as Record<string, unknown>;
}

function stringField(body: Record<string, unknown>, name: string, required: true): string;
function stringField(body: Record<string, unknown>, name: string, required: false): string | undefined;
function stringField(body: Record<string, unknown>, name: string, required: boolean): string | undefined {
  const v = body[name];
  if (v === undefined) {
    if (required) throw bad(`"${name}" is missing`);
    return undefined;
  }
  if (typeof v !== 'string') throw bad(`"${name}" must be a string`);
  return v;
}

export function createApiApp(deps: ApiDeps): express.Express {
  const { texts, log } = deps;
  const config = deps.config();
  const now = deps.now ?? Date.now;
  const token = config.api.token;
  // A path in an answer or a log line may hold a token a client put there by mistake.
  const redact = redactorFor(config);
  const actions = { config: deps.config, texts, outbound: deps.outbound, onQueued: deps.onQueued, log, now };
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', false);
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    res.set('cache-control', 'no-store');
    if (token === '') return next();
    const ip = req.socket.remoteAddress ?? '';
    if (OPEN_PATHS.has(req.path) && isLoopback(ip)) return next();
    const m = /^Bearer +(\S+) *$/i.exec(req.get('authorization') ?? '');
    if (m && sameSecret(m[1]!, token)) return next();
    log.warn({ ip, method: req.method, path: loggablePath(req.path, []), given: m ? 'wrong token' : 'no token' }, 'API request refused: not authorised');
    res.set('www-authenticate', 'Bearer realm="websms"');
    sendError(res, new ApiError(401, 'unauthorized', m ? 'the bearer token is not the one configured ([api] token)' : 'send Authorization: Bearer <[api] token>'));
  });

  const json = express.json({ limit: config.general.maxRequestBytes, strict: true });
  const only = (...methods: string[]): express.RequestHandler => (_req, res) => {
    res.set('allow', methods.join(', '));
    sendError(res, new ApiError(405, 'method_not_allowed', `use ${methods.join(' or ')} on this path`));
  };

  // ---- health ----------------------------------------------------------
  app.route('/healthz').get((_req, res) => {
    res.json({ status: 'ok' });
  }).all(only('GET'));

  app.route('/readyz').get((_req, res) => {
    const checks: Record<string, string> = {};
    try {
      deps.probe(now());
      checks.database = 'ok';
    } catch (err) {
      checks.database = `cannot write to ${config.general.database}: ${(err as Error).message}`;
    }
    checks.ami = deps.ami.connected ? 'ok' : `not logged in to Asterisk's manager interface at ${config.ami.host}:${config.ami.port}`;
    checks.fastagi = deps.fastagiListening() ? 'ok' : `not listening for hand-offs on ${config.agi.listenHost}:${config.agi.listenPort}`;
    const ready = Object.values(checks).every((v) => v === 'ok');
    res.status(ready ? 200 : 503).json({ ready, checks });
  }).all(only('GET'));

  app.route('/metrics').get(async (_req, res) => {
    const text = await deps.metrics.render();
    res.type(deps.metrics.contentType).send(text);
  }).all(only('GET'));

  app.route('/api/openapi.json').get((_req, res) => {
    res.json(openApiDocument);
  }).all(only('GET'));

  // ---- texts -------------------------------------------------------------
  const LIST_PARAMS = ['direction', 'state', 'interface', 'number', 'q', 'since', 'until', 'limit', 'cursor'];
  app.route('/api/texts').get((req, res) => {
    const q: ListQuery = { limit: LIST_LIMIT_DEFAULT };
    const params = req.query as Record<string, unknown>;
    for (const [k, v] of Object.entries(params)) {
      if (!LIST_PARAMS.includes(k)) throw bad(`unknown parameter ${JSON.stringify(k.slice(0, 40))}; allowed: ${LIST_PARAMS.join(', ')}`);
      if (typeof v !== 'string') throw bad(`give ${k} once`);
    }
    const p = params as Record<string, string | undefined>;
    if (p.direction !== undefined) {
      if (p.direction !== 'in' && p.direction !== 'out') throw bad('direction must be in or out');
      q.direction = p.direction;
    }
    if (p.state !== undefined) {
      const states: readonly string[] = q.direction === undefined ? ALL_STATES : STATES[q.direction];
      if (!states.includes(p.state)) throw bad(`state must be one of ${states.join(', ')}`);
      q.state = p.state as TextState;
    }
    if (p.interface !== undefined) q.interface = p.interface;
    if (p.number !== undefined) {
      try {
        q.number = normalizeNumber(p.number, { countryCode: deps.config().general.countryCode }).number;
      } catch (err) {
        if (!(err instanceof NumberError)) throw err;
        throw bad(`number: not a valid number: ${err.reason}`);
      }
    }
    if (p.q !== undefined) {
      if (p.q === '') throw bad('q must not be empty');
      q.q = p.q;
    }
    if (p.since !== undefined) q.since = parseTime('since', p.since);
    if (p.until !== undefined) q.until = parseTime('until', p.until);
    if (p.limit !== undefined) {
      const n = /^\d{1,4}$/.test(p.limit) ? Number(p.limit) : NaN;
      if (!(n >= 1 && n <= LIST_LIMIT_MAX)) throw bad(`limit must be a whole number from 1 to ${LIST_LIMIT_MAX}`);
      q.limit = n;
    }
    if (p.cursor !== undefined) {
      const c = decodeCursor(p.cursor);
      if (!c) throw bad('cursor is not one this API gave; start again without it');
      q.cursor = c;
    }
    const page = texts.list(q);
    res.json({ texts: page.texts.map(textJson), next: page.next ? encodeCursor(page.next) : null });
  }).post(json, async (req, res) => {
    const body = jsonObject(req, ['to', 'body', 'from', 'interface']);
    const input = {
      to: stringField(body, 'to', true),
      body: stringField(body, 'body', true),
      from: stringField(body, 'from', false),
      interface: stringField(body, 'interface', false),
    };
    const stored = await sendText(actions, input, 'the API');
    res.status(201).location(`/api/texts/out-${stored.rowId}`).json({ text: textJson(stored) });
  }).all(only('GET', 'POST'));

  app.route('/api/texts/:id').get((req, res) => {
    const { direction, rowId } = textIdOf(req.params.id!);
    const text = texts.get(direction, rowId);
    if (!text) throw new ApiError(404, 'not_found', `no text ${req.params.id}`);
    res.json({ text: textJson(text), events: texts.events(direction, rowId).map(eventJson) });
  }).all(only('GET'));

  for (const action of ['retry', 'cancel'] as const) {
    app.route(`/api/texts/:id/${action}`).post((req, res) => {
      const text = steerText(actions, action, req.params.id!, 'the API');
      res.json({ text: textJson(text) });
    }).all(only('POST'));
  }

  app.route('/api/purge').post(json, (req, res) => {
    const body = jsonObject(req, ['before']);
    const before = parseTime('before', stringField(body, 'before', true));
    const removed = texts.purge(before);
    log.info({ before: new Date(before).toISOString(), removed }, 'finished texts purged through the API');
    res.json({ removed });
  }).all(only('POST'));

  // ---- voicemail ---------------------------------------------------------
  // MiniVM's mail command (websms voicemail-mail) deletes the recording once
  // this answers 201, so the 201 comes only after the commit.
  const rfc822 = express.raw({ type: () => true, limit: MAX_MAIL_BYTES });
  app.route('/api/voicemail').post(rfc822, async (req, res) => {
    if (!req.is('message/rfc822')) throw new ApiError(415, 'unsupported_media_type', 'send the e-mail as it is with Content-Type: message/rfc822');
    let row;
    try {
      row = await deps.voicemail.take(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), now());
    } catch (err) {
      if (err instanceof VoicemailError) throw bad(err.reason);
      log.error({ err: (err as Error).message }, 'a voicemail e-mail could not be stored');
      throw new ApiError(503, 'unavailable', `it cannot be stored now: ${(err as Error).message}`);
    }
    log.info({ voicemail: row.id, recordingBytes: row.recordingBytes }, 'voicemail e-mail stored');
    res.status(201).json({ voicemail: { id: row.id, recipient: row.recipient, recordingSha256: row.recordingSha256, recordingBytes: row.recordingBytes, state: row.state } });
  }).all(only('POST'));

  // ---- interfaces and providers -------------------------------------------
  app.route('/api/interfaces').get((_req, res) => {
    res.json(interfacesStatus(deps));
  }).all(only('GET'));

  app.route('/api/email').get((_req, res) => {
    if (!deps.email) throw new ApiError(404, 'not_found', 'this websms does not send e-mail');
    res.json({ email: deps.email() });
  }).all(only('GET'));

  app.route('/api/providers').get((_req, res) => {
    res.json({ providers: providerList() });
  }).all(only('GET'));

  // ---- everything else ---------------------------------------------------
  app.use((req, res) => {
    const path = redact(loggablePath(req.path, []));
    log.warn({ ip: req.socket.remoteAddress, method: req.method, path }, 'API: no such path');
    sendError(res, new ApiError(404, 'not_found', `no API route ${req.method} ${path.slice(0, 100)}; the routes are in /api/openapi.json`));
  });
  app.use((err: unknown, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    if (res.headersSent) return;
    if (!req.complete) res.set('connection', 'close');
    if (err instanceof ApiError) return sendError(res, err);
    // body-parser's own errors carry a type and a status.
    const type = (err as { type?: unknown }).type;
    if (type === 'entity.too.large') {
      const limit = (err as { limit?: unknown }).limit;
      return sendError(res, new ApiError(413, 'too_large', `the request body is larger than ${typeof limit === 'number' ? limit : config.general.maxRequestBytes} bytes`));
    }
    if (type === 'entity.parse.failed') return sendError(res, bad('the request body is not valid JSON'));
    if (type === 'encoding.unsupported' || type === 'charset.unsupported') return sendError(res, new ApiError(415, 'unsupported_media_type', 'send the body as UTF-8 JSON'));
    log.error({ err, method: req.method, path: loggablePath(req.path, []) }, 'unhandled error in an API request');
    sendError(res, new ApiError(500, 'internal', 'internal error; the log says more'));
  });
  return app;
}
