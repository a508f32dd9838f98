// The webhook listener: ITSP webhooks and delivery reports, nothing else
// (health, readiness and the management API have their own listener, src/api/).

import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { webhookHandler, type InboundDeps } from './inbound.js';

export type HttpDeps = InboundDeps;

export function createApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', false); // client addresses are worked out in access.ts
  app.use((req, res) => {
    deps.log.warn({ ip: req.socket.remoteAddress, method: req.method, path: req.path.slice(0, 200) }, 'no such path');
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

/** `what` names the listener in its log line ("http listening", "api listening"). */
export function listen(handler: http.RequestListener, host: string, port: number, log: Logger, what = 'http'): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    const server = http.createServer({ keepAliveTimeout: 65_000 }, handler);
    server.headersTimeout = 20_000;
    server.requestTimeout = 30_000;
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      log.info({ host: addr.address, port: addr.port }, `${what} listening`);
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
