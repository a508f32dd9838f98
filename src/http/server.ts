// The webhook listener: ITSP webhooks and delivery reports, nothing else
// (health, readiness and the management API have their own listener, src/api/).

import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { clientAddress } from './access.js';
import { webhookHandler, type InboundDeps } from './inbound.js';
import { loggablePath } from './paths.js';

export type HttpDeps = InboundDeps & {
  /** Serves fetched media (src/media/serve.ts); false when the path is not its own. */
  media?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
};

export function createApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', false); // client addresses are worked out in access.ts
  app.use((req, res) => {
    const ip = clientAddress(req, deps.trustedProxies);
    deps.log.warn({ ip, method: req.method, path: loggablePath(req.path, deps.interfaces) }, 'no such path');
    res.status(404).type('text/plain').send('no interface or endpoint at this path\n');
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    deps.log.error({ err }, 'unhandled error in an HTTP request');
    if (!res.headersSent) res.status(500).type('text/plain').send('internal error\n');
  });
  return app;
}

export interface HttpServer {
  server: http.Server;
  port: number;
  /** Stops listening and ends every connection within graceMs. */
  close(graceMs?: number): Promise<void>;
}

/** Webhooks first (see webhookHandler), then media, everything else through express. */
export function createHandler(deps: HttpDeps): http.RequestListener {
  const webhook = webhookHandler(deps);
  const media = deps.media ?? ((): boolean => false);
  const app = createApp(deps);
  return (req, res) => {
    if (!webhook(req, res) && !media(req, res)) app(req, res);
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

export function listen(handler: http.RequestListener, host: string, port: number, log: Logger, opts: ListenOptions = {}): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    const server = http.createServer({ keepAliveTimeout: 65_000 }, handler);
    if (opts.checkContinue) server.on('checkContinue', opts.checkContinue);
    server.headersTimeout = 20_000;
    server.requestTimeout = 30_000;
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      log.info({ host: addr.address, port: addr.port }, `${opts.what ?? 'http'} listening`);
      resolve({
        server,
        port: addr.port,
        close: (graceMs = CLOSE_GRACE_MS) =>
          new Promise<void>((res) => {
            // New connections are refused at once. A request under way gets
            // graceMs to finish (its text is committed and answered, or never
            // acknowledged, so the ITSP sends it again); a keep-alive
            // connection is closed as soon as it falls idle, so a busy ITSP
            // cannot hold the stop open.
            const sweep = setInterval(() => server.closeIdleConnections(), 50);
            const cut = setTimeout(() => server.closeAllConnections(), graceMs);
            server.close(() => {
              clearInterval(sweep);
              clearTimeout(cut);
              res();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}
