// The management listener: its own HTTP server, apart from the webhook one,
// so that it can stay on loopback while webhooks face the ITSP. It carries
// the API (bearer token) and, in front of it, the web page (cookie sessions,
// src/web/), which takes its own paths and nothing else.

import type http from 'node:http';
import { listen, type HttpServer } from '../http/server.js';
import { createApiApp, type ApiDeps } from './app.js';

export type { ApiDeps, MetricsSource } from './app.js';

/** Takes the request when the path is its own; false to leave it to the API. */
export type PageHandler = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

export function startApi(deps: ApiDeps, page?: PageHandler): Promise<HttpServer> {
  const app = createApiApp(deps);
  const { listenHost, listenPort } = deps.config().api;
  const handler: http.RequestListener = page ? (req, res) => void (page(req, res) || app(req, res)) : app;
  return listen(handler, listenHost, listenPort, deps.log, { what: 'api' });
}
