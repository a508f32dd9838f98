// The ITSP webhook: authenticate, parse, validate, commit, and only then answer.

import express, { type NextFunction, type Request, type Response } from 'express';
import type { InterfaceConfig } from '../config/types.js';
import { RequestError, StoreError, NumberError } from '../errors.js';
import type { Logger } from '../log.js';
import { normalizeNumber } from '../numbers/normalize.js';
import type { InboundStore } from '../store/inbound.js';
import { splitForDelivery } from '../asterisk/encode.js';
import { clientAddress, createGuard, type AddressMatcher } from './access.js';

export interface InboundDeps {
  interfaces: InterfaceConfig[];
  store: InboundStore;
  countryCode: string;
  maxRequestBytes: number;
  maxBodyBytes: number;
  partBytes: number;
  trustedProxies: AddressMatcher;
  log: Logger;
  /** Called after a new text is committed. */
  onStored: (id: number) => void;
}

interface Route {
  iface: InterfaceConfig;
  guard: ReturnType<typeof createGuard>;
}

export function inboundRouter(deps: InboundDeps): express.RequestHandler {
  const routes = new Map<string, Route>();
  for (const iface of deps.interfaces) routes.set(iface.path, { iface, guard: createGuard(iface) });

  const limit = deps.maxRequestBytes;
  const parsers = [
    express.json({ limit, type: ['application/json', 'application/*+json'] }),
    express.urlencoded({ limit, extended: false, parameterLimit: 200 }),
  ];

  return (req, res, next) => {
    const found = findRoute(routes, req.path);
    if (!found) return next();
    const { route, token } = found;
    const { iface } = route;
    const ip = clientAddress(req, deps.trustedProxies);
    const log = deps.log.child({ iface: iface.name, ip });
    const refuse = (err: unknown): void => {
      const e = toRequestError(err);
      log.warn({ status: e.status, reason: e.reason }, 'webhook refused');
      if (e.status === 401) res.set('WWW-Authenticate', `Basic realm="websms ${iface.name}"`);
      if (e.status === 405) res.set('Allow', iface.methods.join(', '));
      res.status(e.status).type('text/plain').send(`${e.reason}\n`);
    };
    try {
      if (!(iface.methods as string[]).includes(req.method)) {
        throw new RequestError(405, `method ${req.method} is not accepted by interface ${iface.name}`);
      }
      route.guard.check(req, ip, token);
    } catch (err) {
      return refuse(err);
    }
    runParsers(parsers, req, res, (perr) => {
      if (perr) return refuse(perr);
      handle(req, res, iface, log).catch(refuse);
    });
  };

  async function handle(req: Request, res: Response, iface: InterfaceConfig, log: Logger): Promise<void> {
    const fields = collectFields(req);
    const get = (name: string): string | undefined => field(fields, name);
    if (iface.echoField !== '') {
      const echo = get(iface.echoField);
      if (echo !== undefined && get(iface.fieldBody) === undefined) {
        if (!/^[\x20-\x7e]{1,256}$/.test(echo)) throw new RequestError(400, `field ${iface.echoField} must be 1-256 printable characters`);
        log.info({}, 'echo handshake answered');
        res.status(200).type('text/plain').send(echo);
        return;
      }
    }
    const rawTo = required(get, iface.fieldTo);
    const rawFrom = required(get, iface.fieldFrom);
    const body = get(iface.fieldBody);
    if (body === undefined) throw new RequestError(400, `missing field ${iface.fieldBody}`);
    if (body.length === 0) throw new RequestError(400, `field ${iface.fieldBody} is empty`);
    if (body.includes('\u0000')) throw new RequestError(400, `field ${iface.fieldBody} contains a NUL character`);
    if (!body.isWellFormed()) throw new RequestError(400, `field ${iface.fieldBody} is not valid Unicode`);
    const bytes = Buffer.byteLength(body, 'utf8');
    if (bytes > deps.maxBodyBytes) {
      throw new RequestError(413, `text is ${bytes} bytes; this gateway accepts at most ${deps.maxBodyBytes}`);
    }
    const to = number(rawTo, iface.fieldTo, false);
    const from = number(rawFrom, iface.fieldFrom, true);
    let providerId: string | undefined;
    if (iface.fieldId !== '') {
      providerId = get(iface.fieldId);
      if (providerId !== undefined && !/^[\x21-\x7e]{1,128}$/.test(providerId)) {
        throw new RequestError(400, `field ${iface.fieldId} must be 1-128 printable characters without spaces`);
      }
      if (providerId === '') providerId = undefined;
    }
    const parts = splitForDelivery(body, deps.partBytes).length;
    let result;
    try {
      result = await deps.store.enqueue({ interface: iface.name, providerId, sender: from, recipient: to, body, parts });
    } catch (err) {
      log.error({ err }, 'could not store a text; answering 503 so the ITSP retries');
      throw new RequestError(503, 'the text could not be stored; try again later');
    }
    if (result.duplicate) log.info({ id: result.id, from, to }, 'duplicate webhook; already stored');
    else {
      log.info({ id: result.id, from, to, bytes, parts }, 'text stored');
      deps.onStored(result.id);
    }
    res.status(200).type(iface.ackContentType).send(iface.ackBody);
  }

  function number(raw: string, name: string, allowAlphanumeric: boolean): string {
    try {
      return normalizeNumber(raw, { countryCode: deps.countryCode, allowAlphanumeric }).number;
    } catch (err) {
      if (err instanceof NumberError) throw new RequestError(400, `field ${name}: ${err.reason}`);
      throw err;
    }
  }
}

