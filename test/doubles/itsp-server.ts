// A scriptable fake ITSP HTTP SMS API (Twilio / 46elks style) on a loopback
// port, built on node's own http/https only, so it shares nothing with the
// server under test.
//
// Every request is recorded byte for byte (raw body, lower-cased headers, the
// TCP connection it came on); answers come from a queue of one-shot response
// specs, then from a default responder. Specs can delay, hang, reset the
// connection or set Retry-After; the listener can be closed and reopened on the
// same port; with `tls` it serves https (see makeTestCa for a throwaway CA).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export type FormBody = Record<string, string | string[]>;

export interface RecordedRequest {
  index: number; // 0-based arrival order (in `requests`)
  method: string;
  url: string; // request target as sent: path and query
  path: string; // pathname, undecoded
  query: FormBody;
  headers: Record<string, string>; // lower-cased names; repeated headers joined with ', '
  rawHeaders: string[]; // as received, name/value alternating
  rawBody: Buffer; // every body byte, unchanged
  body: unknown; // form → FormBody, JSON → parsed value, anything else (or bad JSON) → undefined
  contentType: string; // media type only, lower-cased ('' when absent)
  receivedAt: number; // performance.now() when the request head arrived
  receivedAtEpoch: number; // Date.now() at the same moment
  connectionId: number; // 1, 2, ... per TCP (or TLS) connection: same id = keep-alive reuse
  authorized: boolean; // false when requireBasic / requireBearer answered 401
}

export interface ResponseSpec {
  status?: number; // 200
  headers?: Record<string, string>;
  body?: string | object; // object → JSON (content-type application/json)
  delayMs?: number; // wait this long before answering
  hang?: true; // never answer (until stop(), or the client gives up)
  destroy?: true; // reset the connection instead of answering
  retryAfter?: number | string; // Retry-After header
}

export type Responder = (req: RecordedRequest) => ResponseSpec | Promise<ResponseSpec>;
export type ResponseSource = ResponseSpec | Responder;

export interface ItspDoubleOptions {
  port?: number; // 0 = ephemeral
  tls?: { key: string | Buffer; cert: string | Buffer };
  requireBasic?: { username: string; password: string };
  requireBearer?: string;
  default?: ResponseSource; // { status: 200, body: {} }
}

