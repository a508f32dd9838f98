// The ITSP webhook: authenticate, verify the provider's signature, let the
// provider's profile read the request, validate, commit, and only then answer.
// Every provider goes through here; what differs between them is in
// providers/ (parseWebhook, verifyWebhook, answer).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { publicStatusUrl } from '../config/public-url.js';
import type { InterfaceConfig } from '../config/types.js';
import { RequestError, StoreError, NumberError } from '../errors.js';
import type { Logger } from '../log.js';
import { webhookRefusal, type Metrics } from '../metrics.js';
import { normalizeNumber, notLocalReason } from '../numbers/normalize.js';
import type { EnqueueResult, InboundStore } from '../store/inbound.js';
import { splitForDelivery } from '../asterisk/encode.js';
import { adapterFor } from '../../providers/index.js';
import { generic } from '../../providers/generic.js';
import type { InboundText, MediaRef, ProviderAdapter, StatusReport, WebhookAnswer, WebhookParse, WebhookRequest } from '../../providers/types.js';
import { clientAddress, createGuard, type AddressMatcher } from './access.js';
import { parseForm, readBody, type Body, type Fields } from './body.js';
import type { Reassembly } from './reassembly.js';

export interface InboundDeps {
  interfaces: InterfaceConfig[];
  store: InboundStore;
  /** Texts that arrive in parts; without it such parts are refused (503). */
  reassembly?: Reassembly;
  countryCode: string;
  maxRequestBytes: number;
  maxBodyBytes: number;
  partBytes: number;
  trustedProxies: AddressMatcher;
  log: Logger;
  /** Called after a new text is committed. */
  onStored: (id: number) => void;
  /** A delivery report on a text we sent (src/outbound/reports.ts). */
  onReport: (iface: InterfaceConfig, report: StatusReport) => 'applied' | 'ignored';
  metrics?: Pick<Metrics, 'webhookRefusals'>;
}

interface Route {
  iface: InterfaceConfig;
  adapter: ProviderAdapter;
  /** A text from the ITSP, or a delivery report on one of ours. */
  kind: 'text' | 'status';
  guard: ReturnType<typeof createGuard>;
  /** The URL the provider calls, as configured (public_url), without token or query; '' to rebuild it from the request. */
  publicUrl: string;
}

/** Most media items one text may carry; providers send at most 10. */
const MAX_MEDIA = 20;

/**
 * The webhook handler. It runs on node's own request/response objects, ahead of
 * express: express's per-request work alone cost a third of the webhook
 * throughput on the reference machine (docs/benchmarks.md). Returns false when
 * the path is not a webhook, so the caller hands the request to express.
 */