function findRoute(routes: Map<string, Route>, path: string): { route: Route; token?: string } | undefined {
  const direct = routes.get(path);
  if (direct && direct.iface.token === '') return { route: direct };
  const cut = path.lastIndexOf('/');
  if (cut > 0) {
    const parent = routes.get(path.slice(0, cut));
    if (parent && parent.iface.token !== '') return { route: parent, token: path.slice(cut + 1) };
  }
  // A token interface called without its token: refused by the guard.
  if (direct) return { route: direct, token: '' };
  return undefined;
}

function runParsers(
  parsers: express.RequestHandler[],
  req: Request,
  res: Response,
  done: (err?: unknown) => void,
): void {
  if (req.method !== 'POST') return done();
  const type = req.headers['content-type'];
  if (type !== undefined && !req.is(['application/json', 'application/*+json', 'application/x-www-form-urlencoded'])) {
    return done(new RequestError(415, `content type ${type.split(';')[0]} is not accepted; send form or JSON`));
  }
  let i = 0;
  const step: NextFunction = (err?: unknown) => {
    if (err) return done(err);
    const p = parsers[i++];
    if (!p) return done();
    p(req, res, step);
  };
  step();
}

type Fields = Record<string, unknown>;

function collectFields(req: Request): Fields {
  const query = (req.query ?? {}) as Fields;
  if (req.method === 'GET') return query;
  const body = req.body as unknown;
  if (body === undefined || body === null) return query;
  if (typeof body !== 'object' || Array.isArray(body)) throw new RequestError(400, 'the request body must be a JSON object or a form');
  return { ...query, ...(body as Fields) };
}

/** Looks a field up by name, or by a dotted path into JSON (data.payload.text). */
function field(fields: Fields, name: string): string | undefined {
  let v: unknown = Object.prototype.hasOwnProperty.call(fields, name) ? fields[name] : undefined;
  if (v === undefined && name.includes('.')) {
    v = name.split('.').reduce<unknown>((o, k) => {
      if (o && typeof o === 'object' && !Array.isArray(o) && Object.prototype.hasOwnProperty.call(o, k)) {
        return (o as Fields)[k];
      }
      return undefined;
    }, fields);
  }
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) throw new RequestError(400, `field ${name} is given more than once`);
  throw new RequestError(400, `field ${name} must be a string`);
}

function required(get: (n: string) => string | undefined, name: string): string {
  const v = get(name);
  if (v === undefined || v.trim() === '') throw new RequestError(400, `missing field ${name}`);
  return v;
}

function toRequestError(err: unknown): RequestError {
  if (err instanceof RequestError) return err;
  if (err instanceof StoreError) return new RequestError(503, 'the text could not be stored; try again later');
  const e = err as { type?: string; status?: number; message?: string; limit?: number };
  switch (e.type) {
    case 'entity.too.large':
      return new RequestError(413, `request body is larger than the limit of ${e.limit ?? '?'} bytes`);
    case 'entity.parse.failed':
      return new RequestError(400, 'malformed request body: not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new RequestError(415, 'unsupported request encoding or charset; send UTF-8');
    case 'parameters.too.many':
      return new RequestError(413, 'too many form fields');
    case 'request.aborted':
      return new RequestError(400, 'request aborted by the client');
  }
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return new RequestError(e.status, 'malformed request');
  }
  return new RequestError(500, 'internal error');
}
