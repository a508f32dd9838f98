// The management listener: its own HTTP server, apart from the webhook one,
// so that it can stay on loopback while webhooks face the ITSP.

import { listen, type HttpServer } from '../http/server.js';
import { createApiApp, type ApiDeps } from './app.js';

export type { ApiDeps, MetricsSource } from './app.js';

export function startApi(deps: ApiDeps): Promise<HttpServer> {
  const app = createApiApp(deps);
  return listen(app, deps.config.api.listenHost, deps.config.api.listenPort, deps.log, 'api');
}