export interface ItspDouble {
  readonly url: string; // http(s)://127.0.0.1:<port>
  readonly port: number;
  readonly requests: readonly RecordedRequest[]; // live list
  readonly connections: number; // connections accepted so far
  queue(...responses: ResponseSource[]): void;
  pending(): number; // one-shot responses not used yet
  setDefault(responder: ResponseSource): void;
  clearRequests(): void;
  waitForRequests(n: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  waitFor(pred: (r: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  /** Close the listener (new connections get ECONNREFUSED); existing connections are destroyed unless keepExisting. */
  refuseConnections(opts?: { keepExisting?: boolean }): Promise<void>;
  /** Listen again on the same port. */
  acceptConnections(): Promise<void>;
  stop(): Promise<void>;
}

function toRecord(params: URLSearchParams): FormBody {
  const out: FormBody = {};
  for (const [k, v] of params) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

function parseBody(contentType: string, raw: Buffer): unknown {
  if (contentType === 'application/x-www-form-urlencoded') return toRecord(new URLSearchParams(raw.toString('utf8')));
  if (contentType === 'application/json' || contentType.endsWith('+json')) {
    try {
      return JSON.parse(raw.toString('utf8'));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export async function startItspDouble(opts: ItspDoubleOptions = {}): Promise<ItspDouble> {
  const requests: RecordedRequest[] = [];
  const oneShots: ResponseSource[] = [];
  let fallback: ResponseSource = opts.default ?? { status: 200, body: {} };
  const sockets = new Set<net.Socket>();
  const connIds = new WeakMap<net.Socket, number>();
  const timers = new Set<NodeJS.Timeout>();
  let connSeq = 0;
  let waiters: Array<() => void> = [];
  let server: http.Server | undefined;
  let port = opts.port ?? 0;
  let stopped = false;

  const wake = () => {
    for (const w of waiters) w();
  };

  const authorize = (h: Record<string, string>): boolean => {
    const auth = h['authorization'] ?? '';
    if (opts.requireBasic) {
      const m = /^Basic\s+(\S+)$/i.exec(auth);
      const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
      const i = decoded.indexOf(':');
      if (i < 0 || decoded.slice(0, i) !== opts.requireBasic.username || decoded.slice(i + 1) !== opts.requireBasic.password)
        return false;
    }
    if (opts.requireBearer !== undefined && auth !== `Bearer ${opts.requireBearer}`) return false;
    return true;
  };

  const reset = (sock: net.Socket) => {
    try {
      if ('encrypted' in sock) sock.destroy();
      else sock.resetAndDestroy(); // RST: the client sees ECONNRESET
    } catch {
      sock.destroy();
    }
  };

  const send = (res: http.ServerResponse, spec: ResponseSpec) => {
    if (res.destroyed || res.writableEnded) return;
    if (spec.destroy) return void (res.socket && reset(res.socket));
    if (spec.hang) return; // kept open; stop() destroys the socket
    const headers: Record<string, string> = {};
    let payload = '';
    if (typeof spec.body === 'string') {
      payload = spec.body;
      headers['content-type'] = 'text/plain; charset=utf-8';
    } else if (spec.body !== undefined) {
      payload = JSON.stringify(spec.body);
      headers['content-type'] = 'application/json; charset=utf-8';
    }
    if (spec.retryAfter !== undefined) headers['retry-after'] = String(spec.retryAfter);
    for (const [k, v] of Object.entries(spec.headers ?? {})) headers[k.toLowerCase()] = v;
    const buf = Buffer.from(payload, 'utf8');
    headers['content-length'] = String(buf.length);
    res.writeHead(spec.status ?? 200, headers);
    res.end(buf);
  };

  const answer = async (rec: RecordedRequest, res: http.ServerResponse) => {
    let spec: ResponseSpec;
    if (!rec.authorized) {
      spec = {
        status: 401,
        headers: opts.requireBasic ? { 'www-authenticate': 'Basic realm="itsp-double"' } : { 'www-authenticate': 'Bearer' },
        body: { code: 20003, message: 'Authenticate', status: 401 },
      };
    } else {
      const src = oneShots.length ? oneShots.shift()! : fallback;
      try {
        spec = typeof src === 'function' ? await src(rec) : src;
      } catch (e) {
        spec = { status: 500, body: { message: `itsp double responder threw: ${String(e)}` } };
      }
    }
    if (spec.delayMs && spec.delayMs > 0 && !spec.hang) {
      const t = setTimeout(() => {
        timers.delete(t);
        send(res, spec);
      }, spec.delayMs);
      timers.add(t);
    } else send(res, spec);
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const receivedAt = performance.now();
    const receivedAtEpoch = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {}); // client went away mid-body: nothing to record
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i]!.toLowerCase();
        const v = req.rawHeaders[i + 1]!;
        headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
      }
      const rawUrl = req.url ?? '/';
      const q = rawUrl.indexOf('?');
      const contentType = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      const rawBody = Buffer.concat(chunks);
      const rec: RecordedRequest = {
        index: requests.length,
        method: req.method ?? '',
        url: rawUrl,
        path: q < 0 ? rawUrl : rawUrl.slice(0, q),
        query: toRecord(new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1))),
        headers,
        rawHeaders: [...req.rawHeaders],
        rawBody,
        body: parseBody(contentType, rawBody),
        contentType,
        receivedAt,
        receivedAtEpoch,
        connectionId: connIds.get(req.socket) ?? 0,
        authorized: authorize(headers),
      };
      requests.push(rec);
      wake();
      void answer(rec, res);
    });
  };

  const track = (sock: net.Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  };

