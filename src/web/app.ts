// The web page of conversations, on the management listener under /web/:
// its files, sign-in with the configured password, and the JSON the page
// reads and posts. The page uses relative URLs only, so a reverse proxy can
// put it under any prefix (location /sms/ { proxy_pass .../web/; }).
//
// Reading goes through the stores (texts, conversations, media); every change
// to a text goes through the same actions as the management API
// (src/api/actions.ts): sent texts are committed before the answer and sent
// by the sender with its retries, like any other.

import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import { makeAddressMatcher } from '../config/cidr.js';
import type { Config } from '../config/types.js';
import { NumberError } from '../errors.js';
import { clientAddress } from '../http/access.js';
import type { Logger } from '../log.js';
import { extensionOf, labelOf } from '../media/content-types.js';
import { mediaHandler } from '../media/serve.js';
import type { MediaRow, MediaStore } from '../media/store.js';
import { normalizeNumber } from '../numbers/normalize.js';
import { interfacesStatus, sendText, steerText, textIdOf, type InterfacesDeps, type TextActionDeps } from '../api/actions.js';
import { ApiError, sendError } from '../api/errors.js';
import type { Conversation, ConversationCursor, ConversationStore } from '../store/conversations.js';
import { decodeCursor, encodeCursor, textJson, type ListQuery, type TextJson, type TextRecord, type TextState, type TextStore } from '../store/texts.js';
import type { Assets } from './assets.js';
import type { LiveFeed } from './live.js';
import { parsePasswordHash, verifyPassword } from './password.js';
import { cookieOf, newNonce, sameToken, setCookie, SESSION_COOKIE, SIGN_IN_COOKIE, type Session, type Sessions } from './sessions.js';
import type { SignInLimit } from './sign-in-limit.js';

export interface WebDeps {
  config: () => Config;
  texts: TextStore;
  conversations: ConversationStore;
  media: MediaStore;
  /** The management API's own ways of changing texts. */
  actions: TextActionDeps;
  interfaces: InterfacesDeps;
  live: LiveFeed;
  sessions: Sessions;
  signInLimit: SignInLimit;
  assets: Assets;
  log: Logger;
  now: () => number;
}

const PAGE = 30;
const PAGE_MAX = 100;
/** Longest number or sender id taken from the page; stored ones are shorter. */
const NUMBER_MAX = 64;
/** The sign-in form lives this long before it must be loaded again. */
const SIGN_IN_FORM_MS = 60 * 60_000;

/** What the page may load and from where: only itself; pictures from its own media path. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;

/** Queue views: texts waiting to go either way, and those that gave up. Fixed words, never input. */
const QUEUE_STATES: Record<'waiting' | 'failed', readonly TextState[]> = {
  waiting: ['queued', 'sending', 'waiting'],
  failed: ['failed', 'undeliverable', 'expired'],
};

const bad = (reason: string): ApiError => new ApiError(400, 'bad_request', reason);

export interface MediaView {
  seq: number;
  state: MediaRow['state'];
  label: string;
  type: string | null;
  /** Relative to the page; null until stored or once removed. */
  url: string | null;
  reason: string | null;
}

export type TextView = TextJson & { local: string; remote: string; media: MediaView[] };

