// The webhook listener: ITSP webhooks and delivery reports, nothing else
// (health, readiness and the management API have their own listener, src/api/).

import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { clientAddress } from './access.js';
import { webhookHandler, type InboundDeps } from './inbound.js';
import { loggablePath } from './paths.js';

export type HttpDeps = InboundDeps & {
  /** Serves fetched media (src/media/serve.ts); false when the path is not its own. */
  media?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
};

/**
 * Anything that is neither a webhook nor media: 404, logged without the
 * path's secrets. Plain node, not express: this listener needs nothing
 * else, and express (about 4 MB resident) is loaded only by the management
 * listener, at its first request (src/api/server.ts).
 */
function notFound(deps: HttpDeps): http.RequestListener {
  return (req, res) => {
    try {
      const ip = clientAddress(req, deps.trustedProxies);
      const urlPath = (req.url ?? '/').split(/[?#]/)[0]!;
      deps.log.warn({ ip, method: req.method, path: loggablePath(urlPath, deps.interfaces) }, 'no such path');
      send(res, 404, 'no interface or endpoint at this path\n');
    } catch (err) {
      deps.log.error({ err }, 'unhandled error in an HTTP request');
      if (!res.headersSent) send(res, 500, 'internal error\n');
    }
  };
}

function send(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export interface HttpServer {
  server: http.Server;
  port: number;
  /**
   * Stops taking requests at once and ends every connection within graceMs:
   * see listen().
   */
  close(graceMs?: number): Promise<void>;
}

/** Webhooks first (see webhookHandler), then media, everything else 404. */
export function createHandler(deps: HttpDeps): http.RequestListener {
  const webhook = webhookHandler(deps);
  const media = deps.media ?? ((): boolean => false);
  const rest = notFound(deps);
  return (req, res) => {
    if (!webhook(req, res) && !media(req, res)) rest(req, res);
  };
}

/** How long a request under way at stop may take to finish. */
const CLOSE_GRACE_MS = 2000;

export interface ListenOptions {
  /**
   * Takes requests sent with `Expect: 100-continue`; it must send `100 Continue`
   * itself (res.writeContinue) once it wants the body. The webhook handler does
   * (readBody), so a request it refuses on its headers (too large, wrong type,
   * unauthorised) is answered before the client sends a byte of the body.
   * Without it, node answers 100 Continue to every such request at once.
   */
  checkContinue?: http.RequestListener;
  /** Names the listener in its log line ("http listening", "api listening"). */
  what?: string;
}

/** What a request that arrives while the listener closes is answered. */
export const STOPPING_STATUS = 503;
/** The client may try again this many seconds later (websms restarts in a few). */
const STOPPING_RETRY_AFTER_S = 5;

export function listen(handler: http.RequestListener, host: string, port: number, log: Logger, opts: ListenOptions = {}): Promise<HttpServer> {
  let closing = false;
  // The latest response of each open connection, so that a stop can tell the
  // ones not answered yet to close their connection. Kept per connection, not
  // per response: a 'close' listener on every response held 30 MB more under
  // load (bench/webhook.ts). Not a ServerResponse subclass either: express
  // (the management listener) gives its responses a prototype of its own.
  const latest = new Map<net.Socket, http.ServerResponse>();
  // A request that arrives once the stop began (on a kept-alive connection:
  // new connections are no longer accepted) is refused and its connection
  // closed, so that nothing is acknowledged after the stop began; an ITSP
  // sends it again. One under way when the stop began finishes.
  const gate = (inner: http.RequestListener): http.RequestListener => (req, res) => {
    if (!closing) {
      latest.set(req.socket, res);
      return inner(req, res);
    }
    res.writeHead(STOPPING_STATUS, { 'content-type': 'text/plain', 'retry-after': String(STOPPING_RETRY_AFTER_S), connection: 'close' });
    res.end('websms is stopping; send this again in a few seconds\n');
    req.resume();
  };
  return new Promise((resolve, reject) => {
    const server = http.createServer({ keepAliveTimeout: 65_000 }, gate(handler));
    server.on('connection', (socket: net.Socket) => socket.once('close', () => latest.delete(socket)));
    if (opts.checkContinue) server.on('checkContinue', gate(opts.checkContinue));
    server.headersTimeout = 20_000;
    server.requestTimeout = 30_000;
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      log.info({ host: addr.address, port: addr.port }, `${opts.what ?? 'http'} listening`);
      let closed: Promise<void> | undefined;
      resolve({
        server,
        port: addr.port,
        close: (graceMs = CLOSE_GRACE_MS) =>
          (closed ??= new Promise<void>((res) => {
            // New connections are refused at once. A request under way gets
            // graceMs to finish (its text is committed and answered, or never
            // acknowledged, so the ITSP sends it again), and its answer says
            // Connection: close; an idle kept-alive connection is closed at
            // once, and one that falls idle as soon as it does, so a busy
            // ITSP cannot hold the stop open.
            closing = true;
            for (const r of latest.values()) if (!r.headersSent) r.setHeader('connection', 'close');
            const sweep = setInterval(() => server.closeIdleConnections(), 50);
            const cut = setTimeout(() => server.closeAllConnections(), graceMs);
            server.close(() => {
              clearInterval(sweep);
              clearTimeout(cut);
              res();
            });
            server.closeIdleConnections();
          })),
      });
    });
  });
}
