// A TLS reverse proxy that puts a path of websms under a prefix of its own,
// as nginx does with `location /sms/ { proxy_pass http://127.0.0.1:8081/web/; }`:
// the prefix is swapped for the target path, X-Forwarded-Proto and
// X-Forwarded-For are added, and answers (event streams too) pass through
// as they come. The certificate is a throwaway one (makeTestCa).

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { makeTestCa } from '../doubles/itsp-server.js';
import { tempDir } from './tmp.js';

export interface Proxy {
  /** https://127.0.0.1:PORT<prefix>/ */
  url: string;
  /** Requests as the proxy passed them on: method and path. */
  seen: string[];
  stop(): Promise<void>;
}

export async function startTlsProxy(o: { prefix: string; target: string }): Promise<Proxy> {
  const ca = makeTestCa(tempDir());
  const target = new URL(o.target);
  const seen: string[] = [];
  const server = https.createServer({ key: fs.readFileSync(ca.keyFile), cert: fs.readFileSync(ca.certFile) }, (req, res) => {
    const url = req.url ?? '/';
    // nginx answers the bare prefix with a redirect to prefix + "/".
    if (url === o.prefix) return void res.writeHead(301, { location: `${o.prefix}/` }).end();
    if (!url.startsWith(`${o.prefix}/`)) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not proxied\n');
    const path = target.pathname.replace(/\/$/, '') + url.slice(o.prefix.length);
    seen.push(`${req.method} ${path}`);
    const headers = { ...req.headers, host: target.host, 'x-forwarded-proto': 'https', 'x-forwarded-for': req.socket.remoteAddress ?? '' };
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}${o.prefix}/`,
    seen,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