/** The page's express application (src/web/page.ts loads it at the page's first request). */
export function createWebApp(deps: WebDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', false);
  app.set('query parser', 'simple');

  const serveMedia = mediaHandler({ media: deps.media, config: () => ({ ...deps.config().media, path: '/web/media' }), log: log.child({ mod: 'media' }) });
  const passwordOf = (): string => deps.config().web.password;
  const sessionOf = (req: express.Request): Session | undefined => {
    const password = passwordOf();
    return password === '' ? undefined : deps.sessions.find(cookieOf(req, SESSION_COOKIE), password, deps.now());
  };

  app.use((req, res, next) => {
    res.set(PAGE_HEADERS);
    if (req.path === '/') return res.redirect(302, 'web/');
    // Relative links need the trailing slash.
    if (req.path === '/web') return res.redirect(301, 'web/');
    next();
  });

  // ---- the page's files ------------------------------------------------------
  app.get(['/web/', '/web/:file'], (req, res, next) => {
    const name = (req.params as { file?: string }).file ?? 'index.html';
    const a = deps.assets.get(name);
    if (!a) return next();
    res.set({ 'content-type': a.type, etag: a.etag, 'cache-control': 'no-cache' });
    if (req.get('if-none-match') === a.etag) return void res.status(304).end();
    res.send(a.body);
  });

  // Everything below is data: never cached.
  app.use('/web', (_req, res, next) => {
    res.set('cache-control', 'no-store');
    next();
  });

  const json = express.json({ limit: deps.config().general.maxRequestBytes, strict: true });
  /** A change: signed in (or signing in), JSON, and the page's CSRF token in X-CSRF-Token. */
  const change = (expected: (req: express.Request) => string | undefined): express.RequestHandler => (req, _res, next) => {
    const want = expected(req);
    if (want === undefined || !sameToken(req.get('x-csrf-token'), want)) {
      log.warn({ ip: req.socket.remoteAddress, path: req.path.slice(0, 100), given: req.get('x-csrf-token') === undefined ? 'none' : 'wrong' }, 'web page: change refused without its CSRF token');
      throw new ApiError(403, 'forbidden', 'this change lacks the page\'s security token (X-CSRF-Token); reload the page and try again');
    }
    if (req.method === 'POST' && req.headers['content-length'] !== '0' && req.headers['content-length'] !== undefined && !req.is('application/json')) {
      throw new ApiError(415, 'unsupported_media_type', 'send JSON with Content-Type: application/json');
    }
    next();
  };
  const signedIn: express.RequestHandler = (req, res, next) => {
    if (passwordOf() === '') throw new ApiError(503, 'unavailable', 'the web page is off: set [web] password (websms web-password makes it)');
    const s = sessionOf(req);
    if (!s) throw new ApiError(401, 'unauthorized', 'sign in first (or again: the sign-in ended)');
    res.locals.session = s;
    next();
  };
  const csrfOfSession = (req: express.Request): string | undefined => sessionOf(req)?.csrf;
  const body = (req: express.Request, allowed: readonly string[]): Record<string, unknown> => {
    const b: unknown = req.body;
    if (typeof b !== 'object' || b === null || Array.isArray(b)) throw bad('the request body must be a JSON object');
    const unknown = Object.keys(b).filter((k) => !allowed.includes(k));
    if (unknown.length > 0) throw bad(`unknown field ${unknown.map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}`);
    return b as Record<string, unknown>;
  };
  const str = (b: Record<string, unknown>, name: string, required: boolean, max = 10_000): string | undefined => {
    const v = b[name];
    if (v === undefined || v === null || v === '') {
      if (required) throw bad(`"${name}" is missing`);
      return undefined;
    }
    if (typeof v !== 'string') throw bad(`"${name}" must be a string`);
    if (v.length > max) throw bad(`"${name}" is too long`);
    return v;
  };
  const query = (req: express.Request, name: string, max = 200): string | undefined => {
    const v = (req.query as Record<string, unknown>)[name];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') throw bad(`give ${name} once`);
    if (v.length > max) throw bad(`${name} is too long`);
    return v;
  };
  const limitOf = (req: express.Request): number => {
    const raw = query(req, 'limit');
    if (raw === undefined) return PAGE;
    const n = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= 1 && n <= PAGE_MAX)) throw bad(`limit must be a whole number from 1 to ${PAGE_MAX}`);
    return n;
  };
  const textCursor = (req: express.Request): ListQuery['cursor'] => {
    const raw = query(req, 'cursor');
    if (raw === undefined) return undefined;
    const c = decodeCursor(raw);
    if (!c) throw bad('cursor is not one this page gave; load the page again');
    return c;
  };
  const numberOf = (raw: string, what: string): string => {
    try {
      return normalizeNumber(raw, { countryCode: deps.config().general.countryCode }).number;
    } catch (err) {
      if (!(err instanceof NumberError)) throw err;
      throw bad(`${what}: not a valid number: ${err.reason}`);
    }
  };

  const mediaView = (m: MediaRow): MediaView => {
    const ext = m.content_type ? extensionOf(m.content_type) : '';
    return {
      seq: m.seq,
      state: m.state,
      label: labelOf(m.content_type ?? m.announced_type),
      type: m.content_type ?? m.announced_type,
      url: m.state === 'stored' && m.token ? `media/${m.token}${ext === '' ? '' : `.${ext}`}` : null,
      reason: m.reason,
    };
  };
  const view = (r: TextRecord): TextView => ({
    ...textJson(r),
    local: r.direction === 'in' ? r.to : r.from,
    remote: r.direction === 'in' ? r.from : r.to,
    media: r.direction === 'in' ? deps.media.itemsOf(r.rowId).map(mediaView) : [],
  });
  const conversationView = (c: Conversation): Record<string, unknown> => ({
    local: c.local,
    remote: c.remote,
    lastAt: new Date(c.lastAt).toISOString(),
    unread: c.unread,
    last: c.last ? view(c.last) : null,
  });

  /** The user's numbers: each interface's own, and every local number with a conversation. */
  const numbers = (): { number: string; conversations: number; unread: number; interface?: string }[] => {
    const config = deps.config();
    const locals = new Map(deps.conversations.locals().map((l) => [l.number, { ...l }]));
    const out: { number: string; conversations: number; unread: number; interface?: string }[] = [];
    for (const i of config.interfaces) {
      if (i.number === '') continue;
      let n: string;
      try {
        n = normalizeNumber(i.number, { countryCode: config.general.countryCode }).number;
      } catch {
        continue;
      }
      if (out.some((o) => o.number === n)) continue;
      const l = locals.get(n);
      locals.delete(n);
      out.push({ number: n, conversations: l?.conversations ?? 0, unread: l?.unread ?? 0, interface: i.name });
    }
    return [...out, ...locals.values()];
  };

  // ---- sign-in -----------------------------------------------------------------
  app.get('/web/session', (req, res) => {
    const config = deps.config();
    if (config.web.password === '') return void res.json({ enabled: false, signedIn: false });
    const s = sessionOf(req);
    if (!s) {
      const nonce = newNonce();
      setCookie(res, req, SIGN_IN_COOKIE, nonce, SIGN_IN_FORM_MS);
      return void res.json({ enabled: true, signedIn: false, csrf: deps.sessions.signInToken(nonce) });
    }
    const def = config.interfaces.find((i) => i.name === config.general.defaultInterface);
    res.json({
      enabled: true,
      signedIn: true,
      csrf: s.csrf,
      expiresAt: new Date(s.expiresAt).toISOString(),
      numbers: numbers(),
      interfaces: config.interfaces.map((i) => i.name),
      compose: {
        maxSegments: config.outbound.maxSegments,
        maxBytes: config.general.maxBodyBytes,
        charset: def?.send.charset ?? 'unicode',
        canSend: config.interfaces.some((i) => i.send.url !== ''),
      },
    });
  });

  const signInCsrf = (req: express.Request): string | undefined => {
    const nonce = cookieOf(req, SIGN_IN_COOKIE);
    return nonce === undefined ? undefined : deps.sessions.signInToken(nonce);
  };
  const trusted = (): ((ip: string) => boolean) => makeAddressMatcher(deps.config().general.trustedProxies);

  app.post('/web/session', change(signInCsrf), json, async (req, res) => {
    const stored = passwordOf();
    if (stored === '') throw new ApiError(503, 'unavailable', 'the web page is off: set [web] password (websms web-password makes it)');
    const ip = clientAddress(req, trusted());
    const turn = deps.signInLimit.take(ip, deps.now());
    if (!turn.ok) {
      const seconds = Math.ceil(turn.retryAfterMs / 1000);
      log.warn({ ip }, 'web page: sign-in refused, too many attempts');
      res.set('retry-after', String(seconds));
      throw new ApiError(429, 'rate_limited', `too many sign-in attempts; try again in ${Math.ceil(seconds / 60)} minute(s)`);
    }
    const password = str(body(req, ['password']), 'password', true, 1024)!;
    const hash = parsePasswordHash(stored);
    if (!hash.ok || !(await verifyPassword(password, hash.value))) {
      log.warn({ ip }, 'web page: sign-in refused, wrong password');
      throw new ApiError(401, 'unauthorized', 'that is not the password');
    }
    deps.signInLimit.succeeded(ip);
    // A fresh id at sign-in: an id planted before it is worth nothing.
    deps.sessions.close(cookieOf(req, SESSION_COOKIE));
    const lifetime = deps.config().web.sessionLifetimeMs;
    const opened = deps.sessions.open(stored, lifetime, deps.now());
    setCookie(res, req, SESSION_COOKIE, opened.cookie, lifetime);
    setCookie(res, req, SIGN_IN_COOKIE, '', 0);
    log.info({ ip }, 'web page: signed in');
    res.json({ signedIn: true, csrf: opened.session.csrf });
  });

  app.post('/web/session/end', change(csrfOfSession), (req, res) => {
    deps.sessions.close(cookieOf(req, SESSION_COOKIE));
    setCookie(res, req, SESSION_COOKIE, '', 0);
    res.json({ signedIn: false });
  });

  // ---- reading -----------------------------------------------------------------
  app.get('/web/conversations', signedIn, (req, res) => {
    const local = query(req, 'number', NUMBER_MAX);
    const raw = query(req, 'cursor', 400);
    let cursor: ConversationCursor | undefined;
    if (raw !== undefined) {
      try {
        const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as ConversationCursor;
        if (typeof c.lastAt !== 'number' || typeof c.local !== 'string' || typeof c.remote !== 'string') throw new Error('shape');
        cursor = { lastAt: c.lastAt, local: c.local, remote: c.remote };
      } catch {
        throw bad('cursor is not one this page gave; load the page again');
      }
    }
    const page = deps.conversations.list({ local, limit: limitOf(req), cursor });
    res.json({
      conversations: page.conversations.map(conversationView),
      next: page.next ? Buffer.from(JSON.stringify(page.next), 'utf8').toString('base64url') : null,
    });
  });

  app.get('/web/thread', signedIn, (req, res) => {
    const local = query(req, 'local', NUMBER_MAX);
    const remote = query(req, 'remote', NUMBER_MAX);
    if (local === undefined || remote === undefined) throw bad('give local and remote: the two numbers of the conversation');
    const page = deps.texts.list({ between: { local, remote }, limit: limitOf(req), cursor: textCursor(req) });
    const c = deps.conversations.get(local, remote);
    res.json({
      local,
      remote,
      unread: c?.unread ?? 0,
      texts: page.texts.map(view),
      next: page.next ? encodeCursor(page.next) : null,
    });
  });

  app.get('/web/queue', signedIn, (req, res) => {
    const which = query(req, 'which') ?? 'waiting';
    if (which !== 'waiting' && which !== 'failed') throw bad('which must be waiting or failed');
    const iface = query(req, 'interface', 40);
    const page = deps.texts.list({ states: QUEUE_STATES[which], interface: iface, limit: limitOf(req), cursor: textCursor(req) });
    res.json({ texts: page.texts.map(view), next: page.next ? encodeCursor(page.next) : null });
  });

  app.get('/web/interfaces', signedIn, (_req, res) => {
    res.json(interfacesStatus(deps.interfaces));
  });

  app.get('/web/search', signedIn, (req, res) => {
    const rawNumber = query(req, 'number', NUMBER_MAX);
    const q = query(req, 'q', 200);
    if (rawNumber === undefined && q === undefined) throw bad('give a number, some text to look for, or both');
    const number = rawNumber === undefined ? undefined : numberOf(rawNumber, 'number');
    const page = deps.texts.list({ number, q, limit: limitOf(req), cursor: textCursor(req) });
    res.json({ number: number ?? null, q: q ?? null, texts: page.texts.map(view), next: page.next ? encodeCursor(page.next) : null });
  });

  app.get('/web/events', signedIn, (req, res) => {
    deps.live.stream(req, res, () => sessionOf(req) !== undefined);
  });

  app.get('/web/media/:name', signedIn, (req, res) => {
    if (!serveMedia(req, res)) res.status(404).end();
  });

  // ---- changes -----------------------------------------------------------------
  app.post('/web/read', signedIn, change(csrfOfSession), json, (req, res) => {
    const b = body(req, ['local', 'remote', 'through']);
    const local = str(b, 'local', true, NUMBER_MAX)!;
    const remote = str(b, 'remote', true, NUMBER_MAX)!;
    const through = textIdOf(str(b, 'through', true, 40)!);
    if (through.direction !== 'in') throw bad('through must be an inbound text (in-N)');
    const unread = deps.conversations.markRead(local, remote, through.rowId, deps.now());
    deps.live.poke();
    res.json({ unread });
  });

  app.post('/web/texts', signedIn, change(csrfOfSession), json, async (req, res) => {
    const b = body(req, ['to', 'body', 'from']);
    const to = str(b, 'to', true, NUMBER_MAX)!;
    const text = b.body ?? '';
    if (typeof text !== 'string') throw bad('"body" must be a string');
    const from = str(b, 'from', false, NUMBER_MAX);
    const stored = await sendText(deps.actions, { to, body: text, from, interface: interfaceFor(from, to) }, 'the web page');
    deps.live.poke();
    res.status(201).json({ text: view(stored) });
  });

  for (const action of ['retry', 'cancel'] as const) {
    app.post(`/web/texts/:id/${action}`, signedIn, change(csrfOfSession), (req, res) => {
      const text = steerText(deps.actions, action, String(req.params.id), 'the web page');
      deps.live.poke();
      res.json({ text: view(text) });
    });
  }

  /**
   * The interface a text from the page goes through: the one the conversation
   * last used, when it sends (the number belongs to that ITSP account); else
   * the one whose number it is from; else the default (undefined).
   */
  function interfaceFor(from: string | undefined, rawTo: string): string | undefined {
    const config = deps.config();
    const sends = (name: string | undefined): boolean => config.interfaces.some((i) => i.name === name && i.send.url !== '');
    if (from === undefined) return undefined;
    let to: string;
    try {
      to = normalizeNumber(rawTo, { countryCode: config.general.countryCode }).number;
    } catch {
      return undefined; // the checks give the reason
    }
    const last = deps.texts.list({ between: { local: from, remote: to }, limit: 1 }).texts[0];
    if (last && sends(last.interface)) return last.interface;
    const own = config.interfaces.find((i) => {
      if (i.number === '' || i.send.url === '') return false;
      try {
        return normalizeNumber(i.number, { countryCode: config.general.countryCode }).number === from;
      } catch {
        return false;
      }
    });
    return own?.name;
  }

  // ---- everything else ---------------------------------------------------------
  app.use((req, res) => {
    if (req.path.startsWith('/web/') && req.accepts(['json', 'html']) === 'html') {
      return void res.status(404).type('text/plain').send('no such page\n');
    }
    sendError(res, new ApiError(404, 'not_found', `no such path on the web page: ${req.path.slice(0, 100)}`));
  });
  app.use((err: unknown, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    if (res.headersSent) return;
    if (err instanceof ApiError) return sendError(res, err);
    const type = (err as { type?: unknown }).type;
    if (type === 'entity.too.large') return sendError(res, new ApiError(413, 'too_large', 'the request is too large'));
    if (type === 'entity.parse.failed') return sendError(res, bad('the request body is not valid JSON'));
    log.error({ err, method: req.method, path: req.path.slice(0, 200) }, 'unhandled error on the web page');
    sendError(res, new ApiError(500, 'internal', 'internal error; the log says more'));
  });

  return app;
}
