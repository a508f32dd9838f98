// The ITSP webhook: authenticate, parse, validate, commit, and only then answer.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InterfaceConfig } from '../config/types.js';
import { RequestError, StoreError, NumberError } from '../errors.js';
import type { Logger } from '../log.js';
import { webhookRefusal, type Metrics } from '../metrics.js';
import { normalizeNumber, notLocalReason } from '../numbers/normalize.js';
import type { InboundStore } from '../store/inbound.js';
import { splitForDelivery } from '../asterisk/encode.js';
import { makeAddressMatcher } from '../config/cidr.js';
import { clientAddress, createGuard, type AddressMatcher } from './access.js';
import { parseForm, readBody, type Fields } from './body.js';

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
  /** A delivery report for a text we sent; 'unreadable' when the fields are not a report. */
  onStatus: (iface: InterfaceConfig, fields: Fields) => 'applied' | 'ignored' | 'unreadable';
  metrics?: Pick<Metrics, 'webhookRefusals'>;
}

interface Route {
  iface: InterfaceConfig;
  /** A text from the ITSP, or a delivery report on one of ours. */
  kind: 'text' | 'status';
  guard: ReturnType<typeof createGuard>;
  /** The interface's allow list: picks among interfaces that share a path. */
  allowed: AddressMatcher;
}

/**
 * The webhook handler. It runs on node's own request/response objects, ahead of
 * express: express's per-request work alone cost a third of the webhook
 * throughput on the reference machine (docs/benchmarks.md). Returns false when
 * the path is not a webhook, so the caller hands the request to express.
 */