  const listen = async () => {
    const s = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest) : http.createServer(onRequest);
    s.on('connection', track); // raw TCP sockets (also under TLS)
    s.on(opts.tls ? 'secureConnection' : 'connection', (sock: net.Socket) => {
      connIds.set(sock, ++connSeq);
      if (opts.tls) track(sock);
    });
    s.on('tlsClientError', () => {}); // e.g. a client that rejects our certificate
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        s.off('error', reject);
        resolve();
      });
    });
    port = (s.address() as net.AddressInfo).port;
    server = s;
  };

  const closeListener = () => {
    const s = server;
    server = undefined;
    if (!s) return Promise.resolve();
    return new Promise<void>((resolve) => {
      s.close(() => resolve());
      setImmediate(resolve); // the listening socket is closed at once; don't wait for kept connections
    });
  };

  const destroyAll = () => {
    for (const sock of sockets) sock.destroy();
    sockets.clear();
  };

  await listen();

  const waitUntil = <T>(check: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const now = check();
      if (now !== undefined) return resolve(now);
      const w = () => {
        const v = check();
        if (v !== undefined) done(() => resolve(v));
      };
      const t = setTimeout(() => done(() => reject(new Error(`itsp double: timed out after ${timeoutMs} ms waiting for ${what()}`))), timeoutMs);
      const done = (f: () => void) => {
        clearTimeout(t);
        waiters = waiters.filter((x) => x !== w);
        f();
      };
      waiters.push(w);
    });

  return {
    get url() {
      return `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    requests,
    get connections() {
      return connSeq;
    },
    queue: (...responses) => void oneShots.push(...responses),
    pending: () => oneShots.length,
    setDefault: (r) => void (fallback = r),
    clearRequests: () => void requests.splice(0),
    waitForRequests: (n, timeoutMs = 5000) =>
      waitUntil(() => (requests.length >= n ? requests.slice(0, n) : undefined), timeoutMs, () => `${n} requests (got ${requests.length})`),
    waitFor: (pred, timeoutMs = 5000) =>
      waitUntil(() => requests.find(pred), timeoutMs, () => `a matching request (${requests.length} seen)`),
    refuseConnections: async ({ keepExisting = false } = {}) => {
      const closed = closeListener();
      if (!keepExisting) destroyAll();
      await closed;
    },
    acceptConnections: async () => {
      if (!server && !stopped) await listen();
    },
    stop: async () => {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = closeListener();
      destroyAll();
      await closed;
    },
  };
}

/** Answers like Twilio's Messages.json: 201 with an SM… sid, status 'queued'. */
export function twilioLike(): Responder {
  let n = 0;
  return (req) => {
    const f = (req.body ?? {}) as FormBody;
    const sid = 'SM' + (++n).toString(16).padStart(32, '0');
    return {
      status: 201,
      body: { sid, status: 'queued', to: f['To'] ?? null, from: f['From'] ?? null, body: f['Body'] ?? null, num_segments: '1', error_code: null },
    };
  };
}

/** Answers like 46elks' /a1/sms: 200 with an id. */
export function elksLike(): Responder {
  let n = 0;
  return (req) => {
    const f = (req.body ?? {}) as FormBody;
    const id = 's' + (++n).toString(16).padStart(32, '0');
    return {
      status: 200,
      body: { id, status: 'created', direction: 'outgoing', from: f['from'] ?? null, to: f['to'] ?? null, message: f['message'] ?? null, parts: 1 },
    };
  };
}

export const errors = {
  rateLimited: (retryAfterSeconds: number): ResponseSpec => ({
    status: 429,
    retryAfter: retryAfterSeconds,
    body: { code: 20429, message: 'Too Many Requests', status: 429 },
  }),
  unavailable: (retryAfter?: number | string): ResponseSpec => ({
    status: 503,
    ...(retryAfter !== undefined ? { retryAfter } : {}),
    body: { message: 'Service Unavailable', status: 503 },
  }),
  serverError: (): ResponseSpec => ({ status: 500, body: { message: 'Internal Server Error', status: 500 } }),
  badRequest: (message: string): ResponseSpec => ({ status: 400, body: { message, code: 21211, status: 400 } }),
};

/** Whether the openssl CLI is on PATH (needed by makeTestCa). */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface TestCa {
  caFile: string;
  certFile: string; // server certificate for 127.0.0.1 / localhost, signed by the CA
  keyFile: string;
}

/** A throwaway CA and a server certificate (SAN IP:127.0.0.1, DNS:localhost) in dir, made with the openssl CLI. */
export function makeTestCa(dir: string): TestCa {
  const p = (f: string) => path.join(dir, f);
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=websms test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', '-new', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=localhost']);
  fs.writeFileSync(p('server.ext'), [
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
  ].join('\n') + '\n');
  run(['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-set_serial', '0x' + Date.now().toString(16),
    '-days', '2', '-extfile', p('server.ext'), '-out', p('server.crt')]);
  return { caFile: p('ca.crt'), certFile: p('server.crt'), keyFile: p('server.key') };
}