export function webhookHandler(deps: InboundDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const routes = new Map<string, Route>();
  for (const iface of deps.interfaces) {
    const guard = createGuard(iface);
    const adapter = adapterFor(iface.provider);
    routes.set(iface.path, { iface, adapter, kind: 'text', guard, publicUrl: trimSlash(iface.publicUrl) });
    // Reports come from the same ITSP, so the same address, credential and signature rules apply.
    if (iface.send.url !== '') {
      routes.set(iface.send.statusPath, { iface, adapter, kind: 'status', guard, publicUrl: publicStatusUrl(iface.publicUrl, iface.path, iface.send.statusPath) });
    }
  }

  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const found = findRoute(routes, q >= 0 ? url.slice(0, q) : url);
    if (!found) return false;
    const { route, token } = found;
    const { iface } = route;
    const ip = clientAddress(req, deps.trustedProxies);
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
    body.then((b) => handle(req, res, route, token, ip, b)).catch(refuse);
    return true;
  };

  async function handle(req: IncomingMessage, res: ServerResponse, route: Route, token: string | undefined, ip: string, body: Body | undefined): Promise<void> {
    const { iface, adapter } = route;
    const request = webhookRequest(req, route, token, body, deps.trustedProxies);
    if (iface.verify && adapter.verifyWebhook) {
      const check = adapter.verifyWebhook(request, iface, Date.now());
      if (!check.ok) throw new RequestError(403, `signature check failed for interface ${iface.name}: ${check.reason}`);
    }
    const parsed = (adapter.parseWebhook ?? generic.parseWebhook!)(request, iface);
    switch (parsed.kind) {
      case 'texts':
        await storeTexts(iface, parsed.texts);
        break;
      case 'status':
        for (const report of parsed.reports) deps.onReport(iface, report);
        break;
      case 'echo':
        if (!/^[\x20-\x7e]{1,256}$/.test(parsed.body)) throw new RequestError(400, 'the handshake value must be 1-256 printable characters');
        deps.log.info({ iface: iface.name, ip }, 'echo handshake answered');
        break;
      case 'ignored':
        deps.log.debug({ iface: iface.name, ip, reason: parsed.reason }, 'webhook acknowledged; nothing to store');
        break;
    }
    const a = adapter.answer?.(parsed, iface) ?? defaultAnswer(parsed, iface);
    res.writeHead(a.status, { 'content-type': ackType(a.contentType) }).end(a.body);
  }

  /** Checks every text first (a bad one refuses the request, nothing stored), then commits them all. */
  async function storeTexts(iface: InterfaceConfig, texts: InboundText[]): Promise<void> {
    if (texts.length === 0) throw new RequestError(400, 'the request holds no text');
    const checked = texts.map((t) => checkText(iface, t));
    await Promise.all(checked.map((t) => storeText(iface, t)));
  }

  interface CheckedText {
    from: string;
    to: string;
    body: string;
    bytes: number;
    providerId: string | undefined;
    part?: InboundText['part'];
    media: MediaRef[];
  }

  function checkText(iface: InterfaceConfig, t: InboundText): CheckedText {
    const body = t.body;
    const media = t.media ?? [];
    if (body.length === 0 && media.length === 0) throw new RequestError(400, 'the text is empty: no body and no media');
    if (body.includes('\u0000')) throw new RequestError(400, 'the text contains a NUL character');
    if (!body.isWellFormed()) throw new RequestError(400, 'the text is not valid Unicode');
    const bytes = Buffer.byteLength(body, 'utf8');
    if (bytes > deps.maxBodyBytes) {
      throw new RequestError(413, `text is ${bytes} bytes; this gateway accepts at most ${deps.maxBodyBytes}`);
    }
    // The generic profile names its fields; the others are read by the profile.
    const named = iface.provider === 'generic';
    const to = number(t.to, named ? `field ${iface.fieldTo}` : 'recipient', false, true);
    const from = number(t.from, named ? `field ${iface.fieldFrom}` : 'sender', true, false);
    const providerId = t.providerId === null || t.providerId === '' ? undefined : t.providerId;
    if (providerId !== undefined && !/^[\x21-\x7e]{1,128}$/.test(providerId)) {
      throw new RequestError(400, `${named && iface.fieldId !== '' ? `field ${iface.fieldId}` : "the provider's message id"} must be 1-128 printable characters without spaces`);
    }
    if (t.part !== undefined) checkPart(t.part);
    if (media.length > MAX_MEDIA) throw new RequestError(413, `the text has ${media.length} media items; at most ${MAX_MEDIA} are taken`);
    for (const m of media) {
      if (typeof m.url !== 'string' || !/^https?:\/\/[\x21-\x7e]{1,2040}$/.test(m.url)) throw new RequestError(400, 'a media URL is not an http(s) URL of at most 2048 characters');
    }
    return { from, to, body, bytes, providerId, part: t.part, media };
  }

  function checkPart(p: NonNullable<InboundText['part']>): void {
    if (!/^[\x21-\x7e]{1,64}$/.test(p.ref)) throw new RequestError(400, 'the reference of a text in parts must be 1-64 printable characters');
    if (!Number.isInteger(p.total) || p.total < 1 || p.total > 255) throw new RequestError(400, `a text in parts has 1-255 parts, not ${p.total}`);
    if (!Number.isInteger(p.seq) || p.seq < 1 || p.seq > p.total) throw new RequestError(400, `part ${p.seq} of ${p.total} is not a part of that text`);
  }

  async function storeText(iface: InterfaceConfig, t: CheckedText): Promise<void> {
    const log = deps.log;
    let result: EnqueueResult | undefined;
    try {
      if (t.part !== undefined && t.part.total > 1) {
        if (!deps.reassembly) throw new StoreError('texts in parts are not taken here');
        const r = deps.reassembly.add({
          interface: iface.name,
          sender: t.from,
          recipient: t.to,
          ref: t.part.ref,
          seq: t.part.seq,
          total: t.part.total,
          body: t.body,
          providerId: t.providerId,
          media: t.media,
        });
        if (r.kind === 'too_long') {
          throw new RequestError(413, `with this part the text would be ${r.bytes} bytes; this gateway accepts at most ${deps.maxBodyBytes}`);
        }
        if (r.kind === 'duplicate') {
          log.info({ iface: iface.name, from: t.from, to: t.to, part: t.part.seq, of: t.part.total }, 'duplicate webhook; part already stored');
          return;
        }
        if (r.kind === 'waiting') {
          log.info({ iface: iface.name, from: t.from, to: t.to, part: t.part.seq, of: t.part.total, have: r.have }, 'part of a text stored; waiting for the others');
          return;
        }
        result = r.text;
      } else {
        const parts = splitForDelivery(t.body, deps.partBytes).length;
        result = await deps.store.enqueue({
          interface: iface.name,
          providerId: t.providerId,
          sender: t.from,
          recipient: t.to,
          body: t.body,
          parts,
          ...(t.media.length > 0 ? { media: t.media } : {}),
        });
      }
    } catch (err) {
      if (err instanceof RequestError) throw err;
      log.error({ iface: iface.name, err }, 'could not store a text; answering 503 so the ITSP retries');
      throw new RequestError(503, 'the text could not be stored; try again later');
    }
    if (result.duplicate) log.info({ iface: iface.name, id: result.id, from: t.from, to: t.to }, 'duplicate webhook; already stored');
    else {
      log.info({ iface: iface.name, id: result.id, from: t.from, to: t.to, bytes: t.bytes, media: t.media.length }, 'text stored');
      deps.onStored(result.id);
    }
  }

  function number(raw: string, name: string, allowAlphanumeric: boolean, local: boolean): string {
    if (typeof raw !== 'string' || raw.trim() === '') throw new RequestError(400, `missing ${name}`);
    let n;
    try {
      n = normalizeNumber(raw, { countryCode: deps.countryCode, allowAlphanumeric });
    } catch (err) {
      if (err instanceof NumberError) throw new RequestError(400, `${name}: ${err.reason}`);
      throw err;
    }
    // Well-formed but undeliverable: stored, it would only fail later, out of sight.
    const problem = local ? notLocalReason(n) : undefined;
    if (problem !== undefined) throw new RequestError(422, `${name}: ${problem}`);
    return n.number;
  }
}

