// The management listener: its own HTTP server, apart from the webhook one,
// so that it can stay on loopback while webhooks face the ITSP. It carries
// the API (bearer token) and, in front of it, the web page (cookie sessions,
// src/web/), which takes its own paths and nothing else.
//
// The API and the page are express applications; express and their routes
// (about 4 MB resident) are loaded by the first request that needs them, not
// at start: a websms nobody asks (no Prometheus, no page open) never loads
// them (docs/benchmarks.md, "Memory"). That first request waits for the load,
// some tens of milliseconds; what the API reads from the configuration once
// (the body size limit) is what is in force then.

import type http from 'node:http';
import { listen, type HttpServer } from '../http/server.js';
import type { Logger } from '../log.js';
import type { ApiDeps } from './app.js';

export type { ApiDeps, MetricsSource } from './app.js';

/** Takes the request when the path is its own; false to leave it to the API. */
export type PageHandler = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

/**
 * A request listener made on first use by `make` (which imports what it
 * needs). A failed load answers 500 and is tried again by the next request.
 */
export function loadedOnFirstRequest(make: () => Promise<http.RequestListener>, log: Logger): http.RequestListener {
  let loading: Promise<http.RequestListener> | undefined;
  return (req, res) => {
    const app = (loading ??= make());
    app.then(
      (handle) => handle(req, res),
      (err: unknown) => {
        if (loading === app) loading = undefined;
        log.error({ err }, 'could not load the request handler');
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
          res.end('internal error; the log says more\n');
        }
      },
    );
  };
}

export function startApi(deps: ApiDeps, page?: PageHandler): Promise<HttpServer> {
  const app = loadedOnFirstRequest(async () => (await import('./app.js')).createApiApp(deps), deps.log);
  const { listenHost, listenPort } = deps.config().api;
  const handler: http.RequestListener = page ? (req, res) => void (page(req, res) || app(req, res)) : app;
  return listen(handler, listenHost, listenPort, deps.log, { what: 'api' });
}