export function webhookHandler(deps: InboundDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  // Several interfaces may share a path (told apart by their allow lists, as PrivateDial's
  // remt_addr does): one that takes any address is tried last.
  const routes = new Map<string, Route[]>();
  const add = (path: string, route: Route): void => void routes.set(path, [...(routes.get(path) ?? []), route]);
  const anyFirst = (i: InterfaceConfig): number => (i.allow.some((c) => c.endsWith('/0')) ? 1 : 0);
  for (const iface of [...deps.interfaces].sort((a, b) => anyFirst(a) - anyFirst(b))) {
    const guard = createGuard(iface);
    const allowed = makeAddressMatcher(iface.allow);
    add(iface.path, { iface, kind: 'text', guard, allowed });
    // Reports come from the same ITSP, so the same address and credential rules apply.
    if (iface.send.url !== '') add(iface.send.statusPath, { iface, kind: 'status', guard, allowed });
  }

  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const ip = clientAddress(req, deps.trustedProxies);
    const found = findRoute(routes, q >= 0 ? url.slice(0, q) : url, ip);
    if (!found) return false;
    const { route, token } = found;
    const { iface } = route;
    const refuse = (err: unknown): void => {
      const e = toRequestError(err);
      deps.log.warn({ iface: iface.name, ip, status: e.status, reason: e.reason }, 'webhook refused');
      deps.metrics?.webhookRefusals.inc({ interface: iface.name, reason: webhookRefusal(e.status) });
      const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
      if (e.status === 401) headers['www-authenticate'] = `Basic realm="websms ${iface.name}"`;
      if (e.status === 405) headers.allow = iface.methods.join(', ');
      // Unread request bytes would otherwise be taken for the next request on this connection.
      if (!req.complete) headers.connection = 'close';
      res.writeHead(e.status, headers).end(`${e.reason}\n`);
    };
    const method = req.method ?? '';
    try {
      if (!(iface.methods as string[]).includes(method)) {
        throw new RequestError(405, `method ${method} is not accepted by interface ${iface.name}`);
      }
      route.guard.check(req, ip, token);
    } catch (err) {
      req.resume();
      refuse(err);
      return true;
    }
    const body = method === 'POST' ? readBody(req, deps.maxRequestBytes, () => continueIfExpected(req, res)) : Promise.resolve(undefined);
    body
      .then((fields) => (route.kind === 'status' ? status(req, res, iface, fields) : handle(req, res, iface, ip, fields)))
      .catch(refuse);
    return true;
  };

  function status(req: IncomingMessage, res: ServerResponse, iface: InterfaceConfig, parsed: Fields | undefined): void {
    const fields = collectFields(req, parsed);
    const outcome = deps.onStatus(iface, fields);
    if (outcome === 'unreadable') throw new RequestError(400, 'not a delivery report: the id or status field is missing');
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('');
  }

  async function handle(req: IncomingMessage, res: ServerResponse, iface: InterfaceConfig, ip: string, parsed: Fields | undefined): Promise<void> {
    const fields = collectFields(req, parsed);
    const log = deps.log;
    const get = (name: string): string | undefined => field(fields, name);
    if (iface.echoField !== '') {
      const echo = get(iface.echoField);
      if (echo !== undefined && get(iface.fieldBody) === undefined) {
        if (!/^[\x20-\x7e]{1,256}$/.test(echo)) throw new RequestError(400, `field ${iface.echoField} must be 1-256 printable characters`);
        log.info({ iface: iface.name, ip }, 'echo handshake answered');
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(echo);
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
    const to = number(rawTo, iface.fieldTo, false, true);
    const from = number(rawFrom, iface.fieldFrom, true, false);
    let providerId: string | undefined;
    if (iface.fieldId !== '') {
      // An empty id is no id: duplicate detection falls back to the content.
      providerId = get(iface.fieldId) || undefined;
      if (providerId !== undefined && !/^[\x21-\x7e]{1,128}$/.test(providerId)) {
        throw new RequestError(400, `field ${iface.fieldId} must be 1-128 printable characters without spaces`);
      }
    }
    const parts = splitForDelivery(body, deps.partBytes).length;
    let result;
    try {
      result = await deps.store.enqueue({ interface: iface.name, providerId, sender: from, recipient: to, body, parts });
    } catch (err) {
      log.error({ iface: iface.name, err }, 'could not store a text; answering 503 so the ITSP retries');
      throw new RequestError(503, 'the text could not be stored; try again later');
    }
    if (result.duplicate) log.info({ iface: iface.name, id: result.id, from, to }, 'duplicate webhook; already stored');
    else {
      log.info({ iface: iface.name, id: result.id, from, to, bytes, parts }, 'text stored');
      deps.onStored(result.id);
    }
    res.writeHead(200, { 'content-type': ackType(iface.ackContentType) }).end(iface.ackBody);
  }

  function number(raw: string, name: string, allowAlphanumeric: boolean, local: boolean): string {
    let n;
    try {
      n = normalizeNumber(raw, { countryCode: deps.countryCode, allowAlphanumeric });
    } catch (err) {
      if (err instanceof NumberError) throw new RequestError(400, `field ${name}: ${err.reason}`);
      throw err;
    }
    // Well-formed but undeliverable: stored, it would only fail later, out of sight.
    const problem = local ? notLocalReason(n) : undefined;
    if (problem !== undefined) throw new RequestError(422, `field ${name}: ${problem}`);
    return n.number;
  }
}

/** A client that sent `Expect: 100-continue` waits for this before sending the body. */
function continueIfExpected(req: IncomingMessage, res: ServerResponse): void {
  if (/\b100-continue\b/i.test(req.headers.expect ?? '')) res.writeContinue();
}

/**
 * The route of a request path: an interface's own path (one trailing "/" is the
 * same path), or its path and token. Among interfaces sharing a path, the first
 * whose allow list has the sender's address; with none, the first, whose guard
 * then refuses it.
 */
function findRoute(routes: Map<string, Route[]>, rawPath: string, ip: string): { route: Route; token?: string } | undefined {
  const path = rawPath.length > 1 && rawPath.endsWith('/') ? rawPath.slice(0, -1) : rawPath;
  const at = (p: string): Route | undefined => {
    const list = routes.get(p);
    return list === undefined ? undefined : (list.find((r) => r.allowed(ip)) ?? list[0]);
  };
  const direct = at(path);
  if (direct && direct.iface.token === '') return { route: direct };
  const cut = path.lastIndexOf('/');
  if (cut > 0) {
    const parent = at(path.slice(0, cut));
    if (parent && parent.iface.token !== '') return { route: parent, token: path.slice(cut + 1) };
  }
  // A token interface called without its token: refused by the guard.
  if (direct) return { route: direct, token: '' };
  return undefined;
}



/** Body fields win over query fields; some ITSPs put part of the data in the URL. */
function collectFields(req: IncomingMessage, body: Fields | undefined): Fields {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const query = q >= 0 ? parseForm(url.slice(q + 1)) : {};
  return body === undefined ? query : { ...query, ...body };
}

function ackType(t: string): string {
  return t.startsWith('text/') && !t.includes('charset') ? `${t}; charset=utf-8` : t;
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
  return new RequestError(500, 'internal error');
}