/** The interface's ack_body for texts, the handshake's value for an echo, an empty 200 otherwise. */
function defaultAnswer(parsed: WebhookParse, iface: InterfaceConfig): WebhookAnswer {
  if (parsed.kind === 'texts') return { status: 200, contentType: iface.ackContentType, body: iface.ackBody };
  if (parsed.kind === 'echo') return { status: 200, contentType: 'text/plain', body: parsed.body };
  return { status: 200, contentType: 'text/plain', body: '' };
}

/**
 * The request as the adapter sees it. The URL is the one the provider signed:
 * the interface's public_url (with the token and query string of this
 * request) when set, else rebuilt from the request, believing
 * X-Forwarded-Proto and X-Forwarded-Host only from a trusted proxy.
 */
function webhookRequest(req: IncomingMessage, route: Route, token: string | undefined, body: Body | undefined, trusted: AddressMatcher): WebhookRequest {
  const path = req.url ?? '/';
  let url: string;
  if (route.publicUrl !== '') {
    const q = path.indexOf('?');
    url = route.publicUrl + (token ? `/${token}` : '') + (q >= 0 ? path.slice(q) : '');
  } else {
    const viaProxy = trusted(req.socket.remoteAddress ?? '');
    const proto = (viaProxy && forwarded(req.headers['x-forwarded-proto'])?.toLowerCase()) || ((req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http');
    const host = (viaProxy && forwarded(req.headers['x-forwarded-host'])) || req.headers.host || '';
    url = `${proto}://${host}${path}`;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  return {
    method: req.method === 'GET' ? 'GET' : 'POST',
    url,
    headers,
    rawBody: body?.raw ?? EMPTY,
    contentType: body?.contentType ?? '',
    fields: collectFields(req, body?.fields),
    route: route.kind,
  };
}

const EMPTY = Buffer.alloc(0);

/** The first value of a forwarded header ("https, http" from two proxies: the client's side is first). */
function forwarded(h: string | string[] | undefined): string | undefined {
  const v = (Array.isArray(h) ? h[0] : h)?.split(',')[0]?.trim();
  return v === undefined || v === '' || /[\s/@]/.test(v) ? undefined : v;
}

function trimSlash(u: string): string {
  return u.endsWith('/') ? u.slice(0, -1) : u;
}

/** A client that sent `Expect: 100-continue` waits for this before sending the body. */
function continueIfExpected(req: IncomingMessage, res: ServerResponse): void {
  if (/\b100-continue\b/i.test(req.headers.expect ?? '')) res.writeContinue();
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

/** Body fields win over query fields; some ITSPs put part of the data in the URL. */
function collectFields(req: IncomingMessage, body: Fields | undefined): Fields {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const query = q >= 0 ? parseForm(url.slice(q + 1)) : {};
  return body === undefined ? query : q >= 0 ? { ...query, ...body } : body;
}

function ackType(t: string): string {
  return t.startsWith('text/') && !t.includes('charset') ? `${t}; charset=utf-8` : t;
}

function toRequestError(err: unknown): RequestError {
  if (err instanceof RequestError) return err;
  if (err instanceof StoreError) return new RequestError(503, 'the text could not be stored; try again later');
  return new RequestError(500, 'internal error');
}
