// A loopback server that keeps media the way providers do, and misbehaves on
// request: slow (trickling bytes), oversized (announced or not), of the wrong
// type, failing a few times then answering, wanting HTTP Basic, redirecting,
// or cutting the connection. Built on node's http only; every request is
// recorded with its Authorization header.

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MediaSpec {
  /** 200 unless set. */
  status?: number;
  /** Content-Type; null: none sent. Default image/jpeg. */
  type?: string | null;
  body?: Buffer;
  /** Answer the first n requests with failStatus (503) before answering properly. */
  failFirst?: number;
  failStatus?: number;
  /** Send the body in pieces of `chunk` bytes, this long apart. */
  trickleMs?: number;
  chunk?: number;
  /** No Content-Length: the size is only known by counting. */
  chunked?: boolean;
  /** HTTP Basic credentials the item needs (401 otherwise). */
  basic?: { username: string; password: string };
  /** Answer 302 to this Location. */
  redirect?: string;
  /** Reset the connection instead of answering. */
  destroy?: boolean;
}

export interface MediaRequest {
  path: string;
  authorization: string | undefined;
  range: string | undefined;
}

export interface MediaServer {
  url: string;
  origin: string;
  set(path: string, spec: MediaSpec): void;
  requests: MediaRequest[];
  hits(path: string): number;
  stop(): Promise<void>;
}

/** A few bytes that start like a JPEG; what matters is that they come back unchanged. */
export function pictureBytes(n = 2048, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 17) & 0xff;
  b[0] = 0xff;
  b[1] = 0xd8;
  return b;
}

export async function startMediaServer(): Promise<MediaServer> {
  const specs = new Map<string, MediaSpec>();
  const served = new Map<string, number>();
  const requests: MediaRequest[] = [];
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    requests.push({ path, authorization: req.headers.authorization, range: req.headers.range });
    const spec = specs.get(path);
    if (!spec) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not here\n');
      return;
    }
    const n = (served.get(path) ?? 0) + 1;
    served.set(path, n);
    if (spec.destroy) {
      req.socket.destroy();
      return;
    }
    if (spec.basic) {
      const want = `Basic ${Buffer.from(`${spec.basic.username}:${spec.basic.password}`).toString('base64')}`;
      if (req.headers.authorization !== want) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="media"', 'content-type': 'text/plain' }).end('who are you\n');
        return;
      }
    }
    if (n <= (spec.failFirst ?? 0)) {
      res.writeHead(spec.failStatus ?? 503, { 'content-type': 'text/plain' }).end('try later\n');
      return;
    }
    if (spec.redirect) {
      res.writeHead(302, { location: spec.redirect }).end();
      return;
    }
    const body = spec.body ?? pictureBytes();
    const headers: Record<string, string> = {};
    const type = spec.type === undefined ? 'image/jpeg' : spec.type;
    if (type !== null) headers['content-type'] = type;
    if (!spec.chunked) headers['content-length'] = String(body.length);
    res.writeHead(spec.status ?? 200, headers);
    if (!spec.trickleMs) {
      res.end(body);
      return;
    }
    const chunk = spec.chunk ?? 64;
    let off = 0;
    const timer = setInterval(() => {
      if (res.destroyed || off >= body.length) {
        clearInterval(timer);
        res.end();
        return;
      }
      res.write(body.subarray(off, off + chunk));
      off += chunk;
    }, spec.trickleMs);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: origin,
    origin,
    set: (path, spec) => void specs.set(path, spec),
    requests,
    hits: (path) => requests.filter((r) => r.path === path).length,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
