// The HTTP side of the daemon: ITSP webhooks plus a health endpoint.

import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { clientAddress } from './access.js';
import { webhookHandler, type InboundDeps } from './inbound.js';
import { loggablePath } from './paths.js';

export interface HttpDeps extends InboundDeps {
  health: () => Record<string, unknown>;
}

export function createApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', false); // client addresses are worked out in access.ts
  app.get('/health', (_req, res) => {
    res.json(deps.health());
  });
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
  close(): Promise<void>;
}

/** Webhooks first (see webhookHandler), everything else through express. */
export function createHandler(deps: HttpDeps): http.RequestListener {
  const webhook = webhookHandler(deps);
  const app = createApp(deps);
  return (req, res) => {
    if (!webhook(req, res)) app(req, res);
  };
}

export interface ListenOptions {
  /**
   * Takes requests sent with `Expect: 100-continue`; it must send `100 Continue`
   * itself (res.writeContinue) once it wants the body. The webhook handler does
   * (readBody), so a request it refuses on its headers (too large, wrong type,
   * unauthorised) is answered before the client sends a byte of the body.
   * Without it, node answers 100 Continue to every such request at once.
   */
  checkContinue?: http.RequestListener;
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
      log.info({ host: addr.address, port: addr.port }, 'http listening');
      resolve({
        server,
        port: addr.port,
        close: () =>
          new Promise<void>((res) => {
            server.close(() => res());
            server.closeIdleConnections();
          }),
      });
    });
  });
}
