// The web page as the management listener sees it: which paths are the
// page's, and the end of its event streams at stop. The page itself, an
// express application (src/web/app.ts), is loaded by its first request, like
// the API's (src/api/server.ts): a websms whose page nobody opens never loads
// express for it.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { loadedOnFirstRequest } from '../api/server.js';
import type { WebDeps } from './app.js';

export type { WebDeps, TextView, MediaView } from './app.js';

export interface WebPage {
  /** Takes the request when it is the page's (/, /web, /web/...); false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Ends the event streams (at stop, before the listener closes). */
  close(): void;
}

const isPagePath = (url: string): boolean => url === '/' || url.startsWith('/?') || url === '/web' || url.startsWith('/web/') || url.startsWith('/web?');

export function createWebPage(deps: WebDeps): WebPage {
  const app = loadedOnFirstRequest(async () => (await import('./app.js')).createWebApp(deps), deps.log);
  return {
    handle(req, res) {
      if (!isPagePath(req.url ?? '')) return false;
      app(req, res);
      return true;
    },
    close: () => deps.live.close(),
  };
}
